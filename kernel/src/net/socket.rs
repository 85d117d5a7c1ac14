//! The 2020–2023 lab's UDP socket: `connect(raddr, lport, rport)` gives a file for one
//! (remote address, local port, remote port) triple, read and written like a pipe, one
//! datagram per call.

use super::lab::MAX_PAYLOAD;
use super::wait::{Chan, PollAfter, Wait, wait};
use super::{chan, cost, lock};
use crate::proc::{either_copyin, either_copyout, wakeup};
use abi::errno::{EFAULT, EMSGSIZE, Errno};
use netstack::SocketId;

/// Opens the socket for the triple.
pub fn connect(raddr: u32, lport: u16, rport: u16) -> Result<SocketId, Errno> {
    Ok(lock()?.stack.connect(raddr, lport, rport)?)
}

/// Reads the next datagram (truncated to n bytes) into user address `addr`.
pub fn read(id: SocketId, addr: usize, n: usize) -> Result<usize, Errno> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = n.min(MAX_PAYLOAD);
    let got = wait(Wait::on(Chan::Socket(id)), |net| {
        Ok(net.stack.try_read(id, &mut buf[..n])?)
    })?;
    cost::in_copy(|| either_copyout(true, addr, &buf[..got])).map_err(|()| EFAULT)?;
    Ok(got)
}

/// Sends user bytes [addr, addr+n) as one datagram.
pub fn write(id: SocketId, addr: usize, n: usize) -> Result<usize, Errno> {
    if n > MAX_PAYLOAD {
        return Err(EMSGSIZE);
    }
    let mut buf = [0u8; MAX_PAYLOAD];
    cost::in_copy(|| either_copyin(&mut buf[..n], true, addr)).map_err(|()| EFAULT)?;
    let w = Wait {
        poll: PollAfter::Success,
        ..Wait::on(Chan::Socket(id))
    };
    wait(w, |net| Ok(net.stack.try_write(id, &buf[..n])?))
}

/// The last reference to the socket's file went away.
pub fn close(id: SocketId) {
    if let Ok(mut net) = lock() {
        let _ = net.stack.close(id);
        wakeup(chan(id));
    }
}
