//! The MIT 6.1810 net lab's UDP interface, and the older lab's connected sockets.
//!
//! 2024 lab (syscalls 29-32): `bind(port)`, `unbind(port)`,
//! `send(sport, dst, dport, buf, len)`, `recv(dport, &src, &sport, buf, maxlen)`.
//! Addresses are IPv4 in host byte order, as in the lab's `user.h`. Each bound
//! port queues at most [`QUEUE_LEN`] datagrams in arrival order; newer ones
//! are dropped and counted (`QueueFull`), and datagrams to unbound ports are
//! dropped and counted (`NoSocket`).
//!
//! 2020-2023 lab: `connect(raddr, lport, rport)` returns a file whose `write`
//! sends one datagram to the remote and whose `read` returns the next datagram
//! from it.
//!
//! Nothing here blocks: an operation that cannot proceed returns
//! [`Error::WouldBlock`], and the kernel sleeps on the socket's channel until
//! a [`crate::PollResult`] names it, then retries. After a send the kernel
//! should `poll` so the datagram leaves at once.
//!
//! [`QUEUE_LEN`]: crate::QUEUE_LEN

use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use crate::Error;
use crate::device::NetDevice;
use crate::neighbor::Waiting;
use crate::socket::{Addressing, SocketId, Sockets};
use crate::stack::NetStack;
use crate::table::{Entry, LabState};

impl<D: NetDevice> NetStack<D> {
    /// Starts queueing datagrams that arrive for `port`.
    pub fn bind(&mut self, port: u16) -> Result<(), Error> {
        take_port(self.sockets_mut(), LabState::Bound { port, queued: 0 })?;
        Ok(())
    }

    /// Stops receiving on `port` and discards what it queued.
    pub fn unbind(&mut self, port: u16) -> Result<(), Error> {
        let sockets = self.sockets_mut();
        match sockets.table().lab_port(port) {
            Some((id, _, LabState::Bound { .. })) => {
                sockets.close(id, false);
                Ok(())
            }
            _ => Err(Error::NotBound),
        }
    }

    /// Takes the oldest datagram queued on bound `port`, copies at most
    /// `buf.len()` bytes of it into `buf` (the rest is discarded, as in the
    /// lab) and returns (source IPv4 in host order, source port, bytes copied).
    pub fn try_recv(&mut self, port: u16, buf: &mut [u8]) -> Result<(u32, u16, usize), Error> {
        let sockets = self.sockets_mut();
        let Some((id, handle, LabState::Bound { .. })) = sockets.table().lab_port(port) else {
            return Err(Error::NotBound);
        };
        let (src, src_port, len) = lab_recv(sockets, id, handle, buf)?;
        Ok((src.into(), src_port, len))
    }

    /// Queues one datagram from local port `sport` to `dst:dport` (host
    /// order). `sport` need not be bound: the lab sends from ports it never
    /// binds, and such a port gets a send-only socket that receives nothing.
    pub fn send(&mut self, sport: u16, dst: u32, dport: u16, payload: &[u8]) -> Result<(), Error> {
        let addr = self.addressing();
        let sockets = self.sockets_mut();
        let (id, handle) = match sockets.table().lab_port(sport) {
            Some((id, handle, _)) => (id, handle),
            None => {
                let id = take_port(sockets, LabState::SendOnly { port: sport })?;
                let Entry::Lab { handle, .. } = *sockets.table().entry(id) else {
                    unreachable!("take_port opens lab ports")
                };
                (id, handle)
            }
        };
        lab_send(
            sockets,
            &addr,
            id,
            handle,
            (Ipv4Address::from(dst), dport),
            payload,
        )
    }

    /// The socket using local UDP `port`, if any: the one a sleeper in `recv`
    /// or `send` on that port waits for.
    pub fn port_socket(&self, port: u16) -> Option<SocketId> {
        self.sockets().table().by_udp_port(port)
    }

    /// Opens a socket that exchanges datagrams with `raddr:rport` (host order)
    /// from local port `lport`.
    ///
    /// Fails with `AddrInUse` if `lport` is taken, which includes the lab's
    /// rule that the same (raddr, lport, rport) cannot be opened twice.
    /// (smoltcp delivers by local port alone, so two remotes cannot share one.)
    pub fn connect(&mut self, raddr: u32, lport: u16, rport: u16) -> Result<SocketId, Error> {
        let remote = (Ipv4Address::from(raddr), rport);
        if remote.0.is_unspecified() || rport == 0 {
            return Err(Error::Invalid);
        }
        let state = LabState::Connected {
            port: lport,
            remote,
            queued: 0,
        };
        take_port(self.sockets_mut(), state)
    }

