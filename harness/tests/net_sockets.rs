//! BSD sockets end to end, once per network card, in QEMU's user network (slirp, with port
//! forwards from 127.0.0.1).
//!
//! One boot with DHCP (the default, named with `net.dhcp=1`) runs, in order: the lease (10.0.2.15), `socktest bad` (bad
//! socket-layer input), `ping` and `nslookup` (10.0.2.2 and the harness's DNS responder only),
//! 4 MiB over TCP each way with checksums (guest connects out; host connects in through hostfwd,
//! and the card loses no frame of it),
//! `wget` from a host HTTP thread, a refused and a reset connection, `echod` and `daytimed` from
//! the host, bursts of UDP datagrams through `mudpecho` (recvmmsg/sendmmsg) from the host, 32
//! concurrent keep-alive HTTP clients against `httpd`, new connections to `httpd` served while
//! a silent client and a half-sent request hold theirs, and finally 3000 connect/close cycles
//! with free pages and kernel heap bytes equal before and after.
//!
//! Everything on the host listens and connects on 127.0.0.1 only; the guest talks to 10.0.2.2
//! only. Every host thread and loop is bounded in time or count. The guest's test half is
//! user/src/bin/socktest/ (its pattern and checksum, in data.rs, are repeated here).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use harness::dns::DnsResponder;
use harness::ifconfig::{Counters, Reason};
use harness::qemu::Nic;
use harness::socktest::{Fnv, fnv, pattern_bytes};
use harness::{Session, free_port, free_ports};

/// One guest command: TCG on two busy cores is slow.
const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// 4 MiB each way.
const BULK: usize = 4 << 20;
/// The file `wget` fetches: small enough for the 4000-block file system.
const WEB_FILE: usize = 200 * 1024;
/// Concurrent HTTP clients, and keep-alive rounds each.
const CLIENTS: usize = 32;
const ROUNDS: usize = 3;
const CYCLES: usize = 3000;
/// Datagrams the host sends `mudpecho` back to back, and how many such bursts.
const BURST: usize = 32;
const BURSTS: usize = 3;

fn listener() -> Result<(TcpListener, u16)> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Accepts one connection within `within` (the listener is non-blocking meanwhile).
fn accept_one(l: &TcpListener, within: Duration) -> Result<TcpStream> {
    l.set_nonblocking(true)?;
    let end = Instant::now() + within;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(within))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("accepting the guest's connection"),
        }
    }
}

/// A host peer that reads one connection to its end: (bytes, checksum).
fn sink(l: TcpListener) -> JoinHandle<Result<(usize, u32)>> {
    thread::spawn(move || {
        let mut s = accept_one(&l, CMD_TIMEOUT)?;
        let mut f = Fnv::new();
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            f.add(&buf[..n]);
            total += n;
        }
        Ok((total, f.0))
    })
}

/// A host HTTP server for `wget`: `/data` is WEB_FILE pattern bytes, anything else 404.
/// Serves until `stop`, one connection at a time.
fn web(l: TcpListener, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let body = pattern_bytes(WEB_FILE);
        while !stop.load(Ordering::Relaxed) {
            let Ok(s) = accept_one(&l, Duration::from_millis(200)) else {
                continue;
            };
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let mut s = s;
            let path = line.split(' ').nth(1).unwrap_or("");
            let _ = if path == "/data" {
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| s.write_all(&body))
            } else {
                s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
            };
        }
    })
}

/// Accepts connections and reads each to its end, for the connect/close cycles.
fn drain(l: TcpListener, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    thread::spawn(move || {
        let mut n = 0;
        let _ = l.set_nonblocking(true);
        let mut open: Vec<TcpStream> = Vec::new();
        let mut buf = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(true);
                    open.push(s);
                    n += 1;
                }
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
            // Close each as soon as the guest has closed its side.
            open.retain_mut(|s| match s.read(&mut buf) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            });
        }
        n
    })
}

