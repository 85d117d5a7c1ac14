//! Network system calls: the MIT 6.1810 (2024) lab's `bind`, `unbind`, `send`, `recv`
//! (same numbers and semantics: addresses in host byte order, 16 datagrams queued per
//! bound port, recv blocks until one arrives or the process is killed), the older lab's
//! `connect` socket file, xv6net's `nettrace` and `netstat`, and BSD sockets
//! (`socket`...`poll`, numbers 50..=63), which return -errno on failure.

use super::{SysResult, argaddr, argint};
use crate::fs::file::{File, FileKind, FileReservation};
use crate::net::bsd::{self, BsdSock};
use crate::net::socket::MAX_PAYLOAD;
use crate::net::{self, chan, cost, poll_and_wake};
use crate::proc::{either_copyin, either_copyout, killed, myproc, sleep};
use abi::errno::*;
use abi::param::NOFILE;
use abi::socket::*;
use alloc::sync::Arc;
use core::net::SocketAddrV4;
use core::sync::atomic::Ordering;
use netstack::{Error, Shutdown, SockKind, SocketId};

fn argport(n: usize) -> u16 {
    argint(n) as u16
}

fn mypid() -> i32 {
    myproc().inner.lock().pid
}

/// bind(port): prepare to receive UDP datagrams sent to `port`.
pub fn sys_bind() -> SysResult {
    let port = argport(0);
    let pid = mypid();
    let mut g = net::lock()?;
    let net = g.as_mut().unwrap();
    net.stack.bind(port).map_err(|_| ())?;
    if net.own(port, pid).is_err() {
        let _ = net.stack.unbind(port);
        return Err(());
    }
    Ok(0)
}

/// unbind(port): stop receiving on `port`; queued datagrams are dropped.
pub fn sys_unbind() -> SysResult {
    let port = argport(0);
    let mut g = net::lock()?;
    g.as_mut().unwrap().unbind(port)?;
    Ok(0)
}

