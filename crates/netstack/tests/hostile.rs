//! What a hostile neighbor can send, and a hardened host ignores: pings to a
//! broadcast address, martian sources, IPv4 options that do not add up or name
//! a source route, and ARP that would bind an address to an impossible MAC.
//! Each is dropped, counted for its reason and never answered, while the same
//! traffic from a real neighbor still works.

mod common;

use common::*;
use netstack::{Counters, Drops};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, IpAddress, Ipv4Address, Ipv4Packet,
    UdpPacket,
};

const PORT: u16 = 2000;

/// The guest and the test's two ends of its link, with a clock.
struct Guest {
    stack: Stack,
    input: Port,
    output: Port,
    now: u64,
}

/// The guest, bound to [`PORT`], with the gateway in its ARP cache.
fn guest() -> Guest {
    let (mut stack, input, output) = tapped(8);
    stack.bind(PORT).unwrap();
    input.inject(&arp_request_for_guest());
    stack.poll(1);
    let replies = output.take_all();
    assert_eq!(replies.len(), 1, "the ARP request was not answered");
    Guest {
        stack,
        input,
        output,
        now: 1,
    }
}

impl Guest {
    /// Injects `frame`, polls at once and again 1.5 s later (when a stack that
    /// wanted to answer has resolved, retried or given up), and returns what
    /// the guest sent and how its drop counters moved.
    fn feed(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Drops) {
        let before = self.stack.counters();
        self.input.inject(frame);
        self.now += 10;
        self.stack.poll(self.now);
        self.now += 1_500;
        self.stack.poll(self.now);
        let after = self.stack.counters();
        assert_eq!(after.rx_frames, before.rx_frames + 1);
        (self.output.take_all(), drops_delta(&before, &after))
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> Result<(u32, u16, usize), netstack::Error> {
        self.stack.try_recv(PORT, buf)
    }

    /// Where the guest sends a datagram to the gateway: the destination MAC.
    fn gateway_mac_in_use(&mut self) -> [u8; 6] {
        self.stack.send(PORT, GW, 25099, b"where").unwrap();
        self.now += 10;
        self.stack.poll(self.now);
        let sent = self.output.take_all();
        assert_eq!(sent.len(), 1, "{sent:02x?}");
        let datagram = parse_udp(&sent[0]).expect("a datagram, not an ARP request");
        datagram.dst_mac
    }
}

fn drops_delta(before: &Counters, after: &Counters) -> Drops {
    let (b, a) = (before.drops, after.drops);
    Drops {
        malformed: a.malformed - b.malformed,
        unsupported: a.unsupported - b.unsupported,
        not_for_us: a.not_for_us - b.not_for_us,
        no_socket: a.no_socket - b.no_socket,
        queue_full: a.queue_full - b.queue_full,
        tx_ring_full: a.tx_ring_full - b.tx_ring_full,
        rx_ring_full: a.rx_ring_full - b.rx_ring_full,
        martian: a.martian - b.martian,
        unresolved: a.unresolved - b.unresolved,
    }
}

/// One drop for `reason`, and nothing else.
fn one(set: impl FnOnce(&mut Drops)) -> Drops {
    let mut d = Drops::default();
    set(&mut d);
    d
}

/// Recomputes the IPv4 header checksum and the UDP or ICMP checksum.
fn fix_checksums(frame: &mut [u8]) {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.fill_checksum();
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    match ip.next_header() {
        smoltcp::wire::IpProtocol::Udp => {
            UdpPacket::new_unchecked(ip.payload_mut()).fill_checksum(&src, &dst)
        }
        smoltcp::wire::IpProtocol::Icmp => {
            smoltcp::wire::Icmpv4Packet::new_unchecked(ip.payload_mut()).fill_checksum()
        }
        _ => {}
    }
}

/// `frame` with its IPv4 source and destination (and destination MAC) replaced.
fn readdressed(frame: &[u8], dst_mac: [u8; 6], src: Ipv4Address, dst: Ipv4Address) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[..6].copy_from_slice(&dst_mac);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    fix_checksums(&mut f);
    f
}

#[test]
fn pings_to_a_broadcast_address_are_not_answered() {
    let mut guest = guest();
    let ping = echo_request(7, 1, b"smurf");
    for (mac, dst) in [
        ([0xff; 6], Ipv4Address::BROADCAST),
        ([0xff; 6], Ipv4Address::new(10, 0, 2, 255)),
        (GUEST_MAC, Ipv4Address::new(10, 0, 2, 255)),
    ] {
        let frame = readdressed(&ping, mac, GW_IP, dst);
        let (sent, drops) = guest.feed(&frame);
        assert!(sent.is_empty(), "a ping to {dst} was answered: {sent:02x?}");
        assert_eq!(drops, one(|d| d.not_for_us = 1), "a ping to {dst}");
    }
    // A ping to the guest's own address is answered, in a broadcast frame too.
    for mac in [GUEST_MAC, [0xff; 6]] {
        let frame = readdressed(&ping, mac, GW_IP, GUEST_IP);
        let (sent, drops) = guest.feed(&frame);
        assert_eq!(sent.len(), 1, "the ping was not answered");
        assert_eq!(drops, Drops::default());
    }
}

