//! nc: netcat. `nc [-u] [-w SEC] HOST PORT` connects; `nc -l [-u] [-w SEC] PORT` waits
//! for one peer (TCP: one connection; UDP: the first datagram's sender). Then standard
//! input goes to the peer and what the peer sends goes to standard output, until the
//! peer closes (TCP), or, with `-w`, nothing arrives for SEC seconds (how a UDP session,
//! which has no end, finishes in a script). A child process copies input (the console
//! cannot be polled: its reads block), the parent copies output.
#![no_std]
#![no_main]

use ulib::net::parse_port;
use ulib::socket as so;
use ulib::*;

fn usage() -> i32 {
    eprintln!("usage: nc [-u] [-w SEC] HOST PORT | nc -l [-u] [-w SEC] PORT");
    2
}

/// Copies standard input to the socket; at its end, a TCP peer sees FIN.
fn pump_input(fd: i32, udp: bool) {
    let mut buf = vec![0u8; 1024];
    loop {
        let n = read(0, &mut buf);
        if n <= 0 {
            break;
        }
        if so::send_all(fd, &buf[..n as usize]).is_err() {
            break;
        }
    }
    if !udp {
        let _ = so::shutdown(fd, so::SHUT_WR);
    }
}

/// A connected socket, ready to copy.
struct Session {
    fd: i32,
    udp: bool,
    /// The idle timeout (`-w`) in ms; 0 waits for ever.
    wait_ms: u32,
    /// A UDP listener's first datagram, already received.
    first: Option<Vec<u8>>,
}

/// The session, or the exit status.
fn setup(args: &[&str]) -> Result<Session, i32> {
    let mut udp = false;
    let mut listen = false;
    let mut wait_ms = 0u32;
    let mut rest = Vec::new();
    let mut it = args[1..].iter();
    while let Some(&a) = it.next() {
        match a {
            "-u" => udp = true,
            "-l" => listen = true,
            "-lu" | "-ul" => (udp, listen) = (true, true),
            "-w" => match it.next().and_then(|s| s.parse::<u32>().ok()) {
                Some(sec @ 1..=86400) => wait_ms = sec * 1000,
                _ => return Err(usage()),
            },
            a if a.starts_with('-') => return Err(usage()),
            a => rest.push(a),
        }
    }
    let open = || {
        if udp {
            so::udp_socket()
        } else {
            so::tcp_socket()
        }
    };
    let fail = |what: &str, e: so::Errno| {
        eprintln!("nc: {}: {}", what, e);
        1
    };
    if listen {
        let [port] = rest[..] else {
            return Err(usage());
        };
        let Some(port) = parse_port(port) else {
            eprintln!("nc: invalid port {}", port);
            return Err(2);
        };
        let fd = open().map_err(|e| fail("socket", e))?;
        so::bind(fd, (0, port)).map_err(|e| fail("bind", e))?;
        if udp {
            // The first datagram names the peer; it is printed like the rest.
            let mut first = vec![0u8; 2048];
            let (n, from) = so::recvfrom(fd, &mut first, 0).map_err(|e| fail("recv", e))?;
            so::connect(fd, from).map_err(|e| fail("connect", e))?;
            first.truncate(n);
            return Ok(Session {
                fd,
                udp,
                wait_ms,
                first: Some(first),
            });
        }
        so::listen(fd, 1).map_err(|e| fail("listen", e))?;
        let (conn, _) = so::accept(fd).map_err(|e| fail("accept", e))?;
        close(fd);
        Ok(Session {
            fd: conn,
            udp,
            wait_ms,
            first: None,
        })
    } else {
        let [host, port] = rest[..] else {
            return Err(usage());
        };
        let Some(port) = parse_port(port) else {
            eprintln!("nc: invalid port {}", port);
            return Err(2);
        };
        let ip = so::lookup(host, None).map_err(|e| {
            eprintln!("nc: {}", e);
            1
        })?;
        let fd = open().map_err(|e| fail("socket", e))?;
        so::connect(fd, (ip, port)).map_err(|e| fail("connect", e))?;
        Ok(Session {
            fd,
            udp,
            wait_ms,
            first: None,
        })
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let Session {
        fd,
        udp,
        wait_ms,
        first,
    } = match setup(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(first) = first {
        write_all(1, &first);
    }
    if wait_ms != 0
        && let Err(e) = so::set_rcvtimeo(fd, wait_ms)
    {
        eprintln!("nc: -w: {}", e);
        return 1;
    }
    let child = fork();
    if child == 0 {
        pump_input(fd, udp);
        exit(0);
    }
    let mut buf = vec![0u8; 2048];
    let mut status = 0;
    loop {
        match so::recv(fd, &mut buf) {
            Ok(0) if !udp => break,
            Ok(n) => {
                write_all(1, &buf[..n]);
            }
            // -w: the peer has been quiet for that long; the session is over.
            Err(so::EAGAIN) if wait_ms != 0 => break,
            Err(e) => {
                eprintln!("nc: {}", e);
                status = 1;
                break;
            }
        }
    }
    if child > 0 {
        kill(child);
        wait(None);
    }
    close(fd);
    status
}
