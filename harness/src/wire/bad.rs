//! The bad frames the `net_wire` test sends, group by group, each with the drop reasons that
//! are right for it. Every frame is built well formed and then broken in one field, so that the
//! break is its only defect.

use std::net::Ipv4Addr;

use super::*;
use crate::ifconfig::Reason::{self, *};

/// The UDP port `udpecho` serves in the guest.
pub const ECHO_PORT: u16 = 2000;
/// The flood: this many frames (or as many as the test's time allows).
pub const FLOOD_FRAMES: usize = 20_000;

/// One bad frame and what the guest may do with it.
pub struct Bad {
    pub what: String,
    pub frame: Vec<u8>,
    /// The drop reasons that are right for it; more than one when a NIC may pad it to 60 bytes
    /// (QEMU's e1000 does, virtio-net does not), which changes what the stack sees.
    pub reasons: &'static [Reason],
    /// The NIC may drop it before the stack sees it (its address filter, its size limit).
    pub may_vanish: bool,
}

/// A bad frame the NIC must pass to the stack.
pub fn bad(what: impl Into<String>, frame: Vec<u8>, reasons: &'static [Reason]) -> Bad {
    Bad {
        what: what.into(),
        frame,
        reasons,
        may_vanish: false,
    }
}

impl Bad {
    /// The NIC may refuse it before the stack sees it.
    pub fn may_vanish(mut self) -> Bad {
        self.may_vanish = true;
        self
    }
}

/// A UDP datagram from the host to the guest's echo port, `len` payload bytes long.
pub fn udp_to_echo(len: usize) -> Vec<u8> {
    udp_frame(40000, ECHO_PORT, &pattern(len, 3))
}

/// `len` bytes that differ from one `salt` to another, so a reply cannot pass with stale data.
pub fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + salt) as u8).collect()
}

/// `frame` with its IP header changed by `patch`, and the header checksum fixed so that the
/// change is the frame's only defect.
fn ip_patched(frame: &[u8], patch: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut f = frame.to_vec();
    patch(&mut f[ETH_HEADER_LEN..]);
    fix_ipv4_checksum(&mut f);
    f
}

/// `frame` sent to the Ethernet address `dst` instead.
fn with_dst(mut frame: Vec<u8>, dst: Mac) -> Vec<u8> {
    frame[..6].copy_from_slice(&dst);
    frame
}

/// A valid IPv4 packet to the guest of protocol `proto` with 40 zero bytes as payload, so that
/// the frame is over 60 bytes and no NIC pads it.
fn ip_proto(proto: u8) -> Vec<u8> {
    ipv4_frame(&Ipv4Header::new(HOST_IP, GUEST_IP, proto), &[0; 40])
}

/// Truncated frames: under an Ethernet header, and with a header but cut before the IPv4, UDP or
/// ARP headers end.
pub fn truncated() -> Vec<Bad> {
    let base = udp_to_echo(100);
    let mut out = Vec::new();
    // No empty frame: QEMU 7.2's virtio-net cannot take one (it reports "try again later"
    // for ever and the link stops), so it would test QEMU, not the guest.
    for len in [1, 6, 12] {
        // Padded with zeros, the EtherType reads 0 (unsupported), or the destination is not
        // the guest's and an e1000 filters it.
        out.push(
            bad(
                format!("{len}-byte frame"),
                base[..len].to_vec(),
                &[Malformed, Unsupported],
            )
            .may_vanish(),
        );
    }
    // 13 bytes end inside the EtherType 0x08..; padded, it is IPv4 version 0.
    out.push(bad("13-byte frame", base[..13].to_vec(), &[Malformed]));
    for len in [14, 20, 33, 34, 41] {
        // Padded or not, the IP total length (128) is beyond the frame.
        out.push(bad(
            format!("IPv4/UDP frame cut to {len} bytes"),
            base[..len].to_vec(),
            &[Malformed],
        ));
    }
    // An ARP request for the guest cut inside the target address: padded, the target is 0.0.0.0.
    let arp = arp_request_frame(GUEST_IP);
    out.push(bad(
        "ARP request cut to 40 bytes",
        arp[..40].to_vec(),
        &[Malformed, NotForUs],
    ));
    out
}

/// Frames longer than the 1514 bytes of a 1500-byte MTU: the NIC may refuse them itself.
pub fn oversized() -> Vec<Bad> {
    let overhead = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;
    [1515, 1518, 1522, 1600, 9000]
        .into_iter()
        .map(|len| {
            bad(
                format!("{len}-byte UDP frame"),
                udp_to_echo(len - overhead),
                &[Malformed],
            )
            .may_vanish()
        })
        .collect()
}

