//! httpd: an HTTP/1.1 server for the files of the root directory.
//!
//! `httpd [PORT]` (default 80). `GET`/`HEAD` only; `/` is `/index.html`; the
//! Content-Type comes from the extension; every answer has a Content-Length, so
//! connections stay open for further requests (keep-alive) unless the client says
//! `Connection: close` (or speaks HTTP/1.0 without keep-alive). `/stats` is a page
//! made on request from the network counters (netstat). Missing files get 404.
//!
//! One process serves every connection: an event loop around `poll`, with the
//! listening socket and the connections all non-blocking. Each connection keeps its
//! own state (the bytes of a request received so far, the answer being written), so
//! a slow or silent client never holds up the others, and a new connection costs an
//! `accept`, not a `fork`. At most [`MAX_CONNS`] are open at once (beyond that new
//! ones wait in the listen backlog); one that makes no progress for 10 s is closed.
#![no_std]
#![no_main]

use ulib::net::{Ipv4, parse_port};
use ulib::socket as so;
use ulib::*;

/// A connection that neither sends nor takes a byte for this long is closed.
const IDLE_MS: u64 = 10_000;
/// Longest request header accepted.
const MAX_HEAD: usize = 8192;
/// Most connections served at once. Each holds a descriptor, and a process has
/// NOFILE: besides them it needs stdin, stdout, stderr, the listening socket and
/// one file being read for an answer.
const MAX_CONNS: usize = NOFILE - 5;
/// After `accept` failed (out of sockets), how long new connections are left waiting.
const ACCEPT_PAUSE_MS: u64 = 100;

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        _ if !path.contains('.') => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
    body_len: usize,
}

fn parse(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path, version) = (first.next()?, first.next()?, first.next()?);
    let mut keep_alive = version == "HTTP/1.1";
    let mut body_len = 0;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("connection") {
            if v.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if k.eq_ignore_ascii_case("content-length") {
            body_len = atoi(v) as usize;
        }
    }
    Some(Request {
        method: method.into(),
        path: path.split('?').next()?.into(),
        keep_alive,
        body_len,
    })
}

fn stats_page() -> String {
    let Some(s) = netstat() else {
        return "<html><body><h1>No network card</h1></body></html>\n".into();
    };
    let rows = [
        ("address", format!("{}/{}", Ipv4(s.addr), s.prefix_len)),
        ("gateway", format!("{}", Ipv4(s.gateway))),
        ("DNS server (DHCP)", format!("{}", Ipv4(s.dns_server))),
        ("rx frames", format!("{}", s.rx_frames)),
        ("rx bytes", format!("{}", s.rx_bytes)),
        ("tx frames", format!("{}", s.tx_frames)),
        ("tx bytes", format!("{}", s.tx_bytes)),
        ("interrupts", format!("{}", s.interrupts)),
        ("drops: malformed", format!("{}", s.drop_malformed)),
        ("drops: unsupported", format!("{}", s.drop_unsupported)),
        ("drops: not for us", format!("{}", s.drop_not_for_us)),
        ("drops: no socket", format!("{}", s.drop_no_socket)),
        ("drops: queue full", format!("{}", s.drop_queue_full)),
        ("drops: tx ring full", format!("{}", s.drop_tx_ring_full)),
        ("drops: rx ring full", format!("{}", s.drop_rx_ring_full)),
        ("drops: martian", format!("{}", s.drop_martian)),
        ("drops: unresolved", format!("{}", s.drop_unresolved)),
        ("uptime (ticks)", format!("{}", uptime())),
    ];
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><title>xv6net stats</title>\n<style>\
         body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td{border:1px solid #bbb;padding:3px 12px}td+td{text-align:right;font-family:monospace}\
         </style></head><body>\n<h1>Network statistics</h1>\n\
         <p>The kernel's network counters, read with netstat when this page was asked for.</p>\n\
         <table>\n",
    );
    for (k, v) in rows {
        page += &format!("<tr><td>{}</td><td>{}</td></tr>\n", k, v);
    }
    page += "</table>\n<p><a href=\"/\">home</a></p>\n</body></html>\n";
    page
}

/// Appends an answer (head and, unless `head_only`, body) to `out`.
fn respond(out: &mut Vec<u8>, status: &str, ctype: &str, body: &[u8], keep: bool, head_only: bool) {
    respond_head(out, status, ctype, body.len(), keep);
    if !head_only {
        out.extend_from_slice(body);
    }
}