/// send(sport, dst, dport, buf, len): one UDP datagram from local port `sport`.
pub fn sys_send() -> SysResult {
    let sport = argport(0);
    let dst = argint(1) as u32;
    let dport = argport(2);
    let addr = argaddr(3);
    let len = argint(4);
    if len < 0 || len as usize > MAX_PAYLOAD {
        return Err(());
    }
    let len = len as usize;
    let mut buf = [0u8; MAX_PAYLOAD];
    cost::in_copy(|| either_copyin(&mut buf[..len], true, addr))?;
    let mut g = net::lock()?;
    loop {
        let net = g.as_mut().unwrap();
        match cost::in_stack(|| net.stack.send(sport, dst, dport, &buf[..len])) {
            Ok(()) => {
                // Let the datagram leave now rather than at the next interrupt.
                poll_and_wake(net);
                return Ok(0);
            }
            Err(Error::WouldBlock) => {
                let Some(id) = net.stack.port_socket(sport) else {
                    return Err(());
                };
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    }
}

/// recv(dport, *src, *sport, buf, maxlen): the oldest datagram queued on bound port
/// `dport`, blocking until one arrives. Returns its length (at most maxlen).
pub fn sys_recv() -> SysResult {
    let dport = argport(0);
    let srcaddr = argaddr(1);
    let sportaddr = argaddr(2);
    let bufaddr = argaddr(3);
    let maxlen = argint(4);
    if maxlen < 0 {
        return Err(());
    }
    let maxlen = (maxlen as usize).min(MAX_PAYLOAD);
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut g = net::lock()?;
    let (src, sport, n) = loop {
        let net = g.as_mut().unwrap();
        match cost::in_stack(|| net.stack.try_recv(dport, &mut buf[..maxlen])) {
            Ok(got) => break got,
            Err(Error::WouldBlock) => {
                let Some(id) = net.stack.port_socket(dport) else {
                    return Err(());
                };
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    };
    drop(g);
    cost::in_copy(|| {
        either_copyout(true, srcaddr, &src.to_le_bytes())?;
        either_copyout(true, sportaddr, &sport.to_le_bytes())?;
        either_copyout(true, bufaddr, &buf[..n])
    })?;
    Ok(n)
}

/// connect(raddr, lport, rport): a UDP socket file for one (remote, local, remote-port)
/// triple, read and written like a pipe.
pub fn sys_connect() -> SysResult {
    let raddr = argint(0) as u32;
    let lport = argport(1);
    let rport = argport(2);
    // SAFETY: the current process's own data; nothing below reaches it otherwise.
    let d = unsafe { myproc().data() };
    let fd = d.ofile.iter().position(|f| f.is_none()).ok_or(())?;
    debug_assert!(fd < NOFILE);
    let slot = FileReservation::new().ok_or(())?;
    let id = {
        let mut g = net::lock()?;
        g.as_mut()
            .unwrap()
            .stack
            .connect(raddr, lport, rport)
            .map_err(|_| ())?
    };
    d.ofile[fd] = Some(slot.fill(FileKind::Socket(id), true, true));
    Ok(fd)
}

/// nettrace(on): print every packet, one line per layer, on the console.
pub fn sys_nettrace() -> SysResult {
    net::set_trace(argint(0) != 0).map(|_| 0)
}

/// netstat(addr): copy the interface's counters (abi::net::NetStat) to user space.
pub fn sys_netstat() -> SysResult {
    let stat = {
        let mut g = net::lock()?;
        g.as_mut().unwrap().stat()
    };
    either_copyout(true, argaddr(0), &stat.to_bytes()).map(|_| 0)
}

// ---- BSD sockets. These calls return -errno on failure (abi::syscall). ----

/// A result as a0 carries it: the value, or -errno.
fn errno_ret(r: Result<usize, Errno>) -> SysResult {
    Ok(match r {
        Ok(v) => v,
        Err(e) => (-(e.code() as isize)) as usize,
    })
}

/// The n-th argument as an open descriptor (EBADF).
fn argfile(n: usize) -> Result<Arc<File>, Errno> {
    let fd = argint(n);
    if fd < 0 || fd as usize >= NOFILE {
        return Err(EBADF);
    }
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd as usize]
        .clone()
        .ok_or(EBADF)
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
    either_copyin(&mut b, true, addr).map_err(|_| EFAULT)?;
    Ok(SockaddrIn::from_bytes(&b)?.into())
}

/// Writes `a` to a user `sockaddr` whose room is `*lenp` bytes (truncating, as
/// Linux does), then stores the full size in `*lenp`. Null `addr` skips it.
fn write_sockaddr(addr: usize, lenp: usize, a: SocketAddrV4) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let mut lb = [0u8; 4];
    either_copyin(&mut lb, true, lenp).map_err(|_| EFAULT)?;
    let room = i32::from_le_bytes(lb);
    if room < 0 {
        return Err(EINVAL);
    }
    let bytes = SockaddrIn::from(a).to_bytes();
    let n = (room as usize).min(bytes.len());
    either_copyout(true, addr, &bytes[..n]).map_err(|_| EFAULT)?;
    either_copyout(true, lenp, &(SockaddrIn::SIZE as i32).to_le_bytes()).map_err(|_| EFAULT)
}

/// Installs a new socket in the lowest free descriptor; the reservations were
/// taken first, so that running out never leaves a socket behind.
fn install(fd: usize, slot: FileReservation, id: SocketId, kind: SockKind) -> usize {
    let f = slot.fill(FileKind::Bsd(BsdSock::new(id, kind)), true, true);
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(f);
    fd
}

/// A free descriptor and an open-file slot (EMFILE, ENFILE).
fn reserve_fd() -> Result<(usize, FileReservation), Errno> {
    // SAFETY: the current process's own data, for this statement only.
    let fd = unsafe { myproc().data() }
        .ofile
        .iter()
        .position(|f| f.is_none())
        .ok_or(EMFILE)?;
    Ok((fd, FileReservation::new().ok_or(ENFILE)?))
}

/// socket(domain, type, protocol) -> fd.
pub fn sys_socket() -> SysResult {
    errno_ret((|| {
        let kind = SockKind::from_abi(argint(0), argint(1), argint(2))?;
        let (fd, slot) = reserve_fd()?;
        let id = bsd::open(kind)?;
        Ok(install(fd, slot, id, kind))
    })())
}

/// bind(fd, addr, addrlen).
pub fn sys_sockbind() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let a = read_sockaddr(argaddr(1), argint(2))?;
        sock(&f).bind(a).map(|_| 0)
    })())
}

/// listen(fd, backlog).
pub fn sys_listen() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        sock(&f).listen(argint(1).max(1) as usize).map(|_| 0)
    })())
}

