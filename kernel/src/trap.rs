//! Traps (xv6's trap.c): system calls, device interrupts and exceptions, from user space
//! (via the trampoline's uservec → `usertrap`) and from the kernel (kernelvec →
//! `kerneltrap`), plus the timer tick.

use crate::arch::kernelvec::kernelvec;
use crate::arch::plic::{plic_claim, plic_complete};
use crate::arch::riscv::*;
use crate::arch::trampoline::{trampoline_va, userret, uservec};
use crate::dtb::platform;
use crate::net::poll::{is_nic_irq, poll};
use crate::proc::{cpuid, exit, killed, myproc, myproc_opt, setkilled, wakeup, yield_};
use crate::sync::spinlock::Spinlock;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::Relaxed;
use netstack::napi::Reason;

/// Timer interrupts per second: the scheduling quantum and the network's timer resolution.
pub const HZ: usize = 100;
/// Ticks per second as user programs see them (sleep, uptime): xv6's tick is about 100 ms,
/// and its programs (the net lab's nettest, usertests) time their waits in those ticks.
pub const TICKS_PER_SEC: usize = 10;

/// Ticks since boot; sleepers in sys_sleep wait on its address.
pub static TICKS: Spinlock<u64> = Spinlock::new("time", 0);

/// Timer interrupts on hart 0 since boot (only hart 0 touches it).
static JIFFIES: AtomicUsize = AtomicUsize::new(0);

pub fn ticks_chan() -> usize {
    &TICKS as *const _ as usize
}

/// Sends traps taken in the kernel to kernelvec.
pub fn trapinithart() {
    w_stvec(kernelvec as *const () as usize);
}

/// What devintr() found.
#[derive(PartialEq, Eq)]
enum Intr {
    None,
    Device,
    Timer,
}

/// Handles an interrupt, exception, or system call from user space.
#[unsafe(no_mangle)]
pub extern "C" fn usertrap() {
    if r_sstatus() & SSTATUS_SPP != 0 {
        panic!("usertrap: not from user mode");
    }
    // We're in the kernel now: send interrupts and exceptions to kerneltrap.
    w_stvec(kernelvec as *const () as usize);

    let p = myproc();
    // SAFETY: the current process's own data, for this statement only (as below).
    unsafe { p.data() }.trapframe().epc = r_sepc();
    let scause = r_scause();
    let mut which = Intr::None;
    if scause == SCAUSE_ECALL_U {
        if killed(p) {
            exit(-1);
        }
        // Return to the instruction after ecall.
        // SAFETY: as above.
        unsafe { p.data() }.trapframe().epc += 4;
        // An interrupt will change sepc, scause and sstatus: we're done with them.
        intr_on();
        crate::syscall::syscall();
    } else {
        which = devintr();
        if which == Intr::None {
            let pid = p.inner.lock().pid;
            crate::println!(
                "usertrap(): unexpected scause {:#x} pid={}\n            sepc={:#x} stval={:#x}",
                scause,
                pid,
                r_sepc(),
                r_stval()
            );
            setkilled(p);
        }
    }
    if killed(p) {
        exit(-1);
    }
    if which == Intr::Timer {
        yield_();
    }
    usertrapret();
}

/// Returns to user space through the trampoline's userret.
pub fn usertrapret() -> ! {
    let p = myproc();
    // We're about to switch stvec to uservec: no interrupts until we're in user space.
    intr_off();
    // SAFETY: only symbol addresses are taken.
    w_stvec(trampoline_va(unsafe { uservec.as_ptr() }));

    // What uservec needs when the process next traps into the kernel.
    // SAFETY: the current process's own data; nothing below reaches it otherwise.
    let d = unsafe { p.data() };
    let kstack = d.kstack;
    let tf = d.trapframe();
    tf.kernel_sp = kstack + crate::mm::vm::KSTACK_PAGES * PGSIZE;
    tf.kernel_trap = usertrap as *const () as usize;
    tf.kernel_hartid = cpuid();

    // sret goes to user mode, with interrupts enabled.
    let mut x = r_sstatus();
    x &= !SSTATUS_SPP;
    x |= SSTATUS_SPIE;
    w_sstatus(x);
    w_sepc(tf.epc);

    // SAFETY: only the symbol's address is taken.
    let ret = trampoline_va(unsafe { userret.as_ptr() });
    // SAFETY: the process's page table is loaded and maps the trampoline at TRAMPOLINE;
    // userret restores the user registers from the trap frame and returns to user mode.
    let userret_fn: extern "C" fn() -> ! = unsafe { core::mem::transmute(ret) };
    userret_fn();
}

