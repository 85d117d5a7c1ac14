//! Copies between kernel and user memory through the MMU.
//!
//! Every process's page table also maps the kernel, so a system call runs with the caller's
//! address space loaded and can reach user pages directly (sstatus.SUM lets supervisor code
//! touch pages marked U). The caller checks that the range lies below `vm::user_top()`; what
//! the MMU still refuses (an unmapped page, a store to read-only text) raises a page fault
//! inside one of the routines below. `kerneltrap` recognizes the faulting pc as one of these
//! (see [`fixup`]) and resumes at the routine's fault exit, which returns failure: a bad user
//! pointer makes the system call fail instead of crashing the kernel.
//!
//! The loops keep their progress in argument registers, which kernelvec saves and restores
//! around the trap, so the fault exit knows how far the copy got.

core::arch::global_asm!(
    ".option push",
    ".option arch, rv64gc",
    ".section .text",
    ".globl usercopy_begin",
    "usercopy_begin:",
    // usize user_memcpy(dst a0, src a1, n a2): bytes left uncopied (0: all copied).
    ".globl user_memcpy",
    ".align 2",
    "user_memcpy:",
    "   beqz a2, 3f",
    // Word copies when both pointers share their alignment and the copy is long enough.
    "   xor t0, a0, a1",
    "   andi t0, t0, 7",
    "   bnez t0, 2f",
    "   li t1, 16",
    "   bltu a2, t1, 2f",
    // Bytes up to the first aligned address.
    "1: andi t0, a0, 7",
    "   beqz t0, 4f",
    "   lb t2, 0(a1)",
    "   sb t2, 0(a0)",
    "   addi a0, a0, 1",
    "   addi a1, a1, 1",
    "   addi a2, a2, -1",
    "   j 1b",
    "4: li t1, 8",
    "5: bltu a2, t1, 2f",
    "   ld t2, 0(a1)",
    "   sd t2, 0(a0)",
    "   addi a0, a0, 8",
    "   addi a1, a1, 8",
    "   addi a2, a2, -8",
    "   j 5b",
    // The rest byte by byte.
    "2: beqz a2, 3f",
    "   lb t2, 0(a1)",
    "   sb t2, 0(a0)",
    "   addi a0, a0, 1",
    "   addi a1, a1, 1",
    "   addi a2, a2, -1",
    "   j 2b",
    "3: mv a0, a2",
    "   ret",
    ".globl user_memcpy_fault",
    "user_memcpy_fault:",
    "   mv a0, a2",
    "   ret",
    // isize user_strncpy(dst a0, src a1, max a2): length of the string copied with its NUL,
    // -1 if no NUL came within max bytes, -2 on a fault.
    ".globl user_strncpy",
    ".align 2",
    "user_strncpy:",
    "   li t0, 0",
    "1: beq t0, a2, 2f",
    "   add t1, a1, t0",
    "   lb t2, 0(t1)",
    "   add t1, a0, t0",
    "   sb t2, 0(t1)",
    "   beqz t2, 3f",
    "   addi t0, t0, 1",
    "   j 1b",
    "2: li a0, -1",
    "   ret",
    "3: mv a0, t0",
    "   ret",
    ".globl user_strncpy_fault",
    "user_strncpy_fault:",
    "   li a0, -2",
    "   ret",
    ".globl usercopy_end",
    "usercopy_end:",
    ".option pop",
);

unsafe extern "C" {
    static usercopy_begin: [u8; 0];
    static usercopy_end: [u8; 0];
    static user_memcpy_fault: [u8; 0];
    static user_strncpy_fault: [u8; 0];
    fn user_memcpy(dst: *mut u8, src: *const u8, n: usize) -> usize;
    fn user_strncpy(dst: *mut u8, src: *const u8, max: usize) -> isize;
}

/// Copies `n` bytes from `src` to `dst`, where one side is user memory in the loaded page table
/// and the caller has checked that the user range lies below `vm::user_top()`. Err if a page
/// fault stopped it.
///
/// # Safety
/// The kernel side must be valid for `n` bytes; sstatus.SUM must be set.
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), ()> {
    // SAFETY: the caller's contract; faults on the user side end in user_memcpy_fault.
    match unsafe { user_memcpy(dst, src, n) } {
        0 => Ok(()),
        _ => Err(()),
    }
}

/// Copies a NUL-terminated string from user address `src` into `dst`, NUL included. Returns its
/// length without the NUL; Err if no NUL fits in `dst` or a page fault stopped it.
///
/// # Safety
/// The user range [src, src + dst.len()) must lie below `vm::user_top()`; sstatus.SUM set.
pub unsafe fn copy_str(dst: &mut [u8], src: usize) -> Result<usize, ()> {
    // SAFETY: dst is a kernel buffer of dst.len() bytes; faults on the user side end in
    // user_strncpy_fault.
    let n = unsafe { user_strncpy(dst.as_mut_ptr(), src as *const u8, dst.len()) };
    usize::try_from(n).map_err(|_| ())
}

/// Where a page fault at kernel pc `sepc` should resume: the fault exit of the copy routine it
/// interrupted, or None if it was not in one (a kernel bug).
pub fn fixup(sepc: usize) -> Option<usize> {
    // SAFETY: only the symbols' addresses are taken.
    let (begin, end, strncpy, memcpy_fault, strncpy_fault) = unsafe {
        (
            usercopy_begin.as_ptr() as usize,
            usercopy_end.as_ptr() as usize,
            user_strncpy as *const () as usize,
            user_memcpy_fault.as_ptr() as usize,
            user_strncpy_fault.as_ptr() as usize,
        )
    };
    if !(begin..end).contains(&sepc) {
        return None;
    }
    Some(if sepc < strncpy {
        memcpy_fault
    } else {
        strncpy_fault
    })
}
