//! Frames written out by hand, so that a test can break any field after building a good frame:
//! Ethernet, ARP, IPv4, UDP and ICMP echo, with correct lengths and checksums.

use std::net::Ipv4Addr;

use super::*;

/// The Internet checksum (RFC 1071) of the concatenation of `parts` (each of even length but
/// the last).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    use smoltcp::wire::checksum::{combine, data};
    let sums: Vec<u16> = parts.iter().map(|p| data(p)).collect();
    !combine(&sums)
}

/// An Ethernet II frame (no FCS: QEMU's backends carry frames without it).
pub fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HEADER_LEN + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet/IPv4 ARP packet (28 bytes).
pub fn arp_packet(op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(ARP_LEN);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa.octets());
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa.octets());
    p
}

/// The fields of an IPv4 header without options; lengths and checksum are computed on emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
    pub ttl: u8,
    /// Flags (DF 0x4000, MF 0x2000) and fragment offset in 8-byte units.
    pub flags_fragment: u16,
}

impl Ipv4Header {
    /// A header with TTL 64, identification 0 and no flags, like slirp's.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Ipv4Header {
        Ipv4Header {
            src,
            dst,
            protocol,
            ident: 0,
            ttl: 64,
            flags_fragment: 0,
        }
    }

    /// The packet: this header (with total length and checksum) followed by `payload`.
    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let total = (IPV4_HEADER_LEN + payload.len()) as u16;
        let mut p = Vec::with_capacity(total.into());
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&self.ident.to_be_bytes());
        p.extend_from_slice(&self.flags_fragment.to_be_bytes());
        p.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        let sum = checksum(&[&p]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }
}

/// Recomputes the IPv4 header checksum of an Ethernet frame after a test changed a header field,
/// over the header length the frame claims (so that a bad length is the frame's only defect), or
/// over what there is of it when the frame is shorter.
///
/// # Panics
/// If the frame ends before the checksum field.
pub fn fix_ipv4_checksum(frame: &mut [u8]) {
    let ip = &mut frame[ETH_HEADER_LEN..];
    let len = (usize::from(ip[0] & 0x0f) * 4).min(ip.len());
    ip[10..12].fill(0);
    let sum = checksum(&[&ip[..len]]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// The UDP pseudo-header (RFC 768) for a datagram of `len` bytes.
pub(super) fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = protocol;
    p[10..].copy_from_slice(&len.to_be_bytes());
    p
}

/// A UDP datagram (header and payload) with its checksum.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (UDP_HEADER_LEN + payload.len()) as u16;
    let mut d = Vec::with_capacity(len.into());
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    let sum = match checksum(&[&pseudo_header(src, dst, PROTO_UDP, len), &d]) {
        // 0 means "no checksum" in UDP over IPv4: all ones stands for a computed 0.
        0 => 0xffff,
        sum => sum,
    };
    d[6..8].copy_from_slice(&sum.to_be_bytes());
    d
}

/// An ICMP echo message (`ty` 8 request, 0 reply) with its checksum.
pub fn icmp_echo(ty: u8, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ICMP_ECHO_HEADER_LEN + payload.len());
    m.extend_from_slice(&[ty, 0, 0, 0]);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let sum = checksum(&[&m]);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// The host asks, by broadcast, who has `target`.
pub fn arp_request_frame(target: Ipv4Addr) -> Vec<u8> {
    ethernet(
        BROADCAST,
        HOST_MAC,
        ETHERTYPE_ARP,
        &arp_packet(ARP_REQUEST, HOST_MAC, HOST_IP, [0; 6], target),
    )
}

/// An IPv4 packet from the host to the guest in a frame from [`HOST_MAC`] to [`GUEST_MAC`].
pub fn ipv4_frame(header: &Ipv4Header, payload: &[u8]) -> Vec<u8> {
    ethernet(GUEST_MAC, HOST_MAC, ETHERTYPE_IPV4, &header.emit(payload))
}

/// A UDP datagram from the host's `sport` to the guest's `dport`.
pub fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv4_frame(
        &Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP),
        &udp(HOST_IP, sport, GUEST_IP, dport, payload),
    )
}

/// An echo request from the host to the guest.
pub fn ping_frame(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    ipv4_frame(
        &Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_ICMP),
        &icmp_echo(ICMP_ECHO_REQUEST, id, seq, payload),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ARP_REQUEST_IN, PING_REQUEST, UDP_IN};

    #[test]
    fn checksum_matches_rfc_1071() {
        // RFC 1071 §3's example: the sum is ddf2, its complement 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
        // An odd tail counts as its high byte; splitting at even offsets changes nothing.
        assert_eq!(
            checksum(&[&[0x00, 0x01], &[0xf2, 0x03, 0xf4]]),
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0x00]])
        );
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn builders_match_the_fixtures() {
        assert_eq!(udp_frame(25099, 2000, b"xyz"), UDP_IN);
        assert_eq!(arp_request_frame(GUEST_IP), ARP_REQUEST_IN);
        assert_eq!(ping_frame(0x1234, 1, b"ping"), PING_REQUEST);
    }

    #[test]
    fn a_computed_udp_checksum_of_zero_is_sent_as_all_ones() {
        // Find a payload whose checksum computes to 0, then check the builder writes 0xffff.
        let payload = (0u16..=u16::MAX)
            .map(|n| n.to_be_bytes())
            .find(|p| {
                let d = udp(HOST_IP, 1, GUEST_IP, 2, p);
                let mut raw = d.clone();
                raw[6..8].fill(0);
                checksum(&[&pseudo_header(HOST_IP, GUEST_IP, PROTO_UDP, 10), &raw]) == 0
            })
            .unwrap();
        let d = udp(HOST_IP, 1, GUEST_IP, 2, &payload);
        assert_eq!(&d[6..8], &[0xff, 0xff]);
        let packet = Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP).emit(&d);
        assert!(Udp::parse(&Ipv4::parse(&packet).unwrap()).is_ok());
    }
}