fn respond_head(out: &mut Vec<u8>, status: &str, ctype: &str, len: usize, keep: bool) {
    let head = format!(
        "HTTP/1.1 {}\r\nServer: xv6net-httpd\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        status,
        ctype,
        len,
        if keep { "keep-alive" } else { "close" }
    );
    out.extend_from_slice(head.as_bytes());
}

/// Appends the answer to `req` to `out`; false if the connection must end after it.
fn serve(out: &mut Vec<u8>, req: &Request) -> bool {
    let head_only = req.method == "HEAD";
    let keep = req.keep_alive;
    if req.method != "GET" && !head_only {
        let body = b"method not allowed\n";
        respond(
            out,
            "405 Method Not Allowed",
            "text/plain",
            body,
            keep,
            false,
        );
        return true;
    }
    if req.path == "/stats" {
        let page = stats_page();
        respond(
            out,
            "200 OK",
            "text/html; charset=utf-8",
            page.as_bytes(),
            keep,
            head_only,
        );
        return true;
    }
    let name = match req.path.as_str() {
        "/" => "index.html",
        p => p.trim_start_matches('/'),
    };
    // The file system is flat here: no directories, no escaping the root.
    let mut st = Stat::default();
    let fd = if name.is_empty() || name.contains('/') || name.starts_with('.') {
        -1
    } else {
        open(name, O_RDONLY)
    };
    if fd < 0 || fstat(fd, &mut st) < 0 || st.typ != T_FILE {
        if fd >= 0 {
            close(fd);
        }
        let body = format!(
            "<html><body><h1>404 Not Found</h1><p>{}</p></body></html>\n",
            name
        );
        let ctype = "text/html; charset=utf-8";
        respond(
            out,
            "404 Not Found",
            ctype,
            body.as_bytes(),
            keep,
            head_only,
        );
        return true;
    }
    // The whole file is read now, so the descriptor is closed before the next request.
    let size = st.size as usize;
    respond_head(out, "200 OK", content_type(name), size, keep);
    let mut left = if head_only { 0 } else { size };
    let mut ok = true;
    while left > 0 {
        let at = out.len();
        out.resize(at + left.min(4096), 0);
        let n = read(fd, &mut out[at..]);
        if n <= 0 {
            // The file shrank: the promised length cannot be kept, so the connection ends.
            out.truncate(at);
            ok = false;
            break;
        }
        out.truncate(at + n as usize);
        left -= n as usize;
    }
    close(fd);
    ok
}

/// Milliseconds since boot.
fn now_ms() -> u64 {
    so::uptime_us() / 1000
}

/// One client connection, and how far its conversation has come.
struct Conn {
    fd: i32,
    /// Bytes received and not yet taken by a request.
    pending: Vec<u8>,
    /// A request whose head has arrived; answered once its body is dropped.
    req: Option<Request>,
    /// Bytes of that request's body still to come (we serve none that takes one).
    body_left: usize,
    /// The answer being written, and how much of it has gone.
    out: Vec<u8>,
    sent: usize,
    /// Close once `out` has gone (`Connection: close`, or an error).
    close_after: bool,
    /// When a byte last went either way, for the idle timeout.
    last_ms: u64,
    /// What it waits for now.
    wait: Wait,
}

/// What a connection waits for after [`Conn::step`].
#[derive(PartialEq)]
enum Wait {
    /// More bytes from the client.
    Read,
    /// Room to send the rest of the answer.
    Write,
    /// Nothing: it is finished, close it.
    Done,
}

impl Conn {
    fn new(fd: i32) -> Conn {
        Conn {
            fd,
            pending: Vec::new(),
            req: None,
            body_left: 0,
            out: Vec::new(),
            sent: 0,
            close_after: false,
            last_ms: now_ms(),
            wait: Wait::Read,
        }
    }

