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

use alloc::vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, udp};
use smoltcp::storage::{PacketBuffer, PacketMetadata};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

use crate::bsd::{PortSpace, Readiness};
use crate::socket::{Entry, QUEUE_LEN, SocketId, SocketTable};
use crate::stack::Core;

/// Which protocol a datagram socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Udp,
    Icmp,
}

/// Where a datagram socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DgramState {
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

/// Echo replies waiting for `recvfrom`, with their sources.
pub(crate) type Inbox = PacketBuffer<'static, Ipv4Address>;

pub(crate) struct Dgram {
    pub proto: Proto,
    pub handle: SocketHandle,
    pub state: DgramState,
    /// Admitted datagrams not yet taken (see `SocketTable::admit_udp`).
    pub queued: usize,
    /// ICMP only: the messages kept from smoltcp's socket.
    pub inbox: Option<Inbox>,
    pub shut_rd: bool,
    pub shut_wr: bool,
}

impl Dgram {
    /// The local port (ICMP: identifier), once bound.
    pub(crate) fn port(&self) -> Option<u16> {
        match self.state {
            DgramState::Init => None,
            DgramState::Bound { local } | DgramState::Connected { local, .. } => Some(local.port()),
        }
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

    fn space(&self) -> PortSpace {
        match self.proto {
            Proto::Udp => PortSpace::Udp,
            Proto::Icmp => PortSpace::Icmp,
        }
    }
}

/// Where a datagram socket's operation found it.
fn dgram_mut(table: &mut SocketTable, id: SocketId) -> Result<&mut Dgram, Errno> {
    match table.entry_mut(id) {
        Some(Entry::Dgram(d)) => Ok(d),
        _ => Err(EBADF),
    }
}

impl Core {
    /// A new datagram socket of `proto`, unbound.
    pub(crate) fn dgram_open(&mut self, proto: Proto) -> Result<SocketId, Errno> {
        if self.table.is_full() {
            return Err(ENFILE);
        }
        let (handle, inbox) = match proto {
            Proto::Udp => (self.table.take_udp(&mut self.sockets), None),
            Proto::Icmp => {
                let len = self.table.max_payload() + 8;
                let inbox = Inbox::new(
                    vec![PacketMetadata::EMPTY; QUEUE_LEN + 1],
                    vec![0; (QUEUE_LEN + 1) * len],
                );
                (self.sockets.add(self.table.new_icmp_socket()), Some(inbox))
            }
        };
        let entry = Entry::Dgram(Dgram {
            proto,
            handle,
            state: DgramState::Init,
            queued: 0,
            inbox,
            shut_rd: false,
            shut_wr: false,
        });
        Ok(self.table.insert(entry).expect("a slot was free"))
    }

    /// Frees what a closed datagram socket held: a UDP socket is kept for reuse.
    pub(crate) fn dgram_release(&mut self, d: Dgram) {
        match d.proto {
            Proto::Udp => self.table.put_udp(&mut self.sockets, d.handle),
            Proto::Icmp => {
                self.sockets.remove(d.handle);
            }
        }
    }

    pub(crate) fn dgram_bind(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        let d = dgram_mut(&mut self.table, id)?;
        if d.state != DgramState::Init {
            return Err(EINVAL);
        }
        let space = d.space();
        self.check_local_ip(*addr.ip())?;
        let port = match addr.port() {
            0 => self.ephemeral_port(space)?,
            port if self.port_in_use(space, port) => return Err(EADDRINUSE),
            port => port,
        };
        let d = dgram_mut(&mut self.table, id)?;
        let handle = d.handle;
        let bound = match d.proto {
            Proto::Udp => self
                .sockets
                .get_mut::<udp::Socket>(handle)
                .bind(port)
                .is_ok(),
            Proto::Icmp => self
                .sockets
                .get_mut::<icmp::Socket>(handle)
                .bind(icmp::Endpoint::Ident(port))
                .is_ok(),
        };
        // The socket is unbound and the port is not 0.
        debug_assert!(bound);
        let d = dgram_mut(&mut self.table, id)?;
        d.state = DgramState::Bound {
            local: SocketAddrV4::new(*addr.ip(), port),
        };
        Ok(())
    }

