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
    backtrace();
    loop {
        core::hint::spin_loop();
    }
}

/// Prints the calls that led here, by walking the frame-pointer chain (the kernel is built
/// with frame pointers: the saved ra is at fp-8, the caller's fp at fp-16). Each address is
/// ra - 2, which lies inside the call instruction whether it was 2, 4 or 8 bytes long, so
/// `addr2line -e kernel ADDR...` names the calling line.
fn backtrace() {
    let mut fp: usize;
    // SAFETY: reading a register.
    unsafe { core::arch::asm!("mv {}, s0", out(reg) fp) };
    let sp = crate::arch::riscv::r_sp();
    crate::print!("backtrace:");
    // Stay inside this stack: a kernel stack is at most a few pages above sp.
    for _ in 0..24 {
        if !fp.is_multiple_of(8) || fp <= sp || fp > sp + 64 * 1024 {
            break;
        }
        // SAFETY: fp lies within the current stack (checked above) and points just past
        // a frame record of two words.
        let (ra, next) = unsafe { (*((fp - 8) as *const usize), *((fp - 16) as *const usize)) };
        if ra == 0 {
            break;
        }
        crate::print!(" {:#x}", ra - 2);
        fp = next;
    }
    crate::println!();
}
