//! The network benchmark (`cargo xtask bench`): UDP echo rate and latency from the host, against
//! `udpecho` in a guest on QEMU's user network, against the NIC driver echoing frames itself
//! (`net.echo=1`: the device ceiling) and against an echo thread on the host's loopback (the
//! harness's own ceiling), all in the same run; then, in the `udpecho` guest, the guest's time
//! counters, TCP bulk throughput each way ([`tcp`]) and HTTP requests per second ([`http`]); and
//! what the load generator itself cost ([`costs`]).
//!
//! Every UDP exchange is open loop: the sender paces datagrams by absolute deadlines (a late packet
//! does not delay the ones after it), in batches of at most [`RATE_BATCH`], while a second thread
//! reads the echoes. Each datagram carries an exchange id and a sequence number, so an echo left
//! over from an earlier, lossy exchange is ignored. Every loop is bounded in packets and seconds,
//! and only 127.0.0.1 is ever addressed. [`report`] writes the results and [`plot`] draws them.

pub mod costs;
pub mod http;
pub mod plot;
pub mod report;
pub mod tcp;

pub use crate::qemu::Nic;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::qemu::BOOT_TIMEOUT;
use crate::{Pattern, Qemu, QemuBuilder};
use costs::{GuestTime, Meter, PhaseCost};
use http::{HttpPlan, HttpResult};
use tcp::{Bulk, TcpResult};

/// The UDP payload size of every datagram (the seed report's).
pub const PAYLOAD: usize = 64;
/// Datagrams per try of the rate search.
pub const RATE_PACKETS: u32 = 1000;
/// The rate search's range, in datagrams per second.
pub const RATE_RANGE: (f64, f64) = (1_000.0, 50_000.0);
/// The search stops when the bracket's ends are this close (ratio).
const SEARCH_PRECISION: f64 = 1.05;
/// And after this many tries, whatever the bracket.
const SEARCH_MAX_TRIES: usize = 12;
/// Most datagrams the sender sends back to back before looking at the clock again.
pub const RATE_BATCH: u32 = 8;
/// Socket buffers of the host's sockets, so the host never drops what it sends or receives.
pub const SOCKET_BUFFER: usize = 4 << 20;
/// How long the receiver waits for more echoes after the last send (reset by each echo)...
const DRAIN_QUIET: Duration = Duration::from_millis(300);
/// ...and at most, after the last send.
const DRAIN_MAX: Duration = Duration::from_secs(2);
/// How often a blocked reader looks at its stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// Marks the benchmark's datagrams.
const MAGIC: [u8; 4] = *b"xvb1";
/// The guest port `udpecho` serves.
pub const GUEST_PORT: u16 = 2000;
/// The guest port of `tcpbench source` (guest→host).
pub const SOURCE_PORT: u16 = 5001;
/// The guest port of `tcpbench sink` (host→guest).
pub const SINK_PORT: u16 = 5002;
/// The guest port of `httpd`.
pub const HTTP_PORT: u16 = 80;
/// The file the HTTP phases ask for: fs-extra/index.html, 311 bytes.
pub const HTTP_PATH: &str = "/index.html";
/// How long a guest command may take to start or to print its answer.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `tcpbench` may take to end after the host's side ended: its own timeouts (60 s of
/// silence) bound it when a reset got lost.
const TCPBENCH_END_TIMEOUT: Duration = Duration::from_secs(90);
/// What the kernel prints when `net.echo=1` put the driver in its echo loop.
pub const DEVICE_ECHO_LINE: &str = "net: device echo mode";

/// One paced exchange: `count` datagrams at `rate` per second.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub rate: f64,
    pub count: u32,
    pub batch: u32,
}

/// What one exchange measured.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The rate asked for.
    pub target: f64,
    /// Datagrams handed to the host's socket.
    pub sent: u32,
    /// Distinct datagrams echoed back in time.
    pub received: u32,
    /// The sender's real rate: (sent - 1) / (last send - first send).
    pub achieved: f64,
    /// Round-trip times of the echoed datagrams, in order of sending.
    pub rtts: Vec<Duration>,
}

