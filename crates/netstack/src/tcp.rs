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
//!   finds every listener busy is dropped (counted `QueueFull`): the client
//!   retries, as with a full Linux backlog.
//! - `close` sends what is still queued, then FIN, as on Linux; the smoltcp
//!   socket becomes an orphan that `poll` reaps once the handshake is done
//!   (TIME-WAIT is not kept: a late retransmitted FIN gets a RST), or aborts
//!   after `orphan_timeout_ms`. `abort` (a killed process) sends RST at once.
//! - Why a connection ended is learnt where it happens: a RST is seen by the
//!   ingress path (`tcp_after_segment`), a timeout by `tcp_sync` finding the
//!   socket closed without a FIN handshake.
//! - Each smoltcp TCP socket owns a receive and a send buffer of
//!   [`SocketLimits`] sizes; at most `max_tcp` exist (connections, listeners
//!   and orphans together), beyond which operations fail with `ENOBUFS`.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use abi::errno::*;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::AnySocket;
use smoltcp::socket::tcp::{self, State as S};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint, Ipv4Address};

use crate::bsd::{PortSpace, Readiness};
use crate::socket::{Entry, SocketId, SocketTable};
use crate::stack::Core;

/// Sizes, counts and timeouts of TCP sockets; part of [`crate::Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketLimits {
    /// Most smoltcp TCP sockets at once: connections, listeners and orphans.
    pub max_tcp: usize,
    /// Bytes of each TCP socket's receive buffer; the window it advertises
    /// (scaled above 64 KiB).
    pub tcp_rx_buffer: usize,
    /// Bytes of each TCP socket's send buffer: what `send` can queue.
    pub tcp_tx_buffer: usize,
    /// Most listening sockets one `listen` keeps (`backlog` is clamped to it).
    pub max_backlog: usize,
    /// A SYN unanswered this long fails the connect with `ETIMEDOUT`.
    pub connect_timeout_ms: u64,
    /// Sent data unacknowledged this long aborts the connection (`ETIMEDOUT`).
    pub tcp_timeout_ms: u64,
    /// A closed socket still finishing its FIN handshake after this long is aborted.
    pub orphan_timeout_ms: u64,
}

impl Default for SocketLimits {
    /// 64 KiB windows each way, so one connection can fill a gigabit-ish
    /// virtual link; 48 sockets of 128 KiB is 6 MiB at most (of the kernel's
    /// 16 MiB heap): enough for 32 connections beside a backlog of 8 and the
    /// orphans still finishing.
    fn default() -> Self {
        SocketLimits {
            max_tcp: 48,
            tcp_rx_buffer: 64 * 1024,
            tcp_tx_buffer: 64 * 1024,
            max_backlog: 8,
            connect_timeout_ms: 20_000,
            tcp_timeout_ms: 60_000,
            orphan_timeout_ms: 60_000,
        }
    }
}

/// After aborting an orphan, how long its RST may wait for a TX slot.
const ABORT_GRACE_MS: u64 = 1_000;

