//! Neighbours (ARP) beside smoltcp's cache: what waits for a next hop, and for how long.
//!
//! smoltcp 0.14 resolves next hops itself, with three habits that hurt on a busy or
//! hostile LAN: a reply it builds while reading a frame (an echo reply) is dropped when
//! the neighbour is unknown; a socket's datagram to an unknown neighbour stays at the
//! head of that socket's queue, asked for every second for as long as it takes, so one
//! datagram to a silent address stops everything the socket sends after it; and its
//! cache (8 entries) learns every ARP request aimed at us, evicting the entry closest to
//! expiry, so a storm of requests from strangers pushes the gateway out.
//!
//! This module keeps what smoltcp does not:
//!
//! - a **mirror** of smoltcp's cache, changed at exactly the points where smoltcp changes
//!   its own (an ARP packet handed to it, a unicast IPv4 frame to us, a change of address),
//!   with the same capacity, lifetime and eviction order, so that the stack knows before
//!   smoltcp whether a next hop is known. When smoltcp asks for an address itself (the
//!   stack sees its ARP request leave), the mirror marks that entry expired, so a mirror
//!   that drifted corrects itself;
//! - the next hops being **resolved**: [`PROBES`] ARP requests [`PROBE_EVERY_MS`] apart,
//!   then they give up. An entry in use is asked for again shortly before it expires, so
//!   that a neighbour that answers never expires while traffic flows to it;
//! - what **waits** for them: at most [`PER_HOP`] packets per next hop (Linux's default
//!   `unres_qlen`), in slots allocated once: a received echo request (delivered again once
//!   the neighbour answers, so that smoltcp's reply finds it) or a datagram of a UDP or
//!   echo socket (put into the socket then). A packet that gives up, or that makes room for
//!   a newer one, is dropped and counted (`Unresolved`).
//!
//! So smoltcp's socket queues hold only datagrams whose next hop is known. Sends happen
//! between polls and are judged by the clock of the last poll; a datagram goes straight to
//! smoltcp only when its neighbour's entry has at least [`MARGIN_MS`] left.

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use smoltcp::wire::{EthernetAddress, IpEndpoint, Ipv4Address};

/// smoltcp's cache size: its `IFACE_NEIGHBOR_CACHE_COUNT`, 8 unless an
/// `iface-neighbor-cache-count-*` feature changes it (this crate enables none).
pub(crate) const CACHE_LEN: usize = 8;
/// smoltcp's entry lifetime (`ENTRY_LIFETIME`), renewed by every ARP packet from the
/// neighbour and every unicast IPv4 frame from it to us.
pub(crate) const LIFETIME_MS: u64 = 60_000;
/// ARP requests sent for one next hop before what waits for it is dropped (Linux:
/// `mcast_solicit` 3, `retrans_time` 1 s).
pub const PROBES: u32 = 3;
pub const PROBE_EVERY_MS: u64 = 1_000;
/// Packets waiting per next hop; a newer one pushes out the oldest.
pub const PER_HOP: usize = 3;
/// Next hops resolved at once; a new one pushes out the oldest.
const RESOLVING: usize = 8;
/// Packets waiting in all.
const SLOTS: usize = 16;
/// A datagram goes straight to smoltcp only if its neighbour's entry lives this much longer.
pub(crate) const MARGIN_MS: u64 = 1_000;
/// An entry in use this close to expiry is asked for again.
const REFRESH_MS: u64 = 5_000;
/// ARP requests of ours per second at most, so that a flood of spoofed sources cannot
/// make the stack flood the link with requests.
const PROBES_PER_SECOND: u32 = 8;

/// One entry of smoltcp's cache, as mirrored.
#[derive(Clone, Copy, Debug)]
struct Cached {
    ip: Ipv4Address,
    mac: EthernetAddress,
    expires: u64,
}

/// A next hop being asked for.
#[derive(Clone, Copy, Debug)]
struct Resolving {
    hop: Ipv4Address,
    since: u64,
    probes: u32,
    /// When to probe next, or (after the last probe) to give up.
    next: u64,
}

/// What a waiting packet is, and where it goes once its next hop is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// A received frame, to deliver again.
    Frame,
    /// A datagram for a UDP socket's queue.
    Udp {
        handle: SocketHandle,
        to: IpEndpoint,
    },
    /// An echo request (ICMP header first) for an echo socket's queue, which gives it
    /// its identifier.
    Echo {
        handle: SocketHandle,
        to: Ipv4Address,
        ident: u16,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    hop: Ipv4Address,
    what: Waiting,
    len: usize,
    /// Arrival order.
    seq: u64,
}

