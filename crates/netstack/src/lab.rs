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

use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use crate::Error;
use crate::device::NetDevice;
use crate::socket::{SocketId, State};
use crate::stack::{Core, NetStack};

impl<D: NetDevice> NetStack<D> {
    /// Starts queueing datagrams that arrive for `port`.
    pub fn bind(&mut self, port: u16) -> Result<(), Error> {
        self.core.take_port(State::Bound { port, queued: 0 })?;
        Ok(())
    }

    /// Stops receiving on `port` and discards what it queued.
    pub fn unbind(&mut self, port: u16) -> Result<(), Error> {
        let core = &mut self.core;
        match core.table.by_port(port) {
            Some(id) if matches!(core.table.state(id), State::Bound { .. }) => {
                core.table.close(&mut core.sockets, id);
                Ok(())
            }
            _ => Err(Error::NotBound),
        }
    }

    /// Takes the oldest datagram queued on bound `port`, copies at most
    /// `buf.len()` bytes of it into `buf` (the rest is discarded, as in the
    /// lab) and returns (source IPv4 in host order, source port, bytes copied).
    pub fn try_recv(&mut self, port: u16, buf: &mut [u8]) -> Result<(u32, u16, usize), Error> {
        let core = &mut self.core;
        let id = core.table.by_port(port).ok_or(Error::NotBound)?;
        if !matches!(core.table.state(id), State::Bound { .. }) {
            return Err(Error::NotBound);
        }
        let (src, src_port, len) = core.recv(id, buf)?;
        Ok((src.into(), src_port, len))
    }

    /// Queues one datagram from local port `sport` to `dst:dport` (host
    /// order). `sport` need not be bound: the lab sends from ports it never
    /// binds, and such a port gets a send-only socket that receives nothing.
    pub fn send(&mut self, sport: u16, dst: u32, dport: u16, payload: &[u8]) -> Result<(), Error> {
        let core = &mut self.core;
        let id = match core.table.by_port(sport) {
            Some(id) => id,
            None => core.take_port(State::SendOnly { port: sport })?,
        };
        core.send_to(id, (Ipv4Address::from(dst), dport), payload)
    }

    /// The socket using local `port`, if any: the one a sleeper in `recv` or
    /// `send` on that port waits for.
    pub fn port_socket(&self, port: u16) -> Option<SocketId> {
        self.core.table.by_port(port)
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
        self.core.take_port(State::Connected {
            port: lport,
            remote,
            queued: 0,
        })
    }

    /// Sends `payload` as one datagram on a connected socket.
    pub fn try_write(&mut self, id: SocketId, payload: &[u8]) -> Result<usize, Error> {
        let core = &mut self.core;
        let State::Connected { remote, .. } = core.table.state(id) else {
            return Err(Error::BadSocket);
        };
        core.send_to(id, remote, payload)?;
        Ok(payload.len())
    }

    /// Takes the next datagram of a connected socket into `buf`, truncated.
    pub fn try_read(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Error> {
        let core = &mut self.core;
        if !matches!(core.table.state(id), State::Connected { .. }) {
            return Err(Error::BadSocket);
        }
        let (_, _, len) = core.recv(id, buf)?;
        Ok(len)
    }

    /// Closes any open socket; what it queued is discarded.
    pub fn close(&mut self, id: SocketId) -> Result<(), Error> {
        let core = &mut self.core;
        if core.table.state(id) == State::Free {
            return Err(Error::BadSocket);
        }
        core.table.close(&mut core.sockets, id);
        Ok(())
    }
}

impl Core {
    /// Claims the local port of `state`. A send-only socket on that port
    /// becomes the new kind (keeping the datagrams it still has to send);
    /// any other owner means the port is taken.
    pub(crate) fn take_port(&mut self, state: State) -> Result<SocketId, Error> {
        let port = state.port().ok_or(Error::Invalid)?;
        match self.table.by_port(port) {
            Some(id) if matches!(self.table.state(id), State::SendOnly { .. }) => {
                self.table.set_state(id, state);
                Ok(id)
            }
            Some(_) => Err(Error::AddrInUse),
            None => self.table.open(&mut self.sockets, state),
        }
    }

    /// Queues one datagram on socket `id` for `to`.
    pub(crate) fn send_to(
        &mut self,
        id: SocketId,
        to: (Ipv4Address, u16),
        payload: &[u8],
    ) -> Result<(), Error> {
        if payload.len() > self.table.max_payload() {
            return Err(Error::TooBig);
        }
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(to.0), to.1);
        let socket = self.sockets.get_mut::<udp::Socket>(self.table.handle(id));
        socket.send_slice(payload, endpoint).map_err(|e| match e {
            udp::SendError::BufferFull => Error::WouldBlock,
            udp::SendError::Unaddressable => Error::Invalid,
        })
    }

    /// Takes the oldest datagram of socket `id`: (source, source port, bytes copied).
    pub(crate) fn recv(
        &mut self,
        id: SocketId,
        buf: &mut [u8],
    ) -> Result<(Ipv4Address, u16, usize), Error> {
        let socket = self.sockets.get_mut::<udp::Socket>(self.table.handle(id));
        let (payload, meta) = socket.recv().map_err(|_| Error::WouldBlock)?;
        let len = payload.len().min(buf.len());
        buf[..len].copy_from_slice(&payload[..len]);
        self.table.dequeued(id);
        let IpAddress::Ipv4(src) = meta.endpoint.addr;
        Ok((src, meta.endpoint.port, len))
    }
}