impl Exchange {
    /// The fraction of sent datagrams that came back.
    pub fn delivery(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            f64::from(self.received) / f64::from(self.sent)
        }
    }
}

/// The host end of the benchmark: one connected UDP socket on 127.0.0.1 and the id of the next
/// exchange.
pub struct Prober {
    sock: UdpSocket,
    next_id: u32,
}

impl Prober {
    /// A socket on 127.0.0.1 connected to `target` (which must be on 127.0.0.1), with
    /// [`SOCKET_BUFFER`]-byte buffers (as far as the kernel's limits allow).
    pub fn new(target: SocketAddr) -> Result<Prober> {
        ensure_loopback(target)?;
        let sock = big_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        sock.connect(target)?;
        Ok(Prober { sock, next_id: 1 })
    }

    /// The receive buffer the kernel granted (Linux doubles the asked size, up to `rmem_max`).
    pub fn recv_buffer(&self) -> usize {
        socket2::SockRef::from(&self.sock)
            .recv_buffer_size()
            .unwrap_or(0)
    }

    /// Sends one datagram at a time, each given the drain period to come back, until the first
    /// echo, for at most `timeout`: the guest's first reply waits for its ARP of 10.0.2.2.
    pub fn warm_up(&mut self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let ex = self.exchange(&Plan {
                rate: 10.0,
                count: 1,
                batch: 1,
            })?;
            if ex.received == 1 {
                return Ok(start.elapsed());
            }
        }
        bail!("no echo within {timeout:?}")
    }

    /// Runs one paced exchange and waits for its echoes (see the module doc).
    pub fn exchange(&mut self, plan: &Plan) -> io::Result<Exchange> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let n = plan.count as usize;
        // Nanoseconds since `base` + 1 (0: not sent / not echoed).
        let sent_at: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
        let rtt: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
        let received = AtomicU32::new(0);
        let sent = AtomicU32::new(0);
        let finished = AtomicBool::new(false);
        let base = Instant::now();
        let reader = self.sock.try_clone()?;
        let mut spans = (None, None);
        thread::scope(|s| -> io::Result<()> {
            let recv = s.spawn(|| {
                receive(
                    &reader, id, base, &sent_at, &rtt, &received, &sent, &finished,
                )
            });
            let result = self.send_paced(plan, id, base, &sent_at, &sent, &mut spans);
            finished.store(true, Ordering::Release);
            recv.join().expect("the receiver does not panic")?;
            result
        })?;
        let sent = sent.into_inner();
        let achieved = match spans {
            (Some(first), Some(last)) if sent > 1 && last > first => {
                f64::from(sent - 1) / (last - first).as_secs_f64()
            }
            _ => 0.0,
        };
        let rtts = rtt
            .into_iter()
            .map(AtomicU64::into_inner)
            .filter(|&r| r != 0)
            .map(|r| Duration::from_nanos(r - 1))
            .collect();
        Ok(Exchange {
            target: plan.rate,
            sent,
            received: received.into_inner(),
            achieved,
            rtts,
        })
    }

    /// Sends `plan.count` datagrams, the i-th due at `start + i / rate`; when behind, catches up
    /// at most `batch` at a time. Records the first and last send times in `spans`.
    fn send_paced(
        &self,
        plan: &Plan,
        id: u32,
        base: Instant,
        sent_at: &[AtomicU64],
        sent: &AtomicU32,
        spans: &mut (Option<Instant>, Option<Instant>),
    ) -> io::Result<()> {
        let mut buf = [0u8; PAYLOAD];
        buf[..4].copy_from_slice(&MAGIC);
        buf[4..8].copy_from_slice(&id.to_le_bytes());
        let start = Instant::now();
        let period = 1.0 / plan.rate;
        // A bound on the whole loop even if sends stall: four times the planned time, plus 5 s.
        let limit = Duration::from_secs_f64(period * f64::from(plan.count) * 4.0 + 5.0);
        let mut i = 0u32;
        while i < plan.count && start.elapsed() < limit {
            let now = Instant::now();
            let due = ((now - start).as_secs_f64() / period) as u64 + 1;
            let due = due.min(u64::from(plan.count)) as u32;
            if due <= i {
                let next = start + Duration::from_secs_f64(f64::from(i) * period);
                thread::sleep(next.saturating_duration_since(now));
                continue;
            }
            let end = due.min(i + plan.batch.max(1));
            for seq in i..end {
                buf[8..12].copy_from_slice(&seq.to_le_bytes());
                let t = Instant::now();
                sent_at[seq as usize].store(nanos(base, t) + 1, Ordering::Release);
                match self.sock.send(&buf) {
                    Ok(_) => {
                        spans.0.get_or_insert(t);
                        spans.1 = Some(t);
                        sent.fetch_add(1, Ordering::AcqRel);
                    }
                    // A refused send (an ICMP error from an earlier datagram) loses this one.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        sent_at[seq as usize].store(0, Ordering::Release);
                    }
                    Err(e) => return Err(e),
                }
            }
            i = end;
        }
        Ok(())
    }
}

