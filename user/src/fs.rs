//! Safe wrappers for the file and file-descriptor system calls.
//!
//! Paths are `&str`, copied into a NUL-terminated stack buffer; a path longer than
//! MAXPATH bytes, or one containing NUL, fails with -1 without asking the kernel.

use crate::sys;
use abi::param::MAXPATH;
use abi::{O_RDONLY, Stat};

/// Runs `f` on a NUL-terminated copy of `path`, or returns -1 if none fits.
fn with_cpath(path: &str, f: impl FnOnce(*const u8) -> i32) -> i32 {
    let bytes = path.as_bytes();
    if bytes.len() > MAXPATH || bytes.contains(&0) {
        return -1;
    }
    let mut buf = [0u8; MAXPATH + 1];
    buf[..bytes.len()].copy_from_slice(bytes);
    f(buf.as_ptr())
}

/// Clamps a buffer length to what the C ABI's `int n` can carry.
fn clamp(len: usize) -> i32 {
    len.min(i32::MAX as usize) as i32
}

pub fn pipe(fds: &mut [i32; 2]) -> i32 {
    // SAFETY: `fds` is valid for two i32 writes.
    unsafe { sys::pipe(fds.as_mut_ptr()) }
}

pub fn read(fd: i32, buf: &mut [u8]) -> i32 {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { sys::read(fd, buf.as_mut_ptr(), clamp(buf.len())) }
}

pub fn write(fd: i32, buf: &[u8]) -> i32 {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    unsafe { sys::write(fd, buf.as_ptr(), clamp(buf.len())) }
}

pub fn close(fd: i32) -> i32 {
    sys::close(fd)
}

pub fn dup(fd: i32) -> i32 {
    sys::dup(fd)
}

pub fn open(path: &str, omode: i32) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cpath(path, |p| unsafe { sys::open(p, omode) })
}

pub fn mknod(path: &str, major: i16, minor: i16) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cpath(path, |p| unsafe { sys::mknod(p, major, minor) })
}

pub fn unlink(path: &str) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cpath(path, |p| unsafe { sys::unlink(p) })
}

pub fn mkdir(path: &str) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cpath(path, |p| unsafe { sys::mkdir(p) })
}

pub fn chdir(path: &str) -> i32 {
    // SAFETY: `p` is NUL-terminated.
    with_cpath(path, |p| unsafe { sys::chdir(p) })
}

pub fn link(old: &str, new: &str) -> i32 {
    // SAFETY: both pointers are NUL-terminated.
    with_cpath(old, |o| with_cpath(new, |n| unsafe { sys::link(o, n) }))
}

pub fn fstat(fd: i32, st: &mut Stat) -> i32 {
    // SAFETY: `st` is valid for writing a Stat.
    unsafe { sys::fstat(fd, st) }
}

/// Like xv6's `stat()`: open, fstat, close.
pub fn stat(path: &str, st: &mut Stat) -> i32 {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        return -1;
    }
    let r = fstat(fd, st);
    close(fd);
    r
}
