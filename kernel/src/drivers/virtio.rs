//! The virtio-mmio transport (version 2, "modern": QEMU needs
//! `-global virtio-mmio.force-legacy=false`) and split virtqueues, shared by the
//! virtio block and network drivers. Virtio 1.2 spec §4.2 (MMIO) and §2.7 (split queues).
//!
//! `Vring` serves both the disk (a fixed size, no event index) and the NIC (size chosen at
//! boot, notification suppression by event index); its index arithmetic is in
//! `devring::virtq`, where the host tests it. The NIC may use packed virtqueues instead
//! (virtio_packed.rs), through `virtqueue::Virtqueue`.

use crate::arch::riscv::PGSIZE;
use crate::mm::kalloc::{kfree, kzalloc};
use crate::mm::mmio::Mmio;
use core::sync::atomic::{Ordering, fence};
use devring::virtq;

// Registers (§4.2.2).
pub const MAGIC_VALUE: usize = 0x000; // 0x74726976 ("virt")
pub const VERSION: usize = 0x004; // 2 for modern devices
pub const DEVICE_ID: usize = 0x008; // 1 is net, 2 is disk
pub const DEVICE_FEATURES: usize = 0x010;
pub const DEVICE_FEATURES_SEL: usize = 0x014;
pub const DRIVER_FEATURES: usize = 0x020;
pub const DRIVER_FEATURES_SEL: usize = 0x024;
pub const QUEUE_SEL: usize = 0x030;
pub const QUEUE_NUM_MAX: usize = 0x034;
pub const QUEUE_NUM: usize = 0x038;
pub const QUEUE_READY: usize = 0x044;
pub const QUEUE_NOTIFY: usize = 0x050;
pub const INTERRUPT_STATUS: usize = 0x060;
pub const INTERRUPT_ACK: usize = 0x064;
pub const STATUS: usize = 0x070;
pub const QUEUE_DESC_LOW: usize = 0x080;
pub const QUEUE_DESC_HIGH: usize = 0x084;
pub const QUEUE_DRIVER_LOW: usize = 0x090;
pub const QUEUE_DRIVER_HIGH: usize = 0x094;
pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
pub const CONFIG_GENERATION: usize = 0x0fc;
/// Start of the device-specific configuration space.
pub const CONFIG: usize = 0x100;

// Device status bits (§2.1).
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;

// Descriptor flags.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// The device writes (vs. reads) this buffer.
pub const VRING_DESC_F_WRITE: u16 = 2;

// Notification suppression without VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10).
/// In the avail ring's flags: the driver needs no used-buffer interrupt.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// In the used ring's flags: the device needs no available-buffer notification.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// Feature bit: both sides publish event indexes instead of those flags.
pub const VIRTIO_F_EVENT_IDX: u32 = 29;
/// Feature bit: a modern (virtio 1.x) device; one on virtio-mmio version 2 requires it.
pub const VIRTIO_F_VERSION_1: u32 = 32;

/// A buffer descriptor (§2.7.5).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct VirtqDesc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

/// Finds the virtio-mmio slot that holds a modern device of type `device_id`.
pub fn probe(device_id: u32) -> Option<(Mmio, usize)> {
    for slot in crate::dtb::platform().virtio.iter().flatten() {
        // SAFETY: every virtio slot's window from the device tree is mapped by kvmmake.
        let regs = unsafe { Mmio::new(slot.base) };
        if regs.read32(MAGIC_VALUE) == 0x7472_6976
            && regs.read32(VERSION) == 2
            && regs.read32(DEVICE_ID) == device_id
        {
            return Some((regs, slot.irq));
        }
    }
    None
}

/// Resets the device and negotiates features: the driver accepts `accept(offered)`
/// of the low 32 feature bits (and VIRTIO_F_VERSION_1 from the high ones).
/// Returns the accepted low bits, or why the device refused them.
pub fn negotiate(regs: Mmio, accept: impl Fn(u32) -> u32) -> Result<u32, &'static str> {
    negotiate_all(regs, |offered| {
        u64::from(accept(offered as u32)) | 1 << VIRTIO_F_VERSION_1
    })
    .map(|features| features as u32)
}

/// Resets the device and negotiates all 64 feature bits: the driver accepts
/// `accept(offered) & offered`. A modern device requires VIRTIO_F_VERSION_1, so `accept`
/// must include it. Returns the accepted bits, or why the device refused them.
pub fn negotiate_all(regs: Mmio, accept: impl Fn(u64) -> u64) -> Result<u64, &'static str> {
    regs.write32(STATUS, 0);
    let mut status = STATUS_ACKNOWLEDGE;
    regs.write32(STATUS, status);
    status |= STATUS_DRIVER;
    regs.write32(STATUS, status);

    let mut offered = 0u64;
    for word in 0..2 {
        regs.write32(DEVICE_FEATURES_SEL, word);
        offered |= u64::from(regs.read32(DEVICE_FEATURES)) << (32 * word);
    }
    let features = accept(offered) & offered;
    for word in 0..2 {
        regs.write32(DRIVER_FEATURES_SEL, word);
        regs.write32(DRIVER_FEATURES, (features >> (32 * word)) as u32);
    }

    status |= STATUS_FEATURES_OK;
    regs.write32(STATUS, status);
    if regs.read32(STATUS) & STATUS_FEATURES_OK == 0 {
        return Err("FEATURES_OK unset");
    }
    Ok(features)
}

