//! virtio-net (virtio 1.2 §5.1) over the modern virtio-mmio transport. QEMU flags:
//! `-netdev user,id=net0,... -device virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1`
//! (plus `-global virtio-mmio.force-legacy=false`).
//!
//! Two virtqueues of `ring` entries each: receiveq (0) and transmitq (1). Every
//! descriptor owns one fixed 2048-byte buffer (two per kalloc'd page) for the driver's
//! lifetime, so no packet allocates. Each buffer holds the 12-byte `virtio_net_hdr`
//! (its VERSION_1 size) followed by one whole Ethernet frame of up to 1514 bytes
//! (MRG_RXBUF is not negotiated, so a frame never spans buffers).
//!
//! ```text
//!   receiveq:  all buffers posted at probe; receive() lends a used one (header
//!              stripped) to the stack, then posts it again at once.
//!   transmitq: free list of descriptors; transmit() fills one (zeroed header +
//!              frame) and posts it; used ones are reclaimed when the list runs dry.
//!   flush():   one notification (QUEUE_NOTIFY) for everything posted since the last,
//!              if the device asked for one (the stack calls it once per poll).
//! ```
//!
//! Posting publishes a buffer at once, so a device that is busy anyway takes it without
//! being told; only the notification waits for `flush` (`Vring::kick_needed` decides for
//! the whole batch). It comes sooner only when it must: when the transmitq's last free
//! slot is taken (or a batch is a queue long), and once `RX_KICK_BATCH` buffers wait on
//! RX (so that a device that ran out of buffers is not kept waiting for a whole round).
//!
//! The device's word is checked, not trusted: a used-ring entry naming a descriptor the
//! device does not hold, or a length that fits no buffer, is dropped and counted, and a
//! probe that cannot bring the card up says why on the console and returns `None`.
//!
//! Features: MAC (§5.1.4: the address is in config space), VERSION_1, EVENT_IDX when
//! offered (§2.7.7, §2.7.10: notify the device only when its `avail_event` is crossed;
//! ask for RX interrupts one frame ahead, and for TX interrupts only while every slot is
//! in flight), and RING_PACKED when offered (§2.8; QEMU offers it with `packed=on` on
//! the device): both queues are then packed rather than split. `virtqueue::Virtqueue`
//! hides the difference, so everything below is written once; docs/design.md compares
//! the two layouts. IN_ORDER is not negotiated: in either layout the device may give
//! buffers back in any order, and the used entry's id says which.
//!
//! No checksum offload: smoltcp computes every checksum on TX and verifies every one on
//! RX, so CSUM would save nothing, and GUEST_CSUM would let the device hand us partially
//! checksummed frames (NEEDS_CSUM) that smoltcp rejects.

use super::virtio::*;
use super::virtio_packed::VIRTIO_F_RING_PACKED;
use super::virtqueue::Virtqueue;
use crate::arch::riscv::{PGSIZE, r_time};
use crate::mm::kalloc::{kalloc, kfree};
use crate::mm::mmio::Mmio;
use crate::println;
use alloc::vec::Vec;
use netstack::{RxRing, TxRing};

/// virtio device type of a network card.
const DEVICE_ID_NET: u32 = 1;
const RECEIVEQ: u32 = 0;
const TRANSMITQ: u32 = 1;

// Feature bits (§5.1.3).
/// The MAC address is in config space.
const VIRTIO_NET_F_MAC: u32 = 5;

/// `struct virtio_net_hdr` with VIRTIO_F_VERSION_1: flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset, num_buffers. All zero on TX means "no offload, one buffer".
const NET_HDR_LEN: usize = 12;
/// The largest Ethernet frame without FCS: 1500 bytes of payload and a 14-byte header.
const MAX_FRAME: usize = 1514;
/// Bytes per buffer slot (two per page); a slot holds header + largest frame.
const SLOT: usize = 2048;
const _: () = assert!(NET_HDR_LEN + MAX_FRAME <= SLOT && PGSIZE.is_multiple_of(SLOT));
/// Reads of the MAC before giving up on a config space that keeps changing under us.
const CONFIG_TRIES: usize = 100;
/// Most RX buffers posted again before the device is told, when the round has not ended
/// (at most half the queue): as the E1000's RX_RETURN_BATCH.
const RX_KICK_BATCH: u16 = 16;

/// The register handle, for interrupts.
pub struct VirtioNet {
    regs: Mmio,
    irq: usize,
    mac: [u8; 6],
    /// Whether the queues are packed (VIRTIO_F_RING_PACKED) rather than split.
    packed: bool,
}

/// The receive half: receiveq and its buffers.
pub struct VirtioNetRx {
    regs: Mmio,
    queue: Virtqueue,
    /// Address of descriptor i's buffer.
    bufs: Vec<usize>,
    /// Whether the device holds descriptor i (posted, not yet used).
    posted: Vec<bool>,
    /// Used entries dropped: a descriptor the device did not hold, or a length that
    /// fits no buffer.
    dropped: u64,
    /// Notifications since the probe.
    doorbells: u64,
}

