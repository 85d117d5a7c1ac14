//! The L2 wire (DESIGN §6, topology 2): the harness is the guest's whole network.
//!
//! QEMU attaches the NIC to `-netdev stream` as a TCP client of a [`Wire`] listening on
//! 127.0.0.1 ([`Wire::netdev_arg`]). Each Ethernet frame crosses the connection as a 4-byte
//! big-endian length followed by the frame, in both directions, with no slirp in between. The wire
//! plays the host 10.0.2.2 with slirp's static MAC ([`HOST_MAC`]): a reader thread answers the
//! guest's ARP requests for that address and its echo requests (pings) to it, counting both, and
//! queues every other frame for the test, which sends whatever it builds, well formed or not.
//!
//! The rest of the file is the frame formats, written out by hand so that a test can break any
//! field: builders (Ethernet, ARP, IPv4, UDP, ICMP echo, with correct checksums), parsers that
//! check every length and checksum of what the guest sends, [`describe`] for error messages, and
//! three exchanges that check a reply field by field ([`Wire::who_has`], [`Wire::ping`],
//! [`Wire::udp_echo`]). Everything is bounded: the queue, the waits, the reader's lifetime (it
//! stops when the wire is dropped).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};

/// An Ethernet address.
pub type Mac = [u8; 6];

/// The harness's address: slirp's gateway MAC, so frames look like those of the user network.
pub const HOST_MAC: Mac = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
/// The harness's IPv4 address (the guest's gateway).
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// QEMU's default NIC address.
pub const GUEST_MAC: Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// The guest's static address.
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const BROADCAST: Mac = [0xff; 6];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;

pub const ETH_HEADER_LEN: usize = 14;
pub const IPV4_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
pub const ICMP_ECHO_HEADER_LEN: usize = 8;
const ARP_LEN: usize = 28;

/// The largest frame either side may put on the connection. QEMU's socket backends take up to
/// 69632 bytes (NET_BUFSIZE); a longer length prefix means the stream is out of step.
pub const MAX_FRAME: usize = 65536;
/// Most guest frames waiting for the test; later ones are counted in
/// [`WireStats::overflowed`] and dropped.
pub const QUEUE_LIMIT: usize = 65536;
/// Most frames [`Wire::recv_until`] keeps aside for [`Wire::take_unmatched`].
pub const UNMATCHED_LIMIT: usize = 1024;
/// How often the reader looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How long one frame may wait for QEMU to read it: QEMU stops reading while the NIC has no
/// free receive buffer, so a send blocks (flow control) but must not block forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Traffic over the wire since it was connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Frames written to QEMU, including the ARP replies the reader sent.
    pub sent: u64,
    /// The bytes of those frames (without the length prefixes).
    pub sent_bytes: u64,
    /// Frames read from QEMU, including the ARP requests the reader answered.
    pub received: u64,
    /// The guest's ARP requests for [`HOST_IP`] the reader answered.
    pub arp_answered: u64,
    /// The guest's echo requests to [`HOST_IP`] the reader answered.
    pub echo_answered: u64,
    /// Guest frames dropped because [`QUEUE_LIMIT`] frames were already waiting.
    pub overflowed: u64,
}

/// State shared by the test's thread and the reader.
#[derive(Default)]
struct Shared {
    /// Guest frames not yet taken by the test, oldest first.
    queue: Mutex<VecDeque<Vec<u8>>>,
    /// Signalled when a frame is queued or the reader stops.
    changed: Condvar,
    /// Set by `Drop`: the reader ends.
    stop: AtomicBool,
    /// Why the reader ended (QEMU closed the connection, a broken stream), once it has.
    ended: Mutex<Option<String>>,
    /// A write failed part way: the stream is out of step and no frame may follow.
    broken: AtomicBool,
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    received: AtomicU64,
    arp_answered: AtomicU64,
    echo_answered: AtomicU64,
    overflowed: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes one frame with its length prefix, as one write so that the reader's ARP replies and
    /// the test's frames never interleave.
    fn write_frame(&self, stream: &Mutex<TcpStream>, frame: &[u8]) -> io::Result<()> {
        if frame.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {}-byte frame is over {MAX_FRAME}", frame.len()),
            ));
        }
        let mut msg = Vec::with_capacity(4 + frame.len());
        msg.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        msg.extend_from_slice(frame);
        let mut stream = lock(stream);
        if self.broken.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write to QEMU failed part way",
            ));
        }
        stream.write_all(&msg).inspect_err(|_| {
            self.broken.store(true, Ordering::Relaxed);
        })?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.sent_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Handles one frame from the guest: answers it if it asks for the host's MAC or pings the
    /// host, else queues it.
    fn deliver(&self, stream: &Mutex<TcpStream>, frame: Vec<u8>) -> io::Result<()> {
        self.received.fetch_add(1, Ordering::Relaxed);
        // Counted before the reply leaves, so that a test that saw the guest get the reply also
        // sees the count.
        if let Some(reply) = arp_answer(&frame) {
            self.arp_answered.fetch_add(1, Ordering::Relaxed);
            return self.write_frame(stream, &reply);
        }
        if let Some(reply) = echo_answer(&frame) {
            self.echo_answered.fetch_add(1, Ordering::Relaxed);
            return self.write_frame(stream, &reply);
        }
        let mut queue = lock(&self.queue);
        if queue.len() >= QUEUE_LIMIT {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
        } else {
            queue.push_back(frame);
            self.changed.notify_all();
        }
        Ok(())
    }

    fn end(&self, why: String) {
        *lock(&self.ended) = Some(why);
        // Taking the queue's lock orders this with a waiter's check of `ended`.
        let _queue = lock(&self.queue);
        self.changed.notify_all();
    }
}