/// accept(fd, addr or null, addrlen* or null) -> new fd.
pub fn sys_accept() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let (fd, slot) = reserve_fd()?;
        let (id, peer) = sock(&f).accept()?;
        let fd = install(fd, slot, id, SockKind::Stream);
        // The connection exists now: a bad address pointer is the caller's problem
        // only, as on Linux, which also keeps the connection.
        let _ = write_sockaddr(argaddr(1), argaddr(2), peer);
        Ok(fd)
    })())
}

/// connect(fd, addr, addrlen).
pub fn sys_sockconnect() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let a = read_sockaddr(argaddr(1), argint(2))?;
        sock(&f).connect(a).map(|_| 0)
    })())
}

/// sendto(fd, buf, len, flags, addr or null, addrlen).
pub fn sys_sendto() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let len = argint(2);
        if len < 0 {
            return Err(EINVAL);
        }
        let dontwait = argint(3) & MSG_DONTWAIT != 0;
        let to = match argaddr(4) {
            0 => None,
            a => Some(read_sockaddr(a, argint(5))?),
        };
        sock(&f).send(argaddr(1), len as usize, dontwait, to)
    })())
}

/// recvfrom(fd, buf, len, flags, addr or null, addrlen* or null).
pub fn sys_recvfrom() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let len = argint(2);
        if len < 0 {
            return Err(EINVAL);
        }
        let dontwait = argint(3) & MSG_DONTWAIT != 0;
        let (n, from) = sock(&f).recv(argaddr(1), len as usize, dontwait)?;
        write_sockaddr(argaddr(4), argaddr(5), from)?;
        Ok(n)
    })())
}

/// shutdown(fd, how).
pub fn sys_shutdown() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        sock(&f).shutdown(Shutdown::from_abi(argint(1))?).map(|_| 0)
    })())
}

/// getsockname(fd, addr, addrlen*).
pub fn sys_getsockname() -> SysResult {
    sys_sockaddr_of(BsdSock::local_addr)
}

/// getpeername(fd, addr, addrlen*).
pub fn sys_getpeername() -> SysResult {
    sys_sockaddr_of(BsdSock::peer_addr)
}

/// getsockname and getpeername: one of the socket's addresses, written to user memory.
fn sys_sockaddr_of(which: fn(&BsdSock) -> Result<SocketAddrV4, Errno>) -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let a = which(sock(&f))?;
        if argaddr(1) == 0 {
            return Err(EFAULT);
        }
        write_sockaddr(argaddr(1), argaddr(2), a).map(|_| 0)
    })())
}

/// setsockopt(fd, level, name, value*, len): SOL_SOCKET/SO_RCVTIMEO (u32 ms) and
/// IPPROTO_TCP/TCP_NODELAY (i32, non-zero = on).
pub fn sys_setsockopt() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        match (argint(1), argint(2)) {
            (IPPROTO_TCP, TCP_NODELAY) => {
                if argint(4) < 4 {
                    return Err(EINVAL);
                }
                let mut b = [0u8; 4];
                either_copyin(&mut b, true, argaddr(3)).map_err(|_| EFAULT)?;
                sock(&f).set_nodelay(i32::from_le_bytes(b) != 0).map(|()| 0)
            }
            (SOL_SOCKET, SO_RCVTIMEO) => {
                if argint(4) < 4 {
                    return Err(EINVAL);
                }
                let mut b = [0u8; 4];
                either_copyin(&mut b, true, argaddr(3)).map_err(|_| EFAULT)?;
                sock(&f)
                    .rcvtimeo_ms
                    .store(u32::from_le_bytes(b), Ordering::Relaxed);
                Ok(0)
            }
            _ => Err(ENOPROTOOPT),
        }
    })())
}

