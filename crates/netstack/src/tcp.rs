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
//! - A half-open connection whose peer does not complete the handshake is
//!   dropped after [`HALF_OPEN_MS`], and one may be replaced sooner by a new
//!   SYN ([`Tcp::make_room`]): spoofed SYNs cannot hold the backlog.
//! - An idle connection lives for ever; only data left unacknowledged times
//!   out, and `SO_KEEPALIVE` probes a silent peer ([`arm_timeout`]).
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
        backlog: Vec<Slot>,
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

/// A backlog socket of a listener, and since when it has been half-open
/// (SYN-RECEIVED), in the poll clock's milliseconds.
#[derive(Clone, Copy)]
struct Slot {
    handle: SocketHandle,
    half_open_since: Option<u64>,
}

impl Slot {
    fn new(handle: SocketHandle) -> Slot {
        Slot {
            handle,
            half_open_since: None,
        }
    }
}

/// A half-open connection whose peer has not completed the handshake this long is dropped
/// (silently: the peer is most likely a spoofed address) and its listener re-armed. A SYN-ACK
/// leaves at once and is retransmitted after 1 s, so a live peer has had two chances.
pub const HALF_OPEN_MS: u64 = 3_000;
/// A half-open connection from a peer not heard from on the link (no ARP from it) may be
/// replaced by a new SYN once it is this old: long enough for any live LAN peer to answer
/// the SYN-ACK, short enough that a flood of spoofed SYNs cannot hold the backlog.
pub const SILENT_EVICT_MS: u64 = 100;
/// A half-open connection from a peer heard from is replaced only after this long.
pub const LIVE_EVICT_MS: u64 = 1_000;
/// Most half-open connections one source address may hold on one listener before its own
/// oldest is replaced first.
pub const HALF_OPEN_PER_SOURCE: usize = 2;

/// With `SO_KEEPALIVE`: a probe after this long without a segment from the peer, and again
/// every interval while it stays silent.
pub const KEEPALIVE_INTERVAL_MS: u64 = 75_000;
/// With `SO_KEEPALIVE`: the connection is aborted (`ETIMEDOUT`) after this long without a
/// segment from the peer: nine unanswered probes, as Linux's `tcp_keepalive_probes`.
pub const KEEPALIVE_TIMEOUT_MS: u64 = 10 * KEEPALIVE_INTERVAL_MS;

/// A TCP socket's entry in the socket table.
pub(crate) struct Tcp {
    state: TcpState,
    /// An error to report once, to the next operation (or `SO_ERROR`).
    error: Option<Errno>,
    shut_rd: bool,
    /// `TCP_NODELAY`: Nagle's algorithm off for this socket's sends.
    nodelay: bool,
    /// `SO_KEEPALIVE`: probe an idle connection and drop it if the peer is gone.
    keepalive: bool,
    /// When a poll first saw keep-alive on for this connection (see [`arm_timeout`]).
    keepalive_since: Option<u64>,
}

