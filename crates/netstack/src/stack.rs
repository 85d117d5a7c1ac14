//! `NetStack`: one interface, its sockets and its device, driven by `poll`.
//!
//! The kernel keeps one `NetStack` behind one lock and calls [`NetStack::poll`]
//! from the NIC interrupt and from the timer (when [`NetStack::poll_at`] says
//! work is due). `poll` moves frames in both directions and reports which
//! sockets became readable or writable, so the kernel wakes only their sleepers.
//!
//! Ingress, one frame at a time:
//!
//! ```text
//! RxRing::receive lends a frame
//!   -> counted, traced
//!   -> classify()           well formed? for us? ARP/ICMP (smoltcp's) or UDP?
//!   -> SocketTable::admit() which socket? room in its 16-datagram queue?
//!   -> Interface::poll_ingress_single through a one-frame Phy
//!   -> smoltcp copies the payload into that UDP socket's receive buffer
//! ```
//!
//! A dropped frame stops at the step that rejects it and is counted there.

use alloc::vec;

use smoltcp::iface::{self, Interface, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::classify::{ETH_HEADER_LEN, Host, Verdict, classify};
use crate::counters::{Counters, DropReason};
use crate::device::{NetDevice, RxRing, TxRing};
use crate::phy::{Phy, Tracer, TxSide};
use crate::socket::{SocketMask, SocketTable};
use crate::trace::{Direction, trace_drop, trace_frame};

/// Most frames one `poll` takes from the driver, so that a flood cannot keep
/// the kernel in the interrupt handler; [`PollResult::rx_pending`] says when
/// the budget ran out.
pub const RX_BUDGET: usize = 64;

/// How the interface is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub addr: Ipv4Address,
    pub prefix_len: u8,
    /// Where packets for other networks go.
    pub gateway: Option<Ipv4Address>,
    /// Seeds smoltcp's choices (e.g. TCP initial sequence numbers later);
    /// should differ between boots.
    pub random_seed: u64,
}

impl Default for Config {
    /// QEMU's user network: 10.0.2.15/24 behind the gateway 10.0.2.2.
    fn default() -> Self {
        Config {
            addr: Ipv4Address::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
            random_seed: 0,
        }
    }
}

/// What one `poll` changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// Sockets that received at least one datagram.
    pub readable: SocketMask,
    /// Sockets whose full send queue got room again.
    pub writable: SocketMask,
    /// The RX budget ran out: frames may still wait; poll again soon.
    pub rx_pending: bool,
}

/// The network stack of one NIC.
pub struct NetStack<D: NetDevice> {
    pub(crate) dev: D,
    pub(crate) core: Core,
}

/// Everything but the device, so that `poll` can lend the device's rings to
/// smoltcp while borrowing the rest.
pub(crate) struct Core {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub table: SocketTable,
    pub host: Host,
    pub side: TxSide,
}

impl<D: NetDevice> NetStack<D> {
    /// The driver, for what the stack does not do itself (interrupt
    /// acknowledgement, device counters).
    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Brings up an interface on `dev` with a static address.
    ///
    /// # Panics
    /// If the device's MAC address is not unicast (smoltcp refuses it), or its
    /// MTU is below IPv4's minimum of 576.
    pub fn new(mut dev: D, config: Config) -> Self {
        let mtu = dev.mtu();
        assert!(mtu >= 576, "an IPv4 link carries at least 576 bytes");
        let mac = EthernetAddress(dev.mac());
        let host = Host {
            mac,
            ip: Ipv4Cidr::new(config.addr, config.prefix_len),
            mtu,
        };
        let mut side = TxSide {
            counters: Counters::default(),
            tracer: None,
            scratch: vec![0; ETH_HEADER_LEN + mtu],
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
        let mut iface = Interface::new(iface_config, &mut phy, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            // A new interface has no address yet, and room for two.
            let _ = addrs.push(IpCidr::Ipv4(host.ip));
        });
        if let Some(gateway) = config.gateway {
            // The route table is empty, so this cannot be full.
            let _ = iface.routes_mut().add_default_ipv4_route(gateway);
        }
        NetStack {
            dev,
            core: Core {
                iface,
                sockets: SocketSet::new(vec![]),
                table: SocketTable::new(mtu),
                host,
                side,
            },
        }
    }

