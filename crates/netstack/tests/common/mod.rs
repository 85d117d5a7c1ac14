//! Test support: an in-memory Ethernet link and frame builders.
//!
//! A [`Port`] is one direction of the link: a bounded queue of frames whose
//! buffers are all allocated up front, like a NIC's slots, so moving a frame
//! allocates nothing. A [`LinkDevice`] receives from one port and transmits
//! into another; when that port is full, its TX ring is full. Tests either
//! join two stacks with [`pair`] or play the other host themselves with
//! [`tapped`], injecting frames and taking what the stack sent.
//!
//! Like a NIC, a port moves nothing before its doorbells: a frame the stack
//! transmits stays invisible to the other side until the stack flushes its TX
//! ring, and the slot of a frame the stack received is free again only once it
//! flushes its RX ring. A poll that forgot either would strand frames (the
//! tests would see nothing on the wire) or run the port out of slots (`inject`
//! would panic).
//!
//! A [`Port::lossy`] port is a card that loses what finds no free slot instead
//! of holding the sender back, as QEMU's E1000 does.
#![allow(dead_code)] // each test file uses a different part

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use netstack::{Config, NetDevice, NetStack, PollResult, RxRing, TxRing};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, UdpPacket, UdpRepr,
};

pub const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const GW_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
pub const GUEST_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
pub const GW_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// The lab's guest and host addresses in host byte order.
pub const GUEST: u32 = 0x0a00_020f;
pub const GW: u32 = 0x0a00_0202;

const SLOT: usize = 1514;

pub struct Queue {
    frames: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    /// How many of `frames`, from the front, the sender has flushed: the rest
    /// wait for its doorbell.
    flushed: usize,
    /// Flushes that released at least one frame.
    doorbells: u64,
    /// Buffers of frames the receiving stack took, until its RX flush frees them.
    taken: Vec<Vec<u8>>,
    /// All the slots: `spare`, `frames` and `taken` together.
    slots: usize,
    /// A lossy port: what a full port loses instead of refusing.
    lossy: Option<Lossy>,
}

/// How a lossy port behaves beyond its slots.
struct Lossy {
    /// Whether its card tells the stack how many frames it holds
    /// (`NetDevice::rx_burst_limit`).
    reported: bool,
    /// Frames lost for want of a free slot.
    lost: u64,
}

/// One direction of the link, shared by its sender and its receiver.
#[derive(Clone)]
pub struct Port(Rc<RefCell<Queue>>);

impl Port {
    pub fn new(slots: usize) -> Port {
        Port(Rc::new(RefCell::new(Queue {
            frames: VecDeque::with_capacity(slots),
            spare: (0..slots).map(|_| Vec::with_capacity(SLOT)).collect(),
            flushed: 0,
            doorbells: 0,
            taken: Vec::with_capacity(slots),
            slots,
            lossy: None,
        })))
    }

    /// A port whose card loses a frame that finds every slot taken, and says so
    /// through `rx_burst_limit` when `reported`.
    pub fn lossy(slots: usize, reported: bool) -> Port {
        let port = Port::new(slots);
        port.0.borrow_mut().lossy = Some(Lossy { reported, lost: 0 });
        port
    }

    /// Frames a lossy port lost.
    pub fn lost(&self) -> u64 {
        self.0.borrow().lossy.as_ref().map_or(0, |l| l.lost)
    }

    /// What the receiving card reports as `NetDevice::rx_burst_limit`.
    fn burst_limit(&self) -> Option<usize> {
        let q = self.0.borrow();
        q.lossy.as_ref().filter(|l| l.reported).map(|_| q.slots)
    }

    /// Puts a frame on the wire, as if another host sent it.
    pub fn inject(&self, frame: &[u8]) {
        let sent = self.push(frame.len(), |buf| buf.copy_from_slice(frame));
        assert!(sent.is_ok(), "test port full");
        self.0.borrow_mut().flushed += 1;
    }

    /// The sender's doorbell: every frame pushed so far becomes visible.
    fn flush(&self) {
        let mut q = self.0.borrow_mut();
        if q.flushed < q.frames.len() {
            q.flushed = q.frames.len();
            q.doorbells += 1;
        }
    }

