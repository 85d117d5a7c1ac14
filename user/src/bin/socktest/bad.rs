//! `socktest bad [PART]`: bad socket-layer input gets the right errno, never a panic.
//! Parts 1..=5 are here (UDP calls, poll, descriptors, TCP, EMFILE); part 6 is
//! `mmsg.rs`.

use ulib::socket as so;
use ulib::*;

use crate::check::{BAD_PTR, Checker, raw};
use crate::mmsg::mmsg_bad;

pub fn bad(part: u32) -> i32 {
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