/// The harness's side of one guest NIC. Dropping it closes the connection and stops the reader.
pub struct Wire {
    listener: TcpListener,
    port: u16,
    shared: Arc<Shared>,
    /// The connection to QEMU, once accepted; the reader writes ARP replies through it too.
    stream: Option<Arc<Mutex<TcpStream>>>,
    reader: Option<JoinHandle<()>>,
    /// Frames [`Wire::recv_until`] passed over, for the test to inspect.
    unmatched: Vec<Vec<u8>>,
}

impl Wire {
    /// Listens on a port of 127.0.0.1 that the OS picks.
    pub fn listen() -> io::Result<Wire> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        Ok(Wire {
            listener,
            port,
            shared: Arc::default(),
            stream: None,
            reader: None,
            unmatched: Vec::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `-netdev` value that makes QEMU connect its netdev `id` to this wire.
    pub fn netdev_arg(&self, id: &str) -> String {
        format!(
            "stream,id={id},server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={}",
            self.port
        )
    }

    /// Waits up to `timeout` for QEMU to connect (it does while starting, before the guest
    /// runs) and starts the reader.
    pub fn accept(&mut self, timeout: Duration) -> io::Result<()> {
        if self.stream.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the wire is already connected",
            ));
        }
        self.listener.set_nonblocking(true)?;
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("QEMU did not connect to 127.0.0.1:{}", self.port),
                        ));
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let input = stream.try_clone()?;
        let stream = Arc::new(Mutex::new(stream));
        let (shared, output) = (Arc::clone(&self.shared), Arc::clone(&stream));
        self.reader = Some(
            thread::Builder::new()
                .name(format!("wire-{}", self.port))
                .spawn(move || read_frames(input, &output, &shared))?,
        );
        self.stream = Some(stream);
        Ok(())
    }

    /// Sends one frame to the guest's NIC. Blocks while QEMU does not read (its NIC has no
    /// free receive buffer), up to 10 s.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let Some(stream) = &self.stream else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "QEMU has not connected",
            ));
        };
        self.shared.write_frame(stream, frame)
    }

    /// The next frame from the guest, waiting up to `timeout`; `None` at once if the connection
    /// ended and nothing is queued.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.shared.queue);
        loop {
            if let Some(frame) = queue.pop_front() {
                return Some(frame);
            }
            let now = Instant::now();
            if now >= deadline || lock(&self.shared.ended).is_some() {
                return None;
            }
            queue = self
                .shared
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The first frame for which `pick` returns something, within `timeout`. The frames passed
    /// over are kept (up to [`UNMATCHED_LIMIT`]) for [`take_unmatched`](Self::take_unmatched).
    pub fn recv_until<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.recv(deadline.saturating_duration_since(Instant::now()))?;
            if let Some(found) = pick(&frame) {
                return Some(found);
            }
            if self.unmatched.len() < UNMATCHED_LIMIT {
                self.unmatched.push(frame);
            }
        }
    }

    /// The frames [`recv_until`](Self::recv_until) passed over since the last call, plus any
    /// still queued: what the guest sent that no exchange expected.
    pub fn take_unmatched(&mut self) -> Vec<Vec<u8>> {
        let mut frames = std::mem::take(&mut self.unmatched);
        frames.extend(lock(&self.shared.queue).drain(..));
        frames
    }

    pub fn stats(&self) -> WireStats {
        let s = &self.shared;
        WireStats {
            sent: s.sent.load(Ordering::Relaxed),
            sent_bytes: s.sent_bytes.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            arp_answered: s.arp_answered.load(Ordering::Relaxed),
            echo_answered: s.echo_answered.load(Ordering::Relaxed),
            overflowed: s.overflowed.load(Ordering::Relaxed),
        }
    }

    /// Why the connection ended, if it has (QEMU exited, or a broken stream).
    pub fn ended(&self) -> Option<String> {
        lock(&self.shared.ended).clone()
    }

    /// Asks who has `ip` (by broadcast, from the host) and returns the MAC of the first reply
    /// from `ip`, after checking that it is a well-formed reply to the host. Sends up to `tries`
    /// requests, waiting `per_try` for each.
    pub fn who_has(&mut self, ip: Ipv4Addr, tries: usize, per_try: Duration) -> Result<Mac> {
        for _ in 0..tries {
            self.send(&arp_request_frame(ip))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let arp = Arp::parse(eth.payload).ok()?;
                (eth.ethertype == ETHERTYPE_ARP && arp.op == ARP_REPLY && arp.spa == ip)
                    .then_some((eth.dst, eth.src, arp))
            });
            if let Some((dst, src, arp)) = reply {
                ensure!(
                    dst == HOST_MAC && src == arp.sha && arp.tha == HOST_MAC && arp.tpa == HOST_IP,
                    "ARP reply for {ip} not addressed as expected: Ethernet {} > {}, {arp:?}",
                    mac_text(src),
                    mac_text(dst)
                );
                return Ok(arp.sha);
            }
        }
        bail!("no ARP reply for {ip} after {tries} requests");
    }

    /// Sends echo requests (`id`, `seq`, `payload`) to the guest until a reply comes, up to
    /// `tries` times `per_try`, and checks every field of the reply. Returns the number of
    /// requests sent. Retrying is not a failure: a stack that has to ask for the host's MAC
    /// before it can answer may drop that first reply.
    pub fn ping(
        &mut self,
        id: u16,
        seq: u16,
        payload: &[u8],
        tries: usize,
        per_try: Duration,
    ) -> Result<usize> {
        for attempt in 1..=tries {
            self.send(&ping_frame(id, seq, payload))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let ip = Ipv4::parse(eth.payload).ok()?;
                let echo = Echo::parse(&ip).ok()?;
                (eth.ethertype == ETHERTYPE_IPV4
                    && echo.ty == ICMP_ECHO_REPLY
                    && echo.id == id
                    && echo.seq == seq)
                    .then(|| {
                        (
                            eth.src,
                            eth.dst,
                            ip.header,
                            echo.code,
                            echo.payload.to_vec(),
                        )
                    })
            });
            if let Some((src, dst, header, code, data)) = reply {
                ensure!(
                    src == GUEST_MAC && dst == HOST_MAC,
                    "echo reply {id}/{seq} from {} to {}",
                    mac_text(src),
                    mac_text(dst)
                );
                ensure!(
                    header.src == GUEST_IP && header.dst == HOST_IP && code == 0,
                    "echo reply {id}/{seq}: {header:?}, code {code}"
                );
                ensure!(
                    data == payload,
                    "echo reply {id}/{seq} carries {} bytes that differ from the {} sent",
                    data.len(),
                    payload.len()
                );
                return Ok(attempt);
            }
        }
        bail!(
            "no echo reply to id {id} seq {seq} ({} bytes) after {tries} requests",
            payload.len()
        );
    }

    /// Sends `payload` from the host's port `sport` to the guest's `dport` until the same
    /// payload comes back from `dport` to `sport` (an echo service), up to `tries` times
    /// `per_try`. Returns the number of datagrams sent.
    pub fn udp_echo(
        &mut self,
        sport: u16,
        dport: u16,
        payload: &[u8],
        tries: usize,
        per_try: Duration,
    ) -> Result<usize> {
        for attempt in 1..=tries {
            self.send(&udp_frame(sport, dport, payload))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let ip = Ipv4::parse(eth.payload).ok()?;
                let udp = Udp::parse(&ip).ok()?;
                (eth.ethertype == ETHERTYPE_IPV4 && udp.sport == dport && udp.dport == sport)
                    .then(|| (eth.src, eth.dst, ip.header, udp.payload.to_vec()))
            });
            if let Some((src, dst, header, data)) = reply {
                ensure!(
                    src == GUEST_MAC && dst == HOST_MAC,
                    "UDP reply from {} to {}",
                    mac_text(src),
                    mac_text(dst)
                );
                ensure!(
                    header.src == GUEST_IP && header.dst == HOST_IP,
                    "UDP reply {header:?}"
                );
                ensure!(
                    data == payload,
                    "UDP echo of {} bytes came back as {} different bytes",
                    payload.len(),
                    data.len()
                );
                return Ok(attempt);
            }
        }
        bail!(
            "no UDP echo from port {dport} of {} bytes after {tries} datagrams",
            payload.len()
        );
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(stream) = &self.stream {
            // Wakes a reader blocked in read; errors mean the connection is already gone.
            let _ = lock(stream).shutdown(Shutdown::Both);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader: splits the byte stream into frames until QEMU closes it or the wire is dropped.
fn read_frames(mut input: TcpStream, output: &Mutex<TcpStream>, shared: &Shared) {
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let why = 'read: loop {
        if shared.stop.load(Ordering::Relaxed) {
            break "the wire was dropped".to_string();
        }
        match input.read(&mut chunk) {
            Ok(0) => break "QEMU closed the connection".to_string(),
            Ok(n) => framer.push(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => break format!("reading from QEMU: {e}"),
        }
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = shared.deliver(output, frame) {
                        break 'read format!("answering the guest: {e}");
                    }
                }
                Ok(None) => break,
                Err(e) => break 'read e,
            }
        }
    };
    shared.end(why);
}

