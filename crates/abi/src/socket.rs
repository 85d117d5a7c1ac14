//! BSD socket constants and `struct sockaddr_in`, with Linux's numbers and layout.
//!
//! `socket(AF_INET, SOCK_STREAM, 0)` is TCP, `socket(AF_INET, SOCK_DGRAM, 0)` UDP and
//! `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` an ICMP echo ("ping") socket as on
//! Linux: the program sends echo requests and receives the replies whose identifier
//! is the socket's, which the kernel chooses (or `bind` sets as the port).

use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::{EAFNOSUPPORT, EINVAL, Errno};

/// The IPv4 address family, the only one.
pub const AF_INET: u16 = 2;

/// Socket types.
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;

/// Protocols (0 picks the type's default: TCP for streams, UDP for datagrams).
pub const IPPROTO_IP: i32 = 0;
pub const IPPROTO_ICMP: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const IPPROTO_UDP: i32 = 17;

/// `shutdown(fd, how)`.
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;

/// Socket options: `SOL_SOCKET` level, `SO_ERROR` (the pending error, cleared when read)
/// and `SO_RCVTIMEO` (receive timeout). In xv6net `SO_RCVTIMEO`'s value is a `u32` of
/// milliseconds (not Linux's `struct timeval`); 0 means wait forever. It bounds
/// `recv`/`recvfrom`/`read`/`accept` and a blocking `connect`; a timed-out call fails with
/// `EAGAIN`.
pub const SOL_SOCKET: i32 = 1;
pub const SO_ERROR: i32 = 4;
/// `SO_KEEPALIVE` (an `i32`, non-zero = on): probe a TCP connection that stays idle and
/// drop it (`ETIMEDOUT`) when the peer is gone. Off by default: an idle connection then
/// lives for ever, as on Linux. Timeouts: docs/tcp.md.
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_RCVTIMEO: i32 = 20;
/// `SO_RCVBUF` (an `i32` of bytes), UDP sockets only: the receive queue's capacity. Each
/// queued datagram counts as a full frame's payload (1472 bytes) whatever its size, so
/// the socket queues `value / 1472` datagrams. Clamped to
/// [`RCVBUF_MIN`]..=[`RCVBUF_MAX`]; `getsockopt` returns the value in force, by default
/// 16 datagrams' worth (the lab's ports always queue 16). The kernel bounds what all
/// sockets together may set (`ENOBUFS` beyond).
pub const SO_RCVBUF: i32 = 8;
pub const RCVBUF_MIN: usize = 4 << 10;
pub const RCVBUF_MAX: usize = 256 << 10;
/// `IPPROTO_TCP` level: `TCP_NODELAY` (an `i32`, non-zero = on) sends small segments at
/// once instead of holding them until earlier data is acknowledged (Nagle's algorithm).
pub const TCP_NODELAY: i32 = 1;

/// `fcntl` commands and the one flag they handle (Linux's numbers).
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
pub const O_NONBLOCK: i32 = 0x800;

/// `send`/`recv` flag: this call does not block, whatever the socket's mode.
pub const MSG_DONTWAIT: i32 = 0x40;

/// `poll` events (`struct pollfd.events`/`revents`).
pub const POLLIN: i16 = 0x001;
pub const POLLOUT: i16 = 0x004;
pub const POLLERR: i16 = 0x008;
pub const POLLHUP: i16 = 0x010;
/// The descriptor is not open.
pub const POLLNVAL: i16 = 0x020;

/// `struct pollfd`: 8 bytes, C layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: i32,
    /// What the caller waits for.
    pub events: i16,
    /// What happened; `POLLERR`, `POLLHUP` and `POLLNVAL` are reported even unasked.
    pub revents: i16,
}

impl PollFd {
    pub const SIZE: usize = 8;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.fd.to_le_bytes());
        b[4..6].copy_from_slice(&self.events.to_le_bytes());
        b[6..8].copy_from_slice(&self.revents.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> PollFd {
        PollFd {
            fd: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            events: i16::from_le_bytes([b[4], b[5]]),
            revents: i16::from_le_bytes([b[6], b[7]]),
        }
    }
}

