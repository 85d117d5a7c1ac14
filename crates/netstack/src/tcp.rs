//! BSD TCP sockets: a state machine of our own over smoltcp's TCP sockets.
//!
//! ```text
//!   Init --bind--> Bound --listen--> Listening --try_accept--> (a new Connected socket)
//!     \              |
//!      `--connect----+--> Connecting --SYN|ACK--> Connected --end of the connection--> Closed
//!                              |
//!                              `--RST or timeout--> Bound, with ECONNREFUSED or ETIMEDOUT pending
//! ```
//!
//! - `listen(backlog)` keeps `backlog` smoltcp sockets listening on the port;
//!   smoltcp hands each SYN to one that is free. `try_accept` takes an
//!   established one out and arms a fresh listener in its place. A SYN that
//!   finds every listener busy waits for one for a while (`syn_wait.rs`).
//! - `close` sends what is still queued, then FIN, as on Linux; the smoltcp
//!   socket becomes an orphan of the [`TcpPool`], which finishes it alone.
//!   `abort` (a killed process) sends RST at once.
//! - Why a connection ended is learnt where it happens: a RST is seen by the
//!   ingress path ([`Tcp::note_closed`]), a timeout by [`TcpSocket::sync`]
//!   finding the socket closed without a FIN handshake.
//!
//! This file knows one socket at a time: a [`Tcp`] entry, the pool and
//! smoltcp's socket set. Finding the entry, choosing ports and checking
//! addresses are the socket layer's (`socket.rs`, `bsd.rs`).

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use smoltcp::iface::{self, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State as S};
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::readiness::Readiness;
use crate::tcp_pool::{TcpPool, listen_endpoint, ms};