/// Sets a connection's timeout and keep-alive. As on Linux, an idle connection
/// lives for ever unless `SO_KEEPALIVE` is on; one whose sent data stays
/// unacknowledged for `tcp_timeout_ms` is aborted. smoltcp counts its timeout
/// from the last segment received (or from the first sent after an idle spell),
/// so it is armed only while data waits for its acknowledgement (or with
/// keep-alive, whose probes the peer answers).
///
/// smoltcp's last-segment time may be long past when keep-alive is turned on,
/// so the keep-alive timeout is armed only once keep-alive has been on for as
/// long (`keepalive_timeout`): by then a live peer has answered a probe.
fn arm_timeout(s: &mut tcp::Socket, pool: &TcpPool, keepalive: bool, keepalive_timeout: bool) {
    let limits = pool.limits();
    let timeout = if s.send_queue() > 0 {
        Some(limits.tcp_timeout_ms)
    } else if keepalive && keepalive_timeout {
        Some(KEEPALIVE_TIMEOUT_MS)
    } else {
        None
    };
    let timeout = timeout.map(ms);
    if s.timeout() != timeout {
        s.set_timeout(timeout);
    }
    let interval = keepalive.then(|| ms(KEEPALIVE_INTERVAL_MS));
    if s.keep_alive() != interval {
        s.set_keep_alive(interval);
    }
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
            keepalive: false,
            keepalive_since: None,
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

    pub(crate) fn keepalive(&self) -> bool {
        self.keepalive
    }

    pub(crate) fn set_keepalive(&mut self, on: bool) {
        if !on {
            self.keepalive_since = None;
        }
        self.keepalive = on;
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
                    .any(|slot| acceptable(sockets.get::<tcp::Socket>(slot.handle)));
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
    /// connection died before it was accepted or stayed half-open too long,
    /// and refills the backlog. For a connection: arms its timeout.
    pub(crate) fn tend(&mut self, pool: &mut TcpPool, sockets: &mut SocketSet<'static>, now: u64) {
        let keepalive = self.keepalive;
        let (local, backlog, want) = match &mut self.state {
            TcpState::Listening {
                local,
                backlog,
                want,
            } => (local, backlog, want),
            TcpState::Connected { handle, .. } => {
                let since = keepalive.then(|| *self.keepalive_since.get_or_insert(now));
                let armed = since.is_some_and(|t| now.saturating_sub(t) >= KEEPALIVE_TIMEOUT_MS);
                let s = sockets.get_mut::<tcp::Socket>(*handle);
                arm_timeout(s, pool, keepalive, armed);
                return;
            }
            _ => return,
        };
        for slot in backlog.iter_mut() {
            let s = sockets.get_mut::<tcp::Socket>(slot.handle);
            let mut rearm = !s.is_open();
            if s.state() != S::SynReceived {
                slot.half_open_since = None;
            } else {
                let since = *slot.half_open_since.get_or_insert(now);
                // Dropped without a RST: the peer never answered, and a
                // spoofed one must not make us ARP or send to it.
                rearm |= now.saturating_sub(since) >= HALF_OPEN_MS;
            }
            if rearm {
                // A connection reset, timed out or left half-open before it
                // was accepted.
                *slot = Slot::new(pool.relisten(sockets, slot.handle, *local));
            }
        }
        while backlog.len() < *want {
            match pool.add_listener(sockets, *local) {
                Ok(handle) => backlog.push(Slot::new(handle)),
                Err(_) => break,
            }
        }
    }

    /// A SYN from `src` found every backlog socket of this listener busy: frees
    /// one holding a half-open connection, if one may be replaced, so that the
    /// SYN can be delivered now; true if one was. Replaced first: the oldest of
    /// `src`'s own when it holds [`HALF_OPEN_PER_SOURCE`] (after
    /// [`SILENT_EVICT_MS`]: a host may open several connections at once), else the oldest from
    /// a peer never heard from (`heard`), at once if `src` was heard from, else
    /// after [`SILENT_EVICT_MS`], else the oldest after [`LIVE_EVICT_MS`].
    pub(crate) fn make_room(
        &mut self,
        pool: &mut TcpPool,
        sockets: &mut SocketSet<'static>,
        src: Ipv4Addr,
        now: u64,
        heard: impl Fn(Ipv4Addr) -> bool,
    ) -> bool {
        let TcpState::Listening { local, backlog, .. } = &mut self.state else {
            return false;
        };
        // (age, source) of backlog socket `i` if it is half-open.
        let half_open = |sockets: &SocketSet<'static>, slot: &Slot| {
            let s = sockets.get::<tcp::Socket>(slot.handle);
            if s.state() != S::SynReceived {
                return None;
            }
            let age = now.saturating_sub(slot.half_open_since.unwrap_or(now));
            Some((age, *v4(s.remote_endpoint()?).ip()))
        };
        let oldest = |pick: &dyn Fn(u64, Ipv4Addr) -> bool| {
            let mut best: Option<(u64, usize)> = None;
            for (i, slot) in backlog.iter().enumerate() {
                if let Some((age, peer)) = half_open(sockets, slot)
                    && pick(age, peer)
                    && best.is_none_or(|(a, _)| age > a)
                {
                    best = Some((age, i));
                }
            }
            best.map(|(_, i)| i)
        };
        let own = backlog
            .iter()
            .filter(|slot| half_open(sockets, slot).is_some_and(|(_, peer)| peer == src))
            .count();
        let victim = if own >= HALF_OPEN_PER_SOURCE {
            oldest(&|age, peer| age >= SILENT_EVICT_MS && peer == src)
        } else {
            None
        }
        // A live host's SYN replaces a silent peer's at once: that one's
        // SYN-ACK could not even leave (its address does not answer ARP).
        .or_else(|| {
            let min_age = if heard(src) { 0 } else { SILENT_EVICT_MS };
            oldest(&|age, peer| age >= min_age && !heard(peer))
        })
        .or_else(|| oldest(&|age, _| age >= LIVE_EVICT_MS));
        let Some(i) = victim else {
            return false;
        };
        // No RST: the peer is likely a spoofed address.
        backlog[i] = Slot::new(pool.relisten(sockets, backlog[i].handle, *local));
        true
    }

    /// Lets go of a TCP socket taken out of the table: gracefully (`close`)
    /// or with a RST (`abort`).
    pub(crate) fn release(self, pool: &mut TcpPool, sockets: &mut SocketSet<'static>, abort: bool) {
        match self.state {
            TcpState::Init | TcpState::Bound { .. } | TcpState::Closed { .. } => {}
            TcpState::Connecting { handle, .. } => pool.free(sockets, handle),
            TcpState::Listening { backlog, .. } => {
                for Slot { handle, .. } in backlog {
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
                Ok(handle) => listeners.push(Slot::new(handle)),
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
        // As in Linux, a connection inherits its listener's TCP_NODELAY and SO_KEEPALIVE.
        let (nodelay, keepalive) = (self.t.nodelay, self.t.keepalive);
        let TcpState::Listening { local, backlog, .. } = &mut self.t.state else {
            return Err(EINVAL);
        };
        let sockets = &mut *self.sockets;
        let i = backlog
            .iter()
            .position(|slot| acceptable(sockets.get::<tcp::Socket>(slot.handle)))
            .ok_or(EAGAIN)?;
        if full {
            return Err(ENFILE);
        }
        let handle = backlog.swap_remove(i).handle;
        // Re-arm; if the pool is exhausted, the next poll tries again.
        if let Ok(fresh) = self.pool.add_listener(sockets, *local) {
            backlog.push(Slot::new(fresh));
        }
        let s = sockets.get_mut::<tcp::Socket>(handle);
        arm_timeout(s, self.pool, keepalive, false);
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
            keepalive,
            keepalive_since: None,
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
                        arm_timeout(s, self.pool, t.keepalive, false);
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