/// IPv4 headers that lie.
pub fn bad_ipv4() -> Vec<Bad> {
    let base = udp_to_echo(20); // 62 bytes, IP total length 48
    let mut bad_sum = base.clone();
    bad_sum[ETH_HEADER_LEN + 8] ^= 1; // TTL, checksum not fixed
    let mut bad_icmp = ping_frame(9, 9, &[0x55; 32]);
    let last = bad_icmp.len() - 1;
    bad_icmp[last] ^= 0x80;
    vec![
        bad("IHL 4", ip_patched(&base, |ip| ip[0] = 0x44), &[Malformed]),
        bad("IHL 0", ip_patched(&base, |ip| ip[0] = 0x40), &[Malformed]),
        bad(
            "IHL 15 (60 bytes) in a 48-byte packet",
            ip_patched(&base, |ip| ip[0] = 0x4f),
            &[Malformed],
        ),
        bad("bad IPv4 header checksum", bad_sum, &[Malformed]),
        bad(
            "IP version 6 under EtherType IPv4",
            ip_patched(&base, |ip| ip[0] = 0x65),
            &[Malformed],
        ),
        bad(
            "total length 148 in a 48-byte packet",
            ip_patched(&base, |ip| ip[2..4].copy_from_slice(&148u16.to_be_bytes())),
            &[Malformed],
        ),
        bad(
            "total length 19",
            ip_patched(&base, |ip| ip[2..4].copy_from_slice(&19u16.to_be_bytes())),
            &[Malformed],
        ),
        // Sources no neighbor can have (more in the `net_hostile_ingress` test).
        bad(
            "source 255.255.255.255",
            ip_patched(&base, |ip| ip[12..16].fill(0xff)),
            &[Martian],
        ),
        bad(
            "source 224.0.0.1",
            ip_patched(&base, |ip| ip[12..16].copy_from_slice(&[224, 0, 0, 1])),
            &[Martian],
        ),
        bad(
            "echo request with a bad ICMP checksum",
            bad_icmp,
            &[Malformed],
        ),
    ]
}

/// IPv4 fragments: without reassembly none can be delivered.
pub fn fragments() -> Vec<Bad> {
    let frag = |what: &str, flags_fragment: u16| {
        let header = Ipv4Header {
            ident: 0x4242,
            flags_fragment,
            ..Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP)
        };
        let datagram = udp(HOST_IP, 40000, GUEST_IP, ECHO_PORT, &pattern(64, 5));
        bad(what, ipv4_frame(&header, &datagram), &[Malformed])
    };
    vec![
        frag("first fragment (MF, offset 0)", 0x2000),
        frag("middle fragment (MF, offset 8)", 0x2001),
        frag("last fragment (offset 185)", 185),
        frag("DF with offset 8", 0x4001),
    ]
}

/// Well-formed frames of kinds the stack does not speak.
pub fn unsupported() -> Vec<Bad> {
    let other_type = |ethertype: u16| {
        let frame = ethernet(GUEST_MAC, HOST_MAC, ethertype, &[0x5a; 46]);
        bad(format!("EtherType {ethertype:#06x}"), frame, &[Unsupported])
    };
    let mut arp_op3 = arp_request_frame(GUEST_IP);
    arp_op3[ETH_HEADER_LEN + 7] = 3;
    arp_op3.resize(MIN_FRAME, 0);
    let mut arp_hw6 = arp_request_frame(GUEST_IP);
    arp_hw6[ETH_HEADER_LEN + 1] = 6;
    arp_hw6.resize(MIN_FRAME, 0);
    let timestamp = {
        let mut m = vec![13, 0, 0, 0, 0, 1, 0, 1];
        m.extend_from_slice(&[0; 12]);
        let sum = checksum(&[&m]);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        ipv4_frame(&Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_ICMP), &m)
    };
    vec![
        other_type(0x88b5),
        other_type(0x86dd),
        other_type(0x8100),
        other_type(0x0042),
        bad("IP protocol 253", ip_proto(253), &[Unsupported]),
        bad("IP protocol 2 (IGMP)", ip_proto(2), &[Unsupported]),
        bad("ARP operation 3", arp_op3, &[Unsupported]),
        bad("ARP hardware type 6", arp_hw6, &[Unsupported]),
        bad("ICMP timestamp request", timestamp, &[Unsupported]),
    ]
}

