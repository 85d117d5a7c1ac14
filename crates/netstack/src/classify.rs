//! Ingress admission: what to do with one arriving frame, decided before smoltcp sees it.
//!
//! smoltcp ignores frames it cannot use without saying why. To count every drop by
//! reason (and to keep each lab port's queue bounded), the stack first runs the
//! frame through the same `wire` parsers and the same acceptance rules as smoltcp
//! 0.14's `iface/interface/{ethernet,ipv4,udp}.rs`. Only frames that smoltcp will
//! accept get past this point, so the counts are exact: a frame is either handed
//! on ([`Verdict`]) or dropped for one [`DropReason`]. Where our rules are
//! narrower than smoltcp's (no multicast, no TCP yet), the frame is dropped here.

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    UdpPacket, UdpRepr,
};

use crate::counters::DropReason::{self, Malformed, NotForUs, Unsupported};

/// The length of an Ethernet II header: destination, source, EtherType.
pub(crate) const ETH_HEADER_LEN: usize = 14;

/// The addresses that make a frame "ours".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    pub mac: EthernetAddress,
    pub ip: Ipv4Cidr,
    /// Largest IP packet; longer frames are malformed. Socket buffers are
    /// sized from it, so this check is what guarantees a datagram fits.
    pub mtu: usize,
}

impl Host {
    fn is_broadcast(&self, addr: Ipv4Address) -> bool {
        addr.is_broadcast() || self.ip.broadcast() == Some(addr)
    }

    /// smoltcp's `is_unicast_v4`: not broadcast (limited or subnet),
    /// not multicast, not 0.0.0.0.
    fn is_unicast(&self, addr: Ipv4Address) -> bool {
        !(self.is_broadcast(addr) || addr.is_multicast() || addr.is_unspecified())
    }
}

/// Where an accepted frame goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// smoltcp consumes it itself: ARP (it answers requests and learns
    /// neighbors) and ICMP (it answers echo requests).
    Stack,
    /// A UDP datagram for this host; the socket table picks the receiver.
    Udp {
        src: Ipv4Address,
        src_port: u16,
        dst_port: u16,
    },
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
    if target_protocol_addr != host.ip.address() {
        return Err(NotForUs);
    }
    if let ArpOperation::Unknown(_) = operation {
        return Err(Unsupported);
    }
    if !host.is_unicast(source_protocol_addr) || !source_hardware_addr.is_unicast() {
        return Err(Malformed);
    }
    // smoltcp only learns neighbors on its own subnet.
    if !host.ip.contains_addr(&source_protocol_addr) {
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
    if ip.dst_addr != host.ip.address() && !host.is_broadcast(ip.dst_addr) {
        return Err(NotForUs);
    }
    let body = packet.payload();
    match ip.next_header {
        IpProtocol::Icmp => {
            let icmp = Icmpv4Packet::new_checked(body).map_err(|_| Malformed)?;
            if !icmp.verify_checksum() {
                return Err(Malformed);
            }
            Icmpv4Repr::parse(&icmp, &checksums).map_err(|_| Unsupported)?;
            Ok(Verdict::Stack)
        }
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(body).map_err(|_| Malformed)?;
            let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
            // Checks the length field, the checksum (0 means none in IPv4)
            // and rejects destination port 0.
            let repr = UdpRepr::parse(&udp, &src, &dst, &checksums).map_err(|_| Malformed)?;
            Ok(Verdict::Udp {
                src: ip.src_addr,
                src_port: repr.src_port,
                dst_port: repr.dst_port,
            })
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
            ip: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
            mtu: 1500,
        }
    }

    #[test]
    fn accepts_udp_arp_and_ping() {
        assert_eq!(
            classify(UDP_IN, &host()),
            Ok(Verdict::Udp {
                src: Ipv4Address::new(10, 0, 2, 2),
                src_port: 25099,
                dst_port: 2000,
            })
        );
        assert_eq!(classify(ARP_REQUEST, &host()), Ok(Verdict::Stack));
        assert_eq!(classify(PING_REQUEST, &host()), Ok(Verdict::Stack));
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
        assert_eq!(classify(TCP_SYN, &host()), Err(Unsupported));
    }

    #[test]
    fn other_hosts_frames_are_not_for_us() {
        let other_mac = patched(UDP_IN, 5, 0x57);
        assert_eq!(classify(&other_mac, &host()), Err(NotForUs));
        let mut other_ip = host();
        other_ip.ip = Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 16), 24);
        assert_eq!(classify(UDP_IN, &other_ip), Err(NotForUs));
        assert_eq!(classify(ARP_REQUEST, &other_ip), Err(NotForUs));
    }
}
