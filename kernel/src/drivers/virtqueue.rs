//! One virtqueue in either layout, split (`virtio::Vring`) or packed
//! (`virtio_packed::PackedRing`), behind the interface both offer, so a driver's receive
//! and transmit paths are written once. The layout is fixed when the queue is made: packed
//! if VIRTIO_F_RING_PACKED was negotiated, split otherwise.
//!
//! Whether a batch of pushes needs a notification is decided here (`kick_needed`, by the
//! layout's own event suppression rules); the caller only writes QUEUE_NOTIFY when told to.

use super::virtio::{VirtqDesc, Vring};
use super::virtio_packed::PackedRing;
use crate::mm::mmio::Mmio;

pub enum Virtqueue {
    Split(Vring),
    Packed(PackedRing),
}

/// Evaluates `$e` with `$r` bound to whichever ring `$q` holds.
macro_rules! each {
    ($q:expr, $r:ident => $e:expr) => {
        match $q {
            Virtqueue::Split($r) => $e,
            Virtqueue::Packed($r) => $e,
        }
    };
}

impl Virtqueue {
    /// Allocates queue `index` with `size` entries in the negotiated layout (`packed`) and
    /// tells the device; or says why not (the device was then told nothing). `event_idx`:
    /// whether VIRTIO_F_EVENT_IDX was negotiated.
    pub fn new(
        regs: Mmio,
        index: u32,
        size: u16,
        event_idx: bool,
        packed: bool,
    ) -> Result<Virtqueue, &'static str> {
        Ok(if packed {
            Virtqueue::Packed(PackedRing::new(regs, index, size, event_idx)?)
        } else {
            Virtqueue::Split(Vring::new(regs, index, size, event_idx)?)
        })
    }

    /// Frees the queue's pages.
    ///
    /// # Safety
    /// The device must have been reset since it was told of this queue (STATUS written
    /// with 0), so that it no longer reads or writes the pages.
    pub unsafe fn free(self) {
        // SAFETY: the caller's contract is each ring's own.
        each!(self, r => unsafe { r.free() })
    }

    pub fn is_packed(&self) -> bool {
        matches!(self, Virtqueue::Packed(_))
    }

    pub fn size(&self) -> u16 {
        each!(self, r => r.size())
    }

    /// Sets the buffer of descriptor (split) or id (packed) `i`.
    pub fn set_desc(&mut self, i: u16, d: VirtqDesc) {
        each!(self, r => r.set_desc(i, d))
    }

    /// Makes buffer `i` available; the device learns of it at once if it looks, and is
    /// notified only when `kick_needed` says so.
    pub fn push(&mut self, i: u16) {
        each!(self, r => r.push(i))
    }

    /// Records that the device was notified of everything pushed so far.
    pub fn kicked(&mut self) {
        each!(self, r => r.kicked())
    }

    /// Buffers pushed since the last `kick_needed` or `kicked`.
    pub fn unkicked(&self) -> u16 {
        each!(self, r => r.unkicked())
    }

    /// Whether the device asked to be notified of a buffer pushed since the last call
    /// (then write the queue's index to QUEUE_NOTIFY); one decision for the whole batch.
    pub fn kick_needed(&mut self) -> bool {
        each!(self, r => r.kick_needed())
    }

    pub fn has_used(&self) -> bool {
        each!(self, r => r.has_used())
    }

    /// The next used buffer: (id, bytes written), unchecked.
    pub fn pop_used(&mut self) -> Option<(u32, u32)> {
        each!(self, r => r.pop_used())
    }

    /// Asks for an interrupt on the device's next used buffer.
    pub fn arm_intr(&mut self) {
        each!(self, r => r.arm_intr())
    }

    /// Asks the device not to interrupt (a hint).
    pub fn disarm_intr(&mut self) {
        each!(self, r => r.disarm_intr())
    }
}