/// Where a TCP socket is in its life (see the module comment).
pub(crate) enum TcpState {
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

pub(crate) struct Tcp {
    pub state: TcpState,
    /// An error to report once, to the next operation (or `SO_ERROR`).
    pub error: Option<Errno>,
    pub shut_rd: bool,
    /// `TCP_NODELAY`: Nagle's algorithm off for this socket's sends.
    pub nodelay: bool,
}

impl Tcp {
    /// The local port it holds, and whether an explicit `bind` of that port
    /// must fail (accepted connections share their listener's port).
    fn port(&self) -> Option<(u16, bool)> {
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
}

/// A TCP segment as the ingress path saw it, enough to tell which smoltcp
/// socket will take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub src: Ipv4Address,
    pub dst: Ipv4Address,
    pub src_port: u16,
    pub dst_port: u16,
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
}

/// smoltcp's `tcp::Socket::accepts` (crate-private), through its public getters.
fn accepts(s: &tcp::Socket, seg: &Segment) -> bool {
    match s.state() {
        S::Closed => return false,
        S::Listen if seg.ack || seg.rst => return false,
        _ => {}
    }
    let (src, dst) = (IpAddress::Ipv4(seg.src), IpAddress::Ipv4(seg.dst));
    match (s.local_endpoint(), s.remote_endpoint()) {
        (Some(local), Some(remote)) => {
            local == IpEndpoint::new(dst, seg.dst_port)
                && remote == IpEndpoint::new(src, seg.src_port)
        }
        _ => {
            let listen = s.listen_endpoint();
            listen.addr.is_none_or(|a| a == dst) && seg.dst_port != 0 && seg.dst_port == listen.port
        }
    }
}

/// Whether a backlog socket holds a connection `try_accept` can hand out.
fn acceptable(s: &tcp::Socket) -> bool {
    matches!(s.state(), S::Established | S::CloseWait)
}

fn listen_endpoint(local: SocketAddrV4) -> IpListenEndpoint {
    IpListenEndpoint {
        addr: (!local.ip().is_unspecified()).then_some(IpAddress::Ipv4(*local.ip())),
        port: local.port(),
    }
}

fn v4(ep: IpEndpoint) -> SocketAddrV4 {
    let IpAddress::Ipv4(ip) = ep.addr;
    SocketAddrV4::new(ip, ep.port)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A closed socket's smoltcp socket, finishing its handshake.
struct Orphan {
    handle: SocketHandle,
    /// When to give up; set by the first poll after the close.
    deadline: Option<u64>,
}

/// The smoltcp TCP sockets: how many exist, of what size, and the orphans.
pub(crate) struct TcpPool {
    pub limits: SocketLimits,
    count: usize,
    orphans: Vec<Orphan>,
}

impl TcpPool {
    pub(crate) fn new(limits: SocketLimits) -> Self {
        TcpPool {
            limits,
            count: 0,
            orphans: Vec::new(),
        }
    }

    /// A new smoltcp TCP socket, closed; `ENOBUFS` at `max_tcp`.
    fn add(&mut self, sockets: &mut SocketSet<'static>) -> Result<SocketHandle, Errno> {
        if self.count >= self.limits.max_tcp {
            return Err(ENOBUFS);
        }
        self.count += 1;
        let rx = tcp::SocketBuffer::new(vec![0; self.limits.tcp_rx_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0; self.limits.tcp_tx_buffer]);
        Ok(sockets.add(tcp::Socket::new(rx, tx)))
    }

    /// A listener on `local`, with the connection timeout for half-open connections.
    fn add_listener(
        &mut self,
        sockets: &mut SocketSet<'static>,
        local: SocketAddrV4,
    ) -> Result<SocketHandle, Errno> {
        let handle = self.add(sockets)?;
        let s = sockets.get_mut::<tcp::Socket>(handle);
        s.set_timeout(Some(ms(self.limits.connect_timeout_ms)));
        // A new socket is closed, and `local` has a port: this cannot fail.
        let _ = s.listen(listen_endpoint(local));
        Ok(handle)
    }

    fn free(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        sockets.remove(handle);
        self.count -= 1;
    }

    fn orphan(&mut self, handle: SocketHandle) {
        self.orphans.push(Orphan {
            handle,
            deadline: None,
        });
    }

    /// (smoltcp TCP sockets, of which orphans).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.count, self.orphans.len())
    }

    /// The earliest orphan deadline, for `poll_at`.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.orphans.iter().filter_map(|o| o.deadline).min()
    }

    /// Whether an orphan still uses local `port`.
    fn orphan_port(&self, sockets: &SocketSet<'static>, port: u16) -> bool {
        self.orphans.iter().any(|o| {
            let s = sockets.get::<tcp::Socket>(o.handle);
            s.local_endpoint().is_some_and(|l| l.port == port)
        })
    }
}

/// The TCP entry of `id`, or `EBADF`.
fn tcp_mut(table: &mut SocketTable, id: SocketId) -> Result<&mut Tcp, Errno> {
    match table.entry_mut(id) {
        Some(Entry::Tcp(t)) => Ok(t),
        _ => Err(EBADF),
    }
}

impl Core {
    pub(crate) fn tcp_open(&mut self) -> Result<SocketId, Errno> {
        let entry = Entry::Tcp(Tcp {
            state: TcpState::Init,
            error: None,
            shut_rd: false,
            nodelay: false,
        });
        self.table.insert(entry).ok_or(ENFILE)
    }

