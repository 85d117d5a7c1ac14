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
#![no_std]
#![no_main]

use ulib::net::parse_ipv4;
use ulib::socket::{self as so, Errno};
use ulib::*;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) + i / 4093) as u8
}

struct Fnv(u32);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0x811c9dc5)
    }
    fn add(&mut self, b: &[u8]) {
        for &c in b {
            self.0 = (self.0 ^ u32::from(c)).wrapping_mul(0x0100_0193);
        }
    }
}

/// Counts checks and failures, printing each failure.
struct Checker {
    failed: usize,
}

impl Checker {
    fn expect<T: core::fmt::Debug>(&mut self, what: &str, got: Result<T, Errno>, want: Errno) {
        match got {
            Err(e) if e == want => {}
            other => {
                self.failed += 1;
                println!(
                    "socktest: {}: got {:?}, want {:?} ({})",
                    what, other, want, want
                );
            }
        }
    }

    fn ok<T>(&mut self, what: &str, got: Result<T, Errno>) -> Option<T> {
        match got {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed += 1;
                println!("socktest: {}: {}", what, e);
                None
            }
        }
    }

    fn check(&mut self, what: &str, cond: bool) {
        if !cond {
            self.failed += 1;
            println!("socktest: {}: failed", what);
        }
    }
}