    /// Frames the sender pushed but has not flushed.
    pub fn unflushed(&self) -> usize {
        let q = self.0.borrow();
        q.frames.len() - q.flushed
    }

    /// How many flushes released frames (the sender's doorbells, `inject` aside).
    pub fn doorbells(&self) -> u64 {
        self.0.borrow().doorbells
    }

    fn push<R, F: FnOnce(&mut [u8]) -> R>(&self, len: usize, f: F) -> Result<R, F> {
        let mut q = self.0.borrow_mut();
        let Some(mut buf) = q.spare.pop() else {
            if let Some(lossy) = &mut q.lossy {
                // On the wire, and lost at the card.
                lossy.lost += 1;
                return Ok(f(&mut vec![0; len]));
            }
            return Err(f);
        };
        buf.clear();
        buf.resize(len, 0);
        let result = f(&mut buf);
        q.frames.push_back(buf);
        Ok(result)
    }

    /// Takes the oldest visible frame; its slot is free again at once, or with
    /// `hold` (a stack's RX ring) only at the next `give_back`.
    fn pop<R>(&self, hold: bool, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut q = self.0.borrow_mut();
        if q.flushed == 0 {
            return None;
        }
        q.flushed -= 1;
        let buf = q.frames.pop_front()?;
        let result = f(&buf);
        if hold {
            q.taken.push(buf);
        } else {
            q.spare.push(buf);
        }
        Some(result)
    }

    /// The receiver's doorbell: the slots of the frames it took are free again.
    fn give_back(&self) {
        let mut q = self.0.borrow_mut();
        let Queue { spare, taken, .. } = &mut *q;
        spare.append(taken);
    }

    /// Takes the oldest frame off the wire.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.pop(false, <[u8]>::to_vec)
    }

    pub fn take_all(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.take()).collect()
    }

    /// Drops every frame on the wire without copying it.
    pub fn discard_all(&self) {
        while self.pop(false, |_| ()).is_some() {}
    }

    /// Whether no frame is on the wire (flushed and not taken yet).
    pub fn is_empty(&self) -> bool {
        self.0.borrow().flushed == 0
    }

    /// Whether a sender must wait: every slot is taken and the port is not lossy.
    pub fn is_full(&self) -> bool {
        let q = self.0.borrow();
        q.spare.is_empty() && q.lossy.is_none()
    }
}

pub struct LinkRx(Port);
pub struct LinkTx(Port);

impl RxRing for LinkRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.0.pop(true, f)
    }

    fn flush(&mut self) {
        self.0.give_back();
    }
}

impl TxRing for LinkTx {
    fn can_transmit(&self) -> bool {
        !self.0.is_full()
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        self.0.push(len, f)
    }

    fn flush(&mut self) {
        self.0.flush();
    }
}

pub struct LinkDevice {
    mac: [u8; 6],
    rx: LinkRx,
    tx: LinkTx,
}

impl LinkDevice {
    pub fn new(mac: [u8; 6], rx: Port, tx: Port) -> Self {
        LinkDevice {
            mac,
            rx: LinkRx(rx),
            tx: LinkTx(tx),
        }
    }
}

impl NetDevice for LinkDevice {
    type Rx = LinkRx;
    type Tx = LinkTx;

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn mtu(&self) -> usize {
        1500
    }

    fn rx_missed(&self) -> u64 {
        self.rx.0.lost()
    }

    fn rx_burst_limit(&self) -> Option<usize> {
        self.rx.0.burst_limit()
    }

    fn split(&mut self) -> (&mut LinkRx, &mut LinkTx) {
        (&mut self.rx, &mut self.tx)
    }
}

pub type Stack = NetStack<LinkDevice>;

pub fn guest_config() -> Config {
    Config::default()
}

pub fn gateway_config() -> Config {
    Config {
        addr: GW_IP,
        gateway: None,
        ..Config::default()
    }
}

/// Two stacks on one link: the guest 10.0.2.15 and the "host" 10.0.2.2.
/// Also returns the ports guest->host and host->guest.
pub fn pair() -> (Stack, Stack, Port, Port) {
    pair_with(guest_config(), gateway_config())
}