/// The transmit half: transmitq and its buffers.
pub struct VirtioNetTx {
    regs: Mmio,
    queue: Virtqueue,
    /// Address of descriptor i's buffer.
    bufs: Vec<usize>,
    /// Descriptors the device does not hold (capacity = queue size, so never grows).
    free: Vec<u16>,
    /// Whether the device holds descriptor i (posted, not yet used).
    posted: Vec<bool>,
    /// Used entries ignored: a descriptor the device did not hold.
    bad_used: u64,
    /// Whether we asked for an interrupt when the device frees a slot (only while
    /// `free` is empty).
    armed: bool,
    /// Notifications since the probe.
    doorbells: u64,
}

/// Finds a virtio-net device on virtio-mmio and brings it up with queues of `ring`
/// descriptors. None if there is no such device, or (saying why on the console) if it
/// cannot be brought up; the device is then left reset.
pub fn probe(ring: usize) -> Option<(VirtioNet, VirtioNetRx, VirtioNetTx)> {
    let (regs, irq) = super::virtio::probe(DEVICE_ID_NET)?;
    let Some((mac, rx, tx)) = bring_up(regs, ring) else {
        regs.write32(STATUS, 0);
        return None;
    };
    let packed = rx.queue.is_packed();
    Some((
        VirtioNet {
            regs,
            irq,
            mac,
            packed,
        },
        rx,
        tx,
    ))
}

/// Says why the card cannot be brought up; None for the caller to return.
fn fail<T>(why: core::fmt::Arguments) -> Option<T> {
    println!("virtio-net: {}", why);
    None
}

/// Negotiates features and sets up both queues with their buffers; on failure, says
/// why, and the caller resets the device.
fn bring_up(regs: Mmio, ring: usize) -> Option<([u8; 6], VirtioNetRx, VirtioNetTx)> {
    // Everything else stays off: no offloads (see the module comment), no merged RX
    // buffers, no control queue, one queue pair.
    let wanted = [
        VIRTIO_NET_F_MAC,
        VIRTIO_F_EVENT_IDX,
        VIRTIO_F_VERSION_1,
        VIRTIO_F_RING_PACKED,
    ];
    let features = match negotiate_all(regs, |_| wanted.iter().fold(0, |all, b| all | 1u64 << b)) {
        Ok(features) => features,
        Err(why) => return fail(format_args!("{why}")),
    };
    let event_idx = features & (1 << VIRTIO_F_EVENT_IDX) != 0;
    let packed = features & (1 << VIRTIO_F_RING_PACKED) != 0;
    let max = queue_max(regs, RECEIVEQ).min(queue_max(regs, TRANSMITQ));
    let Some(size) = devring::virtq::queue_size(ring, max) else {
        return fail(format_args!("queues too short ({max} descriptors)"));
    };
    let mac = if features & (1 << VIRTIO_NET_F_MAC) != 0 {
        let Some(mac) = read_mac(regs) else {
            return fail(format_args!("the MAC in config space keeps changing"));
        };
        mac
    } else {
        // §5.1.5: without a MAC from the device, make up a locally administered one
        // (the clock's low bits stand in for randomness).
        let t = (r_time() as u32).to_le_bytes();
        [0x02, 0x00, t[0], t[1], t[2], t[3]]
    };

    // Buffers first: the device knows nothing of them, so a failure only frees them.
    let Some(rx_bufs) = alloc_slots(size) else {
        return fail(format_args!("out of memory for the buffers"));
    };
    let Some(tx_bufs) = alloc_slots(size) else {
        free_slots(&rx_bufs);
        return fail(format_args!("out of memory for the buffers"));
    };
    let rx_queue = match Virtqueue::new(regs, RECEIVEQ, size, event_idx, packed) {
        Ok(q) => q,
        Err(why) => {
            free_slots(&rx_bufs);
            free_slots(&tx_bufs);
            return fail(format_args!("receiveq: {why}"));
        }
    };
    let tx_queue = match Virtqueue::new(regs, TRANSMITQ, size, event_idx, packed) {
        Ok(q) => q,
        Err(why) => {
            regs.write32(STATUS, 0);
            // SAFETY: the device was just reset, so it has forgotten the receiveq.
            unsafe { rx_queue.free() };
            free_slots(&rx_bufs);
            free_slots(&tx_bufs);
            return fail(format_args!("transmitq: {why}"));
        }
    };

    let mut rx = VirtioNetRx {
        regs,
        queue: rx_queue,
        bufs: rx_bufs,
        posted: alloc::vec![false; size as usize],
        dropped: 0,
        doorbells: 0,
    };
    for i in 0..size {
        rx.queue.set_desc(
            i,
            VirtqDesc {
                addr: rx.bufs[i as usize] as u64,
                len: (NET_HDR_LEN + MAX_FRAME) as u32,
                flags: VRING_DESC_F_WRITE,
                next: 0,
            },
        );
        // The device may not be notified before DRIVER_OK; it is, below.
        rx.posted[i as usize] = true;
        rx.queue.push(i);
    }
    let mut tx = VirtioNetTx {
        regs,
        queue: tx_queue,
        bufs: tx_bufs,
        free: (0..size).rev().collect(),
        posted: alloc::vec![false; size as usize],
        bad_used: 0,
        armed: false,
        doorbells: 0,
    };
    // Sent frames need no interrupt until every slot is in flight.
    tx.queue.disarm_intr();

    driver_ok(regs);
    regs.write32(QUEUE_NOTIFY, RECEIVEQ);
    rx.queue.kicked();
    Some((mac, rx, tx))
}

