//! The index arithmetic of a virtio split virtqueue (virtio 1.2 §2.7), kept pure so
//! it runs under `cargo test`; the kernel's virtio transport (kernel/src/drivers/
//! virtio.rs) does the memory accesses.
//!
//! Both rings count with free-running 16-bit indexes that wrap at 2^16; a ring of
//! `size` entries (a power of two) uses entry `idx % size`, which stays in step across
//! the wrap only because `size` divides 2^16.
//!
//! ```text
//!   avail ring (driver writes)            used ring (device writes)
//!   flags idx ring[size] used_event       flags idx ring[size]{id,len} avail_event
//! ```
//!
//! With VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10) each side publishes, after its ring, the
//! index at which it wants to hear from the other: the driver's `used_event` says "interrupt me
//! when you use entry number `used_event`", the device's `avail_event` says "notify me when you
//! make entry `avail_event` available".

/// Largest queue the transport builds: the descriptor table (16 bytes per entry) must fit
/// in one 4096-byte page.
pub const MAX_QUEUE_SIZE: u16 = 256;

/// Whether moving a ring index from `old` to `new` crosses the other side's event index
/// `event`, i.e. whether `event` is in `[old, new)` counting modulo 2^16 (the spec's
/// `vring_need_event`). The side that moved the index must then notify or interrupt.
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// The driver's half of available-buffer notifications when it publishes entries one at
/// a time but decides whether to notify once per batch: one doorbell for many frames.
///
/// ```text
///            decided              published
///               v                     v
///   ... done | new | new | new | new | (next)     the batch: [decided, published)
/// ```
///
/// Each entry is published (the avail index moves) as soon as it is written, so a device
/// that is already working takes it without a notification. Only the decision waits for
/// the end of the batch. The device's `avail_event` may have moved anywhere while the batch
/// grew (it moves as the device consumes entries, and it is where the device went idle);
/// what counts is its value read after the last entry was published: the device wants a
/// notification if and only if that value names an entry of the batch. An event before
/// the batch belongs to an earlier decision, and one equal to `published` means the device
/// has already seen every entry. This is one `need_event` over the whole batch, with the
/// index before the batch as `old` and the index after it as `new`, and it answers as
/// checking each entry against that event would (the host tests below check both).
///
/// A batch must stay shorter than 2^16 entries for the window to mean anything; the
/// drivers end theirs long before (at most one queue's worth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The avail index after the last published entry.
    published: u16,
    /// The avail index when the last decision was made.
    decided: u16,
}

impl Batch {
    /// An empty batch whose next entry has free-running index `idx`.
    pub fn at(idx: u16) -> Batch {
        Batch {
            published: idx,
            decided: idx,
        }
    }

    /// The free-running index of the next entry to publish.
    pub fn next(&self) -> u16 {
        self.published
    }

    /// Records one more published entry; returns the new avail index, which the driver
    /// then writes to the ring.
    pub fn publish(&mut self) -> u16 {
        debug_assert!(
            self.len() < u16::MAX,
            "a batch must end before 2^16 entries"
        );
        self.published = self.published.wrapping_add(1);
        self.published
    }

