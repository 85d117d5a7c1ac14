//! BSD sockets: the raw calls (numbers 50..=63, 65 and 66), safe wrappers returning
//! `Result<_, Errno>`, address helpers, and a DNS resolver over a UDP socket.
//!
//! The kernel returns -errno from these calls (see `abi::syscall`); the wrappers
//! turn that into `Err(Errno)`, printable with `strerror` or `{}`. An endpoint
//! is `(ip, port)` with the IPv4 address in host byte order (10.0.2.2 is
//! `0x0A00_0202`), as in the lab API ([`crate::net`]). `read`, `write`, `close`,
//! `dup` and `fork` work on socket descriptors as on any file.
//!
//! These names clash with the lab's `bind`/`send`/`recv`/`connect` at the crate
//! root, so programs use this module by path (`use ulib::socket as so;`).

pub use abi::errno::*;
pub use abi::socket::*;

use crate::net::wire::{dns_query, looks_like_ipv4};
use crate::sys::syscall;
use abi::syscall::*;
use alloc::vec;
use alloc::vec::Vec;

/// An IPv4 endpoint: address (host order) and port.
pub type Endpoint = (u32, u16);

/// The `sockaddr_in` of an endpoint.
pub fn sockaddr(ep: Endpoint) -> SockaddrIn {
    SockaddrIn::new(ep.0.to_be_bytes(), ep.1)
}

/// The endpoint of a `sockaddr_in`.
pub fn endpoint(sa: &SockaddrIn) -> Endpoint {
    (u32::from_be_bytes(sa.sin_addr), sa.port())
}

