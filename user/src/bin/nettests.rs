//! nettests: the MIT 6.S081/6.1810 (2020–2023) net lab's guest tests, with its
//! output lines (docs/lab.md), over `connect()` socket files.
//!
//! `nettests [-p SERVERPORT] [-d DNSIP:PORT]`. The host peer (harness `labserver
//! server`) answers every datagram with `this is the host!`. As in nettest, the
//! server port defaults to 25099 and the resolver to 10.0.2.2:25053 (the host's
//! 127.0.0.1:25053) instead of the lab's compiled-in port and 8.8.8.8.
#![no_std]
#![no_main]

use ulib::net::wire::{Ipv4, Legacy, check_lab_dns_reply, lab_dns_query};
use ulib::net::{HOST_ADDR, parse_endpoint};
use ulib::*;

const DEFAULT_SERVER_PORT: u16 = 25099;
const DEFAULT_DNS: (u32, u16) = (HOST_ADDR, 25053);

/// Sends `a message from xv6!` `attempts` times from `sport` and expects one
/// `this is the host!` back; exits with status 1 on any failure, like the lab.
fn ping(sport: u16, dport: u16, attempts: usize) {
    let fd = connect(HOST_ADDR, sport, dport);
    if fd < 0 {
        eprintln!("ping: connect() failed");
        exit(1);
    }
    for _ in 0..attempts {
        if write(fd, b"a message from xv6!") < 0 {
            eprintln!("ping: send() failed");
            exit(1);
        }
    }
    let mut ibuf = [0u8; 128];
    let cc = read(fd, &mut ibuf[..127]);
    if cc < 0 {
        eprintln!("ping: recv() failed");
        exit(1);
    }
    close(fd);
    if &ibuf[..cc as usize] != b"this is the host!" {
        eprintln!("ping didn't receive correct payload");
        exit(1);
    }
}

/// The lab's DNS query over a connected socket from port 10000; exits on failure.
fn dns(server: (u32, u16)) {
    let mut obuf = [0u8; 64];
    let len = lab_dns_query(&mut obuf).expect("the lab's query fits in 64 bytes");
    let fd = connect(server.0, 10000, server.1);
    if fd < 0 {
        eprintln!("ping: connect() failed");
        exit(1);
    }
    if write(fd, &obuf[..len]) < 0 {
        eprintln!("dns: send() failed");
        exit(1);
    }
    let mut ibuf = [0u8; 1000];
    let cc = read(fd, &mut ibuf);
    if cc < 0 {
        eprintln!("dns: recv() failed");
        exit(1);
    }
    let checked = check_lab_dns_reply(&ibuf[..cc as usize], |name, ip| {
        println!(
            "DNS arecord for {} is {}",
            name,
            Ipv4(u32::from_be_bytes(ip))
        );
    });
    if let Err(e) = checked {
        println!("{}", Legacy(e));
        exit(1);
    }
    close(fd);
}

fn usage() -> i32 {
    println!("Usage: nettests [-p SERVERPORT] [-d DNSIP:PORT]");
    println!(
        "defaults: -p {} -d {}:{} (10.0.2.2 is the host's 127.0.0.1)",
        DEFAULT_SERVER_PORT,
        Ipv4(DEFAULT_DNS.0),
        DEFAULT_DNS.1
    );
    1
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let mut dport = DEFAULT_SERVER_PORT;
    let mut dns_server = DEFAULT_DNS;
    let mut it = args.iter().skip(1);
    while let Some(&arg) = it.next() {
        match arg {
            "-p" => match it.next().and_then(|v| v.parse().ok()) {
                Some(port) => dport = port,
                None => return usage(),
            },
            "-d" => match it.next().and_then(|v| parse_endpoint(v)) {
                Some(d) => dns_server = d,
                None => return usage(),
            },
            _ => return usage(),
        }
    }

    println!("nettests running on port {dport}");

    // Each line's prefix is printed before the network I/O, so a hang shows as a
    // partial line.
    print!("testing ping: ");
    ping(2000, dport, 1);
    println!("OK");

    print!("testing single-process pings: ");
    for _ in 0..100 {
        ping(2000, dport, 1);
    }
    println!("OK");

    print!("testing multi-process pings: ");
    for i in 0..10 {
        let pid = fork();
        if pid < 0 {
            eprintln!("fork failed");
            exit(1);
        }
        if pid == 0 {
            ping(2001 + i, dport, 1);
            exit(0);
        }
    }
    for _ in 0..10 {
        let mut status = 0;
        wait(Some(&mut status));
        if status != 0 {
            exit(1);
        }
    }
    println!("OK");

    println!("testing DNS");
    dns(dns_server);
    println!("DNS OK");

    println!("all tests passed.");
    0
}
