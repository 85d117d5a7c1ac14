//! Batched datagrams and `SO_RCVBUF` on BSD UDP sockets: `try_recv_batch` takes
//! what is queued (up to its maximum) in one look, `try_send_batch` queues until
//! the send queue is full, and `set_rcvbuf` sets how many datagrams a socket
//! queues (the lab's ports keep 16).

mod common;

use abi::errno::*;
use abi::socket::{RCVBUF_MAX, RCVBUF_MIN};
use common::*;
use netstack::{QUEUE_LEN, RCVBUF_TOTAL, SockKind, SocketId};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Largest UDP payload of a 1500-byte frame: what each queued datagram counts for.
const MAX_PAYLOAD: usize = 1472;

/// The guest alone, ARP done, with a UDP socket bound to `port`.
fn guest_with_socket(port: u16) -> (Stack, Port, Port, SocketId) {
    let (mut guest, input, output) = tapped(128);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    let s = guest.bsd().open(SockKind::Datagram).unwrap();
    guest
        .bsd()
        .bind(s, sa(Ipv4Addr::UNSPECIFIED, port))
        .unwrap();
    (guest, input, output, s)
}

/// Injects datagrams "d {first}".."d {last}" from 10.0.2.2:25099 and polls them in.
fn flood(guest: &mut Stack, input: &Port, port: u16, range: std::ops::Range<usize>, now: u64) {
    for i in range {
        input.inject(&udp_to_guest(25099, port, format!("d {i}").as_bytes()));
    }
    guest.poll(now);
}

/// Takes everything queued with batches of at most `max`: the payloads in order.
fn drain(guest: &mut Stack, s: SocketId, max: usize) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let r = guest.bsd().try_recv_batch(s, max, |payload, from| {
            assert_eq!(from, sa(GW_IP, 25099));
            got.push(String::from_utf8(payload.to_vec()).unwrap());
        });
        match r {
            Ok(n) => assert!(n >= 1 && n <= max, "{n}"),
            Err(e) => {
                assert_eq!(e, EAGAIN);
                return got;
            }
        }
    }
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("d {i}")).collect()
}

#[test]
fn a_batch_takes_what_is_queued_up_to_its_maximum() {
    let (mut guest, input, _output, s) = guest_with_socket(2000);
    let mut none = 0;
    assert_eq!(
        guest.bsd().try_recv_batch(s, 8, |_, _| none += 1),
        Err(EAGAIN)
    );
    assert_eq!(none, 0);
    flood(&mut guest, &input, 2000, 0..5, 1);
    let mut got = Vec::new();
    let mut take = |max| {
        guest
            .bsd()
            .try_recv_batch(s, max, |p, from| got.push((p.to_vec(), from)))
    };
    assert_eq!(take(3), Ok(3));
    assert_eq!(take(8), Ok(2));
    assert_eq!(take(8), Err(EAGAIN));
    let want: Vec<_> = (0..5)
        .map(|i| (format!("d {i}").into_bytes(), sa(GW_IP, 25099)))
        .collect();
    assert_eq!(got, want);
    // Nothing left for the old calls either.
    assert_eq!(guest.bsd().try_recvfrom(s, &mut [0; 8]), Err(EAGAIN));

    let tcp = guest.bsd().open(SockKind::Stream).unwrap();
    assert_eq!(
        guest.bsd().try_recv_batch(tcp, 4, |_, _| {}),
        Err(EOPNOTSUPP)
    );
}