/// a0 as a result: negative values are -errno.
fn check(r: isize) -> Result<usize, Errno> {
    if r < 0 {
        Err(Errno::from_code(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// A call whose pointer arguments, if any, the wrapper made valid.
fn call6(num: usize, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: every wrapper below passes pointers to live buffers of the lengths
    // it states (or null where the call allows it), so the kernel writes only
    // memory the caller lent for the call.
    check(unsafe { syscall(num, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

/// `socket(domain, type, protocol)`.
pub fn socket(domain: u16, ty: i32, protocol: i32) -> Result<i32, Errno> {
    call6(
        SYS_SOCKET,
        [domain as usize, ty as usize, protocol as usize, 0, 0, 0],
    )
    .map(|fd| fd as i32)
}

pub fn tcp_socket() -> Result<i32, Errno> {
    socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)
}

pub fn udp_socket() -> Result<i32, Errno> {
    socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP)
}

/// An ICMP echo ("ping") socket: send echo requests, receive their replies.
pub fn icmp_socket() -> Result<i32, Errno> {
    socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)
}

pub fn bind(fd: i32, ep: Endpoint) -> Result<(), Errno> {
    let sa = sockaddr(ep).to_bytes();
    call6(
        SYS_SOCKBIND,
        [fd as usize, sa.as_ptr() as usize, sa.len(), 0, 0, 0],
    )
    .map(drop)
}

pub fn listen(fd: i32, backlog: i32) -> Result<(), Errno> {
    call6(SYS_LISTEN, [fd as usize, backlog as usize, 0, 0, 0, 0]).map(drop)
}

/// Waits for a connection: the new descriptor and the peer.
pub fn accept(fd: i32) -> Result<(i32, Endpoint), Errno> {
    let mut sa = [0u8; SockaddrIn::SIZE];
    let mut len = SockaddrIn::SIZE as i32;
    let nfd = call6(
        SYS_ACCEPT,
        [
            fd as usize,
            sa.as_mut_ptr() as usize,
            &mut len as *mut i32 as usize,
            0,
            0,
            0,
        ],
    )?;
    Ok((nfd as i32, parse_sa(&sa)))
}

fn parse_sa(b: &[u8; SockaddrIn::SIZE]) -> Endpoint {
    SockaddrIn::from_bytes(b).map_or((0, 0), |sa| endpoint(&sa))
}

pub fn connect(fd: i32, ep: Endpoint) -> Result<(), Errno> {
    let sa = sockaddr(ep).to_bytes();
    call6(
        SYS_SOCKCONNECT,
        [fd as usize, sa.as_ptr() as usize, sa.len(), 0, 0, 0],
    )
    .map(drop)
}

/// A connected TCP socket to `ep`.
pub fn tcp_connect(ep: Endpoint) -> Result<i32, Errno> {
    let fd = tcp_socket()?;
    match connect(fd, ep) {
        Ok(()) => Ok(fd),
        Err(e) => {
            crate::close(fd);
            Err(e)
        }
    }
}

/// `sendto`; `to` None sends on a connected socket. Returns the bytes taken.
pub fn sendto(fd: i32, buf: &[u8], flags: i32, to: Option<Endpoint>) -> Result<usize, Errno> {
    let sa = to.map(|ep| sockaddr(ep).to_bytes());
    let (p, l) = sa
        .as_ref()
        .map_or((0, 0), |s| (s.as_ptr() as usize, s.len()));
    call6(
        SYS_SENDTO,
        [
            fd as usize,
            buf.as_ptr() as usize,
            buf.len(),
            flags as usize,
            p,
            l,
        ],
    )
}

pub fn send(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    sendto(fd, buf, 0, None)
}

/// Sends all of `buf` (looping over partial sends).
pub fn send_all(fd: i32, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        let n = send(fd, buf)?;
        buf = &buf[n..];
    }
    Ok(())
}

/// `recvfrom`: the bytes received and their source.
pub fn recvfrom(fd: i32, buf: &mut [u8], flags: i32) -> Result<(usize, Endpoint), Errno> {
    let mut sa = [0u8; SockaddrIn::SIZE];
    let mut len = SockaddrIn::SIZE as i32;
    let n = call6(
        SYS_RECVFROM,
        [
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
            sa.as_mut_ptr() as usize,
            &mut len as *mut i32 as usize,
        ],
    )?;
    Ok((n, parse_sa(&sa)))
}

/// `recv`: 0 at the end of a stream.
pub fn recv(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    recvfrom(fd, buf, 0).map(|r| r.0)
}

pub fn shutdown(fd: i32, how: i32) -> Result<(), Errno> {
    call6(SYS_SHUTDOWN, [fd as usize, how as usize, 0, 0, 0, 0]).map(drop)
}

fn name_call(num: usize, fd: i32) -> Result<Endpoint, Errno> {
    let mut sa = [0u8; SockaddrIn::SIZE];
    let mut len = SockaddrIn::SIZE as i32;
    call6(
        num,
        [
            fd as usize,
            sa.as_mut_ptr() as usize,
            &mut len as *mut i32 as usize,
            0,
            0,
            0,
        ],
    )?;
    Ok(parse_sa(&sa))
}

pub fn getsockname(fd: i32) -> Result<Endpoint, Errno> {
    name_call(SYS_GETSOCKNAME, fd)
}

pub fn getpeername(fd: i32) -> Result<Endpoint, Errno> {
    name_call(SYS_GETPEERNAME, fd)
}

/// `SO_KEEPALIVE`: probe a connection that stays idle, and drop it when the peer is gone.
pub fn set_keepalive(fd: i32, on: bool) -> Result<(), Errno> {
    let v = i32::from(on).to_le_bytes();
    call6(
        SYS_SETSOCKOPT,
        [
            fd as usize,
            SOL_SOCKET as usize,
            SO_KEEPALIVE as usize,
            v.as_ptr() as usize,
            4,
            0,
        ],
    )
    .map(drop)
}

/// `TCP_NODELAY`: send small writes at once rather than wait for the ACK of earlier data.
pub fn set_nodelay(fd: i32, on: bool) -> Result<(), Errno> {
    let v = i32::from(on).to_le_bytes();
    call6(
        SYS_SETSOCKOPT,
        [
            fd as usize,
            IPPROTO_TCP as usize,
            TCP_NODELAY as usize,
            v.as_ptr() as usize,
            4,
            0,
        ],
    )
    .map(drop)
}

/// `SO_RCVTIMEO` in milliseconds (0: wait forever); a timed-out receive says EAGAIN.
pub fn set_rcvtimeo(fd: i32, ms: u32) -> Result<(), Errno> {
    let v = ms.to_le_bytes();
    call6(
        SYS_SETSOCKOPT,
        [
            fd as usize,
            SOL_SOCKET as usize,
            SO_RCVTIMEO as usize,
            v.as_ptr() as usize,
            4,
            0,
        ],
    )
    .map(drop)
}

/// `SO_RCVBUF` (UDP sockets): how many bytes of datagrams the socket queues, each
/// counted as a full frame's payload (see `abi::socket::SO_RCVBUF`).
pub fn set_rcvbuf(fd: i32, bytes: i32) -> Result<(), Errno> {
    let v = bytes.to_le_bytes();
    call6(
        SYS_SETSOCKOPT,
        [
            fd as usize,
            SOL_SOCKET as usize,
            SO_RCVBUF as usize,
            v.as_ptr() as usize,
            4,
            0,
        ],
    )
    .map(drop)
}

/// `getsockopt(SOL_SOCKET, SO_RCVBUF)`.
pub fn rcvbuf(fd: i32) -> Result<i32, Errno> {
    let mut v = [0u8; 4];
    let mut len = 4i32;
    call6(
        SYS_GETSOCKOPT,
        [
            fd as usize,
            SOL_SOCKET as usize,
            SO_RCVBUF as usize,
            v.as_mut_ptr() as usize,
            &mut len as *mut i32 as usize,
            0,
        ],
    )?;
    Ok(i32::from_le_bytes(v))
}

/// Datagrams for `recvmmsg` and `sendmmsg`: `count` messages of up to `size` bytes,
/// each with its own buffer and address. The buffers live as long as the batch, so the
/// pointers the kernel gets are always valid.
pub struct Batch {
    msgs: Vec<MMsg>,
    data: Vec<u8>,
    size: usize,
}

impl Batch {
    /// `count` (1..=`MMSG_MAX`) messages of up to `size` bytes.
    pub fn new(count: usize, size: usize) -> Batch {
        let mut data = vec![0u8; count * size];
        let msgs = data
            .chunks_exact_mut(size)
            .map(|buf| MMsg {
                buf: buf.as_mut_ptr() as u64,
                len: size as u32,
                result: 0,
                addr: sockaddr((0, 0)),
            })
            .collect();
        Batch { msgs, data, size }
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Message `i` as the last `recv` left it: its bytes and source.
    pub fn get(&self, i: usize) -> (&[u8], Endpoint) {
        let m = &self.msgs[i];
        let n = (m.result as usize).min(self.size);
        (&self.data[i * self.size..][..n], endpoint(&m.addr))
    }

    /// Makes message `i` the datagram `bytes` (truncated to the message's size) for
    /// `to`, or for a connected socket's peer if None.
    pub fn set(&mut self, i: usize, bytes: &[u8], to: Option<Endpoint>) {
        let n = bytes.len().min(self.size);
        self.data[i * self.size..][..n].copy_from_slice(&bytes[..n]);
        let m = &mut self.msgs[i];
        m.len = n as u32;
        m.addr = match to {
            Some(ep) => sockaddr(ep),
            None => SockaddrIn {
                sin_family: 0,
                ..sockaddr((0, 0))
            },
        };
    }

    /// `recvmmsg`: waits for a datagram (as `recvfrom` would; `timeout_ms` >= 0 also
    /// bounds the wait), then takes all that are queued, up to [`Batch::len`]. Returns
    /// how many; read them with [`Batch::get`].
    pub fn recv(&mut self, fd: i32, flags: i32, timeout_ms: i32) -> Result<usize, Errno> {
        for m in &mut self.msgs {
            m.len = self.size as u32;
        }
        call6(
            SYS_RECVMMSG,
            [
                fd as usize,
                self.msgs.as_mut_ptr() as usize,
                self.msgs.len(),
                flags as usize,
                timeout_ms as usize,
                0,
            ],
        )
    }

    /// After a `recv` of `n`: makes each of the `n` messages an answer to its sender
    /// with the same bytes (an echo).
    pub fn echo(&mut self, n: usize) {
        for m in &mut self.msgs[..n] {
            m.len = m.result;
        }
    }

    /// `sendmmsg` of messages `range` (as [`Batch::set`] or [`Batch::echo`] made
    /// them): how many went, from the first.
    pub fn send(
        &mut self,
        fd: i32,
        range: core::ops::Range<usize>,
        flags: i32,
    ) -> Result<usize, Errno> {
        let msgs = &mut self.msgs[range];
        call6(
            SYS_SENDMMSG,
            [
                fd as usize,
                msgs.as_mut_ptr() as usize,
                msgs.len(),
                flags as usize,
                0,
                0,
            ],
        )
    }

    /// Sends messages `range` all, calling `sendmmsg` again after a partial send.
    pub fn send_all(
        &mut self,
        fd: i32,
        range: core::ops::Range<usize>,
        flags: i32,
    ) -> Result<(), Errno> {
        let mut at = range.start;
        while at < range.end {
            at += self.send(fd, at..range.end, flags)?;
        }
        Ok(())
    }
}

/// `getsockopt(SOL_SOCKET, SO_ERROR)`: the pending error, cleared.
pub fn so_error(fd: i32) -> Result<Option<Errno>, Errno> {
    let mut v = [0u8; 4];
    let mut len = 4i32;
    call6(
        SYS_GETSOCKOPT,
        [
            fd as usize,
            SOL_SOCKET as usize,
            SO_ERROR as usize,
            v.as_mut_ptr() as usize,
            &mut len as *mut i32 as usize,
            0,
        ],
    )?;
    let code = i32::from_le_bytes(v);
    Ok((code != 0).then(|| Errno::from_code(code)))
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: i32, on: bool) -> Result<(), Errno> {
    let flags = if on { O_NONBLOCK } else { 0 };
    call6(
        SYS_FCNTL,
        [fd as usize, F_SETFL as usize, flags as usize, 0, 0, 0],
    )
    .map(drop)
}

/// Most descriptors one `poll` takes.
pub const MAX_POLLFDS: usize = 64;

/// `poll`: fills each `revents`; the number of descriptors with events.
/// `timeout_ms` -1 waits forever.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
    if fds.len() > MAX_POLLFDS {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; fds.len() * PollFd::SIZE];
    for (i, p) in fds.iter().enumerate() {
        raw[i * PollFd::SIZE..(i + 1) * PollFd::SIZE].copy_from_slice(&p.to_bytes());
    }
    let n = call6(
        SYS_POLL,
        [
            raw.as_mut_ptr() as usize,
            fds.len(),
            timeout_ms as usize,
            0,
            0,
            0,
        ],
    )?;
    for (i, p) in fds.iter_mut().enumerate() {
        let b: &[u8; PollFd::SIZE] = raw[i * PollFd::SIZE..(i + 1) * PollFd::SIZE]
            .try_into()
            .unwrap();
        *p = PollFd::from_bytes(b);
    }
    Ok(n)
}

/// How long `resolve` waits for each answer, and how many times it asks.
const DNS_TIMEOUT_MS: u32 = 1000;
const DNS_TRIES: usize = 3;

/// The DNS server the DHCP lease offered, if any.
pub fn default_dns() -> Option<Endpoint> {
    crate::netstat()
        .map(|s| s.dns_server)
        .filter(|&a| a != 0)
        .map(|a| (a, 53))
}

/// The IPv4 address of `name`: a dotted quad as is, else an A query over UDP
/// to `server` (default: the DHCP-offered one; EDESTADDRREQ if none). Errors:
/// ENOENT (no such name), ENODATA (no A record), ETIMEDOUT, EINVAL (a bad name,
/// such as digits and dots that are no address: no server is asked), EIO (the
/// server failed), or the socket's. [`lookup`] says the same in words.
pub fn resolve(name: &str, server: Option<Endpoint>) -> Result<u32, Errno> {
    if let Some(a) = crate::parse_ipv4(name) {
        return Ok(a);
    }
    if looks_like_ipv4(name) {
        return Err(EINVAL);
    }
    let server = server.or_else(default_dns).ok_or(EDESTADDRREQ)?;
    let fd = udp_socket()?;
    let r = ask(fd, name, server);
    crate::close(fd);
    r
}

/// A name [`resolve`] could not turn into an address, shown as a user reads it:
/// `unknown host NAME`, `invalid address NAME`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unresolved<'a> {
    pub name: &'a str,
    pub err: Errno,
}

impl core::fmt::Display for Unresolved<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = self.name;
        match self.err {
            EINVAL if looks_like_ipv4(name) => write!(f, "invalid address {name}"),
            EINVAL => write!(f, "invalid host name {name}"),
            ENOENT => write!(f, "unknown host {name}"),
            ENODATA => write!(f, "no IPv4 address for {name}"),
            EDESTADDRREQ => write!(f, "cannot look up {name}: no DNS server (no DHCP lease)"),
            ETIMEDOUT => write!(f, "cannot look up {name}: the DNS server did not answer"),
            EIO => write!(f, "cannot look up {name}: the DNS server failed"),
            e => write!(f, "cannot look up {name}: {e}"),
        }
    }
}

/// [`resolve`], failing with what went wrong in words (for a program's message).
pub fn lookup(name: &str, server: Option<Endpoint>) -> Result<u32, Unresolved<'_>> {
    resolve(name, server).map_err(|err| Unresolved { name, err })
}