fn nanos(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base).as_nanos() as u64
}

/// The reader of one exchange: records the round-trip time of each first echo of this exchange's
/// datagrams, until every sent datagram came back or the drain period after the last send ends.
#[allow(clippy::too_many_arguments)]
fn receive(
    sock: &UdpSocket,
    id: u32,
    base: Instant,
    sent_at: &[AtomicU64],
    rtt: &[AtomicU64],
    received: &AtomicU32,
    sent: &AtomicU32,
    finished: &AtomicBool,
) -> io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut done_at: Option<Instant> = None;
    let mut last_echo = Instant::now();
    loop {
        if finished.load(Ordering::Acquire) {
            let done = *done_at.get_or_insert_with(Instant::now);
            let now = Instant::now();
            if received.load(Ordering::Acquire) >= sent.load(Ordering::Acquire)
                || now.duration_since(done.max(last_echo)) > DRAIN_QUIET
                || now.duration_since(done) > DRAIN_MAX
            {
                return Ok(());
            }
        }
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let Some((got_id, seq)) = parse(&buf[..n]) else {
            continue;
        };
        let (Some(sent_ns), Some(slot)) = (sent_at.get(seq as usize), rtt.get(seq as usize)) else {
            continue;
        };
        let sent_ns = sent_ns.load(Ordering::Acquire);
        if got_id != id || sent_ns == 0 || slot.load(Ordering::Acquire) != 0 {
            continue;
        }
        let r = nanos(base, now).saturating_sub(sent_ns - 1);
        slot.store(r + 1, Ordering::Release);
        received.fetch_add(1, Ordering::AcqRel);
        last_echo = now;
    }
}

/// The exchange id and sequence number of a benchmark datagram.
fn parse(d: &[u8]) -> Option<(u32, u32)> {
    if d.len() != PAYLOAD || d[..4] != MAGIC {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes(d[i..i + 4].try_into().expect("4 bytes"));
    Some((word(4), word(8)))
}

fn ensure_loopback(addr: SocketAddr) -> Result<()> {
    if addr.ip() != Ipv4Addr::LOCALHOST {
        bail!("the benchmark only talks to 127.0.0.1, not {addr}");
    }
    Ok(())
}

/// A UDP socket bound to `addr` with [`SOCKET_BUFFER`]-byte buffers and a short read timeout.
fn big_socket(addr: SocketAddr) -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_recv_buffer_size(SOCKET_BUFFER)?;
    sock.set_send_buffer_size(SOCKET_BUFFER)?;
    sock.bind(&addr.into())?;
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(sock)
}

/// The result of a rate search.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The passing try with the highest target rate, if any passed.
    pub best: Option<Exchange>,
    /// Every try, in order.
    pub tries: Vec<Exchange>,
}

