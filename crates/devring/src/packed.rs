//! The index, wrap-counter and flag rules of a virtio packed virtqueue (virtio 1.2 §2.8),
//! kept pure so they run under `cargo test`; the kernel's packed ring (kernel/src/drivers/
//! virtio_packed.rs) does the memory accesses.
//!
//! A packed queue is one ring of `size` 16-byte descriptors that both sides write, plus two
//! 4-byte event suppression structures (one per side). The driver writes available
//! descriptors at its `avail` position; the device overwrites them, in the order it finishes
//! them, with used descriptors starting at the same place, and the driver reads those at its
//! `used` position. Neither side publishes an index: a descriptor's two flag bits AVAIL and
//! USED say whose it is, compared against a wrap counter that each side flips every time its
//! position wraps past the end of the ring (so a stale entry from the previous lap never
//! looks new).
//!
//! ```text
//!   descriptor (16 bytes)               event suppression (4 bytes, one per side)
//!   addr u64 | len u32 | id u16 | flags u16      off_wrap u16 | flags u16
//!
//!   driver makes available: AVAIL = wrap, USED = !wrap   (at its avail position)
//!   device marks used:      AVAIL = USED = wrap          (at its used position)
//! ```
//!
//! The buffer id travels inside the descriptor, so the device may finish buffers in any
//! order (VIRTIO_F_IN_ORDER is not needed, nor assumed): the ring position only says which
//! entry to look at next.
//!
//! Event suppression: each side's structure tells the other when to signal it: always
//! (`EVENT_FLAGS_ENABLE`), never (`EVENT_FLAGS_DISABLE`), or, with VIRTIO_F_EVENT_IDX, when it
//! passes the ring position and wrap counter in `off_wrap` (`EVENT_FLAGS_DESC`).

use crate::virtq;

/// Descriptor flag: the buffer continues in the next descriptor (unused here: one
/// descriptor per buffer).
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes (vs. reads) this buffer.
pub const DESC_F_WRITE: u16 = 2;
/// Descriptor flag AVAIL (bit 7).
pub const DESC_F_AVAIL: u16 = 1 << 7;
/// Descriptor flag USED (bit 15).
pub const DESC_F_USED: u16 = 1 << 15;

/// Event suppression: signal every time.
pub const EVENT_FLAGS_ENABLE: u16 = 0;
/// Event suppression: never signal.
pub const EVENT_FLAGS_DISABLE: u16 = 1;
/// Event suppression: signal when the position in `off_wrap` is passed (VIRTIO_F_EVENT_IDX).
pub const EVENT_FLAGS_DESC: u16 = 2;

/// Bytes per descriptor.
pub const DESC_SIZE: usize = 16;
/// Byte offsets of a descriptor's fields.
pub const DESC_ADDR: usize = 0;
pub const DESC_LEN: usize = 8;
pub const DESC_ID: usize = 12;
pub const DESC_FLAGS: usize = 14;
/// Byte offsets in an event suppression structure.
pub const EVENT_OFF_WRAP: usize = 0;
pub const EVENT_FLAGS: usize = 2;

/// Byte offset of descriptor `slot` in the ring.
pub fn desc_offset(slot: u16) -> usize {
    DESC_SIZE * slot as usize
}

/// A position in the ring: the slot, and the wrap counter that goes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub slot: u16,
    pub wrap: bool,
}

impl Pos {
    /// Where both sides start: slot 0, wrap counter 1.
    pub const START: Pos = Pos {
        slot: 0,
        wrap: true,
    };

    /// The position `n` slots on (`n <= size`) in a ring of `size` slots, the wrap counter
    /// flipped if that passes the end.
    pub fn advance(self, n: u16, size: u16) -> Pos {
        debug_assert!(self.slot < size && n <= size);
        let next = self.slot as u32 + n as u32;
        if next >= size as u32 {
            Pos {
                slot: (next - size as u32) as u16,
                wrap: !self.wrap,
            }
        } else {
            Pos {
                slot: next as u16,
                wrap: self.wrap,
            }
        }
    }

