//! Ingress admission: what to do with one arriving frame, decided before smoltcp sees it.
//!
//! smoltcp ignores frames it cannot use without saying why. To count every drop by
//! reason (and to keep each socket's queue bounded), the stack first runs the
//! frame through the same `wire` parsers and the same acceptance rules as smoltcp
//! 0.14's `iface/interface/{ethernet,ipv4,udp,tcp}.rs`. Only frames that smoltcp
//! will accept get past this point, so the counts are exact: a frame is either
//! handed on ([`Verdict`]) or dropped for one [`DropReason`]. Where our rules are
//! narrower than smoltcp's (no multicast, no TCP to a broadcast address), the
//! frame is dropped here.

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

use crate::counters::DropReason::{self, Malformed, NotForUs, Unsupported};

/// The length of an Ethernet II header: destination, source, EtherType.
pub(crate) const ETH_HEADER_LEN: usize = 14;

/// DHCP's server and client ports.
const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;

/// A TCP segment as the ingress path saw it, enough to tell which smoltcp
/// socket will take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub src: Ipv4Address,
    pub dst: Ipv4Address,
    pub src_port: u16,
    pub dst_port: u16,
    pub syn: bool,
    pub ack: bool,
    pub rst: bool,
}

/// The addresses that make a frame "ours".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    pub mac: EthernetAddress,
    /// `None` until an address is configured (static or by DHCP).
    pub ip: Option<Ipv4Cidr>,
    /// Largest IP packet; longer frames are malformed. Socket buffers are
    /// sized from it, so this check is what guarantees a datagram fits.
    pub mtu: usize,
    /// A DHCP client runs: replies to it are taken before any address check.
    pub dhcp: bool,
}

impl Host {
    fn is_broadcast(&self, addr: Ipv4Address) -> bool {
        addr.is_broadcast() || self.ip.and_then(|ip| ip.broadcast()) == Some(addr)
    }

    /// smoltcp's `is_unicast_v4`: not broadcast (limited or subnet),
    /// not multicast, not 0.0.0.0.
    fn is_unicast(&self, addr: Ipv4Address) -> bool {
        !(self.is_broadcast(addr) || addr.is_multicast() || addr.is_unspecified())
    }

    fn is_me(&self, addr: Ipv4Address) -> bool {
        self.ip.is_some_and(|ip| ip.address() == addr)
    }
}

/// Where an accepted frame goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// smoltcp consumes it itself: ARP (it answers requests and learns
    /// neighbors), ICMP other than echoes, DHCP replies for its client.
    Stack,
    /// A UDP datagram for this host; the socket table picks the receiver.
    Udp {
        src: Ipv4Address,
        src_port: u16,
        dst: Ipv4Address,
        dst_port: u16,
    },
    /// An ICMP echo request (smoltcp answers it) or reply, for an echo
    /// socket with that identifier if there is one.
    Echo { ident: u16, request: bool },
    /// A TCP segment for this host.
    Tcp(Segment),
}

/// Decides the fate of one received Ethernet frame.
pub(crate) fn classify(frame: &[u8], host: &Host) -> Result<Verdict, DropReason> {
    if frame.len() > ETH_HEADER_LEN + host.mtu {
        return Err(Malformed);
    }
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Malformed)?;
    let dst = eth.dst_addr();
    if dst != host.mac && !dst.is_broadcast() {
        return Err(NotForUs);
    }
    match eth.ethertype() {
        EthernetProtocol::Arp => arp(eth.payload(), host),
        EthernetProtocol::Ipv4 => ipv4(eth.payload(), host),
        _ => Err(Unsupported),
    }
}

fn arp(payload: &[u8], host: &Host) -> Result<Verdict, DropReason> {
    let packet = ArpPacket::new_checked(payload).map_err(|_| Malformed)?;
    let Ok(ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    }) = ArpRepr::parse(&packet)
    else {
        // Not Ethernet/IPv4 ARP (or a future smoltcp variant).
        return Err(Unsupported);
    };
    let Some(ip) = host.ip.filter(|ip| ip.address() == target_protocol_addr) else {
        return Err(NotForUs);
    };
    if let ArpOperation::Unknown(_) = operation {
        return Err(Unsupported);
    }
    if !host.is_unicast(source_protocol_addr) || !source_hardware_addr.is_unicast() {
        return Err(Malformed);
    }
    // smoltcp only learns neighbors on its own subnet.
    if !ip.contains_addr(&source_protocol_addr) {
        return Err(NotForUs);
    }
    Ok(Verdict::Stack)
}