    /// Entries published since the last decision.
    pub fn len(&self) -> u16 {
        self.published.wrapping_sub(self.decided)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the batch with VIRTIO_F_EVENT_IDX, given the device's `avail_event` read after
    /// the last entry was published: whether to notify the device.
    pub fn end_by_event(&mut self, avail_event: u16) -> bool {
        let notify = need_event(avail_event, self.published, self.decided);
        self.decided = self.published;
        notify
    }

    /// Ends the batch without VIRTIO_F_EVENT_IDX, given whether the device set
    /// VRING_USED_F_NO_NOTIFY: notify unless the batch is empty or the device declined.
    pub fn end_by_flag(&mut self, no_notify: bool) -> bool {
        let notify = !self.is_empty() && !no_notify;
        self.decided = self.published;
        notify
    }
}

/// The ring entry that free-running index `idx` names in a ring of `size` entries.
pub fn slot(idx: u16, size: u16) -> usize {
    debug_assert!(size.is_power_of_two());
    (idx % size) as usize
}

/// Entries the other side has published beyond `seen`, across the 2^16 wrap.
pub fn pending(published: u16, seen: u16) -> u16 {
    published.wrapping_sub(seen)
}

/// The queue size to use when `requested` entries were asked for and the device allows
/// up to `device_max`: the largest power of two not above either (nor
/// [`MAX_QUEUE_SIZE`]), at least 2. `None` if the device has no such queue (max 0) or
/// allows only one entry.
pub fn queue_size(requested: usize, device_max: u32) -> Option<u16> {
    let limit = (device_max as usize).min(MAX_QUEUE_SIZE as usize);
    if limit < 2 {
        return None;
    }
    let want = requested.clamp(2, limit);
    // The largest power of two <= want.
    Some(1 << (usize::BITS - 1 - want.leading_zeros()))
}

/// Byte offset of `used_event` in the avail ring: after flags, idx and `size` u16 entries.
pub fn used_event_offset(size: u16) -> usize {
    4 + 2 * size as usize
}

/// Byte offset of `avail_event` in the used ring: after flags, idx and `size` 8-byte
/// elements.
pub fn avail_event_offset(size: u16) -> usize {
    4 + 8 * size as usize
}

/// Byte offset of used element `slot` (id: u32, len: u32) in the used ring.
pub fn used_elem_offset(slot: usize) -> usize {
    4 + 8 * slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_event_fires_only_when_the_event_is_crossed() {
        // One entry published, 5 -> 6: only an event index of exactly 5 is crossed.
        assert!(need_event(5, 6, 5));
        assert!(!need_event(4, 6, 5));
        assert!(!need_event(6, 6, 5));
        // A batch 5 -> 9 crosses 5, 6, 7 and 8.
        for event in 5..9 {
            assert!(need_event(event, 9, 5), "event {event}");
        }
        assert!(!need_event(9, 9, 5));
        assert!(!need_event(4, 9, 5));
        // Nothing published: nothing crossed.
        assert!(!need_event(5, 5, 5));
    }

    #[test]
    fn need_event_across_the_wrap() {
        assert!(need_event(u16::MAX, 0, u16::MAX));
        assert!(need_event(0, 2, u16::MAX - 1));
        assert!(need_event(u16::MAX - 1, 2, u16::MAX - 1));
        assert!(!need_event(2, 2, u16::MAX - 1));
        assert!(!need_event(u16::MAX - 2, 2, u16::MAX - 1));
    }

    #[test]
    fn an_event_just_behind_is_silent_for_a_whole_lap() {
        // A driver that sets used_event = consumed - 1 gets no interrupt for the next
        // 2^16 - 1 entries the device uses; the one after fires.
        let consumed = 40_000u16;
        let event = consumed.wrapping_sub(1);
        let mut old = consumed;
        for _ in 0..u16::MAX {
            let new = old.wrapping_add(1);
            assert!(!need_event(event, new, old));
            old = new;
        }
        assert!(need_event(event, old.wrapping_add(1), old));
    }

    /// A batch from `start` of `len` entries, ended against `event`.
    fn batched(start: u16, len: u16, event: u16) -> bool {
        let mut b = Batch::at(start);
        for _ in 0..len {
            b.publish();
        }
        assert_eq!(b.len(), len);
        let notify = b.end_by_event(event);
        assert!(b.is_empty());
        notify
    }

    #[test]
    fn one_check_per_batch_answers_as_one_check_per_entry() {
        for start in [0u16, 1, 1000, u16::MAX - 40, u16::MAX - 3, u16::MAX] {
            for len in (0..=40).chain([MAX_QUEUE_SIZE - 1, MAX_QUEUE_SIZE]) {
                // Events before, inside, at the end of and after the batch.
                for offset in -3i32..=i32::from(len) + 3 {
                    let event = start.wrapping_add_signed(offset as i16);
                    let per_entry = (0..len).any(|i| {
                        let old = start.wrapping_add(i);
                        need_event(event, old.wrapping_add(1), old)
                    });
                    assert_eq!(
                        batched(start, len, event),
                        per_entry,
                        "start {start} len {len} event {event}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_device_that_went_idle_inside_the_batch_is_notified() {
        // The device consumed k entries of the batch, then asked to hear of entry k.
        for start in [7u16, u16::MAX - 2] {
            let len = 5;
            for k in 0..len {
                assert!(batched(start, len, start.wrapping_add(k)), "k {k}");
            }
            // It had consumed them all before the decision: it needs no notification.
            assert!(!batched(start, len, start.wrapping_add(len)));
            // An event behind the batch was an earlier decision's.
            assert!(!batched(start, len, start.wrapping_sub(1)));
        }
    }

    #[test]
    fn each_entry_is_decided_once() {
        let mut b = Batch::at(100);
        assert_eq!(b.next(), 100);
        assert_eq!(b.publish(), 101);
        assert_eq!(b.publish(), 102);
        assert_eq!(b.next(), 102);
        assert!(b.end_by_event(101));
        // The same event, already answered, is not crossed again by the next batch.
        b.publish();
        assert!(!b.end_by_event(101));
        // Nothing published since: nothing to notify, whatever the event.
        for event in 95..110 {
            assert!(!b.end_by_event(event));
        }
    }

    #[test]
    fn without_event_index_the_flag_decides_a_nonempty_batch() {
        let mut b = Batch::at(u16::MAX);
        assert!(!b.end_by_flag(false));
        b.publish();
        assert_eq!(b.next(), 0);
        assert!(!b.end_by_flag(true));
        b.publish();
        b.publish();
        assert!(b.end_by_flag(false));
        assert!(!b.end_by_flag(false));
    }

    #[test]
    fn slots_stay_in_step_across_the_wrap() {
        for size in [2u16, 16, 64, 256] {
            let mut expect = slot(u16::MAX - 3, size);
            let mut idx = u16::MAX - 3;
            for _ in 0..8 {
                idx = idx.wrapping_add(1);
                expect = (expect + 1) % size as usize;
                assert_eq!(slot(idx, size), expect, "size {size} idx {idx}");
            }
        }
    }

    #[test]
    fn pending_counts_across_the_wrap() {
        assert_eq!(pending(3, 3), 0);
        assert_eq!(pending(10, 3), 7);
        assert_eq!(pending(2, u16::MAX - 1), 4);
    }

    #[test]
    fn queue_size_is_a_power_of_two_within_limits() {
        assert_eq!(queue_size(16, 256), Some(16));
        assert_eq!(queue_size(64, 256), Some(64));
        assert_eq!(queue_size(256, 256), Some(256));
        assert_eq!(queue_size(100, 256), Some(64));
        assert_eq!(queue_size(1000, 256), Some(256));
        assert_eq!(queue_size(1000, 1024), Some(256));
        assert_eq!(queue_size(256, 128), Some(128));
        assert_eq!(queue_size(0, 256), Some(2));
        assert_eq!(queue_size(16, 0), None);
        assert_eq!(queue_size(16, 1), None);
    }

    #[test]
    fn ring_layout_offsets() {
        assert_eq!(used_event_offset(16), 36);
        assert_eq!(avail_event_offset(16), 132);
        assert_eq!(used_elem_offset(0), 4);
        assert_eq!(used_elem_offset(3), 28);
        // The largest rings still fit one page each, events included.
        assert!(used_event_offset(MAX_QUEUE_SIZE) + 2 <= 4096);
        assert!(avail_event_offset(MAX_QUEUE_SIZE) + 2 <= 4096);
    }
}
