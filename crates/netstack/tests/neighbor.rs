//! Neighbours that are unknown, silent or many: the first packet to a neighbour not yet
//! resolved waits for its ARP reply instead of being lost; a datagram to a neighbour that
//! never answers gives up after three probes and holds up nobody else; a storm of ARP
//! requests from strangers leaves the gateway's entry alone.

mod common;

use common::*;
use netstack::SockKind;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address,
};

const STRANGER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x4d];
const STRANGER: Ipv4Address = Ipv4Address::new(10, 0, 2, 77);
const SILENT: Ipv4Address = Ipv4Address::new(10, 0, 2, 99);

/// An ARP packet from `mac`/`ip` to the guest.
fn arp_from(op: ArpOperation, mac: [u8; 6], ip: Ipv4Address) -> Vec<u8> {
    let dst = if op == ArpOperation::Request {
        [0xff; 6]
    } else {
        GUEST_MAC
    };
    let mut buf = vec![0; 42];
    EthernetRepr {
        src_addr: EthernetAddress(mac),
        dst_addr: EthernetAddress(dst),
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: EthernetAddress(mac),
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress(if op == ArpOperation::Request {
            [0; 6]
        } else {
            GUEST_MAC
        }),
        target_protocol_addr: GUEST_IP,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut buf[14..]));
    buf
}

/// An echo request from `mac`/`ip` to the guest.
fn ping_from(mac: [u8; 6], ip: Ipv4Address, seq_no: u16) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0x4d4d,
        seq_no,
        data: b"first",
    };
    let mut buf = ipv4(GUEST_MAC, ip, GUEST_IP, IpProtocol::Icmp, icmp.buffer_len());
    buf[6..12].copy_from_slice(&mac);
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[34..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// (destination MAC, sequence number) of an echo reply.
fn echo_reply(frame: &[u8]) -> Option<([u8; 6], u16)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = smoltcp::wire::Ipv4Packet::new_checked(eth.payload()).ok()?;
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    match Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).ok()? {
        Icmpv4Repr::EchoReply { seq_no, .. } => Some((eth.dst_addr().0, seq_no)),
        _ => None,
    }
}

/// The addresses the guest's ARP requests in `frames` ask for.
fn asked(frames: &[Vec<u8>]) -> Vec<Ipv4Address> {
    frames
        .iter()
        .filter_map(|f| parse_arp(f))
        .filter(|a| a.0 == ArpOperation::Request)
        .map(|a| a.3)
        .collect()
}

#[test]
fn the_first_ping_from_an_unknown_neighbour_is_answered_once_it_resolves() {
    let (mut guest, input, output) = tapped(8);
    input.inject(&ping_from(STRANGER_MAC, STRANGER, 1));
    guest.poll(0);
    let out = output.take_all();
    assert_eq!(asked(&out), [STRANGER], "{out:02x?}");
    assert!(out.iter().all(|f| echo_reply(f).is_none()));
    input.inject(&arp_from(ArpOperation::Reply, STRANGER_MAC, STRANGER));
    guest.poll(5);
    let out = output.take_all();
    assert_eq!(
        out.iter().filter_map(|f| echo_reply(f)).collect::<Vec<_>>(),
        [(STRANGER_MAC, 1)]
    );
    let c = guest.counters();
    assert_eq!(c.drops, Default::default());
    assert_eq!(guest.poll_at(5), None);
}

#[test]
fn pings_from_a_neighbour_that_never_answers_give_up_after_three_probes() {
    let (mut guest, input, output) = tapped(8);
    for seq in 1..=5 {
        input.inject(&ping_from(STRANGER_MAC, STRANGER, seq));
    }
    let mut now = 0;
    let mut probes = 0;
    while now < 10_000 {
        guest.poll(now);
        let out = output.take_all();
        probes += asked(&out).len();
        assert!(out.iter().all(|f| echo_reply(f).is_none()));
        now = guest.poll_at(now).unwrap_or(10_000).max(now + 1);
    }
    assert_eq!(probes, 3);
    // Three waited (the first two made room for newer ones), then gave up.
    assert_eq!(guest.counters().drops.unresolved, 5);
    assert_eq!(guest.poll_at(now), None);
}

