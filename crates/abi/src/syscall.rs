//! System call numbers. The number goes in a7, arguments in a0..a5, the result in a0
//! (-1 on error). 1..=21 are xv6-riscv's; 22..=28 belong to other MIT labs and stay
//! free; 29..=32 are the 2024 net lab's; xv6net's own calls start at 40. The BSD socket
//! calls (50..=63, and the batched datagram calls 65 and 66) differ in one way: they fail
//! with -errno (`abi::errno`), not -1.

pub const SYS_FORK: usize = 1;
pub const SYS_EXIT: usize = 2;
pub const SYS_WAIT: usize = 3;
pub const SYS_PIPE: usize = 4;
pub const SYS_READ: usize = 5;
pub const SYS_KILL: usize = 6;
pub const SYS_EXEC: usize = 7;
pub const SYS_FSTAT: usize = 8;
pub const SYS_CHDIR: usize = 9;
pub const SYS_DUP: usize = 10;
pub const SYS_GETPID: usize = 11;
pub const SYS_SBRK: usize = 12;
pub const SYS_SLEEP: usize = 13;
pub const SYS_UPTIME: usize = 14;
pub const SYS_OPEN: usize = 15;
pub const SYS_WRITE: usize = 16;
pub const SYS_MKNOD: usize = 17;
pub const SYS_UNLINK: usize = 18;
pub const SYS_LINK: usize = 19;
pub const SYS_MKDIR: usize = 20;
pub const SYS_CLOSE: usize = 21;

// MIT 6.1810 (2024) net lab.
pub const SYS_BIND: usize = 29;
pub const SYS_UNBIND: usize = 30;
pub const SYS_SEND: usize = 31;
pub const SYS_RECV: usize = 32;

// xv6net's own calls.
/// `halt(status)`: power the machine off; QEMU exits with `status`.
pub const SYS_HALT: usize = 40;
/// `freemem()`: number of free physical pages (for leak checks and `free`).
pub const SYS_FREEMEM: usize = 41;
/// `connect(raddr, lport, rport)`: the 2020–2023 lab's UDP socket as a file descriptor
/// (its old number 29 now belongs to `bind`).
pub const SYS_CONNECT: usize = 42;
/// `nettrace(on)`: print one line per layer per packet on the console (1 on, 0 off).
pub const SYS_NETTRACE: usize = 43;
/// `netstat(struct netstat *)`: copy the network counters out (see `abi::net::NetStat`).
pub const SYS_NETSTAT: usize = 44;
/// `heapused()`: bytes of the kernel heap in use (sockets, buffers, open files), for leak
/// checks and `free`; page counts miss what the heap holds.
pub const SYS_HEAPUSED: usize = 45;

// BSD sockets (xv6net). Unlike the calls above, these return -errno on failure
// (`abi::errno`), never -1 alone; read/write/close/dup work on socket descriptors too.
/// `socket(domain, type, protocol)` -> fd.
pub const SYS_SOCKET: usize = 50;
/// `bind(fd, struct sockaddr_in *, addrlen)`.
pub const SYS_SOCKBIND: usize = 51;
/// `listen(fd, backlog)`.
pub const SYS_LISTEN: usize = 52;
/// `accept(fd, struct sockaddr_in *or null, int *addrlen or null)` -> fd.
pub const SYS_ACCEPT: usize = 53;
/// `connect(fd, struct sockaddr_in *, addrlen)`.
pub const SYS_SOCKCONNECT: usize = 54;
/// `sendto(fd, buf, len, flags, struct sockaddr_in *or null, addrlen)` -> bytes sent.
pub const SYS_SENDTO: usize = 55;
/// `recvfrom(fd, buf, len, flags, struct sockaddr_in *or null, int *addrlen or null)`.
pub const SYS_RECVFROM: usize = 56;
/// `shutdown(fd, how)`.
pub const SYS_SHUTDOWN: usize = 57;
/// `getsockname(fd, struct sockaddr_in *, int *addrlen)`.
pub const SYS_GETSOCKNAME: usize = 58;
/// `getpeername(fd, struct sockaddr_in *, int *addrlen)`.
pub const SYS_GETPEERNAME: usize = 59;
/// `setsockopt(fd, level, name, value *, len)`.
pub const SYS_SETSOCKOPT: usize = 60;
/// `getsockopt(fd, level, name, value *, int *len)`.
pub const SYS_GETSOCKOPT: usize = 61;
/// `fcntl(fd, cmd, arg)`: only `F_GETFL` / `F_SETFL` with `O_NONBLOCK` (abi::socket).
pub const SYS_FCNTL: usize = 62;
/// `poll(struct pollfd *, nfds, timeout_ms)` -> number of fds with events (-1 timeout:
/// forever). Non-socket descriptors are always ready for what they were opened for.
pub const SYS_POLL: usize = 63;
/// `uptime_us()`: microseconds since boot, for round-trip times finer than a tick.
pub const SYS_UPTIME_US: usize = 64;
/// `recvmmsg(fd, struct mmsg *, vlen, flags, timeout_ms)` -> datagrams received: waits for
/// one (as `recvfrom` would; `timeout_ms` >= 0 bounds that wait too, -1 leaves it to the
/// socket), then takes every datagram queued, up to `vlen` (1..=`abi::socket::MMSG_MAX`).
/// Datagram sockets only. See `abi::socket::MMsg`.
pub const SYS_RECVMMSG: usize = 65;
/// `sendmmsg(fd, struct mmsg *, vlen, flags)` -> datagrams queued: sends in order until one
/// cannot be queued; waits (blocking socket) only if not even the first could be.
pub const SYS_SENDMMSG: usize = 66;
