//! The mutator: from a fixture, a frame with bit flips, interesting values in
//! header fields (checksums fixed up afterwards, so that the mutation reaches the
//! layer behind), truncation, random tails or IPv4 options of any length; and the
//! seedable randomness it draws from.

use smoltcp::wire::{
    Icmpv4Packet, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket, TcpSeqNumber,
    UdpPacket,
};

use crate::common::{GUEST_IP, GUEST_MAC, GW_IP, GW_MAC};
use crate::nic::{MAX_FRAME, Peer};

/// xorshift64*: small, seedable, allocation-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// IPv4 addresses worth trying in an address field.
const ADDRS: [Ipv4Address; 10] = [
    GUEST_IP,
    GW_IP,
    Ipv4Address::new(0, 0, 0, 0),
    Ipv4Address::new(255, 255, 255, 255),
    Ipv4Address::new(10, 0, 2, 255),
    Ipv4Address::new(127, 0, 0, 1),
    Ipv4Address::new(224, 0, 0, 1),
    Ipv4Address::new(10, 0, 2, 99),
    Ipv4Address::new(192, 168, 1, 1),
    Ipv4Address::new(10, 0, 2, 0),
];

/// MAC addresses worth trying in a hardware address field.
const MACS: [[u8; 6]; 6] = [
    GUEST_MAC,
    GW_MAC,
    [0; 6],
    [0xff; 6],
    [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
    [0x52, 0x54, 0x00, 0x99, 0x99, 0x99],
];

/// Recomputes whatever checksums the frame's (possibly mutated) headers allow.
pub fn fix_checksums(frame: &mut [u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut frame[14..]) else {
        return;
    };
    ip.fill_checksum();
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    let proto = ip.next_header();
    let body = ip.payload_mut();
    match proto {
        IpProtocol::Udp => {
            if let Ok(mut udp) = UdpPacket::new_checked(body) {
                udp.fill_checksum(&src, &dst);
            }
        }
        IpProtocol::Tcp => {
            if let Ok(mut tcp) = TcpPacket::new_checked(body) {
                tcp.fill_checksum(&src, &dst);
            }
        }
        IpProtocol::Icmp => {
            if let Ok(mut icmp) = Icmpv4Packet::new_checked(body) {
                icmp.fill_checksum();
            }
        }
        _ => {}
    }
}

/// Offsets of the header fields worth mutating (Ethernet, ARP, IPv4, L4 over
/// a 20-byte IPv4 header).
pub const FIELDS: [usize; 30] = [
    0, 5, 6, 12, 13, // Ethernet: destination, source, EtherType
    14, 15, 16, 17, 18, 20, 21, 22, 23, 26, 29, 30, 33, // IPv4 / ARP
    34, 35, 36, 37, 38, 39, 40, 41, 42, 46, 47, 48, // UDP, TCP, ICMP headers
];

/// Writes a mutated frame into `out` and returns its length.
pub fn mutate(rng: &mut Rng, base: &[u8], out: &mut [u8; MAX_FRAME]) -> usize {
    let mut len = base.len();
    out[..len].copy_from_slice(base);
    let mut fix = rng.chance(80);
    match rng.below(10) {
        // Untouched: valid traffic keeps the sockets busy.
        0 => fix = false,
        // A few random bytes anywhere.
        1 | 2 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(len);
                out[at] = rng.byte();
            }
        }
        // One bit.
        3 => {
            let at = rng.below(len);
            out[at] ^= 1 << rng.below(8);
            fix = rng.chance(50);
        }
        // An interesting value in a header field.
        4 | 5 => {
            let at = FIELDS[rng.below(FIELDS.len())].min(len - 1);
            match rng.below(4) {
                0 => out[at] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)],
                1 if at + 4 <= len => {
                    out[at..at + 4].copy_from_slice(&ADDRS[rng.below(ADDRS.len())].octets());
                }
                2 if at + 6 <= len => out[at..at + 6].copy_from_slice(&MACS[rng.below(6)]),
                _ => out[at] = rng.byte(),
            }
        }
        // Truncated.
        6 => {
            len = rng.below(len + 1);
            fix = rng.chance(30);
        }
        // A random tail, sometimes beyond the MTU.
        7 => {
            let max = if rng.chance(10) { MAX_FRAME } else { 1514 };
            let new_len = len + rng.below(max - len + 1);
            for byte in &mut out[len..new_len] {
                *byte = rng.byte();
            }
            len = new_len;
        }
        // IPv4 options of any kind and length, with the lengths made consistent.
        8 if len >= 34 && base[12..14] == [0x08, 0x00] => {
            let words = 1 + rng.below(10);
            let extra = words * 4;
            out.copy_within(34..len, 34 + extra);
            for byte in &mut out[34..34 + extra] {
                *byte = rng.byte();
            }
            // Often a plausible option: type, then a length that may lie.
            if rng.chance(70) {
                out[34] = [0x07, 0x44, 0x83, 0x89, 0x94, 0x01, 0x00][rng.below(7)];
                out[35] = [0, 1, 2, 3, 4, extra as u8, 40, 255][rng.below(8)];
            }
            len += extra;
            out[14] = 0x40 | (5 + words) as u8;
            let total = (len - 14) as u16;
            out[16..18].copy_from_slice(&total.to_be_bytes());
        }
        // Random bytes behind a valid Ethernet header, or entirely random
        // (including the empty frame).
        _ => {
            let keep = if rng.chance(50) { 14.min(len) } else { 0 };
            len = if rng.chance(5) {
                rng.below(15)
            } else {
                rng.below(1515)
            };
            for byte in &mut out[keep.min(len)..len] {
                *byte = rng.byte();
            }
        }
    }
    if fix {
        fix_checksums(&mut out[..len]);
    }
    len
}

/// Sets a connection fixture's sequence numbers to the connection's current ones.
pub fn sync_conn(frame: &mut [u8], len: usize, peer: &Peer, rng: &mut Rng) {
    let Ok(mut tcp) = TcpPacket::new_checked(&mut frame[34..len]) else {
        return;
    };
    // Now and then somewhere else in (or out of) the window.
    let skew = if rng.chance(20) {
        rng.below(200_000) as u32
    } else {
        0
    };
    tcp.set_seq_number(TcpSeqNumber(peer.acked.wrapping_add(skew) as i32));
    if tcp.ack() {
        tcp.set_ack_number(TcpSeqNumber(peer.guest_next as i32));
    }
    tcp.fill_checksum(&IpAddress::Ipv4(GW_IP), &IpAddress::Ipv4(GUEST_IP));
}
