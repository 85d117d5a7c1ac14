//! The guest on the L2 wire, against each network card: the harness is its whole network.
//!
//! QEMU's NIC talks to `harness::wire` over a loopback `-netdev stream`: the test is the whole
//! network, the host 10.0.2.2, and puts exact frames on the wire. One boot per NIC runs, in order:
//!
//! 1. ARP: who has 10.0.2.15? The reply must carry the guest's MAC and both addresses.
//! 2. Pings of several sizes, ids and sequence numbers; each reply must carry the same payload.
//! 3. UDP datagrams into `udpecho 2000` (skipped, saying so, when the image has no `udpecho`).
//! 4. The guest pings the wire: `ping -c 3 10.0.2.2` must print 3 replies, and the wire must
//!    have answered exactly 3 echo requests.
//! 5. Bad input, group by group: each frame must be dropped and counted for the right reason and
//!    never answered. After each group the guest must still answer a ping, and `ifconfig`'s
//!    counters must add up: every frame the stack saw is either one of the group's pings and ARP
//!    replies or a drop, by a reason the group allows (`harness::wire::bad`, checked by `harness::wire::accounting`). `free` before and after the
//!    whole suite must print the same number of pages and the same kernel heap bytes in use.
//!
//! A failed run keeps its console log and its pcap (`-object filter-dump`) in the log directory.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::Session;
use harness::ifconfig::Counters;
use harness::qemu::Nic;
use harness::wire::accounting::check_group;
use harness::wire::bad::{self, Bad, ECHO_PORT, GROUPS, pattern};
use harness::wire::{self, GUEST_IP, GUEST_MAC, HOST_IP, Wire};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);
/// How long QEMU may take to connect to the wire once started.
const CONNECT: Duration = Duration::from_secs(30);
/// One wait for a reply; TCG on two busy cores can be slow.
const REPLY: Duration = Duration::from_secs(3);
/// Requests per exchange before giving up (a stack resolving 10.0.2.2 drops its first reply).
const TRIES: usize = 5;
/// Echo requests the guest sends to the wire.
const GUEST_PINGS: u64 = 3;
/// The flood lasts at most this long (and at most `bad::FLOOD_FRAMES` frames).
const FLOOD_TIME: Duration = Duration::from_secs(10);

/// A booted guest on the wire; its session collects failures so one run reports all of them.
struct Run {
    s: Session,
    wire: Wire,
    nic: Nic,
    /// The next sequence number of the liveness pings.
    seq: u16,
    /// The counters `ifconfig` printed last.
    last: Option<Counters>,
}

impl Run {
    fn boot(nic: Nic) -> Result<Run> {
        let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
        let mut s = Session::builder(&format!("net_wire_{}", nic.name()))
            .nic(nic, wire.netdev_arg("net0"))
            // No DHCP server on the wire: the static address, and no DISCOVERs among the
            // frames the test accounts for.
            .append("net.dhcp=0")
            .spawn()?;
        if let Err(e) = wire.accept(CONNECT) {
            return Err(s.fail(&format!("QEMU's netdev: {e}")));
        }
        s.wait_boot()?;
        Ok(Run {
            s,
            wire,
            nic,
            seq: 0,
            last: None,
        })
    }

    /// `ifconfig`'s counters. With `quiet`, nothing crossed the wire since the last reading, so
    /// nothing may have moved (reading counters must not change them).
    fn ifconfig(&mut self, quiet: bool) -> Result<Counters> {
        let out = self.s.run("ifconfig", CMD)?;
        let c = Counters::parse(&out)?;
        if let Some(last) = self.last.filter(|&last| quiet && last != c) {
            self.s.note(format!(
                "the counters moved with no traffic: from {last:?}\n  to {c:?}"
            ));
        }
        self.last = Some(c);
        Ok(c)
    }

    /// Frames the guest sent that no exchange asked for, as a failure.
    fn nothing_unexpected(&mut self, after: &str) {
        let extra = self.wire.take_unmatched();
        if !extra.is_empty() {
            let lines: Vec<String> = extra.iter().map(|f| wire::describe(f)).collect();
            self.s.note(format!(
                "after {after} the guest sent {} unexpected frame(s):\n{}",
                extra.len(),
                lines.join("\n")
            ));
        }
    }

    /// The ARP reply must say that 10.0.2.15 is at the guest's MAC, to the host.
    fn arp(&mut self) -> Result<()> {
        match self.wire.who_has(GUEST_IP, TRIES, REPLY) {
            Ok(mac) if mac == GUEST_MAC => {}
            Ok(mac) => self.s.note(format!(
                "ARP: 10.0.2.15 is at {}, not 52:54:00:12:34:56",
                wire::mac_text(mac)
            )),
            Err(e) => self.s.note(format!("ARP: {e:#}")),
        }
        self.nothing_unexpected("the ARP request");
        Ok(())
    }

    /// Pings of every size up to the MTU, with ids and sequence numbers at their edges.
    fn pings(&mut self) -> Result<()> {
        let cases: [(u16, u16, usize); 7] = [
            (1, 0, 0),
            (1, 1, 1),
            (0x1234, 2, 56),
            (0xffff, 0xffff, 100),
            (0, 7, 1000),
            (0x8000, 0x8000, 1471),
            (0xabcd, 3, 1472),
        ];
        for (id, seq, len) in cases {
            let payload = pattern(len, usize::from(id ^ seq));
            match self.wire.ping(id, seq, &payload, TRIES, REPLY) {
                Ok(1) => {}
                Ok(n) => {
                    eprintln!("ping id {id} seq {seq} ({len} bytes) answered after {n} requests")
                }
                Err(e) => self.s.note(format!("ping: {e:#}")),
            }
        }
        self.nothing_unexpected("the pings");
        Ok(())
    }