/// Finds the highest target rate in `range` whose try delivers at least `threshold` of its
/// datagrams: tries the top, then the bottom, then bisects (geometric midpoints) until the bracket
/// is within [`SEARCH_PRECISION`] or after [`SEARCH_MAX_TRIES`] bisections. `prior` tries (of an
/// earlier search) narrow the bracket first and are not repeated.
pub fn search(
    range: (f64, f64),
    threshold: f64,
    prior: &[Exchange],
    mut try_rate: impl FnMut(f64) -> io::Result<Exchange>,
) -> io::Result<Search> {
    let passes = |e: &Exchange| e.delivery() >= threshold;
    let mut best: Option<Exchange> = prior
        .iter()
        .filter(|e| passes(e))
        .max_by(|a, b| a.target.total_cmp(&b.target))
        .cloned();
    let lowest_fail_above = |best: &Option<Exchange>, tries: &[Exchange]| {
        let floor = best.as_ref().map_or(f64::MIN, |b| b.target);
        tries
            .iter()
            .filter(|e| !passes(e) && e.target > floor)
            .map(|e| e.target)
            .min_by(f64::total_cmp)
    };
    let mut fail = lowest_fail_above(&best, prior);
    let mut tries = Vec::new();
    let mut record = |e: Exchange, best: &mut Option<Exchange>, fail: &mut Option<f64>| {
        if passes(&e) {
            if best.as_ref().is_none_or(|b| e.target > b.target) {
                *best = Some(e.clone());
            }
        } else if fail.is_none_or(|f| e.target < f) {
            *fail = Some(e.target);
        }
        tries.push(e);
    };
    if fail.is_none() && best.as_ref().is_none_or(|b| b.target < range.1) {
        record(try_rate(range.1)?, &mut best, &mut fail);
    }
    if best.is_none() && fail.is_some_and(|f| f > range.0) {
        record(try_rate(range.0)?, &mut best, &mut fail);
    }
    for _ in 0..SEARCH_MAX_TRIES {
        let (Some(lo), Some(hi)) = (best.as_ref().map(|b| b.target), fail) else {
            break;
        };
        if hi / lo <= SEARCH_PRECISION {
            break;
        }
        record(try_rate((lo * hi).sqrt().round())?, &mut best, &mut fail);
    }
    Ok(Search { best, tries })
}