/// One HTTP response on a keep-alive connection: (status, headers, body).
fn http_response(r: &mut BufReader<TcpStream>) -> Result<(u32, String, Vec<u8>)> {
    let mut status = String::new();
    r.read_line(&mut status)?;
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {status:?}"))?;
    let mut headers = String::new();
    let mut len = None;
    loop {
        let mut h = String::new();
        ensure!(r.read_line(&mut h)? > 0, "connection closed in the header");
        if h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok();
        }
        headers += &h;
    }
    let len: usize = len.context("no Content-Length")?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((code, headers, body))
}

/// How long one HTTP session may wait for an answer before the client starts over. slirp accepts
/// the host's connection at once and only then connects to the guest; when the guest dropped that
/// SYN (all of httpd's listeners busy), the host side can sit silent for a long time instead of
/// being reset, so a stalled session is abandoned and retried.
const SESSION_TIMEOUT: Duration = Duration::from_secs(15);
/// All clients must be done within this.
const CLIENTS_DEADLINE: Duration = Duration::from_secs(300);

/// One client: connects (retrying while the guest's listeners are all taken), then asks for
/// `/`, `/stats` and a missing file ROUNDS times on the same connection.
fn http_client(port: u16, index: &[u8]) -> Result<()> {
    let end = Instant::now() + CLIENTS_DEADLINE;
    let mut last = None;
    while Instant::now() < end {
        match http_session(port, index) {
            Ok(()) => return Ok(()),
            // Refused or reset before any answer: the guest's backlog was full; try again.
            Err(e) => {
                last = Some(e);
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
}

fn http_session(port: u16, index: &[u8]) -> Result<()> {
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(SESSION_TIMEOUT))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    for _ in 0..ROUNDS {
        w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /stats HTTP/1.1\r\nHost: x\r\n\r\nGET /nope.html HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let (code, headers, body) = http_response(&mut r)?;
        ensure!(code == 200 && body == index, "GET /: {code} {headers:?}");
        ensure!(
            headers.contains("text/html"),
            "GET /: content type in {headers:?}"
        );
        let (code, _, body) = http_response(&mut r)?;
        ensure!(
            code == 200 && String::from_utf8_lossy(&body).contains("rx frames"),
            "GET /stats: {code}"
        );
        let (code, _, _) = http_response(&mut r)?;
        ensure!(code == 404, "GET /nope.html: {code}");
    }
    w.write_all(b"GET /index.html HTTP/1.1\r\nConnection: close\r\n\r\n")?;
    let (code, headers, _) = http_response(&mut r)?;
    ensure!(
        code == 200 && headers.contains("Connection: close"),
        "close: {code} {headers:?}"
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest)?;
    ensure!(rest.is_empty(), "bytes after a Connection: close answer");
    Ok(())
}

/// New connections opened while a silent client and a half-sent request hold theirs.
const NEW_CONNS: usize = 8;

/// httpd serves everyone at once: a client that connects and sends nothing, and one that sends
/// half a request, must not hold up [`NEW_CONNS`] new connections (one GET each, all at once).
/// Afterwards both slow clients finish their requests on the connections they opened: had httpd
/// waited on either, it would have served the others only after closing it for idleness.
fn slow_clients(port: u16, index: &[u8]) -> Result<()> {
    let silent = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let half = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    for s in [&silent, &half] {
        s.set_read_timeout(Some(SESSION_TIMEOUT))?;
    }
    let mut half_w = half.try_clone()?;
    half_w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")?;
    // Both reach httpd (slirp connects to the guest only after accepting here) before the others.
    thread::sleep(Duration::from_millis(500));
    let clients: Vec<_> = (0..NEW_CONNS)
        .map(|_| {
            let index = index.to_vec();
            thread::spawn(move || -> Result<()> {
                let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
                s.set_read_timeout(Some(SESSION_TIMEOUT))?;
                let mut w = s.try_clone()?;
                w.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?;
                let (code, _, body) = http_response(&mut BufReader::new(s))?;
                ensure!(code == 200 && body == index, "GET /: {code}");
                Ok(())
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        c.join()
            .expect("client thread")
            .with_context(|| format!("new connection {i} beside the slow clients"))?;
    }
    half_w.write_all(b"\r\n")?;
    let (code, _, body) = http_response(&mut BufReader::new(half))?;
    ensure!(code == 200 && body == index, "the half-sent GET /: {code}");
    let mut silent_w = silent.try_clone()?;
    silent_w.write_all(b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")?;
    let (code, _, _) = http_response(&mut BufReader::new(silent))
        .context("the silent client's late GET /stats")?;
    ensure!(code == 200, "the silent client's GET /stats: {code}");
    Ok(())
}

/// The `i`-th datagram of the batched echo test: sizes vary, the index comes first.
fn mmsg_payload(i: usize) -> Vec<u8> {
    format!("mmsg {i:04} {}", "x".repeat(i * 37 % 1400)).into_bytes()
}

/// Bursts of [`BURST`] datagrams from the host to `mudpecho` through the UDP forward, until
/// every one came back intact (one lost on the way is sent again, in a later burst); then
/// its counters, which must show a `recvmmsg` that took more than one datagram.
fn batched_echo(port: u16) -> Result<()> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    s.connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut missing: BTreeSet<usize> = (0..BURST * BURSTS).collect();
    let mut buf = vec![0u8; 2048];
    for _round in 0..8 {
        let todo: Vec<usize> = missing.iter().copied().collect();
        for burst in todo.chunks(BURST) {
            for &i in burst {
                s.send(&mmsg_payload(i))?;
            }
            // Until the echoes stop coming.
            while let Ok(n) = s.recv(&mut buf) {
                let got = &buf[..n];
                let i = std::str::from_utf8(got.get(5..9).unwrap_or_default())
                    .ok()
                    .and_then(|d| d.parse::<usize>().ok());
                match i {
                    Some(i) if got == mmsg_payload(i) => {
                        missing.remove(&i);
                    }
                    _ => anyhow::bail!("mudpecho answered {:?}", String::from_utf8_lossy(got)),
                }
            }
        }
        if missing.is_empty() {
            break;
        }
    }
    ensure!(missing.is_empty(), "never echoed: {missing:?}");
    for _ in 0..5 {
        s.send(b"stats")?;
        let Ok(n) = s.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("mmsg ") {
            continue; // a late echo
        }
        let largest: usize = text
            .rsplit(' ')
            .next()
            .and_then(|l| l.parse().ok())
            .with_context(|| format!("mudpecho's stats: {text:?}"))?;
        ensure!(
            largest > 1,
            "no recvmmsg took more than one datagram: {text}"
        );
        eprintln!("net_sockets: {text}");
        return Ok(());
    }
    anyhow::bail!("mudpecho never answered `stats`")
}

/// Runs `line` and fails unless the output has `want`.
fn run_want(q: &mut Session, line: &str, want: &str) -> Result<String> {
    q.run_want(line, CMD_TIMEOUT, &[want])
}

fn sockets(nic: Nic) -> Result<()> {
    let (fwd_http, fwd_sink, fwd_echo, fwd_day) = {
        let [a, b, c, d] = free_ports()?;
        (a, b, c, d)
    };
    let fwd_udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let dns = DnsResponder::start().context("starting the DNS responder")?;
    let netdev = format!(
        "user,id=net0,hostfwd=tcp:127.0.0.1:{fwd_http}-:80,hostfwd=tcp:127.0.0.1:{fwd_sink}-:5001,\
         hostfwd=tcp:127.0.0.1:{fwd_echo}-:7,hostfwd=tcp:127.0.0.1:{fwd_day}-:13,\
         hostfwd=udp:127.0.0.1:{fwd_udp}-:2000"
    );
    let mut q = Session::builder(&format!("net_sockets_{}", nic.name()))
        .nic(nic, netdev)
        .append("net.dhcp=1")
        .boot()?;
    let fwd = Forwards {
        http: fwd_http,
        sink: fwd_sink,
        echo: fwd_echo,
        day: fwd_day,
        udp: fwd_udp,
    };
    let r = steps(&mut q, &dns, &fwd);
    if r.is_err() {
        q.keep_pcap();
    }
    r
}

/// The host ports QEMU forwards to the guest's services.
struct Forwards {
    http: u16,
    sink: u16,
    echo: u16,
    day: u16,
    /// UDP, to `mudpecho` on port 2000.
    udp: u16,
}

fn steps(q: &mut Session, dns: &DnsResponder, fwd: &Forwards) -> Result<()> {
    let (fwd_http, fwd_sink, fwd_echo, fwd_day) = (fwd.http, fwd.sink, fwd.echo, fwd.day);
    // Boot waits for the lease, so its line comes before the prompt; the wait below only
    // guards against a slow boot, whose line and the shell's echo would interleave.
    let lease = regex::Regex::new(
        r"dhcp: lease 10\.0\.2\.15/24 gw 10\.0\.2\.2 dns 10\.0\.2\.3 from 10\.0\.2\.2\r?\n",
    )?;
    let end = Instant::now() + Duration::from_secs(30);
    while !lease.is_match(&q.output()) {
        if Instant::now() > end {
            return Err(q.fail("no DHCP lease for 10.0.2.15 within 30 s"));
        }
        thread::sleep(Duration::from_millis(100));
    }

    // ifconfig shows the lease: address, gateway and the resolver it named (shown, never used).
    let out = run_want(q, "ifconfig", "inet 10.0.2.15/24")?;
    ensure!(
        out.contains("gateway 10.0.2.2") && out.contains("dns 10.0.2.3 (DHCP)"),
        "ifconfig after the lease:\n{out}"
    );
    run_want(q, "socktest bad", "socktest bad: OK")?;
    run_want(
        q,
        "ping -c 3 -i 0.2 10.0.2.2",
        "3 packets transmitted, 3 received, 0% packet loss",
    )?;
    let port = dns.port();
    run_want(
        q,
        &format!("nslookup pdos.csail.mit.edu 10.0.2.2:{port}"),
        "Address: 128.52.129.126",
    )?;
    run_want(
        q,
        &format!("nslookup no.such.name 10.0.2.2:{port}"),
        "NXDOMAIN",
    )?;

    // Guest -> host, 4 MiB.
    let (l, port) = listener()?;
    let host = sink(l);
    run_want(
        q,
        &format!("socktest tx 10.0.2.2 {port} {BULK}"),
        &format!("sent {BULK} sum {:08x}", fnv(&pattern_bytes(BULK))),
    )?;
    let (n, sum) = host.join().expect("sink thread")?;
    ensure!(
        (n, sum) == (BULK, fnv(&pattern_bytes(BULK))),
        "host received {n} bytes, sum {sum:08x}"
    );

    // Host -> guest, 4 MiB, the host connecting in. QEMU sends a whole TCP window back to
    // back: the card (the lab's 16-descriptor ring on the E1000) must not lose any of it.
    let before = Counters::parse(&q.run("ifconfig", CMD_TIMEOUT)?)?;
    q.send_line("socktest sink 5001")?;
    q.expect("listening on 5001", CMD_TIMEOUT)?;
    let data = pattern_bytes(BULK);
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, fwd_sink))?;
    s.set_read_timeout(Some(CMD_TIMEOUT))?;
    s.write_all(&data)?;
    s.shutdown(Shutdown::Write)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let want = format!("received {BULK} sum {:08x}", fnv(&data));
    ensure!(
        reply.trim() == want,
        "the guest answered {reply:?}, want {want:?}"
    );
    q.expect("$ ", CMD_TIMEOUT)?;
    let lost = Counters::parse(&q.run("ifconfig", CMD_TIMEOUT)?)?
        .delta(&before)
        .drop(Reason::RxRingFull);
    ensure!(lost == 0, "the card lost {lost} frames of the download");

    // wget from a host HTTP server.
    let stop = Arc::new(AtomicBool::new(false));
    let (l, port) = listener()?;
    let server = web(l, stop.clone());
    run_want(
        q,
        &format!("wget http://10.0.2.2:{port}/data -O data"),
        &format!("{WEB_FILE} bytes -> data"),
    )?;
    run_want(
        q,
        "socktest sum data",
        &format!("{WEB_FILE} bytes sum {:08x}", fnv(&pattern_bytes(WEB_FILE))),
    )?;
    run_want(
        q,
        &format!("wget http://10.0.2.2:{port}/missing -O -"),
        "404 Not Found",
    )?;
    run_want(q, "rm data", "")?;
    stop.store(true, Ordering::Relaxed);
    server.join().expect("web thread");

    // Refused: nothing listens there.
    let closed = free_port()?;
    run_want(q, &format!("nc 10.0.2.2 {closed}"), "Connection refused")?;
    // Reset: the host closes with unread data, so its kernel resets the connection.
    let (l, port) = listener()?;
    let resetter = thread::spawn(move || -> Result<()> {
        let s = accept_one(&l, CMD_TIMEOUT)?;
        thread::sleep(Duration::from_millis(500));
        drop(s);
        Ok(())
    });
    run_want(
        q,
        &format!("socktest reset 10.0.2.2 {port}"),
        "recv: Connection reset by peer",
    )?;
    resetter.join().expect("reset thread")?;

    // echod and daytimed, from the host.
    q.send_line("echod 7 &")?;
    q.expect("echod: listening on port 7", CMD_TIMEOUT)?;
    let mut e = TcpStream::connect((Ipv4Addr::LOCALHOST, fwd_echo))?;
    e.set_read_timeout(Some(CMD_TIMEOUT))?;
    e.write_all(b"hello, echo\n")?;
    let mut got = [0u8; 12];
    e.read_exact(&mut got)?;
    ensure!(&got == b"hello, echo\n", "echod answered {got:?}");
    drop(e);
    q.send_line("daytimed 13 &")?;
    q.expect("daytimed: listening on port 13", CMD_TIMEOUT)?;
    let mut d = TcpStream::connect((Ipv4Addr::LOCALHOST, fwd_day))?;
    d.set_read_timeout(Some(CMD_TIMEOUT))?;
    let mut line = String::new();
    d.read_to_string(&mut line)?;
    ensure!(
        line.starts_with("up ") && line.ends_with("\r\n"),
        "daytimed said {line:?}"
    );

    // Batched datagrams: recvmmsg and sendmmsg under bursts from the host.
    q.send_line("mudpecho 2000 &")?;
    q.expect("mudpecho: echoing on port 2000", CMD_TIMEOUT)?;
    batched_echo(fwd.udp).map_err(|e| q.fail(&format!("batched echo: {e:#}")))?;

    // 32 concurrent keep-alive clients against httpd.
    q.send_line("httpd 80 &")?;
    q.expect("httpd: serving / on port 80", CMD_TIMEOUT)?;
    let index = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fs-extra/index.html"
    ))?;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let index = index.clone();
            thread::spawn(move || http_client(fwd_http, &index))
        })
        .collect();
    let mut failed = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        if let Err(e) = c.join().expect("client thread") {
            failed.push(format!("client {i}: {e:#}"));
        }
    }
    if !failed.is_empty() {
        return Err(q.fail(&format!("HTTP clients failed:\n{}", failed.join("\n"))));
    }
    if let Err(e) = slow_clients(fwd_http, &index) {
        return Err(q.fail(&format!("slow HTTP clients: {e:#}")));
    }

    // Connect/close cycles leak nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let (l, port) = listener()?;
    let drainer = drain(l, stop.clone());
    run_want(
        q,
        &format!("socktest cycles 10.0.2.2 {port} {CYCLES}"),
        "socktest cycles: OK",
    )?;
    stop.store(true, Ordering::Relaxed);
    let accepted = drainer.join().expect("drain thread");
    ensure!(accepted >= CYCLES, "the host saw {accepted} connections");
    Ok(())
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_sockets_virtio() -> Result<()> {
    sockets(Nic::Virtio)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_sockets_e1000() -> Result<()> {
    sockets(Nic::E1000)
}
