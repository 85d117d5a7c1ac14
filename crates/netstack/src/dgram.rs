//! BSD datagram sockets: UDP, and ICMP echo ("ping") sockets as on Linux.
//!
//! Both kinds are a local port (for ICMP, the echo identifier) and an optional
//! default peer, over one smoltcp socket:
//!
//! ```text
//!   Init --bind/connect/sendto--> Bound --connect--> Connected
//! ```
//!
//! `sendto` from `Init` binds an ephemeral port first, as on Linux. A connected
//! socket receives only from its peer.
//!
//! An ICMP echo socket sends what the program wrote, an echo request (type 8),
//! with the identifier replaced by the socket's, and receives echo replies with
//! that identifier, ICMP header first. smoltcp also hands such a socket echo
//! *requests* bearing its identifier (it answers them itself as well), and has no
//! way to look at a queued message without taking it. So each message is moved
//! into the socket's own `inbox` right after smoltcp stores it, and only replies
//! from the right peer are kept: what `readiness` says is readable can be read.
//!
//! A UDP socket whose `SO_RCVBUF` was set keeps an inbox too, of the size asked
//! for, allocated once by `setsockopt`: its datagrams move there the same way, so
//! the smoltcp socket (shared with the spare pool, sized for 16) never fills.
//!
//! This file knows one socket at a time and smoltcp's socket set; opening,
//! choosing ports and checking addresses are the socket layer's (`socket.rs`,
//! `bsd.rs`).

use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use abi::socket::{RCVBUF_MAX, RCVBUF_MIN};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, udp};
use smoltcp::storage::{PacketBuffer, PacketMetadata};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

use crate::neighbor::Waiting;
use crate::readiness::Readiness;
use crate::table::QUEUE_LEN;

/// Queues one checked datagram (see [`Dgram::outgoing`]) in its smoltcp socket:
/// `EAGAIN` when the socket's queue is full.
pub(crate) fn enqueue(
    sockets: &mut SocketSet<'static>,
    what: Waiting,
    bytes: &[u8],
) -> Result<(), Errno> {
    match what {
        Waiting::Udp { handle, to } => {
            let socket = sockets.get_mut::<udp::Socket>(handle);
            socket.send_slice(bytes, to).map_err(|e| match e {
                udp::SendError::BufferFull => EAGAIN,
                udp::SendError::Unaddressable => EINVAL,
            })
        }
        Waiting::Echo { handle, to, ident } => {
            let socket = sockets.get_mut::<icmp::Socket>(handle);
            let out = socket
                .send(bytes.len(), IpAddress::Ipv4(to))
                .map_err(|e| match e {
                    icmp::SendError::BufferFull => EAGAIN,
                    icmp::SendError::Unaddressable => EINVAL,
                })?;
            out.copy_from_slice(bytes);
            // smoltcp re-emits the message from its parsed form, checksum included.
            Icmpv4Packet::new_unchecked(out).set_echo_ident(ident);
            Ok(())
        }
        Waiting::Frame => Err(EINVAL),
    }
}

/// Which protocol a datagram socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Udp,
    Icmp,
}

/// Where a datagram socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DgramState {
    /// Opened, no port yet.
    Init,
    /// Has a local port (or identifier); the address may be 0.0.0.0 (any).
    Bound { local: SocketAddrV4 },
    /// Has a default peer, and receives only from it.
    Connected {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
}

/// Datagrams waiting for `recvfrom`, with their sources (an echo reply's port is 0).
pub(crate) type Inbox = PacketBuffer<'static, SocketAddrV4>;

/// An inbox for `n` messages of at most `len` bytes, or `ENOMEM`. One more of each,
/// because the ring may pad when it wraps.
pub(crate) fn new_inbox(n: usize, len: usize) -> Result<Inbox, Errno> {
    let mut meta = alloc::vec::Vec::new();
    meta.try_reserve_exact(n + 1).map_err(|_| ENOMEM)?;
    meta.resize(n + 1, PacketMetadata::EMPTY);
    let mut payload = alloc::vec::Vec::new();
    payload
        .try_reserve_exact((n + 1) * len)
        .map_err(|_| ENOMEM)?;
    payload.resize((n + 1) * len, 0);
    Ok(Inbox::new(meta, payload))
}