#[test]
fn a_batch_send_queues_until_the_send_queue_is_full() {
    let mut net = Net::new();
    let server = net.host.bsd().open(SockKind::Datagram).unwrap();
    net.host.bsd().bind(server, sa(GW_IP, 7000)).unwrap();
    let c = net.guest.bsd().open(SockKind::Datagram).unwrap();
    let payloads: Vec<Vec<u8>> = (0..12).map(|i| format!("m {i}").into_bytes()).collect();
    let to = Some(sa(GW_IP, 7000));
    // Resolve the neighbour first: before, at most 3 datagrams would wait for its ARP reply
    // (neighbor.rs), and this test is about the socket's own queue.
    net.guest
        .bsd()
        .try_sendto(c, b"arp", sa(GW_IP, 7000))
        .unwrap();
    net.run(5);
    let mut first = Vec::new();
    net.host
        .bsd()
        .try_recv_batch(server, 64, |p, _| first.push(p.to_vec()))
        .unwrap();
    assert_eq!(first, [b"arp".to_vec()]);
    let (sent, why) = net
        .guest
        .bsd()
        .try_send_batch(c, payloads.iter().map(|p| (&p[..], to)));
    // The socket's send queue holds 8 until the stack transmits them.
    assert_eq!((sent, why), (8, Some(EAGAIN)));
    net.run(5);
    let (rest, why) = net
        .guest
        .bsd()
        .try_send_batch(c, payloads[sent..].iter().map(|p| (&p[..], to)));
    assert_eq!((rest, why), (4, None));
    net.run(5);
    let me = net.guest.bsd().local_addr(c).unwrap();
    let mut got = Vec::new();
    net.host
        .bsd()
        .try_recv_batch(server, 64, |p, from| {
            assert_eq!(from, sa(GUEST_IP, me.port()));
            got.push(p.to_vec());
        })
        .unwrap();
    assert_eq!(got, payloads);

    // A batch stops at the first datagram that cannot go, whatever the reason.
    let bad = [
        (&b"ok"[..], to),
        (&b"no peer"[..], None),
        (&b"never"[..], to),
    ];
    assert_eq!(
        net.guest.bsd().try_send_batch(c, bad),
        (1, Some(EDESTADDRREQ))
    );
    let big = vec![0u8; MAX_PAYLOAD + 1];
    assert_eq!(
        net.guest.bsd().try_send_batch(c, [(&big[..], to)]),
        (0, Some(EMSGSIZE))
    );
    let tcp = net.guest.bsd().open(SockKind::Stream).unwrap();
    assert_eq!(
        net.guest.bsd().try_send_batch(tcp, [(&b"x"[..], to)]),
        (0, Some(EOPNOTSUPP))
    );
}

#[test]
fn a_connected_socket_sends_a_batch_to_its_peer() {
    let mut net = Net::new();
    let server = net.host.bsd().open(SockKind::Datagram).unwrap();
    net.host.bsd().bind(server, sa(GW_IP, 7000)).unwrap();
    let c = net.guest.bsd().open(SockKind::Datagram).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 7000)).unwrap();
    let msgs = [(&b"a"[..], None), (&b"b"[..], None)];
    assert_eq!(net.guest.bsd().try_send_batch(c, msgs), (2, None));
    net.run(5);
    let mut got = Vec::new();
    assert_eq!(
        net.host
            .bsd()
            .try_recv_batch(server, 8, |p, _| got.push(p.to_vec())),
        Ok(2)
    );
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
}

/// The frames of one poll leave with one doorbell: a burst of pings answered while they
/// are read, then a batch of datagrams queued by a socket, each poll flushing once, and
/// nothing left unflushed (the test port shows a frame only after the doorbell).
#[test]
fn a_poll_rings_the_doorbell_once_for_all_its_frames() {
    let (mut guest, input, output, s) = guest_with_socket(7000);
    let before = output.doorbells();
    for seq in 0..8 {
        input.inject(&echo_request(0x77, seq, b"burst"));
    }
    guest.poll(1);
    assert_eq!(output.unflushed(), 0);
    assert_eq!(output.doorbells() - before, 1);
    let seqs: Vec<u16> = output
        .take_all()
        .iter()
        .map(|f| parse_echo_reply(f).unwrap().2)
        .collect();
    assert_eq!(seqs, (0..8).collect::<Vec<u16>>());

    let payloads: Vec<Vec<u8>> = (0..6).map(|i| format!("out {i}").into_bytes()).collect();
    let to = Some(sa(GW_IP, 25099));
    let (sent, why) = guest
        .bsd()
        .try_send_batch(s, payloads.iter().map(|p| (&p[..], to)));
    assert_eq!((sent, why), (6, None));
    guest.poll(2);
    assert_eq!(output.unflushed(), 0);
    assert_eq!(output.doorbells() - before, 2);
    let got: Vec<Vec<u8>> = output
        .take_all()
        .iter()
        .map(|f| parse_udp(f).unwrap().payload)
        .collect();
    assert_eq!(got, payloads);

    // A poll with nothing to send rings nothing.
    guest.poll(3);
    assert_eq!(output.doorbells() - before, 2);
}

#[test]
fn rcvbuf_sets_how_many_datagrams_a_socket_queues() {
    let (mut guest, input, _output, s) = guest_with_socket(2000);
    // By default, 16 datagrams, like a lab port.
    assert_eq!(guest.bsd().rcvbuf(s), Ok(QUEUE_LEN * MAX_PAYLOAD));
    flood(&mut guest, &input, 2000, 0..20, 1);
    assert_eq!(guest.counters().drops.queue_full, 4);
    assert_eq!(drain(&mut guest, s, 32), names(0..QUEUE_LEN));

    // 64 KiB: 44 datagrams of any size.
    guest.bsd().set_rcvbuf(s, 64 << 10).unwrap();
    assert_eq!(guest.bsd().rcvbuf(s), Ok(64 << 10));
    let cap = (64 << 10) / MAX_PAYLOAD;
    flood(&mut guest, &input, 2000, 0..60, 2);
    guest.poll(3);
    assert_eq!(guest.counters().drops.queue_full, 4 + (60 - cap) as u64);
    assert_eq!(drain(&mut guest, s, 32), names(0..cap));

    // The value is clamped.
    guest.bsd().set_rcvbuf(s, 1).unwrap();
    assert_eq!(guest.bsd().rcvbuf(s), Ok(RCVBUF_MIN));
    guest.bsd().set_rcvbuf(s, usize::MAX).unwrap();
    assert_eq!(guest.bsd().rcvbuf(s), Ok(RCVBUF_MAX));
}

