//! wget: fetch one URL over HTTP/1.1. `wget URL [-O FILE]` with URL
//! `http://HOST[:PORT]/PATH` (HOST an address or a name for the resolver); the body
//! goes to FILE (default: the path's last part, or index.html; `-O -` is standard
//! output). Exit 0 on a 2xx answer, 1 otherwise.
#![no_std]
#![no_main]

use ulib::net::parse_port;
use ulib::socket as so;
use ulib::*;

fn usage() -> i32 {
    eprintln!("usage: wget URL [-O FILE]");
    2
}

/// (host, port, path) of an http:// URL.
fn parse_url(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, parse_port(p)?),
        None => (hostport, 80),
    };
    (!host.is_empty()).then_some((host, port, path))
}

/// Reads until the end of the header; returns it and the body bytes read past it.
fn read_head(fd: i32) -> Result<(String, Vec<u8>), String> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 2048];
    loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..i]).into_owned();
            return Ok((head, got[i + 4..].to_vec()));
        }
        if got.len() > 16 * 1024 {
            return Err("header too long".into());
        }
        match so::recv(fd, &mut buf) {
            Ok(0) => return Err("connection closed in the header".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{}", e)),
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn fetch(host: &str, port: u16, path: &str, out: &str) -> Result<bool, String> {
    let ip = so::lookup(host, None).map_err(|e| e.to_string())?;
    let fd = so::tcp_connect((ip, port)).map_err(|e| format!("connect: {}", e))?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: xv6net-wget\r\nConnection: close\r\n\r\n",
        path, host, port
    );
    so::send_all(fd, req.as_bytes()).map_err(|e| format!("send: {}", e))?;
    let (head, mut body) = read_head(fd)?;
    let status = head.split(' ').nth(1).map_or(0, atoi);
    eprintln!("wget: {}", head.split("\r\n").next().unwrap_or(""));
    let length = header(&head, "content-length").map(|v| atoi(v) as usize);
    let ofd = if out == "-" {
        1
    } else {
        open(out, O_CREATE | O_WRONLY | O_TRUNC)
    };
    if ofd < 0 {
        close(fd);
        return Err(format!("cannot create {}", out));
    }
    let mut total = 0usize;
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(l) = length {
            body.truncate(l - total.min(l));
        }
        if !body.is_empty() {
            if write_all(ofd, &body) < 0 {
                return Err("write failed".into());
            }
            total += body.len();
        }
        if length.is_some_and(|l| total >= l) {
            break;
        }
        match so::recv(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => body = buf[..n].to_vec(),
            Err(e) => return Err(format!("recv: {}", e)),
        }
    }
    close(fd);
    if ofd != 1 {
        close(ofd);
    }
    if length.is_some_and(|l| total < l) {
        return Err(format!(
            "short body: {} of {} bytes",
            total,
            length.unwrap()
        ));
    }
    eprintln!("wget: {} bytes -> {}", total, out);
    Ok((200..300).contains(&status))
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let (mut url, mut out) = (None, None);
    let mut i = 1;
    while i < args.len() {
        match args[i] {
            "-O" if i + 1 < args.len() => {
                out = Some(args[i + 1]);
                i += 1;
            }
            a if url.is_none() => url = Some(a),
            _ => return usage(),
        }
        i += 1;
    }
    let Some(url) = url else { return usage() };
    let Some((host, port, path)) = parse_url(url) else {
        eprintln!("wget: bad URL {} (http://HOST[:PORT]/PATH)", url);
        return 2;
    };
    let out = out.unwrap_or_else(|| match path.rsplit('/').next() {
        Some("") | None => "index.html",
        Some(name) => name,
    });
    match fetch(host, port, path, out) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("wget: {}", e);
            1
        }
    }
}
