//! Kernel printing (`print!`/`println!`) to the UART, and the panic handler, which
//! names the hart and stops the others from printing over it.

use crate::drivers::uart::{PANICKED, uartputc_sync};
use crate::sync::spinlock::Spinlock;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

static PR: Spinlock<()> = Spinlock::new("pr", ());

/// Hart that panicked, plus one.
static PANIC_HART: AtomicUsize = AtomicUsize::new(0);

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            uartputc_sync(b);
        }
        Ok(())
    }
}

pub fn _print(args: fmt::Arguments) {
    if PANICKED.load(Ordering::Relaxed) {
        let _ = Uart.write_fmt(args);
        return;
    }
    let _guard = PR.lock();
    let _ = Uart.write_fmt(args);
}

pub fn is_panicking_hart() -> bool {
    PANIC_HART.load(Ordering::Relaxed) == crate::proc::cpuid() + 1
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::printf::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print!("{}\n", format_args!($($arg)*)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::arch::riscv::intr_off();
    let hart = crate::proc::cpuid();
    PANIC_HART.store(hart + 1, Ordering::Relaxed);
    PANICKED.store(true, Ordering::Relaxed);
    crate::println!("panic: hart {}: {}", hart, info);
    crate::println!(
        "  scause={:#x} sepc={:#x} stval={:#x} sp={:#x}",
        crate::arch::riscv::r_scause(),
        crate::arch::riscv::r_sepc(),
        crate::arch::riscv::r_stval(),
        crate::arch::riscv::r_sp()
    );
    loop {
        core::hint::spin_loop();
    }
}
