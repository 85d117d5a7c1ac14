//! Broken and foreign frames are dropped and counted, never answered, never a panic.

mod common;

use common::*;
use netstack::Drops;
use smoltcp::wire::{Ipv4Address, Ipv4Packet};

/// Injects `frames` into a guest bound to port 2000, polls, and returns the drops.
fn drops_for(frames: &[Vec<u8>]) -> Drops {
    let (mut guest, input, output) = tapped(8);
    guest.bind(2000).unwrap();
    for frame in frames {
        input.inject(frame);
    }
    guest.poll(0);
    assert!(output.is_empty(), "a bad frame was answered");
    assert_eq!(
        guest.try_recv(2000, &mut [0; 64]),
        Err(netstack::Error::WouldBlock)
    );
    let counters = guest.counters();
    assert_eq!(counters.rx_frames, frames.len() as u64);
    counters.drops
}

fn with(frame: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut copy = frame.to_vec();
    copy[at] = value;
    copy
}

#[test]
fn each_fault_is_counted_by_reason() {
    let good = udp_to_guest(25099, 2000, b"xyz");
    let frames = [
        good[..10].to_vec(),               // truncated Ethernet header
        with(&good, 14, 0x44),             // IPv4 header length 16 < 20
        with(&good, 14 + 8, 0x3f),         // TTL changed: header checksum fails
        with(&good, 14 + 20 + 4, 0xff),    // UDP length beyond the packet
        with(&good, good.len() - 1, b'!'), // payload changed: UDP checksum fails
        with(&good, 12, 0x88),             // unknown EtherType 0x8800
        with(&good, 5, 0x99),              // another host's MAC
    ];
    let drops = drops_for(&frames);
    assert_eq!(
        drops,
        Drops {
            malformed: 5,
            unsupported: 1,
            not_for_us: 1,
            ..Drops::default()
        }
    );
}

#[test]
fn every_truncation_of_a_datagram_is_malformed() {
    let good = udp_to_guest(25099, 2000, b"some payload");
    let frames: Vec<_> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    let drops = drops_for(&frames);
    assert_eq!(drops.malformed, good.len() as u64);
}

#[test]
fn a_ping_to_another_address_is_not_answered() {
    let mut frame = echo_request(1, 1, b"x");
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_dst_addr(Ipv4Address::new(10, 0, 2, 16));
    ip.fill_checksum();
    assert_eq!(drops_for(&[frame]).not_for_us, 1);
}

#[test]
fn random_bytes_never_panic() {
    // A fixed xorshift sequence: reproducible, and enough to reach every layer
    // because the frames keep valid headers with random bodies and lengths.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let template = udp_to_guest(25099, 2000, &[0; 40]);
    let (mut guest, input, output) = tapped(64);
    guest.bind(2000).unwrap();
    for round in 0..2000 {
        let len = (next() % (template.len() as u64 + 1)) as usize;
        let mut frame = template[..len].to_vec();
        let keep = [0, 14, 34][round % 3].min(len);
        for byte in &mut frame[keep..] {
            *byte = next() as u8;
        }
        input.inject(&frame);
        guest.poll(round as u64);
        output.take_all();
    }
    let counters = guest.counters();
    assert_eq!(counters.rx_frames, 2000);
}
