//! The network system calls: the MIT net lab's UDP ports (`bind`, `unbind`, `send`,
//! `recv`; 2024), its older connected sockets (`connect`; 2020–2023), and xv6net's
//! `nettrace` and `netstat`; plus IPv4 text and the lab's DNS formats ([`wire`]).
//!
//! Addresses are IPv4 in host byte order (10.0.2.2 is `0x0A00_0202`), as in the
//! lab's `user.h`. [`raw`] has the calls with their C signatures; the safe
//! wrappers here take slices and are re-exported at the crate root.

pub mod wire;

pub use abi::net::NetStat;
pub use wire::{Ipv4, looks_like_ipv4, parse_endpoint, parse_ipv4, parse_port};

/// The address of the host (its 127.0.0.1) as QEMU's user network shows it to the guest.
pub const HOST_ADDR: u32 = 0x0A00_0202;

/// The network calls with the lab's exact C signatures.
pub mod raw {
    use crate::sys::syscall;
    use abi::syscall::*;

    /// A call whose arguments are plain numbers.
    fn call(num: usize, a0: usize, a1: usize, a2: usize) -> i32 {
        // SAFETY: no argument is a pointer, so the kernel touches no user memory.
        unsafe { syscall(num, a0, a1, a2, 0, 0, 0) as i32 }
    }

    /// `int bind(uint16 port)`
    pub fn bind(port: u16) -> i32 {
        call(SYS_BIND, port as usize, 0, 0)
    }

    /// `int unbind(uint16 port)`
    pub fn unbind(port: u16) -> i32 {
        call(SYS_UNBIND, port as usize, 0, 0)
    }

    /// `int send(uint16 sport, uint32 dst, uint16 dport, char *buf, uint32 len)`
    ///
    /// # Safety
    /// `buf` is valid for `len` bytes of reads.
    pub unsafe fn send(sport: u16, dst: u32, dport: u16, buf: *const u8, len: u32) -> i32 {
        // SAFETY: see # Safety.
        unsafe {
            syscall(
                SYS_SEND,
                sport as usize,
                dst as usize,
                dport as usize,
                buf as usize,
                len as usize,
                0,
            ) as i32
        }
    }

    /// `int recv(uint16 dport, uint32 *src, uint16 *sport, char *buf, uint32 maxlen)`
    ///
    /// # Safety
    /// `src` and `sport` are valid for one write each; `buf` for `maxlen` bytes of writes.
    pub unsafe fn recv(
        dport: u16,
        src: *mut u32,
        sport: *mut u16,
        buf: *mut u8,
        maxlen: u32,
    ) -> i32 {
        // SAFETY: see # Safety.
        unsafe {
            syscall(
                SYS_RECV,
                dport as usize,
                src as usize,
                sport as usize,
                buf as usize,
                maxlen as usize,
                0,
            ) as i32
        }
    }

    /// `int connect(uint32 raddr, uint16 lport, uint16 rport)`: a socket file descriptor.
    pub fn connect(raddr: u32, lport: u16, rport: u16) -> i32 {
        call(SYS_CONNECT, raddr as usize, lport as usize, rport as usize)
    }

    /// `int nettrace(int on)`
    pub fn nettrace(on: i32) -> i32 {
        call(SYS_NETTRACE, on as usize, 0, 0)
    }

    /// `int netstat(struct netstat *st)`
    ///
    /// # Safety
    /// `st` is valid for `abi::net::NetStat::SIZE` bytes of writes.
    pub unsafe fn netstat(st: *mut u8) -> i32 {
        // SAFETY: see # Safety.
        unsafe { syscall(SYS_NETSTAT, st as usize, 0, 0, 0, 0, 0) as i32 }
    }
}

/// Starts queueing the UDP datagrams that arrive for `port` (at most 16; more are dropped).
pub fn bind(port: u16) -> i32 {
    raw::bind(port)
}

/// Stops receiving on `port`; what it queued is dropped.
pub fn unbind(port: u16) -> i32 {
    raw::unbind(port)
}

/// Sends `buf` as one UDP datagram from local port `sport` (bound or not) to `dst:dport`.
pub fn send(sport: u16, dst: u32, dport: u16, buf: &[u8]) -> i32 {
    let len = buf.len().min(u32::MAX as usize) as u32;
    // SAFETY: the kernel reads at most `len` bytes of `buf`.
    unsafe { raw::send(sport, dst, dport, buf.as_ptr(), len) }
}

/// Waits for the oldest datagram queued on bound port `dport`, copies what fits of
/// it into `buf` and sets its source. Returns the number of bytes copied, or -1.
pub fn recv(dport: u16, src: &mut u32, sport: &mut u16, buf: &mut [u8]) -> i32 {
    let len = buf.len().min(u32::MAX as usize) as u32;
    // SAFETY: the pointers come from live references; the kernel writes at most
    // `len` bytes into `buf`.
    unsafe { raw::recv(dport, src, sport, buf.as_mut_ptr(), len) }
}

/// A UDP socket to `raddr:rport` from local port `lport`, as a file descriptor
/// (`write` sends one datagram, `read` returns the next one); -1 on error.
pub fn connect(raddr: u32, lport: u16, rport: u16) -> i32 {
    raw::connect(raddr, lport, rport)
}

/// Turns the kernel's per-packet console trace on or off.
pub fn nettrace(on: bool) -> i32 {
    raw::nettrace(on as i32)
}

/// The network card's and the stack's counters, or None without a network card.
pub fn netstat() -> Option<NetStat> {
    let mut buf = [0u8; NetStat::SIZE];
    // SAFETY: `buf` holds NetStat::SIZE bytes.
    if unsafe { raw::netstat(buf.as_mut_ptr()) } < 0 {
        return None;
    }
    Some(NetStat::from_bytes(&buf))
}