    /// Binds an ephemeral port if the socket has none.
    fn dgram_autobind(&mut self, id: SocketId) -> Result<(), Errno> {
        if dgram_mut(&mut self.table, id)?.state == DgramState::Init {
            self.dgram_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        Ok(())
    }

    pub(crate) fn dgram_connect(
        &mut self,
        id: SocketId,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        let proto = dgram_mut(&mut self.table, id)?.proto;
        if remote.ip().is_unspecified() || (proto == Proto::Udp && remote.port() == 0) {
            return Err(EINVAL);
        }
        self.dgram_autobind(id)?;
        let d = dgram_mut(&mut self.table, id)?;
        let local = d.local().expect("bound above");
        d.state = DgramState::Connected { local, remote };
        Ok(())
    }

    /// Queues one datagram for `to`, or for the peer when `to` is `None`.
    pub(crate) fn dgram_sendto(
        &mut self,
        id: SocketId,
        buf: &[u8],
        to: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        let d = dgram_mut(&mut self.table, id)?;
        if d.shut_wr {
            return Err(EPIPE);
        }
        let to = to.or(d.remote()).ok_or(EDESTADDRREQ)?;
        let proto = d.proto;
        if to.ip().is_unspecified() || (proto == Proto::Udp && to.port() == 0) {
            return Err(EINVAL);
        }
        self.check_reachable(*to.ip())?;
        self.dgram_autobind(id)?;
        let d = dgram_mut(&mut self.table, id)?;
        let (handle, port) = (d.handle, d.port().expect("bound above"));
        let dst = IpAddress::Ipv4(*to.ip());
        match proto {
            Proto::Udp => {
                if buf.len() > self.table.max_payload() {
                    return Err(EMSGSIZE);
                }
                let socket = self.sockets.get_mut::<udp::Socket>(handle);
                socket
                    .send_slice(buf, IpEndpoint::new(dst, to.port()))
                    .map_err(|e| match e {
                        udp::SendError::BufferFull => EAGAIN,
                        udp::SendError::Unaddressable => EINVAL,
                    })?;
            }
            Proto::Icmp => {
                let caps = ChecksumCapabilities::ignored();
                let echo = Icmpv4Packet::new_checked(buf).map_err(|_| EINVAL)?;
                let Ok(Icmpv4Repr::EchoRequest { .. }) = Icmpv4Repr::parse(&echo, &caps) else {
                    return Err(EINVAL);
                };
                if buf.len() > self.table.max_payload() + 8 {
                    return Err(EMSGSIZE);
                }
                let socket = self.sockets.get_mut::<icmp::Socket>(handle);
                let out = socket.send(buf.len(), dst).map_err(|e| match e {
                    icmp::SendError::BufferFull => EAGAIN,
                    icmp::SendError::Unaddressable => EINVAL,
                })?;
                out.copy_from_slice(buf);
                // smoltcp re-emits the message from its parsed form, checksum included.
                Icmpv4Packet::new_unchecked(out).set_echo_ident(port);
            }
        }
        Ok(buf.len())
    }

    /// Takes the next datagram: (bytes copied, truncated to `buf`, and its source).
    pub(crate) fn dgram_recvfrom(
        &mut self,
        id: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let d = dgram_mut(&mut self.table, id)?;
        if d.shut_rd {
            return Ok((0, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        }
        let got = match &mut d.inbox {
            Some(inbox) => inbox.dequeue().ok().map(|(src, msg)| {
                let len = msg.len().min(buf.len());
                buf[..len].copy_from_slice(&msg[..len]);
                // Linux reports port 0 for the source of an echo reply.
                (len, SocketAddrV4::new(src, 0))
            }),
            None => {
                let socket = self.sockets.get_mut::<udp::Socket>(d.handle);
                socket.recv().ok().map(|(payload, meta)| {
                    let len = payload.len().min(buf.len());
                    buf[..len].copy_from_slice(&payload[..len]);
                    let IpAddress::Ipv4(src) = meta.endpoint.addr;
                    (len, SocketAddrV4::new(src, meta.endpoint.port))
                })
            }
        };
        let got = got.ok_or(EAGAIN)?;
        self.table.dequeued(id);
        Ok(got)
    }

    /// Moves what smoltcp just stored on ICMP socket `id` into its inbox,
    /// keeping only echo replies from the peer (if connected).
    pub(crate) fn icmp_collect(&mut self, id: SocketId) {
        let Some(Entry::Dgram(d)) = self.table.entry_mut(id) else {
            return;
        };
        let peer = d.remote();
        let Some(inbox) = &mut d.inbox else {
            return;
        };
        let socket = self.sockets.get_mut::<icmp::Socket>(d.handle);
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
            match inbox.enqueue(msg.len(), src) {
                Ok(slot) => slot.copy_from_slice(msg),
                Err(_) => dropped += 1,
            }
        }
        for _ in 0..dropped {
            self.table.dequeued(id);
        }
    }

    pub(crate) fn dgram_shutdown(
        &mut self,
        id: SocketId,
        read: bool,
        write: bool,
    ) -> Result<(), Errno> {
        let d = dgram_mut(&mut self.table, id)?;
        if d.remote().is_none() {
            return Err(ENOTCONN);
        }
        d.shut_rd |= read;
        d.shut_wr |= write;
        Ok(())
    }

    pub(crate) fn dgram_readiness(&self, d: &Dgram) -> Readiness {
        let (can_recv, can_send) = match d.proto {
            Proto::Udp => {
                let s = self.sockets.get::<udp::Socket>(d.handle);
                (s.can_recv(), s.can_send())
            }
            Proto::Icmp => {
                let s = self.sockets.get::<icmp::Socket>(d.handle);
                let inbox = d.inbox.as_ref().is_some_and(|i| !i.is_empty());
                (inbox, s.can_send())
            }
        };
        Readiness {
            readable: can_recv || d.shut_rd,
            writable: can_send || d.shut_wr,
            hup: d.shut_rd && d.shut_wr,
            error: false,
        }
    }

    pub(crate) fn dgram_addrs(d: &Dgram) -> (SocketAddrV4, Option<SocketAddrV4>) {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        (d.local().unwrap_or(any), d.remote())
    }
}
