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
//! recvmmsg()    Bsd::try_recv_batch            sendmmsg()    Bsd::try_send_batch
//! SO_RCVBUF     Bsd::set_rcvbuf, Bsd::rcvbuf
//! ```
//!
//! Blocking is the kernel's: an operation that cannot proceed says `EAGAIN`
//! (`EINPROGRESS` for a connect), and the kernel sleeps on the socket's channel
//! until a [`PollResult`](crate::PollResult) names it, then retries; after a
//! send it polls so that the data leaves at once. A poll names a socket when
//! one of its [`Readiness`] flags rose since the kernel last looked (every
//! operation here but `readiness` counts as looking), so sleepers are woken
//! only by what concerns them.
//!
//! This file holds the BSD rules that span a socket's kind: errors per
//! family, address checks, binding an ephemeral port before a `listen`,
//! `connect` or `sendto`. The kinds live in `tcp.rs` (streams) and `dgram.rs`
//! (UDP, ICMP echo); what every socket shares in `socket.rs`.

use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use abi::socket::{
    AF_INET, IPPROTO_ICMP, IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, SHUT_RD, SHUT_RDWR, SHUT_WR,
    SOCK_DGRAM, SOCK_STREAM,
};
use smoltcp::iface;

use crate::dgram::Proto;
use crate::readiness::Readiness;
use crate::socket::{Addressing, PortSpace, SocketId, Sockets};
use crate::table::Entry;

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

/// The BSD socket operations of one stack; see the module comment.
pub struct Bsd<'a> {
    sockets: &'a mut Sockets,
    /// smoltcp's view of the interface, which a TCP connect needs.
    cx: &'a mut iface::Context,
    addr: Addressing,
}

/// Which family of operations an id belongs to.
enum Family {
    Tcp,
    Dgram,
}

impl<'a> Bsd<'a> {
    pub(crate) fn new(
        sockets: &'a mut Sockets,
        cx: &'a mut iface::Context,
        addr: Addressing,
    ) -> Bsd<'a> {
        Bsd { sockets, cx, addr }
    }
}

