//! The DHCP client against a minimal DHCP server written here with smoltcp's
//! wire types, the static fallback, and the DNS resolver against a small
//! responder on the other stack. Every address is on the test link.

mod common;

use abi::errno::*;
use common::*;
use netstack::{Config, Lease, NetStack, QueryStatus, SockKind, SocketId};
use smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetFrame, Ipv4Address, Ipv4Packet,
    UdpPacket,
};
use std::net::Ipv4Addr;

/// A guest with no address yet, alone on a link the test plays the other end of.
fn bare_guest() -> (Stack, Port, Port) {
    let (input, output) = (Port::new(64), Port::new(64));
    let config = Config {
        addr: Ipv4Address::UNSPECIFIED,
        gateway: None,
        ..Config::default()
    };
    let dev = LinkDevice::new(GUEST_MAC, input.clone(), output.clone());
    (NetStack::new(dev, config), input, output)
}

/// A minimal DHCP server at 10.0.2.2: DISCOVER gets an OFFER of 10.0.2.15,
/// REQUEST an ACK; the lease names 10.0.2.2 as router and DNS server.
fn dhcp_server(frame: &[u8]) -> Option<(DhcpMessageType, Vec<u8>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if udp.dst_port() != 67 || udp.src_port() != 68 {
        return None;
    }
    let packet = DhcpPacket::new_checked(udp.payload()).ok()?;
    let request = DhcpRepr::parse(&packet).ok()?;
    let message_type = match request.message_type {
        DhcpMessageType::Discover => DhcpMessageType::Offer,
        DhcpMessageType::Request => DhcpMessageType::Ack,
        _ => return None,
    };
    let dns = [DhcpOption {
        kind: 6,
        data: &[10, 0, 2, 2],
    }];
    let reply = DhcpRepr {
        message_type,
        transaction_id: request.transaction_id,
        secs: 0,
        client_hardware_address: request.client_hardware_address,
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip: GUEST_IP,
        server_ip: GW_IP,
        router: Some(GW_IP),
        subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GW_IP),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(3600),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &dns,
    };
    let mut payload = vec![0; reply.buffer_len()];
    reply
        .emit(&mut DhcpPacket::new_unchecked(&mut payload[..]))
        .ok()?;
    let frame = udp_frame(
        [0xff; 6],
        (GW_IP, 67),
        (Ipv4Address::BROADCAST, 68),
        &payload,
    );
    Some((request.message_type, frame))
}

#[test]
fn dhcp_lease_is_acquired_and_applied() {
    let (mut guest, input, output) = bare_guest();
    assert_eq!(guest.ipv4(), (Ipv4Address::UNSPECIFIED, 0));
    guest.start_dhcp();
    let mut seen = Vec::new();
    let mut changed = false;
    for t in 0..10 {
        changed |= guest.poll(t).config_changed;
        for frame in output.take_all() {
            if let Some((asked, answer)) = dhcp_server(&frame) {
                seen.push(asked);
                input.inject(&answer);
            }
        }
    }
    assert_eq!(seen, [DhcpMessageType::Discover, DhcpMessageType::Request]);
    assert!(changed);
    assert_eq!(
        guest.dhcp_lease(),
        Some(Lease {
            addr: GUEST_IP,
            prefix_len: 24,
            gateway: Some(GW_IP),
            dns_servers: vec![GW_IP],
            server: GW_IP,
        })
    );
    assert_eq!(guest.ipv4(), (GUEST_IP, 24));
    assert_eq!(guest.gateway(), Some(GW_IP));
    assert_eq!(guest.counters().drops, Default::default());

    // The address works: the gateway's datagram reaches a bound port.
    guest.bind(2000).unwrap();
    input.inject(&arp_request_for_guest());
    input.inject(&udp_to_guest(25099, 2000, b"hi"));
    guest.poll(20);
    assert_eq!(guest.try_recv(2000, &mut [0; 8]), Ok((GW, 25099, 2)));
    guest.stop_dhcp();
    assert_eq!(
        guest.ipv4(),
        (GUEST_IP, 24),
        "the lease stays when DHCP stops"
    );
}

#[test]
fn without_a_server_the_kernel_falls_back_to_static() {
    let (mut guest, _input, output) = bare_guest();
    guest.start_dhcp();
    let mut discovers = 0;
    let mut now = 0;
    // Follow poll_at, as the kernel's timer does, for 30 s.
    while now < 30_000 {
        assert!(!guest.poll(now).config_changed);
        discovers += output
            .take_all()
            .iter()
            .filter(|f| dhcp_server(f).is_some())
            .count();
        now = guest
            .poll_at(now)
            .expect("DHCP retries on a timer")
            .max(now + 1);
    }
    assert!(discovers >= 2, "{discovers} DISCOVERs");
    assert_eq!(guest.dhcp_lease(), None);
    let before = guest.socket_counts().smoltcp;
    guest.stop_dhcp();
    assert_eq!(guest.socket_counts().smoltcp, before - 1);
    guest.set_ipv4(GUEST_IP, 24, Some(GW_IP));
    assert_eq!(guest.ipv4(), (GUEST_IP, 24));
    assert_eq!(guest.poll_at(now), None, "nothing left to do");
}