/// getsockopt(fd, level, name, value*, len*): SO_ERROR (i32, cleared),
/// SO_RCVTIMEO (u32 ms) and TCP_NODELAY (i32).
pub fn sys_getsockopt() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let mut lb = [0u8; 4];
        either_copyin(&mut lb, true, argaddr(4)).map_err(|_| EFAULT)?;
        if i32::from_le_bytes(lb) < 4 {
            return Err(EINVAL);
        }
        let s = sock(&f);
        let v: u32 = match (argint(1), argint(2)) {
            (SOL_SOCKET, SO_ERROR) => s.take_error()?.map_or(0, |e| e.code() as u32),
            (SOL_SOCKET, SO_RCVTIMEO) => s.rcvtimeo_ms.load(Ordering::Relaxed),
            (IPPROTO_TCP, TCP_NODELAY) => u32::from(s.nodelay()?),
            _ => return Err(ENOPROTOOPT),
        };
        either_copyout(true, argaddr(3), &v.to_le_bytes()).map_err(|_| EFAULT)?;
        either_copyout(true, argaddr(4), &4i32.to_le_bytes()).map_err(|_| EFAULT)?;
        Ok(0)
    })())
}

/// fcntl(fd, F_GETFL | F_SETFL, flags): only O_NONBLOCK, only on sockets.
pub fn sys_fcntl() -> SysResult {
    errno_ret((|| {
        let f = argsock(0)?;
        let s = sock(&f);
        match argint(1) {
            F_GETFL => Ok(if s.nonblock.load(Ordering::Relaxed) {
                O_NONBLOCK as usize
            } else {
                0
            }),
            F_SETFL => {
                s.nonblock
                    .store(argint(2) & O_NONBLOCK != 0, Ordering::Relaxed);
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    })())
}

/// Most descriptors one poll looks at.
const MAX_POLLFDS: usize = 64;

/// poll(fds*, nfds, timeout_ms): sockets report their readiness; other
/// descriptors are always ready for the directions they were opened for.
pub fn sys_poll() -> SysResult {
    errno_ret(poll(argaddr(0), argint(1), argint(2)))
}

fn poll(addr: usize, nfds: i32, timeout: i32) -> Result<usize, Errno> {
    if nfds < 0 || nfds as usize > MAX_POLLFDS {
        return Err(EINVAL);
    }
    let nfds = nfds as usize;
    let mut fds = [PollFd::default(); MAX_POLLFDS];
    for (i, p) in fds[..nfds].iter_mut().enumerate() {
        let mut b = [0u8; PollFd::SIZE];
        either_copyin(&mut b, true, addr + i * PollFd::SIZE).map_err(|_| EFAULT)?;
        *p = PollFd::from_bytes(&b);
    }
    let files: alloc::vec::Vec<Option<Arc<File>>> = fds[..nfds]
        .iter()
        .map(|p| if p.fd < 0 { None } else { argfile_at(p.fd) })
        .collect();
    let deadline = (timeout >= 0).then(|| net::now_ms() + timeout as u64);
    let mut g = net::lock().ok();
    let ready = loop {
        let mut ready = 0;
        for (p, f) in fds[..nfds].iter_mut().zip(files.iter()) {
            p.revents = match f {
                None if p.fd < 0 => 0,
                None => POLLNVAL,
                Some(f) => match (&f.kind, g.as_mut()) {
                    (FileKind::Bsd(s), Some(g)) => {
                        s.readiness(g.as_mut().unwrap()).poll_events(p.events)
                    }
                    (FileKind::Bsd(_), None) => POLLERR,
                    _ => {
                        let mut r = 0;
                        if f.readable {
                            r |= POLLIN;
                        }
                        if f.writable {
                            r |= POLLOUT;
                        }
                        r & p.events
                    }
                },
            };
            if p.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| net::now_ms() >= d) {
            break ready;
        }
        if killed(myproc()) {
            return Err(EINTR);
        }
        // Only sockets can become ready later, so there is a stack to wait on.
        let Some(guard) = g.take() else { break 0 };
        g = Some(net::sleep_any(guard));
    };
    drop(g);
    for (i, p) in fds[..nfds].iter().enumerate() {
        either_copyout(true, addr + i * PollFd::SIZE, &p.to_bytes()).map_err(|_| EFAULT)?;
    }
    Ok(ready)
}

/// Descriptor `fd` of the current process, if open.
fn argfile_at(fd: i32) -> Option<Arc<File>> {
    if fd as usize >= NOFILE {
        return None;
    }
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd as usize].clone()
}

/// uptime_us(): microseconds since boot (ping's round-trip times need more than ticks).
pub fn sys_uptime_us() -> SysResult {
    let timebase = crate::dtb::platform().timebase as u64;
    Ok((crate::arch::riscv::r_time() as u64 * 1_000_000 / timebase) as usize)
}
