//! daytimed: daytime server (RFC 867) over TCP. `daytimed [PORT]` (default 13):
//! each connection gets one line, the time since boot (xv6 has no clock), and is closed.
#![no_std]
#![no_main]

use ulib::net::parse_port;
use ulib::socket as so;
use ulib::*;

/// "up 0d 00:01:02.345 (uptime 6234 ticks)\r\n"
fn line() -> String {
    let ms = so::uptime_us() / 1000;
    let s = ms / 1000;
    format!(
        "up {}d {:02}:{:02}:{:02}.{:03} (uptime {} ticks)\r\n",
        s / 86400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ms % 1000,
        uptime()
    )
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = match args.get(1).map(|p| (p, parse_port(p))) {
        None => 13,
        Some((_, Some(p))) => p,
        Some((p, None)) => {
            eprintln!("daytimed: invalid port {}", p);
            return 2;
        }
    };
    let fd = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 2).map(|_| fd))
    {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("daytimed: port {}: {}", port, e);
            return 1;
        }
    };
    println!("daytimed: listening on port {}", port);
    loop {
        match so::accept(fd) {
            Ok((conn, _)) => {
                // One short line fits the send buffer: no need for a child.
                let _ = so::send_all(conn, line().as_bytes());
                close(conn);
            }
            Err(e) => {
                eprintln!("daytimed: accept: {}", e);
                return 1;
            }
        }
    }
}
