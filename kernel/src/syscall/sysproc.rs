//! Process system calls (xv6's sysproc.c), plus halt, freemem and heapused.

use super::{SysResult, argaddr, argint};
use crate::proc::{self, myproc};
use crate::trap::{TICKS, ticks_chan};
use abi::errno::{EAGAIN, ECHILD, EINTR};

pub fn sys_exit() -> SysResult {
    proc::exit(argint(0));
}

pub fn sys_getpid() -> SysResult {
    Ok(myproc().inner.lock().pid as usize)
}

pub fn sys_fork() -> SysResult {
    proc::fork().map(|pid| pid as usize).ok_or(EAGAIN)
}

pub fn sys_wait() -> SysResult {
    proc::wait(argaddr(0)).map(|pid| pid as usize).ok_or(ECHILD)
}

/// Grows (or shrinks) memory by n bytes; returns the old break.
pub fn sys_sbrk() -> SysResult {
    let n = argint(0) as isize;
    // SAFETY: the current process's own data, read for this statement only.
    let addr = unsafe { myproc().data() }.sz;
    proc::growproc(n)?;
    Ok(addr)
}

/// Sleeps for n clock ticks; fails if killed meanwhile.
pub fn sys_sleep() -> SysResult {
    let n = argint(0).max(0) as u64;
    let mut ticks = TICKS.lock();
    let start = *ticks;
    while *ticks - start < n {
        if proc::killed(myproc()) {
            return Err(EINTR);
        }
        ticks = proc::sleep(ticks_chan(), ticks);
    }
    Ok(0)
}

pub fn sys_kill() -> SysResult {
    Ok(proc::kill(argint(0)).map(|_| 0)?)
}

/// Clock ticks since boot.
pub fn sys_uptime() -> SysResult {
    Ok(*TICKS.lock() as usize)
}

/// Powers the machine off; QEMU exits with the given status.
pub fn sys_halt() -> SysResult {
    let status = argint(0);
    crate::println!("halt: powering off (status {})", status);
    crate::arch::power::poweroff(status as u32 & 0xffff);
}

/// Free physical pages.
pub fn sys_freemem() -> SysResult {
    Ok(crate::mm::kalloc::freepages())
}

/// Bytes of the kernel heap in use.
pub fn sys_heapused() -> SysResult {
    Ok(crate::mm::heap::heap_used())
}

/// uptime_us(): microseconds since boot (ping's round-trip times need more than ticks).
pub fn sys_uptime_us() -> SysResult {
    let timebase = crate::dtb::platform().timebase as u64;
    Ok((crate::arch::riscv::r_time() as u64 * 1_000_000 / timebase) as usize)
}
