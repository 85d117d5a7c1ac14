//! The smoltcp TCP sockets as a resource: how many exist and how big they are
//! ([`SocketLimits`]), and the orphans, closed sockets still finishing their
//! FIN handshake that no socket-table entry owns any more.
//!
//! A `close` turns a connection's smoltcp socket into an orphan, which every
//! poll keeps draining until the handshake is done and then frees (TIME-WAIT is
//! not kept: a late retransmitted FIN gets a RST); one still open after
//! `orphan_timeout_ms` is aborted. At most `max_tcp` sockets exist
//! (connections, listeners and orphans together); beyond that, opening one
//! fails with `ENOBUFS`.

use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use abi::errno::*;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::AnySocket;
use smoltcp::socket::tcp::{self, State as S};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use crate::blind::SeqTable;
use crate::classify::Segment;

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

/// IPv4 and TCP headers without options: a full segment carries the MTU less these.
const TCP_IP_HEADERS: usize = 40;

impl SocketLimits {
    /// The limits for a NIC that loses received frames beyond `burst` waiting ones
    /// ([`NetDevice::rx_burst_limit`](crate::NetDevice::rx_burst_limit)) on a link of
    /// `mtu` bytes: each TCP receive window holds at most `burst` full segments.
    ///
    /// A peer may send a whole window back to back, faster than any poll takes the
    /// frames (QEMU's user network does, from one read of the host's socket); a window
    /// of more segments than the NIC can hold loses the excess at the card, and a
    /// sender without selective acknowledgements recovers several losses in one window
    /// only by its retransmission timeout. Smaller windows cost nothing on a link
    /// whose round trip is a fraction of a millisecond.
    pub fn fitted_to(self, burst: Option<usize>, mtu: usize) -> SocketLimits {
        let Some(frames) = burst else {
            return self;
        };
        let mss = mtu.saturating_sub(TCP_IP_HEADERS).max(1);
        SocketLimits {
            tcp_rx_buffer: self.tcp_rx_buffer.min(frames.max(1) * mss),
            ..self
        }
    }
}

/// After aborting an orphan, how long its RST may wait for a TX slot.
const ABORT_GRACE_MS: u64 = 1_000;