/// Reads the MAC from config space, again if the device changed it meanwhile (§4.2.2.2:
/// CONFIG_GENERATION); None if it never holds still.
fn read_mac(regs: Mmio) -> Option<[u8; 6]> {
    for _ in 0..CONFIG_TRIES {
        let generation = regs.read32(CONFIG_GENERATION);
        let mut mac = [0u8; 6];
        for (i, b) in mac.iter_mut().enumerate() {
            *b = regs.read8(CONFIG + i);
        }
        if regs.read32(CONFIG_GENERATION) == generation {
            return Some(mac);
        }
    }
    None
}

/// Addresses of `n` buffer slots, two per page. The pages are the driver's for good;
/// None (with nothing allocated) if memory runs out.
fn alloc_slots(n: u16) -> Option<Vec<usize>> {
    let mut slots = Vec::with_capacity(n as usize);
    while slots.len() < n as usize {
        let Some(page) = kalloc() else {
            free_slots(&slots);
            return None;
        };
        slots.extend((page..page + PGSIZE).step_by(SLOT));
    }
    slots.truncate(n as usize);
    Some(slots)
}

/// Frees the pages of slots from `alloc_slots` that the device was never given.
fn free_slots(slots: &[usize]) {
    for &page in slots.iter().step_by(PGSIZE / SLOT) {
        kfree(page);
    }
}

/// Descriptor `id` of a used-ring entry, if the device holds it (`posted`): any other
/// id, out of range or already given back, is the device's mistake.
fn held(posted: &[bool], id: u32) -> Option<u16> {
    let id = u16::try_from(id).ok()?;
    posted.get(id as usize).copied()?.then_some(id)
}

impl VirtioNet {
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// PLIC IRQ of the card.
    pub fn irq(&self) -> usize {
        self.irq
    }

    /// Acknowledges the card's interrupt (INTERRUPT_ACK); false if it was not ours.
    pub fn ack_irq(&mut self) -> bool {
        // Bit 0: a queue has used buffers; bit 1: the configuration changed.
        let status = self.regs.read32(INTERRUPT_STATUS) & 0x3;
        self.regs.write32(INTERRUPT_ACK, status);
        status != 0
    }

    /// Whether the queues are packed (VIRTIO_F_RING_PACKED) rather than split.
    pub fn packed(&self) -> bool {
        self.packed
    }

    /// Frames the card dropped for lack of RX descriptors: virtio-net cannot tell, so 0.
    pub fn rx_missed(&self) -> u64 {
        0
    }
}

impl VirtioNetRx {
    /// Whether the device has delivered a frame we have not taken yet (reads memory only).
    pub fn ready(&self) -> bool {
        self.queue.has_used()
    }
}

impl VirtioNetRx {
    /// Used entries dropped because the device reported a descriptor it did not hold or
    /// a length that fits no buffer.
    #[expect(
        dead_code,
        reason = "for netstat: the net glue has no field for it yet"
    )]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Offers descriptor `id` (ours, not held by the device) to the device again; its
    /// descriptor still describes its buffer. The device hears of it at the next
    /// `flush`, or here once `RX_KICK_BATCH` wait.
    fn post(&mut self, id: u16) {
        self.posted[id as usize] = true;
        self.queue.push(id);
        if self.queue.unkicked() >= RX_KICK_BATCH.min(self.queue.size() / 2) {
            self.flush();
        }
    }

    /// Notifications since the probe.
    pub fn doorbells(&self) -> u64 {
        self.doorbells
    }
}

