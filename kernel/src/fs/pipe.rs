//! Pipes (xv6's pipe.c): a 512-byte ring buffer between a read end and a write end.
//! Readers sleep while it is empty, writers while it is full; closing one end wakes
//! the other.

use super::file::{File, FileKind};
use crate::proc::{either_copyin, either_copyout, killed, myproc, sleep, wakeup};
use crate::sync::spinlock::Spinlock;
use alloc::sync::Arc;

const PIPESIZE: usize = 512;

struct PipeInner {
    data: [u8; PIPESIZE],
    /// Bytes read (never wraps in practice: u64).
    nread: u64,
    /// Bytes written.
    nwrite: u64,
    readopen: bool,
    writeopen: bool,
}

pub struct Pipe {
    inner: Spinlock<PipeInner>,
}

impl Pipe {
    fn read_chan(&self) -> usize {
        self as *const Pipe as usize
    }
    fn write_chan(&self) -> usize {
        self as *const Pipe as usize + 1
    }

    /// Closes one end.
    pub fn close(&self, writable: bool) {
        let mut p = self.inner.lock();
        if writable {
            p.writeopen = false;
            wakeup(self.read_chan());
        } else {
            p.readopen = false;
            wakeup(self.write_chan());
        }
    }

    /// Writes n bytes from user address `addr`, sleeping while the pipe is full.
    pub fn write(&self, addr: usize, n: usize) -> Result<usize, ()> {
        let mut i = 0;
        let mut p = self.inner.lock();
        while i < n {
            if !p.readopen || killed(myproc()) {
                return Err(());
            }
            if p.nwrite == p.nread + PIPESIZE as u64 {
                wakeup(self.read_chan());
                p = sleep(self.write_chan(), p);
                continue;
            }
            // Copy as much as fits contiguously in the ring.
            let w = (p.nwrite % PIPESIZE as u64) as usize;
            let space = PIPESIZE - (p.nwrite - p.nread) as usize;
            let m = (n - i).min(space).min(PIPESIZE - w);
            if either_copyin(&mut p.data[w..w + m], true, addr + i).is_err() {
                break;
            }
            p.nwrite += m as u64;
            i += m;
        }
        wakeup(self.read_chan());
        Ok(i)
    }

    /// Reads up to n bytes to user address `addr`, sleeping while the pipe is empty and
    /// a writer remains.
    pub fn read(&self, addr: usize, n: usize) -> Result<usize, ()> {
        let mut p = self.inner.lock();
        while p.nread == p.nwrite && p.writeopen {
            if killed(myproc()) {
                return Err(());
            }
            p = sleep(self.read_chan(), p);
        }
        let mut i = 0;
        while i < n && p.nread != p.nwrite {
            let r = (p.nread % PIPESIZE as u64) as usize;
            let avail = (p.nwrite - p.nread) as usize;
            let m = (n - i).min(avail).min(PIPESIZE - r);
            if either_copyout(true, addr + i, &p.data[r..r + m]).is_err() {
                break;
            }
            p.nread += m as u64;
            i += m;
        }
        wakeup(self.write_chan());
        Ok(i)
    }
}

/// Creates a pipe and its read and write files.
pub fn pipealloc() -> Option<(Arc<File>, Arc<File>)> {
    let pipe = Arc::new(Pipe {
        inner: Spinlock::new(
            "pipe",
            PipeInner {
                data: [0; PIPESIZE],
                nread: 0,
                nwrite: 0,
                readopen: true,
                writeopen: true,
            },
        ),
    });
    let r = File::alloc(FileKind::Pipe(pipe.clone()), true, false)?;
    // If this fails, dropping r closes the read end and frees the pipe.
    let w = File::alloc(FileKind::Pipe(pipe), false, true)?;
    Some((r, w))
}