    /// The `off_wrap` encoding of an event suppression structure: slot in bits 0-14, wrap
    /// counter in bit 15.
    pub fn off_wrap(self) -> u16 {
        self.slot | (self.wrap as u16) << 15
    }

    pub fn from_off_wrap(v: u16) -> Pos {
        Pos {
            slot: v & 0x7fff,
            wrap: v & 0x8000 != 0,
        }
    }
}

/// The AVAIL/USED bits that make a descriptor available in a lap with wrap counter `wrap`.
pub fn avail_flags(wrap: bool) -> u16 {
    if wrap { DESC_F_AVAIL } else { DESC_F_USED }
}

/// The AVAIL/USED bits the device writes to mark a descriptor used in a lap with wrap
/// counter `wrap`.
pub fn used_flags(wrap: bool) -> u16 {
    if wrap { DESC_F_AVAIL | DESC_F_USED } else { 0 }
}

/// Whether a descriptor with `flags`, read at a position whose used wrap counter is `wrap`,
/// has been used by the device in this lap: AVAIL and USED both equal `wrap`. An entry the
/// driver made available (AVAIL != USED), or one used in the previous lap, is not.
pub fn is_used(flags: u16, wrap: bool) -> bool {
    let avail = flags & DESC_F_AVAIL != 0;
    let used = flags & DESC_F_USED != 0;
    avail == used && used == wrap
}

/// Whether a descriptor with `flags` is available to the device at a position whose wrap
/// counter is `wrap` (the device's test; the driver uses it only in tests).
pub fn is_avail(flags: u16, wrap: bool) -> bool {
    let avail = flags & DESC_F_AVAIL != 0;
    let used = flags & DESC_F_USED != 0;
    avail != used && avail == wrap
}

/// Whether moving a position forward by `added` slots (`added <= size`) to `new` passes the
/// event position `off_wrap`, i.e. whether it lies in `[new - added, new)`. An event whose
/// wrap counter differs from `new`'s is taken to be in the previous lap, as Linux and QEMU
/// do; the comparison is then the split ring's `need_event` on lap-relative slots.
pub fn need_event(off_wrap: u16, new: Pos, added: u16, size: u16) -> bool {
    let event = Pos::from_off_wrap(off_wrap);
    let slot = if event.wrap == new.wrap {
        event.slot
    } else {
        event.slot.wrapping_sub(size)
    };
    virtq::need_event(slot, new.slot, new.slot.wrapping_sub(added))
}

/// Whether the driver must notify the device after making `added` descriptors available
/// and reaching `new`, given the device's event suppression structure (`flags`,
/// `off_wrap`). A reserved flags value counts as "enable": a missed notification would
/// stall the queue, an extra one costs only time.
pub fn need_notify(flags: u16, off_wrap: u16, new: Pos, added: u16, size: u16) -> bool {
    match flags {
        EVENT_FLAGS_DISABLE => false,
        EVENT_FLAGS_DESC => need_event(off_wrap, new, added, size),
        _ => true,
    }
}

/// The driver's bookkeeping of one packed ring: where it makes the next descriptor
/// available, where the next used one will appear, how many are out, and how far past that
/// it has already seen used entries (so that re-arming an interrupt looks at each entry once).
#[derive(Clone, Debug)]
pub struct Driver {
    size: u16,
    avail: Pos,
    used: Pos,
    /// Descriptors made available and not yet taken back used.
    in_flight: u16,
    /// Entries from `used` on known to be used already (at most `in_flight`).
    seen: u16,
}

