//! The network glue between the kernel and `netstack` (smoltcp plus our socket table).
//! Read it in this order; docs/net-walkthrough.md follows one datagram through it.
//!
//! | module   | owns                                                                      |
//! |----------|---------------------------------------------------------------------------|
//! | `init`   | finding the NIC, the address (DHCP or static), bringing the stack up        |
//! | `nic`    | the NIC found at boot as one `NetDevice` (E1000 or virtio-net, dispatch only) |
//! | `poll`   | when the stack runs: the one entry `poll(reason)` and busy polling          |
//! | `wait`   | the one blocking helper every socket call sleeps in                         |
//! | `lab`    | the MIT lab's `bind`/`unbind`/`send`/`recv` and the grader's two lines      |
//! | `socket` | the older lab's `connect` socket, a file read and written like a pipe       |
//! | `bsd`    | BSD sockets as files                                                        |
//! | `mmsg`   | `recvmmsg` / `sendmmsg`: many datagrams per call on a BSD socket            |
//! | `stat`   | `netstat`: the interface, its counters and its timings                      |
//! | `trace`  | `nettrace`: every packet on the console                                     |
//! | `cost`   | time per layer (driver, stack, copy), compiled in with the `cost` feature   |
//! | `echo`   | the benchmark's device-ceiling mode                                         |
//!
//! One spinlock, NET, guards the whole stack (interface, sockets, both rings): no lock
//! order puzzles inside the network. It is never held while sleeping (`sleep` releases
//! it) and drivers never wait.

pub mod bsd;
mod cost;
pub mod echo;
mod init;
pub mod lab;
mod mmsg;
mod nic;
pub mod poll;
pub mod socket;
mod stat;
mod trace;
mod wait;

pub use init::netinit;
pub use stat::netstat;
pub use trace::set_trace;

use crate::arch::riscv::r_time;
use crate::dtb::platform;
use crate::sync::once::Once;
use crate::sync::spinlock::{Spinlock, SpinlockGuard};
use abi::errno::{ENETDOWN, Errno};
use netstack::{NetStack, SocketId, napi};

/// The stack and everything that changes with it, behind NET.
pub struct Net {
    pub stack: NetStack<nic::Nic>,
    /// How the NIC is served now (`poll`).
    napi: napi::Mode,
    /// NIC interrupts taken.
    interrupts: u64,
    /// Booted with `net.echo=1`: the driver echoes (`echo`), the stack stays idle.
    echo: bool,
    /// Which of the lab grader's lines were printed.
    first_frames: lab::FirstFrames,
}

/// Set once at boot when a NIC was found.
static NET: Once<Spinlock<Net>> = Once::new();

pub type NetGuard = SpinlockGuard<'static, Net>;

/// The stack, locked; ENETDOWN if the machine has no NIC.
pub fn lock() -> Result<NetGuard, Errno> {
    NET.try_get().map(Spinlock::lock).ok_or(ENETDOWN)
}

/// Milliseconds since boot, the stack's clock.
pub fn now_ms() -> u64 {
    (r_time() / (platform().timebase / 1000)) as u64
}

/// The wait channel of a socket: any address unique to it.
pub fn chan(id: SocketId) -> usize {
    &NET as *const _ as usize + 1 + id.index()
}
