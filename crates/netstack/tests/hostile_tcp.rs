//! TCP against a hostile link, two stacks on the in-memory link with simulated
//! time: idle connections live for ever (and `SO_KEEPALIVE` finds dead peers),
//! blind in-window RSTs and SYNs get a challenge ACK instead of a reset
//! (RFC 5961), spoofed SYNs cannot hold a listener's backlog, and the ACK on a
//! retransmitted FIN (QEMU's user network sends one in a simultaneous close)
//! is taken, not ignored.

mod common;

use abi::errno::*;
use common::*;
use netstack::{SockKind, SocketId};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetFrame, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket,
    TcpRepr, TcpSeqNumber,
};

/// The host listens on port `port` with `backlog`.
fn listener(net: &mut Net, port: u16, backlog: usize) -> SocketId {
    let mut bsd = net.host.bsd();
    let l = bsd.open(SockKind::Stream).unwrap();
    bsd.bind(l, sa(GW_IP, port)).unwrap();
    bsd.listen(l, backlog).unwrap();
    l
}

/// A connection guest -> host port 80: (guest socket, host socket).
fn connection(net: &mut Net) -> (SocketId, SocketId) {
    let l = listener(net, 80, 1);
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
    net.until(1000, |n| n.guest.bsd().poll_connect(c) == Ok(()));
    let s = accept(net, l);
    (c, s)
}

fn accept(net: &mut Net, l: SocketId) -> SocketId {
    let mut s = None;
    net.until(1000, |n| {
        s = n.host.bsd().try_accept(l).ok().map(|(s, _)| s);
        s.is_some()
    });
    s.unwrap()
}

/// Runs both stacks for `ms` of simulated time, polling only when either
/// asks to (or every second), so that minutes pass in an instant.
fn idle(net: &mut Net, ms: u64) {
    let end = net.now + ms;
    while net.now < end {
        let at = [net.guest.poll_at(net.now), net.host.poll_at(net.now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(u64::MAX);
        net.now = at.clamp(net.now + 1, (net.now + 1000).min(end));
        net.guest.poll(net.now);
        net.host.poll(net.now);
    }
}

/// Data both ways over a connection still works.
fn still_works(net: &mut Net, c: SocketId, s: SocketId) {
    let mut buf = [0u8; 16];
    assert_eq!(net.guest.bsd().try_send(c, b"ping"), Ok(4));
    net.run(50);
    assert_eq!(net.host.bsd().try_recv(s, &mut buf), Ok(4));
    assert_eq!(net.host.bsd().try_send(s, b"pong"), Ok(4));
    net.run(50);
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"pong");
}

#[test]
fn an_idle_connection_lives_past_every_timeout() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    still_works(&mut net, c, s);
    // Ten minutes without a segment either way.
    idle(&mut net, 600_000);
    assert!(net.to_host.is_empty() && net.to_guest.is_empty());
    still_works(&mut net, c, s);
    assert_eq!(net.guest.bsd().take_error(c), Ok(None));
    assert_eq!(net.host.bsd().take_error(s), Ok(None));
}

#[test]
fn data_left_unacknowledged_still_times_out() {
    let mut net = Net::new();
    let (c, _s) = connection(&mut net);
    idle(&mut net, 100_000);
    // The host vanishes: what the guest sends is never acknowledged.
    let start = net.now;
    net.guest.bsd().try_send(c, b"anyone?").unwrap();
    let mut buf = [0u8; 8];
    let mut result = Err(EAGAIN);
    while result == Err(EAGAIN) {
        result = net.guest.bsd().try_recv(c, &mut buf);
        assert!(net.now - start < 70_000, "still open after 70 s");
        net.now += 10;
        net.guest.poll(net.now);
        net.to_host.discard_all();
    }
    assert_eq!(result, Err(ETIMEDOUT));
    let took = net.now - start;
    assert!(
        (59_000..=61_000).contains(&took),
        "timed out after {took} ms"
    );
}

#[test]
fn keepalive_is_an_option_that_probes_and_finds_dead_peers() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    assert_eq!(net.guest.bsd().keepalive(c), Ok(false));
    net.guest.bsd().set_keepalive(c, true).unwrap();
    assert_eq!(net.guest.bsd().keepalive(c), Ok(true));
    let u = net.guest.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(net.guest.bsd().set_keepalive(u, true), Err(EOPNOTSUPP));
    // A live peer answers the probes: the connection stays up for ever (the
    // 750 s timeout would end it here if no probe went out).
    idle(&mut net, 1_000_000);
    still_works(&mut net, c, s);

    // A dead one does not: the connection fails after 750 s of silence.
    let start = net.now;
    let mut buf = [0u8; 8];
    let mut result = Err(EAGAIN);
    while result == Err(EAGAIN) {
        result = net.guest.bsd().try_recv(c, &mut buf);
        assert!(net.now - start < 800_000, "still open after 800 s");
        net.now += 100;
        net.guest.poll(net.now);
        // Probes, then ARP requests once the peer's address expires.
        net.to_host.discard_all();
    }
    let took = net.now - start;
    assert!(
        (740_000..=760_000).contains(&took),
        "gave up after {took} ms"
    );
    assert_eq!(result, Err(ETIMEDOUT));
}