/// Most messages one `recvmmsg` or `sendmmsg` takes (`vlen`); more is `EINVAL`.
pub const MMSG_MAX: usize = 64;

/// `struct mmsg`, one message of `recvmmsg`/`sendmmsg`: 32 bytes, C layout. Simpler than
/// Linux's `struct mmsghdr`: one buffer per message, the address inline.
///
/// ```c
/// struct mmsg {
///     void *buf;               // 0: the datagram's bytes
///     uint32 len;              // 8: room in buf (recvmmsg), bytes to send (sendmmsg)
///     uint32 result;           // 12: set by the kernel: bytes received (at most len) or sent
///     struct sockaddr_in addr; // 16: recvmmsg: the source; sendmmsg: the destination,
///                              //     or family 0 for a connected socket's peer
/// };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MMsg {
    pub buf: u64,
    pub len: u32,
    pub result: u32,
    pub addr: SockaddrIn,
}

impl MMsg {
    pub const SIZE: usize = 32;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.buf.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..16].copy_from_slice(&self.result.to_le_bytes());
        b[16..32].copy_from_slice(&self.addr.to_bytes());
        b
    }

    /// Reads one message; the address is kept as the user wrote it (see
    /// [`MMsg::destination`]).
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> MMsg {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut buf = [0u8; 8];
        buf.copy_from_slice(&b[0..8]);
        MMsg {
            buf: u64::from_le_bytes(buf),
            len: word(8),
            result: word(12),
            addr: SockaddrIn {
                sin_family: u16::from_le_bytes([b[16], b[17]]),
                sin_port: [b[18], b[19]],
                sin_addr: [b[20], b[21], b[22], b[23]],
                sin_zero: [0; 8],
            },
        }
    }

    /// Where `sendmmsg` sends this message: `None` (family 0) for the connected peer.
    pub fn destination(&self) -> Result<Option<SocketAddrV4>, Errno> {
        match self.addr.sin_family {
            0 => Ok(None),
            _ => SockaddrIn::from_bytes(&self.addr.to_bytes()).map(|a| Some(a.into())),
        }
    }
}

/// `struct sockaddr_in`: 16 bytes, C layout. The port and address are kept in network
/// byte order, as in C; [`SockaddrIn::new`] and [`SockaddrIn::port`] convert.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockaddrIn {
    /// [`AF_INET`], little-endian like every other integer of the ABI.
    pub sin_family: u16,
    /// The port, big-endian.
    pub sin_port: [u8; 2],
    /// The IPv4 address, network order (10.0.2.15 is `[10, 0, 2, 15]`).
    pub sin_addr: [u8; 4],
    pub sin_zero: [u8; 8],
}

impl SockaddrIn {
    pub const SIZE: usize = 16;

    /// `addr:port` with the port in host order.
    pub const fn new(addr: [u8; 4], port: u16) -> SockaddrIn {
        SockaddrIn {
            sin_family: AF_INET,
            sin_port: port.to_be_bytes(),
            sin_addr: addr,
            sin_zero: [0; 8],
        }
    }

    /// The port in host order.
    pub const fn port(&self) -> u16 {
        u16::from_be_bytes(self.sin_port)
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.sin_family.to_le_bytes());
        b[2..4].copy_from_slice(&self.sin_port);
        b[4..8].copy_from_slice(&self.sin_addr);
        b[8..16].copy_from_slice(&self.sin_zero);
        b
    }

    /// Reads a user's `sockaddr` of `b.len()` bytes (its `addrlen`): at least 16,
    /// family `AF_INET`. The padding is not checked, as on Linux.
    pub fn from_bytes(b: &[u8]) -> Result<SockaddrIn, Errno> {
        if b.len() < Self::SIZE {
            return Err(EINVAL);
        }
        let family = u16::from_le_bytes([b[0], b[1]]);
        if family != AF_INET {
            return Err(EAFNOSUPPORT);
        }
        Ok(SockaddrIn::new(
            [b[4], b[5], b[6], b[7]],
            u16::from_be_bytes([b[2], b[3]]),
        ))
    }
}

