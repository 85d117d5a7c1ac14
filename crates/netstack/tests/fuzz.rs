//! Fuzzing the whole ingress path: random and mutated frames into
//! `NetStack::poll`, with a socket of every kind open.
//!
//! Each frame starts from a valid fixture (ARP, ICMP echo, UDP to the lab port
//! and to a BSD socket, TCP to a listener and to an established connection) or
//! from random bytes, and is then mutated: bit flips, interesting values in
//! header fields (with the checksums fixed up afterwards so that the mutation
//! reaches the layer behind), truncation, random tails, IPv4 options of any
//! length. After every frame the test checks that
//!
//! - nothing panicked (the failing frame is printed, with the seed);
//! - the counters add up: every frame is counted received, and at most one drop
//!   reason rises for it (exactly one when the frame cannot be delivered at
//!   all: a runt, an oversized frame, another host's MAC). Delivered frames
//!   have no counter of their own, so "delivered" is "no drop counted";
//! - nothing is allocated while frames flow (the fixed-size rings and socket
//!   buffers must absorb any input);
//! - what the stack sends is well formed, comes from its own MAC and address,
//!   and is never more than a few frames per frame received;
//! - nothing a hardened host ignores is answered: no echo reply to a ping sent
//!   to a broadcast or multicast address or from a martian source (which is
//!   also always dropped), and nothing sent to a martian address or to a MAC
//!   no neighbor can have (which only a poisoned ARP cache would do).
//!
//! `cargo test -p netstack --test fuzz` runs 20,000 frames, a few seconds in a
//! debug build. At length:
//!
//! ```text
//! FUZZ_FRAMES=5000000 cargo test --release -p netstack --test fuzz -- --nocapture
//! ```
//!
//! `FUZZ_SEED=<number>` replays one run (a failure prints the seed it used).
//! Two more tests check what a hardened host ignores: echo requests to a
//! broadcast or multicast address, and frames from martian sources.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddrV4;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use common::{GUEST_IP, GUEST_MAC, GW_IP, GW_MAC, arp_request_for_guest, echo_request, ipv4};
use netstack::{Config, Drops, NetDevice, NetStack, RxRing, SockKind, SocketId, TxRing};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl,
    TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};

// ---------------------------------------------------------------------------
// Allocation meter (as in no_alloc.rs): counts on the asking thread only.

struct Counting;

thread_local! {
    static ALLOCS: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting
// only touches a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn start_counting() {
    ALLOCS.with(|c| c.set(Some(0)));
}

fn stop_counting() -> usize {
    ALLOCS.with(|c| c.take()).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// A NIC that holds one received frame and inspects every sent one in place.

/// Longest frame the fuzzer makes: beyond Ethernet's 1514, to test oversize.
const MAX_FRAME: usize = 2048;
/// Most frames one received frame may cause the stack to send.
const MAX_TX_PER_POLL: usize = 4;

/// What the test learns from the guest's TCP segments to the test's client.
#[derive(Clone, Copy, Debug, Default)]
struct Peer {
    /// The guest's next sequence number (what the client acknowledges).
    guest_next: u32,
    /// What the guest acknowledged: the client's next sequence number.
    acked: u32,
    /// The guest sent a SYN-ACK, RST or FIN since last looked.
    syn_ack: bool,
}

struct FuzzRx {
    frame: [u8; MAX_FRAME],
    len: Option<usize>,
}

struct FuzzTx {
    buf: [u8; MAX_FRAME],
    /// Frames sent during this poll.
    sent: usize,
    total: u64,
    /// The first sent frame that broke a rule, and which rule.
    bad: Option<(&'static str, [u8; MAX_FRAME], usize)>,
    /// The client's TCP port, to follow its connection.
    client_port: u16,
    peer: Peer,
    /// ICMP echo replies sent.
    echo_replies: u64,
}

struct FuzzNic {
    rx: FuzzRx,
    tx: FuzzTx,
}

impl RxRing for FuzzRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let len = self.len.take()?;
        Some(f(&self.frame[..len]))
    }
}

