//! Doorbells (docs/design.md, "One doorbell per poll"): the drivers tell the NIC of new
//! descriptors once per poll rather than per frame, so a frame queued but never announced
//! would sit in its ring until some later frame rang for it. On the L2 wire
//! (`harness::wire`), one boot per NIC:
//!
//! 1. Bursts sent back to back, each frame once, with no retry that could push a stranded
//!    reply out: pings (the stack answers them while it reads them, so several replies may
//!    leave with one doorbell) and datagrams to `udpecho`. Every reply must come back within
//!    a few seconds.
//! 2. `ifconfig`'s `doorbells tx N rx N` line: the bursts rang the transmit doorbell at least
//!    once and at most once per frame sent, and the receive doorbell at most once per frame
//!    received (virtio-net's device asks for receive notifications only when it runs out of
//!    buffers, which a burst shorter than the ring never makes it do).
//!
//! A failed run keeps its console log and its pcap in the log directory.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use harness::Session;
use harness::ifconfig::{self, Counters};
use harness::qemu::Nic;
use harness::wire::bad::{ECHO_PORT, pattern};
use harness::wire::{
    ETHERTYPE_IPV4, Echo, Ethernet, GUEST_IP, Ipv4, Udp, Wire, ping_frame, udp_frame,
};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);
/// How long QEMU may take to connect to the wire once started.
const CONNECT: Duration = Duration::from_secs(30);
/// Frames per burst: fewer than the 16-descriptor rings hold, so that no NIC drops any.
const BURST: u16 = 12;
/// Bursts of each kind.
const ROUNDS: u16 = 3;
/// How long the replies to one burst may take, all of them.
const WAIT: Duration = Duration::from_secs(3);
/// Before the bursts: tries and the wait for each (the guest first resolves 10.0.2.2).
const TRIES: usize = 5;
const REPLY: Duration = Duration::from_secs(3);
/// The identifier of the bursts' pings.
const PING_ID: u16 = 0xd00b;

fn boot(nic: Nic) -> Result<(Session, Wire)> {
    let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
    let mut s = Session::builder(&format!("net_doorbell_{}", nic.name()))
        .nic(nic, wire.netdev_arg("net0"))
        .append("net.dhcp=0")
        .spawn()?;
    if let Err(e) = wire.accept(CONNECT) {
        return Err(s.fail(&format!("QEMU's netdev: {e}")));
    }
    s.wait_boot()?;
    Ok((s, wire))
}

/// Waits up to [`WAIT`] for the replies to a burst of `BURST` frames: `pick` names the frame
/// of the burst a reply answers. Fails unless each one came back.
fn replies(wire: &mut Wire, what: &str, mut pick: impl FnMut(&[u8]) -> Option<u16>) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut got = BTreeSet::new();
    while got.len() < usize::from(BURST) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(i) = wire.recv_until(left, &mut pick) else {
            break;
        };
        got.insert(i);
    }
    let missing: Vec<u16> = (0..BURST).filter(|i| !got.contains(i)).collect();
    ensure!(
        missing.is_empty(),
        "{what}: no reply to frames {missing:?} of {BURST} within {WAIT:?}"
    );
    Ok(())
}

/// One burst of pings, sent at once.
fn ping_burst(wire: &mut Wire, round: u16) -> Result<()> {
    let payload = |seq: u16| pattern(56, usize::from(seq));
    let first = round * BURST;
    for seq in first..first + BURST {
        wire.send(&ping_frame(PING_ID, seq, &payload(seq)))?;
    }
    replies(wire, &format!("ping burst {round}"), |f| {
        let eth = Ethernet::parse(f).ok()?;
        let ip = Ipv4::parse(eth.payload).ok()?;
        let echo = Echo::parse(&ip).ok()?;
        let ok = eth.ethertype == ETHERTYPE_IPV4
            && ip.header.src == GUEST_IP
            && echo.ty == 0
            && echo.id == PING_ID
            && (first..first + BURST).contains(&echo.seq)
            && echo.payload == payload(echo.seq);
        ok.then(|| echo.seq - first)
    })
}

/// One burst of datagrams to `udpecho`, sent at once, from a port of its own.
fn udp_burst(wire: &mut Wire, round: u16) -> Result<()> {
    let sport = 42000 + round;
    let payload = |i: u16| pattern(64 + usize::from(i), usize::from(sport + i));
    for i in 0..BURST {
        wire.send(&udp_frame(sport, ECHO_PORT, &payload(i)))?;
    }
    replies(wire, &format!("udpecho burst {round}"), |f| {
        let eth = Ethernet::parse(f).ok()?;
        let ip = Ipv4::parse(eth.payload).ok()?;
        let udp = Udp::parse(&ip).ok()?;
        if eth.ethertype != ETHERTYPE_IPV4 || udp.sport != ECHO_PORT || udp.dport != sport {
            return None;
        }
        (0..BURST).find(|&i| udp.payload == payload(i))
    })
}

/// The frame counters and the doorbells of `ifconfig` now.
fn counters(s: &mut Session) -> Result<(Counters, (u64, u64))> {
    let out = s.run("ifconfig", CMD)?;
    Ok((Counters::parse(&out)?, ifconfig::doorbells(&out)?))
}

fn suite(s: &mut Session, wire: &mut Wire, nic: Nic) -> Result<()> {
    s.send_line(&format!("udpecho {ECHO_PORT} &"))?;
    s.expect(
        format!("udpecho: echoing on port {ECHO_PORT}").as_str(),
        CMD,
    )?;
    // The path works, and each side knows the other's MAC: no reply waits for ARP.
    wire.ping(PING_ID, u16::MAX, &pattern(56, 1), TRIES, REPLY)?;
    wire.udp_echo(41999, ECHO_PORT, &pattern(64, 2), TRIES, REPLY)?;
    let (before, (tx_before, rx_before)) = counters(s)?;
    for round in 0..ROUNDS {
        if let Err(e) = ping_burst(wire, round) {
            s.note(format!("{}: {e:#}", nic.name()));
        }
        if let Err(e) = udp_burst(wire, round) {
            s.note(format!("{}: {e:#}", nic.name()));
        }
    }
    let (after, (tx_after, rx_after)) = counters(s)?;
    let moved = after.delta(&before);
    let (tx, rx) = (tx_after - tx_before, rx_after - rx_before);
    eprintln!(
        "{}: {} frames sent with {tx} doorbells, {} received with {rx}",
        nic.name(),
        moved.tx_frames,
        moved.rx_frames
    );
    if tx == 0 || tx > moved.tx_frames {
        s.note(format!(
            "{}: {tx} transmit doorbells for {} frames sent",
            nic.name(),
            moved.tx_frames
        ));
    }
    if rx > moved.rx_frames {
        s.note(format!(
            "{}: {rx} receive doorbells for {} frames received",
            nic.name(),
            moved.rx_frames
        ));
    }
    Ok(())
}

fn run(nic: Nic) -> Result<()> {
    let (mut s, mut wire) = boot(nic)?;
    if let Err(e) = suite(&mut s, &mut wire, nic) {
        return Err(s.abort(e));
    }
    s.finish()
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_doorbell_e1000() -> Result<()> {
    run(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_doorbell_virtio() -> Result<()> {
    run(Nic::Virtio)
}

/// Packed virtqueues decide a batch's notification by their own event rules.
#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_doorbell_virtio_packed() -> Result<()> {
    run(Nic::VirtioPacked)
}
