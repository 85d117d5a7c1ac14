//! Sockets as files: the 2020–2023 lab's UDP `connect` socket, read and written like a
//! pipe. Each operation is the stack's non-blocking `try_*` in a sleep loop.

use super::{chan, lock, poll_and_wake};
use crate::proc::{either_copyin, either_copyout, killed, myproc, sleep};
use netstack::{Error, SocketId};

/// Largest UDP payload in one frame (MTU 1500 less IPv4 and UDP headers).
pub const MAX_PAYLOAD: usize = 1472;

/// Reads the next datagram (truncated to n bytes) into user address `addr`.
pub fn read(id: SocketId, addr: usize, n: usize) -> Result<usize, ()> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = n.min(MAX_PAYLOAD);
    let mut g = lock()?;
    let got = loop {
        match g.as_mut().unwrap().stack.try_read(id, &mut buf[..n]) {
            Ok(got) => break got,
            Err(Error::WouldBlock) => {
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    };
    drop(g);
    either_copyout(true, addr, &buf[..got])?;
    Ok(got)
}

/// Sends user bytes [addr, addr+n) as one datagram.
pub fn write(id: SocketId, addr: usize, n: usize) -> Result<usize, ()> {
    if n > MAX_PAYLOAD {
        return Err(());
    }
    let mut buf = [0u8; MAX_PAYLOAD];
    either_copyin(&mut buf[..n], true, addr)?;
    let mut g = lock()?;
    loop {
        let net = g.as_mut().unwrap();
        match net.stack.try_write(id, &buf[..n]) {
            Ok(sent) => {
                poll_and_wake(net);
                return Ok(sent);
            }
            Err(Error::WouldBlock) => {
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    }
}

/// The last reference to the socket's file went away.
pub fn close(id: SocketId) {
    if let Ok(mut g) = lock() {
        let net = g.as_mut().unwrap();
        let _ = net.stack.close(id);
        crate::proc::wakeup(chan(id));
    }
}
