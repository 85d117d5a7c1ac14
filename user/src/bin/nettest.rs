//! nettest: the MIT 6.1810 (2024) net lab's guest tests, with the lab's names and
//! output lines (docs/lab.md), run against a host peer (harness `labserver`).
//!
//! `nettest [-p SERVERPORT] [-d DNSIP:PORT] TEST`. The lab compiles SERVERPORT in;
//! here it is an option, default 25099 (the lab's value for uid 0). The lab asks
//! 8.8.8.8 for its DNS test; here the resolver is an option too, default
//! 10.0.2.2:25053, which is the host's 127.0.0.1:25053 through QEMU's user
//! network, where `labserver` answers. Every test talks to 10.0.2.2 only.
//!
//! One difference: ping3 waits for the child it killed, so that `grade`'s free
//! memory check does not count a zombie.
#![no_std]
#![no_main]

use ulib::net::wire::{Ipv4, check_lab_dns_reply, lab_dns_query};
use ulib::net::{HOST_ADDR, parse_endpoint};
use ulib::*;

const DEFAULT_SERVER_PORT: u16 = 25099;
const DEFAULT_DNS: (u32, u16) = (HOST_ADDR, 25053);
/// Pages `grade` may lose, as in the lab's leak check.
const FREE_SLACK: i32 = 32;

const TESTS: [&str; 11] = [
    "txone", "tx", "rx", "rx2", "rxburst", "ping0", "ping1", "ping2", "ping3", "dns", "grade",
];

/// Where the host's peers are.
struct Peers {
    /// UDP port of the host's lab server (echo, receive-once...).
    server: u16,
    /// The DNS responder: address (host order) and port.
    dns: (u32, u16),
}

/// One received datagram.
struct Reply {
    src: u32,
    sport: u16,
    buf: [u8; 128],
    cc: usize,
}

impl Reply {
    fn data(&self) -> &[u8] {
        &self.buf[..self.cc]
    }
}

/// recv() on `port` into a 127-byte buffer, as every lab test does; prints
/// `WHAT: recv() failed` on failure.
fn recv_on(what: &str, port: u16) -> Option<Reply> {
    let mut r = Reply {
        src: 0,
        sport: 0,
        buf: [0; 128],
        cc: 0,
    };
    let cc = recv(port, &mut r.src, &mut r.sport, &mut r.buf[..127]);
    if cc < 0 {
        eprintln!("{what}: recv() failed");
        return None;
    }
    r.cc = cc as usize;
    Some(r)
}

fn send_or_report(what: &str, sport: u16, dport: u16, buf: &[u8]) -> bool {
    if send(sport, HOST_ADDR, dport, buf) < 0 {
        println!("{what}: send() failed");
        return false;
    }
    true
}

/// The checks of a ping reply: from the host's server port, `len` bytes long,
/// starting with the first `cmp` bytes of `expect`.
fn check_echo(what: &str, r: &Reply, server: u16, expect: &[u8], cmp: usize) -> bool {
    if r.src != HOST_ADDR {
        println!("{what}: wrong ip src {:x}", r.src);
        return false;
    }
    if r.sport != server {
        println!("{what}: wrong sport {}", r.sport);
        return false;
    }
    if r.cc != expect.len() {
        println!("{what}: wrong length {}", r.cc);
        return false;
    }
    if r.buf[..cmp] != expect[..cmp] {
        println!("{what}: wrong content");
        return false;
    }
    true
}

/// Sends one datagram and does not wait for an answer: the host prints `txone: OK`.
fn txone(p: &Peers) -> bool {
    println!("txone: sending one packet");
    send_or_report("txone", 2003, p.server, b"txone")
}

