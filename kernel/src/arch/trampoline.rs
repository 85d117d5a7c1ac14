//! The trampoline page (mapped at TRAMPOLINE in every user address space): `uservec` saves
//! user registers into the trap frame and jumps to `usertrap` on the kernel stack; `userret`
//! does the reverse. Unlike xv6's, neither switches page tables: the process's page table
//! maps the kernel too (mm/vm.rs), so a trap costs no `satp` write and no TLB flush. Its
//! offsets follow `proc::Trapframe`.

core::arch::global_asm!(
    ".option push",
    ".option arch, rv64gc",
    ".section trampsec, \"ax\"",
    ".globl trampoline",
    ".align 4",
    "trampoline:",
    ".globl uservec",
    "uservec:",
    // sscratch holds TRAPFRAME (the user page table maps it).
    "   csrw sscratch, a0",
    "   li a0, {trapframe}",
    "   sd ra, 40(a0)",
    "   sd sp, 48(a0)",
    "   sd gp, 56(a0)",
    "   sd tp, 64(a0)",
    "   sd t0, 72(a0)",
    "   sd t1, 80(a0)",
    "   sd t2, 88(a0)",
    "   sd s0, 96(a0)",
    "   sd s1, 104(a0)",
    "   sd a1, 120(a0)",
    "   sd a2, 128(a0)",
    "   sd a3, 136(a0)",
    "   sd a4, 144(a0)",
    "   sd a5, 152(a0)",
    "   sd a6, 160(a0)",
    "   sd a7, 168(a0)",
    "   sd s2, 176(a0)",
    "   sd s3, 184(a0)",
    "   sd s4, 192(a0)",
    "   sd s5, 200(a0)",
    "   sd s6, 208(a0)",
    "   sd s7, 216(a0)",
    "   sd s8, 224(a0)",
    "   sd s9, 232(a0)",
    "   sd s10, 240(a0)",
    "   sd s11, 248(a0)",
    "   sd t3, 256(a0)",
    "   sd t4, 264(a0)",
    "   sd t5, 272(a0)",
    "   sd t6, 280(a0)",
    "   csrr t0, sscratch",
    "   sd t0, 112(a0)",
    // kernel stack, hart id, usertrap's address
    "   ld sp, 8(a0)",
    "   ld tp, 32(a0)",
    "   ld t0, 16(a0)",
    "   jr t0",
    ".globl userret",
    "userret:",
    "   li a0, {trapframe}",
    "   ld ra, 40(a0)",
    "   ld sp, 48(a0)",
    "   ld gp, 56(a0)",
    "   ld tp, 64(a0)",
    "   ld t0, 72(a0)",
    "   ld t1, 80(a0)",
    "   ld t2, 88(a0)",
    "   ld s0, 96(a0)",
    "   ld s1, 104(a0)",
    "   ld a1, 120(a0)",
    "   ld a2, 128(a0)",
    "   ld a3, 136(a0)",
    "   ld a4, 144(a0)",
    "   ld a5, 152(a0)",
    "   ld a6, 160(a0)",
    "   ld a7, 168(a0)",
    "   ld s2, 176(a0)",
    "   ld s3, 184(a0)",
    "   ld s4, 192(a0)",
    "   ld s5, 200(a0)",
    "   ld s6, 208(a0)",
    "   ld s7, 216(a0)",
    "   ld s8, 224(a0)",
    "   ld s9, 232(a0)",
    "   ld s10, 240(a0)",
    "   ld s11, 248(a0)",
    "   ld t3, 256(a0)",
    "   ld t4, 264(a0)",
    "   ld t5, 272(a0)",
    "   ld t6, 280(a0)",
    "   ld a0, 112(a0)",
    "   sret",
    ".option pop",
    trapframe = const abi::TRAPFRAME,
);

unsafe extern "C" {
    pub static trampoline: [u8; 0];
    pub static uservec: [u8; 0];
    pub static userret: [u8; 0];
}

/// Address of `sym` inside the trampoline page as mapped at TRAMPOLINE.
pub fn trampoline_va(sym: *const u8) -> usize {
    // SAFETY: only the address of the linker symbol is taken.
    let base = unsafe { trampoline.as_ptr() } as usize;
    abi::TRAMPOLINE + (sym as usize - base)
}
