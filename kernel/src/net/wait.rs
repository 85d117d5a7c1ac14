//! The one blocking helper. Every socket call that may have to wait (the lab's `send`
//! and `recv`, the older lab's socket file, every BSD socket) is a non-blocking try,
//! `op`, run by `wait`:
//!
//! ```text
//!   lock NET ─► op ─► (poll the stack) ─► done? ─► return
//!                 ▲                          │ not yet (`again`)
//!                 │                          ▼
//!                 └── sleep on the channel ◄─ killed? EINTR · past the deadline? EAGAIN
//!                     (NET released meanwhile)   non-blocking? `again`
//! ```
//!
//! Sleeping with NET held until `sleep` releases it means no wakeup is missed: wakeups
//! come from `poll_and_wake`, which runs under NET. A call polls the stack only after a
//! try that changed something (a datagram or bytes queued, bytes taken, a connection
//! accepted), and then returns: a try that found nothing to do changed nothing to send.

use super::poll::{POLLERS, poll_chan};
use super::{Net, NetGuard, chan, cost, lock, now_ms};
use crate::proc::{killed, myproc, sleep};
use abi::errno::{EAGAIN, EINTR, EINVAL, Errno};
use core::sync::atomic::Ordering;
use netstack::SocketId;

/// Whom a waiting call is waiting for.
#[derive(Clone, Copy)]
pub enum Chan {
    Socket(SocketId),
    /// The socket bound to a lab port, looked up at each sleep (unbinding wakes it).
    LabPort(u16),
    /// Any socket's change (poll): the poll channel.
    Any,
}

/// When a call runs the stack after its try, so that what it queued leaves at once.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PollAfter {
    /// Never (a receive that frees a queue slot has nothing to send).
    Never,
    /// After a try that succeeded: a datagram queued; TCP data queued, or bytes taken
    /// (a window update), or a connection accepted (its listener re-armed).
    Success,
}

/// How a call waits.
#[derive(Clone, Copy)]
pub struct Wait {
    pub chan: Chan,
    /// Give up with EAGAIN at this time (ms since boot); sleepers with a deadline sleep
    /// on the poll channel, which every tick wakes.
    pub deadline: Option<u64>,
    /// Return `again` at once rather than sleep.
    pub nonblocking: bool,
    /// The error that means "not yet": EAGAIN, or EINPROGRESS for a connect.
    pub again: Errno,
    pub poll: PollAfter,
}

impl Wait {
    /// A blocking call on `chan` that never polls, with no deadline.
    pub fn on(chan: Chan) -> Wait {
        Wait {
            chan,
            deadline: None,
            nonblocking: false,
            again: EAGAIN,
            poll: PollAfter::Never,
        }
    }
}

/// Runs `op` until it is done (success, or an error other than `w.again`), sleeping in
/// between as `w` says.
pub fn wait<T>(w: Wait, mut op: impl FnMut(&mut Net) -> Result<T, Errno>) -> Result<T, Errno> {
    let mut net = lock()?;
    loop {
        let r = cost::in_stack(|| op(&mut net));
        if w.poll == PollAfter::Success && r.is_ok() {
            net.poll_and_wake();
        }
        match r {
            Err(e) if e == w.again && !w.nonblocking => {}
            r => return r,
        }
        if killed(myproc()) {
            return Err(EINTR);
        }
        net = match (w.deadline, w.chan) {
            (Some(d), _) if now_ms() >= d => return Err(EAGAIN),
            (Some(_), _) | (None, Chan::Any) => sleep_any(net),
            (None, Chan::Socket(id)) => sleep(chan(id), net),
            (None, Chan::LabPort(port)) => {
                let Some(id) = net.stack.port_socket(port) else {
                    return Err(EINVAL);
                };
                sleep(chan(id), net)
            }
        };
    }
}

/// Sleeps on the poll channel, which every poll that changed a socket wakes, and every
/// tick while someone sleeps there.
fn sleep_any(net: NetGuard) -> NetGuard {
    POLLERS.fetch_add(1, Ordering::AcqRel);
    let net = sleep(poll_chan(), net);
    POLLERS.fetch_sub(1, Ordering::AcqRel);
    net
}
