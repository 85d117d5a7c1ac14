//! The generator's starting points: valid frames of every kind the guest's
//! sockets take (ARP, ICMP echo, UDP to the lab port and to a BSD socket, TCP to a
//! listener and to the established connection), and the ports they aim at.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpAddress,
    IpProtocol, Ipv4Address, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

use crate::common::{
    GUEST_IP, GUEST_MAC, GW_IP, GW_MAC, arp_request_for_guest, echo_request, ipv4,
};

/// Ports and identifiers of the guest's sockets.
pub const LAB_PORT: u16 = 2000;
pub const UDP_PORT: u16 = 3000;
pub const TCP_PORT: u16 = 80;
pub const ECHO_IDENT: u16 = 0x4242;

/// A TCP segment from the test's client (10.0.2.2) to the guest.
pub fn tcp_frame(
    src_port: u16,
    dst_port: u16,
    control: TcpControl,
    seq: u32,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let repr = TcpRepr {
        src_port,
        dst_port,
        control,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
        window_len: 64240,
        window_scale: None,
        max_seg_size: (control == TcpControl::Syn).then_some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let mut buf = ipv4(
        GUEST_MAC,
        GW_IP,
        GUEST_IP,
        IpProtocol::Tcp,
        repr.buffer_len(),
    );
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut buf[34..]),
        &IpAddress::Ipv4(GW_IP),
        &IpAddress::Ipv4(GUEST_IP),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// An ICMP echo message from the gateway to `dst` (and `dst_mac`).
pub fn echo_frame(dst_mac: [u8; 6], dst: Ipv4Address, repr: &Icmpv4Repr) -> Vec<u8> {
    let mut buf = ipv4(dst_mac, GW_IP, dst, IpProtocol::Icmp, repr.buffer_len());
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[34..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// An ARP reply from the gateway to the guest.
pub fn arp_reply_to_guest() -> Vec<u8> {
    let mut buf = arp_request_for_guest();
    buf[..6].copy_from_slice(&GUEST_MAC);
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(GW_MAC),
        source_protocol_addr: GW_IP,
        target_hardware_addr: EthernetAddress(GUEST_MAC),
        target_protocol_addr: GUEST_IP,
    };
    arp.emit(&mut ArpPacket::new_unchecked(&mut buf[14..]));
    buf
}

/// Which fixture a frame came from: the established connection's segments
/// get the connection's current sequence numbers before they are mutated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Conn,
}

pub fn fixtures(client_port: u16) -> Vec<(Kind, Vec<u8>)> {
    use crate::common::udp_frame;
    let data = |n: usize| -> Vec<u8> { (0..n).map(|i| i as u8).collect() };
    let plain = [
        arp_request_for_guest(),
        arp_reply_to_guest(),
        echo_request(7, 1, b"ping"),
        echo_request(ECHO_IDENT, 2, &data(56)),
        echo_frame(
            GUEST_MAC,
            GUEST_IP,
            &Icmpv4Repr::EchoReply {
                ident: ECHO_IDENT,
                seq_no: 1,
                data: b"pong",
            },
        ),
        udp_frame(GUEST_MAC, (GW_IP, 25099), (GUEST_IP, LAB_PORT), b"lab"),
        udp_frame(GUEST_MAC, (GW_IP, 25099), (GUEST_IP, UDP_PORT), &data(300)),
        udp_frame(GUEST_MAC, (GW_IP, 25099), (GUEST_IP, 4000), b"nobody"),
        udp_frame(
            [0xff; 6],
            (GW_IP, 25099),
            (Ipv4Address::new(255, 255, 255, 255), UDP_PORT),
            b"all",
        ),
        tcp_frame(41000, TCP_PORT, TcpControl::Syn, 1000, None, &[]),
        tcp_frame(41001, 81, TcpControl::Syn, 2000, None, &[]),
    ];
    let conn = [
        tcp_frame(
            client_port,
            TCP_PORT,
            TcpControl::None,
            0,
            Some(0),
            &data(100),
        ),
        tcp_frame(client_port, TCP_PORT, TcpControl::None, 0, Some(0), &[]),
        tcp_frame(client_port, TCP_PORT, TcpControl::Rst, 0, None, &[]),
        tcp_frame(client_port, TCP_PORT, TcpControl::Syn, 0, None, &[]),
    ];
    plain
        .into_iter()
        .map(|f| (Kind::Plain, f))
        .chain(conn.into_iter().map(|f| (Kind::Conn, f)))
        .collect()
}
