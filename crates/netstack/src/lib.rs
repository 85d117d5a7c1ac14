//! xv6net's network stack: smoltcp 0.14 behind a small driver interface and the
//! socket operations the kernel's network syscalls map onto.
//!
//! Follow one UDP datagram from the wire to `recv()`:
//!
//! 1. [`device`]: the NIC driver implements [`NetDevice`]; its
//!    [`RxRing::receive`] lends a filled RX buffer slot, without copying.
//! 2. [`stack`]: [`NetStack::poll`] counts and traces the frame, then
//!    `classify` (in `classify.rs`) checks it with smoltcp's wire parsers:
//!    well formed, for this host, UDP to some port.
//! 3. [`socket`]: admission (`SocketTable::admit_udp`, in `table.rs`) picks the
//!    socket bound to that port and reserves a place in its 16-datagram queue,
//!    or drops and counts the frame.
//! 4. `phy.rs`: smoltcp's `Interface` reads the same slot through the `Phy`
//!    adapter and copies the payload into that socket's receive buffer.
//! 5. [`lab`]: the kernel's `recv` syscall calls [`NetStack::try_recv`], which
//!    copies the oldest datagram out, or says [`Error::WouldBlock`].
//!
//! Sending goes the other way: [`NetStack::send`] queues the datagram in a
//! socket, and the next `poll` has smoltcp resolve the neighbor (ARP) and write
//! the frame straight into a TX slot lent by [`TxRing::transmit`].
//!
//! Beside the lab's ports, [`bsd`] offers BSD sockets (TCP in `tcp.rs` over the
//! pool of smoltcp sockets in `tcp_pool.rs`, UDP and ICMP echo in `dgram.rs`),
//! [`dhcp`] a DHCP client, and [`bootargs`] the static address from the kernel
//! command line. Names are resolved in user space, over a UDP socket.
//!
//! The files form layers, each using only those below it:
//!
//! ```text
//! lab.rs            the net lab's calls, as methods of NetStack
//! stack.rs          NetStack: the device, the interface, poll (ingress, egress)
//!   stack/arp.rs    poll's neighbour hooks: ARP in and out, what waits for a next hop
//!   stack/tcp_in.rs poll's TCP admission: busy backlogs, blind segments, waiting SYNs
//! bsd.rs            the BSD calls: the rules that span a socket's kind
//! socket.rs         Sockets: what every kind shares (open, close, readiness, ports)
//! table.rs          the slots, and which socket an arriving datagram is for
//! tcp.rs dgram.rs   one socket of a kind
//! tcp_pool.rs syn_wait.rs neighbor.rs dhcp.rs phy.rs classify.rs trace.rs readiness.rs ...
//! ```
//!
//! Beside the layers, [`napi`] is the kernel's interrupt / busy-polling state machine
//! (pure, so that it is tested here), and [`echo`] the benchmark's device echo.
//!
//! The crate is `no_std` with `alloc` and holds no `unsafe`; every part runs in
//! `cargo test` on the host, two stacks talking over an in-memory link.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod blind;
pub mod bootargs;
pub mod bsd;
mod classify;
mod counters;
pub mod device;
mod dgram;
pub mod dhcp;
pub mod echo;
#[cfg(test)]
mod fixtures;
pub mod lab;
pub mod napi;
mod neighbor;
mod phy;
mod readiness;
pub mod socket;
pub mod stack;
mod syn_wait;
mod table;
mod tcp;
mod tcp_pool;
pub mod trace;

use core::fmt;

pub use abi::errno::Errno;
pub use bootargs::{AddrError, BadArg};
pub use bsd::{Bsd, Shutdown, SockKind};
pub use counters::{Counters, DropReason, Drops};
pub use device::{NetDevice, RxRing, TxRing};
pub use dhcp::Lease;
pub use phy::Tracer;
pub use readiness::Readiness;
pub use socket::{MAX_SOCKETS, QUEUE_LEN, RCVBUF_TOTAL, SocketId, SocketMask};
pub use stack::{Config, NetStack, PollResult, RX_BUDGET, SocketCounts};
pub use tcp_pool::SocketLimits;

/// Why a socket operation did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing to receive yet, or no room to send yet: sleep, then retry.
    WouldBlock,
    /// The port has no `bind`.
    NotBound,
    /// The local port is already used by another socket.
    AddrInUse,
    /// All [`MAX_SOCKETS`] sockets are open.
    NoSpace,
    /// The payload does not fit in one frame (the MTU less 28 header bytes).
    TooBig,
    /// Port 0 or address 0.0.0.0.
    Invalid,
    /// The id names no open socket of the kind the operation needs.
    BadSocket,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::WouldBlock => "operation would block",
            Error::NotBound => "port not bound",
            Error::AddrInUse => "port in use",
            Error::NoSpace => "socket table full",
            Error::TooBig => "datagram too big",
            Error::Invalid => "invalid address or port",
            Error::BadSocket => "bad socket",
        })
    }
}

impl core::error::Error for Error {}

/// The error numbers the kernel's system calls report for these.
impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        use abi::errno::*;
        match e {
            Error::WouldBlock => EAGAIN,
            Error::NotBound => ENOTCONN,
            Error::AddrInUse => EADDRINUSE,
            Error::NoSpace => ENFILE,
            Error::TooBig => EMSGSIZE,
            Error::Invalid => EINVAL,
            Error::BadSocket => EBADF,
        }
    }
}