/// A datagram socket's entry in the socket table.
pub(crate) struct Dgram {
    pub proto: Proto,
    pub handle: SocketHandle,
    state: DgramState,
    /// Admitted datagrams not yet taken (see `SocketTable::admit_udp`).
    pub queued: usize,
    /// How many may be queued: [`QUEUE_LEN`], or what `SO_RCVBUF` makes room for.
    pub capacity: usize,
    /// `SO_RCVBUF` as set (bytes, clamped); `None`: never set.
    rcvbuf: Option<usize>,
    /// The messages kept from smoltcp's socket: always for ICMP, after `SO_RCVBUF`
    /// for UDP.
    inbox: Option<Inbox>,
    shut_rd: bool,
    shut_wr: bool,
}

impl Dgram {
    /// A new socket over smoltcp socket `handle` (an ICMP one with its `inbox`), unbound.
    pub(crate) fn new(proto: Proto, handle: SocketHandle, inbox: Option<Inbox>) -> Dgram {
        Dgram {
            proto,
            handle,
            state: DgramState::Init,
            queued: 0,
            capacity: QUEUE_LEN,
            rcvbuf: None,
            inbox,
            shut_rd: false,
            shut_wr: false,
        }
    }

    /// The local port (ICMP: identifier), once bound.
    pub(crate) fn port(&self) -> Option<u16> {
        self.local().map(|local| local.port())
    }

    fn local(&self) -> Option<SocketAddrV4> {
        match self.state {
            DgramState::Init => None,
            DgramState::Bound { local } | DgramState::Connected { local, .. } => Some(local),
        }
    }

    fn remote(&self) -> Option<SocketAddrV4> {
        match self.state {
            DgramState::Connected { remote, .. } => Some(remote),
            _ => None,
        }
    }

    /// Whether it has no port yet.
    pub(crate) fn is_unbound(&self) -> bool {
        self.state == DgramState::Init
    }

    /// Whether a UDP datagram from `src:src_port` to `dst:dst_port` is for this socket.
    pub(crate) fn receives(
        &self,
        src: Ipv4Address,
        src_port: u16,
        dst: Ipv4Address,
        dst_port: u16,
    ) -> bool {
        let Some(local) = self.local() else {
            return false;
        };
        let to_us = local.port() == dst_port && (local.ip().is_unspecified() || *local.ip() == dst);
        let from_peer = self
            .remote()
            .is_none_or(|r| *r.ip() == src && r.port() == src_port);
        to_us && from_peer
    }

    /// Gives an unbound socket its (checked, free) local address.
    pub(crate) fn bind(&mut self, sockets: &mut SocketSet<'static>, local: SocketAddrV4) {
        debug_assert!(self.is_unbound());
        let port = local.port();
        let bound = match self.proto {
            Proto::Udp => sockets
                .get_mut::<udp::Socket>(self.handle)
                .bind(port)
                .is_ok(),
            Proto::Icmp => sockets
                .get_mut::<icmp::Socket>(self.handle)
                .bind(icmp::Endpoint::Ident(port))
                .is_ok(),
        };
        // The socket is unbound and the port is not 0.
        debug_assert!(bound);
        self.state = DgramState::Bound { local };
    }

    /// Whether `remote` can be a peer or destination (UDP needs a port).
    pub(crate) fn check_peer(&self, remote: SocketAddrV4) -> Result<(), Errno> {
        if remote.ip().is_unspecified() || (self.proto == Proto::Udp && remote.port() == 0) {
            Err(EINVAL)
        } else {
            Ok(())
        }
    }

    /// Sets the default peer of a bound socket.
    pub(crate) fn connect(&mut self, remote: SocketAddrV4) {
        let local = self.local().expect("bound before connecting");
        self.state = DgramState::Connected { local, remote };
    }

    /// Where a send goes: `to`, or the peer when `to` is `None`. `EPIPE`
    /// after `shutdown(Write)`, `EDESTADDRREQ` with neither.
    pub(crate) fn destination(&self, to: Option<SocketAddrV4>) -> Result<SocketAddrV4, Errno> {
        if self.shut_wr {
            return Err(EPIPE);
        }
        let to = to.or(self.remote()).ok_or(EDESTADDRREQ)?;
        self.check_peer(to)?;
        Ok(to)
    }