#[test]
fn keepalive_turned_on_after_a_long_silence_does_not_end_a_live_connection() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    idle(&mut net, 2_000_000);
    net.guest.bsd().set_keepalive(c, true).unwrap();
    idle(&mut net, 1_000_000);
    still_works(&mut net, c, s);
    assert_eq!(net.guest.bsd().take_error(c), Ok(None));
}

/// A segment from the host to the guest's connection `c`, as an attacker would forge it.
fn forged(net: &mut Net, c: SocketId, control: TcpControl, seq: u32, ack: Option<u32>) -> Vec<u8> {
    let guest = net.guest.bsd().local_addr(c).unwrap();
    let tcp = TcpRepr {
        src_port: 80,
        dst_port: guest.port(),
        control,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
        window_len: 1000,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let mut frame = ipv4(
        GUEST_MAC,
        GW_IP,
        GUEST_IP,
        IpProtocol::Tcp,
        tcp.buffer_len(),
    );
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut frame[34..]),
        &IpAddress::Ipv4(GW_IP),
        &IpAddress::Ipv4(GUEST_IP),
        &ChecksumCapabilities::default(),
    );
    frame
}

/// (seq, ack, control, payload length) of a TCP frame.
fn tcp_of(frame: &[u8]) -> Option<(u32, u32, TcpControl, usize)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let caps = ChecksumCapabilities::default();
    let ip_repr = Ipv4Repr::parse(&ip, &caps).ok()?;
    if ip_repr.next_header != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    let (src, dst) = (
        IpAddress::Ipv4(ip_repr.src_addr),
        IpAddress::Ipv4(ip_repr.dst_addr),
    );
    let repr = TcpRepr::parse(&tcp, &src, &dst, &caps).ok()?;
    Some((
        repr.seq_number.0 as u32,
        repr.ack_number.map_or(0, |a| a.0 as u32),
        repr.control,
        repr.payload.len(),
    ))
}

/// The host sends `data`; returns the guest's RCV.NXT and SND.NXT after it
/// (read off the guest's ACK).
fn sequence_numbers(net: &mut Net, c: SocketId, s: SocketId) -> (u32, u32) {
    net.host.bsd().try_send(s, b"hello").unwrap();
    let mut seen = None;
    for _ in 0..400 {
        net.now += 1;
        net.host.poll(net.now);
        net.guest.poll(net.now);
        for f in net.to_host.take_all() {
            if let Some((seq, ack, _, _)) = tcp_of(&f) {
                seen = Some((ack, seq));
            }
            net.to_host.inject(&f);
        }
        net.host.poll(net.now);
    }
    let mut buf = [0u8; 8];
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(5));
    seen.expect("the guest acknowledged")
}

/// Injects `frame` into the guest and returns the TCP segments it answers with.
fn answers(net: &mut Net, frame: &[u8]) -> Vec<(u32, u32, TcpControl, usize)> {
    net.to_guest.inject(frame);
    net.now += 1;
    net.guest.poll(net.now);
    net.to_host
        .take_all()
        .iter()
        .filter_map(|f| tcp_of(f))
        .collect()
}

#[test]
fn a_blind_rst_or_syn_gets_a_challenge_ack_and_only_an_exact_rst_resets() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    let (rcv_nxt, snd_nxt) = sequence_numbers(&mut net, c, s);

    // In the window but not at RCV.NXT: a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>.
    let rst = forged(
        &mut net,
        c,
        TcpControl::Rst,
        rcv_nxt.wrapping_add(1000),
        None,
    );
    assert_eq!(
        answers(&mut net, &rst),
        [(snd_nxt, rcv_nxt, TcpControl::None, 0)]
    );
    assert_eq!(net.guest.bsd().take_error(c), Ok(None));
    // Challenge ACKs are limited to one a second.
    let rst = forged(
        &mut net,
        c,
        TcpControl::Rst,
        rcv_nxt.wrapping_add(1),
        Some(snd_nxt),
    );
    assert_eq!(answers(&mut net, &rst), []);
    net.run(1100);
    // A SYN on the connection, at any sequence number: a challenge ACK too.
    let syn = forged(&mut net, c, TcpControl::Syn, rcv_nxt.wrapping_add(7), None);
    assert_eq!(
        answers(&mut net, &syn),
        [(snd_nxt, rcv_nxt, TcpControl::None, 0)]
    );
    // Out of the window: dropped without a word.
    net.run(1100);
    let rst = forged(
        &mut net,
        c,
        TcpControl::Rst,
        rcv_nxt.wrapping_add(1 << 30),
        None,
    );
    assert_eq!(answers(&mut net, &rst), []);
    still_works(&mut net, c, s);

    // Exactly at RCV.NXT (which moved by the 4 bytes of "pong"): reset.
    let rst = forged(&mut net, c, TcpControl::Rst, rcv_nxt.wrapping_add(4), None);
    assert_eq!(answers(&mut net, &rst), []);
    let mut buf = [0u8; 8];
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Err(ECONNRESET));
}

