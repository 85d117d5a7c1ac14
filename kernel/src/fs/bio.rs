//! The buffer cache (xv6's bio.c): NBUF in-memory copies of disk blocks. A block is
//! cached at most once, so all processes see the same copy, and its sleep lock lets one
//! process at a time use it. Recycling picks the least recently released buffer.
//!
//! `bread` returns a locked `Buf`; dropping it is `brelse`.

use crate::drivers::virtio_disk::virtio_disk_rw;
use crate::proc::{sleep, wakeup};
use crate::sync::sleeplock::{SleepLock, SleepLockGuard};
use crate::sync::spinlock::Spinlock;
use abi::fs::BSIZE;
use abi::param::NBUF;

/// A buffer's contents; `holds` says which block the data is valid for.
pub struct BufData {
    holds: Option<(u32, u32)>,
    pub data: [u8; BSIZE],
}

#[derive(Clone, Copy)]
struct Slot {
    dev: u32,
    blockno: u32,
    refcnt: u32,
    /// When the buffer was last released (for LRU).
    last_use: u64,
}

struct Bcache {
    slots: [Slot; NBUF],
    clock: u64,
}

static BCACHE: Spinlock<Bcache> = Spinlock::new(
    "bcache",
    Bcache {
        slots: [Slot {
            dev: u32::MAX,
            blockno: 0,
            refcnt: 0,
            last_use: 0,
        }; NBUF],
        clock: 0,
    },
);

static BUFS: [SleepLock<BufData>; NBUF] = [const {
    SleepLock::new(
        "buffer",
        BufData {
            holds: None,
            data: [0; BSIZE],
        },
    )
}; NBUF];

/// A locked buffer holding one disk block.
pub struct Buf {
    idx: usize,
    pub blockno: u32,
    guard: SleepLockGuard<'static, BufData>,
}

impl Buf {
    pub fn data(&self) -> &[u8; BSIZE] {
        &self.guard.data
    }
    pub fn data_mut(&mut self) -> &mut [u8; BSIZE] {
        &mut self.guard.data
    }
}

fn bcache_chan() -> usize {
    &BCACHE as *const _ as usize
}

/// Finds the slot caching (dev, blockno), or recycles the least recently used free one,
/// and takes a reference to it. Sleeps if every buffer is in use.
fn bget(dev: u32, blockno: u32) -> usize {
    let mut bc = BCACHE.lock();
    loop {
        if let Some(i) = bc
            .slots
            .iter()
            .position(|s| s.dev == dev && s.blockno == blockno)
        {
            bc.slots[i].refcnt += 1;
            return i;
        }
        let victim = (0..NBUF)
            .filter(|&i| bc.slots[i].refcnt == 0)
            .min_by_key(|&i| bc.slots[i].last_use);
        if let Some(i) = victim {
            bc.slots[i] = Slot {
                dev,
                blockno,
                refcnt: 1,
                last_use: 0,
            };
            return i;
        }
        bc = sleep(bcache_chan(), bc);
    }
}

/// Returns a locked buffer with the contents of the indicated block.
pub fn bread(dev: u32, blockno: u32) -> Buf {
    let idx = bget(dev, blockno);
    let mut guard = BUFS[idx].lock();
    if guard.holds != Some((dev, blockno)) {
        virtio_disk_rw(&mut guard.data, blockno, false);
        guard.holds = Some((dev, blockno));
    }
    Buf {
        idx,
        blockno,
        guard,
    }
}

/// Writes the buffer's contents to disk.
pub fn bwrite(b: &mut Buf) {
    virtio_disk_rw(&mut b.guard.data, b.blockno, true);
}

/// Keeps the block in the cache even after release (the log holds it until installed).
pub fn bpin(b: &Buf) {
    BCACHE.lock().slots[b.idx].refcnt += 1;
}

pub fn bunpin(b: &Buf) {
    BCACHE.lock().slots[b.idx].refcnt -= 1;
}

impl Drop for Buf {
    /// brelse: the sleep lock is released by the guard's own drop, right after this.
    fn drop(&mut self) {
        let mut bc = BCACHE.lock();
        bc.clock += 1;
        let now = bc.clock;
        let s = &mut bc.slots[self.idx];
        s.refcnt -= 1;
        if s.refcnt == 0 {
            s.last_use = now;
            // Wake waiters for a free buffer after dropping BCACHE: wakeup takes every
            // p->lock, and no other lock may be held then (see fs::inode::iput).
            drop(bc);
            wakeup(bcache_chan());
        }
    }
}
