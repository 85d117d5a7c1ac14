//! httpd: an HTTP/1.1 server for the files of the root directory.
//!
//! `httpd [PORT]` (default 80). `GET`/`HEAD` only; `/` is `/index.html`; the
//! Content-Type comes from the extension; every answer has a Content-Length, so
//! connections stay open for further requests (keep-alive) unless the client says
//! `Connection: close` (or speaks HTTP/1.0 without keep-alive). `/stats` is a page
//! made on request from the network counters (netstat). Missing files get 404. Each
//! connection is served by its own process; an idle one is closed after 10 s.
#![no_std]
#![no_main]

use ulib::net::{Ipv4, parse_port};
use ulib::socket as so;
use ulib::*;

/// An idle keep-alive connection is closed after this long.
const IDLE_MS: u32 = 10_000;
/// Longest request header accepted.
const MAX_HEAD: usize = 8192;

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

fn respond_head(conn: i32, status: &str, ctype: &str, len: usize, keep: bool) -> bool {
    let head = format!(
        "HTTP/1.1 {}\r\nServer: xv6net-httpd\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        status,
        ctype,
        len,
        if keep { "keep-alive" } else { "close" }
    );
    so::send_all(conn, head.as_bytes()).is_ok()
}

/// Answers one request; false if the connection broke.
fn serve(conn: i32, req: &Request) -> bool {
    let head_only = req.method == "HEAD";
    let keep = req.keep_alive;
    if req.method != "GET" && !head_only {
        let body = "method not allowed\n";
        return respond_head(
            conn,
            "405 Method Not Allowed",
            "text/plain",
            body.len(),
            keep,
        ) && so::send_all(conn, body.as_bytes()).is_ok();
    }
    if req.path == "/stats" {
        let page = stats_page();
        return respond_head(conn, "200 OK", "text/html; charset=utf-8", page.len(), keep)
            && (head_only || so::send_all(conn, page.as_bytes()).is_ok());
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
        return respond_head(
            conn,
            "404 Not Found",
            "text/html; charset=utf-8",
            body.len(),
            keep,
        ) && (head_only || so::send_all(conn, body.as_bytes()).is_ok());
    }
    let size = st.size as usize;
    let mut ok = respond_head(conn, "200 OK", content_type(name), size, keep);
    let mut buf = vec![0u8; 4096];
    let mut left = if head_only { 0 } else { size };
    while ok && left > 0 {
        let n = read(fd, &mut buf[..left.min(4096)]);
        if n <= 0 {
            // The file shrank: the promised length cannot be kept, so the connection ends.
            ok = false;
            break;
        }
        ok = so::send_all(conn, &buf[..n as usize]).is_ok();
        left -= n as usize;
    }
    close(fd);
    ok
}

/// Serves requests on one connection until it closes, idles, or asks to close.
fn handle(conn: i32) {
    let _ = so::set_rcvtimeo(conn, IDLE_MS);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            if pending.len() > MAX_HEAD {
                break;
            }
            match so::recv(conn, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let req = parse(&String::from_utf8_lossy(&pending[..end]));
        let Some(req) = req else {
            let body = "bad request\n";
            respond_head(conn, "400 Bad Request", "text/plain", body.len(), false);
            let _ = so::send_all(conn, body.as_bytes());
            break;
        };
        // A body (we serve none that takes one) is read and dropped.
        let mut drop_len = req.body_len;
        let mut rest = pending.split_off(end + 4);
        let take = drop_len.min(rest.len());
        rest.drain(..take);
        drop_len -= take;
        while drop_len > 0 {
            match so::recv(conn, &mut buf[..drop_len.min(2048)]) {
                Ok(0) | Err(_) => {
                    close(conn);
                    return;
                }
                Ok(n) => drop_len -= n,
            }
        }
        pending = rest;
        if !serve(conn, &req) || !req.keep_alive {
            break;
        }
    }
    close(conn);
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
    let fd = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 8).map(|_| fd))
        // Answers are written head, then body: without this the body would wait for
        // the client's (delayed) ACK of the head. Accepted connections inherit it.
        .and_then(|fd| so::set_nodelay(fd, true).map(|_| fd))
    {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("httpd: port {}: {}", port, e);
            return 1;
        }
    };
    println!("httpd: serving / on port {}", port);
    loop {
        match so::accept(fd) {
            Ok((conn, _)) => so::spawn(conn, |c| {
                close(fd);
                handle(c);
            }),
            Err(so::EINTR) => return 1,
            Err(e) => {
                // Out of sockets or processes for a moment: wait a tick and go on.
                eprintln!("httpd: accept: {}", e);
                sleep(1);
            }
        }
    }
}