    /// Whether TCP `port` is taken: by a socket's `bind` (strict: also by
    /// accepted connections and orphans, which an ephemeral port must avoid).
    pub(crate) fn tcp_port_in_use(&self, port: u16, strict: bool) -> bool {
        let by_socket = self.table.entries().any(|e| match e {
            Entry::Tcp(t) => t
                .port()
                .is_some_and(|(p, binds)| p == port && (binds || strict)),
            _ => false,
        });
        by_socket || (strict && self.tcp.orphan_port(&self.sockets, port))
    }

    pub(crate) fn tcp_bind(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        if !matches!(tcp_mut(&mut self.table, id)?.state, TcpState::Init) {
            return Err(EINVAL);
        }
        self.check_local_ip(*addr.ip())?;
        let port = match addr.port() {
            0 => self.ephemeral_port(PortSpace::Tcp)?,
            port if self.tcp_port_in_use(port, false) => return Err(EADDRINUSE),
            port => port,
        };
        tcp_mut(&mut self.table, id)?.state = TcpState::Bound {
            local: SocketAddrV4::new(*addr.ip(), port),
        };
        Ok(())
    }

    /// The bound address, binding an ephemeral port first if there is none.
    fn tcp_autobind(&mut self, id: SocketId) -> Result<SocketAddrV4, Errno> {
        if matches!(tcp_mut(&mut self.table, id)?.state, TcpState::Init) {
            self.tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        match tcp_mut(&mut self.table, id)?.state {
            TcpState::Bound { local } => Ok(local),
            _ => Err(EINVAL),
        }
    }

    pub(crate) fn tcp_listen(&mut self, id: SocketId, backlog: usize) -> Result<(), Errno> {
        match tcp_mut(&mut self.table, id)?.state {
            TcpState::Listening { .. } => return Ok(()),
            TcpState::Init | TcpState::Bound { .. } => {}
            _ => return Err(EINVAL),
        }
        let local = self.tcp_autobind(id)?;
        let want = backlog.clamp(1, self.tcp.limits.max_backlog);
        let mut listeners = Vec::with_capacity(want);
        for _ in 0..want {
            match self.tcp.add_listener(&mut self.sockets, local) {
                Ok(handle) => listeners.push(handle),
                Err(_) => break,
            }
        }
        if listeners.is_empty() {
            return Err(ENOBUFS);
        }
        tcp_mut(&mut self.table, id)?.state = TcpState::Listening {
            local,
            backlog: listeners,
            want,
        };
        Ok(())
    }

    pub(crate) fn tcp_accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddrV4), Errno> {
        let full = self.table.is_full();
        // As in Linux, a connection inherits its listener's TCP_NODELAY.
        let nodelay = matches!(self.table.entry(id), Entry::Tcp(t) if t.nodelay);
        let Some(Entry::Tcp(Tcp {
            state: TcpState::Listening { local, backlog, .. },
            ..
        })) = self.table.entry_mut(id)
        else {
            return Err(if matches!(self.table.entry(id), Entry::Tcp(_)) {
                EINVAL
            } else {
                EBADF
            });
        };
        let sockets = &mut self.sockets;
        let i = backlog
            .iter()
            .position(|&h| acceptable(sockets.get::<tcp::Socket>(h)))
            .ok_or(EAGAIN)?;
        if full {
            return Err(ENFILE);
        }
        let handle = backlog.swap_remove(i);
        // Re-arm; if the pool is exhausted, housekeeping tries again.
        if let Ok(fresh) = self.tcp.add_listener(sockets, *local) {
            backlog.push(fresh);
        }
        let s = sockets.get_mut::<tcp::Socket>(handle);
        s.set_timeout(Some(ms(self.tcp.limits.tcp_timeout_ms)));
        let (local, remote) = (s.local_endpoint(), s.remote_endpoint());
        let (local, remote) = (
            v4(local.expect("established")),
            v4(remote.expect("established")),
        );
        let entry = Entry::Tcp(Tcp {
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
        });
        let new = self.table.insert(entry).expect("the table was not full");
        Ok((new, remote))
    }