/// Receives four `packet N` datagrams with consecutive numbers on port 2000.
fn rx(name: &str) -> bool {
    bind(2000);
    let mut lastseq: Option<u32> = None;
    for _ in 0..4 {
        let Some(r) = recv_on(&format!("nettest {name}"), 2000) else {
            return false;
        };
        if r.src != HOST_ADDR {
            println!("wrong ip src {:x}", r.src);
            return false;
        }
        if r.cc < "packet 1".len() {
            println!("len {} too short", r.cc);
            return false;
        }
        if r.cc > "packet xxxxxx".len() {
            println!("len {} too long", r.cc);
            return false;
        }
        let data = r.data();
        if !data.starts_with(b"packet ") {
            println!("packet doesn't start with packet");
            return false;
        }
        let digits = &data[7..];
        if !digits[0].is_ascii_digit() {
            println!("packet doesn't contain a number");
            return false;
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            println!("packet contains non-digits in the number");
            return false;
        }
        // Like the lab: the number is read from at most three digits.
        let seq = digits
            .iter()
            .take(3)
            .fold(0u32, |n, d| n * 10 + (d - b'0') as u32);
        if let Some(last) = lastseq
            && seq != last + 1
        {
            println!("got seq {}, expecting {}", seq, last + 1);
            return false;
        }
        lastseq = Some(seq);
    }
    println!("{name}: OK");
    true
}

/// Receives three `one N` on 2000, three `two N` on 2001, then three `one N` on 2000.
fn rx2() -> bool {
    bind(2000);
    bind(2001);
    for (port, prefix) in [(2000, "one"), (2001, "two"), (2000, "one")] {
        for _ in 0..3 {
            let Some(r) = recv_on("nettest rx2", port) else {
                return false;
            };
            if r.src != HOST_ADDR {
                println!("wrong ip src {:x}", r.src);
                return false;
            }
            if r.cc < "one 1".len() {
                println!("len {} too short", r.cc);
                return false;
            }
            if r.cc > "one xxxxxx".len() {
                println!("len {} too long", r.cc);
                return false;
            }
            if !r.data().starts_with(prefix.as_bytes()) || r.data()[3] != b' ' {
                println!("packet doesn't start with {prefix}");
                return false;
            }
        }
    }
    println!("rx2: OK");
    true
}

/// Sends `t 0` .. `t 4`, an xv6 second apart: the host prints `tx: OK`.
fn tx(p: &Peers) -> bool {
    for i in 0..5u8 {
        if send(2000, HOST_ADDR, p.server, &[b't', b' ', b'0' + i]) < 0 {
            println!("send() failed");
            return false;
        }
        sleep(10);
    }
    true
}

/// One datagram to the host's echo server and its reply.
fn ping0(p: &Peers) -> bool {
    println!("ping0: starting");
    bind(2004);
    let buf = b"ping0";
    if !send_or_report("ping0", 2004, p.server, buf) {
        return false;
    }
    let Some(r) = recv_on("ping0", 2004) else {
        return false;
    };
    // ping0's messages name what was expected too.
    if r.src != HOST_ADDR {
        println!("ping0: wrong ip src {:x}, expecting {:x}", r.src, HOST_ADDR);
        return false;
    }
    if r.sport != p.server {
        println!("ping0: wrong sport {}, expecting {}", r.sport, p.server);
        return false;
    }
    if r.buf[..5] != buf[..] {
        println!("ping0: wrong content");
        return false;
    }
    if r.cc != 5 {
        println!("ping0: wrong length {}, expecting 5", r.cc);
        return false;
    }
    println!("ping0: OK");
    true
}

/// Twenty send-then-receive round trips on port 2005.
fn ping1(p: &Peers) -> bool {
    println!("ping1: starting");
    bind(2005);
    for i in 0..20u8 {
        let buf = [b'p', b' ', b'0' + i];
        if !send_or_report("ping1", 2005, p.server, &buf) {
            return false;
        }
        let Some(r) = recv_on("ping1", 2005) else {
            return false;
        };
        if r.src != HOST_ADDR {
            println!("ping1: wrong ip src {:x}, expecting {:x}", r.src, HOST_ADDR);
            return false;
        }
        if r.sport != p.server {
            println!("ping1: wrong sport {}, expecting {}", r.sport, p.server);
            return false;
        }
        if r.buf[..3] != buf {
            println!("ping1: wrong content");
            return false;
        }
        if r.cc != 3 {
            println!("ping1: wrong length {}, expecting 3", r.cc);
            return false;
        }
    }
    println!("ping1: OK");
    true
}