impl TxRing for FuzzTx {
    fn can_transmit(&self) -> bool {
        true
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        if len > MAX_FRAME {
            return Err(f);
        }
        let result = f(&mut self.buf[..len]);
        self.sent += 1;
        self.total += 1;
        match inspect(&self.buf[..len], self.client_port) {
            Ok(seen) => {
                self.echo_replies += u64::from(seen.echo_reply);
                if let Some(segment) = seen.client_segment {
                    self.follow(segment);
                }
            }
            Err(rule) => {
                if self.bad.is_none() {
                    self.bad = Some((rule, self.buf, len));
                }
            }
        }
        Ok(result)
    }
}

/// A segment the guest sent to the test's client.
#[derive(Clone, Copy)]
struct ClientSegment {
    /// The sequence number after it.
    next: u32,
    ack: Option<u32>,
    /// SYN, FIN or RST.
    control: bool,
}

/// What a sent frame was, as far as the test cares.
#[derive(Default)]
struct Seen {
    echo_reply: bool,
    client_segment: Option<ClientSegment>,
}

/// Checks one sent frame, without allocating.
fn inspect(frame: &[u8], client_port: u16) -> Result<Seen, &'static str> {
    let caps = ChecksumCapabilities::default();
    let mut seen = Seen::default();
    {
        if frame.len() > 14 + 1500 {
            return Err("frame longer than the MTU");
        }
        let eth = EthernetFrame::new_checked(frame).map_err(|_| "short Ethernet frame")?;
        if eth.src_addr() != EthernetAddress(GUEST_MAC) {
            return Err("source MAC is not the guest's");
        }
        match eth.ethertype() {
            EthernetProtocol::Arp => {
                let packet = ArpPacket::new_checked(eth.payload()).map_err(|_| "bad ARP")?;
                let ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_hardware_addr,
                    target_protocol_addr,
                } = ArpRepr::parse(&packet).map_err(|_| "bad ARP")?
                else {
                    return Err("ARP not Ethernet/IPv4");
                };
                if source_hardware_addr != EthernetAddress(GUEST_MAC)
                    || source_protocol_addr != GUEST_IP
                {
                    return Err("ARP sender is not the guest");
                }
                if martian(target_protocol_addr) {
                    return Err("ARP about a martian address");
                }
                if operation == ArpOperation::Reply && impossible_mac(target_hardware_addr.0) {
                    return Err("ARP reply to an impossible MAC");
                }
                Ok(seen)
            }
            EthernetProtocol::Ipv4 => {
                if impossible_mac(eth.dst_addr().0) {
                    return Err("IPv4 to a broadcast, multicast, zero or the guest's MAC");
                }
                let packet = Ipv4Packet::new_checked(eth.payload()).map_err(|_| "bad IPv4")?;
                let ip = Ipv4Repr::parse(&packet, &caps).map_err(|_| "bad IPv4 header")?;
                if ip.src_addr != GUEST_IP {
                    return Err("IPv4 source is not the guest's address");
                }
                if martian(ip.dst_addr) {
                    return Err("IPv4 to a martian address");
                }
                let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
                let body = packet.payload();
                match ip.next_header {
                    IpProtocol::Icmp => {
                        let icmp = Icmpv4Packet::new_checked(body).map_err(|_| "bad ICMP")?;
                        let repr = Icmpv4Repr::parse(&icmp, &caps).map_err(|_| "bad ICMP")?;
                        seen.echo_reply = matches!(repr, Icmpv4Repr::EchoReply { .. });
                    }
                    IpProtocol::Udp => {
                        let udp = UdpPacket::new_checked(body).map_err(|_| "bad UDP")?;
                        UdpRepr::parse(&udp, &src, &dst, &caps).map_err(|_| "bad UDP")?;
                    }
                    IpProtocol::Tcp => {
                        let tcp = TcpPacket::new_checked(body).map_err(|_| "bad TCP")?;
                        let repr =
                            TcpRepr::parse(&tcp, &src, &dst, &caps).map_err(|_| "bad TCP")?;
                        if ip.dst_addr == GW_IP && repr.dst_port == client_port {
                            let control_len = match repr.control {
                                TcpControl::Syn | TcpControl::Fin => 1,
                                _ => 0,
                            };
                            let next = repr.seq_number + repr.payload.len() + control_len;
                            seen.client_segment = Some(ClientSegment {
                                next: next.0 as u32,
                                ack: repr.ack_number.map(|a| a.0 as u32),
                                control: !matches!(
                                    repr.control,
                                    TcpControl::None | TcpControl::Psh
                                ),
                            });
                        }
                    }
                    _ => return Err("unexpected IP protocol"),
                }
                Ok(seen)
            }
            _ => Err("unexpected EtherType"),
        }
    }
}

