//! Two stacks on one in-memory link, and one stack answering a scripted host:
//! ARP both ways, pings answered by the stack, UDP across, timers, counters.

mod common;

use common::*;
use netstack::{Error, RX_BUDGET};
use smoltcp::wire::ArpOperation;

#[test]
fn first_datagram_waits_for_arp_then_crosses() {
    let (mut guest, mut gw, to_gw, to_guest) = pair();
    let log = TraceLog::default();
    guest.set_tracer(Some(Box::new(log.clone())));
    gw.bind(25099).unwrap();

    guest.send(2000, GW, 25099, b"hello").unwrap();
    guest.poll(0);
    // The gateway's MAC is unknown: the datagram waits, an ARP request goes out.
    let request = to_gw.take_all();
    assert_eq!(request.len(), 1);
    let (op, sender_mac, sender_ip, target_ip) = parse_arp(&request[0]).unwrap();
    assert_eq!(op, ArpOperation::Request);
    assert_eq!(
        (sender_mac, sender_ip, target_ip),
        (GUEST_MAC, GUEST_IP, GW_IP)
    );
    to_gw.inject(&request[0]);

    settle(&mut guest, &mut gw, &to_gw, &to_guest, 1);
    assert_eq!(gw.try_recv(25099, &mut [0; 64]), Ok((GUEST, 2000, 5)));

    let trace = log.text();
    assert!(
        trace.contains("tx   arp request who-has 10.0.2.2 tell 10.0.2.15\n"),
        "{trace}"
    );
    assert!(
        trace.contains("rx   arp reply 10.0.2.2 is-at 52:55:0a:00:02:02\n"),
        "{trace}"
    );
    assert!(trace.contains("tx     udp 2000 > 25099 len 5\n"), "{trace}");

    // The gateway learned the guest from its request: the reply needs no ARP.
    guest.bind(2000).unwrap();
    gw.send(25099, GUEST, 2000, b"echo").unwrap();
    gw.poll(2);
    let frame = to_guest.take().unwrap();
    assert_eq!(parse_udp(&frame).unwrap().dst_mac, GUEST_MAC);
    assert!(to_guest.is_empty());
    to_guest.inject(&frame);
    let result = guest.poll(2);
    let id = guest.port_socket(2000).unwrap();
    assert!(result.readable.contains(id));
    let mut buf = [0; 16];
    assert_eq!(guest.try_recv(2000, &mut buf), Ok((GW, 25099, 4)));
    assert_eq!(&buf[..4], b"echo");
}

#[test]
fn stack_answers_arp_and_ping() {
    let (mut guest, input, output) = tapped(8);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    let (op, mac, ip, target) = parse_arp(&output.take().unwrap()).unwrap();
    assert_eq!(
        (op, mac, ip, target),
        (ArpOperation::Reply, GUEST_MAC, GUEST_IP, GW_IP)
    );

    input.inject(&echo_request(0x1234, 7, b"ping data"));
    guest.poll(1);
    let reply = parse_echo_reply(&output.take().unwrap()).unwrap();
    assert_eq!(reply, (GW_MAC, 0x1234, 7, b"ping data".to_vec()));
    assert!(output.is_empty());
    let counters = guest.counters();
    assert_eq!((counters.rx_frames, counters.tx_frames), (2, 2));
    assert_eq!(counters.drops, Default::default());
}

#[test]
fn reply_with_tx_ring_full_is_dropped_and_counted() {
    let (mut guest, input, output) = tapped(1);
    input.inject(&arp_request_for_guest());
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    assert_eq!(output.take_all().len(), 1);
    assert_eq!(guest.counters().drops.tx_ring_full, 1);
}

#[test]
fn full_tx_ring_holds_datagrams_until_room_then_reports_writable() {
    let (mut guest, input, output) = tapped(1);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    // One datagram fills the link; the rest wait in the socket until it is full.
    let mut sent = 0;
    while guest.send(2003, GW, 25099, b"txone") == Ok(()) {
        sent += 1;
        guest.poll(1);
    }
    assert_eq!(
        guest.send(2003, GW, 25099, b"txone"),
        Err(Error::WouldBlock)
    );
    assert!(sent > 1);
    assert_eq!(guest.poll_at(1), Some(1), "datagrams wait: poll again now");
    let id = guest.port_socket(2003).unwrap();
    let mut delivered = 0;
    let mut woke = false;
    while delivered < sent {
        delivered += output.take_all().len();
        woke |= guest.poll(2).writable.contains(id);
    }
    assert!(woke);
    assert_eq!(guest.poll_at(2), None);
    assert_eq!(guest.counters().drops.tx_ring_full, 0);
}

#[test]
fn arp_retry_is_scheduled_by_poll_at() {
    let (mut guest, _input, output) = tapped(8);
    assert_eq!(guest.poll_at(0), None);
    guest.send(2000, GW, 25099, b"x").unwrap();
    guest.poll(100);
    assert!(parse_arp(&output.take().unwrap()).is_some());
    // Nobody answered: smoltcp asks again after a second.
    assert_eq!(guest.poll_at(100), Some(1100));
    guest.poll(1100);
    assert!(parse_arp(&output.take().unwrap()).is_some());
}

#[test]
fn a_burst_beyond_the_rx_budget_is_left_for_the_next_poll() {
    let (mut guest, input, _output) = tapped(8);
    guest.bind(2000).unwrap();
    for _ in 0..RX_BUDGET {
        input.inject(&udp_to_guest(25099, 2001, b"unbound"));
    }
    input.inject(&udp_to_guest(25099, 2000, b"last"));
    assert!(guest.poll(0).rx_pending);
    assert_eq!(guest.counters().rx_frames, RX_BUDGET as u64);
    let id = guest.port_socket(2000).unwrap();
    let result = guest.poll(1);
    assert!(!result.rx_pending);
    assert!(result.readable.contains(id));
}

#[test]
fn interface_identity() {
    let (guest, _, _) = tapped(1);
    assert_eq!(guest.mac(), GUEST_MAC);
    assert_eq!(guest.ipv4(), (GUEST_IP, 24));
}