/// Splits a byte stream into length-prefixed frames.
#[derive(Default)]
struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` if it has not fully arrived, an error if the length prefix
    /// is impossible (the stream is out of step and nothing after it can be trusted).
    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(prefix) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_FRAME {
            return Err(format!("QEMU sent a length prefix of {len} bytes"));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(frame))
    }
}

/// The shortest Ethernet frame without FCS; real senders pad to it.
pub const MIN_FRAME: usize = 60;

/// The host's reply if `frame` is an ARP request for [`HOST_IP`] from a unicast sender, padded
/// to [`MIN_FRAME`] as a real host sends it (so that a NIC that pads or not sees the same bytes).
fn arp_answer(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = Ethernet::parse(frame).ok()?;
    let arp = Arp::parse(eth.payload).ok()?;
    let wanted = eth.ethertype == ETHERTYPE_ARP
        && arp.op == ARP_REQUEST
        && arp.tpa == HOST_IP
        && arp.sha[0] & 1 == 0;
    wanted.then(|| {
        let mut reply = ethernet(
            arp.sha,
            HOST_MAC,
            ETHERTYPE_ARP,
            &arp_packet(ARP_REPLY, HOST_MAC, HOST_IP, arp.sha, arp.spa),
        );
        reply.resize(MIN_FRAME, 0);
        reply
    })
}

/// The host's echo reply if `frame` is a well-formed echo request to [`HOST_IP`] at
/// [`HOST_MAC`] from a unicast sender: same id, sequence number and data, back to the sender's
/// MAC and address, as a host's stack answers a ping.
fn echo_answer(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = Ethernet::parse(frame).ok()?;
    if eth.ethertype != ETHERTYPE_IPV4 || eth.dst != HOST_MAC || eth.src[0] & 1 != 0 {
        return None;
    }
    let ip = Ipv4::parse(eth.payload).ok()?;
    let echo = Echo::parse(&ip).ok()?;
    let wanted = ip.header.dst == HOST_IP
        && ip.header.flags_fragment & 0x3fff == 0
        && echo.ty == ICMP_ECHO_REQUEST
        && echo.code == 0;
    wanted.then(|| {
        let reply = icmp_echo(ICMP_ECHO_REPLY, echo.id, echo.seq, echo.payload);
        let header = Ipv4Header::new(HOST_IP, ip.header.src, PROTO_ICMP);
        ethernet(eth.src, HOST_MAC, ETHERTYPE_IPV4, &header.emit(&reply))
    })
}

// ---- Building frames -------------------------------------------------------------------------

/// The Internet checksum (RFC 1071) of the concatenation of `parts` (each of even length but
/// the last).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for w in &mut words {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
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
fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> [u8; 12] {
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

// ---- Reading frames --------------------------------------------------------------------------

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
        let Some((header, payload)) = frame.split_first_chunk::<ETH_HEADER_LEN>() else {
            return Err(format!(
                "{} bytes is shorter than an Ethernet header",
                frame.len()
            ));
        };
        Ok(Ethernet {
            dst: header[..6].try_into().expect("6 bytes"),
            src: header[6..12].try_into().expect("6 bytes"),
            ethertype: u16::from_be_bytes([header[12], header[13]]),
            payload,
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
        let Some(p) = p.first_chunk::<ARP_LEN>() else {
            return Err(format!("{}-byte ARP packet", p.len()));
        };
        if p[..6] != [0, 1, 0x08, 0x00, 6, 4] {
            return Err(format!(
                "ARP for other hardware or protocol: {:02x?}",
                &p[..6]
            ));
        }
        let ip = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
        Ok(Arp {
            op: u16::from_be_bytes([p[6], p[7]]),
            sha: p[8..14].try_into().expect("6 bytes"),
            spa: ip(14),
            tha: p[18..24].try_into().expect("6 bytes"),
            tpa: ip(24),
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
        if p[0] >> 4 != 4 {
            return Err(format!("IP version {}", p[0] >> 4));
        }
        let header_len = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        if header_len < IPV4_HEADER_LEN || total < header_len || total > p.len() {
            return Err(format!(
                "IPv4 header length {header_len}, total length {total}, {} bytes",
                p.len()
            ));
        }
        if checksum(&[&p[..header_len]]) != 0 {
            return Err("bad IPv4 header checksum".into());
        }
        let ip = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
        Ok(Ipv4 {
            header: Ipv4Header {
                src: ip(12),
                dst: ip(16),
                protocol: p[9],
                ident: u16::from_be_bytes([p[4], p[5]]),
                ttl: p[8],
                flags_fragment: u16::from_be_bytes([p[6], p[7]]),
            },
            payload: &p[header_len..total],
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
    /// Parses the UDP datagram in `ip`, checking its length field and its checksum (which a
    /// sender may leave at 0, "none").
    pub fn parse(ip: &Ipv4<'a>) -> Result<Udp<'a>, String> {
        if ip.header.protocol != PROTO_UDP {
            return Err(format!("IP protocol {}, not UDP", ip.header.protocol));
        }
        let d = ip.payload;
        if d.len() < UDP_HEADER_LEN {
            return Err(format!("{}-byte UDP datagram", d.len()));
        }
        let len = u16::from_be_bytes([d[4], d[5]]);
        if usize::from(len) != d.len() {
            return Err(format!(
                "UDP length field {len} in a {}-byte IP payload",
                d.len()
            ));
        }
        let sum = u16::from_be_bytes([d[6], d[7]]);
        if sum != 0
            && checksum(&[
                &pseudo_header(ip.header.src, ip.header.dst, PROTO_UDP, len),
                d,
            ]) != 0
        {
            return Err("bad UDP checksum".into());
        }
        Ok(Udp {
            sport: u16::from_be_bytes([d[0], d[1]]),
            dport: u16::from_be_bytes([d[2], d[3]]),
            payload: &d[UDP_HEADER_LEN..],
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
        if !matches!(m[0], ICMP_ECHO_REPLY | ICMP_ECHO_REQUEST) {
            return Err(format!("ICMP type {} code {}", m[0], m[1]));
        }
        if checksum(&[m]) != 0 {
            return Err("bad ICMP checksum".into());
        }
        Ok(Echo {
            ty: m[0],
            code: m[1],
            id: u16::from_be_bytes([m[4], m[5]]),
            seq: u16::from_be_bytes([m[6], m[7]]),
            payload: &m[ICMP_ECHO_HEADER_LEN..],
        })
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: Mac) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// One line about a frame for error messages: its layers as far as they parse, what did not
/// parse, and its first 64 bytes in hex.
pub fn describe(frame: &[u8]) -> String {
    let mut s = format!("{} bytes: ", frame.len());
    match Ethernet::parse(frame) {
        Err(e) => s.push_str(&e),
        Ok(eth) => {
            let _ = write!(s, "{} > {} ", mac_text(eth.src), mac_text(eth.dst));
            s.push_str(&describe_payload(&eth));
        }
    }
    s.push_str(" |");
    for b in frame.iter().take(64) {
        let _ = write!(s, " {b:02x}");
    }
    if frame.len() > 64 {
        s.push_str(" ...");
    }
    s
}

fn describe_payload(eth: &Ethernet) -> String {
    match eth.ethertype {
        ETHERTYPE_ARP => match Arp::parse(eth.payload) {
            Ok(a) => format!(
                "ARP op {} {} ({}) asks/tells {} ({})",
                a.op,
                a.spa,
                mac_text(a.sha),
                a.tpa,
                mac_text(a.tha)
            ),
            Err(e) => format!("ARP: {e}"),
        },
        ETHERTYPE_IPV4 => match Ipv4::parse(eth.payload) {
            Err(e) => format!("IPv4: {e}"),
            Ok(ip) => {
                let h = ip.header;
                let l4 = match h.protocol {
                    PROTO_ICMP => match Echo::parse(&ip) {
                        Ok(e) => format!(
                            "ICMP echo type {} id {} seq {} len {}",
                            e.ty,
                            e.id,
                            e.seq,
                            e.payload.len()
                        ),
                        Err(e) => format!("ICMP: {e}"),
                    },
                    PROTO_UDP => match Udp::parse(&ip) {
                        Ok(u) => format!("UDP {} > {} len {}", u.sport, u.dport, u.payload.len()),
                        Err(e) => format!("UDP: {e}"),
                    },
                    p => format!("protocol {p}"),
                };
                format!(
                    "IPv4 {} > {} frag {:#06x}: {l4}",
                    h.src, h.dst, h.flags_fragment
                )
            }
        },
        t => format!("EtherType {t:#06x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The host → guest frames of crates/netstack/src/fixtures.rs, whose checksums were computed
    // independently of this file: the builders must produce them byte for byte.

    /// 10.0.2.2:25099 sends "xyz" to 10.0.2.15:2000.
    const UDP_IN: &[u8] = &[
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x62, 0xbe, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x02, 0x0f, 0x62, 0x0b, 0x07, 0xd0, 0x00, 0x0b, 0x8b, 0x72, 0x78, 0x79, 0x7a,
    ];

    /// Who has 10.0.2.15? Tell 10.0.2.2.
    const ARP_REQUEST_IN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x0a, 0x00,
        0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x02, 0x0f,
    ];

    /// Echo request 10.0.2.2 -> 10.0.2.15, id 0x1234, seq 1, data "ping".
    const PING_REQUEST: &[u8] = &[
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x62, 0xcd, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x02, 0x0f, 0x08, 0x00, 0x06, 0xfa, 0x12, 0x34, 0x00, 0x01, 0x70, 0x69, 0x6e,
        0x67,
    ];

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

    #[test]
    fn the_host_answers_arp_requests_for_its_address_only() {
        let ask = |target| {
            ethernet(
                BROADCAST,
                GUEST_MAC,
                ETHERTYPE_ARP,
                &arp_packet(ARP_REQUEST, GUEST_MAC, GUEST_IP, [0; 6], target),
            )
        };
        let reply = arp_answer(&ask(HOST_IP)).unwrap();
        assert_eq!(reply.len(), MIN_FRAME);
        let eth = Ethernet::parse(&reply).unwrap();
        assert_eq!(
            (eth.dst, eth.src, eth.ethertype),
            (GUEST_MAC, HOST_MAC, ETHERTYPE_ARP)
        );
        assert_eq!(
            Arp::parse(eth.payload).unwrap(),
            Arp {
                op: ARP_REPLY,
                sha: HOST_MAC,
                spa: HOST_IP,
                tha: GUEST_MAC,
                tpa: GUEST_IP
            }
        );
        assert_eq!(arp_answer(&ask(Ipv4Addr::new(10, 0, 2, 3))), None);
        assert_eq!(arp_answer(&reply), None);
        assert_eq!(arp_answer(UDP_IN), None);
    }

    #[test]
    fn the_host_answers_pings_to_its_address_only() {
        let request = icmp_echo(ICMP_ECHO_REQUEST, 0x4242, 7, b"abcdefgh");
        let ping = |dst_mac: Mac, header: Ipv4Header, message: &[u8]| {
            ethernet(dst_mac, GUEST_MAC, ETHERTYPE_IPV4, &header.emit(message))
        };
        let to_host = Ipv4Header::new(GUEST_IP, HOST_IP, PROTO_ICMP);
        let reply = echo_answer(&ping(HOST_MAC, to_host, &request)).unwrap();
        let eth = Ethernet::parse(&reply).unwrap();
        assert_eq!(
            (eth.dst, eth.src, eth.ethertype),
            (GUEST_MAC, HOST_MAC, ETHERTYPE_IPV4)
        );
        let ip = Ipv4::parse(eth.payload).unwrap();
        assert_eq!(ip.header, Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_ICMP));
        let echo = Echo::parse(&ip).unwrap();
        assert_eq!(
            (echo.ty, echo.code, echo.id, echo.seq, echo.payload),
            (ICMP_ECHO_REPLY, 0, 0x4242, 7, &b"abcdefgh"[..])
        );

        let other_ip = Ipv4Header::new(GUEST_IP, Ipv4Addr::new(10, 0, 2, 3), PROTO_ICMP);
        let fragment = Ipv4Header {
            flags_fragment: 0x2000,
            ..to_host
        };
        let mut bad_sum = request.clone();
        bad_sum[8] ^= 1;
        let answer_to = icmp_echo(ICMP_ECHO_REPLY, 1, 1, b"x");
        for (what, frame) in [
            ("another address", ping(HOST_MAC, other_ip, &request)),
            ("another MAC", ping(GUEST_MAC, to_host, &request)),
            ("broadcast", ping(BROADCAST, to_host, &request)),
            ("a fragment", ping(HOST_MAC, fragment, &request)),
            ("a bad checksum", ping(HOST_MAC, to_host, &bad_sum)),
            ("an echo reply", ping(HOST_MAC, to_host, &answer_to)),
        ] {
            assert_eq!(echo_answer(&frame), None, "{what}");
        }
        assert_eq!(echo_answer(UDP_IN), None);
        assert_eq!(echo_answer(PING_REQUEST), None);
    }

    #[test]
    fn the_framer_reassembles_frames_across_reads() {
        let mut stream = Vec::new();
        for f in [&b"abc"[..], b"", b"0123456789"] {
            stream.extend_from_slice(&(f.len() as u32).to_be_bytes());
            stream.extend_from_slice(f);
        }
        for step in [1, 2, 5, stream.len()] {
            let mut framer = Framer::default();
            let mut frames = Vec::new();
            for chunk in stream.chunks(step) {
                framer.push(chunk);
                while let Some(f) = framer.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(frames, [&b"abc"[..], b"", b"0123456789"], "step {step}");
            assert!(framer.buf.is_empty());
        }
        let mut framer = Framer::default();
        framer.push(&(MAX_FRAME as u32 + 1).to_be_bytes());
        assert!(framer.next_frame().is_err());
    }

    /// A stand-in for QEMU: connects to the wire and speaks its framing.
    struct FakeQemu(TcpStream);

    impl FakeQemu {
        fn connect(wire: &mut Wire) -> FakeQemu {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, wire.port())).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            wire.accept(Duration::from_secs(10)).unwrap();
            FakeQemu(stream)
        }

        fn send(&mut self, frame: &[u8]) {
            self.0
                .write_all(&(frame.len() as u32).to_be_bytes())
                .unwrap();
            self.0.write_all(frame).unwrap();
        }

        fn recv(&mut self) -> io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            self.0.read_exact(&mut len)?;
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            self.0.read_exact(&mut frame)?;
            Ok(frame)
        }
    }

    /// A guest frame from 10.0.2.15 to the host.
    fn from_guest(protocol: u8, payload: &[u8]) -> Vec<u8> {
        ethernet(
            HOST_MAC,
            GUEST_MAC,
            ETHERTYPE_IPV4,
            &Ipv4Header::new(GUEST_IP, HOST_IP, protocol).emit(payload),
        )
    }

    #[test]
    fn frames_cross_the_wire_both_ways_and_arp_and_pings_are_answered() {
        let mut wire = Wire::listen().unwrap();
        assert!(
            wire.netdev_arg("n")
                .ends_with(&format!("addr.port={}", wire.port()))
        );
        assert!(wire.send(b"early").is_err());
        let mut qemu = FakeQemu::connect(&mut wire);

        let ask = ethernet(
            BROADCAST,
            GUEST_MAC,
            ETHERTYPE_ARP,
            &arp_packet(ARP_REQUEST, GUEST_MAC, GUEST_IP, [0; 6], HOST_IP),
        );
        qemu.send(&ask);
        let udp_out = from_guest(PROTO_UDP, &udp(GUEST_IP, 2000, HOST_IP, 9, b"hi"));
        qemu.send(&udp_out);
        qemu.send(&from_guest(
            PROTO_ICMP,
            &icmp_echo(ICMP_ECHO_REQUEST, 1, 2, b"hi"),
        ));
        let reply = qemu.recv().unwrap();
        assert_eq!(Arp::parse(&reply[ETH_HEADER_LEN..]).unwrap().op, ARP_REPLY);
        let reply = qemu.recv().unwrap();
        let ip = Ipv4::parse(&reply[ETH_HEADER_LEN..]).unwrap();
        assert_eq!(Echo::parse(&ip).unwrap().ty, ICMP_ECHO_REPLY);
        assert_eq!(wire.recv(Duration::from_secs(10)).unwrap(), udp_out);
        assert_eq!(wire.recv(Duration::from_millis(50)), None);

        wire.send(UDP_IN).unwrap();
        assert_eq!(qemu.recv().unwrap(), UDP_IN);
        let big = vec![0xa5; 9000];
        wire.send(&big).unwrap();
        assert_eq!(qemu.recv().unwrap(), big);
        assert!(wire.send(&vec![0; MAX_FRAME + 1]).is_err());
        assert_eq!(
            wire.stats(),
            WireStats {
                sent: 4,
                sent_bytes: 60 + 44 + 45 + 9000,
                received: 3,
                arp_answered: 1,
                echo_answered: 1,
                overflowed: 0
            }
        );

        // QEMU exits: waits end at once and say why.
        drop(qemu);
        let start = Instant::now();
        assert_eq!(wire.recv(Duration::from_secs(10)), None);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(wire.ended().as_deref(), Some("QEMU closed the connection"));
    }

    #[test]
    fn exchanges_check_the_reply_and_retry() {
        let mut wire = Wire::listen().unwrap();
        let mut qemu = FakeQemu::connect(&mut wire);
        // A guest that ignores the first echo request (as a stack resolving the host's MAC may),
        // answers ARP, echoes pings and UDP, and first sends something nobody asked for.
        let guest = thread::spawn(move || {
            qemu.send(&from_guest(
                PROTO_UDP,
                &udp(GUEST_IP, 7, HOST_IP, 7, b"noise"),
            ));
            let mut pings = 0;
            while let Ok(f) = qemu.recv() {
                let eth = Ethernet::parse(&f).unwrap();
                if eth.ethertype == ETHERTYPE_ARP {
                    let a = Arp::parse(eth.payload).unwrap();
                    let p = arp_packet(ARP_REPLY, GUEST_MAC, GUEST_IP, a.sha, a.spa);
                    qemu.send(&ethernet(a.sha, GUEST_MAC, ETHERTYPE_ARP, &p));
                    continue;
                }
                let ip = Ipv4::parse(eth.payload).unwrap();
                if let Ok(e) = Echo::parse(&ip) {
                    pings += 1;
                    if pings > 1 {
                        let m = icmp_echo(ICMP_ECHO_REPLY, e.id, e.seq, e.payload);
                        qemu.send(&from_guest(PROTO_ICMP, &m));
                    }
                } else if let Ok(u) = Udp::parse(&ip) {
                    // Echoes with one byte changed when asked on port 13.
                    let mut data = u.payload.to_vec();
                    if u.dport == 13 {
                        data[0] ^= 1;
                    }
                    let d = udp(GUEST_IP, u.dport, HOST_IP, u.sport, &data);
                    qemu.send(&from_guest(PROTO_UDP, &d));
                }
            }
        });
        let quick = Duration::from_millis(300);
        assert_eq!(
            wire.who_has(GUEST_IP, 2, Duration::from_secs(10)).unwrap(),
            GUEST_MAC
        );
        assert_eq!(wire.ping(3, 4, b"payload", 3, quick).unwrap(), 2);
        assert_eq!(
            wire.udp_echo(5000, 12, b"data", 2, Duration::from_secs(10))
                .unwrap(),
            1
        );
        let err = wire
            .udp_echo(5000, 13, b"data", 1, Duration::from_secs(10))
            .unwrap_err();
        assert!(err.to_string().contains("differ"), "{err}");
        let unmatched = wire.take_unmatched();
        assert_eq!(unmatched.len(), 1);
        assert!(
            describe(&unmatched[0]).contains("UDP 7 > 7 len 5"),
            "{}",
            describe(&unmatched[0])
        );
        assert!(wire.take_unmatched().is_empty());
        // Dropping the wire closes the connection: the guest's loop ends.
        drop(wire);
        guest.join().unwrap();
    }

    #[test]
    fn accept_gives_up_when_nobody_connects() {
        let mut wire = Wire::listen().unwrap();
        let err = wire.accept(Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn describe_names_each_layer() {
        assert!(describe(&UDP_IN[..5]).starts_with("5 bytes: 5 bytes is shorter"));
        let d = describe(PING_REQUEST);
        assert!(
            d.starts_with(
                "46 bytes: 52:55:0a:00:02:02 > 52:54:00:12:34:56 IPv4 10.0.2.2 > 10.0.2.15 \
                 frag 0x0000: ICMP echo type 8 id 4660 seq 1 len 4 | 52 54 00"
            ),
            "{d}"
        );
        let d = describe(ARP_REQUEST_IN);
        assert!(
            d.contains("ARP op 1 10.0.2.2 (52:55:0a:00:02:02) asks/tells 10.0.2.15"),
            "{d}"
        );
        let d = describe(&ethernet(GUEST_MAC, HOST_MAC, 0x88b5, &[0; 80]));
        assert!(d.contains("EtherType 0x88b5") && d.ends_with(" ..."), "{d}");
    }
}
