//! BSD datagram sockets between two stacks: UDP sendto/recvfrom, connected
//! UDP, port rules, and ICMP echo ("ping") sockets as on Linux.

mod common;

use abi::errno::*;
use common::*;
use netstack::{Readiness, Shutdown, SockKind};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};
use std::net::Ipv4Addr;

#[test]
fn udp_sendto_recvfrom_and_reply() {
    let mut net = Net::new();
    let server = net.guest.bsd().open(SockKind::Datagram).unwrap();
    net.guest
        .bsd()
        .bind(server, sa(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    let client = net.host.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(
        net.host
            .bsd()
            .try_sendto(client, b"question", sa(GUEST_IP, 5000)),
        Ok(8)
    );
    // sendto bound an ephemeral port.
    let local = net.host.bsd().local_addr(client).unwrap();
    assert!(
        local.port() >= 49152 && local.ip().is_unspecified(),
        "{local}"
    );
    let mut woke = false;
    for _ in 0..5 {
        woke |= net.step().0.readable.contains(server);
    }
    assert!(woke);

    let mut buf = [0u8; 64];
    let (n, from) = net.guest.bsd().try_recvfrom(server, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"question"[..], sa(GW_IP, local.port()))
    );
    assert_eq!(net.guest.bsd().try_recvfrom(server, &mut buf), Err(EAGAIN));
    net.guest.bsd().try_sendto(server, b"answer", from).unwrap();
    net.run(5);
    let (n, from) = net.host.bsd().try_recvfrom(client, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"answer"[..], sa(GUEST_IP, 5000)));

    // A short buffer gets the start of the datagram; the rest is discarded.
    net.host
        .bsd()
        .try_sendto(client, b"0123456789", sa(GUEST_IP, 5000))
        .unwrap();
    net.run(5);
    assert_eq!(net.guest.bsd().try_recv(server, &mut buf[..4]), Ok(4));
    assert_eq!(&buf[..4], b"0123");
    assert_eq!(net.guest.bsd().try_recv(server, &mut buf), Err(EAGAIN));
}

#[test]
fn connected_udp_talks_to_its_peer_only() {
    let mut net = Net::new();
    let peer = net.host.bsd().open(SockKind::Datagram).unwrap();
    net.host.bsd().bind(peer, sa(GW_IP, 7000)).unwrap();
    let stranger = net.host.bsd().open(SockKind::Datagram).unwrap();

    let c = net.guest.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(net.guest.bsd().try_send(c, b"x"), Err(EDESTADDRREQ));
    net.guest.bsd().connect(c, sa(GW_IP, 7000)).unwrap();
    assert_eq!(net.guest.bsd().poll_connect(c), Ok(()));
    assert_eq!(net.guest.bsd().peer_addr(c), Ok(sa(GW_IP, 7000)));
    let me = net.guest.bsd().local_addr(c).unwrap();
    assert_eq!(net.guest.bsd().try_send(c, b"hello"), Ok(5));
    net.run(5);
    let mut buf = [0u8; 16];
    let (n, from) = net.host.bsd().try_recvfrom(peer, &mut buf).unwrap();
    assert_eq!((n, from), (5, sa(GUEST_IP, me.port())));

    net.host
        .bsd()
        .try_sendto(stranger, b"spam", sa(GUEST_IP, me.port()))
        .unwrap();
    net.host
        .bsd()
        .try_sendto(peer, b"reply", sa(GUEST_IP, me.port()))
        .unwrap();
    net.run(5);
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"reply");
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Err(EAGAIN));
    assert_eq!(net.guest.counters().drops.no_socket, 1);

    net.guest.bsd().shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(net.guest.bsd().try_send(c, b"x"), Err(EPIPE));
    net.guest.bsd().shutdown(c, Shutdown::Read).unwrap();
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(0));
    assert_eq!(
        net.guest.bsd().readiness(c),
        Ok(Readiness {
            readable: true,
            writable: true,
            hup: true,
            error: false
        })
    );
}

#[test]
fn udp_port_rules() {
    let (mut guest, _, _) = tapped(8);
    let mut bsd = guest.bsd();
    let a = bsd.open(SockKind::Datagram).unwrap();
    bsd.bind(a, sa(GUEST_IP, 2000)).unwrap();
    assert_eq!(bsd.bind(a, sa(GUEST_IP, 2001)), Err(EINVAL));
    let b = bsd.open(SockKind::Datagram).unwrap();
    assert_eq!(
        bsd.bind(b, sa(Ipv4Addr::UNSPECIFIED, 2000)),
        Err(EADDRINUSE)
    );
    assert_eq!(bsd.bind(b, sa(GW_IP, 2001)), Err(EADDRNOTAVAIL));
    assert_eq!(bsd.try_sendto(b, &[0; 1473], sa(GW_IP, 9)), Err(EMSGSIZE));
    assert_eq!(bsd.try_sendto(b, &[0; 1472], sa(GW_IP, 9)), Ok(1472));
    assert_eq!(bsd.try_sendto(b, b"x", sa(GW_IP, 0)), Err(EINVAL));
    // TCP and UDP ports are separate; the lab's ports are UDP ports.
    let t = bsd.open(SockKind::Stream).unwrap();
    assert_eq!(bsd.bind(t, sa(GUEST_IP, 2000)), Ok(()));
    assert_eq!(guest.bind(2000), Err(netstack::Error::AddrInUse));
    guest.bind(2002).unwrap();
    let c = guest.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(guest.bsd().bind(c, sa(GUEST_IP, 2002)), Err(EADDRINUSE));
    // A lab port on a BSD socket is not a lab port.
    let id = guest.port_socket(2000).unwrap();
    assert_eq!(id, a);
    assert_eq!(
        guest.try_read(a, &mut [0; 4]),
        Err(netstack::Error::BadSocket)
    );
    assert_eq!(
        guest.try_recv(2000, &mut [0; 4]),
        Err(netstack::Error::NotBound)
    );
}