pub(crate) fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// What smoltcp listens on for a socket bound to `local` (0.0.0.0: any address).
pub(crate) fn listen_endpoint(local: SocketAddrV4) -> IpListenEndpoint {
    IpListenEndpoint {
        addr: (!local.ip().is_unspecified()).then_some(IpAddress::Ipv4(*local.ip())),
        port: local.port(),
    }
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

/// The smoltcp socket that will take `seg`, and its state before.
pub(crate) fn acceptor(sockets: &SocketSet<'static>, seg: &Segment) -> Option<(SocketHandle, S)> {
    sockets.iter().find_map(|(handle, socket)| {
        let s = tcp::Socket::downcast(socket)?;
        accepts(s, seg).then_some((handle, s.state()))
    })
}

/// A closed socket's smoltcp socket, finishing its handshake.
struct Orphan {
    handle: SocketHandle,
    /// When to give up; set by the first poll after the close.
    deadline: Option<u64>,
}

/// The smoltcp TCP sockets: how many exist, of what size, and the orphans.
pub(crate) struct TcpPool {
    limits: SocketLimits,
    count: usize,
    orphans: Vec<Orphan>,
    /// RCV.NXT of the synchronized connections (see `blind.rs`).
    pub(crate) seqs: SeqTable,
}

impl TcpPool {
    pub(crate) fn new(limits: SocketLimits) -> Self {
        TcpPool {
            limits,
            count: 0,
            // Orphans count against max_tcp, so this never grows: the heap in use stays
            // the same however many close at once (the leak checks compare it exactly).
            orphans: Vec::with_capacity(limits.max_tcp),
            seqs: SeqTable::new(limits.max_tcp),
        }
    }

    pub(crate) fn limits(&self) -> &SocketLimits {
        &self.limits
    }

    /// A new smoltcp TCP socket, closed; `ENOBUFS` at `max_tcp`.
    pub(crate) fn add(&mut self, sockets: &mut SocketSet<'static>) -> Result<SocketHandle, Errno> {
        if self.count >= self.limits.max_tcp {
            return Err(ENOBUFS);
        }
        self.count += 1;
        let rx = tcp::SocketBuffer::new(vec![0; self.limits.tcp_rx_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0; self.limits.tcp_tx_buffer]);
        Ok(sockets.add(tcp::Socket::new(rx, tx)))
    }

    /// A listener on `local`, with the connection timeout for half-open connections.
    pub(crate) fn add_listener(
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

    pub(crate) fn free(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        sockets.remove(handle);
        self.seqs.forget(handle);
        self.count -= 1;
    }

    /// Drops whatever connection listener `handle` holds (without a RST) and
    /// makes it listen on `local` again; returns its new handle. The socket is
    /// taken out of smoltcp's set and put back: smoltcp keeps, beside each
    /// socket, how long it must stay silent because its peer did not answer
    /// ARP, and a spoofed peer's silence must not delay the next real one.
    pub(crate) fn relisten(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        local: SocketAddrV4,
    ) -> SocketHandle {
        self.seqs.forget(handle);
        let mut s = match sockets.remove(handle) {
            smoltcp::socket::Socket::Tcp(s) => s,
            // Only TCP sockets are handed here; put anything else back.
            other => return sockets.add(other),
        };
        s.abort();
        // Closed, with a port: this cannot fail, and clears the peer.
        let _ = s.listen(listen_endpoint(local));
        sockets.add(s)
    }

    /// Hands a closed (or aborted) socket to the pool, to finish alone.
    pub(crate) fn orphan(&mut self, handle: SocketHandle) {
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
    pub(crate) fn orphan_port(&self, sockets: &SocketSet<'static>, port: u16) -> bool {
        self.orphans.iter().any(|o| {
            let s = sockets.get::<tcp::Socket>(o.handle);
            s.local_endpoint().is_some_and(|l| l.port == port)
        })
    }

    /// Before egress, once per poll: drains the orphans and aborts those past
    /// their deadline.
    pub(crate) fn tend_orphans(&mut self, sockets: &mut SocketSet<'static>, now: u64) {
        for orphan in &mut self.orphans {
            let s = sockets.get_mut::<tcp::Socket>(orphan.handle);
            // Nobody will read it; keep the window open so the peer can finish.
            let _ = s.recv(|data| (data.len(), ()));
            let deadline = *orphan
                .deadline
                .get_or_insert(now + self.limits.orphan_timeout_ms);
            if now >= deadline && s.state() != S::Closed {
                s.abort();
                orphan.deadline = Some(now + ABORT_GRACE_MS);
            }
        }
    }

    /// After egress, once per poll: frees the orphans that are done. One in
    /// TIME-WAIT is done once it has sent its last ACK, which egress just did
    /// (unless every TX slot was busy: then a retransmitted FIN gets a RST).
    pub(crate) fn reap(&mut self, sockets: &mut SocketSet<'static>, now: u64) {
        let mut i = 0;
        while i < self.orphans.len() {
            let orphan = &self.orphans[i];
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
                let handle = self.orphans.swap_remove(i).handle;
                self.free(sockets, handle);
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fits_the_frames_the_card_holds() {
        let limits = SocketLimits::default();
        assert_eq!(limits.fitted_to(None, 1500), limits);
        let fitted = limits.fitted_to(Some(15), 1500);
        assert_eq!(fitted.tcp_rx_buffer, 15 * 1460);
        assert_eq!(fitted.tcp_tx_buffer, limits.tcp_tx_buffer);
        assert_eq!(limits.fitted_to(Some(255), 1500), limits, "never larger");
        assert_eq!(limits.fitted_to(Some(0), 576).tcp_rx_buffer, 536);
    }
}
