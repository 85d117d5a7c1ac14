//! The network calls' arguments: registers decoded as ports, lengths and socket
//! descriptors, and the structures user memory holds for them (`sockaddr_in`, option
//! values, `pollfd` and `mmsg` arrays), each copied with `copyin`/`copyout` so that a bad
//! pointer is `EFAULT`. Also the descriptor side of a new socket: reserved before the
//! socket exists, installed after. `sysnet` decodes each call with these.

use super::argint;
use crate::fs::file::{File, FileKind, FileReservation};
use crate::net::bsd::BsdSock;
use crate::proc::{either_copyin, either_copyout, myproc};
use abi::errno::*;
use abi::socket::*;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use netstack::{SockKind, SocketId};

/// The n-th argument as a port (its low 16 bits).
pub(super) fn argport(n: usize) -> u16 {
    argint(n) as u16
}

/// The n-th argument as a length, which must not be negative.
pub(super) fn arglen(n: usize) -> Result<usize, Errno> {
    usize::try_from(argint(n)).map_err(|_| EINVAL)
}

/// The n-th argument as an open descriptor (EBADF).
fn argfile(n: usize) -> Result<Arc<File>, Errno> {
    let fd = argint(n);
    if fd < 0 {
        return Err(EBADF);
    }
    file_at(fd as usize).ok_or(EBADF)
}

/// Descriptor `fd` of the current process, if open.
pub(super) fn file_at(fd: usize) -> Option<Arc<File>> {
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile.get(fd)?.clone()
}

/// The n-th argument as a BSD socket descriptor (EBADF, ENOTSOCK).
pub(super) fn argsock(n: usize) -> Result<Arc<File>, Errno> {
    let f = argfile(n)?;
    match f.kind {
        FileKind::Bsd(_) => Ok(f),
        _ => Err(ENOTSOCK),
    }
}

/// The BSD socket of a descriptor `argsock` returned.
pub(super) fn sock(f: &File) -> &BsdSock {
    match &f.kind {
        FileKind::Bsd(s) => s,
        _ => unreachable!("argsock checked the kind"),
    }
}

/// A `struct sockaddr_in` the user passed with its length.
pub(super) fn read_sockaddr(addr: usize, len: i32) -> Result<SocketAddrV4, Errno> {
    if len < SockaddrIn::SIZE as i32 {
        return Err(EINVAL);
    }
    let mut b = [0u8; SockaddrIn::SIZE];
    either_copyin(&mut b, true, addr).map_err(|()| EFAULT)?;
    Ok(SockaddrIn::from_bytes(&b)?.into())
}

/// Writes `a` to a user `sockaddr` whose room is `*lenp` bytes (truncating, as
/// Linux does), then stores the full size in `*lenp`. Null `addr` skips it.
pub(super) fn write_sockaddr(addr: usize, lenp: usize, a: SocketAddrV4) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let room = usize::try_from(read_i32(lenp)?).map_err(|_| EINVAL)?;
    let bytes = SockaddrIn::from(a).to_bytes();
    either_copyout(true, addr, &bytes[..room.min(bytes.len())]).map_err(|()| EFAULT)?;
    write_i32(lenp, SockaddrIn::SIZE as i32)
}

/// The i32 at user address `addr`.
pub(super) fn read_i32(addr: usize) -> Result<i32, Errno> {
    let mut b = [0u8; 4];
    either_copyin(&mut b, true, addr).map_err(|()| EFAULT)?;
    Ok(i32::from_le_bytes(b))
}

/// Stores `v` at user address `addr`.
pub(super) fn write_i32(addr: usize, v: i32) -> Result<(), Errno> {
    either_copyout(true, addr, &v.to_le_bytes()).map_err(|()| EFAULT)
}

/// An option value of at least 4 bytes (`len` is what the user said it holds).
pub(super) fn read_optval(addr: usize, len: i32) -> Result<u32, Errno> {
    if len < 4 {
        return Err(EINVAL);
    }
    Ok(read_i32(addr)? as u32)
}

/// A free descriptor and an open-file slot (EMFILE, ENFILE), taken before the socket
/// so that running out never leaves a socket behind.
pub(super) fn reserve_fd() -> Result<(usize, FileReservation), Errno> {
    // SAFETY: the current process's own data, for this statement only.
    let fd = unsafe { myproc().data() }
        .ofile
        .iter()
        .position(|f| f.is_none())
        .ok_or(EMFILE)?;
    Ok((fd, FileReservation::new().ok_or(ENFILE)?))
}

/// Installs a new BSD socket in the reserved descriptor.
pub(super) fn install(fd: usize, slot: FileReservation, id: SocketId, kind: SockKind) -> usize {
    let f = slot.fill(FileKind::Bsd(BsdSock::new(id, kind)), true, true);
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(f);
    fd
}

/// The n-th argument as a `recvmmsg`/`sendmmsg` message count: 1..=MMSG_MAX (EINVAL).
pub(super) fn argvlen(n: usize) -> Result<usize, Errno> {
    match arglen(n)? {
        0 => Err(EINVAL),
        v if v > MMSG_MAX => Err(EINVAL),
        v => Ok(v),
    }
}

/// The user's `struct mmsg` array of `vlen` messages at `addr`.
pub(super) fn read_mmsgs(addr: usize, vlen: usize) -> Result<Vec<MMsg>, Errno> {
    let mut raw = vec![0u8; vlen * MMsg::SIZE];
    either_copyin(&mut raw, true, addr).map_err(|()| EFAULT)?;
    Ok(raw
        .chunks_exact(MMsg::SIZE)
        .map(|c| {
            let mut b = [0u8; MMsg::SIZE];
            b.copy_from_slice(c);
            MMsg::from_bytes(&b)
        })
        .collect())
}

/// Writes back the first messages of the array at `addr` (their `result`, `addr`).
pub(super) fn write_mmsgs(addr: usize, msgs: &[MMsg]) -> Result<(), Errno> {
    let raw: Vec<u8> = msgs.iter().flat_map(|m| m.to_bytes()).collect();
    either_copyout(true, addr, &raw).map_err(|()| EFAULT)
}

/// The user's `struct pollfd` array at `addr`, as many as `fds` holds.
pub(super) fn read_pollfds(addr: usize, fds: &mut [PollFd]) -> Result<(), Errno> {
    for (i, p) in fds.iter_mut().enumerate() {
        let mut b = [0u8; PollFd::SIZE];
        either_copyin(&mut b, true, addr + i * PollFd::SIZE).map_err(|()| EFAULT)?;
        *p = PollFd::from_bytes(&b);
    }
    Ok(())
}

/// Writes `fds` back to the user's array at `addr` (their `revents`).
pub(super) fn write_pollfds(addr: usize, fds: &[PollFd]) -> Result<(), Errno> {
    for (i, p) in fds.iter().enumerate() {
        either_copyout(true, addr + i * PollFd::SIZE, &p.to_bytes()).map_err(|()| EFAULT)?;
    }
    Ok(())
}
