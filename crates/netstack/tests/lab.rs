//! The net lab's port interface end to end, with the test playing QEMU's slirp:
//! bind/recv/unbind, FIFO order, the 16-datagram cap, drops at unbound ports,
//! sends from unbound ports (the lab's `ping3`), and the 2020 lab's connect sockets.

mod common;

use common::*;
use netstack::{Error, QUEUE_LEN};

/// A guest that has answered slirp's first ARP request, and so knows the gateway.
fn guest_on_slirp() -> (Stack, Port, Port) {
    let (mut guest, input, output) = tapped(64);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    (guest, input, output)
}

#[test]
fn bound_port_queues_sixteen_in_order_and_drops_the_rest() {
    let (mut guest, input, _output) = guest_on_slirp();
    let mut buf = [0u8; 32];

    input.inject(&udp_to_guest(25099, 2000, b"early"));
    guest.poll(1);
    assert_eq!(guest.counters().drops.no_socket, 1);
    assert_eq!(guest.try_recv(2000, &mut buf), Err(Error::NotBound));

    guest.bind(2000).unwrap();
    assert_eq!(guest.bind(2000), Err(Error::AddrInUse));
    assert_eq!(guest.try_recv(2000, &mut buf), Err(Error::WouldBlock));

    for i in 0..20 {
        input.inject(&udp_to_guest(25099, 2000, format!("p {i}").as_bytes()));
    }
    let result = guest.poll(2);
    assert!(result.readable.contains(guest.port_socket(2000).unwrap()));
    assert_eq!(guest.counters().drops.queue_full, 20 - QUEUE_LEN as u64);
    for i in 0..QUEUE_LEN {
        let (src, sport, len) = guest.try_recv(2000, &mut buf).unwrap();
        assert_eq!((src, sport), (GW, 25099));
        assert_eq!(&buf[..len], format!("p {i}").as_bytes());
    }
    assert_eq!(guest.try_recv(2000, &mut buf), Err(Error::WouldBlock));

    // A short buffer gets the start of the datagram; the rest is discarded.
    input.inject(&udp_to_guest(25099, 2000, b"packet 1"));
    input.inject(&udp_to_guest(25099, 2000, b"packet 2"));
    guest.poll(3);
    assert_eq!(guest.try_recv(2000, &mut buf[..3]), Ok((GW, 25099, 3)));
    assert_eq!(&buf[..3], b"pac");
    assert_eq!(guest.try_recv(2000, &mut buf), Ok((GW, 25099, 8)));
    assert_eq!(&buf[..8], b"packet 2");

    input.inject(&udp_to_guest(25099, 2000, b"queued, then unbound"));
    guest.poll(4);
    guest.unbind(2000).unwrap();
    assert_eq!(guest.unbind(2000), Err(Error::NotBound));
    assert_eq!(guest.try_recv(2000, &mut buf), Err(Error::NotBound));
    input.inject(&udp_to_guest(25099, 2000, b"late"));
    guest.poll(5);
    assert_eq!(guest.counters().drops.no_socket, 2);

    guest.bind(2000).unwrap();
    assert_eq!(guest.try_recv(2000, &mut buf), Err(Error::WouldBlock));
}

#[test]
fn two_ports_keep_separate_queues() {
    let (mut guest, input, _output) = guest_on_slirp();
    guest.bind(2000).unwrap();
    guest.bind(2001).unwrap();
    for i in 0..3 {
        input.inject(&udp_to_guest(25099, 2000, format!("one {i}").as_bytes()));
        input.inject(&udp_to_guest(25099, 2001, format!("two {i}").as_bytes()));
    }
    guest.poll(1);
    let mut buf = [0u8; 16];
    for (port, word) in [(2000, "one"), (2001, "two")] {
        for i in 0..3 {
            let (_, _, len) = guest.try_recv(port, &mut buf).unwrap();
            assert_eq!(&buf[..len], format!("{word} {i}").as_bytes());
        }
    }
}