    /// Moves frames: up to [`RX_BUDGET`] from the driver into the sockets,
    /// then whatever the sockets have to send into the TX ring. `now_ms` is a
    /// monotonic clock in milliseconds (ARP timeouts, retransmissions).
    pub fn poll(&mut self, now_ms: u64) -> PollResult {
        let now = instant(now_ms);
        let mut result = PollResult::default();
        let core = &mut self.core;
        let (rx, tx) = self.dev.split();
        core.iface.poll_maintenance(now);
        let mut taken = 0;
        while taken < RX_BUDGET
            && rx
                .receive(|frame| core.ingress(now, frame, tx, &mut result))
                .is_some()
        {
            taken += 1;
        }
        result.rx_pending = taken == RX_BUDGET;
        core.egress(now, tx, &mut result);
        result
    }

    /// When `poll` should run next even if no frame arrives (an ARP retry,
    /// a datagram waiting for a TX slot), in the same clock as `now_ms`;
    /// `None` when only a frame can create work. Never earlier than `now_ms`,
    /// which means "now".
    pub fn poll_at(&mut self, now_ms: u64) -> Option<u64> {
        let core = &mut self.core;
        let at = core.iface.poll_at(instant(now_ms), &core.sockets)?;
        Some(u64::try_from(at.total_millis()).map_or(now_ms, |at| at.max(now_ms)))
    }

    /// The counters, including the drops the NIC made itself.
    pub fn counters(&self) -> Counters {
        let mut counters = self.core.side.counters;
        counters.drops.rx_ring_full = self.dev.rx_missed();
        counters
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

    /// The interface's IPv4 address and prefix length.
    pub fn ipv4(&self) -> (Ipv4Address, u8) {
        let ip = self.core.host.ip;
        (ip.address(), ip.prefix_len())
    }
}

fn instant(ms: u64) -> Instant {
    Instant::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

impl Core {
    /// One received frame, from the driver's slot to a socket (or a drop).
    fn ingress<T: TxRing>(
        &mut self,
        now: Instant,
        frame: &[u8],
        tx: &mut T,
        result: &mut PollResult,
    ) {
        let counters = &mut self.side.counters;
        counters.rx_frames += 1;
        counters.rx_bytes += frame.len() as u64;
        if let Some(out) = self.side.tracer.as_deref_mut() {
            // Trace output is best effort; see phy.rs.
            let _ = trace_frame(out, Direction::Rx, frame);
        }
        let receiver = match classify(frame, &self.host) {
            Ok(Verdict::Stack) => None,
            Ok(Verdict::Udp {
                src,
                src_port,
                dst_port,
            }) => match self.table.admit(src, src_port, dst_port) {
                Ok(id) => Some(id),
                Err(reason) => return self.discard(reason),
            },
            Err(reason) => return self.discard(reason),
        };
        let mut phy = Phy {
            rx: Some(frame),
            tx,
            side: &mut self.side,
            mtu: self.host.mtu,
        };
        self.iface
            .poll_ingress_single(now, &mut phy, &mut self.sockets);
        if let Some(id) = receiver {
            // classify() admits only what smoltcp accepts, and the socket has
            // room for every admitted datagram: it must have arrived.
            debug_assert!(
                self.sockets
                    .get::<udp::Socket>(self.table.handle(id))
                    .can_recv()
            );
            result.readable.insert(id);
        }
    }

    fn discard(&mut self, reason: DropReason) {
        self.side.counters.drops.add(reason);
        if let Some(out) = self.side.tracer.as_deref_mut() {
            let _ = trace_drop(out, Direction::Rx, reason);
        }
    }

    /// Sends what the sockets hold until they are empty or the TX ring is full.
    fn egress<T: TxRing>(&mut self, now: Instant, tx: &mut T, result: &mut PollResult) {
        let mut blocked = SocketMask::default();
        for (id, handle) in self.table.open_sockets() {
            if !self.sockets.get::<udp::Socket>(handle).can_send() {
                blocked.insert(id);
            }
        }
        let mut phy = Phy {
            rx: None,
            tx,
            side: &mut self.side,
            mtu: self.host.mtu,
        };
        // Each round sends at most one datagram per socket.
        while self.iface.poll_egress(now, &mut phy, &mut self.sockets)
            == iface::PollResult::SocketStateChanged
        {}
        for id in blocked.iter() {
            if self
                .sockets
                .get::<udp::Socket>(self.table.handle(id))
                .can_send()
            {
                result.writable.insert(id);
            }
        }
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
    }

    impl TxRing for Quiet {
        fn can_transmit(&self) -> bool {
            false
        }

        fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, _: usize, f: F) -> Result<R, F> {
            Err(f)
        }
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
