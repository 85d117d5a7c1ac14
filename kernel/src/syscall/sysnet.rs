//! Network system calls: argument decoding only, as `sysfile` is for the file system;
//! the bodies live in `net`. The MIT lab's `bind`, `unbind`, `send`, `recv` (`net::lab`),
//! the older lab's `connect` socket file (`net::socket`), `nettrace` and `netstat`, and
//! BSD sockets (`socket`...`poll`, numbers 50..=63, `net::bsd`; `recvmmsg` and
//! `sendmmsg`, 65 and 66, `net::mmsg`), which alone return -errno on failure (the
//! dispatcher applies that rule). Reading and writing the calls' arguments in user
//! memory is `sockarg`'s.

use super::sockarg::{
    arglen, argport, argsock, argvlen, file_at, install, read_i32, read_mmsgs, read_optval,
    read_pollfds, read_sockaddr, reserve_fd, sock, write_i32, write_mmsgs, write_pollfds,
    write_sockaddr,
};
use super::{SysResult, argaddr, argint};
use crate::fs::file::{File, FileKind};
use crate::net::bsd::{self, BsdSock};
use crate::net::lab::{self, RecvTo};
use crate::net::{self, socket};
use crate::proc::{either_copyout, myproc};
use abi::errno::*;
use abi::socket::*;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::sync::atomic::Ordering;
use netstack::{Shutdown, SockKind};

/// bind(port): prepare to receive UDP datagrams sent to `port`.
pub fn sys_bind() -> SysResult {
    let port = argport(0);
    // SAFETY: the current process's own data; `bind` takes no other reference to it.
    lab::bind(&mut unsafe { myproc().data() }.lab_ports, port).map(|()| 0)
}

/// unbind(port): stop receiving on `port`.
pub fn sys_unbind() -> SysResult {
    let port = argport(0);
    // SAFETY: the current process's own data; `unbind` takes no other reference to it.
    lab::unbind(&mut unsafe { myproc().data() }.lab_ports, port).map(|()| 0)
}

/// send(sport, dst, dport, buf, len).
pub fn sys_send() -> SysResult {
    let dst = argint(1) as u32;
    lab::send(argport(0), dst, argport(2), argaddr(3), arglen(4)?).map(|()| 0)
}

/// recv(dport, *src, *sport, buf, maxlen) -> length.
pub fn sys_recv() -> SysResult {
    let to = RecvTo {
        src: argaddr(1),
        sport: argaddr(2),
        buf: argaddr(3),
        maxlen: arglen(4)?,
    };
    lab::recv(argport(0), to)
}

/// connect(raddr, lport, rport) -> fd of a UDP socket file.
pub fn sys_connect() -> SysResult {
    let raddr = argint(0) as u32;
    let (fd, slot) = reserve_fd()?;
    let id = socket::connect(raddr, argport(1), argport(2))?;
    let f = slot.fill(FileKind::Socket(id), true, true);
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(f);
    Ok(fd)
}

/// nettrace(on).
pub fn sys_nettrace() -> SysResult {
    net::set_trace(argint(0) != 0).map(|()| 0)
}

/// netstat(addr): the interface's counters (abi::net::NetStat) to user space.
pub fn sys_netstat() -> SysResult {
    let stat = net::netstat()?;
    either_copyout(true, argaddr(0), &stat.to_bytes())?;
    Ok(0)
}

// ---- BSD sockets ----

/// socket(domain, type, protocol) -> fd.
pub fn sys_socket() -> SysResult {
    let kind = SockKind::from_abi(argint(0), argint(1), argint(2))?;
    let (fd, slot) = reserve_fd()?;
    let id = bsd::open(kind)?;
    Ok(install(fd, slot, id, kind))
}

/// bind(fd, addr, addrlen).
pub fn sys_sockbind() -> SysResult {
    let f = argsock(0)?;
    let a = read_sockaddr(argaddr(1), argint(2))?;
    sock(&f).bind(a).map(|()| 0)
}