#[test]
fn martian_sources_are_dropped_and_counted() {
    let mut guest = guest();
    let udp = udp_to_guest(53, PORT, b"martian");
    let ping = echo_request(9, 9, b"martian");
    for src in [
        GUEST_IP,
        Ipv4Address::UNSPECIFIED,
        Ipv4Address::new(0, 0, 0, 7),
        Ipv4Address::BROADCAST,
        Ipv4Address::new(10, 0, 2, 255),
        Ipv4Address::new(127, 0, 0, 1),
        Ipv4Address::new(224, 0, 0, 1),
        Ipv4Address::new(240, 0, 0, 1),
    ] {
        for frame in [&udp, &ping] {
            let frame = readdressed(frame, GUEST_MAC, src, GUEST_IP);
            let (sent, drops) = guest.feed(&frame);
            // Before, a datagram from the guest's own address made it ARP for itself.
            assert!(sent.is_empty(), "answered a frame from {src}: {sent:02x?}");
            assert_eq!(drops, one(|d| d.martian = 1), "a frame from {src}");
            assert!(guest.try_recv(&mut [0; 64]).is_err());
        }
    }
    // A frame from the guest's own MAC, or from a group MAC.
    for mac in [GUEST_MAC, [0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1]] {
        let mut frame = udp.clone();
        frame[6..12].copy_from_slice(&mac);
        let (sent, drops) = guest.feed(&frame);
        assert!(sent.is_empty());
        assert_eq!(drops, one(|d| d.martian = 1), "a frame from MAC {mac:02x?}");
    }
    // The same datagram from a real neighbor is delivered.
    let (_, drops) = guest.feed(&udp);
    assert_eq!(drops, Drops::default());
    let mut buf = [0; 64];
    let (from, _, n) = guest.try_recv(&mut buf).unwrap();
    assert_eq!((from, &buf[..n]), (GW, &b"martian"[..]));
}

/// A datagram to the guest's [`PORT`] with `options` (padded to 4 bytes) in
/// its IPv4 header.
fn with_options(options: &[u8]) -> Vec<u8> {
    let good = udp_to_guest(25099, PORT, b"options");
    let mut opts = options.to_vec();
    opts.resize(options.len().div_ceil(4) * 4, 0);
    let mut f = good[..34].to_vec();
    f.extend_from_slice(&opts);
    f.extend_from_slice(&good[34..]);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_header_len(20 + opts.len() as u8);
    ip.set_total_len((good.len() - 14 + opts.len()) as u16);
    ip.fill_checksum();
    f
}

#[test]
fn ipv4_options_that_do_not_add_up_are_malformed() {
    let mut guest = guest();
    for opts in [
        &[0x07, 0][..],         // length 0
        &[0x94, 1],             // length 1
        &[0x07, 40, 4],         // beyond the header
        &[1, 1, 1, 0x44],       // no length byte
        &[0x07, 7, 2, 0, 0, 0], // record route pointing into its own header
    ] {
        let (sent, drops) = guest.feed(&with_options(opts));
        assert!(sent.is_empty());
        assert_eq!(drops, one(|d| d.malformed = 1), "options {opts:02x?}");
        assert!(guest.try_recv(&mut [0; 64]).is_err());
    }
    // Loose and strict source routes, well formed: refused.
    for opts in [
        &[0x83, 7, 4, 10, 0, 2, 2, 0][..],
        &[0x89, 7, 4, 10, 0, 2, 2],
    ] {
        let (sent, drops) = guest.feed(&with_options(opts));
        assert!(sent.is_empty());
        assert_eq!(drops, one(|d| d.unsupported = 1), "options {opts:02x?}");
    }
    // Options that add up (no-ops, a router alert, a record route) are fine.
    let (_, drops) = guest.feed(&with_options(&[1, 0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0]));
    assert_eq!(drops, Drops::default());
    let mut buf = [0; 64];
    let (_, _, n) = guest.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"options");
}

/// An ARP message from the gateway's Ethernet address to the guest.
fn arp(op: ArpOperation, sender_mac: [u8; 6], sender_ip: Ipv4Address) -> Vec<u8> {
    let mut f = arp_request_for_guest();
    if op == ArpOperation::Reply {
        f[..6].copy_from_slice(&GUEST_MAC);
    }
    ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: EthernetAddress(sender_mac),
        source_protocol_addr: sender_ip,
        target_hardware_addr: EthernetAddress(if op == ArpOperation::Reply {
            GUEST_MAC
        } else {
            [0; 6]
        }),
        target_protocol_addr: GUEST_IP,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut f[14..]));
    f
}

#[test]
fn arp_never_binds_an_impossible_mac() {
    let mut guest = guest();
    for op in [ArpOperation::Reply, ArpOperation::Request] {
        for mac in [
            [0; 6],
            [0xff; 6],
            [0x01, 0x00, 0x5e, 0, 0, 1],
            [0x33, 0x33, 0, 0, 0, 1],
            GUEST_MAC,
        ] {
            let (sent, drops) = guest.feed(&arp(op, mac, GW_IP));
            assert!(
                sent.is_empty(),
                "{op:?} binding {mac:02x?} answered: {sent:02x?}"
            );
            assert_eq!(drops, one(|d| d.martian = 1), "{op:?} binding {mac:02x?}");
            assert_eq!(guest.gateway_mac_in_use(), GW_MAC);
        }
        // Nor the guest's own address, from whatever MAC.
        let (sent, drops) = guest.feed(&arp(op, [0x52, 0x54, 0, 0, 0, 9], GUEST_IP));
        assert!(sent.is_empty(), "{op:?} for our own address answered");
        assert_eq!(drops, one(|d| d.martian = 1));
    }
    // A real neighbor's binding still takes: the gateway moved.
    let moved = [0x52, 0x55, 0x0a, 0, 0, 9];
    let (_, drops) = guest.feed(&arp(ArpOperation::Reply, moved, GW_IP));
    assert_eq!(drops, Drops::default());
    assert_eq!(guest.gateway_mac_in_use(), moved);
}
