//! Open files (xv6's file.c): what a file descriptor refers to — a pipe end, an inode,
//! a device, or a socket — with its offset and access mode. A `File` is shared through `Arc` by
//! dup and fork; the last reference's drop closes it. At most NFILE exist at once.

use super::inode::{Inode, ilock, iput};
use super::log::{begin_op, end_op};
use super::pipe::Pipe;
use crate::proc::myproc;
use abi::fs::BSIZE;
use abi::param::{MAXOPBLOCKS, NFILE};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub enum FileKind {
    Pipe(Arc<Pipe>),
    Inode(Inode),
    Device(Inode, i16),
    /// A network socket (crate::net::socket).
    Socket(netstack::SocketId),
    /// A BSD socket (crate::net::bsd): read/write are recv/send.
    Bsd(crate::net::bsd::BsdSock),
    /// Only while being dropped.
    Closed,
}

pub struct File {
    pub kind: FileKind,
    pub readable: bool,
    pub writable: bool,
    /// Offset for inode files; read and updated only while holding the inode's lock.
    off: AtomicU32,
}

/// Number of open files in the system.
static NOPEN: AtomicUsize = AtomicUsize::new(0);

/// A claim on one of the NFILE open-file slots, taken before the work of opening so
/// that running out of slots never has to undo an inode reference.
pub struct FileReservation(());

impl FileReservation {
    /// None when NFILE files are open.
    pub fn new() -> Option<FileReservation> {
        if NOPEN.fetch_add(1, Ordering::AcqRel) >= NFILE {
            NOPEN.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(FileReservation(()))
    }

    /// Turns the reservation into an open file (which now owns the slot).
    pub fn fill(self, kind: FileKind, readable: bool, writable: bool) -> Arc<File> {
        core::mem::forget(self);
        Arc::new(File {
            kind,
            readable,
            writable,
            off: AtomicU32::new(0),
        })
    }
}

impl Drop for FileReservation {
    fn drop(&mut self) {
        NOPEN.fetch_sub(1, Ordering::AcqRel);
    }
}

impl File {
    /// A new open file; None when NFILE files are open.
    pub fn alloc(kind: FileKind, readable: bool, writable: bool) -> Option<Arc<File>> {
        Some(FileReservation::new()?.fill(kind, readable, writable))
    }

    /// Copies the file's metadata to user address `addr`.
    pub fn stat(&self, addr: usize) -> Result<(), ()> {
        match &self.kind {
            FileKind::Inode(ip) | FileKind::Device(ip, _) => {
                let st = ilock(ip).stati();
                let bytes = stat_bytes(&st);
                // SAFETY: the current process's own data, read for this call only.
                let pagetable = unsafe { myproc().data() }.pagetable;
                crate::mm::vm::copyout(pagetable, addr, &bytes)
            }
            _ => Err(()),
        }
    }

    /// Reads up to n bytes into user address `addr`.
    pub fn read(&self, addr: usize, n: usize) -> Result<usize, ()> {
        if !self.readable {
            return Err(());
        }
        match &self.kind {
            FileKind::Pipe(p) => p.read(addr, n),
            FileKind::Device(_, major) => crate::drivers::devread(*major, true, addr, n),
            FileKind::Socket(id) => crate::net::socket::read(*id, addr, n).map_err(drop),
            FileKind::Bsd(s) => s.recv(addr, n, false).map(|r| r.0).map_err(drop),
            FileKind::Inode(ip) => {
                let mut g = ilock(ip);
                let off = self.off.load(Ordering::Relaxed);
                let r = g.readi(true, addr, off, n)?;
                self.off.store(off + r as u32, Ordering::Relaxed);
                Ok(r)
            }
            FileKind::Closed => Err(()),
        }
    }

    /// Writes n bytes from user address `addr`.
    pub fn write(&self, addr: usize, n: usize) -> Result<usize, ()> {
        if !self.writable {
            return Err(());
        }
        match &self.kind {
            FileKind::Pipe(p) => p.write(addr, n),
            FileKind::Device(_, major) => crate::drivers::devwrite(*major, true, addr, n),
            FileKind::Socket(id) => crate::net::socket::write(*id, addr, n).map_err(drop),
            FileKind::Bsd(s) => s.send(addr, n, false, None).map_err(drop),
            FileKind::Inode(ip) => {
                // Write a few blocks at a time so one transaction never exceeds the log:
                // i-node, indirect block, allocation blocks, and 2 blocks of slop for
                // non-aligned writes.
                let max = ((MAXOPBLOCKS - 1 - 1 - 2) / 2) * BSIZE;
                let mut i = 0;
                while i < n {
                    let n1 = (n - i).min(max);
                    begin_op();
                    let mut g = ilock(ip);
                    let off = self.off.load(Ordering::Relaxed);
                    let r = g.writei(true, addr + i, off, n1);
                    if let Ok(r) = r {
                        self.off.store(off + r as u32, Ordering::Relaxed);
                    }
                    drop(g);
                    end_op();
                    match r {
                        Ok(r) if r == n1 => i += r,
                        // Error from writei, or a short write.
                        _ => break,
                    }
                }
                if i == n { Ok(n) } else { Err(()) }
            }
            FileKind::Closed => Err(()),
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        match core::mem::replace(&mut self.kind, FileKind::Closed) {
            FileKind::Pipe(p) => p.close(self.writable),
            FileKind::Socket(id) => crate::net::socket::close(id),
            FileKind::Bsd(s) => crate::net::bsd::close(s.id),
            FileKind::Inode(ip) | FileKind::Device(ip, _) => {
                begin_op();
                iput(ip);
                end_op();
            }
            FileKind::Closed => {}
        }
        NOPEN.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `struct stat` as the bytes user space expects.
pub fn stat_bytes(st: &abi::Stat) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..4].copy_from_slice(&st.dev.to_le_bytes());
    b[4..8].copy_from_slice(&st.ino.to_le_bytes());
    b[8..10].copy_from_slice(&st.typ.to_le_bytes());
    b[10..12].copy_from_slice(&st.nlink.to_le_bytes());
    b[16..24].copy_from_slice(&st.size.to_le_bytes());
    b
}
