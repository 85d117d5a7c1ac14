//! `NetStack`: one interface, its sockets and its device, driven by `poll`.
//!
//! The kernel keeps one `NetStack` behind one lock and calls [`NetStack::poll`]
//! from the NIC interrupt and from the timer (when [`NetStack::poll_at`] says
//! work is due). `poll` moves frames in both directions, runs the sockets'
//! timers, and reports which sockets became readable or writable, so the
//! kernel wakes only their sleepers.
//!
//! Ingress, one frame at a time:
//!
//! ```text
//! RxRing::receive lends a frame
//!   -> counted, traced
//!   -> classify()           well formed? for us? ARP/ICMP/DHCP (smoltcp's), echo, UDP or TCP?
//!   -> admission            UDP/echo: which socket, room in its queue?  TCP: which socket?
//!   -> Interface::poll_ingress_single through a one-frame Phy
//!   -> smoltcp copies the payload into that socket's receive buffer
//! ```
//!
//! A dropped frame stops at the step that rejects it and is counted there.
//! A TCP segment that no socket takes is counted `NoSocket` but still given
//! to smoltcp, which answers it with a RST (that is how `connect` learns
//! "refused"). A SYN for a listener whose backlog is all busy replaces a
//! half-open connection that may go (a spoofed peer's: see `Tcp::make_room`,
//! and `Heard` for who counts as live), or else waits (a copy, in
//! `syn_wait.rs`) until `accept` frees a listener, for a few seconds at most,
//! then is dropped (`QueueFull`) and left to the client's retry. A RST or SYN
//! that a blind attacker could have sent on a connection is not delivered but
//! answered with a challenge ACK (`blind.rs`). docs/tcp.md has the timeouts.
//!
//! Then, once per poll: DHCP and TCP (listeners, orphans) upkeep,
//! egress, one doorbell per ring (`flush`: every frame of the round leaves
//! together), freeing the orphans that are done, and the readiness report.
//!
//! This file owns the public face and the pipeline (ingress, delivery to
//! smoltcp, egress, addressing, DHCP); two parts of `Core` live beside it:
//! `stack/arp.rs`, the neighbour hooks (ARP in, ARP requests out, what waits
//! for a next hop), and `stack/tcp_in.rs`, TCP admission (full backlogs,
//! blind segments, waiting SYNs, neighbours heard from).

mod arp;
mod tcp_in;

use alloc::vec;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use smoltcp::iface::{self, Interface};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::bsd::Bsd;
use crate::classify::{ETH_HEADER_LEN, Host, Verdict, classify};
use crate::counters::{Counters, DropReason};
use crate::device::{NetDevice, RxRing, TxRing};
use crate::dhcp::{Dhcp, Lease};
use crate::phy::{Asked, Phy, Tracer, TxSide};
use crate::socket::{Addressing, SocketMask, Sockets};
use crate::syn_wait::SynWait;
use crate::tcp_pool::SocketLimits;
use crate::trace::{Direction, trace_drop, trace_frame};
use tcp_in::Heard;

/// Most frames one `poll` takes from the driver, so that a flood cannot keep
/// the kernel in the interrupt handler; [`PollResult::rx_pending`] says when
/// the budget ran out.
pub const RX_BUDGET: usize = 64;

/// How the interface is addressed, and how big its sockets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// 0.0.0.0 for none yet (e.g. before DHCP).
    pub addr: Ipv4Address,
    pub prefix_len: u8,
    /// Where packets for other networks go.
    pub gateway: Option<Ipv4Address>,
    /// Seeds smoltcp's choices (TCP initial sequence numbers) and the first
    /// ephemeral port; should differ between boots.
    pub random_seed: u64,
    pub limits: SocketLimits,
}

impl Default for Config {
    /// QEMU's user network: 10.0.2.15/24 behind the gateway 10.0.2.2.
    fn default() -> Self {
        Config {
            addr: Ipv4Address::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
            random_seed: 0,
            limits: SocketLimits::default(),
        }
    }
}

