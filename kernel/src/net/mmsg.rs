//! Batched datagrams: the bodies of `recvmmsg` and `sendmmsg` on a BSD datagram socket
//! (the system calls decode their `struct mmsg` arrays in `syscall::sysnet`).
//!
//! A batch costs what one datagram costs with `recvfrom`/`sendto`: one NET hold, one
//! stack poll, one `wait` (the one blocking helper). User memory is copied through one
//! heap bounce buffer per call, outside NET.
//!
//! - `recv_batch` waits as `recvfrom` would (non-blocking socket or `MSG_DONTWAIT`:
//!   not at all; `SO_RCVTIMEO`, and the call's own timeout, bound the wait), then takes
//!   every datagram queued, up to the batch's size, without waiting again.
//! - `send_batch` queues datagrams in order until one cannot be queued. The socket's
//!   send queue holds 8: when it fills, the poll after that round hands them to the NIC
//!   and the next round (another NET hold) goes on, without ever sleeping once one
//!   datagram went. It sleeps (blocking socket) only while not even the first fits.
//!
//! As with Linux, an error after some datagrams moved is not reported: the call says
//! how many moved, and the next call meets the error.

use super::bsd::{BsdSock, CHUNK};
use super::{cost, now_ms};
use crate::proc::{either_copyin, either_copyout};
use abi::errno::{EAGAIN, EFAULT, EMSGSIZE, ENOMEM, Errno};
use abi::socket::MMsg;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::ops::Range;

/// The largest datagram the stack delivers (an ICMP message filling a 1500-byte frame):
/// what the bounce buffer reserves per message.
const MAX_DATAGRAM: usize = 1480;

/// An empty buffer with room for `n` bytes, or ENOMEM.
fn bounce(n: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| ENOMEM)?;
    Ok(v)
}

impl BsdSock {
    /// recvmmsg: fills `msgs` from the front (each message's `result` and `addr`),
    /// returns how many. `timeout_ms` bounds the wait for the first datagram.
    pub fn recv_batch(
        &self,
        msgs: &mut [MMsg],
        dontwait: bool,
        timeout_ms: Option<u32>,
    ) -> Result<usize, Errno> {
        let room = |m: &MMsg| (m.len as usize).min(MAX_DATAGRAM);
        let mut data = bounce(msgs.iter().map(room).sum())?;
        let mut got: Vec<(usize, SocketAddrV4)> = Vec::new();
        got.try_reserve_exact(msgs.len()).map_err(|_| ENOMEM)?;
        let until = timeout_ms.map(|t| now_ms() + u64::from(t));
        let wanted: &[MMsg] = msgs;
        self.block_until(dontwait, true, until, EAGAIN, |net| {
            data.clear();
            got.clear();
            net.stack
                .bsd()
                .try_recv_batch(self.id, wanted.len(), |payload, from| {
                    let n = payload.len().min(wanted[got.len()].len as usize);
                    data.extend_from_slice(&payload[..n]);
                    got.push((n, from));
                })
        })?;
        let mut at = 0;
        for (i, (m, &(n, from))) in msgs.iter_mut().zip(&got).enumerate() {
            let copied = cost::in_copy(|| either_copyout(true, m.buf as usize, &data[at..at + n]));
            if copied.is_err() {
                return if i == 0 { Err(EFAULT) } else { Ok(i) };
            }
            at += n;
            m.result = n as u32;
            m.addr = from.into();
        }
        Ok(got.len())
    }

    /// sendmmsg: sends `msgs` in order, sets each sent message's `result`, returns how
    /// many went. A message that cannot be read (EFAULT), is too long (EMSGSIZE) or has
    /// a foreign address family ends the batch before it.
    pub fn send_batch(&self, msgs: &mut [MMsg], dontwait: bool) -> Result<usize, Errno> {
        let (data, parts, invalid) = copy_in(msgs)?;
        if parts.is_empty() {
            return Err(invalid.unwrap_or(EFAULT));
        }
        let mut sent = 0;
        while sent < parts.len() {
            // Once some went, never sleep: the caller hears how many.
            let round = self.block(dontwait || sent > 0, false, EAGAIN, |net| {
                let batch = parts[sent..]
                    .iter()
                    .map(|(range, to)| (&data[range.clone()], *to));
                match net.stack.bsd().try_send_batch(self.id, batch) {
                    (0, Some(e)) => Err(e),
                    (n, stopped) => Ok((n, stopped)),
                }
            });
            match round {
                Ok((n, stopped)) => {
                    sent += n;
                    // A full send queue was just drained by the poll after the round.
                    if stopped.is_some_and(|e| e != EAGAIN) {
                        break;
                    }
                }
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        for (m, (range, _)) in msgs.iter_mut().zip(&parts[..sent]) {
            m.result = range.len() as u32;
        }
        Ok(sent)
    }
}

/// What a batch sends: the bytes of every message, each message's range in them and
/// destination, for the messages before the first bad one (and why it is bad).
type Outgoing = (
    Vec<u8>,
    Vec<(Range<usize>, Option<SocketAddrV4>)>,
    Option<Errno>,
);

/// Copies in the messages up to the first that cannot be sent.
fn copy_in(msgs: &[MMsg]) -> Result<Outgoing, Errno> {
    let total = msgs.iter().map(|m| (m.len as usize).min(CHUNK)).sum();
    let mut data = bounce(total)?;
    let mut parts = Vec::new();
    parts.try_reserve_exact(msgs.len()).map_err(|_| ENOMEM)?;
    for m in msgs {
        let len = m.len as usize;
        let to = match m.destination() {
            Ok(_) if len > CHUNK => Err(EMSGSIZE),
            to => to,
        };
        let start = data.len();
        data.resize(start + len.min(CHUNK), 0);
        let read = to.and_then(|to| {
            cost::in_copy(|| either_copyin(&mut data[start..], true, m.buf as usize))
                .map_err(|()| EFAULT)
                .map(|()| to)
        });
        match read {
            Ok(to) => parts.push((start..data.len(), to)),
            Err(e) => return Ok((data, parts, Some(e))),
        }
    }
    Ok((data, parts, None))
}