/// Tells the device the driver is ready.
pub fn driver_ok(regs: Mmio) {
    let s = regs.read32(STATUS);
    regs.write32(STATUS, s | STATUS_DRIVER_OK);
}

/// Selects queue `index`, checks it is free and at least `num` long, gives it three
/// zeroed pages (descriptor table, avail ring, used ring) and marks it ready. On
/// failure the device was told nothing and no page stays allocated. The pages serve
/// either layout: a packed queue puts its ring in the first and its event suppression
/// structures in the other two.
pub(super) fn setup_queue(
    regs: Mmio,
    index: u32,
    num: u32,
) -> Result<(*mut VirtqDesc, *mut u8, *mut u8), &'static str> {
    regs.write32(QUEUE_SEL, index);
    if regs.read32(QUEUE_READY) != 0 {
        return Err("queue already in use");
    }
    if regs.read32(QUEUE_NUM_MAX) < num {
        return Err("queue too short");
    }
    let pages = [kzalloc(), kzalloc(), kzalloc()];
    let [Some(desc), Some(avail), Some(used)] = pages else {
        pages.into_iter().flatten().for_each(kfree);
        return Err("out of memory");
    };
    regs.write32(QUEUE_NUM, num);
    regs.write32(QUEUE_DESC_LOW, desc as u32);
    regs.write32(QUEUE_DESC_HIGH, (desc >> 32) as u32);
    regs.write32(QUEUE_DRIVER_LOW, avail as u32);
    regs.write32(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
    regs.write32(QUEUE_DEVICE_LOW, used as u32);
    regs.write32(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
    regs.write32(QUEUE_READY, 1);
    Ok((desc as *mut VirtqDesc, avail as *mut u8, used as *mut u8))
}

/// The largest queue `index` of the device allows (0: no such queue).
pub fn queue_max(regs: Mmio, index: u32) -> u32 {
    regs.write32(QUEUE_SEL, index);
    regs.read32(QUEUE_NUM_MAX)
}

/// A split virtqueue whose size is chosen at run time (a power of two, at most
/// `virtq::MAX_QUEUE_SIZE`), with notification suppression both ways: by
/// event index when VIRTIO_F_EVENT_IDX was negotiated, by the ring flags otherwise.
/// It owns no descriptor free list: its user decides which descriptors are whose.
///
/// ```text
///   driver: set_desc, push --avail ring--> device ... device --used ring--> pop_used
///           (kick_needed: notify now?)                (arm_intr asks for an interrupt)
/// ```
///
/// `push` publishes an entry at once; whether the device must be notified is decided by
/// `kick_needed`, once for every entry pushed since its last call (`virtq::Batch`), so a
/// user may push several and ring the doorbell once.
pub struct Vring {
    desc: *mut VirtqDesc,
    avail: *mut u8,
    used: *mut u8,
    size: u16,
    event_idx: bool,
    /// The avail index we published last (the device only reads it), and where the
    /// entries not yet considered for a notification begin.
    batch: virtq::Batch,
    /// How far we have consumed the used ring.
    used_idx: u16,
}

// SAFETY: the ring pages are owned by the Vring; users serialize access with a lock.
unsafe impl Send for Vring {}

impl Vring {
    /// Allocates the rings of queue `index` with `size` entries and tells the device;
    /// or says why not (the device was then told nothing).
    /// `event_idx`: whether VIRTIO_F_EVENT_IDX was negotiated.
    pub fn new(regs: Mmio, index: u32, size: u16, event_idx: bool) -> Result<Vring, &'static str> {
        assert!(size.is_power_of_two() && size <= virtq::MAX_QUEUE_SIZE);
        let (desc, avail, used) = setup_queue(regs, index, size as u32)?;
        Ok(Vring {
            desc,
            avail,
            used,
            size,
            event_idx,
            batch: virtq::Batch::at(0),
            used_idx: 0,
        })
    }

    /// Frees the ring pages of a queue the device has forgotten.
    ///
    /// # Safety
    /// The device must have been reset since it was told of this queue (STATUS written
    /// with 0), so that it no longer reads or writes the pages.
    pub unsafe fn free(self) {
        kfree(self.desc as usize);
        kfree(self.avail as usize);
        kfree(self.used as usize);
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn set_desc(&mut self, i: u16, d: VirtqDesc) {
        assert!(i < self.size);
        // SAFETY: i < size, inside the descriptor page.
        unsafe { self.desc.add(i as usize).write_volatile(d) };
    }

    /// Reads the u16 at byte `off` of the avail (`used` false) or used ring page.
    fn read16(&self, used: bool, off: usize) -> u16 {
        let page = if used { self.used } else { self.avail };
        assert!(off + 2 <= PGSIZE && off.is_multiple_of(2));
        // SAFETY: inside the ring's page (checked), 2-byte aligned.
        unsafe { (page.add(off) as *const u16).read_volatile() }
    }

    /// Writes the u16 at byte `off` of the avail ring page (the driver's side).
    fn write_avail16(&mut self, off: usize, v: u16) {
        assert!(off + 2 <= PGSIZE && off.is_multiple_of(2));
        // SAFETY: inside the avail page (checked), 2-byte aligned.
        unsafe { (self.avail.add(off) as *mut u16).write_volatile(v) }
    }

    /// The used ring's index: how many buffers the device has used, ever (mod 2^16).
    fn device_used_idx(&self) -> u16 {
        self.read16(true, 2)
    }

    /// Makes descriptor chain `head` available to the device. The device is not notified:
    /// call `kick_needed` once the batch is complete (the disk always notifies).
    pub fn push(&mut self, head: u16) {
        let entry = 4 + 2 * virtq::slot(self.batch.next(), self.size);
        self.write_avail16(entry, head);
        // The descriptor and the ring entry must be visible before the index that
        // publishes them.
        fence(Ordering::SeqCst);
        let new = self.batch.publish();
        self.write_avail16(2, new);
    }

    /// Records that the device was notified of every entry pushed so far, for a user that
    /// notifies after each push whatever the device asked (the disk).
    pub fn kicked(&mut self) {
        self.batch = virtq::Batch::at(self.batch.next());
    }

    /// Entries pushed since the last `kick_needed` or `kicked`.
    pub fn unkicked(&self) -> u16 {
        self.batch.len()
    }

    /// Whether the device asked to be notified of any entry pushed since the last call
    /// (then write the queue's index to QUEUE_NOTIFY); with the event index, whether its
    /// `avail_event` lies among those entries (`virtq::Batch`).
    pub fn kick_needed(&mut self) -> bool {
        if self.batch.is_empty() {
            return false;
        }
        // The new index must be visible before we read whether the device wants a
        // notification, or a device going idle right now could miss it.
        fence(Ordering::SeqCst);
        if self.event_idx {
            let avail_event = self.read16(true, virtq::avail_event_offset(self.size));
            self.batch.end_by_event(avail_event)
        } else {
            let no_notify = self.read16(true, 0) & VRING_USED_F_NO_NOTIFY != 0;
            self.batch.end_by_flag(no_notify)
        }
    }

    /// Whether the device has used buffers we have not popped yet.
    pub fn has_used(&self) -> bool {
        fence(Ordering::SeqCst);
        virtq::pending(self.device_used_idx(), self.used_idx) != 0
    }

    /// Takes the next buffer the device has used: (head id, bytes it wrote), as the
    /// device wrote them: the caller checks that the id is a chain it gave the device.
    pub fn pop_used(&mut self) -> Option<(u32, u32)> {
        if !self.has_used() {
            return None;
        }
        // Read the element only after seeing the index that published it.
        fence(Ordering::SeqCst);
        let off = virtq::used_elem_offset(virtq::slot(self.used_idx, self.size));
        // SAFETY: the element lies inside the used page (size <= 256 elements of 8 bytes
        // after a 4-byte header), 4-byte aligned.
        let (id, len) = unsafe {
            let elem = self.used.add(off) as *const u32;
            (elem.read_volatile(), elem.add(1).read_volatile())
        };
        self.used_idx = self.used_idx.wrapping_add(1);
        Some((id, len))
    }

    /// Asks for an interrupt when the device uses its next buffer (beyond those it has
    /// already used). Callers check `has_used` afterwards for buffers used meanwhile.
    pub fn arm_intr(&mut self) {
        if !self.event_idx {
            self.write_avail16(0, 0);
            fence(Ordering::SeqCst);
            return;
        }
        let off = virtq::used_event_offset(self.size);
        loop {
            let seen = self.device_used_idx();
            self.write_avail16(off, seen);
            // If the device used another buffer between our read and our write, it may
            // have compared against the old event and stayed silent: try again. After the
            // fence, a device that has not moved yet will see the new event.
            fence(Ordering::SeqCst);
            if self.device_used_idx() == seen {
                return;
            }
        }
    }

    /// Asks the device not to interrupt when it uses buffers (a hint it may ignore).
    pub fn disarm_intr(&mut self) {
        if self.event_idx {
            // An event just behind what we consumed is crossed only after a full lap
            // of 2^16 buffers.
            let off = virtq::used_event_offset(self.size);
            self.write_avail16(off, self.used_idx.wrapping_sub(1));
        } else {
            self.write_avail16(0, VRING_AVAIL_F_NO_INTERRUPT);
        }
    }
}