/// Where a TCP socket is in its life (see the module comment).
enum TcpState {
    Init,
    Bound {
        local: SocketAddrV4,
    },
    Listening {
        local: SocketAddrV4,
        /// The smoltcp sockets listening (or holding connections not yet accepted).
        backlog: Vec<SocketHandle>,
        /// How many `backlog` should hold; fewer while the pool is exhausted.
        want: usize,
    },
    Connecting {
        handle: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
    Connected {
        handle: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        /// smoltcp's state when last looked at, to tell how it got to CLOSED.
        last: S,
        /// Made by `try_accept`: it shares the listener's port.
        accepted: bool,
    },
    /// The connection is over and its smoltcp socket freed.
    Closed {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
}

/// A TCP socket's entry in the socket table.
pub(crate) struct Tcp {
    state: TcpState,
    /// An error to report once, to the next operation (or `SO_ERROR`).
    error: Option<Errno>,
    shut_rd: bool,
    /// `TCP_NODELAY`: Nagle's algorithm off for this socket's sends.
    nodelay: bool,
}

/// Whether a backlog socket holds a connection `try_accept` can hand out.
fn acceptable(s: &tcp::Socket) -> bool {
    matches!(s.state(), S::Established | S::CloseWait)
}

fn v4(ep: IpEndpoint) -> SocketAddrV4 {
    let IpAddress::Ipv4(ip) = ep.addr;
    SocketAddrV4::new(ip, ep.port)
}

impl Tcp {
    /// A new socket, neither bound nor connected.
    pub(crate) fn new() -> Tcp {
        Tcp {
            state: TcpState::Init,
            error: None,
            shut_rd: false,
            nodelay: false,
        }
    }

    /// The local port it holds, and whether an explicit `bind` of that port
    /// must fail (accepted connections share their listener's port).
    pub(crate) fn port(&self) -> Option<(u16, bool)> {
        match &self.state {
            TcpState::Init => None,
            TcpState::Connected {
                local, accepted, ..
            } => Some((local.port(), !accepted)),
            TcpState::Bound { local }
            | TcpState::Listening { local, .. }
            | TcpState::Connecting { local, .. }
            | TcpState::Closed { local, .. } => Some((local.port(), true)),
        }
    }

    /// Whether it has no local address yet.
    pub(crate) fn is_unbound(&self) -> bool {
        matches!(self.state, TcpState::Init)
    }

    /// Gives an unbound socket its (checked) local address.
    pub(crate) fn bind(&mut self, local: SocketAddrV4) {
        debug_assert!(self.is_unbound());
        self.state = TcpState::Bound { local };
    }

    /// The local address of a bound socket that does nothing else yet.
    pub(crate) fn bound_local(&self) -> Option<SocketAddrV4> {
        match self.state {
            TcpState::Bound { local } => Some(local),
            _ => None,
        }
    }

    /// Whether `listen` has work to do: false if already listening, `EINVAL`
    /// once connecting or connected.
    pub(crate) fn wants_listen(&self) -> Result<bool, Errno> {
        match self.state {
            TcpState::Listening { .. } => Ok(false),
            TcpState::Init | TcpState::Bound { .. } => Ok(true),
            _ => Err(EINVAL),
        }
    }

    /// Whether `connect` may start: `EALREADY`, `EISCONN` or `EINVAL` if not.
    pub(crate) fn may_connect(&self) -> Result<(), Errno> {
        match self.state {
            TcpState::Init | TcpState::Bound { .. } => Ok(()),
            TcpState::Connecting { .. } => Err(EALREADY),
            TcpState::Connected { .. } | TcpState::Closed { .. } => Err(EISCONN),
            TcpState::Listening { .. } => Err(EINVAL),
        }
    }

    /// Whether a listener owns `port` (so a SYN nobody took found it busy).
    pub(crate) fn listens_on(&self, port: u16) -> bool {
        matches!(&self.state, TcpState::Listening { local, .. } if local.port() == port)
    }

    pub(crate) fn nodelay(&self) -> bool {
        self.nodelay
    }

    pub(crate) fn set_nodelay(&mut self, on: bool) {
        self.nodelay = on;
    }

    /// The pending error, cleared (`SO_ERROR`).
    pub(crate) fn take_error(&mut self) -> Option<Errno> {
        self.error.take()
    }

    /// (local address, peer address if connected).
    pub(crate) fn addrs(&self) -> (SocketAddrV4, Option<SocketAddrV4>) {
        match self.state {
            TcpState::Init => (SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), None),
            TcpState::Bound { local } | TcpState::Listening { local, .. } => (local, None),
            TcpState::Connecting { local, .. } => (local, None),
            TcpState::Connected { local, remote, .. } | TcpState::Closed { local, remote } => {
                (local, Some(remote))
            }
        }
    }

    /// What the socket can do now. Pure: the socket layer keeps the state in
    /// step with smoltcp ([`TcpSocket::sync`]) after every poll and operation.
    pub(crate) fn readiness(&self, sockets: &SocketSet<'static>) -> Readiness {
        let mut r = Readiness {
            error: self.error.is_some(),
            ..Readiness::default()
        };
        match &self.state {
            TcpState::Init | TcpState::Bound { .. } => r.hup = true,
            TcpState::Listening { backlog, .. } => {
                r.readable = backlog
                    .iter()
                    .any(|&h| acceptable(sockets.get::<tcp::Socket>(h)));
            }
            TcpState::Connecting { .. } => {}
            TcpState::Connected { handle, .. } => {
                let s = sockets.get::<tcp::Socket>(*handle);
                r.readable = s.can_recv() || !s.may_recv() || self.shut_rd;
                r.writable = s.can_send() || !s.may_send();
                r.hup = matches!(s.state(), S::Closed | S::TimeWait | S::Closing | S::LastAck);
            }
            TcpState::Closed { .. } => {
                r.readable = true;
                r.writable = true;
                r.hup = true;
            }
        }
        r
    }

    /// Notes that smoltcp socket `handle` just went to CLOSED on a segment;
    /// false if this socket does not own it. A RST is an error for the owner.
    pub(crate) fn note_closed(&mut self, handle: SocketHandle, rst: bool) -> bool {
        match &mut self.state {
            TcpState::Connecting { handle: h, .. } if *h == handle => {
                self.error = rst.then_some(ECONNREFUSED);
            }
            TcpState::Connected {
                handle: h, last, ..
            } if *h == handle => {
                if rst {
                    self.error = Some(ECONNRESET);
                }
                *last = S::Closed;
            }
            _ => return false,
        }
        true
    }

    /// Once per poll, for a listener: re-arms the backlog sockets whose
    /// connection died before it was accepted, and refills the backlog.
    pub(crate) fn tend_listener(&mut self, pool: &mut TcpPool, sockets: &mut SocketSet<'static>) {
        let TcpState::Listening {
            local,
            backlog,
            want,
        } = &mut self.state
        else {
            return;
        };
        for &handle in backlog.iter() {
            let s = sockets.get_mut::<tcp::Socket>(handle);
            if !s.is_open() {
                // A connection reset or timed out before it was accepted.
                let _ = s.listen(listen_endpoint(*local));
            }
        }
        while backlog.len() < *want {
            match pool.add_listener(sockets, *local) {
                Ok(handle) => backlog.push(handle),
                Err(_) => break,
            }
        }
    }

    /// Lets go of a TCP socket taken out of the table: gracefully (`close`)
    /// or with a RST (`abort`).
    pub(crate) fn release(self, pool: &mut TcpPool, sockets: &mut SocketSet<'static>, abort: bool) {
        match self.state {
            TcpState::Init | TcpState::Bound { .. } | TcpState::Closed { .. } => {}
            TcpState::Connecting { handle, .. } => pool.free(sockets, handle),
            TcpState::Listening { backlog, .. } => {
                for handle in backlog {
                    let s = sockets.get_mut::<tcp::Socket>(handle);
                    if s.is_active() {
                        // A connection nobody accepted: tell the peer.
                        s.abort();
                        pool.orphan(handle);
                    } else {
                        pool.free(sockets, handle);
                    }
                }
            }
            TcpState::Connected { handle, .. } => {
                let s = sockets.get_mut::<tcp::Socket>(handle);
                if abort {
                    s.abort();
                } else {
                    s.close();
                }
                // The last ACK must leave before the pool frees the socket.
                s.set_ack_delay(None);
                pool.orphan(handle);
            }
        }
    }
}

/// One TCP socket with what its operations need: the pool and smoltcp's sockets.
pub(crate) struct TcpSocket<'a> {
    pub t: &'a mut Tcp,
    pub pool: &'a mut TcpPool,
    pub sockets: &'a mut SocketSet<'static>,
}

