//! ping: ICMP echo over an echo socket, with iputils' output.
//!
//! `ping [-c N] [-i SEC] HOST`: N requests (default 4) SEC seconds apart (default 1,
//! decimals allowed, at least 0.01); each reply prints its round-trip time in ms, then
//! a summary: transmitted, received, loss, and min/avg/max/mdev. Exit 0 if any reply
//! came back. Each request waits at most 1 s (or the interval, if longer) for its reply.
#![no_std]
#![no_main]

use ulib::net::Ipv4;
use ulib::socket as so;
use ulib::*;

const PAYLOAD: usize = 56;
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// "1", "0.2" or "1.5" seconds, as microseconds.
fn parse_secs(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() > 6 {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut us = 0u64;
    for (i, c) in frac.bytes().enumerate() {
        us += u64::from(c - b'0') * 10u64.pow(5 - i as u32);
    }
    Some(whole.checked_mul(1_000_000)? + us)
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn usage() -> i32 {
    eprintln!("usage: ping [-c N] [-i SEC] HOST");
    2
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let mut count = 4u32;
    let mut interval = 1_000_000u64;
    let mut host = None;
    let mut i = 1;
    while i < args.len() {
        match args[i] {
            "-c" if i + 1 < args.len() => {
                match args[i + 1].parse() {
                    Ok(n) if n > 0 => count = n,
                    _ => return usage(),
                }
                i += 1;
            }
            "-i" if i + 1 < args.len() => {
                match parse_secs(args[i + 1]) {
                    Some(us) if us >= 10_000 => interval = us,
                    _ => return usage(),
                }
                i += 1;
            }
            a if host.is_none() && !a.starts_with('-') => host = Some(a),
            _ => return usage(),
        }
        i += 1;
    }
    let Some(host) = host else { return usage() };
    let ip = match so::lookup(host, None) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("ping: {}", e);
            return 2;
        }
    };
    let fd = match so::icmp_socket() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("ping: socket: {}", e);
            return 2;
        }
    };
    println!(
        "PING {} ({}) {}({}) bytes of data.",
        host,
        Ipv4(ip),
        PAYLOAD,
        PAYLOAD + 8 + 20
    );
    let wait_us = interval.max(1_000_000);
    let start = so::uptime_us();
    let (mut sent, mut received) = (0u32, 0u32);
    // Round-trip times in µs (the kernel leaves the FPU off in user mode: no floats).
    let (mut min, mut max, mut sum, mut sum2) = (u64::MAX, 0u64, 0u64, 0u64);
    for seq in 1..=count {
        let mut pkt = [0u8; 8 + PAYLOAD];
        pkt[0] = ECHO_REQUEST;
        pkt[6..8].copy_from_slice(&(seq as u16).to_be_bytes());
        for (j, b) in pkt[8..].iter_mut().enumerate() {
            *b = j as u8;
        }
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
        let t0 = so::uptime_us();
        if let Err(e) = so::sendto(fd, &pkt, 0, Some((ip, 0))) {
            eprintln!("ping: sendto: {}", e);
            break;
        }
        sent += 1;
        // Wait for this request's reply; earlier ones that arrive late are ignored.
        loop {
            let now = so::uptime_us();
            let left = (t0 + wait_us).saturating_sub(now);
            if left == 0 {
                break;
            }
            let _ = so::set_rcvtimeo(fd, left.div_ceil(1000) as u32);
            let mut reply = [0u8; 8 + PAYLOAD + 64];
            match so::recvfrom(fd, &mut reply, 0) {
                Ok((n, from)) => {
                    let rseq = u16::from_be_bytes([reply[6], reply[7]]);
                    if n < 8 || reply[0] != ECHO_REPLY || rseq != seq as u16 {
                        continue;
                    }
                    let us = so::uptime_us() - t0;
                    received += 1;
                    min = min.min(us);
                    max = max.max(us);
                    sum += us;
                    sum2 += us * us;
                    println!(
                        "{} bytes from {}: icmp_seq={} time={} ms",
                        n,
                        Ipv4(from.0),
                        seq,
                        Ms(us)
                    );
                    break;
                }
                Err(so::EAGAIN) => break,
                Err(e) => {
                    eprintln!("ping: recvfrom: {}", e);
                    break;
                }
            }
        }
        if seq < count {
            let next = t0 + interval;
            let now = so::uptime_us();
            if next > now {
                so::sleep_ms(((next - now) / 1000) as u32);
            }
        }
    }
    close(fd);
    let elapsed = (so::uptime_us() - start) / 1000;
    println!("\n--- {} ping statistics ---", host);
    // Loss in hundredths of a percent; iputils drops a zero fraction ("0%", "25%").
    let loss = if sent == 0 {
        0
    } else {
        10_000 * u64::from(sent - received) / u64::from(sent)
    };
    let loss = if loss % 100 == 0 {
        format!("{}", loss / 100)
    } else {
        format!("{}.{:02}", loss / 100, loss % 100)
    };
    println!(
        "{} packets transmitted, {} received, {}% packet loss, time {}ms",
        sent, received, loss, elapsed
    );
    if received > 0 {
        let n = u64::from(received);
        let avg = sum / n;
        let var = (sum2 / n).saturating_sub(avg * avg);
        println!(
            "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
            Ms(min),
            Ms(avg),
            Ms(max),
            Ms(isqrt(var))
        );
        0
    } else {
        1
    }
}

/// Microseconds shown as milliseconds with three decimals.
struct Ms(u64);

impl core::fmt::Display for Ms {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Integer square root (Newton's method).
fn isqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    let mut r = x;
    let mut y = r.div_ceil(2);
    while y < r {
        r = y;
        y = (r + x / r) / 2;
    }
    r
}