/// Interrupts and exceptions from kernel code arrive here via kernelvec, on the current
/// kernel stack.
pub extern "C" fn kerneltrap() {
    let sepc = r_sepc();
    let sstatus = r_sstatus();
    let scause = r_scause();
    if sstatus & SSTATUS_SPP == 0 {
        panic!("kerneltrap: not from supervisor mode");
    }
    if intr_get() {
        panic!("kerneltrap: interrupts enabled");
    }
    if matches!(
        scause,
        SCAUSE_LOAD_PAGE_FAULT | SCAUSE_STORE_PAGE_FAULT | SCAUSE_LOAD_ACCESS | SCAUSE_STORE_ACCESS
    ) && let Some(resume) = crate::arch::usercopy::fixup(sepc)
    {
        // A copy to or from user memory met a bad user address: the copy fails instead.
        w_sepc(resume);
        return;
    }
    let which = devintr();
    if which == Intr::None {
        panic!(
            "kerneltrap: scause={:#x} sepc={:#x} stval={:#x}",
            scause,
            sepc,
            r_stval()
        );
    }
    // Give up the hart if this is a timer interrupt.
    if which == Intr::Timer && myproc_opt().is_some() {
        yield_();
    }
    // The yield may have caused traps: restore trap registers for kernelvec's sret.
    w_sepc(sepc);
    w_sstatus(sstatus);
}

/// Each hart's next tick (in `time` units; 0 until the first). A nap (`nap_until`) may set the
/// timer earlier, and the timer interrupt that ends it is not a tick.
static NEXT_TICK: [AtomicUsize; abi::param::NCPU] =
    [const { AtomicUsize::new(0) }; abi::param::NCPU];

/// Waits in `wfi`, with interrupts off, until `time` reaches `until` (or the next tick, if
/// sooner) or another interrupt is pending, which the caller takes once it turns interrupts
/// on. A halted hart leaves its host core to QEMU's other threads, where a spinning one keeps
/// it busy.
pub fn nap_until(until: usize) {
    intr_off();
    let tick = NEXT_TICK[cpuid()].load(Relaxed);
    w_stimecmp(until.min(tick));
    // SAFETY: waiting for an interrupt has no memory effects.
    unsafe { core::arch::asm!("wfi") };
    intr_on();
}

/// Handles a timer interrupt; true if it was a tick, false if it ended a nap early.
fn clockintr() -> bool {
    let hart = cpuid();
    let now = r_time();
    let next = &NEXT_TICK[hart];
    if now < next.load(Relaxed) {
        w_stimecmp(next.load(Relaxed));
        return false;
    }
    next.store(now + platform().timebase / HZ, Relaxed);
    if hart == 0 {
        let j = JIFFIES.fetch_add(1, Relaxed) + 1;
        if j.is_multiple_of(HZ / TICKS_PER_SEC) {
            let mut t = TICKS.lock();
            *t += 1;
            wakeup(ticks_chan());
        }
        crate::net::poll::poll(Reason::Tick);
    }
    // Ask for the next timer interrupt: this also clears the pending one.
    w_stimecmp(next.load(Relaxed));
    true
}

/// Identifies and handles a device or timer interrupt.
fn devintr() -> Intr {
    let scause = r_scause();
    if scause == SCAUSE_S_EXTERNAL {
        let irq = plic_claim();
        if irq == 0 {
            return Intr::Device;
        }
        let p = platform();
        if irq == p.uart_irq {
            crate::drivers::uart::uartintr();
        } else if Some(irq) == crate::drivers::virtio_disk::irq() {
            crate::drivers::virtio_disk::virtio_disk_intr();
        } else if is_nic_irq(irq) {
            poll(Reason::Interrupt);
        } else {
            crate::println!("unexpected interrupt irq={}", irq);
        }
        plic_complete(irq);
        if is_nic_irq(irq) {
            // Masked only after the completion: the PLIC ignores the completion of a
            // disabled source.
            poll(Reason::InterruptDone);
        }
        Intr::Device
    } else if scause == SCAUSE_S_TIMER {
        if clockintr() {
            Intr::Timer
        } else {
            Intr::Device
        }
    } else {
        Intr::None
    }
}
