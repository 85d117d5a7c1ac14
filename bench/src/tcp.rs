//! TCP bulk throughput between the host and `tcpbench` in the guest, through QEMU's user network
//! (`hostfwd=tcp:127.0.0.1:H-:G`): guest→host, the host connects to `tcpbench source` and reads
//! to the end; host→guest, the host connects to `tcpbench sink`, writes, half-closes and waits
//! for the guest's count. Blocking sockets with short timeouts, so every loop also watches its
//! deadline; at the deadline the host resets the connection, which ends the guest's side too.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Bytes per host read or write call.
const CHUNK: usize = 256 * 1024;
/// How often a blocked read or write looks at the deadline.
const POLL: Duration = Duration::from_millis(250);
/// How long the connection itself may take (slirp accepts at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bulk {
    /// Bytes asked for.
    pub planned: u64,
    /// Bytes that arrived: counted by the host (guest→host) or by the guest (host→guest).
    pub bytes: u64,
    /// From the host's connect to the end (end of stream, or the guest's count), or to the
    /// deadline.
    pub elapsed: Duration,
    /// The guest's own time from its accept to its end, if it printed it.
    pub guest_us: Option<u64>,
}

impl Bulk {
    /// Whether every planned byte arrived before the deadline.
    pub fn complete(&self) -> bool {
        self.bytes >= self.planned
    }

    /// Throughput in MB/s (10^6 bytes per second).
    pub fn mbytes_per_s(&self) -> f64 {
        if self.elapsed.is_zero() {
            f64::NAN
        } else {
            self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6
        }
    }

    /// Throughput in Mbit/s (10^6 bits per second).
    pub fn mbit_per_s(&self) -> f64 {
        self.mbytes_per_s() * 8.0
    }
}

/// Both directions of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TcpResult {
    pub guest_to_host: Bulk,
    pub host_to_guest: Bulk,
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    crate::udp::ensure_loopback(addr)?;
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(POLL))?;
    s.set_write_timeout(Some(POLL))?;
    Ok(s)
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Ends the connection with a reset, so the guest's side stops at once instead of finishing.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Guest→host: connects to `addr` and reads until the end of the stream or `deadline` after the
/// connect. Returns the bytes read and the time taken.
pub fn receive(addr: SocketAddr, deadline: Duration) -> Result<(u64, Duration)> {
    let mut s = connect(addr)?;
    let start = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    while start.elapsed() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return Ok((total, start.elapsed())),
            Ok(n) => total += n as u64,
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e).context(format!("reading after {total} bytes")),
        }
    }
    let elapsed = start.elapsed();
    reset(s);
    Ok((total, elapsed))
}

/// Host→guest: connects to `addr`, writes `bytes`, half-closes and reads the guest's answer (to
/// the end of the stream), all within `deadline` after the connect. Returns the time to the end
/// of the answer (or to the deadline) and the answer, if it came.
pub fn send(
    addr: SocketAddr,
    bytes: u64,
    deadline: Duration,
) -> Result<(Duration, Option<String>)> {
    let mut s = connect(addr)?;
    let start = Instant::now();
    let buf = vec![b'y'; CHUNK];
    let mut left = bytes;
    while left > 0 && start.elapsed() < deadline {
        let n = left.min(CHUNK as u64) as usize;
        match s.write(&buf[..n]) {
            Ok(k) => left -= k as u64,
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e).context(format!("writing after {} bytes", bytes - left)),
        }
    }
    if left == 0 {
        s.shutdown(Shutdown::Write)?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        while start.elapsed() < deadline {
            match s.read(&mut buf) {
                Ok(0) => {
                    let answer = String::from_utf8_lossy(&answer).into_owned();
                    return Ok((start.elapsed(), Some(answer)));
                }
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if timed_out(&e) => {}
                Err(e) => return Err(e).context("reading the guest's count"),
            }
        }
    }
    let elapsed = start.elapsed();
    reset(s);
    Ok((elapsed, None))
}

/// `(bytes, microseconds)` from `tcpbench`'s last line in `text`: `... received N bytes in U us`
/// or `... sent N bytes in U us` (other console lines may surround it).
pub fn parse_count(text: &str) -> Option<(u64, u64)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(6).rev().find_map(|w| match *w {
        ["received" | "sent", n, "bytes", "in", us, "us"] => {
            Some((n.parse().ok()?, us.parse().ok()?))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    fn local() -> (TcpListener, SocketAddr) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    #[test]
    fn both_directions_move_every_byte_on_loopback() {
        let (l, addr) = local();
        let source = thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.write_all(&vec![1u8; 3 << 20]).unwrap();
        });
        let (n, t) = receive(addr, Duration::from_secs(20)).unwrap();
        source.join().unwrap();
        assert_eq!(n, 3 << 20);
        let b = Bulk {
            planned: 3 << 20,
            bytes: n,
            elapsed: t,
            guest_us: None,
        };
        assert!(b.complete() && b.mbit_per_s() > 1.0, "{b:?}");

        let (l, addr) = local();
        let sink = thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).unwrap();
            c.write_all(format!("received {} bytes in 7 us\n", all.len()).as_bytes())
                .unwrap();
        });
        let (_, answer) = send(addr, 5 << 20, Duration::from_secs(20)).unwrap();
        sink.join().unwrap();
        assert_eq!(parse_count(&answer.unwrap()), Some((5 << 20, 7)));
    }

    #[test]
    fn a_silent_peer_ends_at_the_deadline() {
        let (l, addr) = local();
        let peer = thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            thread::sleep(Duration::from_millis(1500));
            drop(c);
        });
        let start = Instant::now();
        let (n, _) = receive(addr, Duration::from_millis(600)).unwrap();
        assert_eq!(n, 0);
        assert!(start.elapsed() < Duration::from_millis(1400));
        peer.join().unwrap();
    }

    #[test]
    fn guest_counts_are_parsed() {
        assert_eq!(
            parse_count("tcpbench: sent 4194304 bytes in 383530 us"),
            Some((4194304, 383530))
        );
        assert_eq!(
            parse_count("tcpbench: received 12 bytes in 5 us (Connection reset by peer)"),
            Some((12, 5))
        );
        assert_eq!(
            parse_count("arp_rx: received an ARP packet\ntcpbench: sent 9 bytes in 4 us\n"),
            Some((9, 4))
        );
        assert_eq!(parse_count("tcpbench: listening on 5001"), None);
    }
}