    /// Checks one datagram (at most `max_payload` bytes of UDP payload) for `to`, from a
    /// bound socket, and says where it goes; `Sockets::send_datagram` sends it.
    pub(crate) fn outgoing(
        &self,
        buf: &[u8],
        to: SocketAddrV4,
        max_payload: usize,
    ) -> Result<Waiting, Errno> {
        let port = self.port().expect("bound before sending");
        match self.proto {
            Proto::Udp => {
                if buf.len() > max_payload {
                    return Err(EMSGSIZE);
                }
                let to = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
                Ok(Waiting::Udp {
                    handle: self.handle,
                    to,
                })
            }
            Proto::Icmp => {
                let caps = ChecksumCapabilities::ignored();
                let echo = Icmpv4Packet::new_checked(buf).map_err(|_| EINVAL)?;
                let Ok(Icmpv4Repr::EchoRequest { .. }) = Icmpv4Repr::parse(&echo, &caps) else {
                    return Err(EINVAL);
                };
                if buf.len() > max_payload + 8 {
                    return Err(EMSGSIZE);
                }
                Ok(Waiting::Echo {
                    handle: self.handle,
                    to: *to.ip(),
                    ident: port,
                })
            }
        }
    }

    /// Takes the next datagram: (bytes copied, truncated to `buf`, and its source).
    pub(crate) fn recv(
        &mut self,
        sockets: &mut SocketSet<'static>,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        self.recv_with(sockets, |payload, src| {
            let len = payload.len().min(buf.len());
            buf[..len].copy_from_slice(&payload[..len]);
            (len, src)
        })
    }

    /// Takes up to `max` datagrams at once, oldest first, handing each (whole) to
    /// `each` with its source; how many. `EAGAIN` if none is queued. After
    /// `shutdown(Read)`, one empty datagram, as `recv` gives.
    pub(crate) fn recv_batch(
        &mut self,
        sockets: &mut SocketSet<'static>,
        max: usize,
        mut each: impl FnMut(&[u8], SocketAddrV4),
    ) -> Result<usize, Errno> {
        let mut taken = 0;
        while taken < max {
            match self.recv_with(sockets, &mut each) {
                Ok(()) => taken += 1,
                Err(e) if taken == 0 => return Err(e),
                Err(_) => break,
            }
            if self.shut_rd {
                break;
            }
        }
        Ok(taken)
    }

    /// Takes the next datagram, handing it to `f` with its source.
    fn recv_with<R>(
        &mut self,
        sockets: &mut SocketSet<'static>,
        f: impl FnOnce(&[u8], SocketAddrV4) -> R,
    ) -> Result<R, Errno> {
        if self.shut_rd {
            return Ok(f(&[], SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        }
        self.take(sockets, f)
    }

    /// Dequeues the next datagram (whatever `shutdown` said), handing it to `f`.
    fn take<R>(
        &mut self,
        sockets: &mut SocketSet<'static>,
        f: impl FnOnce(&[u8], SocketAddrV4) -> R,
    ) -> Result<R, Errno> {
        let got = match &mut self.inbox {
            Some(inbox) => inbox.dequeue().ok().map(|(src, msg)| f(msg, src)),
            None => {
                let socket = sockets.get_mut::<udp::Socket>(self.handle);
                socket.recv().ok().map(|(payload, meta)| {
                    let IpAddress::Ipv4(src) = meta.endpoint.addr;
                    f(payload, SocketAddrV4::new(src, meta.endpoint.port))
                })
            }
        };
        let got = got.ok_or(EAGAIN)?;
        self.queued -= 1;
        Ok(got)
    }

    /// Moves what smoltcp just stored into the inbox, if the socket has one: for
    /// ICMP, keeping only echo replies from the peer (if connected).
    pub(crate) fn collect(&mut self, sockets: &mut SocketSet<'static>) {
        match self.proto {
            Proto::Icmp => self.icmp_collect(sockets),
            Proto::Udp => {
                let Some(inbox) = &mut self.inbox else {
                    return;
                };
                let socket = sockets.get_mut::<udp::Socket>(self.handle);
                let mut dropped = 0;
                while let Ok((payload, meta)) = socket.recv() {
                    let IpAddress::Ipv4(src) = meta.endpoint.addr;
                    // Admission reserved room for it.
                    match inbox.enqueue(payload.len(), SocketAddrV4::new(src, meta.endpoint.port)) {
                        Ok(slot) => slot.copy_from_slice(payload),
                        Err(_) => dropped += 1,
                    }
                }
                self.queued -= dropped;
            }
        }
    }

    fn icmp_collect(&mut self, sockets: &mut SocketSet<'static>) {
        let peer = self.remote();
        let Some(inbox) = &mut self.inbox else {
            return;
        };
        let socket = sockets.get_mut::<icmp::Socket>(self.handle);
        let mut dropped = 0;
        while let Ok((msg, IpAddress::Ipv4(src))) = socket.recv() {
            let reply = Icmpv4Packet::new_checked(msg).is_ok_and(|p| {
                matches!(
                    Icmpv4Repr::parse(&p, &ChecksumCapabilities::ignored()),
                    Ok(Icmpv4Repr::EchoReply { .. })
                )
            });
            if !reply {
                // A request: admission reserved nothing for it.
                continue;
            }
            if peer.is_some_and(|p| *p.ip() != src) {
                dropped += 1;
                continue;
            }
            // Admission reserved room for every reply.
            match inbox.enqueue(msg.len(), SocketAddrV4::new(src, 0)) {
                Ok(slot) => slot.copy_from_slice(msg),
                Err(_) => dropped += 1,
            }
        }
        self.queued -= dropped;
    }

    /// `SO_RCVBUF`: the value in force.
    pub(crate) fn rcvbuf(&self, max_payload: usize) -> usize {
        self.rcvbuf.unwrap_or(QUEUE_LEN * max_payload)
    }

    /// Bytes of inbox that `SO_RCVBUF` allocated (what the stack-wide bound counts).
    pub(crate) fn rcvbuf_allocated(&self) -> usize {
        match (&self.inbox, self.rcvbuf) {
            (Some(inbox), Some(_)) => inbox.payload_capacity(),
            _ => 0,
        }
    }

    /// Sets `SO_RCVBUF` on a UDP socket: `bytes` clamped to
    /// `RCVBUF_MIN..=RCVBUF_MAX`, each datagram counted as `max_payload` bytes. A
    /// new inbox, allocated here once, takes over what is queued (all of it, even
    /// above a lowered capacity). `budget`: the most bytes of inbox this socket may
    /// allocate (`ENOBUFS` beyond).
    pub(crate) fn set_rcvbuf(
        &mut self,
        sockets: &mut SocketSet<'static>,
        bytes: usize,
        max_payload: usize,
        budget: usize,
    ) -> Result<(), Errno> {
        if self.proto != Proto::Udp {
            return Err(EOPNOTSUPP);
        }
        let bytes = bytes.clamp(RCVBUF_MIN, RCVBUF_MAX);
        let capacity = (bytes / max_payload).max(1);
        let slots = capacity.max(self.queued);
        if (slots + 1) * max_payload > budget {
            return Err(ENOBUFS);
        }
        let mut inbox = new_inbox(slots, max_payload)?;
        self.collect(sockets);
        let mut moved = 0;
        while let Ok(()) = self.take(sockets, |msg, src| {
            // A slot for each: `slots` is at least what was queued.
            if let Ok(slot) = inbox.enqueue(msg.len(), src) {
                slot.copy_from_slice(msg);
            }
        }) {
            moved += 1;
        }
        self.queued = moved;
        self.inbox = Some(inbox);
        self.capacity = capacity;
        self.rcvbuf = Some(bytes);
        Ok(())
    }

    pub(crate) fn shutdown(&mut self, read: bool, write: bool) -> Result<(), Errno> {
        if self.remote().is_none() {
            return Err(ENOTCONN);
        }
        self.shut_rd |= read;
        self.shut_wr |= write;
        Ok(())
    }

    /// Whether a datagram waits: in the inbox if there is one, else in smoltcp's
    /// receive buffer.
    pub(crate) fn can_recv(&self, sockets: &SocketSet<'static>) -> bool {
        match &self.inbox {
            Some(inbox) => !inbox.is_empty(),
            None => sockets.get::<udp::Socket>(self.handle).can_recv(),
        }
    }

    pub(crate) fn readiness(&self, sockets: &SocketSet<'static>) -> Readiness {
        let can_send = match self.proto {
            Proto::Udp => sockets.get::<udp::Socket>(self.handle).can_send(),
            Proto::Icmp => sockets.get::<icmp::Socket>(self.handle).can_send(),
        };
        Readiness {
            readable: self.can_recv(sockets) || self.shut_rd,
            writable: can_send || self.shut_wr,
            hup: self.shut_rd && self.shut_wr,
            error: false,
        }
    }

    /// (local address, peer address if connected).
    pub(crate) fn addrs(&self) -> (SocketAddrV4, Option<SocketAddrV4>) {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        (self.local().unwrap_or(any), self.remote())
    }
}