/// listen(fd, backlog).
pub fn sys_listen() -> SysResult {
    let f = argsock(0)?;
    sock(&f).listen(argint(1).max(1) as usize).map(|()| 0)
}

/// accept(fd, addr or null, addrlen* or null) -> new fd.
pub fn sys_accept() -> SysResult {
    let f = argsock(0)?;
    let (fd, slot) = reserve_fd()?;
    let (id, peer) = sock(&f).accept()?;
    let fd = install(fd, slot, id, SockKind::Stream);
    // The connection exists now: a bad address pointer is the caller's problem
    // only, as on Linux, which also keeps the connection.
    let _ = write_sockaddr(argaddr(1), argaddr(2), peer);
    Ok(fd)
}

/// connect(fd, addr, addrlen).
pub fn sys_sockconnect() -> SysResult {
    let f = argsock(0)?;
    let a = read_sockaddr(argaddr(1), argint(2))?;
    sock(&f).connect(a).map(|()| 0)
}

/// sendto(fd, buf, len, flags, addr or null, addrlen).
pub fn sys_sendto() -> SysResult {
    let f = argsock(0)?;
    let len = arglen(2)?;
    let dontwait = argint(3) & MSG_DONTWAIT != 0;
    let to = match argaddr(4) {
        0 => None,
        a => Some(read_sockaddr(a, argint(5))?),
    };
    sock(&f).send(argaddr(1), len, dontwait, to)
}

/// recvfrom(fd, buf, len, flags, addr or null, addrlen* or null).
pub fn sys_recvfrom() -> SysResult {
    let f = argsock(0)?;
    let len = arglen(2)?;
    let dontwait = argint(3) & MSG_DONTWAIT != 0;
    let (n, from) = sock(&f).recv(argaddr(1), len, dontwait)?;
    write_sockaddr(argaddr(4), argaddr(5), from)?;
    Ok(n)
}

/// shutdown(fd, how).
pub fn sys_shutdown() -> SysResult {
    let f = argsock(0)?;
    sock(&f)
        .shutdown(Shutdown::from_abi(argint(1))?)
        .map(|()| 0)
}

/// getsockname(fd, addr, addrlen*).
pub fn sys_getsockname() -> SysResult {
    sockaddr_of(BsdSock::local_addr)
}

/// getpeername(fd, addr, addrlen*).
pub fn sys_getpeername() -> SysResult {
    sockaddr_of(BsdSock::peer_addr)
}

/// getsockname and getpeername: one of the socket's addresses, written to user memory.
fn sockaddr_of(which: fn(&BsdSock) -> Result<SocketAddrV4, Errno>) -> SysResult {
    let f = argsock(0)?;
    let a = which(sock(&f))?;
    if argaddr(1) == 0 {
        return Err(EFAULT);
    }
    write_sockaddr(argaddr(1), argaddr(2), a).map(|()| 0)
}

