//! What one UDP echo costs the stack, the way udpecho drives it in the kernel: a
//! frame arrives (poll), `try_recv`, `send`, poll again. Prints ns per echo;
//! run it under `valgrind --tool=callgrind` for instruction counts per function.
//!
//! `cargo run --release -p netstack --example echo_cost [ECHOES]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::Instant;

fn main() {
    let echoes: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let (mut guest, input, output) = tapped(64);
    guest.bind(2000).unwrap();
    let frame = udp_to_guest(25099, 2000, &[b'x'; 64]);
    // ARP: the gateway's MAC must be known before echoes flow.
    input.inject(&arp_request_for_guest());
    guest.poll(0);
    output.discard_all();
    let mut buf = [0u8; 1500];
    let start = Instant::now();
    for t in 0..echoes {
        input.inject(&frame);
        guest.poll(t / 1000);
        let (src, sport, n) = guest.try_recv(2000, &mut buf).unwrap();
        guest.send(2000, src, sport, &buf[..n]).unwrap();
        guest.poll(t / 1000);
        assert!(output.take().is_some(), "no echo for datagram {t}");
    }
    let ns = start.elapsed().as_nanos() as f64 / echoes as f64;
    println!("{echoes} echoes, {ns:.0} ns per echo (host)");
}