/// `nettest ping3`: a flood of echoes on one port, and to an unbound port,
/// must not cost another port its datagrams, and must not queue more than 16.
#[test]
fn ping3_flood_is_capped_per_port() {
    let (mut guest, input, output) = guest_on_slirp();
    guest.bind(2008).unwrap();
    guest.bind(2009).unwrap();

    let mut sent = vec![(2009, b"p A!".to_vec())];
    for ii in 0..257u32 {
        let sport = if ii % 2 == 0 { 2008 } else { 2010 };
        sent.push((sport, vec![b'p', b' ', b'a' + (ii % 26) as u8, b'!']));
    }
    sent.push((2009, b"p B!".to_vec()));
    for (sport, payload) in &sent {
        guest.send(*sport, GW, 25099, payload).unwrap();
        guest.poll(1);
        // The reflector on the host echoes every datagram back to its sender.
        let frame = output.take().expect("sent at once");
        let d = parse_udp(&frame).unwrap();
        assert_eq!(
            (d.src, d.src_port, d.dst, d.dst_port),
            (GUEST_IP, *sport, GW_IP, 25099)
        );
        assert_eq!(d.dst_mac, GW_MAC);
        input.inject(&udp_to_guest(25099, *sport, &d.payload));
        guest.poll(1);
    }

    let mut buf = [0u8; 8];
    assert_eq!(guest.try_recv(2009, &mut buf), Ok((GW, 25099, 4)));
    assert_eq!(&buf[..4], b"p A!");
    assert_eq!(guest.try_recv(2009, &mut buf), Ok((GW, 25099, 4)));
    assert_eq!(&buf[..4], b"p B!");

    let mut queued = 0;
    while guest.try_recv(2008, &mut buf).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, QUEUE_LEN);
    let drops = guest.counters().drops;
    assert_eq!(drops.queue_full, 129 - QUEUE_LEN as u64);
    assert_eq!(drops.no_socket, 128);
    assert_eq!(guest.try_recv(2010, &mut buf), Err(Error::NotBound));
}

#[test]
fn send_checks_its_arguments() {
    let (mut guest, _input, _output) = guest_on_slirp();
    let max = [0u8; 1472];
    assert_eq!(guest.send(2000, GW, 25099, &max), Ok(()));
    assert_eq!(guest.send(2000, GW, 25099, &[0; 1473]), Err(Error::TooBig));
    assert_eq!(guest.send(2000, GW, 0, b"x"), Err(Error::Invalid));
    assert_eq!(guest.send(2000, 0, 25099, b"x"), Err(Error::Invalid));
    assert_eq!(guest.send(0, GW, 25099, b"x"), Err(Error::Invalid));
}

#[test]
fn bind_takes_over_a_send_only_port() {
    let (mut guest, input, output) = guest_on_slirp();
    guest.send(2004, GW, 25099, b"ping0").unwrap();
    guest.poll(1);
    assert_eq!(output.take_all().len(), 1);
    guest.bind(2004).unwrap();
    input.inject(&udp_to_guest(25099, 2004, b"ping0"));
    guest.poll(2);
    assert_eq!(guest.try_recv(2004, &mut [0; 8]), Ok((GW, 25099, 5)));
}

/// The 2020-2023 lab: `connect(raddr, lport, rport)` sockets over two stacks.
#[test]
fn connected_sockets_talk_to_one_remote() {
    let (mut guest, mut host, to_host, to_guest) = pair();
    host.bind(25099).unwrap();
    let id = guest.connect(GW, 2000, 25099).unwrap();
    assert_eq!(guest.connect(GW, 2000, 25099), Err(Error::AddrInUse));
    assert_eq!(guest.bind(2000), Err(Error::AddrInUse));
    assert_eq!(guest.connect(0, 2001, 25099), Err(Error::Invalid));

    assert_eq!(guest.try_write(id, b"a message from xv6!"), Ok(19));
    settle(&mut guest, &mut host, &to_host, &to_guest, 0);
    let mut buf = [0u8; 128];
    assert_eq!(host.try_recv(25099, &mut buf), Ok((GUEST, 2000, 19)));

    host.send(25099, GUEST, 2000, b"this is the host!").unwrap();
    host.send(25100, GUEST, 2000, b"a stranger").unwrap();
    settle(&mut guest, &mut host, &to_host, &to_guest, 1);
    assert_eq!(guest.try_read(id, &mut buf), Ok(17));
    assert_eq!(&buf[..17], b"this is the host!");
    assert_eq!(guest.try_read(id, &mut buf), Err(Error::WouldBlock));
    assert_eq!(guest.counters().drops.no_socket, 1);

    guest.close(id).unwrap();
    assert_eq!(guest.try_read(id, &mut buf), Err(Error::BadSocket));
    assert_eq!(guest.close(id), Err(Error::BadSocket));
    // nettests' 100 sequential pings reuse local port 2000.
    let again = guest.connect(GW, 2000, 25099).unwrap();
    assert_eq!(guest.try_write(again, b"again"), Ok(5));

    let lab_port = host.port_socket(25099).unwrap();
    assert_eq!(host.try_write(lab_port, b"x"), Err(Error::BadSocket));
}
