//! The accounting of one group of bad frames: whether `ifconfig`'s counters and the wire's own
//! can be explained by the frames sent, each dropped for a reason it allows, lost to a full ring
//! or refused by the NIC's filters.

use anyhow::{Result, ensure};

use super::bad::Bad;
use super::{MIN_FRAME, WireStats};
use crate::ifconfig::Counters;
use crate::ifconfig::Reason::{self, *};

impl WireStats {
    /// What the counts grew by since `before`.
    pub fn since(&self, before: &WireStats) -> WireStats {
        WireStats {
            sent: self.sent - before.sent,
            sent_bytes: self.sent_bytes - before.sent_bytes,
            received: self.received - before.received,
            arp_answered: self.arp_answered - before.arp_answered,
            echo_answered: self.echo_answered - before.echo_answered,
            overflowed: self.overflowed - before.overflowed,
        }
    }
}

/// The accounting of one group. `w.sent` frames went out: the group's `frames`, then pings and
/// ARP replies that the stack accepts. A frame that did not reach the stack was refused by the
/// NIC: because its ring was full (any frame; counted as rx-ring-full) or by its filters (only
/// frames that may vanish; not counted). So:
/// - the NIC counted no more ring drops than frames are missing, and the rest of the missing
///   ones may vanish;
/// - each frame the stack saw is a good one or a stack drop, and good ones are missing only if
///   the ring was full (`ifconfig`'s drops add up);
/// - the frames can be matched to the counters: each to one reason it allows, to the ring, or to
///   the filters if it may vanish, giving exactly the counts that moved (`matches_reasons`);
/// - the guest sent exactly what reached the wire (replies and ARP requests, nothing else);
/// - when nothing vanished and every frame was at least 60 bytes (so no NIC pads it), the
///   stack counted exactly the bytes sent.
pub fn check_group(frames: &[Bad], d: &Counters, w: &WireStats) -> Result<()> {
    let bad = frames.len() as u64;
    let accepted = w.sent - bad;
    ensure!(
        d.rx_frames <= w.sent,
        "the stack saw {} frames, {} were sent",
        d.rx_frames,
        w.sent
    );
    let vanished = w.sent - d.rx_frames;
    let ring = d.drop(RxRingFull);
    ensure!(
        ring <= vanished,
        "the NIC counted {ring} rx-ring-full drops but only {vanished} frames are missing"
    );
    let filtered = vanished - ring;
    let may_vanish = frames.iter().filter(|b| b.may_vanish).count() as u64;
    ensure!(
        filtered <= may_vanish,
        "{filtered} frames never reached the stack and are not counted as rx-ring-full; only \
         {may_vanish} may be refused by a NIC's filters"
    );
    // Good frames the stack did not see: lost to a full ring, with the group's.
    let good_lost = (accepted + d.stack_drops()).checked_sub(d.rx_frames);
    ensure!(
        good_lost.is_some_and(|lost| lost <= ring),
        "the stack saw {} frames: {accepted} good ones (of which at most {ring} lost to a full \
         ring) should leave {}..={} drops, it counted {}",
        d.rx_frames,
        d.rx_frames.saturating_sub(accepted),
        (d.rx_frames + ring).saturating_sub(accepted),
        d.stack_drops()
    );
    let ring_bad = ring - good_lost.unwrap_or(0);
    ensure!(
        matches_reasons(frames, d, ring_bad, filtered),
        "drops{} (of the group's frames: {ring_bad} lost to a full ring, {filtered} refused by \
         the NIC's filters) do not match the frames' reasons",
        d.drops_text()
    );
    ensure!(
        d.tx_frames == w.received,
        "the guest counted {} frames sent, the wire received {}",
        d.tx_frames,
        w.received
    );
    if vanished == 0 && frames.iter().all(|b| b.frame.len() >= MIN_FRAME) {
        ensure!(
            d.rx_bytes == w.sent_bytes,
            "the stack counted {} bytes received, {} were sent",
            d.rx_bytes,
            w.sent_bytes
        );
    }
    Ok(())
}

