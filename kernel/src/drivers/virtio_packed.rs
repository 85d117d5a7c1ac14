//! Packed virtqueues (virtio 1.2 §2.8), the layout a device offers with
//! VIRTIO_F_RING_PACKED: one descriptor ring that driver and device both write, instead of
//! the split layout's descriptor table, avail ring and used ring. Fewer cache lines move per
//! buffer, and the device finds everything about a buffer in one place.
//!
//! `PackedRing` offers what `Vring` offers (see `virtqueue::Virtqueue`, which picks between
//! them), for buffers of one descriptor each. Its position, wrap-counter and flag rules are
//! in `devring::packed`, where the host tests them; this file only reads and writes the
//! shared pages.
//!
//! ```text
//!   page 0: descriptor ring, size x {addr, len, id, flags}   both sides write
//!   page 1: driver event suppression {off_wrap, flags}      we write: when to interrupt us
//!   page 2: device event suppression {off_wrap, flags}      the device writes: when to notify it
//! ```

use super::virtio::{VirtqDesc, setup_queue};
use crate::arch::riscv::PGSIZE;
use crate::mm::kalloc::kfree;
use crate::mm::mmio::Mmio;
use alloc::vec::Vec;
use core::sync::atomic::{Ordering, fence};
use devring::packed::{self, Driver, Pos};

/// Feature bit: the device supports packed virtqueues.
pub const VIRTIO_F_RING_PACKED: u32 = 34;

/// One page shared with the device, read and written by byte offset with volatile,
/// naturally aligned accesses of u16, u32 or u64 that are checked to stay inside the page.
struct SharedPage(*mut u8);

impl SharedPage {
    fn check<T>(off: usize) {
        assert!(
            off + size_of::<T>() <= PGSIZE && off.is_multiple_of(align_of::<T>()),
            "shared page access out of bounds or misaligned"
        );
    }

    fn read<T: Copy>(&self, off: usize) -> T {
        Self::check::<T>(off);
        // SAFETY: inside the page (checked), naturally aligned (checked); the page is a
        // kalloc'd page this ring owns, and T is a plain integer.
        unsafe { (self.0.add(off) as *const T).read_volatile() }
    }

    fn write<T: Copy>(&self, off: usize, v: T) {
        Self::check::<T>(off);
        // SAFETY: as in `read`.
        unsafe { (self.0.add(off) as *mut T).write_volatile(v) }
    }
}

/// A packed virtqueue of `size` entries (a power of two, at most `virtq::MAX_QUEUE_SIZE`,
/// so that the ring fits one page), with notification suppression both ways: by event
/// position when VIRTIO_F_EVENT_IDX was negotiated, by enable/disable flags otherwise.
pub struct PackedRing {
    ring: SharedPage,
    /// Our event suppression structure: when the device should interrupt us.
    driver_event: SharedPage,
    /// The device's: when it wants to be notified.
    device_event: SharedPage,
    state: Driver,
    event_idx: bool,
    /// The buffer of each id, from `set_desc`: a packed ring has no descriptor table of its
    /// own, so a buffer's descriptor is written into the ring each time it is pushed.
    bufs: Vec<VirtqDesc>,
    /// The flags we last wrote to `driver_event`, to skip writes that change nothing.
    intr_flags: u16,
    /// Descriptors made available since the last notification decision (`kick_needed`).
    unkicked: u16,
}

// SAFETY: the ring pages are owned by the PackedRing; users serialize access with a lock.
unsafe impl Send for PackedRing {}

