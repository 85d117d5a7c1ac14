//! Network system calls: the MIT 6.1810 (2024) lab's `bind`, `unbind`, `send`, `recv`
//! (same numbers and semantics: addresses in host byte order, 16 datagrams queued per
//! bound port, recv blocks until one arrives or the process is killed), the older lab's
//! `connect` socket file, and xv6net's `nettrace` and `netstat`.

use super::{SysResult, argaddr, argint};
use crate::fs::file::{FileKind, FileReservation};
use crate::net::socket::MAX_PAYLOAD;
use crate::net::{self, chan, poll_and_wake};
use crate::proc::{either_copyin, either_copyout, killed, myproc, sleep};
use abi::param::NOFILE;
use netstack::Error;

fn argport(n: usize) -> u16 {
    argint(n) as u16
}

fn mypid() -> i32 {
    myproc().inner.lock().pid
}

/// bind(port): prepare to receive UDP datagrams sent to `port`.
pub fn sys_bind() -> SysResult {
    let port = argport(0);
    let pid = mypid();
    let mut g = net::lock()?;
    let net = g.as_mut().unwrap();
    net.stack.bind(port).map_err(|_| ())?;
    if net.own(port, pid).is_err() {
        let _ = net.stack.unbind(port);
        return Err(());
    }
    Ok(0)
}

/// unbind(port): stop receiving on `port`; queued datagrams are dropped.
pub fn sys_unbind() -> SysResult {
    let port = argport(0);
    let mut g = net::lock()?;
    g.as_mut().unwrap().unbind(port)?;
    Ok(0)
}

/// send(sport, dst, dport, buf, len): one UDP datagram from local port `sport`.
pub fn sys_send() -> SysResult {
    let sport = argport(0);
    let dst = argint(1) as u32;
    let dport = argport(2);
    let addr = argaddr(3);
    let len = argint(4);
    if len < 0 || len as usize > MAX_PAYLOAD {
        return Err(());
    }
    let len = len as usize;
    let mut buf = [0u8; MAX_PAYLOAD];
    either_copyin(&mut buf[..len], true, addr)?;
    let mut g = net::lock()?;
    loop {
        let net = g.as_mut().unwrap();
        match net.stack.send(sport, dst, dport, &buf[..len]) {
            Ok(()) => {
                // Let the datagram leave now rather than at the next interrupt.
                poll_and_wake(net);
                return Ok(0);
            }
            Err(Error::WouldBlock) => {
                let Some(id) = net.stack.port_socket(sport) else {
                    return Err(());
                };
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    }
}

/// recv(dport, *src, *sport, buf, maxlen): the oldest datagram queued on bound port
/// `dport`, blocking until one arrives. Returns its length (at most maxlen).
pub fn sys_recv() -> SysResult {
    let dport = argport(0);
    let srcaddr = argaddr(1);
    let sportaddr = argaddr(2);
    let bufaddr = argaddr(3);
    let maxlen = argint(4);
    if maxlen < 0 {
        return Err(());
    }
    let maxlen = (maxlen as usize).min(MAX_PAYLOAD);
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut g = net::lock()?;
    let (src, sport, n) = loop {
        let net = g.as_mut().unwrap();
        match net.stack.try_recv(dport, &mut buf[..maxlen]) {
            Ok(got) => break got,
            Err(Error::WouldBlock) => {
                let Some(id) = net.stack.port_socket(dport) else {
                    return Err(());
                };
                if killed(myproc()) {
                    return Err(());
                }
                g = sleep(chan(id), g);
            }
            Err(_) => return Err(()),
        }
    };
    drop(g);
    either_copyout(true, srcaddr, &src.to_le_bytes())?;
    either_copyout(true, sportaddr, &sport.to_le_bytes())?;
    either_copyout(true, bufaddr, &buf[..n])?;
    Ok(n)
}

/// connect(raddr, lport, rport): a UDP socket file for one (remote, local, remote-port)
/// triple, read and written like a pipe.
pub fn sys_connect() -> SysResult {
    let raddr = argint(0) as u32;
    let lport = argport(1);
    let rport = argport(2);
    let d = myproc().data();
    let fd = d.ofile.iter().position(|f| f.is_none()).ok_or(())?;
    debug_assert!(fd < NOFILE);
    let slot = FileReservation::new().ok_or(())?;
    let id = {
        let mut g = net::lock()?;
        g.as_mut()
            .unwrap()
            .stack
            .connect(raddr, lport, rport)
            .map_err(|_| ())?
    };
    d.ofile[fd] = Some(slot.fill(FileKind::Socket(id), true, true));
    Ok(fd)
}

/// nettrace(on): print every packet, one line per layer, on the console.
pub fn sys_nettrace() -> SysResult {
    net::set_trace(argint(0) != 0).map(|_| 0)
}

/// netstat(addr): copy the interface's counters (abi::net::NetStat) to user space.
pub fn sys_netstat() -> SysResult {
    let stat = {
        let mut g = net::lock()?;
        g.as_mut().unwrap().stat()
    };
    either_copyout(true, argaddr(0), &stat.to_bytes()).map(|_| 0)
}