/// `p X!` for ping2 and ping3: X is `base + i`, wrapping like a C char.
fn pkt(base: u8, i: usize) -> [u8; 4] {
    [b'p', b' ', base.wrapping_add(i as u8), b'!']
}

/// Five datagrams from each of two ports, all sent before any is received: each
/// port must queue its five replies in order.
fn ping2(p: &Peers) -> bool {
    println!("ping2: starting");
    bind(2006);
    bind(2007);
    for i in 0..5 {
        for (port, base) in [(2006, b'a'), (2007, b'A')] {
            if !send_or_report("ping2", port, p.server, &pkt(base, i)) {
                return false;
            }
        }
    }
    for (port, base) in [(2006, b'a'), (2007, b'A')] {
        for i in 0..5 {
            let Some(r) = recv_on("ping2", port) else {
                return false;
            };
            if !check_echo("ping2", &r, p.server, &pkt(base, i), 3) {
                return false;
            }
        }
    }
    println!("ping2: OK");
    true
}

/// A flood of 257 datagrams from 2008 (bound) and 2010 (not bound), bracketed by
/// two from 2009: both 2009 replies must arrive, and 2008 may queue at most 16.
fn ping3(p: &Peers) -> bool {
    println!("ping3: starting");
    bind(2008);
    bind(2009);
    if !send_or_report("ping3", 2009, p.server, &pkt(b'A', 0)) {
        return false;
    }
    sleep(1);
    for i in 0..257 {
        let port = 2008 + (i as u16 % 2) * 2;
        if !send_or_report("ping3", port, p.server, &pkt(b'a', i)) {
            return false;
        }
    }
    sleep(1);
    if !send_or_report("ping3", 2009, p.server, &pkt(b'B', 0)) {
        return false;
    }
    for i in 0..2 {
        let Some(r) = recv_on("ping3", 2009) else {
            return false;
        };
        if !check_echo("ping3", &r, p.server, &pkt(b'A', i), 3) {
            return false;
        }
    }

    // Count what 2008 queued: a child drains it, one pipe byte per datagram.
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        println!("ping3: pipe() failed");
        return false;
    }
    let pid = fork();
    if pid < 0 {
        println!("ping3: fork() failed");
        return false;
    }
    if pid == 0 {
        close(fds[0]);
        // So the parent's read() does not block when nothing was queued.
        write(fds[1], b":");
        loop {
            if recv_on("ping3", 2008).is_none() {
                break;
            }
            write(fds[1], b"x");
        }
        exit(0);
    }
    close(fds[1]);
    sleep(5);
    let mut nbuf = [0u8; 512];
    let n = read(fds[0], &mut nbuf);
    close(fds[0]);
    kill(pid);
    wait(None);
    let n = n - 1; // the ":"
    if n > 16 {
        println!("ping3: too many packets ({n}) were queued on a UDP port");
        return false;
    }
    println!("ping3: OK");
    true
}

/// The lab's DNS query for pdos.csail.mit.edu from port 10000, and its reply checks.
fn dns(p: &Peers) -> bool {
    println!("dns: starting");
    let mut obuf = [0u8; 64];
    let len = lab_dns_query(&mut obuf).expect("the lab's query fits in 64 bytes");
    bind(10000);
    if send(10000, p.dns.0, p.dns.1, &obuf[..len]) < 0 {
        eprintln!("dns: send() failed");
        return false;
    }
    // On the heap: xv6's user stack is one page, and the reply check below prints from
    // inside its own deep frame (a 1000-byte stack buffer here left under 200 bytes, and
    // a long command line overflowed it).
    let mut ibuf = vec![0u8; 1000];
    let (mut src, mut sport) = (0, 0);
    let cc = recv(10000, &mut src, &mut sport, &mut ibuf);
    if cc < 0 {
        eprintln!("dns: recv() failed");
        return false;
    }
    let checked = check_lab_dns_reply(&ibuf[..cc as usize], |name, ip| {
        println!(
            "DNS arecord for {} is {}",
            name,
            Ipv4(u32::from_be_bytes(ip))
        );
    });
    match checked {
        Ok(()) => {
            println!("dns: OK");
            true
        }
        Err(e) => {
            println!("{e}");
            false
        }
    }
}

