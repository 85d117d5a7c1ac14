//! xv6net: xv6-riscv in Rust, with a real network subsystem.
//!
//! This file is the table of contents: `kmain` runs each subsystem's initialization in
//! order, one line each. Every hart enters `_entry` (arch/start.rs) in M-mode; `start`
//! drops to S-mode here. Hart 0 sets the machine up while the others wait, then every
//! hart turns on paging and interrupts and enters the scheduler.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod drivers;
mod dtb;
mod fs;
mod mm;
mod net;
mod printf;
mod proc;
mod sync;
mod syscall;
mod trap;

use arch::riscv::pgroundup;
use core::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    /// First address after the kernel image (kernel.ld).
    static end: [u8; 0];
}

/// S-mode entry on every hart (from start() via mret).
pub extern "C" fn kmain() -> ! {
    if proc::cpuid() == 0 {
        dtb::dtbinit(arch::start::DTB_ADDR.load(Ordering::Relaxed)); // device addresses
        drivers::uart::uartinit(); // serial console
        println!();
        println!("xv6net kernel is booting");
        println!();
        report_platform();
        // SAFETY: only the symbol's address is taken.
        let heap = pgroundup(unsafe { end.as_ptr() } as usize);
        mm::heap::heapinit(heap); // kernel heap (alloc)
        mm::kalloc::kinit(heap + mm::heap::HEAP_SIZE, dtb::platform().ram_end); // physical pages
        mm::vm::kvminit(); // create kernel page table
        mm::vm::kvminithart(); // turn on paging
        proc::procinit(); // process table
        trap::trapinithart(); // install kernel trap vector
        arch::plic::plicinit(); // set up interrupt controller
        arch::plic::plicinithart(); // ask PLIC for device interrupts
        drivers::virtio_disk::virtio_disk_init(); // emulated hard disk
        net::netinit(); // network card and TCP/IP stack
        proc::userinit(); // first user process
        STARTED.store(true, Ordering::Release);
        if net::echo::enabled() {
            net::echo::run(); // benchmark only: this hart polls the NIC
        }
    } else {
        while !STARTED.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        mm::vm::kvminithart(); // turn on paging
        println!("hart {} starting", proc::cpuid());
        trap::trapinithart(); // install kernel trap vector
        arch::plic::plicinithart(); // ask PLIC for device interrupts
    }
    proc::scheduler()
}

/// Says what the device tree described, so a reader sees where each device came from.
fn report_platform() {
    let p = dtb::platform();
    println!(
        "dtb: {} harts, RAM {:#x}-{:#x} ({} MiB), timebase {} Hz",
        p.ncpu,
        p.ram_base,
        p.ram_end,
        (p.ram_end - p.ram_base) >> 20,
        p.timebase
    );
    println!(
        "dtb: uart {:#x} irq {}, plic {:#x}",
        p.uart, p.uart_irq, p.plic
    );
    for s in p.virtio.iter().flatten() {
        println!("dtb: virtio-mmio {:#x} irq {}", s.base, s.irq);
    }
    if let Some(pci) = p.pci {
        println!(
            "dtb: pci ecam {:#x} (+{:#x}), mmio window {:#x} (+{:#x})",
            pci.ecam, pci.ecam_size, pci.mmio_base, pci.mmio_size
        );
    }
}
