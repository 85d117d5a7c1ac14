//! Network system calls: argument decoding only, as `sysfile` is for the file system;
//! the bodies live in `net`. The MIT lab's `bind`, `unbind`, `send`, `recv` (`net::lab`),
//! the older lab's `connect` socket file (`net::socket`), `nettrace` and `netstat`, and
//! BSD sockets (`socket`...`poll`, numbers 50..=63, `net::bsd`; `recvmmsg` and
//! `sendmmsg`, 65 and 66, `net::mmsg`), which alone return -errno on failure (the
//! dispatcher applies that rule).

use super::{SysResult, argaddr, argint};
use crate::fs::file::{File, FileKind, FileReservation};
use crate::net::bsd::{self, BsdSock};
use crate::net::lab::{self, RecvTo};
use crate::net::{self, socket};
use crate::proc::{either_copyin, either_copyout, myproc};
use abi::errno::*;
use abi::socket::*;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::sync::atomic::Ordering;
use netstack::{Shutdown, SockKind, SocketId};

fn argport(n: usize) -> u16 {
    argint(n) as u16
}

/// The n-th argument as a length, which must not be negative.
fn arglen(n: usize) -> Result<usize, Errno> {
    usize::try_from(argint(n)).map_err(|_| EINVAL)
}

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

/// The n-th argument as an open descriptor (EBADF).
fn argfile(n: usize) -> Result<Arc<File>, Errno> {
    let fd = argint(n);
    if fd < 0 {
        return Err(EBADF);
    }
    file_at(fd as usize).ok_or(EBADF)
}

/// Descriptor `fd` of the current process, if open.
fn file_at(fd: usize) -> Option<Arc<File>> {
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile.get(fd)?.clone()
}

/// The n-th argument as a BSD socket descriptor (EBADF, ENOTSOCK).
fn argsock(n: usize) -> Result<Arc<File>, Errno> {
    let f = argfile(n)?;
    match f.kind {
        FileKind::Bsd(_) => Ok(f),
        _ => Err(ENOTSOCK),
    }
}

fn sock(f: &File) -> &BsdSock {
    match &f.kind {
        FileKind::Bsd(s) => s,
        _ => unreachable!("argsock checked the kind"),
    }
}

/// A `struct sockaddr_in` the user passed with its length.
fn read_sockaddr(addr: usize, len: i32) -> Result<SocketAddrV4, Errno> {
    if len < SockaddrIn::SIZE as i32 {
        return Err(EINVAL);
    }
    let mut b = [0u8; SockaddrIn::SIZE];
    either_copyin(&mut b, true, addr).map_err(|()| EFAULT)?;
    Ok(SockaddrIn::from_bytes(&b)?.into())
}

/// Writes `a` to a user `sockaddr` whose room is `*lenp` bytes (truncating, as
/// Linux does), then stores the full size in `*lenp`. Null `addr` skips it.
fn write_sockaddr(addr: usize, lenp: usize, a: SocketAddrV4) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let room = usize::try_from(read_i32(lenp)?).map_err(|_| EINVAL)?;
    let bytes = SockaddrIn::from(a).to_bytes();
    either_copyout(true, addr, &bytes[..room.min(bytes.len())]).map_err(|()| EFAULT)?;
    write_i32(lenp, SockaddrIn::SIZE as i32)
}

fn read_i32(addr: usize) -> Result<i32, Errno> {
    let mut b = [0u8; 4];
    either_copyin(&mut b, true, addr).map_err(|()| EFAULT)?;
    Ok(i32::from_le_bytes(b))
}

fn write_i32(addr: usize, v: i32) -> Result<(), Errno> {
    either_copyout(true, addr, &v.to_le_bytes()).map_err(|()| EFAULT)
}

/// An option value of at least 4 bytes (`len` is what the user said it holds).
fn read_optval(addr: usize, len: i32) -> Result<u32, Errno> {
    if len < 4 {
        return Err(EINVAL);
    }
    Ok(read_i32(addr)? as u32)
}

/// A free descriptor and an open-file slot (EMFILE, ENFILE), taken before the socket
/// so that running out never leaves a socket behind.
fn reserve_fd() -> Result<(usize, FileReservation), Errno> {
    // SAFETY: the current process's own data, for this statement only.
    let fd = unsafe { myproc().data() }
        .ofile
        .iter()
        .position(|f| f.is_none())
        .ok_or(EMFILE)?;
    Ok((fd, FileReservation::new().ok_or(ENFILE)?))
}

/// Installs a new BSD socket in the reserved descriptor.
fn install(fd: usize, slot: FileReservation, id: SocketId, kind: SockKind) -> usize {
    let f = slot.fill(FileKind::Bsd(BsdSock::new(id, kind)), true, true);
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(f);
    fd
}

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
    for (i, p) in fds.iter_mut().enumerate() {
        let mut b = [0u8; PollFd::SIZE];
        either_copyin(&mut b, true, addr + i * PollFd::SIZE).map_err(|()| EFAULT)?;
        *p = PollFd::from_bytes(&b);
    }
    let files: Vec<Option<Arc<File>>> = fds
        .iter()
        .map(|p| usize::try_from(p.fd).ok().and_then(file_at))
        .collect();
    let deadline = u64::try_from(timeout).ok().map(|t| net::now_ms() + t);
    let ready = bsd::poll(fds, &files, deadline)?;
    for (i, p) in fds.iter().enumerate() {
        either_copyout(true, addr + i * PollFd::SIZE, &p.to_bytes()).map_err(|()| EFAULT)?;
    }
    Ok(ready)
}

/// The n-th argument as a `recvmmsg`/`sendmmsg` message count: 1..=MMSG_MAX (EINVAL).
fn argvlen(n: usize) -> Result<usize, Errno> {
    match arglen(n)? {
        0 => Err(EINVAL),
        v if v > MMSG_MAX => Err(EINVAL),
        v => Ok(v),
    }
}

/// The user's `struct mmsg` array of `vlen` messages at `addr`.
fn read_mmsgs(addr: usize, vlen: usize) -> Result<Vec<MMsg>, Errno> {
    let mut raw = vec![0u8; vlen * MMsg::SIZE];
    either_copyin(&mut raw, true, addr).map_err(|()| EFAULT)?;
    Ok(raw
        .chunks_exact(MMsg::SIZE)
        .map(|c| {
            let mut b = [0u8; MMsg::SIZE];
            b.copy_from_slice(c);
            MMsg::from_bytes(&b)
        })
        .collect())
}

/// Writes back the first messages of the array at `addr` (their `result`, `addr`).
fn write_mmsgs(addr: usize, msgs: &[MMsg]) -> Result<(), Errno> {
    let raw: Vec<u8> = msgs.iter().flat_map(|m| m.to_bytes()).collect();
    either_copyout(true, addr, &raw).map_err(|()| EFAULT)
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