/// What one `poll` changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// Sockets that became readable (data, a connection to accept, end of
    /// stream), hung up or failed.
    pub readable: SocketMask,
    /// Sockets that became writable (room again, connected), hung up or failed.
    pub writable: SocketMask,
    /// The RX budget ran out: frames may still wait; poll again soon.
    pub rx_pending: bool,
    /// DHCP acquired, changed or lost the interface's address.
    pub config_changed: bool,
}

/// How many sockets of each sort exist: for leak checks and `netstat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketCounts {
    /// Open socket ids (lab ports, BSD sockets).
    pub open: usize,
    /// smoltcp TCP sockets: connections, listeners, orphans.
    pub tcp: usize,
    /// Closed TCP connections still finishing their handshake.
    pub orphans: usize,
    /// Closed UDP sockets kept for reuse.
    pub spare_udp: usize,
    /// Every smoltcp socket, of any kind.
    pub smoltcp: usize,
}

/// The network stack of one NIC.
pub struct NetStack<D: NetDevice> {
    dev: D,
    core: Core,
}

/// Everything but the device, so that `poll` can lend the device's rings to
/// smoltcp while borrowing the rest.
struct Core {
    iface: Interface,
    sockets: Sockets,
    host: Host,
    gateway: Option<Ipv4Address>,
    side: TxSide,
    dhcp: Dhcp,
    /// SYNs that found every listener of their port busy.
    syn_wait: SynWait,
    /// A waiting frame, copied out to be delivered again (one frame long).
    replay: Vec<u8>,
    /// Neighbours that spoke ARP to us lately: live hosts, not spoofed sources.
    heard: Heard,
}

impl<D: NetDevice> NetStack<D> {
    /// The driver, for what the stack does not do itself (interrupt
    /// acknowledgement, device counters).
    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Brings up an interface on `dev` with a static address (or none).
    ///
    /// # Panics
    /// If the device's MAC address is not unicast (smoltcp refuses it), or its
    /// MTU is below IPv4's minimum of 576.
    pub fn new(mut dev: D, config: Config) -> Self {
        let mtu = dev.mtu();
        assert!(mtu >= 576, "an IPv4 link carries at least 576 bytes");
        let mac = EthernetAddress(dev.mac());
        let limits = config.limits.fitted_to(dev.rx_burst_limit(), mtu);
        let mut side = TxSide {
            counters: Counters::default(),
            tracer: None,
            scratch: vec![0; ETH_HEADER_LEN + mtu],
            asked: Asked::default(),
        };
        let mut iface_config = iface::Config::new(mac.into());
        iface_config.random_seed = config.random_seed;
        let (_, tx) = dev.split();
        let mut phy = Phy {
            rx: None,
            tx,
            side: &mut side,
            mtu,
        };
        let iface = Interface::new(iface_config, &mut phy, Instant::ZERO);
        let mut core = Core {
            iface,
            sockets: Sockets::new(mtu, limits, config.random_seed),
            host: Host {
                mac,
                ip: None,
                mtu,
                dhcp: false,
            },
            gateway: None,
            side,
            dhcp: Dhcp::new(),
            syn_wait: SynWait::new(),
            replay: Vec::with_capacity(ETH_HEADER_LEN + mtu),
            heard: Heard::new(),
        };
        core.set_ipv4(Some((config.addr, config.prefix_len)), config.gateway);
        NetStack { dev, core }
    }