    pub(crate) fn tcp_connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Errno> {
        self.tcp_sync(id);
        match tcp_mut(&mut self.table, id)?.state {
            TcpState::Init | TcpState::Bound { .. } => {}
            TcpState::Connecting { .. } => return Err(EALREADY),
            TcpState::Connected { .. } | TcpState::Closed { .. } => return Err(EISCONN),
            TcpState::Listening { .. } => return Err(EINVAL),
        }
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(EINVAL);
        }
        self.check_reachable(*remote.ip())?;
        let local = self.tcp_autobind(id)?;
        let handle = self.tcp.add(&mut self.sockets)?;
        let s = self.sockets.get_mut::<tcp::Socket>(handle);
        s.set_timeout(Some(ms(self.tcp.limits.connect_timeout_ms)));
        let remote_ep = IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port());
        if s.connect(self.iface.context(), remote_ep, listen_endpoint(local))
            .is_err()
        {
            // The address checks above leave only "no source address".
            self.tcp.free(&mut self.sockets, handle);
            return Err(ENETUNREACH);
        }
        let t = tcp_mut(&mut self.table, id)?;
        t.error = None;
        t.state = TcpState::Connecting {
            handle,
            local,
            remote,
        };
        Ok(())
    }

    /// `Ok` once connected; `EINPROGRESS` while the handshake runs; the
    /// reason it failed (once), then `ENOTCONN`.
    pub(crate) fn tcp_poll_connect(&mut self, id: SocketId) -> Result<(), Errno> {
        self.tcp_sync(id);
        let t = tcp_mut(&mut self.table, id)?;
        match t.state {
            TcpState::Connecting { .. } => Err(EINPROGRESS),
            TcpState::Connected { .. } | TcpState::Closed { .. } => Ok(()),
            _ => Err(t.error.take().unwrap_or(ENOTCONN)),
        }
    }

    pub(crate) fn tcp_send(&mut self, id: SocketId, buf: &[u8]) -> Result<usize, Errno> {
        self.tcp_sync(id);
        let t = tcp_mut(&mut self.table, id)?;
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
    pub(crate) fn tcp_recv(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.tcp_sync(id);
        let t = tcp_mut(&mut self.table, id)?;
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

    pub(crate) fn tcp_shutdown(
        &mut self,
        id: SocketId,
        read: bool,
        write: bool,
    ) -> Result<(), Errno> {
        self.tcp_sync(id);
        let t = tcp_mut(&mut self.table, id)?;
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

    /// Lets go of a TCP socket taken out of the table: gracefully (`close`)
    /// or with a RST (`abort`).
    pub(crate) fn tcp_release(&mut self, t: Tcp, abort: bool) {
        match t.state {
            TcpState::Init | TcpState::Bound { .. } | TcpState::Closed { .. } => {}
            TcpState::Connecting { handle, .. } => self.tcp.free(&mut self.sockets, handle),
            TcpState::Listening { backlog, .. } => {
                for handle in backlog {
                    let s = self.sockets.get_mut::<tcp::Socket>(handle);
                    if s.is_active() {
                        // A connection nobody accepted: tell the peer.
                        s.abort();
                        self.tcp.orphan(handle);
                    } else {
                        self.tcp.free(&mut self.sockets, handle);
                    }
                }
            }
            TcpState::Connected { handle, .. } => {
                let s = self.sockets.get_mut::<tcp::Socket>(handle);
                if abort {
                    s.abort();
                } else {
                    s.close();
                }
                // The last ACK must leave before `tcp_reap` frees the socket.
                s.set_ack_delay(None);
                self.tcp.orphan(handle);
            }
        }
    }

    /// Brings socket `id`'s state up to date with its smoltcp socket.
    pub(crate) fn tcp_sync(&mut self, id: SocketId) {
        let Some(Entry::Tcp(t)) = self.table.entry_mut(id) else {
            return;
        };
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
                        self.tcp.free(&mut self.sockets, handle);
                    }
                    state => {
                        s.set_timeout(Some(ms(self.tcp.limits.tcp_timeout_ms)));
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
                        self.tcp.free(&mut self.sockets, handle);
                        return;
                    }
                }
                *last = now;
            }
            _ => {}
        }
    }

    /// Notes how a segment just processed by smoltcp changed the socket it
    /// went to: a RST that closes a connection is an error for its owner.
    pub(crate) fn tcp_after_segment(&mut self, handle: SocketHandle, before: S, rst: bool) {
        let after = self.sockets.get::<tcp::Socket>(handle).state();
        if after != S::Closed || before == S::Closed {
            return;
        }
        for entry in self.table.entries_mut() {
            let Entry::Tcp(t) = entry else { continue };
            match &mut t.state {
                TcpState::Connecting { handle: h, .. } if *h == handle => {
                    t.error = rst.then_some(ECONNREFUSED);
                }
                TcpState::Connected {
                    handle: h, last, ..
                } if *h == handle => {
                    if rst {
                        t.error = Some(ECONNRESET);
                    }
                    *last = S::Closed;
                }
                _ => continue,
            }
            return;
        }
    }

    /// The smoltcp socket that will take `seg`, and its state before.
    pub(crate) fn tcp_acceptor(&self, seg: &Segment) -> Option<(SocketHandle, S)> {
        self.sockets.iter().find_map(|(handle, socket)| {
            let s = tcp::Socket::downcast(socket)?;
            accepts(s, seg).then_some((handle, s.state()))
        })
    }

    /// Whether a listener owns `port` (so a SYN nobody took found it busy).
    pub(crate) fn tcp_listening_on(&self, port: u16) -> bool {
        self.table.entries().any(|e| {
            matches!(e, Entry::Tcp(Tcp { state: TcpState::Listening { local, .. }, .. }) if local.port() == port)
        })
    }

    /// Before egress, once per poll: re-arm listeners, drain orphans and abort
    /// those past their deadline.
    pub(crate) fn tcp_housekeeping(&mut self, now: u64) {
        let (pool, sockets) = (&mut self.tcp, &mut self.sockets);
        for entry in self.table.entries_mut() {
            let Entry::Tcp(Tcp {
                state:
                    TcpState::Listening {
                        local,
                        backlog,
                        want,
                    },
                ..
            }) = entry
            else {
                continue;
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
        for orphan in &mut pool.orphans {
            let s = sockets.get_mut::<tcp::Socket>(orphan.handle);
            // Nobody will read it; keep the window open so the peer can finish.
            let _ = s.recv(|data| (data.len(), ()));
            let deadline = *orphan
                .deadline
                .get_or_insert(now + pool.limits.orphan_timeout_ms);
            if now >= deadline && s.state() != S::Closed {
                s.abort();
                orphan.deadline = Some(now + ABORT_GRACE_MS);
            }
        }
    }

    /// After egress, once per poll: frees the orphans that are done. One in
    /// TIME-WAIT is done once it has sent its last ACK, which egress just did
    /// (unless every TX slot was busy: then a retransmitted FIN gets a RST).
    pub(crate) fn tcp_reap(&mut self, now: u64) {
        let (pool, sockets) = (&mut self.tcp, &mut self.sockets);
        let mut i = 0;
        while i < pool.orphans.len() {
            let orphan = &pool.orphans[i];
            let s = sockets.get::<tcp::Socket>(orphan.handle);
            let done = match s.state() {
                S::TimeWait => true,
                // After an abort: once its RST is out, or given up.
                S::Closed => {
                    s.remote_endpoint().is_none() || orphan.deadline.is_some_and(|d| now >= d)
                }
                _ => false,
            };
            if done {
                let handle = pool.orphans.swap_remove(i).handle;
                pool.free(sockets, handle);
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn tcp_readiness(&self, t: &Tcp) -> Readiness {
        let mut r = Readiness {
            error: t.error.is_some(),
            ..Readiness::default()
        };
        match &t.state {
            TcpState::Init | TcpState::Bound { .. } => r.hup = true,
            TcpState::Listening { backlog, .. } => {
                r.readable = backlog
                    .iter()
                    .any(|&h| acceptable(self.sockets.get::<tcp::Socket>(h)));
            }
            TcpState::Connecting { .. } => {}
            TcpState::Connected { handle, .. } => {
                let s = self.sockets.get::<tcp::Socket>(*handle);
                r.readable = s.can_recv() || !s.may_recv() || t.shut_rd;
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

    /// (local address, peer address if connected).
    pub(crate) fn tcp_addrs(t: &Tcp) -> (SocketAddrV4, Option<SocketAddrV4>) {
        match t.state {
            TcpState::Init => (SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), None),
            TcpState::Bound { local } | TcpState::Listening { local, .. } => (local, None),
            TcpState::Connecting { local, .. } => (local, None),
            TcpState::Connected { local, remote, .. } | TcpState::Closed { local, remote } => {
                (local, Some(remote))
            }
        }
    }
}