fn ask(fd: i32, name: &str, server: Endpoint) -> Result<u32, Errno> {
    let mut q = vec![0u8; 300];
    let id = (crate::uptime() as u16) ^ 0x5a5a ^ (crate::getpid() as u16).rotate_left(8);
    let qlen = dns_query(id, name, 1, &mut q).ok_or(EINVAL)?;
    connect(fd, server)?;
    set_rcvtimeo(fd, DNS_TIMEOUT_MS)?;
    let mut reply = vec![0u8; 512];
    for _ in 0..DNS_TRIES {
        send(fd, &q[..qlen])?;
        // Replies to an earlier try, or strays, are skipped until the timeout.
        loop {
            match recv(fd, &mut reply) {
                Ok(n) => match parse_a(id, &reply[..n]) {
                    Some(r) => return r,
                    None => continue,
                },
                Err(EAGAIN) => break,
                Err(e) => return Err(e),
            }
        }
    }
    Err(ETIMEDOUT)
}

/// The answer of a DNS reply with id `id`: None if it is not one.
fn parse_a(id: u16, m: &[u8]) -> Option<Result<u32, Errno>> {
    if m.len() < 12 || u16::from_be_bytes([m[0], m[1]]) != id || m[2] & 0x80 == 0 {
        return None;
    }
    match m[3] & 0x0f {
        0 => {}
        3 => return Some(Err(ENOENT)),
        _ => return Some(Err(EIO)),
    }
    let qd = u16::from_be_bytes([m[4], m[5]]);
    let an = u16::from_be_bytes([m[6], m[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(m, at)? + 4;
    }
    for _ in 0..an {
        at = skip_name(m, at)?;
        let rr = m.get(at..at + 10)?;
        let (ty, len) = (
            u16::from_be_bytes([rr[0], rr[1]]),
            u16::from_be_bytes([rr[8], rr[9]]) as usize,
        );
        let data = m.get(at + 10..at + 10 + len)?;
        if ty == 1 && len == 4 {
            return Some(Ok(u32::from_be_bytes([data[0], data[1], data[2], data[3]])));
        }
        at += 10 + len;
    }
    Some(Err(ENODATA))
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let l = *m.get(at)? as usize;
        if l == 0 {
            return Some(at + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        at += 1 + l;
    }
}

/// Microseconds since boot.
pub fn uptime_us() -> u64 {
    call6(SYS_UPTIME_US, [0; 6]).unwrap_or(0) as u64
}

/// Runs `work(conn)` in a new process, for servers: the child forks the worker
/// and exits at once, so the caller reaps it right away (xv6's `wait` cannot poll)
/// and init adopts the worker. The caller's copy of `conn` is closed.
pub fn spawn(conn: i32, work: impl FnOnce(i32)) {
    let pid = crate::fork();
    if pid == 0 {
        if crate::fork() == 0 {
            work(conn);
        }
        crate::exit(0);
    }
    crate::close(conn);
    if pid > 0 {
        crate::wait(None);
    }
}

/// Sleeps about `ms` milliseconds: a `poll` on no descriptors, which the kernel wakes
/// every 10 ms (ticks, 100 ms, are too coarse for ping's intervals). Without a network
/// card that returns at once, so the rest is slept in ticks.
pub fn sleep_ms(ms: u32) {
    let start = uptime_us();
    let _ = poll(&mut [], ms as i32);
    let left = u64::from(ms).saturating_sub((uptime_us() - start) / 1000);
    if left > 0 {
        crate::sleep(left.div_ceil(100) as i32);
    }
}
