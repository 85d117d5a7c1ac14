//! BSD sockets as files: the per-descriptor state (non-blocking flag, receive
//! timeout) around netstack's non-blocking `Bsd::try_*`, each run by `wait`. The
//! batched datagram calls (`recvmmsg`, `sendmmsg`) are in `mmsg`.
//!
//! A call that cannot proceed either fails with `EAGAIN` (non-blocking socket or
//! `MSG_DONTWAIT`) or sleeps: on the socket's own channel, or on the poll channel when
//! a receive timeout needs the clock. A kill ends the wait with `EINTR`. Data moves
//! through a heap bounce buffer so that user memory is never touched with NET held.
//! After every operation the stack is polled, so segments, ACKs and window updates
//! leave at once.

use super::wait::{Chan, PollAfter, Wait, wait};
use super::{Net, chan, cost, lock, now_ms};
use crate::fs::file::{File, FileKind};
use crate::proc::{either_copyin, either_copyout, killed, myproc_opt, wakeup};
use abi::errno::*;
use abi::socket::{POLLERR, POLLIN, POLLNVAL, POLLOUT, PollFd};
use alloc::sync::Arc;
use alloc::vec;
use core::net::SocketAddrV4;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use netstack::{Readiness, Shutdown, SockKind, SocketId};

/// Bytes moved per lock hold: a stream send or receive copies at most this much
/// before it lets others at the stack.
pub const CHUNK: usize = 4096;

/// A BSD socket as an open file refers to it.
pub struct BsdSock {
    pub id: SocketId,
    pub kind: SockKind,
    /// `O_NONBLOCK` (fcntl).
    pub nonblock: AtomicBool,
    /// `SO_RCVTIMEO` in milliseconds; 0 = none.
    pub rcvtimeo_ms: AtomicU32,
}

impl BsdSock {
    pub fn new(id: SocketId, kind: SockKind) -> BsdSock {
        BsdSock {
            id,
            kind,
            nonblock: AtomicBool::new(false),
            rcvtimeo_ms: AtomicU32::new(0),
        }
    }

    /// Runs `op` as a blocking call of this socket: at once if `dontwait` (or the
    /// socket is non-blocking), else sleeping until it stops saying `again`; `timed`
    /// lets the receive timeout bound the wait.
    pub(super) fn block<T>(
        &self,
        dontwait: bool,
        timed: bool,
        again: Errno,
        op: impl FnMut(&mut Net) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        self.block_until(dontwait, timed, None, again, op)
    }