#[test]
fn a_datagram_to_a_silent_neighbour_holds_up_nobody_else() {
    let (mut guest, input, output) = tapped(16);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    let mut bsd = guest.bsd();
    let id = bsd.open(SockKind::Datagram).unwrap();
    bsd.bind(id, sa(Ipv4Address::UNSPECIFIED, 7)).unwrap();
    bsd.try_sendto(id, b"to the silent one", sa(SILENT, 4000))
        .unwrap();
    bsd.try_sendto(id, b"to the gateway", sa(GW_IP, 4000))
        .unwrap();
    // The lab's sends go the same way.
    guest
        .send(2000, u32::from(SILENT), 4000, b"lab, silent")
        .unwrap();
    guest.send(2000, GW, 4000, b"lab, gateway").unwrap();
    guest.poll(10);
    let out = output.take_all();
    let to_gw: Vec<_> = out
        .iter()
        .filter_map(|f| parse_udp(f))
        .map(|d| (d.dst_mac, d.payload))
        .collect();
    assert_eq!(
        to_gw,
        [
            (GW_MAC, b"to the gateway".to_vec()),
            (GW_MAC, b"lab, gateway".to_vec())
        ]
    );
    assert_eq!(asked(&out), [SILENT]);
    // Probes a second apart, three in all, then the two datagrams are dropped and counted.
    let mut now = 10;
    let mut probes = 1;
    while now < 10_000 {
        now = guest.poll_at(now).unwrap_or(10_000).max(now + 1);
        guest.poll(now);
        let out = output.take_all();
        assert!(out.iter().all(|f| parse_udp(f).is_none()), "{out:02x?}");
        probes += asked(&out).len();
        if guest.counters().drops.unresolved > 0 {
            break;
        }
    }
    assert_eq!(probes, 3);
    assert!((3_000..3_100).contains(&now), "gave up at {now} ms");
    assert_eq!(guest.counters().drops.unresolved, 2);
    assert_eq!(guest.poll_at(now), None);
}

#[test]
fn a_datagram_to_a_new_neighbour_leaves_when_it_answers() {
    let (mut guest, input, output) = tapped(16);
    guest
        .send(2000, u32::from(STRANGER), 4000, b"hello")
        .unwrap();
    guest.poll(0);
    assert_eq!(asked(&output.take_all()), [STRANGER]);
    input.inject(&arp_from(ArpOperation::Reply, STRANGER_MAC, STRANGER));
    guest.poll(700);
    let sent: Vec<_> = output
        .take_all()
        .iter()
        .filter_map(|f| parse_udp(f))
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].dst_mac, sent[0].dst), (STRANGER_MAC, STRANGER));
    assert_eq!(guest.counters().drops, Default::default());
}

#[test]
fn an_echo_socket_waits_like_a_udp_socket() {
    let (mut guest, input, output) = tapped(16);
    let mut bsd = guest.bsd();
    let id = bsd.open(SockKind::Echo).unwrap();
    // smoltcp fills in the identifier and the checksum.
    let request = [8, 0, 0, 0, 0, 0, 0, 1, b'p'];
    bsd.try_sendto(id, &request, sa(STRANGER, 0)).unwrap();
    guest.poll(0);
    assert_eq!(asked(&output.take_all()), [STRANGER]);
    input.inject(&arp_from(ArpOperation::Reply, STRANGER_MAC, STRANGER));
    guest.poll(3);
    let out = output.take_all();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][..6], STRANGER_MAC);
    assert_eq!(out[0][34], 8, "an echo request");
}

#[test]
fn an_arp_storm_leaves_the_gateway_in_the_cache() {
    let (mut guest, input, output) = tapped(128);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    guest.send(2000, GW, 4000, b"before").unwrap();
    guest.poll(1);
    assert_eq!(output.take_all().len(), 1);
    // 3,000 requests from random addresses of the subnet, at random MACs.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut answered = 0;
    for i in 0..3_000u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Any host of the subnet but the gateway and the guest.
        let host = match 3 + (seed % 250) as u8 {
            15 => 16,
            h => h,
        };
        let mac = [0x02, (seed >> 8) as u8, (seed >> 16) as u8, 0, 0, host];
        input.inject(&arp_from(
            ArpOperation::Request,
            mac,
            Ipv4Address::new(10, 0, 2, host),
        ));
        if i % 64 == 63 {
            guest.poll(2 + i / 64);
            answered += output.take_all().len();
        }
    }
    guest.poll(100);
    answered += output.take_all().len();
    assert_eq!(answered, 3_000, "every request is answered");
    guest.send(2000, GW, 4000, b"after").unwrap();
    guest.poll(101);
    let out = output.take_all();
    assert_eq!(
        asked(&out),
        [] as [Ipv4Address; 0],
        "the gateway was evicted"
    );
    let sent: Vec<_> = out.iter().filter_map(|f| parse_udp(f)).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dst_mac, GW_MAC);
}

#[test]
fn the_gateway_in_use_is_asked_for_again_before_it_expires() {
    let (mut guest, input, output) = tapped(16);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    // A one-way flow to the gateway: nothing from it renews the entry.
    let mut now = 0;
    let mut probes = 0;
    while now < 130_000 {
        now += 500;
        guest.send(2000, GW, 4000, b"flow").unwrap();
        guest.poll(now);
        let out = output.take_all();
        for f in &out {
            if parse_arp(f).is_some_and(|a| a.0 == ArpOperation::Request) {
                probes += 1;
                input.inject(&arp_from(ArpOperation::Reply, GW_MAC, GW_IP));
            }
        }
        assert_eq!(
            out.iter().filter_map(|f| parse_udp(f)).count(),
            1,
            "a datagram waited at {now} ms"
        );
        guest.poll(now);
    }
    assert!((2..=3).contains(&probes), "{probes} probes");
    assert_eq!(guest.counters().drops, Default::default());
}