/// Addresses no neighbor can have: the guest's own, 0.0.0.0/8, loopback,
/// multicast and reserved (224.0.0.0 and up), the subnet's broadcast.
fn martian(addr: Ipv4Address) -> bool {
    let first = addr.octets()[0];
    addr == GUEST_IP
        || first == 0
        || first == 127
        || first >= 224
        || addr == Ipv4Address::new(10, 0, 2, 255)
}

/// MACs no neighbor can have: group addresses, all zeros, the guest's own.
fn impossible_mac(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0 || mac == [0; 6] || mac == GUEST_MAC
}

/// A received frame that a hardened host drops without an answer, whatever
/// else is wrong with it: a well-formed IPv4 header, to the guest's MAC, from
/// a martian source; or an echo request to a broadcast or multicast address.
/// Returns (must be dropped, must not be answered by an echo reply).
fn ignored(frame: &[u8]) -> (bool, bool) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return (false, false);
    };
    let to_guest = eth.dst_addr().0 == GUEST_MAC || eth.dst_addr().is_broadcast();
    if frame.len() > 1514 || !to_guest || eth.ethertype() != EthernetProtocol::Ipv4 {
        return (false, false);
    }
    let Ok(packet) = Ipv4Packet::new_checked(eth.payload()) else {
        return (false, false);
    };
    let Ok(ip) = Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()) else {
        return (false, false);
    };
    let from_martian = martian(ip.src_addr);
    let echo_to_many = ip.next_header == IpProtocol::Icmp
        && packet.payload().first() == Some(&8)
        && (martian(ip.dst_addr) && ip.dst_addr != GUEST_IP);
    (from_martian, from_martian || echo_to_many)
}

impl FuzzTx {
    /// Follows the test client's connection from the guest's side.
    fn follow(&mut self, segment: ClientSegment) {
        self.peer.guest_next = segment.next;
        if let Some(ack) = segment.ack {
            self.peer.acked = ack;
        }
        self.peer.syn_ack |= segment.control;
    }
}

impl NetDevice for FuzzNic {
    type Rx = FuzzRx;
    type Tx = FuzzTx;

    fn mac(&self) -> [u8; 6] {
        GUEST_MAC
    }

    fn mtu(&self) -> usize {
        1500
    }

    fn rx_missed(&self) -> u64 {
        0
    }

    fn split(&mut self) -> (&mut FuzzRx, &mut FuzzTx) {
        (&mut self.rx, &mut self.tx)
    }
}

// ---------------------------------------------------------------------------
// Randomness and fixtures.

/// xorshift64*: small, seedable, allocation-free.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Ports and identifiers of the guest's sockets.
const LAB_PORT: u16 = 2000;
const UDP_PORT: u16 = 3000;
const TCP_PORT: u16 = 80;
const ECHO_IDENT: u16 = 0x4242;

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

