//! RISC-V control and status registers, and the Sv39 page-table entry format.
//!
//! Each accessor is one instruction. Reading or writing a CSR is `unsafe` in spirit only
//! where it changes how the machine translates or traps; those callers say why.

use core::arch::asm;

macro_rules! csr_rw {
    ($read:ident, $write:ident, $csr:literal) => {
        #[allow(dead_code)]
        #[inline(always)]
        pub fn $read() -> usize {
            let x: usize;
            // SAFETY: reading a CSR has no side effects on memory.
            unsafe { asm!(concat!("csrr {}, ", $csr), out(reg) x) };
            x
        }
        #[allow(dead_code)]
        #[inline(always)]
        pub fn $write(x: usize) {
            // SAFETY: the kernel writes CSRs only with values that keep it running (checked by callers).
            unsafe { asm!(concat!("csrw ", $csr, ", {}"), in(reg) x) };
        }
    };
}

csr_rw!(r_mstatus, w_mstatus, "mstatus");
csr_rw!(r_mepc, w_mepc, "mepc");
csr_rw!(r_sstatus, w_sstatus, "sstatus");
csr_rw!(r_sip, w_sip, "sip");
csr_rw!(r_sie, w_sie, "sie");
csr_rw!(r_mie, w_mie, "mie");
csr_rw!(r_sepc, w_sepc, "sepc");
csr_rw!(r_medeleg, w_medeleg, "medeleg");
csr_rw!(r_mideleg, w_mideleg, "mideleg");
csr_rw!(r_stvec, w_stvec, "stvec");
csr_rw!(r_satp, w_satp_raw, "satp");
csr_rw!(r_scause, w_scause, "scause");
csr_rw!(r_stval, w_stval, "stval");
csr_rw!(r_mcounteren, w_mcounteren, "mcounteren");
csr_rw!(r_menvcfg, w_menvcfg, "menvcfg");
csr_rw!(r_stimecmp, w_stimecmp, "stimecmp");
csr_rw!(r_pmpcfg0, w_pmpcfg0, "pmpcfg0");
csr_rw!(r_pmpaddr0, w_pmpaddr0, "pmpaddr0");

#[inline(always)]
pub fn r_time() -> usize {
    let x: usize;
    // SAFETY: reading the time CSR has no side effects.
    unsafe { asm!("csrr {}, time", out(reg) x) };
    x
}

pub const MSTATUS_MPP_MASK: usize = 3 << 11;
pub const MSTATUS_MPP_S: usize = 1 << 11;

pub const SSTATUS_SPP: usize = 1 << 8; // Previous mode, 1=Supervisor, 0=User
pub const SSTATUS_SPIE: usize = 1 << 5; // Supervisor Previous Interrupt Enable
pub const SSTATUS_SIE: usize = 1 << 1; // Supervisor Interrupt Enable
pub const SSTATUS_SUM: usize = 1 << 18; // Supervisor may access User pages

pub const SIE_SEIE: usize = 1 << 9; // external
pub const SIE_STIE: usize = 1 << 5; // timer
pub const MIE_STIE: usize = 1 << 5;

/// Interrupt cause bit of scause.
pub const SCAUSE_INTERRUPT: usize = 1 << 63;
pub const SCAUSE_S_TIMER: usize = SCAUSE_INTERRUPT | 5;
pub const SCAUSE_S_EXTERNAL: usize = SCAUSE_INTERRUPT | 9;
pub const SCAUSE_ECALL_U: usize = 8;
pub const SCAUSE_LOAD_ACCESS: usize = 5;
pub const SCAUSE_STORE_ACCESS: usize = 7;
pub const SCAUSE_LOAD_PAGE_FAULT: usize = 13;
pub const SCAUSE_STORE_PAGE_FAULT: usize = 15;

/// Writes satp and flushes the TLB.
///
/// # Safety
/// `x` must select a page table that maps the code being executed and the current stack.
pub unsafe fn w_satp(x: usize) {
    w_satp_raw(x);
}

#[inline(always)]
pub fn sfence_vma() {
    // SAFETY: flushing the TLB never breaks memory safety.
    unsafe { asm!("sfence.vma zero, zero") };
}

// The interrupt switches below are one CSR instruction each (set or clear SIE in place),
// not a read followed by a write: under QEMU's emulation every CSR access ends the block of
// translated code and returns to the emulator's main loop, and spinlocks switch interrupts
// off and on around every critical section.
const _: () = assert!(SSTATUS_SIE == 1 << 1); // the immediate in the instructions below

/// Enables device interrupts on this hart.
#[inline(always)]
pub fn intr_on() {
    // SAFETY: changes SIE only. Without `nomem` the asm is a compiler barrier, so no memory
    // access of a critical section moves past it.
    unsafe { asm!("csrsi sstatus, 2") };
}

/// Disables device interrupts on this hart.
#[inline(always)]
pub fn intr_off() {
    // SAFETY: as intr_on's.
    unsafe { asm!("csrci sstatus, 2") };
}

/// Disables device interrupts on this hart and says whether they were enabled, in one
/// instruction (what `push_off` needs).
#[inline(always)]
pub fn intr_take() -> bool {
    let old: usize;
    // SAFETY: as intr_on's.
    unsafe { asm!("csrrci {}, sstatus, 2", out(reg) old) };
    old & SSTATUS_SIE != 0
}

/// Are device interrupts enabled?
#[inline(always)]
pub fn intr_get() -> bool {
    r_sstatus() & SSTATUS_SIE != 0
}

/// The hart id, kept in tp since start().
#[inline(always)]
pub fn r_tp() -> usize {
    let x: usize;
    // SAFETY: reading a register.
    unsafe { asm!("mv {}, tp", out(reg) x) };
    x
}

#[inline(always)]
pub fn r_sp() -> usize {
    let x: usize;
    // SAFETY: reading a register.
    unsafe { asm!("mv {}, sp", out(reg) x) };
    x
}

pub const PGSIZE: usize = 4096;
pub const PGSHIFT: usize = 12;

pub const fn pgroundup(sz: usize) -> usize {
    (sz + PGSIZE - 1) & !(PGSIZE - 1)
}
pub const fn pgrounddown(a: usize) -> usize {
    a & !(PGSIZE - 1)
}

pub const PTE_V: usize = 1 << 0;
pub const PTE_R: usize = 1 << 1;
pub const PTE_W: usize = 1 << 2;
pub const PTE_X: usize = 1 << 3;
pub const PTE_U: usize = 1 << 4;

pub const fn pa2pte(pa: usize) -> usize {
    (pa >> 12) << 10
}
pub const fn pte2pa(pte: usize) -> usize {
    (pte >> 10) << 12
}
pub const fn pte_flags(pte: usize) -> usize {
    pte & 0x3ff
}
/// The 9-bit index of `va` at page-table `level` (2 = root).
pub const fn px(level: usize, va: usize) -> usize {
    (va >> (PGSHIFT + 9 * level)) & 0x1ff
}

pub const SATP_SV39: usize = 8 << 60;
pub const fn make_satp(pagetable: usize) -> usize {
    SATP_SV39 | (pagetable >> 12)
}

pub use abi::MAXVA;