/// setsockopt(fd, level, name, value*, len): SOL_SOCKET/SO_RCVTIMEO (u32 ms),
/// SOL_SOCKET/SO_RCVBUF (i32 bytes, not negative), SOL_SOCKET/SO_KEEPALIVE and
/// IPPROTO_TCP/TCP_NODELAY (i32, non-zero = on).
pub fn sys_setsockopt() -> SysResult {
    let f = argsock(0)?;
    let s = sock(&f);
    match (argint(1), argint(2)) {
        (IPPROTO_TCP, TCP_NODELAY) => s.set_nodelay(read_optval(argaddr(3), argint(4))? != 0)?,
        (SOL_SOCKET, SO_KEEPALIVE) => s.set_keepalive(read_optval(argaddr(3), argint(4))? != 0)?,
        (SOL_SOCKET, SO_RCVTIMEO) => {
            let ms = read_optval(argaddr(3), argint(4))?;
            s.rcvtimeo_ms.store(ms, Ordering::Relaxed)
        }
        (SOL_SOCKET, SO_RCVBUF) => {
            let bytes = read_optval(argaddr(3), argint(4))? as i32;
            s.set_rcvbuf(usize::try_from(bytes).map_err(|_| EINVAL)?)?
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(0)
}

/// getsockopt(fd, level, name, value*, len*): SO_ERROR (i32, cleared),
/// SO_RCVTIMEO (u32 ms), SO_RCVBUF (i32 bytes), SO_KEEPALIVE and TCP_NODELAY (i32).
pub fn sys_getsockopt() -> SysResult {
    let f = argsock(0)?;
    if read_i32(argaddr(4))? < 4 {
        return Err(EINVAL);
    }
    let s = sock(&f);
    let v: u32 = match (argint(1), argint(2)) {
        (SOL_SOCKET, SO_ERROR) => s.take_error()?.map_or(0, |e| e.code() as u32),
        (SOL_SOCKET, SO_RCVTIMEO) => s.rcvtimeo_ms.load(Ordering::Relaxed),
        (SOL_SOCKET, SO_RCVBUF) => s.rcvbuf()? as u32,
        (IPPROTO_TCP, TCP_NODELAY) => u32::from(s.nodelay()?),
        (SOL_SOCKET, SO_KEEPALIVE) => u32::from(s.keepalive()?),
        _ => return Err(ENOPROTOOPT),
    };
    write_i32(argaddr(3), v as i32)?;
    write_i32(argaddr(4), 4)?;
    Ok(0)
}

/// fcntl(fd, F_GETFL | F_SETFL, flags): only O_NONBLOCK, only on sockets.
pub fn sys_fcntl() -> SysResult {
    let f = argsock(0)?;
    let nonblock = &sock(&f).nonblock;
    match argint(1) {
        F_GETFL if nonblock.load(Ordering::Relaxed) => Ok(O_NONBLOCK as usize),
        F_GETFL => Ok(0),
        F_SETFL => {
            nonblock.store(argint(2) & O_NONBLOCK != 0, Ordering::Relaxed);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// Most descriptors one poll looks at.
const MAX_POLLFDS: usize = 64;

/// poll(fds*, nfds, timeout_ms) -> descriptors with events.
pub fn sys_poll() -> SysResult {
    let (addr, timeout) = (argaddr(0), argint(2));
    let nfds = arglen(1)?;
    if nfds > MAX_POLLFDS {
        return Err(EINVAL);
    }
    let mut fds = [PollFd::default(); MAX_POLLFDS];
    let fds = &mut fds[..nfds];
    read_pollfds(addr, fds)?;
    let files: Vec<Option<Arc<File>>> = fds
        .iter()
        .map(|p| usize::try_from(p.fd).ok().and_then(file_at))
        .collect();
    let deadline = u64::try_from(timeout).ok().map(|t| net::now_ms() + t);
    let ready = bsd::poll(fds, &files, deadline)?;
    write_pollfds(addr, fds)?;
    Ok(ready)
}

/// recvmmsg(fd, msgs*, vlen, flags, timeout_ms) -> datagrams received; `timeout_ms`
/// negative: no bound but the socket's.
pub fn sys_recvmmsg() -> SysResult {
    let f = argsock(0)?;
    let (addr, vlen) = (argaddr(1), argvlen(2)?);
    let dontwait = argint(3) & MSG_DONTWAIT != 0;
    let timeout = u32::try_from(argint(4)).ok();
    let mut msgs = read_mmsgs(addr, vlen)?;
    let n = sock(&f).recv_batch(&mut msgs, dontwait, timeout)?;
    write_mmsgs(addr, &msgs[..n])?;
    Ok(n)
}

/// sendmmsg(fd, msgs*, vlen, flags) -> datagrams sent.
pub fn sys_sendmmsg() -> SysResult {
    let f = argsock(0)?;
    let (addr, vlen) = (argaddr(1), argvlen(2)?);
    let dontwait = argint(3) & MSG_DONTWAIT != 0;
    let mut msgs = read_mmsgs(addr, vlen)?;
    let n = sock(&f).send_batch(&mut msgs, dontwait)?;
    // The datagrams left: the count is the answer even if the array is read-only.
    let _ = write_mmsgs(addr, &msgs[..n]);
    Ok(n)
}
