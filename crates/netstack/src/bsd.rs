//! BSD sockets as the kernel's socket system calls see them: non-blocking
//! `try_*` operations on a [`SocketId`], each failing with a Linux [`Errno`].
//!
//! ```text
//! socket()      Bsd::open(SockKind)            bind()        Bsd::bind
//! listen()      Bsd::listen                    accept()      Bsd::try_accept
//! connect()     Bsd::connect + Bsd::poll_connect
//! send/write    Bsd::try_send                  recv/read     Bsd::try_recv
//! sendto()      Bsd::try_sendto                recvfrom()    Bsd::try_recvfrom
//! shutdown()    Bsd::shutdown                  close()       Bsd::close (Bsd::abort if killed)
//! getsockname() Bsd::local_addr                getpeername() Bsd::peer_addr
//! poll()        Bsd::readiness                 SO_ERROR      Bsd::take_error
//! ```
//!
//! Blocking is the kernel's: an operation that cannot proceed says `EAGAIN`
//! (`EINPROGRESS` for a connect), and the kernel sleeps on the socket's channel
//! until a [`PollResult`] names it, then retries; after a send
//! it polls so that the data leaves at once. A poll names a socket when one of
//! its [`Readiness`] flags rose since the kernel last looked (every operation
//! here counts as looking), so sleepers are woken only by what concerns them.
//!
//! The kinds live in `tcp.rs` (streams) and `dgram.rs` (UDP, ICMP echo).

use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use abi::socket::{
    AF_INET, IPPROTO_ICMP, IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, POLLERR, POLLHUP, POLLIN, POLLOUT,
    SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_DGRAM, SOCK_STREAM,
};
use smoltcp::socket::udp;
use smoltcp::wire::Ipv4Address;

use crate::device::NetDevice;
use crate::dgram::Proto;
use crate::socket::{Entry, SocketId};
use crate::stack::{Core, NetStack, PollResult};

/// What `socket(domain, type, protocol)` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockKind {
    /// TCP: `SOCK_STREAM`.
    Stream,
    /// UDP: `SOCK_DGRAM`.
    Datagram,
    /// ICMP echo ("ping"): `SOCK_DGRAM` with `IPPROTO_ICMP`.
    Echo,
}

impl SockKind {
    /// The kind for `socket()`'s arguments, with Linux's errors.
    pub fn from_abi(domain: i32, ty: i32, protocol: i32) -> Result<SockKind, Errno> {
        if domain != i32::from(AF_INET) {
            return Err(EAFNOSUPPORT);
        }
        match (ty, protocol) {
            (SOCK_STREAM, IPPROTO_IP | IPPROTO_TCP) => Ok(SockKind::Stream),
            (SOCK_DGRAM, IPPROTO_IP | IPPROTO_UDP) => Ok(SockKind::Datagram),
            (SOCK_DGRAM, IPPROTO_ICMP) => Ok(SockKind::Echo),
            (SOCK_STREAM | SOCK_DGRAM, _) => Err(EPROTONOSUPPORT),
            _ => Err(ESOCKTNOSUPPORT),
        }
    }
}

/// Which halves `shutdown` closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

impl Shutdown {
    /// `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub fn from_abi(how: i32) -> Result<Shutdown, Errno> {
        match how {
            SHUT_RD => Ok(Shutdown::Read),
            SHUT_WR => Ok(Shutdown::Write),
            SHUT_RDWR => Ok(Shutdown::Both),
            _ => Err(EINVAL),
        }
    }
}

/// What a socket can do now without blocking, for `poll`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A receive (or accept) would not block: data, end of stream, or an error.
    pub readable: bool,
    /// A send would not block: room, or an error to report.
    pub writable: bool,
    /// The connection is over in both directions (or was never made).
    pub hup: bool,
    /// An error is pending (see [`Bsd::take_error`]).
    pub error: bool,
}

impl Readiness {
    /// `revents` for a `pollfd` that asked for `events`: `POLLIN`/`POLLOUT` if
    /// asked, `POLLERR`/`POLLHUP` always.
    pub fn poll_events(self, events: i16) -> i16 {
        let mut revents = 0;
        if self.readable {
            revents |= POLLIN & events;
        }
        if self.writable {
            revents |= POLLOUT & events;
        }
        if self.error {
            revents |= POLLERR;
        }
        if self.hup {
            revents |= POLLHUP;
        }
        revents
    }