impl From<SocketAddrV4> for SockaddrIn {
    fn from(a: SocketAddrV4) -> SockaddrIn {
        SockaddrIn::new(a.ip().octets(), a.port())
    }
}

impl From<SockaddrIn> for SocketAddrV4 {
    fn from(a: SockaddrIn) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a.sin_addr), a.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::{EAFNOSUPPORT, EINVAL};
    use core::mem::{offset_of, size_of};

    #[test]
    fn sockaddr_in_matches_linux() {
        assert_eq!(size_of::<SockaddrIn>(), 16);
        assert_eq!(offset_of!(SockaddrIn, sin_port), 2);
        assert_eq!(offset_of!(SockaddrIn, sin_addr), 4);
        // 10.0.2.15:2000 as a C program on riscv64 lays it out.
        let bytes = [2, 0, 0x07, 0xd0, 10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 0, 0];
        let a = SockaddrIn::new([10, 0, 2, 15], 2000);
        assert_eq!(a.to_bytes(), bytes);
        assert_eq!(SockaddrIn::from_bytes(&bytes), Ok(a));
        assert_eq!(a.port(), 2000);
        let v4 = SocketAddrV4::from(a);
        assert_eq!(v4, "10.0.2.15:2000".parse().unwrap());
        assert_eq!(SockaddrIn::from(v4), a);
    }

    #[test]
    fn sockaddr_in_rejects_short_and_foreign() {
        let mut bytes = SockaddrIn::new([1, 2, 3, 4], 5).to_bytes();
        assert_eq!(SockaddrIn::from_bytes(&bytes[..15]), Err(EINVAL));
        bytes[0] = 10; // AF_INET6
        assert_eq!(SockaddrIn::from_bytes(&bytes), Err(EAFNOSUPPORT));
    }

    #[test]
    fn mmsg_layout() {
        assert_eq!(size_of::<MMsg>(), MMsg::SIZE);
        assert_eq!(offset_of!(MMsg, len), 8);
        assert_eq!(offset_of!(MMsg, result), 12);
        assert_eq!(offset_of!(MMsg, addr), 16);
        let m = MMsg {
            buf: 0x1234_5678,
            len: 2048,
            result: 64,
            addr: SockaddrIn::new([10, 0, 2, 2], 2000),
        };
        let b = m.to_bytes();
        assert_eq!(b[0..8], [0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
        assert_eq!(b[8..16], [0, 8, 0, 0, 64, 0, 0, 0]);
        assert_eq!(b[16..24], [2, 0, 0x07, 0xd0, 10, 0, 2, 2]);
        assert_eq!(MMsg::from_bytes(&b), m);
        assert_eq!(m.destination(), Ok(Some("10.0.2.2:2000".parse().unwrap())));
        let mut peer = b;
        peer[16] = 0;
        assert_eq!(MMsg::from_bytes(&peer).destination(), Ok(None));
        peer[16] = 10;
        assert_eq!(MMsg::from_bytes(&peer).destination(), Err(EAFNOSUPPORT));
    }

    #[test]
    fn pollfd_matches_linux() {
        assert_eq!(size_of::<PollFd>(), PollFd::SIZE);
        assert_eq!(offset_of!(PollFd, revents), 6);
        let p = PollFd {
            fd: 3,
            events: POLLIN | POLLOUT,
            revents: POLLHUP,
        };
        assert_eq!(p.to_bytes(), [3, 0, 0, 0, 5, 0, 0x10, 0]);
        assert_eq!(PollFd::from_bytes(&p.to_bytes()), p);
    }
}
