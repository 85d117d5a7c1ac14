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