    /// `block`, also giving up (EAGAIN) at `until` (ms since boot) if that comes first.
    pub(super) fn block_until<T>(
        &self,
        dontwait: bool,
        timed: bool,
        until: Option<u64>,
        again: Errno,
        op: impl FnMut(&mut Net) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let timeout = self.rcvtimeo_ms.load(Ordering::Relaxed);
        let own = (timed && timeout > 0).then(|| now_ms() + u64::from(timeout));
        let w = Wait {
            chan: Chan::Socket(self.id),
            deadline: match (own, until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            nonblocking: dontwait || self.nonblock.load(Ordering::Relaxed),
            again,
            poll: PollAfter::Success,
        };
        wait(w, op)
    }

    /// Runs `op` once and polls, so that what it changed leaves at once.
    fn once<T>(&self, op: impl FnOnce(&mut Net) -> Result<T, Errno>) -> Result<T, Errno> {
        let mut net = lock()?;
        let r = op(&mut net);
        net.poll_and_wake();
        r
    }

    pub fn bind(&self, addr: SocketAddrV4) -> Result<(), Errno> {
        lock()?.stack.bsd().bind(self.id, addr)
    }

    pub fn listen(&self, backlog: usize) -> Result<(), Errno> {
        lock()?.stack.bsd().listen(self.id, backlog)
    }

    pub fn accept(&self) -> Result<(SocketId, SocketAddrV4), Errno> {
        self.block(false, true, EAGAIN, |net| {
            net.stack.bsd().try_accept(self.id)
        })
    }

    /// Starts the connect, then (blocking socket) waits for its outcome.
    pub fn connect(&self, addr: SocketAddrV4) -> Result<(), Errno> {
        match self.once(|net| net.stack.bsd().connect(self.id, addr)) {
            Ok(()) | Err(EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        if self.kind != SockKind::Stream {
            return Ok(());
        }
        self.block(false, true, EINPROGRESS, |net| {
            net.stack.bsd().poll_connect(self.id)
        })
    }

    /// Sends user bytes [addr, addr+n): a stream sends them all (unless
    /// non-blocking), a datagram socket one datagram.
    pub fn send(
        &self,
        addr: usize,
        n: usize,
        dontwait: bool,
        to: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        if self.kind != SockKind::Stream && n > CHUNK {
            return Err(EMSGSIZE);
        }
        let mut buf = vec![0u8; n.min(CHUNK)];
        let mut done = 0;
        while done < n || (n == 0 && done == 0) {
            let len = (n - done).min(CHUNK);
            cost::in_copy(|| either_copyin(&mut buf[..len], true, addr + done))
                .map_err(|_| EFAULT)?;
            let r = self.block(dontwait, false, EAGAIN, |net| match to {
                Some(to) => net.stack.bsd().try_sendto(self.id, &buf[..len], to),
                None => net.stack.bsd().try_send(self.id, &buf[..len]),
            });
            match r {
                Ok(sent) => done += sent,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
            if self.kind != SockKind::Stream || n == 0 || sent_all_it_may(self, dontwait) {
                break;
            }
        }
        Ok(done)
    }

    /// Receives into user memory [addr, addr+n); also returns the source.
    pub fn recv(
        &self,
        addr: usize,
        n: usize,
        dontwait: bool,
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let mut buf = vec![0u8; n.min(CHUNK)];
        let (got, from) = self.block(dontwait, true, EAGAIN, |net| {
            net.stack.bsd().try_recvfrom(self.id, &mut buf)
        })?;
        cost::in_copy(|| either_copyout(true, addr, &buf[..got])).map_err(|_| EFAULT)?;
        Ok((got, from))
    }

    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        let r = self.once(|net| net.stack.bsd().shutdown(self.id, how));
        wakeup(chan(self.id));
        r
    }

    pub fn local_addr(&self) -> Result<SocketAddrV4, Errno> {
        lock()?.stack.bsd().local_addr(self.id)
    }

    pub fn peer_addr(&self) -> Result<SocketAddrV4, Errno> {
        lock()?.stack.bsd().peer_addr(self.id)
    }

    pub fn take_error(&self) -> Result<Option<Errno>, Errno> {
        lock()?.stack.bsd().take_error(self.id)
    }

    /// `TCP_NODELAY` on or off.
    pub fn set_nodelay(&self, on: bool) -> Result<(), Errno> {
        lock()?.stack.bsd().set_nodelay(self.id, on)
    }

    /// Whether `TCP_NODELAY` is on.
    pub fn nodelay(&self) -> Result<bool, Errno> {
        lock()?.stack.bsd().nodelay(self.id)
    }

    /// `SO_RCVBUF` (UDP only): the receive queue's capacity in bytes, its memory
    /// allocated now.
    pub fn set_rcvbuf(&self, bytes: usize) -> Result<(), Errno> {
        lock()?.stack.bsd().set_rcvbuf(self.id, bytes)
    }

    /// `SO_RCVBUF`'s value in force.
    pub fn rcvbuf(&self) -> Result<usize, Errno> {
        lock()?.stack.bsd().rcvbuf(self.id)
    }

    /// `SO_KEEPALIVE` on or off.
    pub fn set_keepalive(&self, on: bool) -> Result<(), Errno> {
        lock()?.stack.bsd().set_keepalive(self.id, on)
    }

    /// Whether `SO_KEEPALIVE` is on.
    pub fn keepalive(&self) -> Result<bool, Errno> {
        lock()?.stack.bsd().keepalive(self.id)
    }

    /// What the socket can do now (for poll; NET held by the caller).
    pub fn readiness(&self, net: &mut Net) -> Readiness {
        net.stack.bsd().readiness(self.id).unwrap_or(Readiness {
            hup: true,
            error: true,
            ..Readiness::default()
        })
    }
}

/// A non-blocking stream send stops after the first partial chunk.
fn sent_all_it_may(s: &BsdSock, dontwait: bool) -> bool {
    dontwait || s.nonblock.load(Ordering::Relaxed)
}

/// Opens a socket in the stack (ENFILE when its table is full).
pub fn open(kind: SockKind) -> Result<SocketId, Errno> {
    lock()?.stack.bsd().open(kind)
}

/// The last descriptor of a socket went away: a graceful close, or a reset if
/// the process was killed.
pub fn close(id: SocketId) {
    let Ok(mut net) = lock() else { return };
    let killed = myproc_opt().is_some_and(killed);
    let _ = if killed {
        net.stack.bsd().abort(id)
    } else {
        net.stack.bsd().close(id)
    };
    net.poll_and_wake();
    wakeup(chan(id));
}

/// poll(): sets each descriptor's `revents` and returns how many have some, waiting (if
/// none has) until one does or the deadline passes. Sockets report their readiness;
/// other descriptors are always ready for the directions they were opened for. `files`
/// holds each entry's open file (None: negative or closed descriptor).
pub fn poll(
    fds: &mut [PollFd],
    files: &[Option<Arc<File>>],
    deadline: Option<u64>,
) -> Result<usize, Errno> {
    if lock().is_err() {
        // No NIC: no socket can become ready later, so there is nothing to wait for.
        return Ok(scan(fds, files, None));
    }
    let w = Wait {
        deadline,
        ..Wait::on(Chan::Any)
    };
    match wait(w, |net| match scan(fds, files, Some(net)) {
        0 => Err(EAGAIN),
        n => Ok(n),
    }) {
        Err(EAGAIN) => Ok(0),
        r => r,
    }
}

/// One look at every descriptor of a poll.
fn scan(fds: &mut [PollFd], files: &[Option<Arc<File>>], mut net: Option<&mut Net>) -> usize {
    let mut ready = 0;
    for (p, f) in fds.iter_mut().zip(files) {
        p.revents = match f {
            None if p.fd < 0 => 0,
            None => POLLNVAL,
            Some(f) => match (&f.kind, net.as_deref_mut()) {
                (FileKind::Bsd(s), Some(net)) => s.readiness(net).poll_events(p.events),
                (FileKind::Bsd(_), None) => POLLERR,
                _ => {
                    let mut r = 0;
                    if f.readable {
                        r |= POLLIN;
                    }
                    if f.writable {
                        r |= POLLOUT;
                    }
                    r & p.events
                }
            },
        };
        ready += usize::from(p.revents != 0);
    }
    ready
}