    /// The flags set in `self` but not in `before`.
    fn rose_since(self, before: Readiness) -> Readiness {
        Readiness {
            readable: self.readable && !before.readable,
            writable: self.writable && !before.writable,
            hup: self.hup && !before.hup,
            error: self.error && !before.error,
        }
    }
}

/// The port namespaces: UDP ports, TCP ports, ICMP echo identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortSpace {
    Udp,
    Tcp,
    Icmp,
}

/// Linux's ephemeral port range (`ip_local_port_range` is 32768-60999; IANA's
/// 49152-65535 is used here, as by smoltcp's examples).
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// The BSD socket operations of one stack; see the module comment.
pub struct Bsd<'a> {
    core: &'a mut Core,
}

impl<D: NetDevice> NetStack<D> {
    /// The BSD socket operations.
    pub fn bsd(&mut self) -> Bsd<'_> {
        Bsd {
            core: &mut self.core,
        }
    }
}

/// Which family of operations an id belongs to.
enum Family {
    Tcp,
    Dgram,
}

impl Bsd<'_> {
    fn family(&self, id: SocketId) -> Result<Family, Errno> {
        match self.core.table.entry(id) {
            Entry::Tcp(_) => Ok(Family::Tcp),
            Entry::Dgram(_) => Ok(Family::Dgram),
            _ => Err(EBADF),
        }
    }

    /// Runs `op` on socket `id`, then records what the caller has now seen.
    fn op<T>(
        &mut self,
        id: SocketId,
        op: impl FnOnce(&mut Core, Family) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let family = self.family(id)?;
        let result = op(self.core, family);
        self.core.observe(id);
        result
    }

    /// A new socket: `ENFILE` when the stack's [`MAX_SOCKETS`](crate::MAX_SOCKETS)
    /// are open.
    pub fn open(&mut self, kind: SockKind) -> Result<SocketId, Errno> {
        let id = match kind {
            SockKind::Stream => self.core.tcp_open(),
            SockKind::Datagram => self.core.dgram_open(Proto::Udp),
            SockKind::Echo => self.core.dgram_open(Proto::Icmp),
        }?;
        self.core.observe(id);
        Ok(id)
    }

    /// The kind of socket `id`, if it is a BSD socket.
    pub fn kind(&self, id: SocketId) -> Option<SockKind> {
        match self.core.table.entry(id) {
            Entry::Tcp(_) => Some(SockKind::Stream),
            Entry::Dgram(d) if d.proto == Proto::Udp => Some(SockKind::Datagram),
            Entry::Dgram(_) => Some(SockKind::Echo),
            _ => None,
        }
    }

    /// Gives an unbound socket its local address: 0.0.0.0 or the interface's
    /// (else `EADDRNOTAVAIL`), port 0 for an ephemeral one (for an echo
    /// socket, the port is the identifier). `EADDRINUSE` if taken, `EINVAL` if
    /// already bound.
    pub fn bind(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_bind(id, addr),
            Family::Dgram => core.dgram_bind(id, addr),
        })
    }

    /// Makes a stream socket accept connections, `backlog` of them pending at
    /// most (clamped to 1..=`max_backlog`). Binds an ephemeral port if unbound.
    pub fn listen(&mut self, id: SocketId, backlog: usize) -> Result<(), Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_listen(id, backlog),
            Family::Dgram => Err(EOPNOTSUPP),
        })
    }

    /// Takes one established connection off a listening socket: a new
    /// connected socket and its peer. `EAGAIN` when none is waiting.
    pub fn try_accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddrV4), Errno> {
        let accepted = self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_accept(id),
            Family::Dgram => Err(EOPNOTSUPP),
        })?;
        self.core.observe(accepted.0);
        Ok(accepted)
    }

    /// Starts connecting a stream socket (then see [`Bsd::poll_connect`]), or
    /// sets a datagram socket's peer (done at once).
    pub fn connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_connect(id, remote),
            Family::Dgram => core.dgram_connect(id, remote),
        })
    }

    /// How a connect is going: `Ok` once connected, `EINPROGRESS` while the
    /// handshake runs, else why it failed (`ECONNREFUSED`, `ETIMEDOUT`...).
    pub fn poll_connect(&mut self, id: SocketId) -> Result<(), Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_poll_connect(id),
            Family::Dgram => Ok(()),
        })
    }

    /// Queues bytes on a connected socket; how many were taken (a stream
    /// takes what fits). `EAGAIN` when full, `EPIPE` after `shutdown(Write)`
    /// or the end of the connection, a pending error first.
    pub fn try_send(&mut self, id: SocketId, buf: &[u8]) -> Result<usize, Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_send(id, buf),
            Family::Dgram => core.dgram_sendto(id, buf, None),
        })
    }

    /// Receives bytes on a connected socket (a datagram socket: the next
    /// datagram, truncated to `buf`); 0 at the end of a stream. `EAGAIN` when
    /// nothing is there yet.
    pub fn try_recv(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_recv(id, buf),
            Family::Dgram => core.dgram_recvfrom(id, buf).map(|(n, _)| n),
        })
    }

    /// Sends one datagram to `to` (binding an ephemeral port first if needed).
    /// An echo socket's datagram is an ICMP echo request, header first; its
    /// identifier is replaced by the socket's. On a stream, `to` is ignored.
    pub fn try_sendto(
        &mut self,
        id: SocketId,
        buf: &[u8],
        to: SocketAddrV4,
    ) -> Result<usize, Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_send(id, buf),
            Family::Dgram => core.dgram_sendto(id, buf, Some(to)),
        })
    }

    /// Receives one datagram (truncated to `buf`) and its source. An echo
    /// socket receives echo replies, ICMP header first, from port 0.
    pub fn try_recvfrom(
        &mut self,
        id: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        self.op(id, |core, family| match family {
            Family::Tcp => {
                let n = core.tcp_recv(id, buf)?;
                let peer = core.addrs(id)?.1.ok_or(ENOTCONN)?;
                Ok((n, peer))
            }
            Family::Dgram => core.dgram_recvfrom(id, buf),
        })
    }

    /// Closes one or both halves: a stream sends FIN after its queued data
    /// (`Write`); reads return 0 from then on (`Read`).
    pub fn shutdown(&mut self, id: SocketId, how: Shutdown) -> Result<(), Errno> {
        let read = how != Shutdown::Write;
        let write = how != Shutdown::Read;
        self.op(id, |core, family| match family {
            Family::Tcp => core.tcp_shutdown(id, read, write),
            Family::Dgram => core.dgram_shutdown(id, read, write),
        })
    }

    /// The last descriptor went away: the id is free at once. A stream still
    /// sends what it queued, then FIN (the stack finishes it alone).
    pub fn close(&mut self, id: SocketId) -> Result<(), Errno> {
        self.family(id)?;
        self.core.close_socket(id);
        Ok(())
    }

    /// Like `close`, for a killed process: a connection is reset, not finished.
    pub fn abort(&mut self, id: SocketId) -> Result<(), Errno> {
        self.family(id)?;
        match self.core.table.remove(id) {
            Entry::Tcp(t) => self.core.tcp_release(t, true),
            Entry::Dgram(d) => self.core.dgram_release(d),
            _ => unreachable!("family() said it is a TCP or datagram socket"),
        }
        Ok(())
    }

    /// `getsockname`: 0.0.0.0:0 before a bind.
    pub fn local_addr(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        self.op(id, |core, _| core.addrs(id).map(|a| a.0))
    }

    /// `getpeername`: `ENOTCONN` unless connected.
    pub fn peer_addr(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        self.op(id, |core, _| core.addrs(id)?.1.ok_or(ENOTCONN))
    }

    /// What the socket can do now, for `poll`.
    pub fn readiness(&mut self, id: SocketId) -> Result<Readiness, Errno> {
        self.op(id, |core, _| Ok(core.readiness(id)))
    }

    /// `TCP_NODELAY` on or off; `EOPNOTSUPP` on a datagram socket.
    pub fn set_nodelay(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        match self.core.table.entry_mut(id) {
            Some(Entry::Tcp(t)) => {
                t.nodelay = on;
                Ok(())
            }
            Some(Entry::Dgram(_)) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// Whether `TCP_NODELAY` is on.
    pub fn nodelay(&mut self, id: SocketId) -> Result<bool, Errno> {
        match self.core.table.entry(id) {
            Entry::Tcp(t) => Ok(t.nodelay),
            Entry::Dgram(_) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// `SO_ERROR`: the pending error, cleared.
    pub fn take_error(&mut self, id: SocketId) -> Result<Option<Errno>, Errno> {
        self.op(id, |core, _| {
            core.tcp_sync(id);
            Ok(match core.table.entry_mut(id) {
                Some(Entry::Tcp(t)) => t.error.take(),
                _ => None,
            })
        })
    }
}

impl Core {
    /// Closes any socket (lab or BSD); false if `id` is not open.
    pub(crate) fn close_socket(&mut self, id: SocketId) -> bool {
        match self.table.remove(id) {
            Entry::Free => return false,
            Entry::Lab { handle, .. } => self.table.put_udp(&mut self.sockets, handle),
            Entry::Dgram(d) => self.dgram_release(d),
            Entry::Tcp(t) => self.tcp_release(t, false),
        }
        true
    }

    /// (local, peer) addresses of a BSD socket.
    fn addrs(&self, id: SocketId) -> Result<(SocketAddrV4, Option<SocketAddrV4>), Errno> {
        match self.table.entry(id) {
            Entry::Tcp(t) => Ok(Core::tcp_addrs(t)),
            Entry::Dgram(d) => Ok(Core::dgram_addrs(d)),
            _ => Err(EBADF),
        }
    }

    /// What socket `id` can do now (after catching up with smoltcp).
    pub(crate) fn readiness(&mut self, id: SocketId) -> Readiness {
        self.tcp_sync(id);
        match self.table.entry(id) {
            Entry::Free => Readiness::default(),
            Entry::Lab { handle, .. } => {
                let s = self.sockets.get::<udp::Socket>(*handle);
                Readiness {
                    readable: s.can_recv(),
                    writable: s.can_send(),
                    ..Readiness::default()
                }
            }
            Entry::Dgram(d) => self.dgram_readiness(d),
            Entry::Tcp(t) => self.tcp_readiness(t),
        }
    }

    /// Records the readiness the caller of an operation on `id` has now seen.
    pub(crate) fn observe(&mut self, id: SocketId) {
        if !matches!(self.table.entry(id), Entry::Free) {
            *self.table.seen_mut(id) = self.readiness(id);
        }
    }

    /// After a poll: names the sockets whose readiness rose since last seen.
    /// Hang-ups and errors wake readers and writers alike.
    pub(crate) fn report(&mut self, result: &mut PollResult) {
        for id in self.table.ids() {
            if matches!(self.table.entry(id), Entry::Free) {
                continue;
            }
            let now = self.readiness(id);
            let seen = self.table.seen_mut(id);
            let rose = now.rose_since(*seen);
            *seen = now;
            if rose.readable || rose.hup || rose.error {
                result.readable.insert(id);
            }
            if rose.writable || rose.hup || rose.error {
                result.writable.insert(id);
            }
        }
    }

    /// `bind`'s address check: any, or ours.
    pub(crate) fn check_local_ip(&self, ip: Ipv4Addr) -> Result<(), Errno> {
        if ip.is_unspecified() || self.iface.ipv4_addr() == Some(ip) {
            Ok(())
        } else {
            Err(EADDRNOTAVAIL)
        }
    }

    /// Whether packets to `dst` have somewhere to go: an address of ours, and
    /// `dst` on our subnet or a gateway.
    pub(crate) fn check_reachable(&self, dst: Ipv4Address) -> Result<(), Errno> {
        match self.host.ip {
            Some(cidr) if cidr.contains_addr(&dst) || self.gateway.is_some() => Ok(()),
            _ => Err(ENETUNREACH),
        }
    }

    pub(crate) fn port_in_use(&self, space: PortSpace, port: u16) -> bool {
        match space {
            PortSpace::Udp => self.table.by_udp_port(port).is_some(),
            PortSpace::Tcp => self.tcp_port_in_use(port, true),
            PortSpace::Icmp => self.table.entries().any(|e| match e {
                Entry::Dgram(d) => d.proto == Proto::Icmp && d.port() == Some(port),
                _ => false,
            }),
        }
    }

    /// A free port (identifier) of `space`, in the ephemeral range, taken in
    /// turn from a start that depends on the random seed.
    pub(crate) fn ephemeral_port(&mut self, space: PortSpace) -> Result<u16, Errno> {
        for _ in EPHEMERAL {
            let port = self.next_port;
            self.next_port = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            if !self.port_in_use(space, port) {
                return Ok(port);
            }
        }
        Err(EADDRINUSE)
    }

    /// The first ephemeral port to try, from the seed.
    pub(crate) fn first_ephemeral(seed: u64) -> u16 {
        let span = u64::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        EPHEMERAL.start() + (seed % span) as u16
    }
}
