//! socktest: the guest half of harness/tests/net_sockets.rs.
//!
//! - `socktest bad [PART]`: bad socket-layer input gets the right errno, never a panic
//!   (PART 1..=6 runs one group: UDP calls, poll, descriptors, TCP, EMFILE, and
//!   recvmmsg/sendmmsg/SO_RCVBUF).
//! - `socktest cycles IP PORT N`: N connect/close cycles (and N UDP and listener
//!   open/close cycles); free pages and kernel heap bytes in use must be the same
//!   before and after.
//! - `socktest tx IP PORT BYTES`: connects and sends BYTES of the test pattern.
//! - `socktest sink PORT`: accepts one connection, reads it to the end, answers
//!   "received N sum HEX\n" and closes.
//! - `socktest reset IP PORT`: connects, sends, and reports how the wait for an answer ends.
//! - `socktest sum FILE`: size and checksum of a file.
//! - `socktest status PROG [ARGS...]`: runs PROG and prints its exit status (the shell
//!   shows none), so a test can check that a failing program says so.
//!
//! The checksum is 32-bit FNV-1a; the pattern's byte i is `(i * 7 + i / 4093) as u8`.
//!
//! This file dispatches and holds `reset` and `status`; `bad.rs` and `mmsg.rs` are the
//! bad-input checks (with their tools in `check.rs`), `cycles.rs` the leak check, and
//! `data.rs` the programs that move and check the pattern.
#![no_std]
#![no_main]

mod bad;
mod check;
mod cycles;
mod data;
mod mmsg;

use ulib::net::parse_ipv4;
use ulib::socket as so;
use ulib::*;

/// Connects, sends, and reports how the wait for an answer ends.
fn reset(ip: u32, port: u16) -> i32 {
    let fd = match so::tcp_connect((ip, port)) {
        Ok(fd) => fd,
        Err(e) => {
            println!("socktest reset: connect: {}", e);
            return 1;
        }
    };
    let _ = so::send_all(fd, &[b'x'; 1000]);
    let _ = so::set_rcvtimeo(fd, 10_000);
    let mut buf = [0u8; 64];
    let r = so::recv(fd, &mut buf);
    match r {
        Ok(n) => println!("socktest reset: recv returned {}", n),
        Err(e) => println!("socktest reset: recv: {}", e),
    }
    // A reset connection also fails sends.
    println!("socktest reset: then send: {:?}", so::send(fd, b"y").err());
    close(fd);
    0
}

/// Runs `prog` with `argv` (argv[0] its name) and prints how it exited.
fn status(prog: &str, argv: &[&str]) -> i32 {
    let pid = fork();
    if pid < 0 {
        println!("socktest status: fork failed");
        return 1;
    }
    if pid == 0 {
        exec(prog, argv);
        println!("socktest status: exec {} failed", prog);
        exit(127);
    }
    let mut st = 0;
    if wait(Some(&mut st)) != pid {
        println!("socktest status: wait failed");
        return 1;
    }
    println!("socktest status: {} exited {}", prog, st);
    0
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let ip = |s: &str| parse_ipv4(s).unwrap_or(0);
    let num = |s: &str| s.parse::<usize>().unwrap_or(0);
    match args[1..] {
        ["bad"] => bad::bad(0),
        ["bad", p] => bad::bad(num(p) as u32),
        ["cycles", a, p, n] => cycles::cycles(ip(a), num(p) as u16, num(n)),
        ["tx", a, p, n] => data::tx(ip(a), num(p) as u16, num(n)),
        ["sink", p] => data::sink(num(p) as u16),
        ["reset", a, p] => reset(ip(a), num(p) as u16),
        ["sum", f] => data::sum(f),
        ["status", prog, ..] => status(prog, &args[2..]),
        _ => {
            eprintln!(
                "usage: socktest bad | cycles IP PORT N | tx IP PORT BYTES | sink PORT | reset IP PORT | sum FILE | status PROG [ARGS...]"
            );
            2
        }
    }
}
