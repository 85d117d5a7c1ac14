//! mudpecho [PORT]: `udpecho` with batched datagrams. A BSD UDP socket bound to PORT
//! (default 2000), a receive queue of `RCVBUF` bytes (`SO_RCVBUF`: 44 datagrams rather
//! than a lab port's 16), then forever: `recvmmsg` takes up to `BATCH` datagrams at once
//! and `sendmmsg` sends each back to where it came from. The network benchmark's
//! batched echo server.
//!
//! The datagram `stats` is answered, instead of echoed, with
//! `mudpecho: N datagrams in B batches, largest L` (the tests check that batches form).
#![no_std]
#![no_main]

use ulib::socket::{self as so, Batch};
use ulib::*;

/// Datagrams per `recvmmsg` / `sendmmsg`.
const BATCH: usize = 32;
/// Bigger than any UDP payload one Ethernet frame carries (1472 bytes).
const BUF_SIZE: usize = 2048;
/// The socket's receive queue.
const RCVBUF: i32 = 64 << 10;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = match args.get(1).map(|a| a.parse::<u16>()) {
        None => 2000,
        Some(Ok(p)) if p != 0 => p,
        Some(_) => {
            eprintln!("usage: mudpecho [PORT]");
            return 1;
        }
    };
    let fd = match so::udp_socket() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("mudpecho: socket: {}", e);
            return 1;
        }
    };
    if let Err(e) = so::set_rcvbuf(fd, RCVBUF).and_then(|()| so::bind(fd, (0, port))) {
        eprintln!("mudpecho: port {}: {}", port, e);
        return 1;
    }
    let queue = so::rcvbuf(fd).unwrap_or(0);
    println!(
        "mudpecho: echoing on port {} (batches of {}, queue {} bytes)",
        port, BATCH, queue
    );
    let mut batch = Batch::new(BATCH, BUF_SIZE);
    let (mut datagrams, mut batches, mut largest) = (0usize, 0usize, 0usize);
    loop {
        let n = match batch.recv(fd, 0, -1) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("mudpecho: recvmmsg: {}", e);
                return 1;
            }
        };
        datagrams += n;
        batches += 1;
        largest = largest.max(n);
        batch.echo(n);
        for i in 0..n {
            let (bytes, from) = batch.get(i);
            if bytes == b"stats" {
                let text = format!(
                    "mudpecho: {} datagrams in {} batches, largest {}",
                    datagrams, batches, largest
                );
                batch.set(i, text.as_bytes(), Some(from));
            }
        }
        // A failed send (a full ring) loses the rest of this batch's echoes; the
        // sender retries, as with any UDP service.
        if let Err(e) = batch.send_all(fd, 0..n, 0) {
            eprintln!("mudpecho: sendmmsg: {}", e);
        }
    }
}
