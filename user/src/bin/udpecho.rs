//! udpecho [PORT]: bind PORT (default 2000) and send every UDP datagram that
//! arrives there back to where it came from, from PORT, until killed. The network
//! benchmark's echo server; with QEMU's `hostfwd=udp:127.0.0.1:H-:2000` the host
//! reaches it at 127.0.0.1:H.
#![no_std]
#![no_main]

use abi::syscall::{SYS_BIND, SYS_RECV, SYS_SEND};
use ulib::sys::syscall;
use ulib::*;

/// Bigger than any UDP payload one Ethernet frame carries (1472 bytes).
const BUF_SIZE: usize = 2048;

fn bind(port: u16) -> isize {
    // SAFETY: bind takes no pointers.
    unsafe { syscall(SYS_BIND, port as usize, 0, 0, 0, 0, 0) }
}

/// Blocks for the next datagram to `port`: (payload length, source IPv4 address in
/// host order, source port).
fn recv(port: u16, buf: &mut [u8]) -> Option<(usize, u32, u16)> {
    let mut src: u32 = 0;
    let mut sport: u16 = 0;
    // SAFETY: src, sport and buf are valid for the writes recv makes (at most
    // buf.len() payload bytes).
    let n = unsafe {
        syscall(
            SYS_RECV,
            port as usize,
            &mut src as *mut u32 as usize,
            &mut sport as *mut u16 as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
        )
    };
    (n >= 0).then_some((n as usize, src, sport))
}

fn send(sport: u16, dst: u32, dport: u16, payload: &[u8]) -> isize {
    // SAFETY: send only reads payload.len() bytes of payload.
    unsafe {
        syscall(
            SYS_SEND,
            sport as usize,
            dst as usize,
            dport as usize,
            payload.as_ptr() as usize,
            payload.len(),
            0,
        )
    }
}

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
        let Some((n, src, sport)) = recv(port, &mut buf) else {
            eprintln!("udpecho: recv failed");
            return 1;
        };
        // A failed send (no ARP answer yet, a full ring) loses one echo; the
        // sender retries, as with any UDP service.
        if send(port, src, sport, &buf[..n]) < 0 {
            eprintln!("udpecho: send failed");
        }
    }
}