impl PackedRing {
    /// Allocates the pages of queue `index` with `size` entries and tells the device; or
    /// says why not (the device was then told nothing). `event_idx`: whether
    /// VIRTIO_F_EVENT_IDX was negotiated (VIRTIO_F_RING_PACKED must have been).
    pub fn new(
        regs: Mmio,
        index: u32,
        size: u16,
        event_idx: bool,
    ) -> Result<PackedRing, &'static str> {
        assert!(size.is_power_of_two() && size <= devring::virtq::MAX_QUEUE_SIZE);
        let (desc, driver, device) = setup_queue(regs, index, size as u32)?;
        let mut r = PackedRing {
            ring: SharedPage(desc as *mut u8),
            driver_event: SharedPage(driver),
            device_event: SharedPage(device),
            state: Driver::new(size),
            event_idx,
            bufs: alloc::vec![VirtqDesc::default(); size as usize],
            intr_flags: packed::EVENT_FLAGS_ENABLE,
            unkicked: 0,
        };
        if event_idx {
            // Like a split ring's zeroed used_event: interrupt on the first buffer used.
            r.set_intr(packed::EVENT_FLAGS_DESC, Some(Pos::START));
        }
        Ok(r)
    }

    /// Frees the pages of a queue the device has forgotten.
    ///
    /// # Safety
    /// The device must have been reset since it was told of this queue (STATUS written
    /// with 0), so that it no longer reads or writes the pages.
    pub unsafe fn free(self) {
        kfree(self.ring.0 as usize);
        kfree(self.driver_event.0 as usize);
        kfree(self.device_event.0 as usize);
    }

    pub fn size(&self) -> u16 {
        self.state.size()
    }

    /// Sets the buffer of id `i` (one descriptor: NEXT is not supported); it reaches the
    /// device when `push(i)` writes it into the ring.
    pub fn set_desc(&mut self, i: u16, d: VirtqDesc) {
        assert!(i < self.size() && d.flags & packed::DESC_F_NEXT == 0);
        self.bufs[i as usize] = d;
    }

    fn flags_at(&self, pos: Pos) -> u16 {
        self.ring
            .read(packed::desc_offset(pos.slot) + packed::DESC_FLAGS)
    }

    /// Makes buffer `id` available to the device. Whether to notify it is decided once
    /// for a batch of pushes, by `kick_needed`.
    pub fn push(&mut self, id: u16) {
        let d = self.bufs[id as usize];
        // Every id is out at most once and there are `size` ids, so a slot is always free.
        let Some(pos) = self.state.make_avail() else {
            return;
        };
        let off = packed::desc_offset(pos.slot);
        self.ring.write(off + packed::DESC_ADDR, d.addr);
        self.ring.write(off + packed::DESC_LEN, d.len);
        self.ring.write(off + packed::DESC_ID, id);
        // The flags hand the descriptor over, so the rest must be visible first.
        fence(Ordering::SeqCst);
        let flags = (d.flags & packed::DESC_F_WRITE) | packed::avail_flags(pos.wrap);
        self.ring.write(off + packed::DESC_FLAGS, flags);
        self.unkicked += 1;
    }

    /// Records that the device was notified of every descriptor pushed so far.
    pub fn kicked(&mut self) {
        self.unkicked = 0;
    }

    /// Descriptors pushed since the last `kick_needed` or `kicked`.
    pub fn unkicked(&self) -> u16 {
        self.unkicked
    }

    /// Whether the device asked to be notified of any descriptor pushed since the last
    /// call (then write the queue's index to QUEUE_NOTIFY): with the event index, whether
    /// its event position lies among them.
    pub fn kick_needed(&mut self) -> bool {
        let added = core::mem::take(&mut self.unkicked);
        if added == 0 {
            return false;
        }
        // The descriptors must be visible before we read whether the device wants a
        // notification, or a device going idle right now could miss them.
        fence(Ordering::SeqCst);
        // One read, so offset and flags belong together.
        let event: u32 = self.device_event.read(0);
        let (off_wrap, flags) = (event as u16, (event >> 16) as u16);
        // More than a lap of pushes passes every event position.
        let added = added.min(self.size());
        packed::need_notify(flags, off_wrap, self.state.avail_pos(), added, self.size())
    }

    /// Whether the device has used buffers we have not popped yet.
    pub fn has_used(&self) -> bool {
        fence(Ordering::SeqCst);
        self.state
            .next_used()
            .is_some_and(|pos| packed::is_used(self.flags_at(pos), pos.wrap))
    }

    /// Takes the next buffer the device has used: (id, bytes it wrote), as the device wrote
    /// them: the caller checks that the id is a buffer it gave the device.
    pub fn pop_used(&mut self) -> Option<(u32, u32)> {
        if !self.has_used() {
            return None;
        }
        let off = packed::desc_offset(self.state.next_used()?.slot);
        // Read the entry only after seeing the flags that published it.
        fence(Ordering::SeqCst);
        let id: u16 = self.ring.read(off + packed::DESC_ID);
        let len: u32 = self.ring.read(off + packed::DESC_LEN);
        self.state.take_used();
        Some((id as u32, len))
    }

    /// Writes our event suppression structure: the event position first (if any), then
    /// `flags` if they changed, each made visible before what follows.
    fn set_intr(&mut self, flags: u16, event: Option<Pos>) {
        if let Some(pos) = event {
            self.driver_event
                .write(packed::EVENT_OFF_WRAP, pos.off_wrap());
            fence(Ordering::SeqCst);
        }
        if flags != self.intr_flags {
            self.driver_event.write(packed::EVENT_FLAGS, flags);
            self.intr_flags = flags;
            fence(Ordering::SeqCst);
        }
    }

    /// Asks for an interrupt when the device uses its next buffer (beyond those it has
    /// already used). Callers check `has_used` afterwards for buffers used meanwhile.
    pub fn arm_intr(&mut self) {
        if !self.event_idx {
            self.set_intr(packed::EVENT_FLAGS_ENABLE, None);
            return;
        }
        loop {
            // The device publishes no index: find where it will write its next used entry
            // by looking past the entries it has used (each looked at once, see `Driver`).
            while let Some(pos) = self.state.unseen() {
                if !packed::is_used(self.flags_at(pos), pos.wrap) {
                    break;
                }
                self.state.saw_used();
            }
            self.set_intr(packed::EVENT_FLAGS_DESC, Some(self.state.event_pos()));
            fence(Ordering::SeqCst);
            // If the device used that entry between our look and our write, it may have
            // compared against the old event and stayed silent: look again. After the fence,
            // a device that has not moved yet will see the new event.
            match self.state.unseen() {
                Some(pos) if packed::is_used(self.flags_at(pos), pos.wrap) => continue,
                _ => return,
            }
        }
    }

    /// Asks the device not to interrupt when it uses buffers.
    pub fn disarm_intr(&mut self) {
        self.set_intr(packed::EVENT_FLAGS_DISABLE, None);
    }
}
