//! BSD sockets as files: the per-descriptor state (non-blocking flag, receive
//! timeout) and the blocking loops around netstack's non-blocking `Bsd::try_*`.
//!
//! Every operation takes the NET lock, tries once, and on `EAGAIN` either fails
//! (non-blocking socket or `MSG_DONTWAIT`) or sleeps: on the socket's own channel,
//! or on `poll_chan` when a receive timeout needs the clock. A kill ends the wait
//! with `EINTR`. Data moves through a heap bounce buffer so that user memory is
//! never touched with NET held. After every operation the stack is polled, so
//! segments, ACKs and window updates leave at once.

use super::{Net, chan, cost, lock, now_ms, poll_and_wake, sleep_any};
use crate::proc::{either_copyin, either_copyout, killed, myproc, myproc_opt, sleep, wakeup};
use crate::sync::spinlock::SpinlockGuard;
use abi::errno::*;
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

type NetGuard = SpinlockGuard<'static, Option<Net>>;

fn netlock() -> Result<NetGuard, Errno> {
    lock().map_err(|_| ENETDOWN)
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

    /// Runs `op` until it stops saying `again` (EAGAIN, or EINPROGRESS for a
    /// connect): at once if `dontwait`, else sleeping in between; `timed` lets the
    /// receive timeout bound the wait.
    fn block<T>(
        &self,
        dontwait: bool,
        timed: bool,
        again: Errno,
        mut op: impl FnMut(&mut Net) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let dontwait = dontwait || self.nonblock.load(Ordering::Relaxed);
        let timeout = self.rcvtimeo_ms.load(Ordering::Relaxed);
        let deadline = (timed && timeout > 0).then(|| now_ms() + u64::from(timeout));
        let mut g = netlock()?;
        loop {
            let net = g.as_mut().unwrap();
            let r = op(net);
            poll_and_wake(net);
            match r {
                Err(e) if e == again && !dontwait => {}
                r => return r,
            }
            // That poll may have made the socket ready and reported it while nobody
            // slept: wakeups go only to rising edges, so look again before sleeping
            // (NET stays held until the sleep, so no later edge is missed).
            match op(net) {
                Err(e) if e == again => {}
                r => {
                    poll_and_wake(net);
                    return r;
                }
            }
            if killed(myproc()) {
                return Err(EINTR);
            }
            g = match deadline {
                Some(d) if now_ms() >= d => return Err(EAGAIN),
                Some(_) => sleep_any(g),
                None => sleep(chan(self.id), g),
            };
        }
    }

    pub fn bind(&self, addr: SocketAddrV4) -> Result<(), Errno> {
        let mut g = netlock()?;
        g.as_mut().unwrap().stack.bsd().bind(self.id, addr)
    }

    pub fn listen(&self, backlog: usize) -> Result<(), Errno> {
        let mut g = netlock()?;
        g.as_mut().unwrap().stack.bsd().listen(self.id, backlog)
    }

    pub fn accept(&self) -> Result<(SocketId, SocketAddrV4), Errno> {
        self.block(false, true, EAGAIN, |net| {
            net.stack.bsd().try_accept(self.id)
        })
    }

    /// Starts the connect, then (blocking socket) waits for its outcome.
    pub fn connect(&self, addr: SocketAddrV4) -> Result<(), Errno> {
        {
            let mut g = netlock()?;
            let net = g.as_mut().unwrap();
            let r = net.stack.bsd().connect(self.id, addr);
            poll_and_wake(net);
            match r {
                Ok(()) | Err(EINPROGRESS) => {}
                Err(e) => return Err(e),
            }
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
            let r = self.block(dontwait, false, EAGAIN, |net| {
                cost::in_stack(|| match to {
                    Some(to) => net.stack.bsd().try_sendto(self.id, &buf[..len], to),
                    None => net.stack.bsd().try_send(self.id, &buf[..len]),
                })
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
            cost::in_stack(|| net.stack.bsd().try_recvfrom(self.id, &mut buf))
        })?;
        cost::in_copy(|| either_copyout(true, addr, &buf[..got])).map_err(|_| EFAULT)?;
        Ok((got, from))
    }

    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        let mut g = netlock()?;
        let net = g.as_mut().unwrap();
        let r = net.stack.bsd().shutdown(self.id, how);
        poll_and_wake(net);
        wakeup(chan(self.id));
        r
    }

    pub fn local_addr(&self) -> Result<SocketAddrV4, Errno> {
        netlock()?.as_mut().unwrap().stack.bsd().local_addr(self.id)
    }

    pub fn peer_addr(&self) -> Result<SocketAddrV4, Errno> {
        netlock()?.as_mut().unwrap().stack.bsd().peer_addr(self.id)
    }

    pub fn take_error(&self) -> Result<Option<Errno>, Errno> {
        netlock()?.as_mut().unwrap().stack.bsd().take_error(self.id)
    }

    /// `TCP_NODELAY` on or off.
    pub fn set_nodelay(&self, on: bool) -> Result<(), Errno> {
        netlock()?
            .as_mut()
            .unwrap()
            .stack
            .bsd()
            .set_nodelay(self.id, on)
    }

    /// Whether `TCP_NODELAY` is on.
    pub fn nodelay(&self) -> Result<bool, Errno> {
        netlock()?.as_mut().unwrap().stack.bsd().nodelay(self.id)
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
    netlock()?.as_mut().unwrap().stack.bsd().open(kind)
}

/// The last descriptor of a socket went away: a graceful close, or a reset if
/// the process was killed.
pub fn close(id: SocketId) {
    let Ok(mut g) = lock() else { return };
    let net = g.as_mut().unwrap();
    let killed = myproc_opt().is_some_and(killed);
    let _ = if killed {
        net.stack.bsd().abort(id)
    } else {
        net.stack.bsd().close(id)
    };
    poll_and_wake(net);
    wakeup(chan(id));
}