/// Summary statistics of round-trip times, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub rate: f64,
    pub samples: u32,
    pub lost: u32,
    pub avg: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The `p`-th percentile of `sorted` by nearest rank (NaN when empty).
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Latency {
    /// The statistics of an exchange (nearest-rank percentiles).
    pub fn of(ex: &Exchange) -> Latency {
        let mut ms: Vec<f64> = ex.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| nearest_rank(&ms, p);
        Latency {
            rate: ex.target,
            samples: ms.len() as u32,
            lost: ex.sent - ex.received,
            avg: if ms.is_empty() {
                f64::NAN
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
            median: pct(50.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// How long each phase of a run lasts.
#[derive(Clone, Debug)]
pub struct Phases {
    /// Latency rates, in messages per second.
    pub latency_rates: Vec<f64>,
    /// Each latency phase stops at this many samples...
    pub latency_samples: u32,
    /// ...or this long, whichever comes first.
    pub latency_duration: Duration,
    /// Bytes of each TCP bulk transfer...
    pub tcp_bytes: u64,
    /// ...which ends at this deadline if not done before.
    pub tcp_deadline: Duration,
    /// HTTP clients (connections at once).
    pub http_connections: usize,
    /// Each HTTP phase stops at this many requests...
    pub http_requests: u32,
    /// ...or this long, whichever comes first.
    pub http_duration: Duration,
}

impl Phases {
    /// `--quick`: 1 to 1000 msg/s, 200 samples or 3 s each; 4 MiB each way within 20 s; 6,000
    /// HTTP requests or 3 s per mode.
    pub fn quick() -> Phases {
        Phases {
            latency_rates: vec![1.0, 10.0, 100.0, 1000.0],
            latency_samples: 200,
            latency_duration: Duration::from_secs(3),
            tcp_bytes: 4 << 20,
            tcp_deadline: Duration::from_secs(20),
            http_connections: 4,
            http_requests: 6_000,
            http_duration: Duration::from_secs(3),
        }
    }

    /// The full run: 1 to 10,000 msg/s, 1000 samples or 10 s each; 16 MiB each way within 60 s;
    /// 50,000 HTTP requests or 10 s per mode (the counts leave room above the 2,000 req/s target).
    pub fn full() -> Phases {
        Phases {
            latency_rates: vec![1.0, 10.0, 100.0, 1000.0, 10_000.0],
            latency_samples: 1000,
            latency_duration: Duration::from_secs(10),
            tcp_bytes: 16 << 20,
            tcp_deadline: Duration::from_secs(60),
            http_connections: 4,
            http_requests: 50_000,
            http_duration: Duration::from_secs(10),
        }
    }

    /// The HTTP phase with or without keep-alive.
    pub fn http(&self, keep_alive: bool) -> HttpPlan {
        HttpPlan {
            keep_alive,
            connections: self.http_connections,
            requests: self.http_requests,
            duration: self.http_duration,
        }
    }
}

/// The guest's time counters over the UDP phase of a `udpecho` run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuestCounters {
    /// Not a `udpecho` guest (the host's echo, the device ceiling).
    #[default]
    NotApplicable,
    /// `ifconfig` printed no `time:` line (a kernel without the counters).
    Missing,
    /// What the counters grew by from just before `udpecho` started to just after the last
    /// latency phase.
    Read(GuestTime),
}

/// Everything one run of one configuration measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub zero_loss: Search,
    pub delivery99: Search,
    pub latency: Vec<Latency>,
    /// The host socket's receive buffer as granted.
    pub recv_buffer: usize,
    /// The guest's time counters over the UDP phases.
    pub guest_time: GuestCounters,
    /// TCP bulk transfers (`udpecho` guests only).
    pub tcp: Option<TcpResult>,
    /// HTTP with keep-alive, then without (`udpecho` guests only).
    pub http: Vec<HttpResult>,
    /// The load generator's own cost per phase (`udp`, `tcp`, `http`) and in `total`.
    pub costs: Vec<PhaseCost>,
}

/// Measures the echo service at `target` (on 127.0.0.1): both rate searches, then latency per
/// rate.
pub fn measure(target: SocketAddr, phases: &Phases) -> Result<RunResult> {
    let mut p = Prober::new(target)?;
    p.warm_up(Duration::from_secs(30))
        .context("waiting for the first echo")?;
    let mut rate_try = |rate: f64| {
        p.exchange(&Plan {
            rate,
            count: RATE_PACKETS,
            batch: RATE_BATCH,
        })
    };
    let zero_loss = search(RATE_RANGE, 1.0, &[], &mut rate_try)?;
    let delivery99 = search(RATE_RANGE, 0.99, &zero_loss.tries, &mut rate_try)?;
    let mut latency = Vec::new();
    for &rate in &phases.latency_rates {
        let by_time = (rate * phases.latency_duration.as_secs_f64()).max(1.0) as u32;
        let ex = p.exchange(&Plan {
            rate,
            count: by_time.min(phases.latency_samples),
            batch: 1,
        })?;
        latency.push(Latency::of(&ex));
    }
    Ok(RunResult {
        zero_loss,
        delivery99,
        latency,
        recv_buffer: p.recv_buffer(),
        ..RunResult::default()
    })
}

/// [`measure`], with the generator's cost recorded as phase `udp`.
fn measure_udp(target: SocketAddr, phases: &Phases) -> Result<RunResult> {
    let meter = Meter::start();
    let mut r = measure(target, phases)?;
    r.costs.push(meter.stop("udp"));
    Ok(r)
}

/// An echo service on the host's 127.0.0.1, on its own thread, until dropped: the harness's
/// ceiling.
pub struct HostEcho {
    addr: SocketAddr,
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HostEcho {
    /// Starts echoing on a free port of 127.0.0.1, for at most `limit`.
    pub fn start(limit: Duration) -> Result<HostEcho> {
        let sock = big_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = sock.local_addr()?;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Acquire) && start.elapsed() < limit {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        Ok(HostEcho {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HostEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one configuration runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The echo thread on the host (no guest).
    Host,
    /// The driver's own echo loop (`net.echo=1`) with this card and `net.ring`.
    DeviceEcho { nic: Nic, ring: Option<usize> },
    /// `udpecho` (then `tcpbench` and `httpd`) in a guest with this card and `net.ring` (None:
    /// the kernel's default).
    Guest { nic: Nic, ring: Option<usize> },
}

impl Target {
    /// The configuration's name in reports.
    pub fn label(&self) -> String {
        match self {
            Target::Host => "host loopback echo".into(),
            Target::DeviceEcho { nic, ring: Some(r) } => {
                format!("{} device ceiling ring {r}", nic.name())
            }
            Target::DeviceEcho { nic, ring: None } => format!("{} device ceiling", nic.name()),
            Target::Guest { nic, ring: Some(r) } => format!("{} ring {r}", nic.name()),
            Target::Guest { nic, ring: None } => format!("{} default ring", nic.name()),
        }
    }
}

/// A configuration the kernel cannot run (a boot option it does not know): the benchmark skips
/// it and says so, rather than failing.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// The host ports QEMU forwards to the guest's services, all on 127.0.0.1.
struct Forwards {
    udp: u16,
    source: u16,
    sink: u16,
    http: u16,
}

impl Forwards {
    fn pick() -> Result<Forwards> {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        Ok(Forwards {
            udp,
            source: crate::free_port()?,
            sink: crate::free_port()?,
            http: crate::free_port()?,
        })
    }

    /// The `-netdev` value: QEMU's user network with the four forwards.
    fn netdev(&self) -> String {
        format!(
            "user,id=net0,hostfwd=udp:127.0.0.1:{}-:{GUEST_PORT},\
             hostfwd=tcp:127.0.0.1:{}-:{SOURCE_PORT},hostfwd=tcp:127.0.0.1:{}-:{SINK_PORT},\
             hostfwd=tcp:127.0.0.1:{}-:{HTTP_PORT}",
            self.udp, self.source, self.sink, self.http
        )
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }
}

/// A guest for `target` with `nic` behind `fwd` and `bootargs` on its command line.
fn guest(target: Target, nic: Nic, fwd: &Forwards, bootargs: &[String]) -> QemuBuilder {
    let b = Qemu::builder(&format!("bench-{}", target.label().replace(' ', "-"))).net([
        "-netdev".to_string(),
        fwd.netdev(),
        "-device".to_string(),
        nic.device().to_string(),
    ]);
    if bootargs.is_empty() {
        b
    } else {
        b.arg("-append").arg(bootargs.join(" "))
    }
}

fn ring_arg(ring: Option<usize>) -> Option<String> {
    ring.map(|r| format!("net.ring={r}"))
}

/// The kernel's boot lines about its card (`net: NAME mac ... ring N`, and the echo mode's).
fn boot_lines(q: &Qemu) -> String {
    q.output()
        .lines()
        .filter(|l| {
            (l.starts_with("net: ") && l.contains(" ring ")) || l.starts_with(DEVICE_ECHO_LINE)
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs one configuration once: boots a guest if needed, measures, and records the generator's
/// cost. For a guest, also returns the kernel's boot lines about the card. A kernel without the
/// device echo mode gives an [`Unsupported`] error.
pub fn run_target(target: Target, phases: &Phases) -> Result<(RunResult, String)> {
    let total = Meter::start();
    let (mut result, boot) = match target {
        Target::Host => {
            let echo = HostEcho::start(Duration::from_secs(600))?;
            (measure_udp(echo.addr(), phases)?, String::new())
        }
        Target::DeviceEcho { nic, ring } => {
            let fwd = Forwards::pick()?;
            let mut args = vec!["net.echo=1".to_string()];
            args.extend(ring_arg(ring));
            let mut q = guest(target, nic, &fwd, &args).spawn()?;
            // The echo loop may or may not leave the shell running on the other harts.
            let seen = q.expect(
                Pattern::re(&format!("{DEVICE_ECHO_LINE}|init: starting sh")),
                BOOT_TIMEOUT,
            )?;
            if !seen.contains(DEVICE_ECHO_LINE)
                && q.expect(DEVICE_ECHO_LINE, Duration::from_secs(5)).is_err()
            {
                return Err(Unsupported(format!(
                    "the kernel printed no `{DEVICE_ECHO_LINE}` line with net.echo=1"
                ))
                .into());
            }
            match measure_udp(Forwards::at(fwd.udp), phases) {
                Ok(r) => (r, boot_lines(&q)),
                Err(e) => return Err(q.fail(&format!("{e:#}"))),
            }
        }
        Target::Guest { nic, ring } => {
            let fwd = Forwards::pick()?;
            let args: Vec<String> = ring_arg(ring).into_iter().collect();
            let mut q = guest(target, nic, &fwd, &args).spawn_shell()?;
            match guest_phases(&mut q, &fwd, phases) {
                Ok(r) => (r, boot_lines(&q)),
                Err(e) => return Err(q.fail(&format!("{e:#}"))),
            }
        }
    };
    result.costs.push(total.stop("total"));
    Ok((result, boot))
}

/// Everything measured in a `udpecho` guest, in order: the counters, `udpecho` in the
/// background, the UDP phases, the counters again; `tcpbench source` then `tcpbench sink`;
/// `httpd` in the background, HTTP with keep-alive then without.
fn guest_phases(q: &mut Qemu, fwd: &Forwards, phases: &Phases) -> Result<RunResult> {
    let before = GuestTime::parse(&q.run("ifconfig", CMD_TIMEOUT)?);
    q.send_line(&format!("udpecho {GUEST_PORT} &"))?;
    q.expect(
        format!("udpecho: echoing on port {GUEST_PORT}").as_str(),
        CMD_TIMEOUT,
    )?;
    let mut r = measure_udp(Forwards::at(fwd.udp), phases)?;
    let after = GuestTime::parse(&q.run("ifconfig", CMD_TIMEOUT)?);
    r.guest_time = match before.zip(after) {
        Some((b, a)) => GuestCounters::Read(a.since(&b)),
        None => GuestCounters::Missing,
    };

    let meter = Meter::start();
    r.tcp = Some(tcp_phases(q, fwd, phases)?);
    r.costs.push(meter.stop("tcp"));

    q.send_line(&format!("httpd {HTTP_PORT} &"))?;
    q.expect(
        format!("httpd: serving / on port {HTTP_PORT}").as_str(),
        CMD_TIMEOUT,
    )?;
    let meter = Meter::start();
    for keep_alive in [true, false] {
        r.http.push(http::load(
            Forwards::at(fwd.http),
            HTTP_PATH,
            &phases.http(keep_alive),
        )?);
    }
    r.costs.push(meter.stop("http"));
    Ok(r)
}

/// Types `line` (a `tcpbench` command) and waits until it listens on `port`.
fn start_tcpbench(q: &mut Qemu, line: &str, port: u16) -> Result<()> {
    q.send_line(line)?;
    q.expect(
        format!("tcpbench: listening on {port}").as_str(),
        CMD_TIMEOUT,
    )?;
    Ok(())
}

/// Waits for `tcpbench`'s last line (`VERB N bytes in U us`) and the shell's prompt; returns
/// the guest's count.
fn tcpbench_count(q: &mut Qemu, verb: &str) -> Result<(u64, u64)> {
    let text = q.expect(
        Pattern::re(&format!(r"tcpbench: {verb} \d+ bytes in \d+ us[^\n]*\n")),
        TCPBENCH_END_TIMEOUT,
    )?;
    q.expect("$ ", CMD_TIMEOUT)?;
    tcp::parse_count(&text).context("tcpbench's count")
}

/// Guest→host, then host→guest, [`Phases::tcp_bytes`] each.
fn tcp_phases(q: &mut Qemu, fwd: &Forwards, phases: &Phases) -> Result<TcpResult> {
    let planned = phases.tcp_bytes;
    start_tcpbench(
        q,
        &format!("tcpbench source {SOURCE_PORT} {planned}"),
        SOURCE_PORT,
    )?;
    let (bytes, elapsed) = tcp::receive(Forwards::at(fwd.source), phases.tcp_deadline)?;
    let (_, guest_us) = tcpbench_count(q, "sent")?;
    let guest_to_host = Bulk {
        planned,
        bytes,
        elapsed,
        guest_us: Some(guest_us),
    };
    start_tcpbench(q, &format!("tcpbench sink {SINK_PORT}"), SINK_PORT)?;
    let (elapsed, _answer) = tcp::send(Forwards::at(fwd.sink), planned, phases.tcp_deadline)?;
    // The guest's count is what arrived, whether or not its answer made it back in time.
    let (bytes, guest_us) = tcpbench_count(q, "received")?;
    let host_to_guest = Bulk {
        planned,
        bytes,
        elapsed,
        guest_us: Some(guest_us),
    };
    Ok(TcpResult {
        guest_to_host,
        host_to_guest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(target: f64, received: u32) -> Exchange {
        Exchange {
            target,
            sent: 1000,
            received,
            achieved: target,
            rtts: Vec::new(),
        }
    }

    /// A service that loses nothing up to `cap` pkt/s and a share of the excess above.
    fn fake(cap: f64) -> impl FnMut(f64) -> io::Result<Exchange> {
        move |rate| {
            let got = if rate <= cap {
                1000.0
            } else {
                1000.0 * cap / rate
            };
            Ok(ex(rate, got as u32))
        }
    }

    #[test]
    fn search_brackets_the_capacity() {
        let s = search(RATE_RANGE, 1.0, &[], fake(7000.0)).unwrap();
        let best = s.best.unwrap().target;
        assert!(
            (7000.0 / SEARCH_PRECISION..=7000.0).contains(&best),
            "{best}"
        );
        assert!(s.tries.len() <= SEARCH_MAX_TRIES + 2);
        assert_eq!(s.tries[0].target, 50_000.0);
        assert_eq!(s.tries[1].target, 1_000.0);
    }

    #[test]
    fn search_reports_the_ends_of_the_range() {
        let top = search(RATE_RANGE, 1.0, &[], fake(1e9)).unwrap();
        assert_eq!((top.best.unwrap().target, top.tries.len()), (50_000.0, 1));
        let none = search(RATE_RANGE, 1.0, &[], fake(10.0)).unwrap();
        assert!(none.best.is_none());
        assert_eq!(none.tries.len(), 2);
    }

    #[test]
    fn a_second_search_reuses_the_first_ones_tries() {
        let first = search(RATE_RANGE, 1.0, &[], fake(7000.0)).unwrap();
        let mut calls = 0;
        let mut f = fake(7000.0);
        let s = search(RATE_RANGE, 0.99, &first.tries, |r| {
            calls += 1;
            f(r)
        })
        .unwrap();
        let best = s.best.unwrap().target;
        // 99% delivery holds up to 7000/0.99, and never below the zero-loss rate.
        assert!(
            best >= first.best.unwrap().target && best <= 7071.0,
            "{best}"
        );
        assert!(calls <= 3, "{calls}");
    }

    #[test]
    fn latency_uses_nearest_rank_percentiles() {
        let mut e = ex(100.0, 100);
        e.rtts = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&e);
        assert_eq!((l.samples, l.lost), (100, 900));
        assert_eq!((l.median, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
        assert!((l.avg - 50.5).abs() < 1e-9);
    }

    #[test]
    fn exchanges_with_the_host_echo_lose_nothing_at_low_rates() {
        let echo = HostEcho::start(Duration::from_secs(30)).unwrap();
        let mut p = Prober::new(echo.addr()).unwrap();
        p.warm_up(Duration::from_secs(5)).unwrap();
        let e = p
            .exchange(&Plan {
                rate: 2000.0,
                count: 200,
                batch: RATE_BATCH,
            })
            .unwrap();
        assert_eq!((e.sent, e.received, e.rtts.len()), (200, 200, 200));
        assert!(e.achieved > 1000.0 && e.achieved < 4000.0, "{}", e.achieved);
    }

    #[test]
    fn stale_and_foreign_datagrams_are_ignored() {
        assert_eq!(parse(b"short"), None);
        let mut d = [0u8; PAYLOAD];
        assert_eq!(parse(&d), None);
        d[..4].copy_from_slice(&MAGIC);
        d[4] = 7;
        d[8] = 3;
        assert_eq!(parse(&d), Some((7, 3)));
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(Prober::new("10.0.2.3:53".parse().unwrap()).is_err());
    }
}
