//! SYNs that wait for a listener. `listen(backlog)` keeps `backlog` smoltcp
//! sockets listening; when a burst of clients finds all of them busy, dropping
//! the extra SYNs makes each client wait for its retransmission (QEMU's slirp
//! waits 3 s, then 6 s, ...). Instead a copy of each such SYN waits here, and
//! every poll, once `accept` has armed fresh listeners, the oldest ones are
//! delivered as if they had just arrived. A SYN that waited `MAX_WAIT_MS` is
//! dropped (`QueueFull`), as is one that finds this queue full: the client's
//! own retry then takes over. The slots are allocated once; nothing per frame.

use alloc::collections::VecDeque;

use crate::classify::Segment;

/// SYNs held at most at once.
pub const SLOTS: usize = 32;
/// Longest SYN kept (Ethernet + IPv4 and TCP headers with options).
const FRAME_MAX: usize = 128;
/// How long a SYN may wait.
pub const MAX_WAIT_MS: u64 = 5_000;
/// How often waiting SYNs look for a free listener.
const LOOK_EVERY_MS: u64 = 10;

/// A SYN taken out of the queue, to deliver.
pub(crate) struct Held {
    frame: [u8; FRAME_MAX],
    len: usize,
    since_ms: u64,
    /// Who asked: (address, port) of the client and the port it wants.
    key: (u32, u16, u16),
}

pub(crate) struct SynWait {
    held: VecDeque<Held>,
}

impl Held {
    pub fn frame(&self) -> &[u8] {
        &self.frame[..self.len]
    }
}

fn key(seg: &Segment) -> (u32, u16, u16) {
    (u32::from(seg.src), seg.src_port, seg.dst_port)
}

impl SynWait {
    pub fn new() -> SynWait {
        SynWait {
            held: VecDeque::with_capacity(SLOTS),
        }
    }

    /// Keeps `frame` (a SYN no listener could take) to deliver later; false if it
    /// cannot be kept (too long, or the queue is full). A retransmission of a SYN
    /// already waiting is absorbed.
    pub fn hold(&mut self, frame: &[u8], seg: &Segment, now_ms: u64) -> bool {
        let key = key(seg);
        if self.held.iter().any(|h| h.key == key) {
            return true;
        }
        if frame.len() > FRAME_MAX || self.held.len() == SLOTS {
            return false;
        }
        let mut held = Held {
            frame: [0; FRAME_MAX],
            len: frame.len(),
            since_ms: now_ms,
            key,
        };
        held.frame[..frame.len()].copy_from_slice(frame);
        self.held.push_back(held);
        true
    }

    /// The SYN at position `i` (oldest first), if any, and whether it waited
    /// too long.
    pub fn get(&self, i: usize, now_ms: u64) -> Option<(&[u8], bool)> {
        let h = self.held.get(i)?;
        let expired = now_ms.saturating_sub(h.since_ms) >= MAX_WAIT_MS;
        Some((&h.frame[..h.len], expired))
    }

    /// Takes the SYN at position `i` (see [`SynWait::get`]) out of the queue.
    pub fn remove(&mut self, i: usize) -> Held {
        self.held.remove(i).expect("index checked by get")
    }

    /// When to look again: soon while any SYN waits (an `accept` may have armed a
    /// listener meanwhile), and never otherwise.
    pub fn next_look(&self, now_ms: u64) -> Option<u64> {
        (!self.held.is_empty()).then_some(now_ms + LOOK_EVERY_MS)
    }
}
