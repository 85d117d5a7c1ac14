//! virtio-blk (virtio 1.2 §5.2): the disk that holds fs.img. QEMU flags:
//! `-drive file=fs.img,if=none,format=raw,id=x0
//!  -device virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0`.
//!
//! Each request is a chain of three descriptors: the request header (read by the
//! device), the data block, and a status byte (written by the device). The caller
//! sleeps until the completion interrupt marks its chain done.

use super::virtio::*;
use crate::mm::mmio::Mmio;
use crate::proc::{sleep, wakeup};
use crate::sync::once::Once;
use crate::sync::spinlock::Spinlock;
use abi::fs::BSIZE;

/// Descriptors in the queue.
const NUM: usize = 8;

const VIRTIO_BLK_T_IN: u32 = 0; // read the disk
const VIRTIO_BLK_T_OUT: u32 = 1; // write the disk

// Feature bits we refuse (§5.2.3).
const VIRTIO_BLK_F_RO: u32 = 5;
const VIRTIO_BLK_F_SCSI: u32 = 7;
const VIRTIO_BLK_F_CONFIG_WCE: u32 = 11;
const VIRTIO_BLK_F_MQ: u32 = 12;
const VIRTIO_F_ANY_LAYOUT: u32 = 27;
const VIRTIO_RING_F_INDIRECT_DESC: u32 = 28;
const VIRTIO_RING_F_EVENT_IDX: u32 = 29;

/// The request header the device reads (§5.2.6).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct BlkReq {
    typ: u32,
    reserved: u32,
    sector: u64,
}

#[derive(Clone, Copy)]
struct Inflight {
    /// Device-written status: 0 is success.
    status: u8,
    done: bool,
}

struct Disk {
    regs: Mmio,
    queue: Vring,
    /// Which descriptors are free (the queue leaves the bookkeeping to us).
    free: [bool; NUM],
    /// One header per descriptor head, so each chain has its own.
    ops: [BlkReq; NUM],
    info: [Inflight; NUM],
}

static DISK: Spinlock<Option<Disk>> = Spinlock::new("virtio_disk", None);
static IRQ: Once<usize> = Once::new();

/// PLIC IRQ of the disk, once initialized.
pub fn irq() -> Option<usize> {
    IRQ.try_get().copied()
}

pub fn virtio_disk_init() {
    let (regs, irq) = probe(2).expect("could not find virtio disk");
    negotiate(regs, |offered| {
        offered
            & !(1 << VIRTIO_BLK_F_RO
                | 1 << VIRTIO_BLK_F_SCSI
                | 1 << VIRTIO_BLK_F_CONFIG_WCE
                | 1 << VIRTIO_BLK_F_MQ
                | 1 << VIRTIO_F_ANY_LAYOUT
                | 1 << VIRTIO_RING_F_EVENT_IDX
                | 1 << VIRTIO_RING_F_INDIRECT_DESC)
    })
    .unwrap_or_else(|why| panic!("virtio: {why}"));
    // Without its disk the kernel cannot run: xv6 panics here too.
    let queue =
        Vring::new(regs, 0, NUM as u16, false).unwrap_or_else(|why| panic!("virtio: {why}"));
    driver_ok(regs);
    *DISK.lock() = Some(Disk {
        regs,
        queue,
        free: [true; NUM],
        ops: [BlkReq::default(); NUM],
        info: [Inflight {
            status: 0,
            done: false,
        }; NUM],
    });
    IRQ.set(irq);
}

fn free_chan() -> usize {
    &DISK as *const _ as usize
}

fn done_chan(d: &Disk, head: u16) -> usize {
    &d.info[head as usize] as *const Inflight as usize
}

/// Allocates three descriptors, or none.
fn alloc3(free: &mut [bool; NUM]) -> Option<[u16; 3]> {
    let mut idx = [0u16; 3];
    let mut found = 0;
    for (i, f) in free.iter().enumerate() {
        if *f && found < 3 {
            idx[found] = i as u16;
            found += 1;
        }
    }
    if found < 3 {
        return None;
    }
    for &i in &idx {
        free[i as usize] = false;
    }
    Some(idx)
}

/// Reads or writes disk block `blockno` from/to `data`, sleeping until the device is done.
/// `data` must be identity-mapped kernel memory (the buffer cache is).
pub fn virtio_disk_rw(data: &mut [u8; BSIZE], blockno: u32, write: bool) {
    let sector = blockno as u64 * (BSIZE / 512) as u64;
    let mut guard = DISK.lock();
    let idx = loop {
        let d = guard.as_mut().expect("virtio disk not initialized");
        if let Some(idx) = alloc3(&mut d.free) {
            break idx;
        }
        guard = sleep(free_chan(), guard);
    };
    let d = guard.as_mut().unwrap();
    let head = idx[0] as usize;
    d.ops[head] = BlkReq {
        typ: if write {
            VIRTIO_BLK_T_OUT
        } else {
            VIRTIO_BLK_T_IN
        },
        reserved: 0,
        sector,
    };
    d.info[head] = Inflight {
        status: 0xff,
        done: false,
    };
    let req_addr = &d.ops[head] as *const BlkReq as u64;
    let status_addr = &d.info[head].status as *const u8 as u64;
    d.queue.set_desc(
        idx[0],
        VirtqDesc {
            addr: req_addr,
            len: core::mem::size_of::<BlkReq>() as u32,
            flags: VRING_DESC_F_NEXT,
            next: idx[1],
        },
    );
    d.queue.set_desc(
        idx[1],
        VirtqDesc {
            addr: data.as_ptr() as u64,
            len: BSIZE as u32,
            // The device writes the buffer on a read.
            flags: VRING_DESC_F_NEXT | if write { 0 } else { VRING_DESC_F_WRITE },
            next: idx[2],
        },
    );
    d.queue.set_desc(
        idx[2],
        VirtqDesc {
            addr: status_addr,
            len: 1,
            flags: VRING_DESC_F_WRITE,
            next: 0,
        },
    );
    // The disk queue never suppresses notifications we care about: always ring.
    d.queue.push(idx[0]);
    d.queue.kicked();
    d.regs.write32(QUEUE_NOTIFY, 0);

    // Wait for virtio_disk_intr() to say the request has finished.
    loop {
        let d = guard.as_mut().unwrap();
        if d.info[head].done {
            break;
        }
        let chan = done_chan(d, idx[0]);
        guard = sleep(chan, guard);
    }
    let d = guard.as_mut().unwrap();
    if d.info[head].status != 0 {
        panic!("virtio_disk_rw: status {}", d.info[head].status);
    }
    for &i in &idx {
        d.free[i as usize] = true;
    }
    wakeup(free_chan());
}

pub fn virtio_disk_intr() {
    let mut guard = DISK.lock();
    let Some(d) = guard.as_mut() else { return };
    // Acknowledge first: a completion that arrives while we drain raises a new interrupt.
    let status = d.regs.read32(INTERRUPT_STATUS);
    d.regs.write32(INTERRUPT_ACK, status & 0x3);
    while let Some((id, _len)) = d.queue.pop_used() {
        // An id that names no request is ignored: its waiter, if any, keeps waiting.
        let Some(info) = d.info.get_mut(id as usize) else {
            continue;
        };
        info.done = true;
        wakeup(done_chan(d, id as u16));
    }
}