impl RxRing for VirtioNetRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        // Bounded so that a device reporting only bad entries cannot hold us here.
        for _ in 0..=self.queue.size() {
            let (id, len) = match self.queue.pop_used() {
                Some(used) => used,
                None => {
                    // Drained: ask for an interrupt on the next frame, then look once
                    // more for a frame that arrived before the request took effect.
                    self.queue.arm_intr();
                    self.queue.pop_used()?
                }
            };
            // Only a descriptor the device holds can come back: any other id (out of
            // range, or one it already returned) is dropped and never posted twice.
            let Some(id) = held(&self.posted, id) else {
                self.dropped += 1;
                continue;
            };
            self.posted[id as usize] = false;
            let len = len as usize;
            if !(NET_HDR_LEN..=NET_HDR_LEN + MAX_FRAME).contains(&len) {
                // Shorter than the header or longer than the buffer: no frame.
                self.dropped += 1;
                self.post(id);
                continue;
            }
            let addr = self.bufs[id as usize];
            // SAFETY: the buffer is one of ours (slot `id`, SLOT bytes inside a page we
            // own, len checked against it), and the device gave it back (used ring) and
            // will not write it until `post` below, after the borrow ends.
            let frame = unsafe {
                core::slice::from_raw_parts((addr + NET_HDR_LEN) as *const u8, len - NET_HDR_LEN)
            };
            let r = f(frame);
            self.post(id);
            // Interrupt on the next frame the device delivers from now on. Re-arming
            // after every frame, not only once drained, keeps interrupts coming when the
            // stack stops short of draining (its RX budget); frames left then go on the
            // next interrupt or poll.
            self.queue.arm_intr();
            return Some(r);
        }
        // Only bad entries so far: the rest wait for the next interrupt or poll.
        self.queue.arm_intr();
        None
    }

    fn flush(&mut self) {
        if self.queue.kick_needed() {
            self.regs.write32(QUEUE_NOTIFY, RECEIVEQ);
            self.doorbells += 1;
        }
    }
}

impl VirtioNetTx {
    /// Used entries ignored because they named a descriptor the device did not hold.
    #[expect(
        dead_code,
        reason = "for netstat: the net glue has no field for it yet"
    )]
    pub fn bad_used(&self) -> u64 {
        self.bad_used
    }

    /// Notifications since the probe.
    pub fn doorbells(&self) -> u64 {
        self.doorbells
    }

    /// A free descriptor. The ones the device has sent are reclaimed only when at most
    /// one is left.
    ///
    /// Taking the last one asks for an interrupt when the device gives any back: the
    /// stack sees `can_transmit` false until then and keeps its frames, and that
    /// interrupt's poll is what retries them. (Arming here rather than in
    /// `can_transmit`, which only gets `&self`, covers the same moment: the ring stays
    /// full and armed until a reclaim, which disarms.)
    fn take_slot(&mut self) -> Option<u16> {
        if self.free.len() <= 1 {
            self.reclaim();
        }
        let id = self.free.pop()?;
        if self.free.is_empty() {
            self.queue.arm_intr();
            self.armed = true;
        }
        Some(id)
    }

    fn reclaim(&mut self) {
        let mut any = false;
        while let Some((id, _)) = self.queue.pop_used() {
            // Only a descriptor the device holds can come back; any other id is ignored,
            // so `free` never holds one twice (nor grows past the queue size).
            let Some(id) = held(&self.posted, id) else {
                self.bad_used += 1;
                continue;
            };
            self.posted[id as usize] = false;
            self.free.push(id);
            any = true;
        }
        if any && self.armed {
            self.queue.disarm_intr();
            self.armed = false;
        }
    }
}

impl TxRing for VirtioNetTx {
    fn can_transmit(&self) -> bool {
        !self.free.is_empty() || self.queue.has_used()
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        if len > MAX_FRAME {
            return Err(f);
        }
        let Some(id) = self.take_slot() else {
            return Err(f);
        };
        let addr = self.bufs[id as usize];
        // SAFETY: slot `id` is ours (SLOT bytes inside a page we own), and the device
        // does not hold it: it is on no ring until `push` below, after the borrow ends.
        let buf = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, NET_HDR_LEN + len) };
        buf[..NET_HDR_LEN].fill(0);
        let r = f(&mut buf[NET_HDR_LEN..]);
        self.queue.set_desc(
            id,
            VirtqDesc {
                addr: addr as u64,
                len: (NET_HDR_LEN + len) as u32,
                flags: 0,
                next: 0,
            },
        );
        self.posted[id as usize] = true;
        self.queue.push(id);
        // The device learns of it at the next `flush`, or now if that was the last free
        // slot (slots come back only as the device sends, and `can_transmit` says no
        // meanwhile) or the batch is a queue long (`virtq::Batch` needs it bounded).
        if self.free.is_empty() || self.queue.unkicked() >= self.queue.size() {
            self.flush();
        }
        Ok(r)
    }

    fn flush(&mut self) {
        if self.queue.kick_needed() {
            self.regs.write32(QUEUE_NOTIFY, TRANSMITQ);
            self.doorbells += 1;
        }
    }
}
