//! Fuzzing the whole ingress path: random and mutated frames into
//! `NetStack::poll`, with a socket of every kind open.
//!
//! Each frame starts from a valid fixture (ARP, ICMP echo, UDP to the lab port
//! and to a BSD socket, TCP to a listener and to an established connection) or
//! from random bytes, and is then mutated: bit flips, interesting values in
//! header fields (with the checksums fixed up afterwards so that the mutation
//! reaches the layer behind), truncation, random tails, IPv4 options of any
//! length. After every frame the test checks that
//!
//! - nothing panicked (the failing frame is printed, with the seed);
//! - the counters add up: every frame is counted received, and at most one drop
//!   reason rises for it (exactly one when the frame cannot be delivered at
//!   all: a runt, an oversized frame, another host's MAC). Delivered frames
//!   have no counter of their own, so "delivered" is "no drop counted";
//! - nothing is allocated while frames flow (the fixed-size rings and socket
//!   buffers must absorb any input);
//! - what the stack sends is well formed, comes from its own MAC and address,
//!   and is never more than a few frames per frame received;
//! - nothing a hardened host ignores is answered: no echo reply to a ping sent
//!   to a broadcast or multicast address or from a martian source (which is
//!   also always dropped), and nothing sent to a martian address or to a MAC
//!   no neighbor can have (which only a poisoned ARP cache would do).
//!
//! `cargo test -p netstack --test fuzz` runs 20,000 frames, a few seconds in a
//! debug build. At length:
//!
//! ```text
//! FUZZ_FRAMES=5000000 cargo test --release -p netstack --test fuzz -- --nocapture
//! ```
//!
//! `FUZZ_SEED=<number>` replays one run (a failure prints the seed it used).
//! Two more tests check what a hardened host ignores: echo requests to a
//! broadcast or multicast address, and frames from martian sources.
//!
//! This file holds the tests; `frames.rs` makes the valid fixtures, `mutate.rs`
//! mutates them, `guest.rs` is the stack under test on the NIC of `nic.rs`, which
//! checks every sent frame against the rules of `checks.rs`, and `meter.rs` counts
//! allocations.

#[path = "../common/mod.rs"]
mod common;

mod checks;
mod frames;
mod guest;
mod meter;
mod mutate;
mod nic;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use common::{GUEST_IP, GUEST_MAC, arp_request_for_guest, echo_request};
use smoltcp::wire::{Icmpv4Repr, Ipv4Address, Ipv4Packet};

use checks::{ignored, rx_drops};
use frames::{Kind, UDP_PORT, echo_frame, fixtures};
use guest::Guest;
use meter::{start_counting, stop_counting};
use mutate::{Rng, fix_checksums, mutate, sync_conn};
use nic::{MAX_FRAME, MAX_TX_PER_POLL};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Frames per segment: within one, the clock moves 1 ms a frame, less than
/// the 5 s a SYN may wait for a listener, so no waiting SYN expires mid-segment.
const SEGMENT: u64 = 4_000;

#[test]
fn random_and_mutated_frames() {
    let frames = env_u64("FUZZ_FRAMES", 20_000);
    let seed = env_u64("FUZZ_SEED", 0x5eed_f00d);
    eprintln!("fuzz: {frames} frames, FUZZ_SEED={seed}");
    let mut rng = Rng::new(seed);
    let mut guest = Guest::new();
    let mut fixtures = fixtures(guest.stack.device().tx.client_port);
    let mut frame = [0u8; MAX_FRAME];
    let mut reconnects = 0;
    let mut allocations = 0;
    let mut fed = 0;
    while fed < frames {
        // Between segments: time jumps past every timer, the connection is
        // made again if the fuzzer killed it, and ARP is refreshed. Allocating
        // is allowed here (a new connection arms a new listener).
        let before = guest.stack.counters().drops;
        guest.now += 5_001;
        guest.poll();
        let expired = guest.stack.counters().drops;
        assert!(
            rx_drops(&expired) - rx_drops(&before) == expired.queue_full - before.queue_full,
            "only waiting SYNs may be dropped by a poll without a frame"
        );
        guest.drain_sockets();
        guest.feed(&arp_request_for_guest());
        if !guest.conn_alive() {
            guest.connect();
            reconnects += 1;
            fixtures = self::fixtures(guest.stack.device().tx.client_port);
        }
        guest.drain_sockets();

        start_counting();
        for _ in 0..SEGMENT.min(frames - fed) {
            let (kind, base) = &fixtures[rng.below(fixtures.len())];
            let mut len = base.len();
            frame[..len].copy_from_slice(base);
            if *kind == Kind::Conn {
                let peer = guest.stack.device().tx.peer;
                sync_conn(&mut frame, len, &peer, &mut rng);
            }
            let copy = frame;
            len = mutate(&mut rng, &copy[..len], &mut frame);
            let frame = &frame[..len];

            let before = guest.stack.counters();
            let echo_replies = guest.stack.device().tx.echo_replies;
            let (must_drop, must_not_answer) = ignored(frame);
            guest.now += 1;
            let sent = match catch_unwind(AssertUnwindSafe(|| guest.feed(frame))) {
                Ok(sent) => sent,
                Err(panic) => {
                    stop_counting();
                    eprintln!("FUZZ_SEED={seed}, frame {fed}: {len} bytes {frame:02x?}");
                    resume_unwind(panic);
                }
            };
            let after = guest.stack.counters();
            fed += 1;

            assert_eq!(after.rx_frames, before.rx_frames + 1);
            let dropped = rx_drops(&after.drops) - rx_drops(&before.drops);
            let undeliverable = must_drop || !(14..=1514).contains(&len) || {
                let dst = &frame[..6];
                dst != GUEST_MAC && dst != [0xff; 6]
            };
            if undeliverable || dropped > 1 {
                assert_eq!(
                    dropped, 1,
                    "FUZZ_SEED={seed}, frame {fed}: {:?} -> {:?} for {frame:02x?}",
                    before.drops, after.drops
                );
            }
            if must_not_answer {
                assert_eq!(
                    guest.stack.device().tx.echo_replies,
                    echo_replies,
                    "FUZZ_SEED={seed}, frame {fed}: answered a ping it must ignore: {frame:02x?}"
                );
            }
            assert!(
                sent <= MAX_TX_PER_POLL,
                "FUZZ_SEED={seed}, frame {fed}: {sent} frames sent for {frame:02x?}"
            );
            if fed.is_multiple_of(64) {
                // The application's side: accepting a connection a fuzzed
                // SYN made arms a new listener, which allocates its buffers.
                allocations += stop_counting();
                guest.drain_sockets();
                start_counting();
            }
        }
        allocations += stop_counting();
    }
    let counters = guest.stack.counters();
    assert!(rx_drops(&counters.drops) <= counters.rx_frames);
    assert_eq!(counters.tx_frames, guest.stack.device().tx.total);
    assert_eq!(counters.drops.tx_ring_full, 0);
    eprintln!(
        "fuzz: {} frames in, {} out, drops {:?}, {reconnects} reconnects",
        counters.rx_frames, counters.tx_frames, counters.drops
    );
    assert_eq!(allocations, 0, "allocations while frames flowed");
}