#[test]
fn the_server_side_follows_rcv_nxt_through_data_and_fin() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    // Megabytes then a FIN from the guest: the host's RCV.NXT moves by each.
    let chunk = [7u8; 4096];
    let mut sent = 0;
    let mut got = 0;
    let mut buf = [0u8; 8192];
    while got < 1 << 20 {
        if sent < 1 << 20 {
            sent += net.guest.bsd().try_send(c, &chunk).unwrap_or(0);
        }
        net.step();
        while let Ok(n @ 1..) = net.host.bsd().try_recv(s, &mut buf) {
            got += n;
        }
    }
    net.guest
        .bsd()
        .shutdown(c, netstack::Shutdown::Write)
        .unwrap();
    net.run(50);
    assert_eq!(net.host.bsd().try_recv(s, &mut buf), Ok(0));
    // A RST one byte off RCV.NXT does not reset the host's socket.
    let peer = net.host.bsd().peer_addr(s).unwrap();
    let (host_rcv_nxt, _) = {
        // The host's ACK of the FIN carries its RCV.NXT.
        net.host.bsd().try_send(s, b"x").unwrap();
        net.host.poll(net.now + 1);
        let f = net.to_guest.take_all();
        let (seq, ack, _, _) = tcp_of(f.last().unwrap()).unwrap();
        (ack, seq)
    };
    net.now += 1;
    let rst = |seq: u32| {
        let tcp = TcpRepr {
            src_port: peer.port(),
            dst_port: 80,
            control: TcpControl::Rst,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: None,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let mut frame = ipv4(GW_MAC, GUEST_IP, GW_IP, IpProtocol::Tcp, tcp.buffer_len());
        frame[6..12].copy_from_slice(&GUEST_MAC);
        tcp.emit(
            &mut TcpPacket::new_unchecked(&mut frame[34..]),
            &IpAddress::Ipv4(GUEST_IP),
            &IpAddress::Ipv4(GW_IP),
            &ChecksumCapabilities::default(),
        );
        frame
    };
    net.to_host.inject(&rst(host_rcv_nxt.wrapping_add(1)));
    net.host.poll(net.now);
    assert_eq!(net.host.bsd().take_error(s), Ok(None));
    net.to_host.inject(&rst(host_rcv_nxt));
    net.host.poll(net.now);
    assert_eq!(net.host.bsd().take_error(s), Ok(Some(ECONNRESET)));
}

/// A simultaneous close as QEMU's user network plays it: the FINs cross, and
/// the peer's only acknowledgement of ours rides on a retransmission of its
/// own FIN, a segment that ends at RCV.NXT. The guest takes that ACK: its
/// closed socket finishes at once, instead of holding one of the pool's TCP
/// sockets until its FIN's retransmission a second later.
#[test]
fn a_retransmitted_fin_that_acknowledges_ours_ends_a_simultaneous_close() {
    let mut net = Net::new();
    let (c, s) = connection(&mut net);
    let (rcv_nxt, snd_nxt) = sequence_numbers(&mut net, c, s);
    // The host's FIN, sent before ours arrived (it acknowledges our data, not
    // our FIN), then the same FIN again acknowledging ours too.
    let fin = forged(&mut net, c, TcpControl::Fin, rcv_nxt, Some(snd_nxt));
    let fin_again = forged(
        &mut net,
        c,
        TcpControl::Fin,
        rcv_nxt,
        Some(snd_nxt.wrapping_add(1)),
    );
    net.guest.bsd().close(c).unwrap();
    net.now += 1;
    net.guest.poll(net.now);
    let sent: Vec<_> = net
        .to_host
        .take_all()
        .iter()
        .filter_map(|f| tcp_of(f))
        .collect();
    assert_eq!(sent, [(snd_nxt, rcv_nxt, TcpControl::Fin, 0)]);
    // Both FINs are out: the guest acknowledges the host's and waits for the
    // acknowledgement of its own (CLOSING).
    assert_eq!(
        answers(&mut net, &fin),
        [(
            snd_nxt.wrapping_add(1),
            rcv_nxt.wrapping_add(1),
            TcpControl::None,
            0
        )]
    );
    assert_eq!(net.guest.socket_counts().orphans, 1);
    // The retransmission: acknowledged, and the orphan is done in that poll.
    let answer = answers(&mut net, &fin_again);
    assert!(
        answer
            .iter()
            .all(|&(_, _, control, _)| control == TcpControl::None),
        "{answer:?}"
    );
    assert_eq!(net.guest.socket_counts().orphans, 0);
    assert_eq!(net.guest.socket_counts().tcp, 0);
}