/// What the lab's grader runs: txone, ping0..3 and dns with two ticks between,
/// then the free memory check. Every test runs even if one fails.
/// Ports `grade`'s tests bind (and keep until the process exits), and the ones they send
/// from without binding (each gets a send-only socket).
const GRADE_BOUND: [u16; 7] = [2004, 2005, 2006, 2007, 2008, 2009, 10000];
const GRADE_SEND_ONLY: [u16; 2] = [2003, 2010];

fn grade(p: &Peers) -> bool {
    let free0 = freemem();
    // The stack keeps a closed port's socket for the next one, so the first grade after
    // boot would allocate the sockets its ports need. Binding and unbinding as many ports
    // first (no packet is sent) makes that happen before the count, and unbinding the
    // tests' ports after them gives every socket back: the heap must then be exactly as
    // it was.
    for port in GRADE_BOUND.iter().chain(&GRADE_SEND_ONLY) {
        bind(*port);
    }
    for port in GRADE_BOUND.iter().chain(&GRADE_SEND_ONLY) {
        unbind(*port);
    }
    let heap0 = heapused();
    let mut ok = true;
    let tests: [fn(&Peers) -> bool; 6] = [txone, ping0, ping1, ping2, ping3, dns];
    for test in tests {
        ok &= test(p);
        sleep(2);
    }
    let free1 = freemem();
    if free1 + FREE_SLACK < free0 {
        println!(
            "free: FAILED -- lost too many free pages {} (out of {})",
            free0 - free1,
            free0
        );
        return false;
    }
    // The kernel heap (sockets, their queues) must be back where it was, exactly.
    for port in GRADE_BOUND {
        unbind(port);
    }
    let heap1 = heapused();
    if heap1 != heap0 {
        println!(
            "free: FAILED -- kernel heap in use went from {} to {} bytes",
            heap0, heap1
        );
        return false;
    }
    println!("free: OK");
    ok
}

fn usage() -> i32 {
    println!("Usage: nettest [-p SERVERPORT] [-d DNSIP:PORT] TEST");
    println!("TEST: {}", TESTS.join(" "));
    println!(
        "SERVERPORT (default {}) is the host's UDP port of `labserver`; DNSIP:PORT \
         (default {}:{}) its DNS responder; 10.0.2.2 is the host's 127.0.0.1",
        DEFAULT_SERVER_PORT,
        Ipv4(DEFAULT_DNS.0),
        DEFAULT_DNS.1
    );
    1
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let mut peers = Peers {
        server: DEFAULT_SERVER_PORT,
        dns: DEFAULT_DNS,
    };
    let mut test = None;
    let mut it = args.iter().skip(1);
    while let Some(&arg) = it.next() {
        match arg {
            "-p" => match it.next().and_then(|v| v.parse().ok()) {
                Some(port) => peers.server = port,
                None => return usage(),
            },
            "-d" => match it.next().and_then(|v| parse_endpoint(v)) {
                Some(dns) => peers.dns = dns,
                None => return usage(),
            },
            name if test.is_none() && TESTS.contains(&name) => test = Some(name),
            _ => return usage(),
        }
    }
    let Some(test) = test else {
        return usage();
    };
    let ok = match test {
        "txone" => txone(&peers),
        "tx" => tx(&peers),
        "rx" | "rxburst" => rx(test),
        "rx2" => rx2(),
        "ping0" => ping0(&peers),
        "ping1" => ping1(&peers),
        "ping2" => ping2(&peers),
        "ping3" => ping3(&peers),
        "dns" => dns(&peers),
        _ => grade(&peers),
    };
    if ok { 0 } else { 1 }
}
