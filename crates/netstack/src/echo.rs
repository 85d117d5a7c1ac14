//! The device-ceiling echo: what a NIC driver answers by itself, with no stack and
//! no sockets, when the kernel boots with `net.echo=1` (the benchmark's measure of
//! what QEMU's device and network allow). ARP requests for our address get a reply;
//! UDP datagrams and ICMP echo requests to our address go back where they came from.
//!
//! UDP is answered by swapping the MAC, IPv4 and port pairs: one's-complement sums
//! do not depend on the order of their words, so both checksums stay valid.

const ETH_HDR: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;
const ARP_LEN: usize = 28;

/// Writes the answer to `frame` into `out` and returns its length, or `None` when
/// the frame gets no answer (not for us, not ARP/UDP/ICMP echo, too short).
/// `out` must hold at least `frame.len()` bytes (and 42 for an ARP reply).
pub fn echo_reply(frame: &[u8], mac: [u8; 6], ip: [u8; 4], out: &mut [u8]) -> Option<usize> {
    if frame.len() < ETH_HDR || out.len() < frame.len().max(ETH_HDR + ARP_LEN) {
        return None;
    }
    let (eth, payload) = frame.split_at(ETH_HDR);
    let ethertype = [eth[12], eth[13]];
    if ethertype == ETHERTYPE_ARP {
        return arp_reply(eth, payload, mac, ip, out);
    }
    if ethertype != ETHERTYPE_IPV4 || eth[..6] != mac {
        return None;
    }
    let ihl = usize::from(*payload.first()? & 0x0f) * 4;
    if payload[0] >> 4 != 4 || ihl < 20 || payload.len() < ihl + 8 || payload[16..20] != ip {
        return None;
    }
    let proto = payload[9];
    let is_echo_request = proto == PROTO_ICMP && payload[ihl] == 8 && payload[ihl + 1] == 0;
    if proto != PROTO_UDP && !is_echo_request {
        return None;
    }
    let out = &mut out[..frame.len()];
    out.copy_from_slice(frame);
    out[0..6].copy_from_slice(&eth[6..12]);
    out[6..12].copy_from_slice(&mac);
    let l3 = &mut out[ETH_HDR..];
    l3.copy_within(12..16, 16); // source -> destination
    l3[12..16].copy_from_slice(&ip);
    let l4 = &mut l3[ihl..];
    if proto == PROTO_UDP {
        let src_port = [l4[0], l4[1]];
        l4.copy_within(2..4, 0);
        l4[2..4].copy_from_slice(&src_port);
    } else {
        // Echo request (8) -> reply (0): the checksum's type word drops by 0x0800,
        // so the checksum rises by 0x0800 (RFC 1624, end-around carry).
        l4[0] = 0;
        let sum = u32::from(u16::from_be_bytes([l4[2], l4[3]])) + 0x0800;
        let sum = (sum & 0xffff) + (sum >> 16);
        l4[2..4].copy_from_slice(&(sum as u16).to_be_bytes());
    }
    Some(frame.len())
}

/// An ARP reply to a request (Ethernet, IPv4) asking for `ip`.
fn arp_reply(eth: &[u8], arp: &[u8], mac: [u8; 6], ip: [u8; 4], out: &mut [u8]) -> Option<usize> {
    let request =
        arp.len() >= ARP_LEN && arp[0..8] == [0, 1, 8, 0, 6, 4, 0, 1] && arp[24..28] == ip;
    if !request {
        return None;
    }
    out[0..6].copy_from_slice(&eth[6..12]);
    out[6..12].copy_from_slice(&mac);
    out[12..14].copy_from_slice(&ETHERTYPE_ARP);
    let reply = &mut out[ETH_HDR..ETH_HDR + ARP_LEN];
    reply[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    reply[8..14].copy_from_slice(&mac);
    reply[14..18].copy_from_slice(&ip);
    reply[18..28].copy_from_slice(&arp[8..18]); // the asker's MAC and address
    Some(ETH_HDR + ARP_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, UdpPacket,
    };

    const IP: [u8; 4] = [10, 0, 2, 15];

    fn reply(frame: &[u8]) -> Option<Vec<u8>> {
        let mut out = [0u8; 1514];
        echo_reply(frame, GUEST_MAC, IP, &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn udp_goes_back_with_valid_checksums() {
        let out = reply(UDP_IN).unwrap();
        let eth = EthernetFrame::new_checked(&out[..]).unwrap();
        assert_eq!(eth.dst_addr().0, UDP_IN[6..12]);
        assert_eq!(eth.src_addr().0, GUEST_MAC);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr().octets(), IP);
        assert_eq!(ip.dst_addr().octets(), [10, 0, 2, 2]);
        assert_eq!(ip.next_header(), IpProtocol::Udp);
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (2000, 25099));
        assert!(udp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
        assert_eq!(udp.payload(), b"xyz");
    }

    #[test]
    fn ping_gets_a_valid_echo_reply() {
        let out = reply(PING_REQUEST).unwrap();
        let eth = EthernetFrame::new_checked(&out[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoReply {
                ident: 0x1234,
                seq_no: 1,
                data: b"ping"
            }
        );
    }

    #[test]
    fn arp_request_for_us_gets_the_guests_reply() {
        assert_eq!(reply(ARP_REQUEST).unwrap(), ARP_REPLY);
    }

    #[test]
    fn everything_else_is_ignored() {
        let for_other_ip = patched(UDP_IN, 33, 99);
        let for_other_mac = patched(UDP_IN, 0, 0x02);
        let arp_for_other = patched(ARP_REQUEST, 41, 99);
        for frame in [
            TCP_SYN,
            ARP_REPLY,
            &for_other_ip[..],
            &for_other_mac[..],
            &arp_for_other[..],
            &UDP_IN[..20],
            &UDP_IN[..10],
        ] {
            assert_eq!(reply(frame), None, "{frame:02x?}");
        }
    }
}
