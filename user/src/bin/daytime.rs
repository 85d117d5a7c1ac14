//! daytime: daytime client (RFC 867). `daytime HOST [PORT]` (default 13) prints what
//! the server sends until it closes.
#![no_std]
#![no_main]

use ulib::socket as so;
use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: daytime HOST [PORT]");
        return 2;
    }
    let port = args.get(2).map_or(13, |p| atoi(p) as u16);
    let fd = match so::resolve(args[1], None).and_then(|ip| so::tcp_connect((ip, port))) {
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