pub(crate) struct Neighbors {
    /// In smoltcp's map order: it appends, and removes by moving the last entry in.
    cache: Vec<Cached>,
    resolving: [Option<Resolving>; RESOLVING],
    slots: [Option<Slot>; SLOTS],
    /// The slots' bytes, `frame_max` each.
    store: Vec<u8>,
    frame_max: usize,
    seq: u64,
    /// The clock of the last poll.
    now: u64,
    /// Probes sent in the second that started at `.0`.
    budget: (u64, u32),
    /// Packets dropped for want of a neighbour (`DropReason::Unresolved`).
    pub dropped: u64,
}

impl Neighbors {
    /// Room for packets of up to `frame_max` bytes (a whole Ethernet frame).
    pub(crate) fn new(frame_max: usize) -> Neighbors {
        Neighbors {
            cache: Vec::with_capacity(CACHE_LEN),
            resolving: [None; RESOLVING],
            slots: [None; SLOTS],
            store: vec![0; SLOTS * frame_max],
            frame_max,
            seq: 0,
            now: 0,
            budget: (0, 0),
            dropped: 0,
        }
    }

    /// A poll starts at `now`.
    pub(crate) fn set_now(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    fn find(&self, ip: Ipv4Address) -> Option<&Cached> {
        self.cache.iter().find(|e| e.ip == ip)
    }

    /// The neighbour's MAC if smoltcp's entry is live at `now`.
    pub(crate) fn lookup(&self, ip: Ipv4Address, now: u64) -> Option<EthernetAddress> {
        self.find(ip).filter(|e| now < e.expires).map(|e| e.mac)
    }

    /// smoltcp learnt `ip` at `mac` from an ARP packet (its `Cache::fill`).
    pub(crate) fn fill(&mut self, ip: Ipv4Address, mac: EthernetAddress, now: u64) {
        let entry = Cached {
            ip,
            mac,
            expires: now + LIFETIME_MS,
        };
        if let Some(e) = self.cache.iter_mut().find(|e| e.ip == ip) {
            *e = entry;
            return;
        }
        if self.cache.len() == CACHE_LEN {
            // The first entry closest to expiry goes, as in smoltcp (`min_by_key`).
            let mut victim = 0;
            for (i, e) in self.cache.iter().enumerate() {
                if e.expires < self.cache[victim].expires {
                    victim = i;
                }
            }
            self.cache.swap_remove(victim);
        }
        self.cache.push(entry);
    }

    /// A unicast IPv4 frame from `ip` at `mac` reached smoltcp
    /// (its `reset_expiry_if_existing`).
    pub(crate) fn refresh(&mut self, ip: Ipv4Address, mac: EthernetAddress, now: u64) {
        if let Some(e) = self.cache.iter_mut().find(|e| e.ip == ip && e.mac == mac) {
            e.expires = now + LIFETIME_MS;
        }
    }

    /// Whether a frame from `ip` at `mac` would renew a live-or-not entry.
    pub(crate) fn would_refresh(&self, ip: Ipv4Address, mac: EthernetAddress) -> bool {
        self.cache.iter().any(|e| e.ip == ip && e.mac == mac)
    }

    /// smoltcp's address changed: it emptied its cache.
    pub(crate) fn flush(&mut self) {
        self.cache.clear();
    }

    /// smoltcp asked for `ip` itself, so its entry is missing or expired.
    pub(crate) fn smoltcp_asked(&mut self, ip: Ipv4Address, now: u64) {
        if let Some(e) = self.cache.iter_mut().find(|e| e.ip == ip) {
            e.expires = e.expires.min(now);
        }
    }

    /// Whether smoltcp can learn `ip` without pushing out a live entry: it has `ip`
    /// already, a free entry, or an expired one (evicted first).
    pub(crate) fn learns_freely(&self, ip: Ipv4Address, now: u64) -> bool {
        self.cache.len() < CACHE_LEN || self.cache.iter().any(|e| e.ip == ip || e.expires <= now)
    }

    /// Whether `hop` is being asked for.
    pub(crate) fn is_resolving(&self, hop: Ipv4Address) -> bool {
        self.resolving.iter().flatten().any(|r| r.hop == hop)
    }

    fn waiting_for(&self, hop: Ipv4Address) -> usize {
        self.slots.iter().flatten().filter(|s| s.hop == hop).count()
    }

    /// Whether a datagram for next hop `hop` must wait here rather than go to smoltcp.
    /// Starts asking again for an entry in use that is about to expire.
    pub(crate) fn must_wait(&mut self, hop: Ipv4Address) -> bool {
        let now = self.now;
        if self.waiting_for(hop) > 0 {
            return true;
        }
        match self.find(hop).map(|e| e.expires) {
            Some(expires) if expires > now + MARGIN_MS => {
                if expires <= now + REFRESH_MS {
                    self.resolve(hop);
                }
                false
            }
            _ => true,
        }
    }

    /// Starts asking for `hop` unless already; returns the packets dropped to make room.
    fn resolve(&mut self, hop: Ipv4Address) -> u64 {
        if self.is_resolving(hop) {
            return 0;
        }
        let mut dropped = 0;
        let i = match self.resolving.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                let (i, old) = self
                    .resolving
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.map(|r| (i, r)))
                    .min_by_key(|(_, r)| r.since)
                    .expect("all busy");
                dropped += self.drop_waiting(old.hop);
                i
            }
        };
        self.resolving[i] = Some(Resolving {
            hop,
            since: self.now,
            probes: 0,
            next: self.now,
        });
        dropped
    }

    /// Drops what waits for `hop`; how many.
    fn drop_waiting(&mut self, hop: Ipv4Address) -> u64 {
        let mut n = 0;
        for s in &mut self.slots {
            if s.is_some_and(|s| s.hop == hop) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// Keeps `bytes` until `hop` answers; returns the packets dropped (this one if it
    /// cannot be kept, or older ones to make room).
    pub(crate) fn hold(&mut self, hop: Ipv4Address, what: Waiting, bytes: &[u8]) -> u64 {
        if bytes.len() > self.frame_max {
            self.dropped += 1;
            return 1;
        }
        let mut dropped = self.resolve(hop);
        if self.waiting_for(hop) >= PER_HOP {
            dropped += self.drop_oldest(|s| s.hop == hop);
        }
        if self.slots.iter().all(Option::is_some) {
            dropped += self.drop_oldest(|_| true);
        }
        let i = self
            .slots
            .iter()
            .position(Option::is_none)
            .expect("a slot was freed");
        let at = i * self.frame_max;
        self.store[at..at + bytes.len()].copy_from_slice(bytes);
        self.slots[i] = Some(Slot {
            hop,
            what,
            len: bytes.len(),
            seq: self.seq,
        });
        self.seq += 1;
        self.dropped += dropped;
        dropped
    }

    fn drop_oldest(&mut self, which: impl Fn(&Slot) -> bool) -> u64 {
        let oldest = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.filter(|s| which(s)).map(|s| (i, s.seq)))
            .min_by_key(|&(_, seq)| seq);
        match oldest {
            Some((i, _)) => {
                self.slots[i] = None;
                1
            }
            None => 0,
        }
    }

    /// A socket closed: what it left waiting goes (not counted, as what it left in its
    /// own queue).
    pub(crate) fn forget(&mut self, handle: SocketHandle) {
        for s in &mut self.slots {
            let of_it = s.is_some_and(|s| match s.what {
                Waiting::Udp { handle: h, .. } | Waiting::Echo { handle: h, .. } => h == handle,
                Waiting::Frame => false,
            });
            if of_it {
                *s = None;
            }
        }
    }

    /// Probes that are due and resolutions that give up, at `now`: calls `probe(hop)` for
    /// each probe (false: it could not leave now, try at the next poll). Returns the
    /// packets dropped by those that gave up.
    pub(crate) fn upkeep(&mut self, now: u64, mut probe: impl FnMut(Ipv4Address) -> bool) -> u64 {
        let mut dropped = 0;
        for i in 0..RESOLVING {
            let Some(mut r) = self.resolving[i] else {
                continue;
            };
            if self.answered(&r, now) {
                if self.waiting_for(r.hop) == 0 {
                    self.resolving[i] = None;
                }
                continue;
            }
            if now < r.next {
                continue;
            }
            if r.probes >= PROBES {
                self.resolving[i] = None;
                dropped += self.drop_waiting(r.hop);
                continue;
            }
            if now >= self.budget.0 + 1_000 {
                self.budget = (now, 0);
            }
            if self.budget.1 >= PROBES_PER_SECOND {
                r.next = self.budget.0 + 1_000;
            } else if probe(r.hop) {
                self.budget.1 += 1;
                r.probes += 1;
                r.next = now + PROBE_EVERY_MS;
            }
            self.resolving[i] = Some(r);
        }
        self.dropped += dropped;
        dropped
    }

    /// Whether `r`'s neighbour answered since it was first asked for.
    fn answered(&self, r: &Resolving, now: u64) -> bool {
        self.find(r.hop)
            .is_some_and(|e| now < e.expires && e.expires >= r.since + LIFETIME_MS)
    }

    /// The oldest waiting packet whose next hop is now known: its slot and what it is.
    pub(crate) fn next_ready(&self, now: u64) -> Option<(usize, Waiting)> {
        self.ready(now, |_| true)
    }

    /// The oldest received frame whose next hop is now known.
    pub(crate) fn next_ready_frame(&self, now: u64) -> Option<usize> {
        self.ready(now, |w| w == Waiting::Frame).map(|(i, _)| i)
    }

    /// The oldest datagram whose next hop is now known, and where it goes.
    pub(crate) fn next_ready_datagram(&self, now: u64) -> Option<(usize, Waiting)> {
        self.ready(now, |w| w != Waiting::Frame)
    }

    fn ready(&self, now: u64, kind: impl Fn(Waiting) -> bool) -> Option<(usize, Waiting)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .filter(|(_, s)| kind(s.what) && self.lookup(s.hop, now).is_some())
            .min_by_key(|(_, s)| s.seq)
            .map(|(i, s)| (i, s.what))
    }

    /// The bytes of slot `i` (from [`Neighbors::next_ready`]).
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        let len = self.slots[i].map_or(0, |s| s.len);
        &self.store[i * self.frame_max..i * self.frame_max + len]
    }

    /// Empties slot `i`.
    pub(crate) fn release(&mut self, i: usize) {
        self.slots[i] = None;
    }

    /// When a poll is due: a probe or a give-up, or now if a known neighbour's packets
    /// still wait (their socket was full).
    pub(crate) fn next_deadline(&self, now: u64) -> Option<u64> {
        let ready = self.next_ready(now).map(|_| now);
        let timers = self
            .resolving
            .iter()
            .flatten()
            .filter(|r| !self.answered(r, now))
            .map(|r| r.next);
        timers.chain(ready).min()
    }

    /// Packets waiting, for tests and leak checks.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> Ipv4Address {
        Ipv4Address::new(10, 0, 2, n)
    }

    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn a_full_mirror_evicts_the_first_entry_closest_to_expiry() {
        let mut n = Neighbors::new(64);
        for i in 0..CACHE_LEN as u8 {
            n.fill(ip(10 + i), mac(i), 0);
        }
        n.refresh(ip(10), mac(0), 5);
        assert!(!n.learns_freely(ip(99), 10));
        n.fill(ip(99), mac(99), 10);
        // ip(11) was the first of those expiring at 60 000; the last moved into its place,
        // and the new one went to the end.
        assert_eq!(n.lookup(ip(11), 10), None);
        assert_eq!(n.cache[1].ip, ip(17));
        assert_eq!(n.cache[7].ip, ip(99));
        assert_eq!(n.lookup(ip(10), 10), Some(mac(0)));
        assert!(n.learns_freely(ip(99), 10));
        assert!(n.learns_freely(ip(98), 60_000), "expired entries go first");
    }

    #[test]
    fn three_per_hop_then_give_up_after_three_probes() {
        let mut n = Neighbors::new(64);
        assert!(n.must_wait(ip(7)));
        for i in 0..4u8 {
            let w = Waiting::Frame;
            assert_eq!(n.hold(ip(7), w, &[i]), u64::from(i == 3));
        }
        assert_eq!(n.waiting(), PER_HOP);
        let mut probes = 0;
        let mut dropped = 0;
        for t in (0..5_000).step_by(100) {
            dropped += n.upkeep(t, |hop| {
                assert_eq!(hop, ip(7));
                probes += 1;
                true
            });
        }
        assert_eq!((probes, dropped, n.waiting()), (PROBES, PER_HOP as u64, 0));
        assert_eq!(n.next_deadline(5_000), None);
    }

    #[test]
    fn an_answer_releases_in_order() {
        let mut n = Neighbors::new(64);
        n.hold(ip(7), Waiting::Frame, b"a");
        n.hold(ip(8), Waiting::Frame, b"b");
        n.hold(ip(7), Waiting::Frame, b"c");
        assert_eq!(n.next_ready(0), None);
        n.fill(ip(7), mac(7), 0);
        let (i, _) = n.next_ready(0).unwrap();
        assert_eq!(n.bytes(i), b"a");
        n.release(i);
        let (i, _) = n.next_ready(0).unwrap();
        assert_eq!(n.bytes(i), b"c");
        n.release(i);
        assert_eq!(n.next_ready(0), None);
        assert!(!n.must_wait(ip(7)));
        assert!(n.must_wait(ip(8)));
    }

    #[test]
    fn probes_are_rate_limited() {
        let mut n = Neighbors::new(64);
        for i in 0..RESOLVING as u8 + 4 {
            n.hold(ip(100 + i), Waiting::Frame, b"x");
        }
        let mut sent = 0;
        let dropped = n.upkeep(0, |_| {
            sent += 1;
            true
        });
        assert_eq!(sent, PROBES_PER_SECOND);
        assert_eq!(dropped, 0);
        assert_eq!(n.waiting(), RESOLVING);
    }
}