fn ipv4(payload: &[u8], host: &Host) -> Result<Verdict, DropReason> {
    let checksums = Default::default();
    let packet = Ipv4Packet::new_checked(payload).map_err(|_| Malformed)?;
    // Checks the version and the header checksum, and rejects fragments:
    // without reassembly a fragment cannot be delivered.
    let ip = Ipv4Repr::parse(&packet, &checksums).map_err(|_| Malformed)?;
    if !host.is_unicast(ip.src_addr) && !ip.src_addr.is_unspecified() {
        return Err(Malformed);
    }
    let body = packet.payload();
    let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
    // smoltcp gives DHCP replies to its client before looking at the address.
    if host.dhcp && ip.next_header == IpProtocol::Udp {
        let udp = UdpPacket::new_checked(body).map_err(|_| Malformed)?;
        if udp.src_port() == DHCP_SERVER_PORT && udp.dst_port() == DHCP_CLIENT_PORT {
            UdpRepr::parse(&udp, &src, &dst, &checksums).map_err(|_| Malformed)?;
            return Ok(Verdict::Stack);
        }
    }
    if !host.is_me(ip.dst_addr) && !host.is_broadcast(ip.dst_addr) {
        return Err(NotForUs);
    }
    match ip.next_header {
        IpProtocol::Icmp => {
            let icmp = Icmpv4Packet::new_checked(body).map_err(|_| Malformed)?;
            if !icmp.verify_checksum() {
                return Err(Malformed);
            }
            match Icmpv4Repr::parse(&icmp, &checksums).map_err(|_| Unsupported)? {
                Icmpv4Repr::EchoRequest { ident, .. } => Ok(Verdict::Echo {
                    ident,
                    request: true,
                }),
                Icmpv4Repr::EchoReply { ident, .. } => Ok(Verdict::Echo {
                    ident,
                    request: false,
                }),
                _ => Ok(Verdict::Stack),
            }
        }
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(body).map_err(|_| Malformed)?;
            // Checks the length field, the checksum (0 means none in IPv4)
            // and rejects destination port 0.
            let repr = UdpRepr::parse(&udp, &src, &dst, &checksums).map_err(|_| Malformed)?;
            Ok(Verdict::Udp {
                src: ip.src_addr,
                src_port: repr.src_port,
                dst: ip.dst_addr,
                dst_port: repr.dst_port,
            })
        }
        IpProtocol::Tcp => {
            // smoltcp drops TCP from 0.0.0.0; TCP has no broadcast.
            if ip.src_addr.is_unspecified() {
                return Err(Malformed);
            }
            if !host.is_me(ip.dst_addr) {
                return Err(NotForUs);
            }
            let tcp = TcpPacket::new_checked(body).map_err(|_| Malformed)?;
            // Checks the checksum, the header length and the options.
            let repr = TcpRepr::parse(&tcp, &src, &dst, &checksums).map_err(|_| Malformed)?;
            Ok(Verdict::Tcp(Segment {
                src: ip.src_addr,
                dst: ip.dst_addr,
                src_port: repr.src_port,
                dst_port: repr.dst_port,
                syn: repr.control == TcpControl::Syn,
                ack: repr.ack_number.is_some(),
                rst: repr.control == TcpControl::Rst,
            }))
        }
        _ => Err(Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn host() -> Host {
        Host {
            mac: EthernetAddress(GUEST_MAC),
            ip: Some(Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24)),
            mtu: 1500,
            dhcp: false,
        }
    }

    #[test]
    fn accepts_udp_arp_ping_and_tcp() {
        let gw = Ipv4Address::new(10, 0, 2, 2);
        let me = Ipv4Address::new(10, 0, 2, 15);
        assert_eq!(
            classify(UDP_IN, &host()),
            Ok(Verdict::Udp {
                src: gw,
                src_port: 25099,
                dst: me,
                dst_port: 2000,
            })
        );
        assert_eq!(classify(ARP_REQUEST, &host()), Ok(Verdict::Stack));
        assert_eq!(
            classify(PING_REQUEST, &host()),
            Ok(Verdict::Echo {
                ident: 0x1234,
                request: true
            })
        );
        assert_eq!(
            classify(TCP_SYN, &host()),
            Ok(Verdict::Tcp(Segment {
                src: gw,
                dst: me,
                src_port: 40000,
                dst_port: 80,
                syn: true,
                ack: false,
                rst: false,
            }))
        );
    }

    #[test]
    fn tcp_checksum_is_checked() {
        let bad = patched(TCP_SYN, TCP_SYN.len() - 1, 1);
        assert_eq!(classify(&bad, &host()), Err(Malformed));
    }

    #[test]
    fn without_an_address_only_dhcp_replies_get_in() {
        let mut h = host();
        h.ip = None;
        assert_eq!(classify(UDP_IN, &h), Err(NotForUs));
        assert_eq!(classify(ARP_REQUEST, &h), Err(NotForUs));
        // The same datagram from port 67 to 68, once a DHCP client runs.
        let mut dhcp = patched(&patched(UDP_IN, 34, 0), 35, 67);
        dhcp = patched(&patched(&dhcp, 36, 0), 37, 68);
        // No UDP checksum (0), rather than recomputing it.
        dhcp = patched(&patched(&dhcp, 40, 0), 41, 0);
        assert_eq!(classify(&dhcp, &h), Err(NotForUs));
        h.dhcp = true;
        assert_eq!(classify(&dhcp, &h), Ok(Verdict::Stack));
    }

    #[test]
    fn truncated_ethernet_is_malformed() {
        assert_eq!(classify(&UDP_IN[..13], &host()), Err(Malformed));
        assert_eq!(classify(&[], &host()), Err(Malformed));
    }

    #[test]
    fn oversized_frame_is_malformed() {
        let mut big = [0u8; 1515];
        big[..UDP_IN.len()].copy_from_slice(UDP_IN);
        assert_eq!(classify(&big, &host()), Err(Malformed));
    }

    #[test]
    fn bad_ipv4_headers_are_malformed() {
        // IHL 4 (16 bytes) is shorter than the minimum header.
        let short_ihl = patched(UDP_IN, 14, 0x44);
        assert_eq!(classify(&short_ihl, &host()), Err(Malformed));
        // One flipped bit in the TTL breaks the header checksum.
        let bad_sum = patched(UDP_IN, 14 + 8, UDP_IN[14 + 8] ^ 1);
        assert_eq!(classify(&bad_sum, &host()), Err(Malformed));
        // Total length beyond the frame.
        let long = patched(UDP_IN, 14 + 3, 0xff);
        assert_eq!(classify(&long, &host()), Err(Malformed));
        // Version 6 in an IPv4 EtherType.
        let v6 = patched(UDP_IN, 14, 0x65);
        assert_eq!(classify(&v6, &host()), Err(Malformed));
    }

    #[test]
    fn udp_length_lies_are_malformed() {
        // UDP length 0xff13 claims more bytes than the IP payload holds.
        let long = patched(UDP_IN, 14 + 20 + 4, 0xff);
        assert_eq!(classify(&long, &host()), Err(Malformed));
        // UDP length 7 is shorter than the UDP header.
        let short = patched(&patched(UDP_IN, 14 + 20 + 4, 0), 14 + 20 + 5, 7);
        assert_eq!(classify(&short, &host()), Err(Malformed));
    }

    #[test]
    fn udp_checksum_is_checked_unless_zero() {
        let bad = patched(UDP_IN, UDP_IN.len() - 1, b'Y');
        assert_eq!(classify(&bad, &host()), Err(Malformed));
        let none = patched(&patched(&bad, 14 + 20 + 6, 0), 14 + 20 + 7, 0);
        assert!(matches!(classify(&none, &host()), Ok(Verdict::Udp { .. })));
    }

    #[test]
    fn unknown_ethertype_and_protocol_are_unsupported() {
        let lldp = patched(UDP_IN, 12, 0x88);
        assert_eq!(classify(&lldp, &host()), Err(Unsupported));
        // Protocol 47 (GRE), with the IPv4 header checksum fixed up.
        let mut gre = patched(TCP_SYN, 14 + 9, 47);
        Ipv4Packet::new_unchecked(&mut gre[14..]).fill_checksum();
        assert_eq!(classify(&gre, &host()), Err(Unsupported));
    }

    #[test]
    fn other_hosts_frames_are_not_for_us() {
        let other_mac = patched(UDP_IN, 5, 0x57);
        assert_eq!(classify(&other_mac, &host()), Err(NotForUs));
        let mut other_ip = host();
        other_ip.ip = Some(Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 16), 24));
        assert_eq!(classify(UDP_IN, &other_ip), Err(NotForUs));
        assert_eq!(classify(ARP_REQUEST, &other_ip), Err(NotForUs));
    }
}