/// Feeds `frames` echo requests to broadcast and multicast addresses, and
/// returns how many echo replies the guest sent.
fn broadcast_echo_replies(frames: u64) -> u64 {
    let mut rng = Rng::new(0xb0ad_ca57);
    let mut guest = Guest::new();
    let before = guest.stack.device().tx.echo_replies;
    let mut data = [0u8; 64];
    for _ in 0..frames {
        let (mac, dst) = match rng.below(4) {
            0 => ([0xff; 6], Ipv4Address::new(255, 255, 255, 255)),
            1 => ([0xff; 6], Ipv4Address::new(10, 0, 2, 255)),
            2 => (GUEST_MAC, Ipv4Address::new(10, 0, 2, 255)),
            _ => (
                [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
                Ipv4Address::new(224, 0, 0, 1),
            ),
        };
        for byte in &mut data {
            *byte = rng.byte();
        }
        let n = rng.below(data.len());
        let request = Icmpv4Repr::EchoRequest {
            ident: rng.next() as u16,
            seq_no: rng.next() as u16,
            data: &data[..n],
        };
        guest.now += 1;
        guest.feed(&echo_frame(mac, dst, &request));
    }
    guest.stack.device().tx.echo_replies - before
}

#[test]
fn no_reply_to_broadcast_echo() {
    // A hardened host (Linux's icmp_echo_ignore_broadcasts) answers no ping
    // sent to a broadcast or multicast address, or it amplifies a spoofed one
    // onto the whole link.
    assert_eq!(broadcast_echo_replies(env_u64("FUZZ_FRAMES", 2_000)), 0);
}

/// Frames from a martian source (the guest's own address, 0.0.0.0, broadcast,
/// loopback, multicast) are answered by nothing and each counted as a drop.
#[test]
fn martian_sources_are_dropped_and_counted() {
    // A datagram from the guest's own address must not be delivered, nor
    // answered by an ARP request for that address.
    let martians = [
        GUEST_IP,
        Ipv4Address::new(0, 0, 0, 0),
        Ipv4Address::new(255, 255, 255, 255),
        Ipv4Address::new(127, 0, 0, 1),
        Ipv4Address::new(224, 0, 0, 1),
    ];
    let mut guest = Guest::new();
    for src in martians {
        for frame in [
            common::udp_frame(GUEST_MAC, (src, 53), (GUEST_IP, UDP_PORT), b"martian"),
            {
                let mut f = echo_request(9, 9, b"martian");
                let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.set_src_addr(src);
                fix_checksums(&mut f);
                f
            },
        ] {
            let before = guest.stack.counters();
            guest.now += 1;
            let sent = guest.feed(&frame) + {
                guest.now += 1_000;
                guest.poll()
            };
            let after = guest.stack.counters();
            assert_eq!(sent, 0, "answered a frame from {src}");
            assert_eq!(
                rx_drops(&after.drops),
                rx_drops(&before.drops) + 1,
                "a frame from {src} was not counted as dropped"
            );
            assert_eq!(
                after.drops.martian,
                before.drops.martian + 1,
                "a frame from {src} was not counted as martian"
            );
        }
    }
}
