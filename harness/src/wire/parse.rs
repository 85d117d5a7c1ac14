//! What the guest sends, read with smoltcp's wire module (the same parsers the guest's stack
//! uses), with every length and checksum checked: a stack must not send what fails here. The
//! errors say which check failed, for [`describe`](super::describe) and the tests' messages.

use std::net::Ipv4Addr;

use smoltcp::wire::{
    ArpHardware, ArpPacket, EthernetFrame, EthernetProtocol, Icmpv4Packet, IpAddress, Ipv4Packet,
    UdpPacket,
};

use super::*;

/// An Ethernet II frame's header and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ethernet<'a> {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
    /// Everything after the header, including any padding up to 60 bytes.
    pub payload: &'a [u8],
}

impl<'a> Ethernet<'a> {
    pub fn parse(frame: &'a [u8]) -> Result<Ethernet<'a>, String> {
        let f = EthernetFrame::new_checked(frame)
            .map_err(|_| format!("{} bytes is shorter than an Ethernet header", frame.len()))?;
        Ok(Ethernet {
            dst: f.dst_addr().0,
            src: f.src_addr().0,
            ethertype: f.ethertype().into(),
            payload: f.payload(),
        })
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

impl Arp {
    /// Parses an Ethernet/IPv4 ARP packet (trailing padding allowed).
    pub fn parse(p: &[u8]) -> Result<Arp, String> {
        let short = || format!("{}-byte ARP packet", p.len());
        if p.len() < ARP_LEN {
            return Err(short());
        }
        let a = ArpPacket::new_checked(p).map_err(|_| short())?;
        let ethernet_ipv4 = a.hardware_type() == ArpHardware::Ethernet
            && a.protocol_type() == EthernetProtocol::Ipv4
            && a.hardware_len() == 6
            && a.protocol_len() == 4;
        if !ethernet_ipv4 {
            return Err(format!(
                "ARP for other hardware or protocol: {:02x?}",
                &p[..6]
            ));
        }
        let mac = |b: &[u8]| -> Mac { b.try_into().expect("hardware length 6") };
        let ip = |b: &[u8]| -> Ipv4Addr { <[u8; 4]>::try_from(b).expect("length 4").into() };
        Ok(Arp {
            op: a.operation().into(),
            sha: mac(a.source_hardware_addr()),
            spa: ip(a.source_protocol_addr()),
            tha: mac(a.target_hardware_addr()),
            tpa: ip(a.target_protocol_addr()),
        })
    }
}

/// An IPv4 packet whose header checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4<'a> {
    pub header: Ipv4Header,
    /// The payload as the total length field delimits it (Ethernet padding removed).
    pub payload: &'a [u8],
}

impl<'a> Ipv4<'a> {
    /// Parses and checks version, header length, total length and header checksum.
    pub fn parse(p: &'a [u8]) -> Result<Ipv4<'a>, String> {
        if p.len() < IPV4_HEADER_LEN {
            return Err(format!("{}-byte IPv4 packet", p.len()));
        }
        let unchecked = Ipv4Packet::new_unchecked(p);
        if unchecked.version() != 4 {
            return Err(format!("IP version {}", unchecked.version()));
        }
        let header_len = usize::from(unchecked.header_len());
        let total = usize::from(unchecked.total_len());
        let packet = Ipv4Packet::new_checked(p).map_err(|_| {
            format!(
                "IPv4 header length {header_len}, total length {total}, {} bytes",
                p.len()
            )
        })?;
        if !packet.verify_checksum() {
            return Err("bad IPv4 header checksum".into());
        }
        let flags_fragment = (u16::from(packet.dont_frag()) << 14)
            | (u16::from(packet.more_frags()) << 13)
            | (packet.frag_offset() / 8);
        Ok(Ipv4 {
            header: Ipv4Header {
                src: packet.src_addr(),
                dst: packet.dst_addr(),
                protocol: packet.next_header().into(),
                ident: packet.ident(),
                ttl: packet.hop_limit(),
                flags_fragment,
            },
            payload: packet.payload(),
        })
    }
}

/// A UDP datagram whose length and checksum checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub payload: &'a [u8],
}

impl<'a> Udp<'a> {
    /// Parses the UDP datagram in `ip`, checking that its length field is the IP payload's
    /// length and its checksum (which a sender may leave at 0, "none").
    pub fn parse(ip: &Ipv4<'a>) -> Result<Udp<'a>, String> {
        if ip.header.protocol != PROTO_UDP {
            return Err(format!("IP protocol {}, not UDP", ip.header.protocol));
        }
        let d = ip.payload;
        if d.len() < UDP_HEADER_LEN {
            return Err(format!("{}-byte UDP datagram", d.len()));
        }
        let unchecked = UdpPacket::new_unchecked(d);
        let len = unchecked.len();
        let packet = UdpPacket::new_checked(d)
            .ok()
            .filter(|_| usize::from(len) == d.len())
            .ok_or_else(|| format!("UDP length field {len} in a {}-byte IP payload", d.len()))?;
        let (src, dst) = (
            IpAddress::Ipv4(ip.header.src),
            IpAddress::Ipv4(ip.header.dst),
        );
        if !packet.verify_checksum(&src, &dst) {
            return Err("bad UDP checksum".into());
        }
        Ok(Udp {
            sport: packet.src_port(),
            dport: packet.dst_port(),
            payload: packet.payload(),
        })
    }
}

/// An ICMP echo request or reply whose checksum checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo<'a> {
    pub ty: u8,
    pub code: u8,
    pub id: u16,
    pub seq: u16,
    pub payload: &'a [u8],
}

impl<'a> Echo<'a> {
    pub fn parse(ip: &Ipv4<'a>) -> Result<Echo<'a>, String> {
        if ip.header.protocol != PROTO_ICMP {
            return Err(format!("IP protocol {}, not ICMP", ip.header.protocol));
        }
        let m = ip.payload;
        if m.len() < ICMP_ECHO_HEADER_LEN {
            return Err(format!("{}-byte ICMP message", m.len()));
        }
        let packet =
            Icmpv4Packet::new_checked(m).map_err(|_| format!("{}-byte ICMP message", m.len()))?;
        let ty = u8::from(packet.msg_type());
        if !matches!(ty, ICMP_ECHO_REPLY | ICMP_ECHO_REQUEST) {
            return Err(format!("ICMP type {ty} code {}", packet.msg_code()));
        }
        if !packet.verify_checksum() {
            return Err("bad ICMP checksum".into());
        }
        Ok(Echo {
            ty,
            code: packet.msg_code(),
            id: packet.echo_ident(),
            seq: packet.echo_seq_no(),
            payload: packet.data(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ARP_REQUEST_IN, PING_REQUEST, UDP_IN};

    #[test]
    fn parsers_read_every_field() {
        let eth = Ethernet::parse(UDP_IN).unwrap();
        assert_eq!(
            (eth.dst, eth.src, eth.ethertype),
            (GUEST_MAC, HOST_MAC, ETHERTYPE_IPV4)
        );
        let ip = Ipv4::parse(eth.payload).unwrap();
        assert_eq!(ip.header, Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP));
        let udp = Udp::parse(&ip).unwrap();
        assert_eq!(
            (udp.sport, udp.dport, udp.payload),
            (25099, 2000, &b"xyz"[..])
        );
        assert!(Echo::parse(&ip).is_err());

        let arp = Arp::parse(Ethernet::parse(ARP_REQUEST_IN).unwrap().payload).unwrap();
        assert_eq!(
            arp,
            Arp {
                op: ARP_REQUEST,
                sha: HOST_MAC,
                spa: HOST_IP,
                tha: [0; 6],
                tpa: GUEST_IP
            }
        );

        let ip = Ipv4::parse(&PING_REQUEST[ETH_HEADER_LEN..]).unwrap();
        let echo = Echo::parse(&ip).unwrap();
        assert_eq!(
            (echo.ty, echo.code, echo.id, echo.seq, echo.payload),
            (ICMP_ECHO_REQUEST, 0, 0x1234, 1, &b"ping"[..])
        );
    }

    #[test]
    fn ipv4_flags_and_fragment_offset_read_back_as_built() {
        for flags_fragment in [0x4000, 0x2000, 0x2001, 185, 0x4001] {
            let header = Ipv4Header {
                ident: 0x4242,
                ttl: 3,
                flags_fragment,
                ..Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP)
            };
            let packet = header.emit(b"data");
            assert_eq!(Ipv4::parse(&packet).unwrap().header, header);
        }
    }

    #[test]
    fn parsers_reject_what_a_stack_must_not_send() {
        let ip_of = |f: &[u8]| f[ETH_HEADER_LEN..].to_vec();
        // Ethernet padding after the IP packet is not part of it.
        let mut padded = UDP_IN.to_vec();
        padded.resize(60, 0);
        assert_eq!(
            Udp::parse(&Ipv4::parse(&ip_of(&padded)).unwrap())
                .unwrap()
                .payload,
            b"xyz"
        );

        assert!(Ethernet::parse(&UDP_IN[..13]).is_err());
        let mut bad = ip_of(UDP_IN);
        bad[8] ^= 1;
        assert_eq!(Ipv4::parse(&bad).unwrap_err(), "bad IPv4 header checksum");
        let mut long = UDP_IN.to_vec();
        long[17] += 1;
        fix_ipv4_checksum(&mut long);
        assert!(
            Ipv4::parse(&ip_of(&long))
                .unwrap_err()
                .contains("total length 32")
        );
        let mut short_ihl = UDP_IN.to_vec();
        short_ihl[14] = 0x44;
        fix_ipv4_checksum(&mut short_ihl);
        assert!(Ipv4::parse(&ip_of(&short_ihl)).is_err());

        let mut bad_udp = ip_of(UDP_IN);
        let last = bad_udp.len() - 1;
        bad_udp[last] = b'Y';
        let ip = Ipv4::parse(&bad_udp).unwrap();
        assert_eq!(Udp::parse(&ip).unwrap_err(), "bad UDP checksum");
        bad_udp[26..28].fill(0);
        assert_eq!(
            Udp::parse(&Ipv4::parse(&bad_udp).unwrap()).unwrap().payload,
            b"xyY"
        );

        let mut bad_icmp = ip_of(PING_REQUEST);
        bad_icmp[25] ^= 1;
        assert_eq!(
            Echo::parse(&Ipv4::parse(&bad_icmp).unwrap()).unwrap_err(),
            "bad ICMP checksum"
        );
    }
}