/// A raw call with arbitrary (possibly bad) arguments, as -errno.
fn raw(num: usize, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: the kernel must reject bad pointers with EFAULT; that is what is tested.
    // Good pointers given here point at live locals.
    let r = unsafe { ulib::sys::syscall(num, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        Err(Errno::from_code(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// An address no process maps.
const BAD_PTR: usize = 0x3f_ffff_0000;

fn bad(part: u32) -> i32 {
    use abi::syscall::*;
    let mut c = Checker { failed: 0 };
    let on = |p: u32| part == 0 || part == p;
    let mut buf = [0u8; 16];
    c.expect(
        "socket(AF_INET6)",
        so::socket(10, so::SOCK_STREAM, 0),
        so::EAFNOSUPPORT,
    );
    c.expect(
        "socket(type 7)",
        so::socket(so::AF_INET, 7, 0),
        so::ESOCKTNOSUPPORT,
    );
    c.expect(
        "socket(stream, udp)",
        so::socket(so::AF_INET, so::SOCK_STREAM, so::IPPROTO_UDP),
        so::EPROTONOSUPPORT,
    );
    let Some(u) = c.ok("udp socket", so::udp_socket()) else {
        return 1;
    };
    if on(1) {
        let sa = so::sockaddr((0, 4000)).to_bytes();
        c.expect(
            "bind short addrlen",
            raw(SYS_SOCKBIND, [u as usize, sa.as_ptr() as usize, 8, 0, 0, 0]),
            so::EINVAL,
        );
        c.expect(
            "bind bad pointer",
            raw(SYS_SOCKBIND, [u as usize, BAD_PTR, 16, 0, 0, 0]),
            so::EFAULT,
        );
        let mut fam = sa;
        fam[0] = 10;
        c.expect(
            "bind AF_INET6 address",
            raw(
                SYS_SOCKBIND,
                [u as usize, fam.as_ptr() as usize, 16, 0, 0, 0],
            ),
            so::EAFNOSUPPORT,
        );
        c.expect(
            "bind foreign address",
            so::bind(u, (0x01020304, 4000)),
            so::EADDRNOTAVAIL,
        );
        c.ok("bind", so::bind(u, (0, 4000)));
        c.expect("bind twice", so::bind(u, (0, 4001)), so::EINVAL);
        if let Some(u2) = c.ok("second udp socket", so::udp_socket()) {
            c.expect("bind port in use", so::bind(u2, (0, 4000)), so::EADDRINUSE);
            close(u2);
        }
        c.expect(
            "sendto bad buffer",
            raw(
                SYS_SENDTO,
                [u as usize, BAD_PTR, 10, 0, sa.as_ptr() as usize, 16],
            ),
            so::EFAULT,
        );
        let to = so::sockaddr((0x0a00_0202, 9)).to_bytes();
        c.expect(
            "sendto short addrlen",
            raw(
                SYS_SENDTO,
                [
                    u as usize,
                    sa.as_ptr() as usize,
                    1,
                    0,
                    to.as_ptr() as usize,
                    4,
                ],
            ),
            so::EINVAL,
        );
        c.expect(
            "sendto negative length",
            raw(
                SYS_SENDTO,
                [
                    u as usize,
                    sa.as_ptr() as usize,
                    usize::MAX,
                    0,
                    to.as_ptr() as usize,
                    16,
                ],
            ),
            so::EINVAL,
        );
        c.expect("send unconnected udp", so::send(u, b"x"), so::EDESTADDRREQ);
        c.expect(
            "recv MSG_DONTWAIT",
            so::recvfrom(u, &mut buf, so::MSG_DONTWAIT),
            so::EAGAIN,
        );
        c.ok("SO_RCVTIMEO", so::set_rcvtimeo(u, 50));
        let t0 = so::uptime_us();
        c.expect("recv with timeout", so::recv(u, &mut buf), so::EAGAIN);
        c.check(
            "timeout took about 50 ms",
            (40_000..=1_000_000).contains(&(so::uptime_us() - t0)),
        );
        c.ok("nonblocking", so::set_nonblocking(u, true));
        c.ok("SO_RCVTIMEO off", so::set_rcvtimeo(u, 0));
        c.expect("recv nonblocking", so::recv(u, &mut buf), so::EAGAIN);
        c.expect("getpeername unconnected", so::getpeername(u), so::ENOTCONN);
        c.expect(
            "getsockname bad pointer",
            raw(SYS_GETSOCKNAME, [u as usize, BAD_PTR, BAD_PTR, 0, 0, 0]),
            so::EFAULT,
        );
        c.check("getsockname", so::getsockname(u) == Ok((0, 4000)));
        c.expect(
            "setsockopt unknown",
            raw(
                SYS_SETSOCKOPT,
                [
                    u as usize,
                    so::SOL_SOCKET as usize,
                    999,
                    sa.as_ptr() as usize,
                    4,
                    0,
                ],
            ),
            so::ENOPROTOOPT,
        );
        c.check("SO_ERROR fresh", so::so_error(u) == Ok(None));
        c.expect("shutdown how 7", so::shutdown(u, 7), so::EINVAL);
        c.expect("listen on udp", so::listen(u, 1), so::EOPNOTSUPP);
        c.expect("accept on udp", so::accept(u), so::EOPNOTSUPP);
    }
    if on(2) {
        // poll: a socket with nothing, a pipe, a closed descriptor, bad arguments.
        let mut p = [0i32; 2];
        pipe(&mut p);
        let mut fds = [
            so::PollFd {
                fd: u,
                events: so::POLLIN,
                revents: 0,
            },
            so::PollFd {
                fd: p[0],
                events: so::POLLIN | so::POLLOUT,
                revents: 0,
            },
            so::PollFd {
                fd: 15,
                events: so::POLLIN,
                revents: 0,
            },
            so::PollFd {
                fd: -1,
                events: so::POLLIN,
                revents: 0,
            },
        ];
        c.check("poll counts", so::poll(&mut fds, 0) == Ok(2));
        c.check("poll socket idle", fds[0].revents == 0);
        c.check("poll pipe read end", fds[1].revents == so::POLLIN);
        c.check("poll closed fd", fds[2].revents == so::POLLNVAL);
        c.check("poll negative fd", fds[3].revents == 0);
        c.expect(
            "poll too many",
            raw(SYS_POLL, [fds.as_ptr() as usize, 1000, 0, 0, 0, 0]),
            so::EINVAL,
        );
        c.expect(
            "poll bad pointer",
            raw(SYS_POLL, [BAD_PTR, 2, 0, 0, 0, 0]),
            so::EFAULT,
        );
        let mut one = [so::PollFd {
            fd: u,
            events: so::POLLIN,
            revents: 0,
        }];
        let t0 = so::uptime_us();
        c.check("poll timeout", so::poll(&mut one, 50) == Ok(0));
        c.check(
            "poll timeout took about 50 ms",
            (40_000..=1_000_000).contains(&(so::uptime_us() - t0)),
        );
        close(p[0]);
        close(p[1]);
    }
    if on(3) {
        // Descriptors that are not sockets, or not open.
        c.expect("bind on console", so::bind(0, (0, 1)), so::ENOTSOCK);
        c.expect("listen on fd 99", so::listen(99, 1), so::EBADF);
        c.expect("listen on fd -1", so::listen(-1, 1), so::EBADF);
        close(u);
        c.expect(
            "send after close",
            so::sendto(u, b"x", 0, Some((0x0a00_0202, 9))),
            so::EBADF,
        );
        c.expect("recv after close", so::recv(u, &mut buf), so::EBADF);
        c.check("read after close", read(u, &mut buf) < 0);
    }
    if on(4) {
        // TCP: listen without bind picks a port; connect states.
        if let Some(t) = c.ok("tcp socket", so::tcp_socket()) {
            c.expect("send unconnected tcp", so::send(t, b"x"), so::ENOTCONN);
            c.ok("listen without bind", so::listen(t, 2));
            let name = so::getsockname(t);
            c.check("listener got a port", matches!(name, Ok((_, p)) if p != 0));
            c.ok("nonblocking listener", so::set_nonblocking(t, true));
            c.expect("accept none waiting", so::accept(t), so::EAGAIN);
            close(t);
        }
    }

    if on(5) {
        // EMFILE: a process's descriptors run out before anything else.
        let mut open_fds = Vec::new();
        let last = loop {
            match so::udp_socket() {
                Ok(fd) => open_fds.push(fd),
                Err(e) => break e,
            }
            if open_fds.len() > NOFILE {
                break so::EINVAL;
            }
        };
        c.check("EMFILE after NOFILE descriptors", last == so::EMFILE);
        for fd in open_fds {
            close(fd);
        }
    }
    if on(6) {
        mmsg_bad(&mut c);
    }
    if c.failed == 0 {
        println!("socktest bad: OK");
        0
    } else {
        println!("socktest bad: FAILED ({} checks)", c.failed);
        1
    }
}

/// recvmmsg, sendmmsg and SO_RCVBUF: bad arguments, empty queues, timeouts, limits.
fn mmsg_bad(c: &mut Checker) {
    use abi::syscall::{SYS_RECVMMSG, SYS_SENDMMSG};
    let Some(u) = c.ok("mmsg udp socket", so::udp_socket()) else {
        return;
    };
    let fd = u as usize;
    let mut buf = [0u8; 16];
    let to = so::sockaddr((0x0a00_0202, 9));
    let msg = so::MMsg {
        buf: buf.as_mut_ptr() as u64,
        len: 16,
        result: 0,
        addr: to,
    };
    let mut msgs = [msg, msg];
    let p = msgs.as_mut_ptr() as usize;
    let forever = usize::MAX; // timeout -1
    for (name, num, timeout) in [
        ("recvmmsg", SYS_RECVMMSG, forever),
        ("sendmmsg", SYS_SENDMMSG, 0),
    ] {
        let call = |a: [usize; 3]| raw(num, [a[0], a[1], a[2], 0, timeout, 0]);
        c.expect(&format!("{name} on console"), call([0, p, 2]), so::ENOTSOCK);
        c.expect(&format!("{name} on fd 99"), call([99, p, 2]), so::EBADF);
        c.expect(&format!("{name} vlen 0"), call([fd, p, 0]), so::EINVAL);
        c.expect(
            &format!("{name} vlen too large"),
            call([fd, p, so::MMSG_MAX + 1]),
            so::EINVAL,
        );
        c.expect(
            &format!("{name} negative vlen"),
            call([fd, p, usize::MAX]),
            so::EINVAL,
        );
        c.expect(
            &format!("{name} bad pointer"),
            call([fd, BAD_PTR, 2]),
            so::EFAULT,
        );
    }
    let mut bad = [so::MMsg {
        buf: BAD_PTR as u64,
        ..msg
    }];
    let send1 = |m: &mut [so::MMsg]| raw(SYS_SENDMMSG, [fd, m.as_mut_ptr() as usize, 1, 0, 0, 0]);
    c.expect("sendmmsg bad buffer", send1(&mut bad), so::EFAULT);
    bad[0] = so::MMsg { len: 5000, ..msg };
    c.expect("sendmmsg too long", send1(&mut bad), so::EMSGSIZE);
    bad[0].len = 16;
    bad[0].addr.sin_family = 10;
    c.expect("sendmmsg AF_INET6", send1(&mut bad), so::EAFNOSUPPORT);
    bad[0].addr.sin_family = 0;
    c.expect("sendmmsg no peer", send1(&mut bad), so::EDESTADDRREQ);

    let recv = |flags: i32, timeout: i32| {
        raw(
            SYS_RECVMMSG,
            [fd, p, 2, flags as usize, timeout as usize, 0],
        )
    };
    c.expect(
        "recvmmsg MSG_DONTWAIT",
        recv(so::MSG_DONTWAIT, -1),
        so::EAGAIN,
    );
    c.expect("recvmmsg timeout 0", recv(0, 0), so::EAGAIN);
    let t0 = so::uptime_us();
    c.expect("recvmmsg timeout", recv(0, 50), so::EAGAIN);
    c.check(
        "recvmmsg timeout took about 50 ms",
        (40_000..=1_000_000).contains(&(so::uptime_us() - t0)),
    );
    let mut batch = so::Batch::new(4, 64);
    c.ok("SO_RCVTIMEO", so::set_rcvtimeo(u, 50));
    let t0 = so::uptime_us();
    c.expect("recvmmsg SO_RCVTIMEO", batch.recv(u, 0, -1), so::EAGAIN);
    c.check(
        "SO_RCVTIMEO took about 50 ms",
        (40_000..=1_000_000).contains(&(so::uptime_us() - t0)),
    );

    // SO_RCVBUF: 16 datagrams' worth by default, clamped, UDP only.
    c.check("SO_RCVBUF default", so::rcvbuf(u) == Ok(16 * 1472));
    c.ok("SO_RCVBUF 64 KiB", so::set_rcvbuf(u, 65536));
    c.check("SO_RCVBUF is 64 KiB", so::rcvbuf(u) == Ok(65536));
    c.ok("SO_RCVBUF 1", so::set_rcvbuf(u, 1));
    c.check(
        "SO_RCVBUF clamped up",
        so::rcvbuf(u) == Ok(so::RCVBUF_MIN as i32),
    );
    c.ok("SO_RCVBUF huge", so::set_rcvbuf(u, i32::MAX));
    c.check(
        "SO_RCVBUF clamped down",
        so::rcvbuf(u) == Ok(so::RCVBUF_MAX as i32),
    );
    c.expect("SO_RCVBUF negative", so::set_rcvbuf(u, -1), so::EINVAL);
    if let Some(t) = c.ok("mmsg tcp socket", so::tcp_socket()) {
        c.expect("SO_RCVBUF on tcp", so::set_rcvbuf(t, 65536), so::EOPNOTSUPP);
        c.expect(
            "recvmmsg on tcp",
            raw(SYS_RECVMMSG, [t as usize, p, 2, 0, 0, 0]),
            so::EOPNOTSUPP,
        );
        close(t);
    }
    close(u);
}

/// Looks (100 ms apart) for the heap to come back to its size before the cycles.
const HEAP_SETTLE_TRIES: usize = 50;

/// The kernel heap in use once the last closed connections have finished their FIN
/// handshakes (orphans free their buffers then): the same for 500 ms, or after 5 s.
fn settled_heap() -> usize {
    let mut last = heapused();
    let mut same = 0;
    for _ in 0..HEAP_SETTLE_TRIES {
        so::sleep_ms(100);
        let now = heapused();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 5 {
            break;
        }
    }
    last
}

fn cycles(ip: u32, port: u16, n: usize) -> i32 {
    // Each descriptor is closed whatever happens, so that a retry leaks nothing.
    let one = |i: usize| -> Result<(), Errno> {
        let fd = so::tcp_connect((ip, port))?;
        let r = if i.is_multiple_of(2) {
            so::send_all(fd, b"bye")
        } else {
            Ok(())
        };
        close(fd);
        r?;
        let u = so::udp_socket()?;
        let r = so::sendto(u, b"x", 0, Some((ip, port)));
        close(u);
        r?;
        let l = so::tcp_socket()?;
        let r = so::listen(l, 1);
        close(l);
        r
    };
    // Closed connections finish their FIN handshakes in the stack's orphan list, which
    // shares the TCP socket pool with the servers' listeners: when the pool is full
    // (ENOBUFS), wait for orphans to finish, a bounded number of times.
    let one = |i: usize| -> Result<(), Errno> {
        let mut tries = 0;
        loop {
            match one(i) {
                Err(so::ENOBUFS) if tries < 200 => {
                    tries += 1;
                    so::sleep_ms(20);
                }
                r => return r,
            }
        }
    };
    // A few first, so that whatever is allocated once is counted in both numbers.
    for i in 0..10 {
        if let Err(e) = one(i) {
            println!("socktest cycles: warm-up {}: {}", i, e);
            return 1;
        }
    }
    let before = (freemem(), settled_heap());
    for i in 0..n {
        if let Err(e) = one(i) {
            println!("socktest cycles: cycle {}: {}", i, e);
            return 1;
        }
    }
    let pages_after = freemem();
    let mut heap_after = settled_heap();
    for _ in 0..HEAP_SETTLE_TRIES {
        if heap_after == before.1 {
            break;
        }
        so::sleep_ms(100);
        heap_after = heapused();
    }
    let after = (pages_after, heap_after);
    println!(
        "socktest cycles: {} cycles, free pages {} before, {} after",
        n, before.0, after.0
    );
    println!(
        "socktest cycles: kernel heap {} bytes in use before, {} after",
        before.1, after.1
    );
    if before.0 != after.0 {
        println!("socktest cycles: FAILED (pages leaked)");
        1
    } else if before.1 != after.1 {
        println!("socktest cycles: FAILED (kernel heap leaked)");
        1
    } else {
        println!("socktest cycles: OK");
        0
    }
}

fn tx(ip: u32, port: u16, bytes: usize) -> i32 {
    let fd = match so::tcp_connect((ip, port)) {
        Ok(fd) => fd,
        Err(e) => {
            println!("socktest tx: connect: {}", e);
            return 1;
        }
    };
    let mut buf = vec![0u8; 4096];
    let mut sum = Fnv::new();
    let mut off = 0;
    while off < bytes {
        let n = (bytes - off).min(buf.len());
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(off + j);
        }
        sum.add(&buf[..n]);
        if let Err(e) = so::send_all(fd, &buf[..n]) {
            println!("socktest tx: send at {}: {}", off, e);
            return 1;
        }
        off += n;
    }
    close(fd);
    println!("socktest tx: sent {} sum {:08x}", bytes, sum.0);
    0
}

fn sink(port: u16) -> i32 {
    let l = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 1).map(|_| fd))
    {
        Ok(l) => l,
        Err(e) => {
            println!("socktest sink: {}", e);
            return 1;
        }
    };
    println!("socktest sink: listening on {}", port);
    let (fd, _) = match so::accept(l) {
        Ok(c) => c,
        Err(e) => {
            println!("socktest sink: accept: {}", e);
            return 1;
        }
    };
    close(l);
    let mut buf = vec![0u8; 4096];
    let mut sum = Fnv::new();
    let mut total = 0usize;
    loop {
        match so::recv(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                sum.add(&buf[..n]);
                total += n;
            }
            Err(e) => {
                println!("socktest sink: recv after {}: {}", total, e);
                return 1;
            }
        }
    }
    let line = format!("received {} sum {:08x}\n", total, sum.0);
    let _ = so::send_all(fd, line.as_bytes());
    close(fd);
    print!("socktest sink: {}", line);
    0
}

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

fn sum(path: &str) -> i32 {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        println!("socktest sum: cannot open {}", path);
        return 1;
    }
    let mut buf = vec![0u8; 4096];
    let mut s = Fnv::new();
    let mut total = 0;
    loop {
        let n = read(fd, &mut buf);
        if n <= 0 {
            break;
        }
        s.add(&buf[..n as usize]);
        total += n as usize;
    }
    close(fd);
    println!("socktest sum: {} bytes sum {:08x}", total, s.0);
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
        ["bad"] => bad(0),
        ["bad", p] => bad(num(p) as u32),
        ["cycles", a, p, n] => cycles(ip(a), num(p) as u16, num(n)),
        ["tx", a, p, n] => tx(ip(a), num(p) as u16, num(n)),
        ["sink", p] => sink(num(p) as u16),
        ["reset", a, p] => reset(ip(a), num(p) as u16),
        ["sum", f] => sum(f),
        ["status", prog, ..] => status(prog, &args[2..]),
        _ => {
            eprintln!(
                "usage: socktest bad | cycles IP PORT N | tx IP PORT BYTES | sink PORT | reset IP PORT | sum FILE | status PROG [ARGS...]"
            );
            2
        }
    }
}
