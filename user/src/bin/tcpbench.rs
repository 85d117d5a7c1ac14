//! tcpbench: the guest half of the benchmark's TCP bulk transfers (`cargo xtask bench`).
//!
//! - `tcpbench sink PORT`: accepts one connection, reads it to the end, answers
//!   "received N bytes in U us\n" on it and closes.
//! - `tcpbench source PORT BYTES`: accepts one connection, sends BYTES to it and closes.
//!
//! Both print `tcpbench: listening on PORT` when ready and a last line with the bytes moved
//! and the microseconds from accept to the end (also when the peer resets the connection).
//! The data is a constant buffer, unchecked (socktest checks contents): the figure should
//! measure the path, not a checksum run under emulation.
#![no_std]
#![no_main]

use ulib::socket::{self as so, Errno};
use ulib::*;

/// Bytes handed to each `send`/`recv`: few system calls per window (the TCP buffers hold 64 KiB).
const CHUNK: usize = 32 * 1024;
/// A sink whose peer goes silent this long gives up (bounds the run).
const IDLE_MS: u32 = 60_000;

/// Listens on `port` and accepts one connection.
fn accept_one(port: u16) -> Result<i32, Errno> {
    let l = so::tcp_socket()?;
    let conn = so::bind(l, (0, port))
        .and_then(|_| so::listen(l, 1))
        .and_then(|_| {
            println!("tcpbench: listening on {}", port);
            so::accept(l)
        });
    close(l);
    conn.map(|(fd, _)| fd)
}

fn sink(port: u16) -> i32 {
    let fd = match accept_one(port) {
        Ok(fd) => fd,
        Err(e) => {
            println!("tcpbench: port {}: {}", port, e);
            return 1;
        }
    };
    let _ = so::set_rcvtimeo(fd, IDLE_MS);
    let start = so::uptime_us();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0usize;
    let mut error = None;
    loop {
        match so::recv(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let line = format!("received {} bytes in {} us", total, so::uptime_us() - start);
    let status = match error {
        None => {
            let _ = so::send_all(fd, format!("{}\n", line).as_bytes());
            println!("tcpbench: {}", line);
            0
        }
        Some(e) => {
            println!("tcpbench: {} ({})", line, e);
            1
        }
    };
    close(fd);
    status
}

fn source(port: u16, bytes: usize) -> i32 {
    let fd = match accept_one(port) {
        Ok(fd) => fd,
        Err(e) => {
            println!("tcpbench: port {}: {}", port, e);
            return 1;
        }
    };
    let start = so::uptime_us();
    let buf = vec![b'x'; CHUNK];
    let mut sent = 0usize;
    let mut error = None;
    while sent < bytes {
        let n = (bytes - sent).min(CHUNK);
        match so::send(fd, &buf[..n]) {
            Ok(k) => sent += k,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // The last window may still be in flight: close lets the stack finish it.
    close(fd);
    let line = format!("sent {} bytes in {} us", sent, so::uptime_us() - start);
    match error {
        None => {
            println!("tcpbench: {}", line);
            0
        }
        Some(e) => {
            println!("tcpbench: {} ({})", line, e);
            1
        }
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
    let usage = || {
        eprintln!("usage: tcpbench sink PORT | tcpbench source PORT BYTES");
        2
    };
    match args[1..] {
        ["sink", p] => port(p).map_or_else(usage, sink),
        ["source", p, n] => match (port(p), n.parse()) {
            (Some(p), Ok(n)) => source(p, n),
            _ => usage(),
        },
        _ => usage(),
    }
}
