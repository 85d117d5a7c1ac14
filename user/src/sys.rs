//! Raw system calls with xv6's exact C signatures.
//!
//! Each call is one `ecall`: the number in a7 (from `abi::syscall`), arguments in
//! a0..a5, the result in a0. Calls that take pointers are `unsafe`: the kernel
//! checks that they point into the process's memory, but Rust cannot check what
//! they point to. Programs normally use the safe wrappers at the crate root.

use abi::Stat;
use abi::syscall::*;
use core::arch::asm;

/// Issues system call `num` with six arguments and returns a0.
///
/// # Safety
/// Any argument the kernel treats as a pointer must be valid for what the call
/// reads or writes through it.
#[inline(always)]
pub unsafe fn syscall(
    num: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the kernel preserves every register except a0; memory effects are
    // the caller's responsibility (see # Safety).
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            in("a3") a3,
            in("a4") a4,
            in("a5") a5,
            in("a7") num,
            options(nostack),
        );
    }
    ret
}

/// A call whose arguments are plain numbers.
#[inline(always)]
fn call(num: usize, a0: usize, a1: usize, a2: usize) -> isize {
    // SAFETY: callers pass no pointers, so the kernel touches no user memory.
    unsafe { syscall(num, a0, a1, a2, 0, 0, 0) }
}

/// A call with up to three arguments, some of them pointers.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
unsafe fn pcall(num: usize, a0: usize, a1: usize, a2: usize) -> i32 {
    // SAFETY: forwarded to the caller.
    unsafe { syscall(num, a0, a1, a2, 0, 0, 0) as i32 }
}

pub fn fork() -> i32 {
    call(SYS_FORK, 0, 0, 0) as i32
}

pub fn exit(status: i32) -> ! {
    // SAFETY: exit takes no pointers and never returns to this process.
    unsafe { asm!("ecall", in("a0") status, in("a7") SYS_EXIT, options(noreturn, nostack)) }
}

/// # Safety
/// `status` is null or valid for a 4-byte write.
pub unsafe fn wait(status: *mut i32) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_WAIT, status as usize, 0, 0) }
}

/// # Safety
/// `fds` is valid for writing two i32s.
pub unsafe fn pipe(fds: *mut i32) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_PIPE, fds as usize, 0, 0) }
}

/// # Safety
/// `buf` is valid for `n` bytes of writes.
pub unsafe fn read(fd: i32, buf: *mut u8, n: i32) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_READ, fd as usize, buf as usize, n as usize) }
}

/// # Safety
/// `buf` is valid for `n` bytes of reads.
pub unsafe fn write(fd: i32, buf: *const u8, n: i32) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_WRITE, fd as usize, buf as usize, n as usize) }
}

pub fn close(fd: i32) -> i32 {
    call(SYS_CLOSE, fd as usize, 0, 0) as i32
}

pub fn kill(pid: i32) -> i32 {
    call(SYS_KILL, pid as usize, 0, 0) as i32
}

/// # Safety
/// `path` is a NUL-terminated string; `argv` is a null-terminated array of them.
pub unsafe fn exec(path: *const u8, argv: *const *const u8) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_EXEC, path as usize, argv as usize, 0) }
}

/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn open(path: *const u8, omode: i32) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_OPEN, path as usize, omode as usize, 0) }
}

/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn mknod(path: *const u8, major: i16, minor: i16) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_MKNOD, path as usize, major as usize, minor as usize) }
}

/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn unlink(path: *const u8) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_UNLINK, path as usize, 0, 0) }
}

/// # Safety
/// `st` is valid for writing a [`Stat`].
pub unsafe fn fstat(fd: i32, st: *mut Stat) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_FSTAT, fd as usize, st as usize, 0) }
}

/// # Safety
/// `old` and `new` are NUL-terminated strings.
pub unsafe fn link(old: *const u8, new: *const u8) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_LINK, old as usize, new as usize, 0) }
}

/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn mkdir(path: *const u8) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_MKDIR, path as usize, 0, 0) }
}

/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn chdir(path: *const u8) -> i32 {
    // SAFETY: see # Safety.
    unsafe { pcall(SYS_CHDIR, path as usize, 0, 0) }
}

pub fn dup(fd: i32) -> i32 {
    call(SYS_DUP, fd as usize, 0, 0) as i32
}

pub fn getpid() -> i32 {
    call(SYS_GETPID, 0, 0, 0) as i32
}

/// Grows (or shrinks) the process by `n` bytes. Returns the old break, or
/// `usize::MAX` (C's `(char*)-1`) on failure.
pub fn sbrk(n: isize) -> usize {
    call(SYS_SBRK, n as usize, 0, 0) as usize
}

pub fn sleep(ticks: i32) -> i32 {
    call(SYS_SLEEP, ticks as usize, 0, 0) as i32
}

pub fn uptime() -> i32 {
    call(SYS_UPTIME, 0, 0, 0) as i32
}

/// Powers the machine off; QEMU exits with `status`.
pub fn halt(status: i32) -> ! {
    call(SYS_HALT, status as usize, 0, 0);
    // Only reached if the kernel refused: at least stop this process.
    exit(status)
}

/// Number of free physical pages.
pub fn freemem() -> i32 {
    call(SYS_FREEMEM, 0, 0, 0) as i32
}

/// Bytes of the kernel heap in use.
pub fn heapused() -> usize {
    call(SYS_HEAPUSED, 0, 0, 0) as usize
}