/// An ICMP echo request as a ping program writes it.
fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf),
        &ChecksumCapabilities::default(),
    );
    buf
}

#[test]
fn echo_socket_pings_the_other_stack() {
    let mut net = Net::new();
    let ping = net.guest.bsd().open(SockKind::Echo).unwrap();
    // The kernel picks the identifier, whatever the program wrote.
    net.guest
        .bsd()
        .try_sendto(
            ping,
            &echo_request(0xdead, 1, b"are you there?"),
            sa(GW_IP, 0),
        )
        .unwrap();
    let ident = net.guest.bsd().local_addr(ping).unwrap().port();
    assert_ne!(ident, 0xdead);
    // The host pings the guest with the same identifier: the guest's stack
    // answers, but that request is not a reply for the socket.
    let other = net.host.bsd().open(SockKind::Echo).unwrap();
    net.host.bsd().bind(other, sa(GW_IP, ident)).unwrap();
    net.host
        .bsd()
        .try_sendto(other, &echo_request(0, 9, b"and you?"), sa(GUEST_IP, 0))
        .unwrap();
    net.run(10);

    let mut buf = [0u8; 64];
    let (n, from) = net.guest.bsd().try_recvfrom(ping, &mut buf).unwrap();
    assert_eq!(from, sa(GW_IP, 0));
    let reply = Icmpv4Packet::new_checked(&buf[..n]).unwrap();
    assert!(reply.verify_checksum());
    match Icmpv4Repr::parse(&reply, &ChecksumCapabilities::default()).unwrap() {
        Icmpv4Repr::EchoReply {
            ident: got,
            seq_no,
            data,
        } => {
            assert_eq!((got, seq_no, data), (ident, 1, &b"are you there?"[..]));
        }
        other => panic!("not an echo reply: {other:?}"),
    }
    assert_eq!(net.guest.bsd().try_recvfrom(ping, &mut buf), Err(EAGAIN));
    assert!(!net.guest.bsd().readiness(ping).unwrap().readable);
    // The host's socket got the guest's answer to its own request.
    let (n, _) = net.host.bsd().try_recvfrom(other, &mut buf).unwrap();
    assert_eq!(&buf[8..n], b"and you?");
    assert_eq!(net.guest.counters().drops, Default::default());
}

#[test]
fn echo_socket_rules() {
    let (mut guest, input, _output) = tapped(8);
    let mut bsd = guest.bsd();
    let a = bsd.open(SockKind::Echo).unwrap();
    bsd.bind(a, sa(Ipv4Addr::UNSPECIFIED, 77)).unwrap();
    let b = bsd.open(SockKind::Echo).unwrap();
    assert_eq!(bsd.bind(b, sa(Ipv4Addr::UNSPECIFIED, 77)), Err(EADDRINUSE));
    // A UDP socket may use the same number: another namespace.
    let u = bsd.open(SockKind::Datagram).unwrap();
    bsd.bind(u, sa(Ipv4Addr::UNSPECIFIED, 77)).unwrap();
    // Only echo requests may be sent.
    let mut reply = echo_request(77, 1, b"x");
    reply[0] = 0;
    assert_eq!(bsd.try_sendto(a, &reply, sa(GW_IP, 0)), Err(EINVAL));
    assert_eq!(bsd.try_sendto(a, &[8, 0, 0], sa(GW_IP, 0)), Err(EINVAL));
    assert_eq!(bsd.listen(a, 1), Err(EOPNOTSUPP));
    // An echo reply nobody waits for is dropped and counted.
    let mut frame = common::echo_request(4242, 1, b"x");
    frame[34] = 0; // type 0: echo reply
    let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[34..]);
    icmp.fill_checksum();
    input.inject(&frame);
    guest.poll(0);
    assert_eq!(guest.counters().drops.no_socket, 1);
}

#[test]
fn an_echo_socket_queues_sixteen_replies() {
    let (mut guest, input, output) = tapped(64);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    let p = guest.bsd().open(SockKind::Echo).unwrap();
    guest.bsd().bind(p, sa(Ipv4Addr::UNSPECIFIED, 77)).unwrap();
    let reply = |seq: u8| {
        let mut frame = common::echo_request(77, u16::from(seq), &[seq; 8]);
        frame[34] = 0; // type 0: echo reply
        Icmpv4Packet::new_unchecked(&mut frame[34..]).fill_checksum();
        frame
    };
    for seq in 0..20 {
        input.inject(&reply(seq));
    }
    // A request bearing the socket's identifier: answered, not queued.
    input.inject(&common::echo_request(77, 99, b"req"));
    assert!(guest.poll(1).readable.contains(p));
    assert_eq!(guest.counters().drops.queue_full, 4);
    assert_eq!(parse_echo_reply(&output.take().unwrap()).unwrap().2, 99);
    let mut buf = [0u8; 64];
    for seq in 0..netstack::QUEUE_LEN as u8 {
        assert_eq!(guest.bsd().try_recv(p, &mut buf), Ok(16));
        assert_eq!(&buf[8..16], &[seq; 8]);
    }
    assert_eq!(guest.bsd().try_recv(p, &mut buf), Err(EAGAIN));
    // Room again: the next reply is queued.
    input.inject(&reply(42));
    guest.poll(2);
    assert_eq!(guest.bsd().try_recv(p, &mut buf), Ok(16));
}
