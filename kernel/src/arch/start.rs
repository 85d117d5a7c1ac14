//! Boot: `_entry` (every hart lands here in M-mode at 0x80000000, a0 = hartid, a1 = DTB)
//! gives each hart a boot stack, then `start` sets up what only M-mode can do — delegate
//! traps, open physical memory to S-mode, enable the Sstc timer — and `mret`s into
//! `kmain` in S-mode.

use super::riscv::*;
use abi::param::NCPU;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of boot stack per hart (also the scheduler's stack for that hart).
pub const BOOT_STACK_SIZE: usize = 16 * 1024;

/// Physical address of the device tree blob that QEMU passed to hart 0.
pub static DTB_ADDR: AtomicUsize = AtomicUsize::new(0);

core::arch::global_asm!(
    ".option push",
    ".option arch, rv64gc",
    ".section .text.entry",
    ".globl _entry",
    "_entry:",
    // sp = stack0 + (hartid + 1) * BOOT_STACK_SIZE
    "   la sp, stack0",
    "   li t0, {stack_size}",
    "   addi t1, a0, 1",
    "   mul t0, t0, t1",
    "   add sp, sp, t0",
    "   call {start}",
    "1: wfi",
    "   j 1b",
    ".section .bss.stack",
    ".align 16",
    ".globl stack0",
    "stack0:",
    ".space {stack_total}",
    ".option pop",
    stack_size = const BOOT_STACK_SIZE,
    stack_total = const BOOT_STACK_SIZE * NCPU,
    start = sym start,
);

/// Runs in M-mode on each hart's boot stack.
extern "C" fn start(hartid: usize, dtb: usize) -> ! {
    if hartid == 0 {
        DTB_ADDR.store(dtb, Ordering::Relaxed);
    }
    // mret goes to supervisor mode, at kmain.
    w_mstatus((r_mstatus() & !MSTATUS_MPP_MASK) | MSTATUS_MPP_S);
    w_mepc(crate::kmain as *const () as usize);

    // SAFETY: paging stays off until kvminithart installs the kernel page table.
    unsafe { w_satp(0) };

    // Delegate all exceptions and interrupts to supervisor mode.
    w_medeleg(0xffff);
    w_mideleg(0xffff);
    w_sie(r_sie() | SIE_SEIE | SIE_STIE);

    // Give supervisor mode access to all of physical memory.
    w_pmpaddr0(0x3f_ffff_ffff_ffff);
    w_pmpcfg0(0xf);

    timerinit();

    // Keep each hart's id in tp, for cpuid().
    // SAFETY: tp is reserved for the hart id throughout the kernel.
    unsafe { core::arch::asm!("mv tp, {}", in(reg) hartid) };

    // SAFETY: mepc/mstatus were set above; this switches to S-mode at kmain.
    unsafe { core::arch::asm!("mret", options(noreturn)) };
}

/// Lets S-mode own the timer through the Sstc extension (stimecmp), which QEMU provides.
fn timerinit() {
    // Enable the supervisor timer interrupt and the sstc extension (menvcfg.STCE).
    w_mie(r_mie() | MIE_STIE);
    w_menvcfg(r_menvcfg() | (1 << 63));
    // Allow supervisor mode to read `time`.
    w_mcounteren(r_mcounteren() | 2);
    // First interrupt right away; clockintr sets the period.
    w_stimecmp(r_time() + 1000);
}