impl Bsd<'_> {
    fn family(&self, id: SocketId) -> Result<Family, Errno> {
        match self.sockets.table().entry(id) {
            Entry::Tcp(_) => Ok(Family::Tcp),
            Entry::Dgram(_) => Ok(Family::Dgram),
            _ => Err(EBADF),
        }
    }

    /// Runs `op` on socket `id`, then records what the caller has now seen.
    fn op<T>(
        &mut self,
        id: SocketId,
        op: impl FnOnce(&mut Self, Family) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let family = self.family(id)?;
        let result = op(self, family);
        self.sockets.observe(id);
        result
    }

    /// A new socket: `ENFILE` when the stack's [`MAX_SOCKETS`](crate::MAX_SOCKETS)
    /// are open.
    pub fn open(&mut self, kind: SockKind) -> Result<SocketId, Errno> {
        let id = match kind {
            SockKind::Stream => self.sockets.open_tcp(),
            SockKind::Datagram => self.sockets.open_dgram(Proto::Udp),
            SockKind::Echo => self.sockets.open_dgram(Proto::Icmp),
        }?;
        self.sockets.observe(id);
        Ok(id)
    }

    /// The kind of socket `id`, if it is a BSD socket.
    pub fn kind(&self, id: SocketId) -> Option<SockKind> {
        match self.sockets.table().entry(id) {
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
        self.op(id, |b, _| b.bind_local(id, addr))
    }

    /// Makes a stream socket accept connections, `backlog` of them pending at
    /// most (clamped to 1..=`max_backlog`). Binds an ephemeral port if unbound.
    pub fn listen(&mut self, id: SocketId, backlog: usize) -> Result<(), Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => b.tcp_listen(id, backlog),
            Family::Dgram => Err(EOPNOTSUPP),
        })
    }

    /// Takes one established connection off a listening socket: a new
    /// connected socket and its peer. `EAGAIN` when none is waiting.
    pub fn try_accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddrV4), Errno> {
        let accepted = self.op(id, |b, family| match family {
            Family::Tcp => b.tcp_accept(id),
            Family::Dgram => Err(EOPNOTSUPP),
        })?;
        self.sockets.observe(accepted.0);
        Ok(accepted)
    }

    /// Starts connecting a stream socket (then see [`Bsd::poll_connect`]), or
    /// sets a datagram socket's peer (done at once).
    pub fn connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => b.tcp_connect(id, remote),
            Family::Dgram => b.dgram_connect(id, remote),
        })
    }

    /// How a connect is going: `Ok` once connected, `EINPROGRESS` while the
    /// handshake runs, else why it failed (`ECONNREFUSED`, `ETIMEDOUT`...).
    pub fn poll_connect(&mut self, id: SocketId) -> Result<(), Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => b.sockets.tcp(id)?.poll_connect(),
            Family::Dgram => Ok(()),
        })
    }

    /// Queues bytes on a connected socket; how many were taken (a stream
    /// takes what fits). `EAGAIN` when full, `EPIPE` after `shutdown(Write)`
    /// or the end of the connection, a pending error first.
    pub fn try_send(&mut self, id: SocketId, buf: &[u8]) -> Result<usize, Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => b.sockets.tcp(id)?.send(buf),
            Family::Dgram => b.dgram_sendto(id, buf, None),
        })
    }

    /// Receives bytes on a connected socket (a datagram socket: the next
    /// datagram, truncated to `buf`); 0 at the end of a stream. `EAGAIN` when
    /// nothing is there yet.
    pub fn try_recv(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => b.sockets.tcp(id)?.recv(buf),
            Family::Dgram => {
                let (d, sockets) = b.sockets.dgram(id)?;
                d.recv(sockets, buf).map(|(n, _)| n)
            }
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
        self.op(id, |b, family| match family {
            Family::Tcp => b.sockets.tcp(id)?.send(buf),
            Family::Dgram => b.dgram_sendto(id, buf, Some(to)),
        })
    }

    /// Receives one datagram (truncated to `buf`) and its source. An echo
    /// socket receives echo replies, ICMP header first, from port 0.
    pub fn try_recvfrom(
        &mut self,
        id: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => {
                let n = b.sockets.tcp(id)?.recv(buf)?;
                let peer = b.addrs(id)?.1.ok_or(ENOTCONN)?;
                Ok((n, peer))
            }
            Family::Dgram => {
                let (d, sockets) = b.sockets.dgram(id)?;
                d.recv(sockets, buf)
            }
        })
    }

    /// Takes up to `max` datagrams at once, oldest first, handing each whole
    /// payload to `each` with its source; how many. `EAGAIN` when none is
    /// queued, `EOPNOTSUPP` on a stream. One look at the socket for the whole
    /// batch, as `recvmmsg` wants.
    pub fn try_recv_batch(
        &mut self,
        id: SocketId,
        max: usize,
        each: impl FnMut(&[u8], SocketAddrV4),
    ) -> Result<usize, Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => Err(EOPNOTSUPP),
            Family::Dgram => {
                let (d, sockets) = b.sockets.dgram(id)?;
                d.recv_batch(sockets, max, each)
            }
        })
    }

    /// Queues datagrams in order, each to its destination (`None`: the peer),
    /// until one cannot be queued: how many were, and why the next was not
    /// (`None` if all were; `EAGAIN` when the send queue is full).
    /// `EOPNOTSUPP` on a stream.
    pub fn try_send_batch<'b>(
        &mut self,
        id: SocketId,
        msgs: impl IntoIterator<Item = (&'b [u8], Option<SocketAddrV4>)>,
    ) -> (usize, Option<Errno>) {
        let mut sent = 0;
        let stopped = self
            .op(id, |b, family| {
                if let Family::Tcp = family {
                    return Err(EOPNOTSUPP);
                }
                for (buf, to) in msgs {
                    b.dgram_sendto(id, buf, to)?;
                    sent += 1;
                }
                Ok(())
            })
            .err();
        (sent, stopped)
    }

    /// `SO_RCVBUF`: sets the receive queue of a UDP socket to `bytes` (see
    /// `abi::socket::SO_RCVBUF`); its memory is allocated here, once, within
    /// [`RCVBUF_TOTAL`](crate::RCVBUF_TOTAL) for all sockets (`ENOBUFS`).
    /// `EOPNOTSUPP` on other kinds.
    pub fn set_rcvbuf(&mut self, id: SocketId, bytes: usize) -> Result<(), Errno> {
        self.op(id, |b, family| match family {
            Family::Tcp => Err(EOPNOTSUPP),
            Family::Dgram => b.sockets.set_rcvbuf(id, bytes),
        })
    }

    /// `SO_RCVBUF`'s value in force (UDP only).
    pub fn rcvbuf(&mut self, id: SocketId) -> Result<usize, Errno> {
        let max_payload = self.sockets.max_payload();
        match self.sockets.table().entry(id) {
            Entry::Dgram(d) if d.proto == Proto::Udp => Ok(d.rcvbuf(max_payload)),
            Entry::Tcp(_) | Entry::Dgram(_) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// Closes one or both halves: a stream sends FIN after its queued data
    /// (`Write`); reads return 0 from then on (`Read`).
    pub fn shutdown(&mut self, id: SocketId, how: Shutdown) -> Result<(), Errno> {
        let read = how != Shutdown::Write;
        let write = how != Shutdown::Read;
        self.op(id, |b, family| match family {
            Family::Tcp => b.sockets.tcp(id)?.shutdown(read, write),
            Family::Dgram => b.sockets.dgram(id)?.0.shutdown(read, write),
        })
    }

    /// The last descriptor went away: the id is free at once. A stream still
    /// sends what it queued, then FIN (the stack finishes it alone).
    pub fn close(&mut self, id: SocketId) -> Result<(), Errno> {
        self.family(id)?;
        self.sockets.close(id, false);
        Ok(())
    }

    /// Like `close`, for a killed process: a connection is reset, not finished.
    pub fn abort(&mut self, id: SocketId) -> Result<(), Errno> {
        self.family(id)?;
        self.sockets.close(id, true);
        Ok(())
    }

    /// `getsockname`: 0.0.0.0:0 before a bind.
    pub fn local_addr(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        self.op(id, |b, _| b.addrs(id).map(|a| a.0))
    }

    /// `getpeername`: `ENOTCONN` unless connected.
    pub fn peer_addr(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        self.op(id, |b, _| b.addrs(id)?.1.ok_or(ENOTCONN))
    }

    /// What the socket can do now, for `poll`. Only looks: a later poll still
    /// names the socket if a flag rises above what the last operation saw.
    pub fn readiness(&self, id: SocketId) -> Result<Readiness, Errno> {
        self.family(id)?;
        Ok(self.sockets.readiness(id))
    }

    /// `TCP_NODELAY` on or off; `EOPNOTSUPP` on a datagram socket.
    pub fn set_nodelay(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        match self.sockets.table_mut().entry_mut(id) {
            Some(Entry::Tcp(t)) => {
                t.set_nodelay(on);
                Ok(())
            }
            Some(Entry::Dgram(_)) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// Whether `TCP_NODELAY` is on.
    pub fn nodelay(&mut self, id: SocketId) -> Result<bool, Errno> {
        match self.sockets.table().entry(id) {
            Entry::Tcp(t) => Ok(t.nodelay()),
            Entry::Dgram(_) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// `SO_KEEPALIVE` on or off (see `tcp.rs` for the probe interval and
    /// timeout); `EOPNOTSUPP` on a datagram socket. Takes effect at the next poll.
    pub fn set_keepalive(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        match self.sockets.table_mut().entry_mut(id) {
            Some(Entry::Tcp(t)) => {
                t.set_keepalive(on);
                Ok(())
            }
            Some(Entry::Dgram(_)) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// Whether `SO_KEEPALIVE` is on.
    pub fn keepalive(&mut self, id: SocketId) -> Result<bool, Errno> {
        match self.sockets.table().entry(id) {
            Entry::Tcp(t) => Ok(t.keepalive()),
            Entry::Dgram(_) => Err(EOPNOTSUPP),
            _ => Err(EBADF),
        }
    }

    /// `SO_ERROR`: the pending error, cleared.
    pub fn take_error(&mut self, id: SocketId) -> Result<Option<Errno>, Errno> {
        self.op(id, |b, _| {
            Ok(match b.sockets.tcp(id) {
                Ok(mut t) => {
                    t.sync();
                    t.t.take_error()
                }
                Err(_) => None,
            })
        })
    }

    /// (local, peer) addresses of a BSD socket.
    fn addrs(&self, id: SocketId) -> Result<(SocketAddrV4, Option<SocketAddrV4>), Errno> {
        match self.sockets.table().entry(id) {
            Entry::Tcp(t) => Ok(t.addrs()),
            Entry::Dgram(d) => Ok(d.addrs()),
            _ => Err(EBADF),
        }
    }

    /// `bind` for either family: `EINVAL` if already bound, then the address
    /// check, then the port.
    fn bind_local(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        let space = match self.sockets.table().entry(id) {
            Entry::Tcp(t) if t.is_unbound() => PortSpace::Tcp,
            Entry::Dgram(d) if d.is_unbound() => match d.proto {
                Proto::Udp => PortSpace::Udp,
                Proto::Icmp => PortSpace::Icmp,
            },
            Entry::Tcp(_) | Entry::Dgram(_) => return Err(EINVAL),
            _ => return Err(EBADF),
        };
        self.addr.check_local_ip(*addr.ip())?;
        let port = self.sockets.claim_port(space, addr.port())?;
        let local = SocketAddrV4::new(*addr.ip(), port);
        if space == PortSpace::Tcp {
            self.sockets.tcp(id)?.t.bind(local);
        } else {
            let (d, sockets) = self.sockets.dgram(id)?;
            d.bind(sockets, local);
        }
        Ok(())
    }

    /// Binds an ephemeral port if the socket has none.
    fn autobind(&mut self, id: SocketId) -> Result<(), Errno> {
        let unbound = match self.sockets.table().entry(id) {
            Entry::Tcp(t) => t.is_unbound(),
            Entry::Dgram(d) => d.is_unbound(),
            _ => return Err(EBADF),
        };
        if unbound {
            self.bind_local(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        Ok(())
    }

    /// The bound address of a stream socket, binding an ephemeral port first
    /// if there is none.
    fn tcp_autobind(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        self.autobind(id)?;
        self.sockets.tcp(id)?.t.bound_local().ok_or(EINVAL)
    }

    fn tcp_listen(&mut self, id: SocketId, backlog: usize) -> Result<(), Errno> {
        if !self.sockets.tcp(id)?.t.wants_listen()? {
            return Ok(());
        }
        let local = self.tcp_autobind(id)?;
        self.sockets.tcp(id)?.listen(local, backlog)
    }

    fn tcp_accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddrV4), Errno> {
        let full = self.sockets.table().is_full();
        let (tcp, peer) = self.sockets.tcp(id)?.accept(full)?;
        let entry = Entry::Tcp(tcp);
        let new = self.sockets.table_mut().insert(entry);
        Ok((new.expect("the table was not full"), peer))
    }

    fn tcp_connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Errno> {
        let mut t = self.sockets.tcp(id)?;
        t.sync();
        t.t.may_connect()?;
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(EINVAL);
        }
        self.addr.check_reachable(*remote.ip())?;
        let local = self.tcp_autobind(id)?;
        self.sockets.tcp(id)?.connect(self.cx, local, remote)
    }

    fn dgram_connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Errno> {
        self.sockets.dgram(id)?.0.check_peer(remote)?;
        self.autobind(id)?;
        self.sockets.dgram(id)?.0.connect(remote);
        Ok(())
    }

    /// Queues one datagram for `to`, or for the peer when `to` is `None`.
    fn dgram_sendto(
        &mut self,
        id: SocketId,
        buf: &[u8],
        to: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        let to = self.sockets.dgram(id)?.0.destination(to)?;
        self.addr.check_reachable(*to.ip())?;
        self.autobind(id)?;
        let max_payload = self.sockets.max_payload();
        let what = self.sockets.dgram(id)?.0.outgoing(buf, to, max_payload)?;
        self.sockets.send_datagram(&self.addr, what, buf)?;
        Ok(buf.len())
    }
}