    /// Datagrams of several sizes into `udpecho`, from several source ports. Returns whether
    /// `udpecho` runs.
    fn udp(&mut self) -> Result<bool> {
        let ls = self.s.run("ls udpecho", CMD)?;
        if ls.contains("cannot open") {
            anyhow::bail!("the image has no udpecho, which every build puts there");
        }
        self.s.send_line(&format!("udpecho {ECHO_PORT} &"))?;
        self.s.expect(
            format!("udpecho: echoing on port {ECHO_PORT}").as_str(),
            CMD,
        )?;
        for (i, len) in [0usize, 1, 18, 100, 1000, 1472].into_iter().enumerate() {
            let sport = 40000 + i as u16 * 1111;
            let payload = pattern(len, i);
            match self.wire.udp_echo(sport, ECHO_PORT, &payload, TRIES, REPLY) {
                Ok(1) => {}
                Ok(n) => eprintln!("UDP echo of {len} bytes came back after {n} datagrams"),
                Err(e) => self.s.note(format!("udpecho: {e:#}")),
            }
        }
        self.nothing_unexpected("the UDP echoes");
        Ok(true)
    }

    /// The guest pings the wire's address: every request answered, counted once by the wire.
    fn ping_the_wire(&mut self) -> Result<()> {
        let before = self.wire.stats();
        let out = self
            .s
            .run(&format!("ping -c {GUEST_PINGS} {HOST_IP}"), CMD)?;
        let answered = self.wire.stats().echo_answered - before.echo_answered;
        let replies = out
            .lines()
            .filter(|l| l.contains(&format!("bytes from {HOST_IP}: icmp_seq=")))
            .count();
        let summary = format!("{GUEST_PINGS} packets transmitted, {GUEST_PINGS} received, 0%");
        eprintln!(
            "{}: ping {HOST_IP} from the guest: {replies} replies, the wire answered {answered}",
            self.nic.name()
        );
        if replies != GUEST_PINGS as usize || answered != GUEST_PINGS || !out.contains(&summary) {
            self.s.note(format!(
                "ping {HOST_IP} from the guest: {replies} replies printed, the wire answered \
                 {answered} requests, {GUEST_PINGS} expected each:\n{out}"
            ));
        }
        self.nothing_unexpected("the guest's pings");
        Ok(())
    }

    /// The guest still answers a ping (after a flood, maybe once its backlog is through).
    fn alive(&mut self, after: &str, tries: usize) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let payload = pattern(56, usize::from(self.seq));
        if let Err(e) = self.wire.ping(0x7777, self.seq, &payload, tries, REPLY) {
            bail!("the guest no longer answers pings after {after}: {e:#}");
        }
        Ok(())
    }

    /// Sends one group of bad frames (all of them, or as many as fit in `time`), then checks
    /// that the guest answers a ping, answered nothing else, and counted every frame it saw.
    fn group(&mut self, name: &str, frames: Vec<Bad>, time: Option<Duration>) -> Result<()> {
        let before = self.ifconfig(true)?;
        let wire_before = self.wire.stats();
        let start = Instant::now();
        let mut sent = 0;
        for b in &frames {
            if time.is_some_and(|t| start.elapsed() >= t) {
                break;
            }
            self.wire
                .send(&b.frame)
                .with_context(|| format!("{name}: sending {}", b.what))?;
            sent += 1;
        }
        let send_time = start.elapsed();
        let frames = &frames[..sent];
        self.alive(name, if time.is_some() { 20 } else { TRIES })?;
        self.nothing_unexpected(name);
        let after = self.ifconfig(false)?;
        let d = after.delta(&before);
        let w = self.wire.stats().since(&wire_before);
        eprintln!(
            "{}: {name}: {sent} frames in {send_time:.1?}; stack saw {} of {} frames, dropped{}",
            self.nic.name(),
            d.rx_frames,
            w.sent,
            d.drops_text()
        );
        if let Err(e) = check_group(frames, &d, &w) {
            let list: Vec<String> = frames
                .iter()
                .take(40)
                .map(|b| format!("  {}: {}", b.what, wire::describe(&b.frame)))
                .collect();
            self.s.note(format!(
                "{name}: {e}\n  counters moved by {d:?}\n  wire {w:?}\n  frames:\n{}",
                list.join("\n")
            ));
        }
        Ok(())
    }
}

fn suite(run: &mut Run) -> Result<()> {
    run.arp()?;
    run.pings()?;
    run.udp()?;
    run.ping_the_wire()?;

    // The suite so far was the warm-up: whatever the first frames allocate for good (the
    // neighbour cache, socket tables) is in both numbers.
    let before = run.s.memory(CMD)?;
    for (name, frames) in GROUPS {
        run.group(name, frames(), None)?;
    }
    run.group("flood", bad::flood(), Some(FLOOD_TIME))?;
    run.ifconfig(true)?;
    let after = run.s.memory(CMD)?;
    eprintln!("memory before and after the bad input: {before:?} {after:?}");
    if before.pages != after.pages {
        run.s.note(format!(
            "free pages went from {} to {} over the bad input",
            before.pages, after.pages
        ));
    }
    if before.heap != after.heap {
        run.s.note(format!(
            "kernel heap in use went from {} to {} bytes over the bad input",
            before.heap, after.heap
        ));
    }
    Ok(())
}

fn on_the_wire(nic: Nic) -> Result<()> {
    let mut run = Run::boot(nic)?;
    if let Err(e) = suite(&mut run) {
        return Err(run.s.abort(e));
    }
    run.s.finish()
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_wire_e1000() -> Result<()> {
    on_the_wire(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_wire_virtio() -> Result<()> {
    on_the_wire(Nic::Virtio)
}