/// A DNS responder on the host: answers each query for `name` with `addrs`,
/// any other with NXDOMAIN. Returns how many queries it answered.
fn respond(host: &mut Stack, sock: SocketId, name: &str, addrs: &[Ipv4Addr]) -> usize {
    let mut answered = 0;
    let mut q = [0u8; 512];
    while let Ok((n, from)) = host.bsd().try_recvfrom(sock, &mut q) {
        let q = &q[..n];
        // The name, from its labels at offset 12.
        let mut labels = Vec::new();
        let mut at = 12;
        while q[at] != 0 {
            let len = usize::from(q[at]);
            labels.push(std::str::from_utf8(&q[at + 1..at + 1 + len]).unwrap());
            at += 1 + len;
        }
        let question_end = at + 1 + 4;
        let found = labels.join(".") == name;
        let mut r = q[..question_end].to_vec();
        r[2] = 0x81; // QR, RD
        r[3] = if found { 0x80 } else { 0x83 }; // RA; NXDOMAIN if not found
        let count = if found { addrs.len() as u16 } else { 0 };
        r[6..8].copy_from_slice(&count.to_be_bytes());
        for a in addrs.iter().filter(|_| found) {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&a.octets());
        }
        host.bsd().try_sendto(sock, &r, from).unwrap();
        answered += 1;
    }
    answered
}

fn dns_server(net: &mut Net) -> SocketId {
    let sock = net.host.bsd().open(SockKind::Datagram).unwrap();
    net.host.bsd().bind(sock, sa(GW_IP, 53)).unwrap();
    sock
}

#[test]
fn a_name_resolves_through_the_responder() {
    let mut net = Net::new();
    let server = dns_server(&mut net);
    let q = net.guest.start_query("server.test", GW_IP).unwrap();
    assert_eq!(net.guest.poll_query(q), Ok(QueryStatus::Pending));
    assert_eq!(net.guest.socket_counts().open, 1);
    let want = [Ipv4Addr::new(10, 0, 2, 2), Ipv4Addr::new(10, 0, 2, 9)];
    // The kernel's view: sleep until a poll names the query's socket.
    for _ in 0..100 {
        respond(&mut net.host, server, "server.test", &want);
        if net.step().0.readable.contains(q.socket()) {
            break;
        }
    }
    assert_eq!(
        net.guest.poll_query(q),
        Ok(QueryStatus::Ready(want.to_vec()))
    );
    assert_eq!(net.guest.socket_counts().open, 0, "the query is freed");
    assert_eq!(net.guest.poll_query(q), Err(EBADF));

    let q = net.guest.start_query("nowhere.test", GW_IP).unwrap();
    let mut result = Ok(QueryStatus::Pending);
    net.until(100, |n| {
        respond(&mut n.host, server, "server.test", &want);
        result = n.guest.poll_query(q);
        result != Ok(QueryStatus::Pending)
    });
    assert_eq!(result, Err(ENODATA));
}

#[test]
fn a_lost_query_is_retried() {
    let mut net = Net::new();
    let server = dns_server(&mut net);
    let q = net.guest.start_query("server.test", GW_IP).unwrap();
    net.run(10);
    // The first query is lost.
    assert!(net.host.bsd().try_recvfrom(server, &mut [0; 512]).is_ok());
    let retry_at = net.guest.poll_at(net.now).unwrap();
    assert!(retry_at <= 1000 + 10, "retry at {retry_at}");
    let addr = [Ipv4Addr::new(10, 0, 2, 7)];
    let mut answered = 0;
    net.until(1500, |n| {
        answered += respond(&mut n.host, server, "server.test", &addr);
        n.guest.poll_query(q) != Ok(QueryStatus::Pending)
    });
    assert_eq!(answered, 1);
    assert!(net.now >= 1000);
}

#[test]
fn an_unanswered_query_times_out_after_three_tries() {
    let (mut guest, input, output) = tapped(8);
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.take_all();
    let q = guest.start_query("server.test", GW_IP).unwrap();
    let (mut now, mut sent) = (0, 0);
    let result = loop {
        let woke = guest.poll(now).readable.contains(q.socket());
        sent += output
            .take_all()
            .iter()
            .filter_map(|f| parse_udp(f))
            .count();
        match guest.poll_query(q) {
            Ok(QueryStatus::Pending) => assert!(!woke),
            other => break other,
        }
        now = guest.poll_at(now).expect("a retry is scheduled");
    };
    assert_eq!(result, Err(ETIMEDOUT));
    assert_eq!(sent, 3);
    assert_eq!(now, 1000 + 2000 + 4000);
    assert_eq!(guest.poll_at(now), None);
}

#[test]
fn query_arguments_are_checked() {
    let (mut guest, _, _) = tapped(8);
    assert_eq!(guest.start_query("", GW_IP), Err(EINVAL));
    assert_eq!(guest.start_query("a..b", GW_IP), Err(EINVAL));
    assert_eq!(
        guest.start_query("x.test", Ipv4Address::UNSPECIFIED),
        Err(EINVAL)
    );
    guest.set_ipv4(GUEST_IP, 24, None);
    assert_eq!(
        guest.start_query("x.test", Ipv4Address::new(10, 0, 3, 1)),
        Err(ENETUNREACH)
    );
    let q = guest.start_query("x.test", GW_IP).unwrap();
    guest.cancel_query(q);
    assert_eq!(guest.socket_counts().open, 0);
}