#[test]
fn a_new_rcvbuf_keeps_what_is_queued() {
    let (mut guest, input, _output, s) = guest_with_socket(2000);
    // Ten queued in smoltcp's socket, then moved to the new, larger inbox.
    flood(&mut guest, &input, 2000, 0..10, 1);
    guest.bsd().set_rcvbuf(s, 128 << 10).unwrap();
    flood(&mut guest, &input, 2000, 10..20, 2);
    assert_eq!(guest.bsd().try_recv_batch(s, 3, |_, _| {}), Ok(3));
    // Shrunk below what is queued (17): all of it stays, nothing new comes in
    // until fewer than 2 (4 KiB) are left.
    guest.bsd().set_rcvbuf(s, RCVBUF_MIN).unwrap();
    flood(&mut guest, &input, 2000, 20..21, 3);
    assert_eq!(guest.counters().drops.queue_full, 1);
    assert_eq!(drain(&mut guest, s, 5), names(3..20));
    flood(&mut guest, &input, 2000, 21..24, 4);
    assert_eq!(drain(&mut guest, s, 5), names(21..23));
    assert_eq!(guest.counters().drops.queue_full, 2);
}

#[test]
fn rcvbuf_is_for_udp_sockets_only() {
    let (mut guest, _input, _output, _s) = guest_with_socket(2000);
    let tcp = guest.bsd().open(SockKind::Stream).unwrap();
    let ping = guest.bsd().open(SockKind::Echo).unwrap();
    for s in [tcp, ping] {
        assert_eq!(guest.bsd().set_rcvbuf(s, 8192), Err(EOPNOTSUPP));
        assert_eq!(guest.bsd().rcvbuf(s), Err(EOPNOTSUPP));
    }
    guest.bsd().close(tcp).unwrap();
    assert_eq!(guest.bsd().set_rcvbuf(tcp, 8192), Err(EBADF));
    // The lab's ports keep their 16 whatever BSD sockets do.
    guest.bind(3000).unwrap();
    let lab = guest.port_socket(3000).unwrap();
    assert_eq!(guest.bsd().set_rcvbuf(lab, 8192), Err(EBADF));
}

#[test]
fn all_sockets_together_stay_within_the_bound() {
    let (mut guest, _input, _output, _s) = guest_with_socket(2000);
    let mut granted = Vec::new();
    let last = loop {
        let s = guest.bsd().open(SockKind::Datagram).unwrap();
        match guest.bsd().set_rcvbuf(s, RCVBUF_MAX) {
            Ok(()) => granted.push(s),
            Err(e) => break (s, e),
        }
        assert!(granted.len() * RCVBUF_MAX <= RCVBUF_TOTAL);
    };
    assert_eq!(last.1, ENOBUFS);
    assert!(granted.len() >= 4, "{}", granted.len());
    // The refused socket is unchanged; smaller values may still fit.
    assert_eq!(guest.bsd().rcvbuf(last.0), Ok(QUEUE_LEN * MAX_PAYLOAD));
    // Closing one gives its memory back.
    guest.bsd().close(granted[0]).unwrap();
    assert_eq!(guest.bsd().set_rcvbuf(last.0, RCVBUF_MAX), Ok(()));
}

#[test]
fn datagrams_flow_through_an_rcvbuf_inbox_with_their_sources() {
    let (mut guest, input, _output, s) = guest_with_socket(2000);
    guest.bsd().set_rcvbuf(s, 32 << 10).unwrap();
    let other = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 4444);
    input.inject(&udp_frame(
        GUEST_MAC,
        (GW_IP, 4444),
        (GUEST_IP, 2000),
        b"from 4444",
    ));
    assert!(guest.poll(1).readable.contains(s));
    assert!(guest.bsd().readiness(s).unwrap().readable);
    let mut buf = [0u8; 4];
    // recvfrom still truncates to the buffer, and gives the source.
    assert_eq!(guest.bsd().try_recvfrom(s, &mut buf), Ok((4, other)));
    assert_eq!(&buf, b"from");
    assert!(!guest.bsd().readiness(s).unwrap().readable);
}
