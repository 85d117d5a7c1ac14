//! Ingress admission: what to do with one arriving frame, decided before smoltcp sees it.
//!
//! smoltcp ignores frames it cannot use without saying why. To count every drop by
//! reason (and to keep each socket's queue bounded), the stack first runs the
//! frame through the same `wire` parsers and the same acceptance rules as smoltcp
//! 0.14's `iface/interface/{ethernet,ipv4,udp,tcp}.rs`. Only frames that smoltcp
//! will accept get past this point, so the counts are exact: a frame is either
//! handed on ([`Verdict`]) or dropped for one [`DropReason`]. Where our rules are
//! narrower than smoltcp's, the frame is dropped here: no multicast, no TCP to a
//! broadcast address, and what a hardened host ignores (Linux's defaults):
//!
//! - sources no host on the link can have ([`DropReason::Martian`]): the guest's
//!   own address or MAC, 0.0.0.0/8 (but for a DHCP reply), loopback, multicast,
//!   broadcast, 240.0.0.0/4; ARP that would bind an address to
//!   00:00:00:00:00:00, a group MAC or the guest's own MAC, or bind the guest's
//!   own address;
//! - echo requests to a broadcast address, so that a spoofed ping cannot make
//!   the guest answer for the whole link (`icmp_echo_ignore_broadcasts`);
//! - IPv4 options whose lengths do not add up (malformed, as RFC 1122 3.2.1.8
//!   wants them rejected) and source routes (`accept_source_route=0`).

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