/// UDP length fields that lie, bad checksums, port 0.
pub fn bad_udp() -> Vec<Bad> {
    let base = udp_to_echo(40);
    let udp_at = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    let with = |what: &str, at: usize, bytes: &[u8]| {
        let mut f = base.clone();
        f[udp_at + at..udp_at + at + bytes.len()].copy_from_slice(bytes);
        bad(what, f, &[Malformed])
    };
    vec![
        // The checksum stays the one computed over the whole datagram.
        with("UDP length 98 for 48 bytes", 4, &98u16.to_be_bytes()),
        with("UDP length 20 for 48 bytes", 4, &20u16.to_be_bytes()),
        with("UDP length 7", 4, &7u16.to_be_bytes()),
        with("UDP length 0", 4, &0u16.to_be_bytes()),
        with("bad UDP checksum", 6, &[0x12, 0x34]),
        bad(
            "UDP to port 0",
            udp_frame(40000, 0, &pattern(40, 1)),
            &[Malformed],
        ),
    ]
}

/// Datagrams to ports nobody bound: dropped without an ICMP error.
pub fn unbound() -> Vec<Bad> {
    let mut out: Vec<Bad> = [9, 2001, 65535]
        .into_iter()
        .map(|port| {
            bad(
                format!("UDP to unbound port {port}"),
                udp_frame(40000, port, &pattern(32, port.into())),
                &[NoSocket],
            )
        })
        .collect();
    let bcast = Ipv4Addr::new(10, 0, 2, 255);
    let datagram = udp(HOST_IP, 40000, bcast, 9, &pattern(32, 2));
    let frame = ethernet(
        BROADCAST,
        HOST_MAC,
        ETHERTYPE_IPV4,
        &Ipv4Header::new(HOST_IP, bcast, PROTO_UDP).emit(&datagram),
    );
    out.push(bad("UDP broadcast to 10.0.2.255:9", frame, &[NoSocket]));
    out
}

/// Frames for other hosts.
pub fn not_for_us() -> Vec<Bad> {
    const OTHER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
    let other_ip = Ipv4Addr::new(10, 0, 2, 99);
    let to_other_ip = ipv4_frame(
        &Ipv4Header::new(HOST_IP, other_ip, PROTO_UDP),
        &udp(HOST_IP, 40000, other_ip, ECHO_PORT, &pattern(32, 7)),
    );
    let group = Ipv4Addr::new(224, 0, 0, 1);
    let multicast = ethernet(
        [0x01, 0x00, 0x5e, 0, 0, 1],
        HOST_MAC,
        ETHERTYPE_IPV4,
        &Ipv4Header::new(HOST_IP, group, PROTO_UDP).emit(&udp(
            HOST_IP,
            40000,
            group,
            ECHO_PORT,
            &pattern(32, 8),
        )),
    );
    let mut who_has_other = arp_request_frame(other_ip);
    who_has_other.resize(MIN_FRAME, 0);
    vec![
        // An e1000 filters other unicast and multicast addresses; virtio-net starts promiscuous.
        bad(
            "UDP to the echo port for MAC 02:00:00:00:00:01",
            with_dst(udp_to_echo(32), OTHER_MAC),
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "echo request for MAC 02:00:00:00:00:01",
            with_dst(ping_frame(5, 5, &[1; 32]), OTHER_MAC),
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "UDP to 224.0.0.1 (01:00:5e:00:00:01)",
            multicast,
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "UDP to 10.0.2.99 at the guest's MAC",
            to_other_ip,
            &[NotForUs],
        ),
        bad("ARP: who has 10.0.2.99?", who_has_other, &[NotForUs]),
    ]
}

/// The flood: small datagrams to an unbound port, as fast as QEMU takes them. What the NIC
/// cannot hold it drops (QEMU's e1000 does, reading the socket at full speed), and those drops
/// must show as rx-ring-full.
pub fn flood() -> Vec<Bad> {
    let frame = udp_frame(40000, 9, &[0x46; 18]);
    (0..FLOOD_FRAMES)
        .map(|_| bad("flood: UDP to unbound port 9", frame.clone(), &[NoSocket]))
        .collect()
}

/// Builds the frames of one group of bad input.
pub type Group = fn() -> Vec<Bad>;

/// Every group but the flood, in the order the test sends them.
pub const GROUPS: [(&str, Group); 8] = [
    ("truncated Ethernet", truncated),
    ("oversized frames", oversized),
    ("bad IPv4 headers", bad_ipv4),
    ("IPv4 fragments", fragments),
    ("unsupported kinds", unsupported),
    ("UDP length and checksum", bad_udp),
    ("UDP to unbound ports", unbound),
    ("frames for other hosts", not_for_us),
];