/// [`pair`] with configurations of the test's choosing.
pub fn pair_with(guest: Config, gw: Config) -> (Stack, Stack, Port, Port) {
    let (to_gw, to_guest) = (Port::new(32), Port::new(32));
    let guest = NetStack::new(
        LinkDevice::new(GUEST_MAC, to_guest.clone(), to_gw.clone()),
        guest,
    );
    let gw = NetStack::new(LinkDevice::new(GW_MAC, to_gw.clone(), to_guest.clone()), gw);
    (guest, gw, to_gw, to_guest)
}

/// Two stacks on one link and a clock: each `step` is one millisecond in
/// which both stacks poll once.
pub struct Net {
    pub guest: Stack,
    pub host: Stack,
    pub to_host: Port,
    pub to_guest: Port,
    pub now: u64,
}

impl Net {
    pub fn new() -> Net {
        Net::with(guest_config(), gateway_config())
    }

    pub fn with(guest: Config, host: Config) -> Net {
        let (guest, host, to_host, to_guest) = pair_with(guest, host);
        Net::joined(guest, host, to_host, to_guest)
    }

    /// Two stacks whose link into the guest is `to_guest` (e.g. a lossy port).
    pub fn into_guest_through(to_guest: Port) -> Net {
        let to_host = Port::new(32);
        let guest = NetStack::new(
            LinkDevice::new(GUEST_MAC, to_guest.clone(), to_host.clone()),
            guest_config(),
        );
        let host = NetStack::new(
            LinkDevice::new(GW_MAC, to_host.clone(), to_guest.clone()),
            gateway_config(),
        );
        Net::joined(guest, host, to_host, to_guest)
    }

    fn joined(guest: Stack, host: Stack, to_host: Port, to_guest: Port) -> Net {
        Net {
            guest,
            host,
            to_host,
            to_guest,
            now: 0,
        }
    }

    /// One millisecond: both stacks poll; returns what each poll reported.
    pub fn step(&mut self) -> (PollResult, PollResult) {
        self.now += 1;
        (self.guest.poll(self.now), self.host.poll(self.now))
    }

    /// Steps until `done` holds, for at most `limit_ms`; panics beyond.
    pub fn until(&mut self, limit_ms: u64, mut done: impl FnMut(&mut Net) -> bool) {
        let end = self.now + limit_ms;
        while !done(self) {
            assert!(self.now < end, "not done after {limit_ms} ms");
            self.step();
        }
    }

    /// Steps for `ms` milliseconds.
    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }
}

/// `ip:port` as the socket calls take it.
pub fn sa(ip: Ipv4Address, port: u16) -> std::net::SocketAddrV4 {
    std::net::SocketAddrV4::new(ip, port)
}

/// The guest stack alone; the test is the other host. Returns the stack, the
/// port into it and the port out of it (`out_slots` deep).
pub fn tapped(out_slots: usize) -> (Stack, Port, Port) {
    let (input, output) = (Port::new(128), Port::new(out_slots));
    let dev = LinkDevice::new(GUEST_MAC, input.clone(), output.clone());
    (NetStack::new(dev, guest_config()), input, output)
}

/// Polls both stacks until the link is quiet.
pub fn settle(a: &mut Stack, b: &mut Stack, ab: &Port, ba: &Port, now_ms: u64) {
    for _ in 0..16 {
        a.poll(now_ms);
        b.poll(now_ms);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
    }
    panic!("the link never went quiet");
}

fn frame(dst: [u8; 6], src: [u8; 6], ethertype: EthernetProtocol, body_len: usize) -> Vec<u8> {
    let mut buf = vec![0; 14 + body_len];
    let repr = EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype,
    };
    repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    buf
}

