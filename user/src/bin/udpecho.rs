//! udpecho [PORT]: bind PORT (default 2000) and send every UDP datagram that
//! arrives there back to where it came from, from PORT, until killed. The network
//! benchmark's echo server; with QEMU's `hostfwd=udp:127.0.0.1:H-:2000` the host
//! reaches it at 127.0.0.1:H.
#![no_std]
#![no_main]

use ulib::*;

/// Bigger than any UDP payload one Ethernet frame carries (1472 bytes).
const BUF_SIZE: usize = 2048;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let port = match args.get(1).map(|a| a.parse::<u16>()) {
        None => 2000,
        Some(Ok(p)) if p != 0 => p,
        Some(_) => {
            eprintln!("usage: udpecho [PORT]");
            return 1;
        }
    };
    if bind(port) < 0 {
        eprintln!("udpecho: bind {} failed", port);
        return 1;
    }
    println!("udpecho: echoing on port {}", port);
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let (mut src, mut sport) = (0u32, 0u16);
        let n = recv(port, &mut src, &mut sport, &mut buf);
        if n < 0 {
            eprintln!("udpecho: recv failed");
            return 1;
        }
        // A failed send (a full queue or ring) loses one echo; the sender
        // retries, as with any UDP service.
        if send(port, src, sport, &buf[..n as usize]) < 0 {
            eprintln!("udpecho: send failed");
        }
    }
}
