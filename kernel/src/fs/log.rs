//! The write-ahead log (xv6's log.c), which makes multi-block file-system updates atomic
//! with respect to crashes.
//!
//! A system call brackets its writes with `begin_op()`/`end_op()` and records each
//! modified buffer with `log_write()`. When the last outstanding operation ends, the
//! group commits: the blocks go to the log area, then the header (the commit point),
//! then to their home locations, then the header is cleared. At boot, `initlog`
//! replays a committed but uninstalled log.
//!
//! On disk: [ header block: n, block[0..n] | logged block 1 | logged block 2 | ... ]

use super::bio::{Buf, bpin, bread, bunpin, bwrite};
use crate::proc::{sleep, wakeup};
use crate::sync::spinlock::Spinlock;
use abi::Superblock;
use abi::param::{LOGSIZE, MAXOPBLOCKS};

#[derive(Clone, Copy)]
struct LogHeader {
    n: usize,
    block: [u32; LOGSIZE],
}

struct Log {
    start: u32,
    /// Blocks in the log area, header included.
    size: usize,
    dev: u32,
    /// How many FS system calls are executing.
    outstanding: usize,
    /// In commit(); please wait.
    committing: bool,
    lh: LogHeader,
}

static LOG: Spinlock<Log> = Spinlock::new(
    "log",
    Log {
        start: 0,
        size: 0,
        dev: 0,
        outstanding: 0,
        committing: false,
        lh: LogHeader {
            n: 0,
            block: [0; LOGSIZE],
        },
    },
);

fn log_chan() -> usize {
    &LOG as *const _ as usize
}

pub fn initlog(dev: u32, sb: &Superblock) {
    {
        let mut log = LOG.lock();
        log.start = sb.logstart;
        log.size = sb.nlog as usize;
        log.dev = dev;
    }
    recover_from_log();
}

fn read_head() -> LogHeader {
    let (dev, start) = {
        let log = LOG.lock();
        (log.dev, log.start)
    };
    let buf = bread(dev, start);
    let d = buf.data();
    let word = |i: usize| u32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap());
    let n = (word(0) as usize).min(LOGSIZE);
    let mut lh = LogHeader {
        n,
        block: [0; LOGSIZE],
    };
    for i in 0..n {
        lh.block[i] = word(1 + i);
    }
    lh
}

/// Writes the in-memory header to disk: the true commit point of a transaction.
fn write_head(dev: u32, start: u32, lh: &LogHeader) {
    let mut buf = bread(dev, start);
    let d = buf.data_mut();
    d[0..4].copy_from_slice(&(lh.n as u32).to_le_bytes());
    for i in 0..lh.n {
        d[4 + 4 * i..8 + 4 * i].copy_from_slice(&lh.block[i].to_le_bytes());
    }
    bwrite(&mut buf);
}

/// Copies committed blocks from the log to their home locations.
fn install_trans(dev: u32, start: u32, lh: &LogHeader, recovering: bool) {
    for tail in 0..lh.n {
        let lbuf = bread(dev, start + tail as u32 + 1);
        let mut dbuf = bread(dev, lh.block[tail]);
        dbuf.data_mut().copy_from_slice(lbuf.data());
        bwrite(&mut dbuf);
        if !recovering {
            bunpin(&dbuf);
        }
    }
}

fn recover_from_log() {
    let lh = read_head();
    let (dev, start) = {
        let log = LOG.lock();
        (log.dev, log.start)
    };
    install_trans(dev, start, &lh, true);
    let empty = LogHeader {
        n: 0,
        block: [0; LOGSIZE],
    };
    write_head(dev, start, &empty);
}

/// Called at the start of each FS system call.
pub fn begin_op() {
    let mut log = LOG.lock();
    loop {
        if log.committing || log.lh.n + (log.outstanding + 1) * MAXOPBLOCKS > LOGSIZE {
            // Wait for the commit, or for the log to have room for this op's writes.
            log = sleep(log_chan(), log);
        } else {
            log.outstanding += 1;
            return;
        }
    }
}

/// Called at the end of each FS system call; commits if this was the last outstanding op.
pub fn end_op() {
    let mut log = LOG.lock();
    log.outstanding -= 1;
    if log.committing {
        panic!("log.committing");
    }
    let do_commit = log.outstanding == 0;
    if do_commit {
        log.committing = true;
    } else {
        // begin_op() may be waiting for log space, and decrementing outstanding has
        // decreased the amount of reserved space.
        wakeup(log_chan());
    }
    let (dev, start, lh) = (log.dev, log.start, log.lh);
    drop(log);

    if do_commit {
        // Commit without holding the lock, since we sleep on disk I/O. `committing`
        // keeps every other op out, so `lh` cannot change meanwhile.
        commit(dev, start, &lh);
        let mut log = LOG.lock();
        log.lh.n = 0;
        log.committing = false;
        wakeup(log_chan());
    }
}

/// Copies modified blocks from the cache to the log.
fn write_log(dev: u32, start: u32, lh: &LogHeader) {
    for tail in 0..lh.n {
        let mut to = bread(dev, start + tail as u32 + 1);
        let from = bread(dev, lh.block[tail]);
        to.data_mut().copy_from_slice(from.data());
        bwrite(&mut to);
    }
}

fn commit(dev: u32, start: u32, lh: &LogHeader) {
    if lh.n > 0 {
        write_log(dev, start, lh);
        write_head(dev, start, lh);
        install_trans(dev, start, lh, false);
        let empty = LogHeader {
            n: 0,
            block: [0; LOGSIZE],
        };
        write_head(dev, start, &empty);
    }
}

/// Records that `b` was modified: it will be written at commit, and stays pinned in the
/// cache until then. Replaces `bwrite` inside a transaction.
pub fn log_write(b: &Buf) {
    let mut log = LOG.lock();
    if log.lh.n >= LOGSIZE || log.lh.n + 1 >= log.size {
        panic!("too big a transaction");
    }
    if log.outstanding < 1 {
        panic!("log_write outside of trans");
    }
    let n = log.lh.n;
    // Log absorption: a block written twice in one transaction is logged once.
    if !log.lh.block[..n].contains(&b.blockno) {
        log.lh.block[n] = b.blockno;
        log.lh.n += 1;
        bpin(b);
    }
}
