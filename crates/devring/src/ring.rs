//! Index arithmetic for a NIC's descriptor ring, kept apart from the driver so the
//! host can test it.
//!
//! A ring of `size` slots has two indices that only move forward, wrapping at `size`:
//! `head`, the oldest slot handed to the device and not yet taken back, and `tail`,
//! the next slot the driver will hand over. The slots in `[head, tail)` belong to the
//! device; the rest belong to the driver.
//!
//! ```text
//!        head               tail
//!         v                  v
//!   [ drv | dev | dev | dev | drv | drv ]     in_flight = 3, free_slots = 2
//! ```
//!
//! `head == tail` must mean "empty", so one slot always stays unused: a ring of `size`
//! slots holds at most `size - 1` in flight. The E1000's head and tail registers
//! mean the same (Intel 8254x manual §3.2.6, Figure 3-2: "hardware owns all
//! descriptors between head and tail"; its transmit ring works alike).

/// The slot after `i`.
pub fn next(i: usize, size: usize) -> usize {
    debug_assert!(i < size);
    if i + 1 == size { 0 } else { i + 1 }
}

/// The slot before `i`.
pub fn prev(i: usize, size: usize) -> usize {
    debug_assert!(i < size);
    if i == 0 { size - 1 } else { i - 1 }
}

/// Slots in `[head, tail)`: handed to the device and not yet taken back.
pub fn in_flight(head: usize, tail: usize, size: usize) -> usize {
    debug_assert!(head < size && tail < size);
    if tail >= head {
        tail - head
    } else {
        size - head + tail
    }
}

/// Slots the driver may still hand over before the ring is full.
pub fn free_slots(head: usize, tail: usize, size: usize) -> usize {
    size - 1 - in_flight(head, tail, size)
}

/// Whether handing over one more slot would make `tail` catch up with `head`.
pub fn is_full(head: usize, tail: usize, size: usize) -> bool {
    next(tail, size) == head
}

/// The ring size to use for a `requested` number of slots: at least one `granule`,
/// rounded up to a multiple of it, and at most `max` (itself a multiple of
/// `granule`). The E1000 needs the ring's byte length to be a multiple of 128, that is
/// a granule of 8 sixteen-byte descriptors.
pub fn ring_size(requested: usize, granule: usize, max: usize) -> usize {
    debug_assert!(granule > 0 && max >= granule && max.is_multiple_of(granule));
    requested.clamp(granule, max).next_multiple_of(granule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_prev_wrap() {
        assert_eq!(next(0, 16), 1);
        assert_eq!(next(14, 16), 15);
        assert_eq!(next(15, 16), 0);
        assert_eq!(prev(0, 16), 15);
        assert_eq!(prev(1, 16), 0);
        for i in 0..16 {
            assert_eq!(prev(next(i, 16), 16), i);
        }
    }

    #[test]
    fn empty_ring() {
        for i in 0..8 {
            assert_eq!(in_flight(i, i, 8), 0);
            assert_eq!(free_slots(i, i, 8), 7);
            assert!(!is_full(i, i, 8));
        }
    }

    #[test]
    fn counts_across_the_wrap() {
        assert_eq!(in_flight(2, 5, 8), 3);
        assert_eq!(in_flight(6, 1, 8), 3);
        assert_eq!(free_slots(6, 1, 8), 4);
        assert_eq!(in_flight(5, 4, 8), 7);
    }

    #[test]
    fn full_at_size_minus_one() {
        assert!(is_full(0, 7, 8));
        assert!(is_full(5, 4, 8));
        assert!(!is_full(5, 3, 8));
        assert_eq!(free_slots(5, 4, 8), 0);
    }

    /// Drives a ring the way a driver does (fill until full, the device finishes some,
    /// the driver reclaims them) and checks the arithmetic against a plain counter.
    #[test]
    fn model_driver() {
        for size in [8, 16, 64, 256] {
            let (mut head, mut tail, mut count) = (0, 0, 0usize);
            for step in 0..10 * size {
                while !is_full(head, tail, size) {
                    tail = next(tail, size);
                    count += 1;
                }
                assert_eq!(count, size - 1);
                let done = 1 + step % (size - 1);
                for _ in 0..done {
                    head = next(head, size);
                    count -= 1;
                }
                assert_eq!(in_flight(head, tail, size), count);
                assert_eq!(free_slots(head, tail, size), size - 1 - count);
            }
        }
    }

    #[test]
    fn ring_sizes() {
        assert_eq!(ring_size(16, 8, 256), 16);
        assert_eq!(ring_size(64, 8, 256), 64);
        assert_eq!(ring_size(256, 8, 256), 256);
        assert_eq!(ring_size(0, 8, 256), 8);
        assert_eq!(ring_size(3, 8, 256), 8);
        assert_eq!(ring_size(17, 8, 256), 24);
        assert_eq!(ring_size(100_000, 8, 256), 256);
    }
}
