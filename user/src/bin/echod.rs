//! echod: TCP echo server. `echod [PORT]` (default 7): every connection gets back
//! what it sends, until it closes; one child process per connection.
#![no_std]
#![no_main]

use ulib::net::parse_port;
use ulib::socket as so;
use ulib::*;

fn echo(conn: i32) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = so::recv(conn, &mut buf) {
        if n == 0 || so::send_all(conn, &buf[..n]).is_err() {
            break;
        }
    }
    close(conn);
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = match args.get(1).map(|p| (p, parse_port(p))) {
        None => 7,
        Some((_, Some(p))) => p,
        Some((p, None)) => {
            eprintln!("echod: invalid port {}", p);
            return 2;
        }
    };
    let fd = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 2).map(|_| fd))
    {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("echod: port {}: {}", port, e);
            return 1;
        }
    };
    println!("echod: listening on port {}", port);
    loop {
        match so::accept(fd) {
            Ok((conn, _)) => so::spawn(conn, echo),
            Err(e) => {
                eprintln!("echod: accept: {}", e);
                return 1;
            }
        }
    }
}
