//! The DHCP client against a minimal DHCP server written here with smoltcp's
//! wire types, and the static fallback. Every address is on the test link.

mod common;

use common::*;
use netstack::{Config, Lease, NetStack};
use smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetFrame, Ipv4Address, Ipv4Packet,
    UdpPacket,
};

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