    /// Sends `payload` as one datagram on a connected socket.
    pub fn try_write(&mut self, id: SocketId, payload: &[u8]) -> Result<usize, Error> {
        let addr = self.addressing();
        let sockets = self.sockets_mut();
        let Entry::Lab {
            handle,
            state: LabState::Connected { remote, .. },
        } = *sockets.table().entry(id)
        else {
            return Err(Error::BadSocket);
        };
        lab_send(sockets, &addr, id, handle, remote, payload)?;
        Ok(payload.len())
    }

    /// Takes the next datagram of a connected socket into `buf`, truncated.
    pub fn try_read(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Error> {
        let sockets = self.sockets_mut();
        let Entry::Lab {
            handle,
            state: LabState::Connected { .. },
        } = *sockets.table().entry(id)
        else {
            return Err(Error::BadSocket);
        };
        let (_, _, len) = lab_recv(sockets, id, handle, buf)?;
        Ok(len)
    }

    /// Closes any open socket, of any kind. A lab port's queued datagrams are
    /// discarded; a TCP connection is closed gracefully (see [`crate::bsd`]).
    pub fn close(&mut self, id: SocketId) -> Result<(), Error> {
        if self.sockets_mut().close(id, false) {
            Ok(())
        } else {
            Err(Error::BadSocket)
        }
    }
}

/// Claims the local port of `state`. A send-only port becomes the new kind
/// (keeping the datagrams it still has to send); any other owner, lab or
/// BSD, means the port is taken.
fn take_port(sockets: &mut Sockets, state: LabState) -> Result<SocketId, Error> {
    let port = state.port();
    if port == 0 {
        return Err(Error::Invalid);
    }
    let table = sockets.table_mut();
    match table.by_udp_port(port) {
        Some(id) => match table.entry_mut(id) {
            Some(Entry::Lab {
                state: old @ LabState::SendOnly { .. },
                ..
            }) => {
                *old = state;
                Ok(id)
            }
            _ => Err(Error::AddrInUse),
        },
        None => open_lab(sockets, state),
    }
}

/// Opens a lab port on a free slot. When the table is full, a send-only
/// port whose datagrams have all left gives up its slot: those are only a
/// cache of source ports.
fn open_lab(sockets: &mut Sockets, state: LabState) -> Result<SocketId, Error> {
    let table = sockets.table();
    if table.is_full() {
        let idle = table.open_ids().find(|&id| match *table.entry(id) {
            Entry::Lab {
                handle,
                state: LabState::SendOnly { .. },
            } => sockets.set().get::<udp::Socket>(handle).send_queue() == 0,
            _ => false,
        });
        sockets.close(idle.ok_or(Error::NoSpace)?, false);
    }
    let handle = sockets.take_udp();
    // The port is not 0 and the socket comes unbound: this cannot fail.
    let _ = sockets.udp(handle).bind(state.port());
    let id = sockets.table_mut().insert(Entry::Lab { handle, state });
    Ok(id.expect("a slot was free"))
}

/// Queues one datagram on lab socket `id` for `to`.
fn lab_send(
    sockets: &mut Sockets,
    addr: &Addressing,
    id: SocketId,
    handle: SocketHandle,
    to: (Ipv4Address, u16),
    payload: &[u8],
) -> Result<(), Error> {
    if payload.len() > sockets.max_payload() {
        return Err(Error::TooBig);
    }
    let to = IpEndpoint::new(IpAddress::Ipv4(to.0), to.1);
    let what = Waiting::Udp { handle, to };
    let sent = sockets
        .send_datagram(addr, what, payload)
        .map_err(|e| match e {
            abi::errno::EAGAIN => Error::WouldBlock,
            _ => Error::Invalid,
        });
    if sent == Err(Error::WouldBlock) {
        sockets.observe(id);
    }
    sent
}

/// Takes the oldest datagram of lab socket `id`: (source, source port, bytes copied).
fn lab_recv(
    sockets: &mut Sockets,
    id: SocketId,
    handle: SocketHandle,
    buf: &mut [u8],
) -> Result<(Ipv4Address, u16, usize), Error> {
    let Ok((payload, meta)) = sockets.udp(handle).recv() else {
        sockets.observe(id);
        return Err(Error::WouldBlock);
    };
    let len = payload.len().min(buf.len());
    buf[..len].copy_from_slice(&payload[..len]);
    let IpAddress::Ipv4(src) = meta.endpoint.addr;
    let src_port = meta.endpoint.port;
    sockets.table_mut().dequeued(id);
    Ok((src, src_port, len))
}