pub fn ipv4(
    dst_mac: [u8; 6],
    src: Ipv4Address,
    dst: Ipv4Address,
    proto: IpProtocol,
    len: usize,
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: len,
        hop_limit: 64,
    };
    let mut buf = frame(dst_mac, GW_MAC, EthernetProtocol::Ipv4, 20 + len);
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[14..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// A UDP datagram from the gateway (10.0.2.2, its MAC) to the guest.
pub fn udp_to_guest(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = ipv4(
        GUEST_MAC,
        GW_IP,
        GUEST_IP,
        IpProtocol::Udp,
        8 + payload.len(),
    );
    let udp = UdpRepr { src_port, dst_port };
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut buf[34..]),
        &IpAddress::Ipv4(GW_IP),
        &IpAddress::Ipv4(GUEST_IP),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// A UDP datagram from the gateway's MAC, with any addresses and ports.
pub fn udp_frame(
    dst_mac: [u8; 6],
    src: (Ipv4Address, u16),
    dst: (Ipv4Address, u16),
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = ipv4(dst_mac, src.0, dst.0, IpProtocol::Udp, 8 + payload.len());
    let udp = UdpRepr {
        src_port: src.1,
        dst_port: dst.1,
    };
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut buf[34..]),
        &IpAddress::Ipv4(src.0),
        &IpAddress::Ipv4(dst.0),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// The gateway asks who has 10.0.2.15, as slirp does before its first packet.
pub fn arp_request_for_guest() -> Vec<u8> {
    let mut buf = frame([0xff; 6], GW_MAC, EthernetProtocol::Arp, 28);
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(GW_MAC),
        source_protocol_addr: GW_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: GUEST_IP,
    };
    arp.emit(&mut ArpPacket::new_unchecked(&mut buf[14..]));
    buf
}

/// The gateway pings the guest.
pub fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let mut buf = ipv4(
        GUEST_MAC,
        GW_IP,
        GUEST_IP,
        IpProtocol::Icmp,
        icmp.buffer_len(),
    );
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[34..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// A sent UDP frame, as the test host sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram {
    pub dst_mac: [u8; 6],
    pub src: Ipv4Address,
    pub src_port: u16,
    pub dst: Ipv4Address,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// Parses a frame as Ethernet/IPv4/UDP, checking every checksum.
pub fn parse_udp(frame: &[u8]) -> Option<Datagram> {
    let caps = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip_packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip = Ipv4Repr::parse(&ip_packet, &caps).ok()?;
    let udp_packet = UdpPacket::new_checked(ip_packet.payload()).ok()?;
    let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
    let udp = UdpRepr::parse(&udp_packet, &src, &dst, &caps).ok()?;
    Some(Datagram {
        dst_mac: eth.dst_addr().0,
        src: ip.src_addr,
        src_port: udp.src_port,
        dst: ip.dst_addr,
        dst_port: udp.dst_port,
        payload: udp_packet.payload().to_vec(),
    })
}

/// Parses a frame as an ARP packet: (operation, sender MAC, sender IP, target IP).
pub fn parse_arp(frame: &[u8]) -> Option<(ArpOperation, [u8; 6], Ipv4Address, Ipv4Address)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let packet = ArpPacket::new_checked(eth.payload()).ok()?;
    match ArpRepr::parse(&packet).ok()? {
        ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } => Some((
            operation,
            source_hardware_addr.0,
            source_protocol_addr,
            target_protocol_addr,
        )),
        _ => None,
    }
}

/// Parses a frame as an ICMP echo reply: (destination MAC, ident, seq, data).
pub fn parse_echo_reply(frame: &[u8]) -> Option<([u8; 6], u16, u16, Vec<u8>)> {
    let caps = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip_packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
    Ipv4Repr::parse(&ip_packet, &caps).ok()?;
    let icmp = Icmpv4Packet::new_checked(ip_packet.payload()).ok()?;
    match Icmpv4Repr::parse(&icmp, &caps).ok()? {
        Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => Some((eth.dst_addr().0, ident, seq_no, data.to_vec())),
        _ => None,
    }
}

/// A trace sink the test can read after handing it to the stack.
#[derive(Clone, Default)]
pub struct TraceLog(std::sync::Arc<std::sync::Mutex<String>>);

impl TraceLog {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl std::fmt::Write for TraceLog {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.lock().unwrap().push_str(s);
        Ok(())
    }
}
