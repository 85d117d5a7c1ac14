//! Safe wrappers for the process, memory and machine system calls.

use crate::sys;
use abi::param::MAXARG;
use alloc::vec::Vec;

pub fn fork() -> i32 {
    sys::fork()
}

pub fn exit(status: i32) -> ! {
    sys::exit(status)
}

/// Waits for a child to exit; stores its status in `status` if given. Returns its pid, or -1.
pub fn wait(status: Option<&mut i32>) -> i32 {
    let p = status.map_or(core::ptr::null_mut(), |s| s as *mut i32);
    // SAFETY: `p` is null or a valid &mut i32.
    unsafe { sys::wait(p) }
}

pub fn kill(pid: i32) -> i32 {
    sys::kill(pid)
}

/// Replaces this process with program `path` run with `argv` (argv[0] is the name).
/// Returns -1 on failure (never returns on success). Arguments containing NUL, or more
/// than MAXARG of them, fail without asking the kernel.
pub fn exec(path: &str, argv: &[&str]) -> i32 {
    if argv.len() > MAXARG
        || core::iter::once(&path)
            .chain(argv)
            .any(|s| s.contains('\0'))
    {
        return -1;
    }
    let cstr = |s: &str| {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0u8);
        v
    };
    let cpath = cstr(path);
    let cargs: Vec<Vec<u8>> = argv.iter().map(|s| cstr(s)).collect();
    let mut ptrs: Vec<*const u8> = cargs.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(core::ptr::null());
    // SAFETY: every pointer is a live NUL-terminated buffer and the array ends with null.
    unsafe { sys::exec(cpath.as_ptr(), ptrs.as_ptr()) }
}

pub fn getpid() -> i32 {
    sys::getpid()
}

pub fn sbrk(n: isize) -> usize {
    sys::sbrk(n)
}

pub fn sleep(ticks: i32) -> i32 {
    sys::sleep(ticks)
}

pub fn uptime() -> i32 {
    sys::uptime()
}

pub fn halt(status: i32) -> ! {
    sys::halt(status)
}

pub fn freemem() -> i32 {
    sys::freemem()
}

/// Bytes of the kernel heap in use (sockets, their buffers, open files): what a leak
/// check compares besides free pages.
pub fn heapused() -> usize {
    sys::heapused()
}
