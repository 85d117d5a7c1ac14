//! daytime: daytime client (RFC 867). `daytime HOST [PORT]` (default 13) prints what
//! the server sends until it closes.
#![no_std]
#![no_main]

use ulib::net::parse_port;
use ulib::socket as so;
use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: daytime HOST [PORT]");
        return 2;
    }
    let port = match args.get(2).map(|p| (p, parse_port(p))) {
        None => 13,
        Some((_, Some(p))) => p,
        Some((p, None)) => {
            eprintln!("daytime: invalid port {}", p);
            return 2;
        }
    };
    let ip = match so::lookup(args[1], None) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("daytime: {}", e);
            return 1;
        }
    };
    let fd = match so::tcp_connect((ip, port)) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("daytime: {}:{}: {}", args[1], port, e);
            return 1;
        }
    };
    let mut buf = vec![0u8; 512];
    loop {
        match so::recv(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                write_all(1, &buf[..n]);
            }
            Err(e) => {
                eprintln!("daytime: {}", e);
                return 1;
            }
        }
    }
    close(fd);
    0
}