    /// Moves frames: up to [`RX_BUDGET`] from the driver into the sockets,
    /// runs the sockets' timers, then sends whatever the sockets have into the
    /// TX ring, and rings each ring's doorbell once. `now_ms` is a monotonic
    /// clock in milliseconds.
    pub fn poll(&mut self, now_ms: u64) -> PollResult {
        let now = instant(now_ms);
        let mut result = PollResult::default();
        let core = &mut self.core;
        let (rx, tx) = self.dev.split();
        core.sockets.neighbors.set_now(now_ms);
        core.iface.poll_maintenance(now);
        let mut taken = 0;
        while taken < RX_BUDGET && rx.receive(|frame| core.ingress(now, frame, tx)).is_some() {
            taken += 1;
        }
        result.rx_pending = taken == RX_BUDGET;
        result.config_changed = core.dhcp_housekeeping();
        core.sockets.tcp_housekeeping(now_ms);
        core.replay_waiting_syns(now, tx);
        core.neighbor_upkeep(now, tx);
        core.egress(now, tx);
        // One doorbell per ring for the whole round (see device.rs): the frames
        // queued above leave now, and the RX slots taken go back to the NIC.
        tx.flush();
        rx.flush();
        core.sockets.tcp_reap(now_ms);
        (result.readable, result.writable) = core.sockets.report();
        result
    }

    /// When `poll` should run next even if no frame arrives (a retransmission,
    /// an ARP retry, a datagram waiting for a TX slot, a waiting SYN), in the
    /// same clock as `now_ms`; `None` when only a frame can create work.
    /// Never earlier than `now_ms`, which means "now".
    pub fn poll_at(&mut self, now_ms: u64) -> Option<u64> {
        let core = &mut self.core;
        let smoltcp = core
            .iface
            .poll_at(instant(now_ms), core.sockets.set())
            .map(|at| u64::try_from(at.total_millis()).unwrap_or(0));
        let ours = [
            smoltcp,
            core.sockets.next_deadline(),
            core.syn_wait.next_look(now_ms),
            core.sockets.neighbors.next_deadline(now_ms),
        ];
        ours.into_iter().flatten().min().map(|at| at.max(now_ms))
    }

    /// The counters, including the drops the NIC made itself.
    pub fn counters(&self) -> Counters {
        let mut counters = self.core.side.counters;
        counters.drops.rx_ring_full = self.dev.rx_missed();
        counters.drops.unresolved += self.core.sockets.neighbors.dropped;
        counters
    }

    /// How many sockets exist, by sort.
    pub fn socket_counts(&self) -> SocketCounts {
        let (open, tcp, orphans, spare_udp, smoltcp) = self.core.sockets.counts();
        SocketCounts {
            open,
            tcp,
            orphans,
            spare_udp,
            smoltcp,
        }
    }

    /// Installs (or with `None` removes) a sink for one trace line per layer
    /// of every frame received or sent; see [`crate::trace`].
    pub fn set_tracer(&mut self, tracer: Option<Tracer>) {
        self.core.side.tracer = tracer;
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.core.host.mac.0
    }

    /// The interface's IPv4 address and prefix length; 0.0.0.0/0 if none.
    pub fn ipv4(&self) -> (Ipv4Address, u8) {
        self.core
            .host
            .ip
            .map_or((Ipv4Address::UNSPECIFIED, 0), |ip| {
                (ip.address(), ip.prefix_len())
            })
    }

    /// The default gateway, if any.
    pub fn gateway(&self) -> Option<Ipv4Address> {
        self.core.gateway
    }

    /// Sets a static address (0.0.0.0 for none) and gateway, e.g. when DHCP
    /// gave nothing. Connections from the old address are dropped by smoltcp.
    pub fn set_ipv4(&mut self, addr: Ipv4Address, prefix_len: u8, gateway: Option<Ipv4Address>) {
        self.core.set_ipv4(Some((addr, prefix_len)), gateway);
    }

    /// Starts asking for a lease (once; again after `stop_dhcp`). The
    /// interface keeps its present address, if any, until a lease replaces it.
    /// See [`crate::dhcp`].
    pub fn start_dhcp(&mut self) {
        let core = &mut self.core;
        core.dhcp.start(core.sockets.set_mut());
        core.host.dhcp = core.dhcp.is_running();
    }

    /// Stops the DHCP client; the address it configured stays until changed.
    pub fn stop_dhcp(&mut self) {
        let core = &mut self.core;
        core.dhcp.stop(core.sockets.set_mut());
        core.host.dhcp = core.dhcp.is_running();
    }