use crate::counters::DropReason::{self, Malformed, Martian, NotForUs, Unsupported};

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

    fn is_me(&self, addr: Ipv4Address) -> bool {
        self.ip.is_some_and(|ip| ip.address() == addr)
    }

    /// A source address no other host can send from: ours, "this network"
    /// (0.0.0.0/8), loopback (127.0.0.0/8), multicast and reserved
    /// (224.0.0.0 and up, 255.255.255.255 included), the subnet's broadcast.
    fn is_martian(&self, addr: Ipv4Address) -> bool {
        let first = addr.octets()[0];
        first == 0 || first == 127 || first >= 224 || self.is_broadcast(addr) || self.is_me(addr)
    }

    /// A hardware address no other station can have: ours, a group (broadcast
    /// or multicast) address, or all zeros.
    fn is_martian_mac(&self, mac: EthernetAddress) -> bool {
        mac == self.mac || !mac.is_unicast() || mac.0 == [0; 6]
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
    // A frame from our own MAC or from a group address was not sent by another
    // station. (All zeros is left to ARP: a frame cut short and padded has it.)
    let src = eth.src_addr();
    if src == host.mac || !src.is_unicast() {
        return Err(Martian);
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
    // smoltcp learns the sender's binding from any ARP for us: never one that
    // would send our traffic nowhere, to everyone or back to ourselves, and
    // never a binding of our own address (that is a conflict, not a neighbor).
    if host.is_martian(source_protocol_addr) || host.is_martian_mac(source_hardware_addr) {
        return Err(Martian);
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
    // smoltcp skips the options without reading them; we read them first.
    ipv4_options(&packet.as_ref()[IPV4_HEADER_LEN..usize::from(packet.header_len())])?;
    // 0.0.0.0 is only allowed in a DHCP reply (from a server that has no
    // address yet); every other martian source is dropped here.
    let unspecified = ip.src_addr.is_unspecified();
    if host.is_martian(ip.src_addr) && !unspecified {
        return Err(Martian);
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
    if unspecified {
        return Err(Martian);
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
                // A ping to a broadcast address is not answered: a spoofed one
                // would have every host on the link answer its victim.
                Icmpv4Repr::EchoRequest { .. } if !host.is_me(ip.dst_addr) => Err(NotForUs),
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
            // TCP has no broadcast.
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

/// The length of an IPv4 header without options.
const IPV4_HEADER_LEN: usize = 20;

/// IPv4 option kinds (RFC 791) with a pointer field, and the source routes.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_RECORD_ROUTE: u8 = 7;
const OPT_TIMESTAMP: u8 = 0x44;
const OPT_LOOSE_ROUTE: u8 = 0x83;
const OPT_STRICT_ROUTE: u8 = 0x89;

/// Checks an IPv4 header's options as Linux's `ip_options_compile` does: each
/// option after the one-byte kinds (end of list, no-op) has a length of at
/// least 2 that stays inside the header, and the route and timestamp options
/// have room for their pointer, which points at a whole slot or past the end.
/// Source-routed datagrams are refused even when well formed, as a host that
/// does not forward does.
fn ipv4_options(options: &[u8]) -> Result<(), DropReason> {
    let mut source_route = false;
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            OPT_END => break,
            OPT_NOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*options.get(i + 1).ok_or(Malformed)?);
        if len < 2 || len > options.len() - i {
            return Err(Malformed);
        }
        // Where the first slot starts (the pointer counts from 1, past type,
        // length, pointer and the timestamp's flags byte) and how long a slot is.
        let slots = match kind {
            OPT_RECORD_ROUTE | OPT_LOOSE_ROUTE | OPT_STRICT_ROUTE if len >= 3 => Some((4, 4)),
            OPT_TIMESTAMP if len >= 4 => match options[i + 3] & 0x0f {
                0 => Some((5, 4)),     // timestamps only
                1 | 3 => Some((5, 8)), // each with an address
                _ => return Err(Malformed),
            },
            OPT_RECORD_ROUTE | OPT_LOOSE_ROUTE | OPT_STRICT_ROUTE | OPT_TIMESTAMP => {
                return Err(Malformed);
            }
            _ => None,
        };
        if let Some((first, slot)) = slots {
            // Not before the first slot; inside the option, a whole slot.
            let pointer = usize::from(options[i + 2]);
            if pointer < first || (pointer <= len && pointer + slot - 1 > len) {
                return Err(Malformed);
            }
        }
        source_route |= kind == OPT_LOOSE_ROUTE || kind == OPT_STRICT_ROUTE;
        i += len;
    }
    if source_route {
        return Err(Unsupported);
    }
    Ok(())
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

    /// `frame` (IPv4) from `src` instead, with every checksum made right again
    /// so that the source is the frame's only oddity.
    fn from_src(frame: &[u8], src: Ipv4Address) -> Vec<u8> {
        let mut f = frame.to_vec();
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HEADER_LEN..]);
        ip.set_src_addr(src);
        fix(&mut f);
        f
    }

    /// Recomputes the IPv4 header's checksum and the UDP or ICMP one.
    fn fix(f: &mut [u8]) {
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HEADER_LEN..]);
        ip.fill_checksum();
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        match ip.next_header() {
            IpProtocol::Udp => UdpPacket::new_unchecked(ip.payload_mut()).fill_checksum(&src, &dst),
            IpProtocol::Icmp => Icmpv4Packet::new_unchecked(ip.payload_mut()).fill_checksum(),
            _ => {}
        }
    }

    #[test]
    fn martian_sources_are_dropped() {
        let me = Ipv4Address::new(10, 0, 2, 15);
        for src in [
            me,
            Ipv4Address::new(0, 0, 0, 0),
            Ipv4Address::new(0, 1, 2, 3),
            Ipv4Address::new(127, 0, 0, 1),
            Ipv4Address::new(127, 255, 0, 9),
            Ipv4Address::new(224, 0, 0, 1),
            Ipv4Address::new(240, 0, 0, 1),
            Ipv4Address::new(255, 255, 255, 255),
            Ipv4Address::new(10, 0, 2, 255),
        ] {
            for frame in [UDP_IN, PING_REQUEST, TCP_SYN] {
                let f = from_src(frame, src);
                assert_eq!(classify(&f, &host()), Err(Martian), "from {src}: {f:02x?}");
            }
        }
        // Neighbors on and off the subnet are fine.
        for src in [Ipv4Address::new(10, 0, 2, 3), Ipv4Address::new(8, 8, 8, 8)] {
            let f = from_src(UDP_IN, src);
            assert!(matches!(classify(&f, &host()), Ok(Verdict::Udp { .. })));
        }
    }

    #[test]
    fn a_dhcp_reply_may_come_from_0_0_0_0() {
        let mut h = host();
        h.ip = None;
        h.dhcp = true;
        let mut f = from_src(UDP_IN, Ipv4Address::UNSPECIFIED);
        f[34..38].copy_from_slice(&[0, 67, 0, 68]);
        fix(&mut f);
        assert_eq!(classify(&f, &h), Ok(Verdict::Stack));
        // Not to another port, and not once no DHCP client runs.
        h.dhcp = false;
        assert_eq!(classify(&f, &h), Err(Martian));
        assert_eq!(
            classify(&from_src(UDP_IN, Ipv4Address::UNSPECIFIED), &host()),
            Err(Martian)
        );
    }

    #[test]
    fn frames_from_our_own_or_a_group_mac_are_martian() {
        for mac in [GUEST_MAC, [0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1]] {
            let mut f = UDP_IN.to_vec();
            f[6..12].copy_from_slice(&mac);
            assert_eq!(classify(&f, &host()), Err(Martian), "from {mac:02x?}");
        }
    }

    #[test]
    fn arp_that_binds_an_impossible_address_is_martian() {
        let with_sender = |mac: Option<[u8; 6]>, ip: Option<[u8; 4]>| {
            let mut f = ARP_REQUEST.to_vec();
            if let Some(mac) = mac {
                f[22..28].copy_from_slice(&mac);
            }
            if let Some(ip) = ip {
                f[28..32].copy_from_slice(&ip);
            }
            f
        };
        for mac in [[0; 6], [0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1], GUEST_MAC] {
            let f = with_sender(Some(mac), None);
            assert_eq!(classify(&f, &host()), Err(Martian), "sender MAC {mac:02x?}");
            // The same as a reply.
            let reply = patched(&f, 21, 2);
            assert_eq!(
                classify(&reply, &host()),
                Err(Martian),
                "sender MAC {mac:02x?}"
            );
        }
        for ip in [
            [10, 0, 2, 15],
            [0, 0, 0, 0],
            [127, 0, 0, 1],
            [10, 0, 2, 255],
        ] {
            let f = with_sender(None, Some(ip));
            assert_eq!(classify(&f, &host()), Err(Martian), "sender IP {ip:?}");
        }
        let other = with_sender(Some([0x52, 0x54, 0, 0, 0, 9]), Some([10, 0, 2, 9]));
        assert_eq!(classify(&other, &host()), Ok(Verdict::Stack));
    }

    #[test]
    fn pings_to_a_broadcast_address_are_not_answered() {
        for dst in [Ipv4Address::BROADCAST, Ipv4Address::new(10, 0, 2, 255)] {
            for mac in [[0xff; 6], GUEST_MAC] {
                let mut f = PING_REQUEST.to_vec();
                f[..6].copy_from_slice(&mac);
                Ipv4Packet::new_unchecked(&mut f[ETH_HEADER_LEN..]).set_dst_addr(dst);
                fix(&mut f);
                assert_eq!(classify(&f, &host()), Err(NotForUs), "ping to {dst}");
            }
        }
        // A ping to our address in a broadcast frame is still ours.
        let mut f = PING_REQUEST.to_vec();
        f[..6].fill(0xff);
        assert!(matches!(classify(&f, &host()), Ok(Verdict::Echo { .. })));
    }

    /// `UDP_IN` with `options` (padded to 4 bytes) in its IPv4 header.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut opts = options.to_vec();
        opts.resize(options.len().div_ceil(4) * 4, 0);
        let ip_at = ETH_HEADER_LEN;
        let mut f = UDP_IN[..ip_at + IPV4_HEADER_LEN].to_vec();
        f.extend_from_slice(&opts);
        f.extend_from_slice(&UDP_IN[ip_at + IPV4_HEADER_LEN..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ip_at..]);
        ip.set_header_len((IPV4_HEADER_LEN + opts.len()) as u8);
        ip.set_total_len((UDP_IN.len() - ip_at + opts.len()) as u16);
        ip.fill_checksum();
        f
    }

    #[test]
    fn ipv4_options_with_impossible_lengths_are_malformed() {
        for opts in [
            &[0x07, 0][..],                  // length 0
            &[0x94, 1],                      // length 1
            &[0x07, 40, 4],                  // past the header's 4 option bytes
            &[0x94, 5, 0, 0, 0x07, 9, 4, 0], // the second one runs past
            &[1, 1, 1, 0x94],                // no room for the length byte
            &[0x07, 2, 0, 0],                // record route without a pointer
            &[0x07, 7, 3, 0, 0, 0, 0, 0],    // pointer before its first slot
            &[0x07, 6, 4, 0, 0, 0, 0, 0],    // pointer at half a slot
            &[0x44, 3, 5, 0],                // timestamp without its flags byte
            &[0x44, 8, 4, 0, 0, 0, 0, 0],    // timestamp pointer before its slot
            &[0x44, 8, 5, 2, 0, 0, 0, 0],    // timestamp flags 2 (undefined)
            &[0x44, 8, 5, 1, 0, 0, 0, 0],    // no room for address and time
        ] {
            let f = with_options(opts);
            assert_eq!(classify(&f, &host()), Err(Malformed), "options {opts:02x?}");
        }
    }

    #[test]
    fn source_routes_are_refused_and_good_options_accepted() {
        for opts in [
            &[0x83, 7, 4, 10, 0, 2, 2, 0][..],
            &[0x89, 7, 8, 10, 0, 2, 2, 0],
        ] {
            assert_eq!(classify(&with_options(opts), &host()), Err(Unsupported));
        }
        for opts in [
            &[1, 1, 1, 0][..],                         // no-ops, end of list
            &[0, 0x07, 0, 0],                          // anything after the end
            &[0x07, 7, 4, 0, 0, 0, 0, 1],              // record route, room for one
            &[0x07, 3, 4, 0],                          // record route, full
            &[0x94, 4, 0, 0],                          // router alert
            &[0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamps
            &[0x44, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0], // addresses and timestamps
        ] {
            let f = with_options(opts);
            assert!(
                matches!(classify(&f, &host()), Ok(Verdict::Udp { .. })),
                "options {opts:02x?}: {:?}",
                classify(&f, &host())
            );
        }
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
