//! `socktest bad 6`: recvmmsg, sendmmsg and SO_RCVBUF with bad arguments, empty
//! queues, timeouts and out-of-range sizes.

use ulib::socket as so;
use ulib::*;

use crate::check::{BAD_PTR, Checker, raw};

/// recvmmsg, sendmmsg and SO_RCVBUF: bad arguments, empty queues, timeouts, limits.
pub fn mmsg_bad(c: &mut Checker) {
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
