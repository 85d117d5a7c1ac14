//! System call dispatch (xv6's syscall.c): the number in a7 picks the handler, arguments
//! come from a0..a5 of the trap frame, the result goes back in a0.
//! Every user pointer is checked by copyin/copyout; a bad one makes the call fail.
//!
//! Every handler returns a `SysResult`. How a failure reaches user space is the ABI's
//! rule, applied here once: xv6's calls and the lab's return -1, the BSD socket calls
//! (`SYS_SOCKET..=SYS_POLL`, `SYS_RECVMMSG`, `SYS_SENDMMSG`) return -errno.

mod sockarg;
mod sysfile;
mod sysnet;
mod sysproc;

use crate::mm::vm;
use crate::proc::myproc;
use abi::errno::Errno;
use abi::syscall::*;

/// What a system call returns: a value for a0, or why it failed.
pub type SysResult = Result<usize, Errno>;

/// a0 for a failed call number `num`: -errno for the BSD socket calls, else -1.
fn failure(num: usize, e: Errno) -> usize {
    if (SYS_SOCKET..=SYS_POLL).contains(&num) || matches!(num, SYS_RECVMMSG | SYS_SENDMMSG) {
        (-(e.code() as isize)) as usize
    } else {
        usize::MAX
    }
}

/// The n-th raw argument register.
fn argraw(n: usize) -> usize {
    // SAFETY: the current process's own data, used only in this function.
    let tf = unsafe { myproc().data() }.trapframe();
    match n {
        0 => tf.a0,
        1 => tf.a1,
        2 => tf.a2,
        3 => tf.a3,
        4 => tf.a4,
        5 => tf.a5,
        _ => panic!("argraw"),
    }
}

/// The n-th argument as a C int.
pub fn argint(n: usize) -> i32 {
    argraw(n) as i32
}

/// The n-th argument as a user address (not checked here: copyin/copyout check it).
pub fn argaddr(n: usize) -> usize {
    argraw(n)
}

/// Fetches a u64 at user address `addr`.
pub fn fetchaddr(addr: usize) -> Result<usize, ()> {
    let mut b = [0u8; 8];
    // SAFETY: the current process's own data, read for this call only.
    let pagetable = unsafe { myproc().data() }.pagetable;
    vm::copyin(pagetable, &mut b, addr)?;
    Ok(u64::from_le_bytes(b) as usize)
}

/// Fetches the NUL-terminated string at user address `addr` into `buf`; returns its bytes.
pub fn fetchstr(addr: usize, buf: &mut [u8]) -> Result<&[u8], ()> {
    // SAFETY: the current process's own data, read for this call only.
    let pagetable = unsafe { myproc().data() }.pagetable;
    let n = vm::copyinstr(pagetable, buf, addr)?;
    Ok(&buf[..n])
}

/// The n-th argument as a string copied into `buf`.
pub fn argstr(n: usize, buf: &mut [u8]) -> Result<&[u8], ()> {
    fetchstr(argaddr(n), buf)
}

pub fn syscall() {
    let p = myproc();
    // SAFETY: the current process's own data, for this statement only (the handlers
    // take their own).
    let num = unsafe { p.data() }.trapframe().a7;
    let result = match num {
        SYS_FORK => sysproc::sys_fork(),
        SYS_EXIT => sysproc::sys_exit(),
        SYS_WAIT => sysproc::sys_wait(),
        SYS_PIPE => sysfile::sys_pipe(),
        SYS_READ => sysfile::sys_read(),
        SYS_KILL => sysproc::sys_kill(),
        SYS_EXEC => sysfile::sys_exec(),
        SYS_FSTAT => sysfile::sys_fstat(),
        SYS_CHDIR => sysfile::sys_chdir(),
        SYS_DUP => sysfile::sys_dup(),
        SYS_GETPID => sysproc::sys_getpid(),
        SYS_SBRK => sysproc::sys_sbrk(),
        SYS_SLEEP => sysproc::sys_sleep(),
        SYS_UPTIME => sysproc::sys_uptime(),
        SYS_OPEN => sysfile::sys_open(),
        SYS_WRITE => sysfile::sys_write(),
        SYS_MKNOD => sysfile::sys_mknod(),
        SYS_UNLINK => sysfile::sys_unlink(),
        SYS_LINK => sysfile::sys_link(),
        SYS_MKDIR => sysfile::sys_mkdir(),
        SYS_CLOSE => sysfile::sys_close(),
        SYS_BIND => sysnet::sys_bind(),
        SYS_UNBIND => sysnet::sys_unbind(),
        SYS_SEND => sysnet::sys_send(),
        SYS_RECV => sysnet::sys_recv(),
        SYS_CONNECT => sysnet::sys_connect(),
        SYS_NETTRACE => sysnet::sys_nettrace(),
        SYS_NETSTAT => sysnet::sys_netstat(),
        SYS_SOCKET => sysnet::sys_socket(),
        SYS_SOCKBIND => sysnet::sys_sockbind(),
        SYS_LISTEN => sysnet::sys_listen(),
        SYS_ACCEPT => sysnet::sys_accept(),
        SYS_SOCKCONNECT => sysnet::sys_sockconnect(),
        SYS_SENDTO => sysnet::sys_sendto(),
        SYS_RECVFROM => sysnet::sys_recvfrom(),
        SYS_SHUTDOWN => sysnet::sys_shutdown(),
        SYS_GETSOCKNAME => sysnet::sys_getsockname(),
        SYS_GETPEERNAME => sysnet::sys_getpeername(),
        SYS_SETSOCKOPT => sysnet::sys_setsockopt(),
        SYS_GETSOCKOPT => sysnet::sys_getsockopt(),
        SYS_FCNTL => sysnet::sys_fcntl(),
        SYS_POLL => sysnet::sys_poll(),
        SYS_RECVMMSG => sysnet::sys_recvmmsg(),
        SYS_SENDMMSG => sysnet::sys_sendmmsg(),
        SYS_UPTIME_US => sysproc::sys_uptime_us(),
        SYS_HALT => sysproc::sys_halt(),
        SYS_FREEMEM => sysproc::sys_freemem(),
        SYS_HEAPUSED => sysproc::sys_heapused(),
        _ => {
            let pid = p.inner.lock().pid;
            // SAFETY: the current process's own data, for this statement only.
            let name = unsafe { p.data() }.name();
            crate::println!("{} {}: unknown sys call {}", pid, name, num);
            Err(abi::errno::ENOSYS)
        }
    };
    // SAFETY: the current process's own data, for this statement only.
    unsafe { p.data() }.trapframe().a0 = result.unwrap_or_else(|e| failure(num, e));
}
