//! The neighbour hooks of ingress and `poll`: where the stack steps in around
//! smoltcp's ARP, with the mirror and the waiting packets `neighbor.rs` keeps.
//!
//! - `Core::arp_in`: whether an ARP packet for us reaches smoltcp (which learns its
//!   sender) or is answered or dropped here, so that strangers cannot push live
//!   entries out of smoltcp's small cache;
//! - `Core::reply_waits`: an echo request whose reply has no known next hop waits for
//!   it, rather than smoltcp building a reply that is then dropped;
//! - `Core::refreshes`: which entry smoltcp renews when it takes a frame, so that the
//!   mirror changes with it;
//! - `Core::neighbor_upkeep`: once per poll, ARP requests for the next hops being
//!   resolved, and what waited for those that answered.

use smoltcp::phy::TxToken as _;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, Ipv4Address,
};

use super::{Core, millis};
use crate::classify::{ETH_HEADER_LEN, Verdict};
use crate::counters::DropReason;
use crate::device::TxRing;
use crate::neighbor::Waiting;
use crate::phy::{TxSide, TxToken};

/// The IPv4 source address and Ethernet source of a frame `classify` accepted as IPv4.
fn ipv4_source(frame: &[u8]) -> (Ipv4Address, EthernetAddress) {
    let at = ETH_HEADER_LEN + 12;
    let src = Ipv4Address::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    (src, EthernetAddress::from_bytes(&frame[6..12]))
}

/// Sends an ARP packet of ours, `us` (MAC, address) to `them` (for a request: the
/// broadcast MAC and the address asked for).
fn send_arp<T: TxRing>(
    tx: &mut T,
    side: &mut TxSide,
    operation: ArpOperation,
    us: (EthernetAddress, Ipv4Address),
    them: (EthernetAddress, Ipv4Address),
) {
    let repr = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: us.0,
        source_protocol_addr: us.1,
        target_hardware_addr: them.0,
        target_protocol_addr: them.1,
    };
    let len = ETH_HEADER_LEN + repr.buffer_len();
    TxToken::ours(tx, side).consume(len, |buf| {
        let mut eth = EthernetFrame::new_unchecked(buf);
        eth.set_dst_addr(them.0);
        eth.set_src_addr(us.0);
        eth.set_ethertype(EthernetProtocol::Arp);
        repr.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    });
}

impl Core {
    /// An ARP packet smoltcp would take (for us, from our subnet): whether to hand it
    /// on. smoltcp learns the sender of every one, and when its cache is full pushes
    /// out the entry closest to expiry, the gateway's as readily as any. So a stranger
    /// is handed on only if that pushes out nothing live, or if it answers a request
    /// of ours or smoltcp's; else a request is answered here, unlearnt, and a reply is
    /// dropped (`NotForUs`, as Linux ignores unsolicited replies).
    pub(super) fn arp_in<T: TxRing>(&mut self, now: Instant, frame: &[u8], tx: &mut T) -> bool {
        let ms = millis(now);
        let parsed =
            ArpPacket::new_checked(&frame[ETH_HEADER_LEN..]).and_then(|p| ArpRepr::parse(&p));
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: mac,
            source_protocol_addr: ip,
            ..
        }) = parsed
        else {
            return true; // classify accepted it: cannot happen
        };
        let n = &mut self.sockets.neighbors;
        let asked = n.is_resolving(ip) || self.side.asked.lately(ip, ms);
        if n.learns_freely(ip, ms) || (operation == ArpOperation::Reply && asked) {
            n.fill(ip, mac, ms);
            return true;
        }
        if operation == ArpOperation::Request {
            if let Some(me) = self.host.ip {
                let us = (self.host.mac, me.address());
                send_arp(tx, &mut self.side, ArpOperation::Reply, us, (mac, ip));
            }
        } else {
            self.discard(DropReason::NotForUs);
        }
        false
    }

    /// Whether an echo request must wait for its sender's next hop (and now does): the
    /// reply smoltcp builds at once would be dropped while it asks for the neighbour.
    pub(super) fn reply_waits(&mut self, now: Instant, frame: &[u8]) -> bool {
        let (src, mac) = ipv4_source(frame);
        let addr = self.addressing();
        let Some(hop) = addr.next_hop(src).filter(|&hop| !addr.is_me(hop)) else {
            return false;
        };
        let n = &mut self.sockets.neighbors;
        // smoltcp renews the sender's entry from this very frame before it replies.
        if (hop == src && n.would_refresh(src, mac)) || n.lookup(hop, millis(now)).is_some() {
            return false;
        }
        n.hold(hop, Waiting::Frame, frame);
        true
    }

    /// The (address, MAC) whose neighbour entry smoltcp renews when it takes this frame:
    /// the sender of a unicast IPv4 frame to us, unless the DHCP client consumes it first.
    pub(super) fn refreshes(
        &self,
        frame: &[u8],
        verdict: Result<Verdict, DropReason>,
    ) -> Option<(Ipv4Address, EthernetAddress)> {
        // Only an accepted frame reaches smoltcp; it is at least an Ethernet header long.
        if verdict.is_err() {
            return None;
        }
        let ipv4 = frame[12..14] == [0x08, 0x00];
        let dhcp = verdict == Ok(Verdict::Stack) && frame.get(ETH_HEADER_LEN + 9) == Some(&17);
        let to_me = frame
            .get(ETH_HEADER_LEN + 16..ETH_HEADER_LEN + 20)
            .is_some_and(|d| self.host.ip.is_some_and(|c| c.address().octets() == d));
        (ipv4 && !dhcp && to_me).then(|| ipv4_source(frame))
    }

    /// Probes and give-ups of the next hops being resolved, then what waited for
    /// those that answered: frames delivered again, datagrams into their sockets.
    pub(super) fn neighbor_upkeep<T: TxRing>(&mut self, now: Instant, tx: &mut T) {
        let ms = millis(now);
        let Core {
            sockets,
            side,
            host,
            ..
        } = self;
        let n = &mut sockets.neighbors;
        side.asked.take_new(|ip, t| n.smoltcp_asked(ip, t));
        n.upkeep(ms, |hop| {
            let Some(me) = host.ip else {
                return true; // nothing to ask with: let it give up
            };
            if !tx.can_transmit() {
                return false;
            }
            let us = (host.mac, me.address());
            send_arp(
                tx,
                side,
                ArpOperation::Request,
                us,
                (EthernetAddress::BROADCAST, hop),
            );
            true
        });
        while let Some(i) = self.sockets.neighbors.next_ready_frame(ms) {
            let mut frame = core::mem::take(&mut self.replay);
            frame.clear();
            frame.extend_from_slice(self.sockets.neighbors.bytes(i));
            self.sockets.neighbors.release(i);
            self.deliver(now, &frame, tx);
            self.replay = frame;
        }
        self.sockets.release_datagrams(ms);
    }
}