/// A TCP segment from the test's client (10.0.2.2) to the guest.
fn tcp_frame(
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
fn echo_frame(dst_mac: [u8; 6], dst: Ipv4Address, repr: &Icmpv4Repr) -> Vec<u8> {
    let mut buf = ipv4(dst_mac, GW_IP, dst, IpProtocol::Icmp, repr.buffer_len());
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[34..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// An ARP reply from the gateway to the guest.
fn arp_reply_to_guest() -> Vec<u8> {
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
enum Kind {
    Plain,
    Conn,
}

fn fixtures(client_port: u16) -> Vec<(Kind, Vec<u8>)> {
    use common::udp_frame;
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

/// Recomputes whatever checksums the frame's (possibly mutated) headers allow.
fn fix_checksums(frame: &mut [u8]) {
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
const FIELDS: [usize; 30] = [
    0, 5, 6, 12, 13, // Ethernet: destination, source, EtherType
    14, 15, 16, 17, 18, 20, 21, 22, 23, 26, 29, 30, 33, // IPv4 / ARP
    34, 35, 36, 37, 38, 39, 40, 41, 42, 46, 47, 48, // UDP, TCP, ICMP headers
];

/// Writes a mutated frame into `out` and returns its length.
fn mutate(rng: &mut Rng, base: &[u8], out: &mut [u8; MAX_FRAME]) -> usize {
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
fn sync_conn(frame: &mut [u8], len: usize, peer: &Peer, rng: &mut Rng) {
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

// ---------------------------------------------------------------------------
// The guest under test.

struct Guest {
    stack: NetStack<FuzzNic>,
    now: u64,
    listener: SocketId,
    udp: SocketId,
    echo: SocketId,
    conn: Option<SocketId>,
    next_client_port: u16,
}

fn sa(ip: Ipv4Address, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// The rx-side drops: everything but the TX ring's and the NIC's.
fn rx_drops(d: &Drops) -> u64 {
    d.malformed + d.unsupported + d.not_for_us + d.no_socket + d.queue_full + d.martian
}

impl Guest {
    fn new() -> Guest {
        let nic = FuzzNic {
            rx: FuzzRx {
                frame: [0; MAX_FRAME],
                len: None,
            },
            tx: FuzzTx {
                buf: [0; MAX_FRAME],
                sent: 0,
                total: 0,
                bad: None,
                client_port: 0,
                peer: Peer::default(),
                echo_replies: 0,
            },
        };
        let mut stack = NetStack::new(nic, Config::default());
        stack.bind(LAB_PORT).unwrap();
        let mut bsd = stack.bsd();
        let udp = bsd.open(SockKind::Datagram).unwrap();
        bsd.bind(udp, sa(Ipv4Address::UNSPECIFIED, UDP_PORT))
            .unwrap();
        let echo = bsd.open(SockKind::Echo).unwrap();
        bsd.bind(echo, sa(Ipv4Address::UNSPECIFIED, ECHO_IDENT))
            .unwrap();
        let listener = bsd.open(SockKind::Stream).unwrap();
        bsd.bind(listener, sa(Ipv4Address::UNSPECIFIED, TCP_PORT))
            .unwrap();
        bsd.listen(listener, 2).unwrap();
        let mut guest = Guest {
            stack,
            now: 1,
            listener,
            udp,
            echo,
            conn: None,
            next_client_port: 40000,
        };
        guest.feed(&arp_request_for_guest());
        guest.connect();
        guest
    }

    /// Receives one frame (or none) and polls once; returns the frames sent.
    fn feed(&mut self, frame: &[u8]) -> usize {
        let rx = &mut self.stack.device().rx;
        rx.frame[..frame.len()].copy_from_slice(frame);
        rx.len = Some(frame.len());
        self.poll()
    }

    fn poll(&mut self) -> usize {
        self.stack.device().tx.sent = 0;
        self.stack.poll(self.now);
        let tx = &self.stack.device().tx;
        if let Some((rule, frame, len)) = &tx.bad {
            panic!(
                "sent a frame that breaks \"{rule}\": {:02x?}",
                &frame[..*len]
            );
        }
        tx.sent
    }

    /// A client at 10.0.2.2 connects to the guest's listener, and the guest
    /// accepts: the established connection the fuzzer then talks to.
    fn connect(&mut self) {
        if let Some(old) = self.conn.take() {
            self.stack.bsd().abort(old).unwrap();
        }
        let port = self.next_client_port;
        self.next_client_port = if port == 40999 { 40000 } else { port + 1 };
        let tx = &mut self.stack.device().tx;
        tx.client_port = port;
        tx.peer = Peer::default();
        let iss = 0x1000_0000 + u32::from(port) * 0x10000;
        self.feed(&tcp_frame(port, TCP_PORT, TcpControl::Syn, iss, None, &[]));
        // Half-open connections from fuzzed SYNs may hold the whole backlog
        // until they time out; the SYN waits, or is sent again, meanwhile.
        let start = self.now;
        while !self.stack.device().tx.peer.syn_ack {
            assert!(self.now - start < 60_000, "no SYN-ACK in 60 s");
            self.now += 500;
            if (self.now - start).is_multiple_of(3_000) {
                self.feed(&tcp_frame(port, TCP_PORT, TcpControl::Syn, iss, None, &[]));
            } else {
                self.poll();
            }
            self.drain_sockets();
        }
        let peer = self.stack.device().tx.peer;
        assert_eq!(peer.acked, iss + 1, "not a SYN-ACK: {peer:?}");
        self.feed(&tcp_frame(
            port,
            TCP_PORT,
            TcpControl::None,
            iss + 1,
            Some(peer.guest_next),
            &[],
        ));
        let (id, _) = self.stack.bsd().try_accept(self.listener).unwrap();
        self.conn = Some(id);
    }

    /// Reads whatever the sockets hold, so that their queues keep room.
    fn drain_sockets(&mut self) {
        let mut buf = [0u8; 2048];
        while self.stack.try_recv(LAB_PORT, &mut buf).is_ok() {}
        let (udp, echo, listener, conn) = (self.udp, self.echo, self.listener, self.conn);
        let mut bsd = self.stack.bsd();
        while bsd.try_recvfrom(udp, &mut buf).is_ok() {}
        while bsd.try_recvfrom(echo, &mut buf).is_ok() {}
        // Connections made by fuzzed SYNs: refused at once, so the backlog recovers.
        while let Ok((extra, _)) = bsd.try_accept(listener) {
            bsd.abort(extra).unwrap();
        }
        if let Some(conn) = conn {
            while matches!(bsd.try_recv(conn, &mut buf), Ok(n) if n > 0) {}
        }
    }

    fn conn_alive(&mut self) -> bool {
        let Some(conn) = self.conn else {
            return false;
        };
        let r = self.stack.bsd().readiness(conn);
        matches!(r, Ok(r) if !r.hup && !r.error)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Frames per segment: within one, the clock moves 1 ms a frame, less than
/// the 5 s a SYN may wait for a listener, so no waiting SYN expires mid-segment.
const SEGMENT: u64 = 4_000;

#[test]
fn random_and_mutated_frames() {
    let frames = env_u64("FUZZ_FRAMES", 20_000);
    let seed = env_u64("FUZZ_SEED", 0x5eed_f00d);
    eprintln!("fuzz: {frames} frames, FUZZ_SEED={seed}");
    let mut rng = Rng::new(seed);
    let mut guest = Guest::new();
    let mut fixtures = fixtures(guest.stack.device().tx.client_port);
    let mut frame = [0u8; MAX_FRAME];
    let mut reconnects = 0;
    let mut allocations = 0;
    let mut fed = 0;
    while fed < frames {
        // Between segments: time jumps past every timer, the connection is
        // made again if the fuzzer killed it, and ARP is refreshed. Allocating
        // is allowed here (a new connection arms a new listener).
        let before = guest.stack.counters().drops;
        guest.now += 5_001;
        guest.poll();
        let expired = guest.stack.counters().drops;
        assert!(
            rx_drops(&expired) - rx_drops(&before) == expired.queue_full - before.queue_full,
            "only waiting SYNs may be dropped by a poll without a frame"
        );
        guest.drain_sockets();
        guest.feed(&arp_request_for_guest());
        if !guest.conn_alive() {
            guest.connect();
            reconnects += 1;
            fixtures = self::fixtures(guest.stack.device().tx.client_port);
        }
        guest.drain_sockets();

        start_counting();
        for _ in 0..SEGMENT.min(frames - fed) {
            let (kind, base) = &fixtures[rng.below(fixtures.len())];
            let mut len = base.len();
            frame[..len].copy_from_slice(base);
            if *kind == Kind::Conn {
                let peer = guest.stack.device().tx.peer;
                sync_conn(&mut frame, len, &peer, &mut rng);
            }
            let copy = frame;
            len = mutate(&mut rng, &copy[..len], &mut frame);
            let frame = &frame[..len];

            let before = guest.stack.counters();
            let echo_replies = guest.stack.device().tx.echo_replies;
            let (must_drop, must_not_answer) = ignored(frame);
            guest.now += 1;
            let sent = match catch_unwind(AssertUnwindSafe(|| guest.feed(frame))) {
                Ok(sent) => sent,
                Err(panic) => {
                    stop_counting();
                    eprintln!("FUZZ_SEED={seed}, frame {fed}: {len} bytes {frame:02x?}");
                    resume_unwind(panic);
                }
            };
            let after = guest.stack.counters();
            fed += 1;

            assert_eq!(after.rx_frames, before.rx_frames + 1);
            let dropped = rx_drops(&after.drops) - rx_drops(&before.drops);
            let undeliverable = must_drop || !(14..=1514).contains(&len) || {
                let dst = &frame[..6];
                dst != GUEST_MAC && dst != [0xff; 6]
            };
            if undeliverable || dropped > 1 {
                assert_eq!(
                    dropped, 1,
                    "FUZZ_SEED={seed}, frame {fed}: {:?} -> {:?} for {frame:02x?}",
                    before.drops, after.drops
                );
            }
            if must_not_answer {
                assert_eq!(
                    guest.stack.device().tx.echo_replies,
                    echo_replies,
                    "FUZZ_SEED={seed}, frame {fed}: answered a ping it must ignore: {frame:02x?}"
                );
            }
            assert!(
                sent <= MAX_TX_PER_POLL,
                "FUZZ_SEED={seed}, frame {fed}: {sent} frames sent for {frame:02x?}"
            );
            if fed.is_multiple_of(64) {
                // The application's side: accepting a connection a fuzzed
                // SYN made arms a new listener, which allocates its buffers.
                allocations += stop_counting();
                guest.drain_sockets();
                start_counting();
            }
        }
        allocations += stop_counting();
    }
    let counters = guest.stack.counters();
    assert!(rx_drops(&counters.drops) <= counters.rx_frames);
    assert_eq!(counters.tx_frames, guest.stack.device().tx.total);
    assert_eq!(counters.drops.tx_ring_full, 0);
    eprintln!(
        "fuzz: {} frames in, {} out, drops {:?}, {reconnects} reconnects",
        counters.rx_frames, counters.tx_frames, counters.drops
    );
    assert_eq!(allocations, 0, "allocations while frames flowed");
}

/// Feeds `frames` echo requests to broadcast and multicast addresses, and
/// returns how many echo replies the guest sent.
fn broadcast_echo_replies(frames: u64) -> u64 {
    let mut rng = Rng::new(0xb0ad_ca57);
    let mut guest = Guest::new();
    let before = guest.stack.device().tx.echo_replies;
    let mut data = [0u8; 64];
    for _ in 0..frames {
        let (mac, dst) = match rng.below(4) {
            0 => ([0xff; 6], Ipv4Address::new(255, 255, 255, 255)),
            1 => ([0xff; 6], Ipv4Address::new(10, 0, 2, 255)),
            2 => (GUEST_MAC, Ipv4Address::new(10, 0, 2, 255)),
            _ => (
                [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
                Ipv4Address::new(224, 0, 0, 1),
            ),
        };
        for byte in &mut data {
            *byte = rng.byte();
        }
        let n = rng.below(data.len());
        let request = Icmpv4Repr::EchoRequest {
            ident: rng.next() as u16,
            seq_no: rng.next() as u16,
            data: &data[..n],
        };
        guest.now += 1;
        guest.feed(&echo_frame(mac, dst, &request));
    }
    guest.stack.device().tx.echo_replies - before
}

#[test]
fn no_reply_to_broadcast_echo() {
    // A hardened host (Linux's icmp_echo_ignore_broadcasts) answers no ping
    // sent to a broadcast or multicast address, or it amplifies a spoofed one
    // onto the whole link.
    assert_eq!(broadcast_echo_replies(env_u64("FUZZ_FRAMES", 2_000)), 0);
}

/// Frames from a martian source (the guest's own address, 0.0.0.0, broadcast,
/// loopback, multicast) are answered by nothing and each counted as a drop.
#[test]
fn martian_sources_are_dropped_and_counted() {
    // A datagram from the guest's own address must not be delivered, nor
    // answered by an ARP request for that address.
    let martians = [
        GUEST_IP,
        Ipv4Address::new(0, 0, 0, 0),
        Ipv4Address::new(255, 255, 255, 255),
        Ipv4Address::new(127, 0, 0, 1),
        Ipv4Address::new(224, 0, 0, 1),
    ];
    let mut guest = Guest::new();
    for src in martians {
        for frame in [
            common::udp_frame(GUEST_MAC, (src, 53), (GUEST_IP, UDP_PORT), b"martian"),
            {
                let mut f = echo_request(9, 9, b"martian");
                let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.set_src_addr(src);
                fix_checksums(&mut f);
                f
            },
        ] {
            let before = guest.stack.counters();
            guest.now += 1;
            let sent = guest.feed(&frame) + {
                guest.now += 1_000;
                guest.poll()
            };
            let after = guest.stack.counters();
            assert_eq!(sent, 0, "answered a frame from {src}");
            assert_eq!(
                rx_drops(&after.drops),
                rx_drops(&before.drops) + 1,
                "a frame from {src} was not counted as dropped"
            );
            assert_eq!(
                after.drops.martian,
                before.drops.martian + 1,
                "a frame from {src} was not counted as martian"
            );
        }
    }
}