impl Driver {
    pub fn new(size: u16) -> Driver {
        assert!(size > 0 && size <= 0x8000);
        Driver {
            size,
            avail: Pos::START,
            used: Pos::START,
            in_flight: 0,
            seen: 0,
        }
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn in_flight(&self) -> u16 {
        self.in_flight
    }

    /// The position the next available descriptor goes to.
    pub fn avail_pos(&self) -> Pos {
        self.avail
    }

    /// Claims the slot for one more available descriptor: its position (the caller writes
    /// the descriptor there, flags last, with `avail_flags(pos.wrap)`). None if all `size`
    /// slots are out: a slot is free again only once its used entry has been taken.
    pub fn make_avail(&mut self) -> Option<Pos> {
        if self.in_flight == self.size {
            return None;
        }
        let pos = self.avail;
        self.avail = pos.advance(1, self.size);
        self.in_flight += 1;
        Some(pos)
    }

    /// Where the next used descriptor will appear, if any descriptor is out.
    pub fn next_used(&self) -> Option<Pos> {
        (self.in_flight > 0).then_some(self.used)
    }

    /// Moves past the used descriptor at `next_used` once the caller has read it.
    pub fn take_used(&mut self) {
        debug_assert!(self.in_flight > 0);
        self.used = self.used.advance(1, self.size);
        self.in_flight -= 1;
        self.seen = self.seen.saturating_sub(1);
    }

    /// The first position not yet known to be used, if it holds a descriptor that is out
    /// (the caller checks whether the device has used it since, and `saw_used` if so).
    pub fn unseen(&self) -> Option<Pos> {
        (self.seen < self.in_flight).then(|| self.used.advance(self.seen, self.size))
    }

    /// Records that the entry at `unseen` is used.
    pub fn saw_used(&mut self) {
        debug_assert!(self.seen < self.in_flight);
        self.seen += 1;
    }

    /// The position of the next entry the device will mark used, as far as the driver has
    /// seen: the event to set for an interrupt on the device's next used buffer.
    pub fn event_pos(&self) -> Pos {
        self.used.advance(self.seen, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_wrap_and_flip_the_counter() {
        let p = Pos::START;
        assert_eq!(
            p.advance(1, 4),
            Pos {
                slot: 1,
                wrap: true
            }
        );
        assert_eq!(
            p.advance(3, 4),
            Pos {
                slot: 3,
                wrap: true
            }
        );
        assert_eq!(
            p.advance(4, 4),
            Pos {
                slot: 0,
                wrap: false
            }
        );
        let q = Pos {
            slot: 3,
            wrap: false,
        };
        assert_eq!(
            q.advance(1, 4),
            Pos {
                slot: 0,
                wrap: true
            }
        );
        assert_eq!(
            q.advance(2, 4),
            Pos {
                slot: 1,
                wrap: true
            }
        );
        // Two laps of single steps come back to the start.
        for size in [1u16, 2, 16, 256] {
            let mut p = Pos::START;
            for _ in 0..2 * size as u32 {
                p = p.advance(1, size);
            }
            assert_eq!(p, Pos::START, "size {size}");
        }
    }

    #[test]
    fn off_wrap_round_trips() {
        for pos in [
            Pos::START,
            Pos {
                slot: 0,
                wrap: false,
            },
            Pos {
                slot: 255,
                wrap: true,
            },
            Pos {
                slot: 0x7fff,
                wrap: false,
            },
        ] {
            assert_eq!(Pos::from_off_wrap(pos.off_wrap()), pos);
        }
        assert_eq!(
            Pos {
                slot: 5,
                wrap: true
            }
            .off_wrap(),
            0x8005
        );
        assert_eq!(
            Pos {
                slot: 5,
                wrap: false
            }
            .off_wrap(),
            5
        );
    }

    #[test]
    fn available_and_used_depend_on_the_wrap_counter() {
        for wrap in [true, false] {
            let a = avail_flags(wrap) | DESC_F_WRITE;
            assert!(is_avail(a, wrap));
            assert!(!is_avail(a, !wrap));
            assert!(!is_used(a, wrap));
            assert!(!is_used(a, !wrap));
            let u = used_flags(wrap) | DESC_F_WRITE;
            assert!(is_used(u, wrap));
            assert!(!is_avail(u, wrap));
            // Used in the previous lap: not used in this one.
            assert!(!is_used(u, !wrap));
        }
        // A zeroed ring (never written) holds nothing used in the first lap.
        assert!(!is_used(0, Pos::START.wrap));
        assert!(!is_avail(0, Pos::START.wrap));
    }

    #[test]
    fn need_event_in_the_same_lap() {
        let size = 16;
        let at = |slot| Pos { slot, wrap: true };
        // One descriptor, 5 -> 6: only an event at 5 is passed.
        assert!(need_event(at(5).off_wrap(), at(6), 1, size));
        assert!(!need_event(at(4).off_wrap(), at(6), 1, size));
        assert!(!need_event(at(6).off_wrap(), at(6), 1, size));
        // A batch 5 -> 9 passes 5..=8.
        for e in 5..9 {
            assert!(need_event(at(e).off_wrap(), at(9), 4, size), "event {e}");
        }
        assert!(!need_event(at(9).off_wrap(), at(9), 4, size));
        // Nothing added: nothing passed.
        assert!(!need_event(at(5).off_wrap(), at(5), 0, size));
    }

    #[test]
    fn need_event_across_the_wrap() {
        let size = 16;
        // 14 -> 2 of the next lap (wrap counter true -> false): passes 14, 15, 0, 1.
        let new = Pos {
            slot: 2,
            wrap: false,
        };
        for ev in [
            Pos {
                slot: 14,
                wrap: true,
            },
            Pos {
                slot: 15,
                wrap: true,
            },
            Pos {
                slot: 0,
                wrap: false,
            },
            Pos {
                slot: 1,
                wrap: false,
            },
        ] {
            assert!(need_event(ev.off_wrap(), new, 4, size), "{ev:?}");
        }
        for ev in [
            Pos {
                slot: 13,
                wrap: true,
            },
            Pos {
                slot: 2,
                wrap: false,
            },
            Pos {
                slot: 3,
                wrap: false,
            },
            // Same slot numbers, the other lap: not passed now.
            Pos {
                slot: 0,
                wrap: true,
            },
            Pos {
                slot: 1,
                wrap: true,
            },
        ] {
            assert!(!need_event(ev.off_wrap(), new, 4, size), "{ev:?}");
        }
        // Exactly at the end of the ring: 15 -> 0 flips the counter.
        let new = Pos {
            slot: 0,
            wrap: false,
        };
        assert!(need_event(
            Pos {
                slot: 15,
                wrap: true
            }
            .off_wrap(),
            new,
            1,
            size
        ));
        assert!(!need_event(
            Pos {
                slot: 0,
                wrap: false
            }
            .off_wrap(),
            new,
            1,
            size
        ));
    }

    #[test]
    fn notify_follows_the_flags() {
        let new = Pos {
            slot: 6,
            wrap: true,
        };
        let passed = Pos {
            slot: 5,
            wrap: true,
        }
        .off_wrap();
        let ahead = Pos {
            slot: 9,
            wrap: true,
        }
        .off_wrap();
        assert!(need_notify(EVENT_FLAGS_ENABLE, ahead, new, 1, 16));
        assert!(!need_notify(EVENT_FLAGS_DISABLE, passed, new, 1, 16));
        assert!(need_notify(EVENT_FLAGS_DESC, passed, new, 1, 16));
        assert!(!need_notify(EVENT_FLAGS_DESC, ahead, new, 1, 16));
        // Reserved value: notify rather than risk a stall.
        assert!(need_notify(3, ahead, new, 1, 16));
    }

    #[test]
    fn the_driver_never_has_more_than_size_out() {
        let mut d = Driver::new(4);
        for i in 0..4 {
            assert_eq!(
                d.make_avail(),
                Some(Pos {
                    slot: i,
                    wrap: true
                })
            );
        }
        assert_eq!(d.make_avail(), None);
        assert_eq!(d.next_used(), Some(Pos::START));
        d.take_used();
        // The slot freed is the one after the last, in the next lap.
        assert_eq!(
            d.make_avail(),
            Some(Pos {
                slot: 0,
                wrap: false
            })
        );
        assert_eq!(d.make_avail(), None);
        for _ in 0..4 {
            d.take_used();
        }
        assert_eq!(d.next_used(), None);
        assert_eq!(d.unseen(), None);
        assert_eq!(
            d.event_pos(),
            Pos {
                slot: 1,
                wrap: false
            }
        );
    }

    /// A device model: it reads available descriptors at its own position and writes used
    /// ones at another, finishing buffers out of order, as the spec allows.
    struct Device {
        avail: Pos,
        used: Pos,
        /// Ids taken and not yet finished.
        held: Vec<u16>,
        /// The driver's event suppression structure (interrupt when `used` passes it).
        driver_event: (u16, u16),
        interrupts: usize,
    }

    /// The ring's memory: (id, flags) per slot (address and length play no part).
    type Ring = Vec<(u16, u16)>;

    impl Device {
        fn new() -> Device {
            Device {
                avail: Pos::START,
                used: Pos::START,
                held: Vec::new(),
                driver_event: (0, EVENT_FLAGS_ENABLE),
                interrupts: 0,
            }
        }

        fn take_all(&mut self, ring: &Ring, size: u16) {
            while is_avail(ring[self.avail.slot as usize].1, self.avail.wrap) {
                self.held.push(ring[self.avail.slot as usize].0);
                self.avail = self.avail.advance(1, size);
            }
        }

        /// Finishes `n` held buffers, picking them by `pick`, then decides on an interrupt.
        fn finish(
            &mut self,
            ring: &mut Ring,
            size: u16,
            n: usize,
            pick: &mut impl FnMut() -> usize,
        ) {
            let n = n.min(self.held.len());
            for _ in 0..n {
                let id = self.held.remove(pick() % self.held.len());
                ring[self.used.slot as usize] = (id, used_flags(self.used.wrap));
                self.used = self.used.advance(1, size);
            }
            let (off_wrap, flags) = self.driver_event;
            if n > 0 && need_notify(flags, off_wrap, self.used, n as u16, size) {
                self.interrupts += 1;
            }
        }
    }

    /// Posts, consumes and re-posts buffers over many laps of rings of several sizes, the
    /// device finishing them out of order, and checks that every id comes back exactly
    /// once, that used detection never sees a stale entry, and that an armed interrupt
    /// fires exactly when the device uses a buffer past the armed position.
    #[test]
    fn a_driver_and_a_device_agree_across_many_laps() {
        let mut seed = 12345u32;
        let mut rand = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as usize
        };
        for size in [1u16, 2, 4, 16, 256] {
            let mut ring: Ring = vec![(0, 0); size as usize];
            let mut drv = Driver::new(size);
            let mut dev = Device::new();
            let mut free: Vec<u16> = (0..size).collect();
            let mut out = vec![false; size as usize];
            for round in 0..40 * size as usize + 50 {
                // Post a random number of free buffers.
                for _ in 0..rand() % (free.len() + 1) {
                    let id = free.pop().unwrap();
                    let pos = drv.make_avail().expect("a free buffer has a free slot");
                    ring[pos.slot as usize] = (id, avail_flags(pos.wrap) | DESC_F_WRITE);
                    out[id as usize] = true;
                }
                dev.take_all(&ring, size);
                // Arm an interrupt for the device's next used buffer, as the kernel does.
                while let Some(p) = drv.unseen() {
                    if !is_used(ring[p.slot as usize].1, p.wrap) {
                        break;
                    }
                    drv.saw_used();
                }
                assert_eq!(drv.event_pos(), dev.used, "size {size} round {round}");
                dev.driver_event = (drv.event_pos().off_wrap(), EVENT_FLAGS_DESC);
                let before = dev.interrupts;
                let n = rand() % (size as usize + 1);
                let finished = n.min(dev.held.len());
                dev.finish(&mut ring, size, n, &mut rand);
                assert_eq!(dev.interrupts - before, usize::from(finished > 0));
                // Take back some of what was used.
                for _ in 0..rand() % (size as usize + 1) {
                    let Some(p) = drv.next_used() else { break };
                    let (id, flags) = ring[p.slot as usize];
                    if !is_used(flags, p.wrap) {
                        break;
                    }
                    assert!(out[id as usize], "id {id} came back twice");
                    out[id as usize] = false;
                    free.push(id);
                    drv.take_used();
                }
                let held = out.iter().filter(|&&o| o).count();
                assert_eq!(drv.in_flight() as usize, held);
            }
        }
    }
}
