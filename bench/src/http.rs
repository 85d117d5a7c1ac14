//! HTTP requests per second against `httpd` in the guest, through QEMU's user network
//! (`hostfwd=tcp:127.0.0.1:H-:80`): N client threads send `GET`s of one small file back to back,
//! either on one persistent connection each (keep-alive) or on a new connection per request
//! (`Connection: close`). Blocking sockets with timeouts; the load stops at a request count or a
//! duration, whichever comes first. A failed request (refused, reset, or no answer within
//! [`REQUEST_TIMEOUT`]: slirp can leave a connection silent when the guest dropped its SYN) counts
//! as an error, and its client waits `RETRY_PAUSE` and opens a new connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

/// How long one request may wait for its answer, and a connection for its handshake.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A client's pause after a failed request, so a refusing guest is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Distinct error messages kept per phase.
pub const ERROR_KINDS: usize = 4;

/// One load phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HttpPlan {
    /// One persistent connection per client, or a new connection per request.
    pub keep_alive: bool,
    /// Client threads.
    pub connections: usize,
    /// Requests in all, at most...
    pub requests: u32,
    /// ...and no new request after this long.
    pub duration: Duration,
}

/// What one load phase measured.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResult {
    pub plan: HttpPlan,
    /// Requests answered `200` with the whole body.
    pub ok: u32,
    /// Requests that failed...
    pub errors: u32,
    /// ...and how (the distinct messages, at most [`ERROR_KINDS`]).
    pub error_kinds: Vec<String>,
    /// From the start to the end of the last successful request.
    pub elapsed: Duration,
    /// Time per successful request, in ms (from the connect for new connections), sorted.
    pub latency_ms: Vec<f64>,
}

impl HttpResult {
    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            f64::NAN
        } else {
            f64::from(self.ok) / self.elapsed.as_secs_f64()
        }
    }

    /// The `p`-th percentile of the latency, in ms (nearest rank).
    pub fn percentile(&self, p: f64) -> f64 {
        super::nearest_rank(&self.latency_ms, p)
    }
}

/// A connection and a buffered reader on it.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Conn { stream, reader })
    }

    /// Sends `request` and reads one whole answer; fails unless it is a `200`.
    fn get(&mut self, request: &[u8], body: &mut Vec<u8>) -> io::Result<()> {
        self.stream.write_all(request)?;
        let mut line = String::new();
        let mut status = None;
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if status.is_none() {
                status = line.split(' ').nth(1).map(str::to_string);
            } else if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let (Some("200"), Some(length)) = (status.as_deref(), length) else {
            return Err(io::Error::other(format!(
                "bad answer: {status:?} {length:?}"
            )));
        };
        body.resize(length, 0);
        self.reader.read_exact(body)
    }
}

/// Runs `plan` against `addr` (on 127.0.0.1), asking for `path` each time.
pub fn load(addr: SocketAddr, path: &str, plan: &HttpPlan) -> Result<HttpResult> {
    crate::udp::ensure_loopback(addr)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {}\r\n\r\n",
        if plan.keep_alive {
            "keep-alive"
        } else {
            "close"
        }
    );
    let issued = AtomicU32::new(0);
    let errors = Mutex::new((0u32, Vec::new()));
    let done: Mutex<Vec<(f64, Instant)>> = Mutex::new(Vec::new());
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..plan.connections.max(1) {
            s.spawn(|| {
                client(
                    addr,
                    request.as_bytes(),
                    plan,
                    start,
                    &issued,
                    &errors,
                    &done,
                )
            });
        }
    });
    let (errors, error_kinds) = errors.into_inner().expect("no client panics");
    let done = done.into_inner().expect("no client panics");
    let elapsed = done
        .iter()
        .map(|&(_, at)| at.duration_since(start))
        .max()
        .unwrap_or_default();
    let mut latency_ms: Vec<f64> = done.into_iter().map(|(ms, _)| ms).collect();
    latency_ms.sort_by(f64::total_cmp);
    Ok(HttpResult {
        plan: *plan,
        ok: latency_ms.len() as u32,
        errors,
        error_kinds,
        elapsed,
        latency_ms,
    })
}

/// One client thread: requests until the plan's count or duration is used up.
fn client(
    addr: SocketAddr,
    request: &[u8],
    plan: &HttpPlan,
    start: Instant,
    issued: &AtomicU32,
    errors: &Mutex<(u32, Vec<String>)>,
    done: &Mutex<Vec<(f64, Instant)>>,
) {
    let mut conn: Option<Conn> = None;
    let mut body = Vec::new();
    let mut mine = Vec::new();
    while start.elapsed() < plan.duration && issued.fetch_add(1, Ordering::Relaxed) < plan.requests
    {
        let t = Instant::now();
        let result = match conn.take() {
            Some(c) => Ok(c),
            None => Conn::open(addr),
        }
        .and_then(|mut c| c.get(request, &mut body).map(|()| c));
        match result {
            Ok(c) => {
                let end = Instant::now();
                mine.push(((end - t).as_secs_f64() * 1e3, end));
                if plan.keep_alive {
                    conn = Some(c);
                }
            }
            Err(e) => {
                let what = format!("{:?}: {e}", e.kind());
                let mut errors = errors.lock().expect("no client panics");
                errors.0 += 1;
                if errors.1.len() < ERROR_KINDS && !errors.1.contains(&what) {
                    errors.1.push(what);
                }
                drop(errors);
                thread::sleep(RETRY_PAUSE);
            }
        }
    }
    done.lock().expect("no client panics").extend(mine);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    /// A tiny HTTP server on the host: answers every request with `body`, closing after each
    /// answer when asked to; stops after `conns` connections.
    fn server(conns: usize, body: &'static str) -> SocketAddr {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming().take(conns) {
                let c = c.unwrap();
                thread::spawn(move || {
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    let mut w = c;
                    loop {
                        let mut close = false;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            close |= line.eq_ignore_ascii_case("connection: close\r\n");
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if w.write_all(answer.as_bytes()).is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn keep_alive_and_close_both_complete_the_planned_requests() {
        for (keep_alive, conns) in [(true, 3), (false, 60)] {
            let addr = server(conns, "hello");
            let plan = HttpPlan {
                keep_alive,
                connections: 3,
                requests: 60,
                duration: Duration::from_secs(20),
            };
            let r = load(addr, "/index.html", &plan).unwrap();
            assert_eq!((r.ok, r.errors), (60, 0), "keep-alive {keep_alive}");
            assert!(r.per_second() > 0.0);
            assert!(r.percentile(50.0) <= r.percentile(99.0));
        }
    }

    #[test]
    fn a_refusing_server_counts_errors_and_stops_in_time() {
        let addr = {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            l.local_addr().unwrap()
        };
        let plan = HttpPlan {
            keep_alive: true,
            connections: 2,
            requests: 1000,
            duration: Duration::from_millis(300),
        };
        let start = Instant::now();
        let r = load(addr, "/", &plan).unwrap();
        assert_eq!(r.ok, 0);
        assert!(r.errors > 0 && r.per_second().is_nan());
        assert!(r.error_kinds[0].starts_with("ConnectionRefused"), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