    /// Moves the conversation as far as it goes without blocking: writes what is
    /// queued, answers the requests already received, reads what has arrived.
    fn step(&mut self, buf: &mut [u8]) -> Wait {
        loop {
            if self.sent < self.out.len() {
                match so::send(self.fd, &self.out[self.sent..]) {
                    Ok(0) | Err(so::EAGAIN) => return Wait::Write,
                    Ok(n) => {
                        self.sent += n;
                        self.last_ms = now_ms();
                        continue;
                    }
                    Err(_) => return Wait::Done,
                }
            }
            self.out.clear();
            self.sent = 0;
            if self.close_after {
                return Wait::Done;
            }
            match self.next_answer() {
                Some(true) => continue,
                Some(false) => return Wait::Done,
                None => {}
            }
            match so::recv(self.fd, buf) {
                Ok(0) => return Wait::Done,
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.last_ms = now_ms();
                }
                Err(so::EAGAIN) => return Wait::Read,
                Err(_) => return Wait::Done,
            }
        }
    }

    /// Queues the answer to the next request in `pending`: Some(true) if one was
    /// queued, None if more bytes are needed, Some(false) if the connection must end.
    fn next_answer(&mut self) -> Option<bool> {
        if self.req.is_none() {
            let end = match self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(end) => end,
                None if self.pending.len() > MAX_HEAD => return Some(false),
                None => return None,
            };
            let Some(req) = parse(&String::from_utf8_lossy(&self.pending[..end])) else {
                let body = b"bad request\n";
                respond(
                    &mut self.out,
                    "400 Bad Request",
                    "text/plain",
                    body,
                    false,
                    false,
                );
                self.close_after = true;
                return Some(true);
            };
            self.pending.drain(..end + 4);
            self.body_left = req.body_len;
            self.req = Some(req);
        }
        // A body is read and dropped before the answer.
        let take = self.body_left.min(self.pending.len());
        self.pending.drain(..take);
        self.body_left -= take;
        if self.body_left > 0 {
            return None;
        }
        let req = self.req.take()?;
        let ok = serve(&mut self.out, &req);
        self.close_after = !ok || !req.keep_alive;
        Some(true)
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = match args.get(1).map(|p| (p, parse_port(p))) {
        None => 80,
        Some((_, Some(p))) => p,
        Some((p, None)) => {
            eprintln!("httpd: invalid port {}", p);
            return 2;
        }
    };
    let listener = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 8).map(|_| fd))
        .and_then(|fd| so::set_nonblocking(fd, true).map(|_| fd))
        // A large answer leaves in several sends: without this each would wait for the
        // client's (delayed) ACK of the one before. Accepted connections inherit it.
        .and_then(|fd| so::set_nodelay(fd, true).map(|_| fd))
    {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("httpd: port {}: {}", port, e);
            return 1;
        }
    };
    println!("httpd: serving / on port {}", port);
    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<so::PollFd> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut accept_at = 0;
    loop {
        // What to wait for: new connections while there is room, and each
        // connection's next read or write. The earliest idle deadline bounds the wait.
        let now = now_ms();
        let accepting = conns.len() < MAX_CONNS && now >= accept_at;
        fds.clear();
        fds.push(so::PollFd {
            fd: if accepting { listener } else { -1 },
            events: so::POLLIN,
            revents: 0,
        });
        for c in &conns {
            let events = if c.wait == Wait::Write {
                so::POLLOUT
            } else {
                so::POLLIN
            };
            fds.push(so::PollFd {
                fd: c.fd,
                events,
                revents: 0,
            });
        }
        let mut timeout = conns
            .iter()
            .map(|c| (c.last_ms + IDLE_MS).saturating_sub(now))
            .min();
        if !accepting && conns.len() < MAX_CONNS {
            timeout = Some(timeout.map_or(accept_at - now, |t| t.min(accept_at - now)));
        }
        match so::poll(&mut fds, timeout.map_or(-1, |t| t as i32)) {
            Ok(_) => {}
            Err(so::EINTR) => return 1,
            Err(e) => {
                eprintln!("httpd: poll: {}", e);
                return 1;
            }
        }

        // Every connection that became ready goes as far as it can.
        for (c, p) in conns.iter_mut().zip(&fds[1..]) {
            if p.revents != 0 {
                c.wait = c.step(&mut buf);
            }
        }
        // Finished and idle connections are closed.
        let now = now_ms();
        for i in (0..conns.len()).rev() {
            if conns[i].wait == Wait::Done || now.saturating_sub(conns[i].last_ms) >= IDLE_MS {
                close(conns.swap_remove(i).fd);
            }
        }

        // New connections, while there is room.
        if fds[0].revents == 0 {
            continue;
        }
        while conns.len() < MAX_CONNS {
            match so::accept(listener) {
                Ok((fd, _)) => {
                    if let Err(e) = so::set_nonblocking(fd, true) {
                        eprintln!("httpd: accept: {}", e);
                        close(fd);
                        continue;
                    }
                    // The request may have come with the handshake.
                    let mut c = Conn::new(fd);
                    c.wait = c.step(&mut buf);
                    if c.wait == Wait::Done {
                        close(fd);
                    } else {
                        conns.push(c);
                    }
                }
                Err(so::EAGAIN) => break,
                Err(so::EINTR) => return 1,
                Err(e) => {
                    // Out of sockets or descriptors for a moment: try again a little later.
                    eprintln!("httpd: accept: {}", e);
                    accept_at = now_ms() + ACCEPT_PAUSE_MS;
                    break;
                }
            }
        }
    }
}