impl TcpSocket<'_> {
    /// Starts listening on `local` (the bound address; see [`Tcp::wants_listen`]).
    pub(crate) fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<(), Errno> {
        let want = backlog.clamp(1, self.pool.limits().max_backlog);
        let mut listeners = Vec::with_capacity(want);
        for _ in 0..want {
            match self.pool.add_listener(self.sockets, local) {
                Ok(handle) => listeners.push(handle),
                Err(_) => break,
            }
        }
        if listeners.is_empty() {
            return Err(ENOBUFS);
        }
        self.t.state = TcpState::Listening {
            local,
            backlog: listeners,
            want,
        };
        Ok(())
    }

    /// Takes an established connection off a listener: the new socket's
    /// entry and its peer. `EAGAIN` if none waits; `ENFILE` if one does but
    /// the table is `full`.
    pub(crate) fn accept(&mut self, full: bool) -> Result<(Tcp, SocketAddrV4), Errno> {
        // As in Linux, a connection inherits its listener's TCP_NODELAY.
        let nodelay = self.t.nodelay;
        let TcpState::Listening { local, backlog, .. } = &mut self.t.state else {
            return Err(EINVAL);
        };
        let sockets = &mut *self.sockets;
        let i = backlog
            .iter()
            .position(|&h| acceptable(sockets.get::<tcp::Socket>(h)))
            .ok_or(EAGAIN)?;
        if full {
            return Err(ENFILE);
        }
        let handle = backlog.swap_remove(i);
        // Re-arm; if the pool is exhausted, the next poll tries again.
        if let Ok(fresh) = self.pool.add_listener(sockets, *local) {
            backlog.push(fresh);
        }
        let s = sockets.get_mut::<tcp::Socket>(handle);
        s.set_timeout(Some(ms(self.pool.limits().tcp_timeout_ms)));
        let (local, remote) = (s.local_endpoint(), s.remote_endpoint());
        let (local, remote) = (
            v4(local.expect("established")),
            v4(remote.expect("established")),
        );
        let tcp = Tcp {
            state: TcpState::Connected {
                handle,
                local,
                remote,
                last: s.state(),
                accepted: true,
            },
            error: None,
            shut_rd: false,
            nodelay,
        };
        Ok((tcp, remote))
    }

    /// Sends the SYN from `local` (bound, checked) to `remote` (checked).
    pub(crate) fn connect(
        &mut self,
        cx: &mut iface::Context,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        let handle = self.pool.add(self.sockets)?;
        let s = self.sockets.get_mut::<tcp::Socket>(handle);
        s.set_timeout(Some(ms(self.pool.limits().connect_timeout_ms)));
        let remote_ep = IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port());
        if s.connect(cx, remote_ep, listen_endpoint(local)).is_err() {
            // The address checks before leave only "no source address".
            self.pool.free(self.sockets, handle);
            return Err(ENETUNREACH);
        }
        self.t.error = None;
        self.t.state = TcpState::Connecting {
            handle,
            local,
            remote,
        };
        Ok(())
    }

    /// `Ok` once connected; `EINPROGRESS` while the handshake runs; the
    /// reason it failed (once), then `ENOTCONN`.
    pub(crate) fn poll_connect(&mut self) -> Result<(), Errno> {
        self.sync();
        let t = &mut *self.t;
        match t.state {
            TcpState::Connecting { .. } => Err(EINPROGRESS),
            TcpState::Connected { .. } | TcpState::Closed { .. } => Ok(()),
            _ => Err(t.error.take().unwrap_or(ENOTCONN)),
        }
    }

    pub(crate) fn send(&mut self, buf: &[u8]) -> Result<usize, Errno> {
        self.sync();
        let t = &mut *self.t;
        if let Some(e) = t.error.take() {
            return Err(e);
        }
        let handle = match t.state {
            TcpState::Connected { handle, .. } => handle,
            TcpState::Connecting { .. } => return Err(EAGAIN),
            TcpState::Closed { .. } => return Err(EPIPE),
            _ => return Err(ENOTCONN),
        };
        let s = self.sockets.get_mut::<tcp::Socket>(handle);
        s.set_nagle_enabled(!t.nodelay);
        match s.send_slice(buf) {
            Err(tcp::SendError::InvalidState) => Err(EPIPE),
            Ok(0) if !buf.is_empty() => Err(EAGAIN),
            Ok(n) => Ok(n),
        }
    }

    /// Bytes received; 0 at end of stream.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.sync();
        let t = &mut *self.t;
        let handle = match t.state {
            _ if t.shut_rd => return Ok(0),
            TcpState::Connected { handle, .. } => handle,
            TcpState::Connecting { .. } => return Err(EAGAIN),
            TcpState::Closed { .. } => return t.error.take().map_or(Ok(0), Err),
            _ => return Err(ENOTCONN),
        };
        let s = self.sockets.get_mut::<tcp::Socket>(handle);
        match s.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => Err(t.error.take().unwrap_or(EAGAIN)),
            Ok(n) => Ok(n),
            Err(tcp::RecvError::Finished) => Ok(0),
            // Closed by a RST or a timeout, with everything read.
            Err(tcp::RecvError::InvalidState) => t.error.take().map_or(Ok(0), Err),
        }
    }

    pub(crate) fn shutdown(&mut self, read: bool, write: bool) -> Result<(), Errno> {
        self.sync();
        let t = &mut *self.t;
        let TcpState::Connected { handle, last, .. } = &mut t.state else {
            return Err(ENOTCONN);
        };
        t.shut_rd |= read;
        if write {
            let s = self.sockets.get_mut::<tcp::Socket>(*handle);
            s.close();
            *last = s.state();
        }
        Ok(())
    }

    /// Brings the socket's state up to date with its smoltcp socket.
    pub(crate) fn sync(&mut self) {
        let t = &mut *self.t;
        match t.state {
            TcpState::Connecting {
                handle,
                local,
                remote,
            } => {
                let s = self.sockets.get_mut::<tcp::Socket>(handle);
                match s.state() {
                    S::SynSent | S::SynReceived => {}
                    S::Closed | S::TimeWait => {
                        // A RST already set ECONNREFUSED; otherwise no answer came.
                        t.error = Some(t.error.unwrap_or(ETIMEDOUT));
                        t.state = TcpState::Bound { local };
                        self.pool.free(self.sockets, handle);
                    }
                    state => {
                        s.set_timeout(Some(ms(self.pool.limits().tcp_timeout_ms)));
                        let local = s.local_endpoint().map_or(local, v4);
                        t.state = TcpState::Connected {
                            handle,
                            local,
                            remote,
                            last: state,
                            accepted: false,
                        };
                    }
                }
            }
            TcpState::Connected {
                handle,
                local,
                remote,
                ref mut last,
                ..
            } => {
                let s = self.sockets.get::<tcp::Socket>(handle);
                let now = s.state();
                if now == S::Closed {
                    let graceful = matches!(*last, S::Closed | S::TimeWait | S::LastAck);
                    if !graceful && t.error.is_none() {
                        t.error = Some(ETIMEDOUT);
                    }
                    // Keep it until its data is read and its RST (if any) sent.
                    if s.recv_queue() == 0 && s.remote_endpoint().is_none() {
                        t.state = TcpState::Closed { local, remote };
                        self.pool.free(self.sockets, handle);
                        return;
                    }
                }
                *last = now;
            }
            _ => {}
        }
    }
}
