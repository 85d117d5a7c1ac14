//! The UDP echo probe: paced exchanges from one socket on 127.0.0.1, the reader of their
//! echoes, and the host's own echo service (the harness's ceiling).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::costs::Meter;
use crate::search::{Latency, search};
use crate::{
    DRAIN_MAX, DRAIN_QUIET, MAGIC, PAYLOAD, Phases, RATE_BATCH, RATE_PACKETS, RATE_RANGE,
    READ_TIMEOUT, RunResult, SOCKET_BUFFER,
};

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

pub(crate) fn ensure_loopback(addr: SocketAddr) -> Result<()> {
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
pub(crate) fn measure_udp(target: SocketAddr, phases: &Phases) -> Result<RunResult> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