    /// The DHCP lease in force, if any.
    pub fn dhcp_lease(&self) -> Option<Lease> {
        self.core.dhcp.lease().cloned()
    }

    /// The BSD socket operations; see [`crate::bsd`].
    pub fn bsd(&mut self) -> Bsd<'_> {
        let core = &mut self.core;
        let addr = core.addressing();
        Bsd::new(&mut core.sockets, core.iface.context(), addr)
    }

    /// The interface's address and gateway, for the net lab's sends.
    pub(crate) fn addressing(&self) -> Addressing {
        self.core.addressing()
    }

    /// The sockets, for the net lab's operations (`lab.rs`).
    pub(crate) fn sockets(&self) -> &Sockets {
        &self.core.sockets
    }

    pub(crate) fn sockets_mut(&mut self) -> &mut Sockets {
        &mut self.core.sockets
    }
}

fn instant(ms: u64) -> Instant {
    Instant::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn millis(now: Instant) -> u64 {
    u64::try_from(now.total_millis()).unwrap_or(0)
}

impl Core {
    /// Gives the interface `cidr` (none if `None` or 0.0.0.0) and a default
    /// route via `gateway`.
    fn set_ipv4(&mut self, cidr: Option<(Ipv4Address, u8)>, gateway: Option<Ipv4Address>) {
        let cidr = cidr
            .filter(|(addr, _)| !addr.is_unspecified())
            .map(|(addr, prefix_len)| Ipv4Cidr::new(addr, prefix_len));
        let gateway = cidr.and(gateway);
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some(cidr) = cidr {
                // Just cleared: there is room.
                let _ = addrs.push(IpCidr::Ipv4(cidr));
            }
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(gateway) = gateway {
            // The only route was just removed: there is room.
            let _ = routes.add_default_ipv4_route(gateway);
        }
        self.host.ip = cidr;
        self.gateway = gateway;
        // smoltcp empties its neighbour cache when its addresses change.
        self.sockets.neighbors.flush();
    }

    /// The interface's address and gateway, for socket operations' checks.
    fn addressing(&self) -> Addressing {
        Addressing {
            ip: self.host.ip,
            gateway: self.gateway,
        }
    }

    /// Applies what the DHCP client learnt since the last poll; true if the
    /// interface's configuration changed.
    fn dhcp_housekeeping(&mut self) -> bool {
        if !self.dhcp.poll(self.sockets.set_mut()) {
            return false;
        }
        match self.dhcp.lease() {
            Some(l) => {
                let (cidr, gateway) = ((l.addr, l.prefix_len), l.gateway);
                self.set_ipv4(Some(cidr), gateway);
            }
            None => self.set_ipv4(None, None),
        }
        true
    }

    /// One received frame, from the driver's slot to a socket (or a drop).
    fn ingress<T: TxRing>(&mut self, now: Instant, frame: &[u8], tx: &mut T) {
        let counters = &mut self.side.counters;
        counters.rx_frames += 1;
        counters.rx_bytes += frame.len() as u64;
        match frame.get(12..14) {
            Some([0x08, 0x06]) => counters.rx_arp += 1,
            Some([0x08, 0x00]) => counters.rx_ipv4 += 1,
            _ => {}
        }
        if let Some(out) = self.side.tracer.as_deref_mut() {
            // Trace output is best effort; see phy.rs.
            let _ = trace_frame(out, Direction::Rx, frame);
        }
        self.deliver(now, frame, tx);
    }

    /// A counted frame (or a waiting SYN let through): admission, then smoltcp.
    fn deliver<T: TxRing>(&mut self, now: Instant, frame: &[u8], tx: &mut T) {
        let mut receiver = None;
        let mut segment = None;
        let verdict = classify(frame, &self.host);
        if verdict == Ok(Verdict::Stack)
            && frame[12..14] == [0x08, 0x06]
            && !self.arp_in(now, frame, tx)
        {
            return;
        }
        if verdict.is_ok_and(|v| matches!(v, Verdict::Echo { request: true, .. }))
            && self.reply_waits(now, frame)
        {
            return;
        }
        let refreshes = self.refreshes(frame, verdict);
        let sockets = &mut self.sockets;
        match verdict {
            Ok(Verdict::Stack) => self.heard.note_arp(frame, millis(now)),
            Ok(Verdict::Udp {
                src,
                src_port,
                dst,
                dst_port,
            }) => match sockets.admit_udp(src, src_port, dst, dst_port) {
                Ok(id) => receiver = Some(id),
                Err(reason) => return self.discard(reason),
            },
            Ok(Verdict::Echo { ident, request }) => match sockets.admit_echo(ident, request) {
                Ok(id) => receiver = id,
                Err(reason) => return self.discard(reason),
            },
            Ok(Verdict::Tcp(seg)) => match self.admit_tcp(now, frame, seg, tx) {
                ControlFlow::Continue(admitted) => segment = admitted,
                ControlFlow::Break(()) => return,
            },
            Err(reason) => return self.discard(reason),
        }
        self.smoltcp_ingress(now, frame, tx);
        if let Some((ip, mac)) = refreshes {
            self.sockets.neighbors.refresh(ip, mac, millis(now));
        }
        if let Some(id) = receiver {
            self.sockets.after_datagram(id);
        }
        if let Some(a) = segment {
            self.sockets
                .after_segment(a.handle, a.before, &a.seg, a.fields, a.queued);
        }
    }

    /// Hands smoltcp one frame, admitted or made up in its place.
    fn smoltcp_ingress<T: TxRing>(&mut self, now: Instant, frame: &[u8], tx: &mut T) {
        let mut phy = Phy {
            rx: Some(frame),
            tx,
            side: &mut self.side,
            mtu: self.host.mtu,
        };
        self.iface
            .poll_ingress_single(now, &mut phy, self.sockets.set_mut());
    }

    fn discard(&mut self, reason: DropReason) {
        self.side.counters.drops.add(reason);
        if let Some(out) = self.side.tracer.as_deref_mut() {
            let _ = trace_drop(out, Direction::Rx, reason);
        }
    }

    /// Sends what the sockets hold until they are empty or the TX ring is full.
    fn egress<T: TxRing>(&mut self, now: Instant, tx: &mut T) {
        let mut phy = Phy {
            rx: None,
            tx,
            side: &mut self.side,
            mtu: self.host.mtu,
        };
        // Each round sends at most one packet per socket.
        while self
            .iface
            .poll_egress(now, &mut phy, self.sockets.set_mut())
            == iface::PollResult::SocketStateChanged
        {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NIC on an empty wire whose TX ring is always busy.
    struct Quiet;

    impl RxRing for Quiet {
        fn receive<R>(&mut self, _: impl FnOnce(&[u8]) -> R) -> Option<R> {
            None
        }

        fn flush(&mut self) {}
    }

    impl TxRing for Quiet {
        fn can_transmit(&self) -> bool {
            false
        }

        fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, _: usize, f: F) -> Result<R, F> {
            Err(f)
        }

        fn flush(&mut self) {}
    }

    struct QuietNic(Quiet, Quiet);

    impl NetDevice for QuietNic {
        type Rx = Quiet;
        type Tx = Quiet;

        fn mac(&self) -> [u8; 6] {
            [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
        }

        fn mtu(&self) -> usize {
            1500
        }

        fn rx_missed(&self) -> u64 {
            7
        }

        fn rx_burst_limit(&self) -> Option<usize> {
            None
        }

        fn split(&mut self) -> (&mut Quiet, &mut Quiet) {
            (&mut self.0, &mut self.1)
        }
    }

    /// The kernel keeps the stack in a static behind a spinlock: it must be `Send`.
    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn an_idle_stack_does_nothing_and_reports_nic_drops() {
        let mut stack = NetStack::new(QuietNic(Quiet, Quiet), Config::default());
        is_send(&stack);
        assert_eq!(stack.poll(0), PollResult::default());
        assert_eq!(stack.poll_at(0), None);
        assert_eq!(stack.counters().drops.rx_ring_full, 7);
    }
}