/// Whether each frame can be given one outcome, a drop reason it allows, the full ring (any
/// frame) or the NIC's filters (if it may vanish), so that each stack reason gets exactly its
/// count in `d`, the ring `ring` and the filters `filtered`.
///
/// A bipartite matching with multiplicities, solved as a maximum flow: source → each kind of
/// frame (capacity: how many) → each outcome it allows → sink (capacity: the count).
fn matches_reasons(frames: &[Bad], d: &Counters, ring: u64, filtered: u64) -> bool {
    let mut kinds: Vec<(&[Reason], bool, u64)> = Vec::new();
    for b in frames {
        match kinds
            .iter_mut()
            .find(|(r, v, _)| *r == b.reasons && *v == b.may_vanish)
        {
            Some(kind) => kind.2 += 1,
            None => kinds.push((b.reasons, b.may_vanish, 1)),
        }
    }
    // Nodes: 0 source, 1 sink, the kinds, one per reason (RxRingFull: the ring), the filters.
    let outcome = |r: Reason| 2 + kinds.len() + r as usize;
    let filters = 2 + kinds.len() + Reason::ALL.len();
    let n = filters + 1;
    let mut cap = vec![vec![0u64; n]; n];
    for (k, (reasons, may_vanish, count)) in kinds.iter().enumerate() {
        cap[0][2 + k] = *count;
        for &r in reasons.iter().chain(&[RxRingFull]) {
            cap[2 + k][outcome(r)] = u64::MAX;
        }
        if *may_vanish {
            cap[2 + k][filters] = u64::MAX;
        }
    }
    for r in Reason::ALL {
        cap[outcome(r)][1] = if r == RxRingFull { ring } else { d.drop(r) };
    }
    cap[filters][1] = filtered;
    let need = d.stack_drops() + ring + filtered;
    if need != frames.len() as u64 {
        return false;
    }
    // Edmonds–Karp: augment along shortest paths until none is left.
    let mut flow = 0;
    loop {
        let mut prev = vec![usize::MAX; n];
        prev[0] = 0;
        let mut queue = std::collections::VecDeque::from([0]);
        while let Some(u) = queue.pop_front() {
            for v in 0..n {
                if prev[v] == usize::MAX && cap[u][v] > 0 {
                    prev[v] = u;
                    queue.push_back(v);
                }
            }
        }
        if prev[1] == usize::MAX {
            return flow == need;
        }
        let mut push = u64::MAX;
        let mut v = 1;
        while v != 0 {
            push = push.min(cap[prev[v]][v]);
            v = prev[v];
        }
        let mut v = 1;
        while v != 0 {
            let u = prev[v];
            cap[u][v] -= push;
            cap[v][u] = cap[v][u].saturating_add(push);
            v = u;
        }
        flow += push;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bad::bad;

    /// The counters with the first seven reasons' drops (the later ones 0).
    fn counters(rx: u64, tx: u64, drops: [u64; 8]) -> Counters {
        Counters {
            rx_frames: rx,
            tx_frames: tx,
            drops: std::array::from_fn(|i| drops.get(i).copied().unwrap_or(0)),
            ..Counters::default()
        }
    }

    fn stats(sent: u64, received: u64) -> WireStats {
        WireStats {
            sent,
            received,
            ..WireStats::default()
        }
    }

    #[test]
    fn group_accounting() {
        let frames = vec![
            bad("a", vec![0; 70], &[Malformed]),
            bad("b", vec![0; 10], &[Malformed, Unsupported]).may_vanish(),
            bad("c", vec![0; 70], &[NotForUs]).may_vanish(),
        ];
        // Three bad frames, a ping and an ARP reply; the guest sent a reply and an ARP request.
        let ok = |d: Counters| check_group(&frames, &d, &stats(5, 2)).unwrap();
        ok(counters(5, 2, [1, 1, 1, 0, 0, 0, 0, 0]));
        ok(counters(5, 2, [2, 0, 1, 0, 0, 0, 0, 0]));
        // The NIC refused both that may vanish, or one of them.
        ok(counters(3, 2, [1, 0, 0, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [2, 0, 0, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [1, 1, 0, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [1, 0, 1, 0, 0, 0, 0, 0]));

        let err = |d: Counters| {
            check_group(&frames, &d, &stats(5, 2))
                .unwrap_err()
                .to_string()
        };
        // A frame the stack saw but did not count.
        assert!(err(counters(5, 2, [1, 1, 0, 0, 0, 0, 0, 0])).contains("good ones"));
        // The right number of drops for the wrong reasons: each count is possible on its own,
        // not together ("c" reached the stack, so it is not-for-us; "a" is malformed).
        assert!(err(counters(5, 2, [2, 1, 0, 0, 0, 0, 0, 0])).contains("do not match"));
        assert!(err(counters(5, 2, [1, 1, 0, 1, 0, 0, 0, 0])).contains("do not match"));
        assert!(err(counters(4, 2, [0, 1, 1, 0, 0, 0, 0, 0])).contains("do not match"));
        // Frames lost to a full ring, counted by the NIC: "c", or a good one.
        ok(counters(4, 2, [1, 1, 0, 0, 0, 0, 1, 0]));
        ok(counters(4, 2, [1, 1, 1, 0, 0, 0, 1, 0]));
        // More ring drops than missing frames; a good frame missing with no ring drop.
        assert!(
            err(counters(5, 2, [1, 1, 1, 0, 0, 0, 1, 0])).contains("only 0 frames are missing")
        );
        assert!(err(counters(4, 2, [1, 1, 1, 0, 0, 0, 0, 0])).contains("good ones"));
        // A frame that cannot vanish never arrived.
        assert!(err(counters(2, 2, [0, 0, 0, 0, 0, 0, 0, 0])).contains("never reached"));
        // The guest sent something the wire did not see.
        assert!(err(counters(5, 3, [1, 1, 1, 0, 0, 0, 0, 0])).contains("frames sent"));
    }
}