/// A SYN to the host's port 80 from `src:port`, a neighbour that never answers.
fn spoofed_syn(src: Ipv4Address, port: u16) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: port,
        dst_port: 80,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(i32::from(port) * 7919),
        ack_number: None,
        window_len: 64240,
        window_scale: None,
        max_seg_size: Some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let mut frame = ipv4(GW_MAC, src, GW_IP, IpProtocol::Tcp, tcp.buffer_len());
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, src.octets()[2], src.octets()[3]]);
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut frame[34..]),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(GW_IP),
        &ChecksumCapabilities::default(),
    );
    frame
}

/// The guest connects to the host's port 80; returns how long it took (ms).
fn timed_connect(net: &mut Net, limit_ms: u64) -> u64 {
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
    let start = net.now;
    net.until(limit_ms, |n| {
        n.guest.bsd().poll_connect(c) != Err(EINPROGRESS)
    });
    assert_eq!(net.guest.bsd().poll_connect(c), Ok(()));
    net.now - start
}

#[test]
fn eight_spoofed_syns_do_not_take_a_backlog_of_eight() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 8);
    // The guest is a live neighbour: it has spoken ARP to the host before.
    let warm = timed_connect(&mut net, 1000);
    let first = accept(&mut net, l);
    for i in 0..8 {
        net.to_host
            .inject(&spoofed_syn(Ipv4Address::new(10, 0, 2, 200), 1000 + i));
    }
    net.run(10);
    let took = timed_connect(&mut net, 5000);
    eprintln!("connect: {warm} ms before, {took} ms after 8 spoofed SYNs");
    assert!(took <= 50, "connect took {took} ms");
    // And the half-open ones are gone after a few seconds anyway.
    net.run(3_100);
    let again = timed_connect(&mut net, 5000);
    assert!(again <= 50, "connect took {again} ms");
    let _ = first;
}

#[test]
fn half_open_connections_from_silent_peers_expire_in_seconds() {
    let mut net = Net::new();
    let _l = listener(&mut net, 80, 2);
    for i in 0..2 {
        net.to_host.inject(&spoofed_syn(
            Ipv4Address::new(10, 0, 2, 201 + i as u8),
            2000 + i,
        ));
    }
    net.run(3_100);
    let took = timed_connect(&mut net, 5000);
    assert!(took <= 50, "connect took {took} ms");
}

#[test]
fn a_syn_flood_from_a_hundred_spoofed_neighbours_does_not_stop_real_clients() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 8);
    timed_connect(&mut net, 1000);
    accept(&mut net, l);
    // 3,000 SYNs from 100 silent addresses, 10 a millisecond, while the guest
    // connects every 50 ms.
    let mut worst = 0;
    let mut total = 0;
    let mut n = 0;
    let mut sent = 0u32;
    let mut next_connect = net.now;
    let mut pending: Option<(SocketId, u64)> = None;
    while sent < 3000 || pending.is_some() {
        for _ in 0..10 {
            if sent < 3000 {
                let src = Ipv4Address::new(10, 0, 2, 100 + (sent % 100) as u8);
                net.to_host
                    .inject(&spoofed_syn(src, 10_000 + (sent / 100) as u16));
                sent += 1;
            }
        }
        net.step();
        match pending {
            Some((c, start)) => match net.guest.bsd().poll_connect(c) {
                Err(EINPROGRESS) => assert!(net.now - start < 5000, "no connection in 5 s"),
                r => {
                    assert_eq!(r, Ok(()));
                    let took = net.now - start;
                    worst = worst.max(took);
                    total += took;
                    n += 1;
                    pending = None;
                    let _ = accept(&mut net, l);
                }
            },
            None if net.now >= next_connect && sent < 3000 => {
                let c = net.guest.bsd().open(SockKind::Stream).unwrap();
                net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
                pending = Some((c, net.now));
                next_connect = net.now + 50;
            }
            None => {}
        }
    }
    eprintln!(
        "during the flood: {n} connects, {} ms on average, {worst} ms at worst",
        total / n.max(1)
    );
    assert!(n >= 5, "{n} connects during the flood");
    assert!(worst <= 100, "a connect took {worst} ms");
    let after = timed_connect(&mut net, 5000);
    assert!(
        after <= 50,
        "right after the flood a connect took {after} ms"
    );
}
