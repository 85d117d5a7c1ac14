//! What a hostile neighbor sends and a hardened host ignores, on the L2 wire, against each card.
//!
//! The harness is the guest's whole network (`harness::wire`, as in `net_wire`). With `udpecho`
//! serving port 2000, one boot per NIC sends, group by group:
//!
//! 1. Echo requests to 255.255.255.255 and to the subnet broadcast 10.0.2.255: no reply, each
//!    counted `not-for-us` (no smurf amplifier).
//! 2. Datagrams and pings from martian sources (the guest's own address, 0.0.0.0, 0.0.0.7,
//!    127.0.0.1, 224.0.0.1, 240.0.0.1, 255.255.255.255, 10.0.2.255) and from the guest's own
//!    MAC: no reply, no ARP request for the guest's own address, each counted `martian`.
//! 3. Datagrams whose IPv4 options do not add up (length 0, 1, past the header): not echoed,
//!    `malformed`; a loose source route: not echoed, `unsupported`; options that add up: echoed.
//! 4. ARP replies binding 10.0.2.2 to 00:00:00:00:00:00, ff:ff:ff:ff:ff:ff, a multicast MAC and
//!    the guest's own MAC, and a request from the guest's own address: no reply, each counted
//!    `martian`; then `ping -c 1 10.0.2.2` from the guest still reaches the host's real MAC.
//!
//! After each group the guest must have sent nothing (frames the wire answers itself, ARP for
//! 10.0.2.2 and pings to it, aside), `ifconfig`'s drop counters must have moved by exactly the
//! group's drops, and a UDP echo through `udpecho` must still come back.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use harness::Session;
use harness::ifconfig::{Counters, Reason};
use harness::qemu::Nic;
use harness::wire::bad::{ECHO_PORT, pattern};
use harness::wire::{
    self, ARP_REPLY, ARP_REQUEST, BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, GUEST_IP, GUEST_MAC,
    HOST_IP, HOST_MAC, ICMP_ECHO_REQUEST, Ipv4Header, MIN_FRAME, Mac, PROTO_ICMP, PROTO_UDP, Wire,
    arp_packet, ethernet, icmp_echo, udp,
};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);
/// How long QEMU may take to connect to the wire once started.
const CONNECT: Duration = Duration::from_secs(30);
/// One wait for a reply; TCG on two busy cores can be slow.
const REPLY: Duration = Duration::from_secs(3);
/// Requests per exchange before giving up.
const TRIES: usize = 5;
/// How long the guest has to answer what it must not answer (a stack that first asks ARP
/// for the address would do so at once).
const SILENCE: Duration = Duration::from_millis(1500);

/// One bad frame.
struct Frame {
    what: String,
    bytes: Vec<u8>,
}

fn frame(what: impl Into<String>, bytes: Vec<u8>) -> Frame {
    Frame {
        what: what.into(),
        bytes,
    }
}

/// An IPv4 packet in a frame from `src_mac` to `dst_mac`.
fn ip_frame(dst_mac: Mac, src_mac: Mac, header: &Ipv4Header, payload: &[u8]) -> Vec<u8> {
    ethernet(dst_mac, src_mac, ETHERTYPE_IPV4, &header.emit(payload))
}

/// A datagram from `src` (port 40000) to `udpecho` at `dst`, long enough that no NIC pads it.
fn udp_from(src_mac: Mac, src: Ipv4Addr, dst_mac: Mac, dst: Ipv4Addr, salt: usize) -> Vec<u8> {
    let datagram = udp(src, 40000, dst, ECHO_PORT, &pattern(32, salt));
    ip_frame(
        dst_mac,
        src_mac,
        &Ipv4Header::new(src, dst, PROTO_UDP),
        &datagram,
    )
}

/// An echo request from `src` to `dst`.
fn ping_from(src_mac: Mac, src: Ipv4Addr, dst_mac: Mac, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let message = icmp_echo(ICMP_ECHO_REQUEST, 0x6666, seq, &pattern(32, seq.into()));
    ip_frame(
        dst_mac,
        src_mac,
        &Ipv4Header::new(src, dst, PROTO_ICMP),
        &message,
    )
}

/// A datagram from the host to `udpecho` with `options` (zero-padded to 4 bytes) in its IPv4
/// header; the header's length, total length and checksum agree with them.
fn udp_with_options(options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut opts = options.to_vec();
    opts.resize(options.len().div_ceil(4) * 4, 0);
    let datagram = udp(HOST_IP, 40000, GUEST_IP, ECHO_PORT, payload);
    let mut packet = Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP).emit(&datagram);
    packet.splice(20..20, opts.iter().copied());
    packet[0] = 0x40 | (5 + opts.len() / 4) as u8;
    let total = packet.len() as u16;
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet[10..12].fill(0);
    let sum = wire::checksum(&[&packet[..20 + opts.len()]]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    ethernet(GUEST_MAC, HOST_MAC, ETHERTYPE_IPV4, &packet)
}

/// An ARP message to the guest (a reply, or a broadcast request) whose sender is `sha`/`spa`,
/// sent from the host's MAC and padded as a real host pads it.
fn arp_to_guest(op: u16, sha: Mac, spa: Ipv4Addr) -> Vec<u8> {
    let (dst, tha) = if op == ARP_REPLY {
        (GUEST_MAC, GUEST_MAC)
    } else {
        (BROADCAST, [0; 6])
    };
    let mut f = ethernet(
        dst,
        HOST_MAC,
        ETHERTYPE_ARP,
        &arp_packet(op, sha, spa, tha, GUEST_IP),
    );
    f.resize(MIN_FRAME, 0);
    f
}

/// A booted guest on the wire; its session collects failures so one run reports all of them.
struct Run {
    s: Session,
    wire: Wire,
    nic: Nic,
}

impl Run {
    fn boot(nic: Nic) -> Result<Run> {
        let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
        let mut s = Session::builder(&format!("net_hostile_ingress_{}", nic.name()))
            .nic(nic, wire.netdev_arg("net0"))
            .append("net.dhcp=0")
            .spawn()?;
        if let Err(e) = wire.accept(CONNECT) {
            return Err(s.fail(&format!("QEMU's netdev: {e}")));
        }
        s.wait_boot()?;
        Ok(Run { s, wire, nic })
    }

    fn ifconfig(&mut self) -> Result<Counters> {
        let out = self.s.run("ifconfig", CMD)?;
        Counters::parse(&out)
    }

    /// A UDP echo through `udpecho` comes back: the service is alive and not blocked.
    fn echo_alive(&mut self, after: &str, salt: usize) {
        let payload = pattern(40, salt);
        if let Err(e) = self.wire.udp_echo(41000, ECHO_PORT, &payload, TRIES, REPLY) {
            self.s
                .note(format!("after {after}, udpecho no longer echoes: {e:#}"));
        }
    }

    /// Frames the guest sent that nobody asked for, as a failure.
    fn nothing_unexpected(&mut self, after: &str) {
        let extra = self.wire.take_unmatched();
        if !extra.is_empty() {
            let lines: Vec<String> = extra.iter().map(|f| wire::describe(f)).collect();
            self.s.note(format!(
                "{}: after {after} the guest sent {} frame(s) it should not have:\n{}",
                self.nic.name(),
                extra.len(),
                lines.join("\n")
            ));
        }
    }

    /// Sends `frames`, then checks that the guest answered none of them within [`SILENCE`] and
    /// that its drop counters moved by `reason` once per frame and nothing else.
    fn ignored(&mut self, group: &str, frames: &[Frame], reason: Reason) -> Result<()> {
        let before = self.ifconfig()?;
        for f in frames {
            self.wire
                .send(&f.bytes)
                .with_context(|| format!("{group}: sending {}", f.what))?;
        }
        // Anything the guest sends now is an answer (the wire answers its ARP for 10.0.2.2).
        let deadline = Instant::now() + SILENCE;
        let mut answers = Vec::new();
        while let Some(f) = self
            .wire
            .recv(deadline.saturating_duration_since(Instant::now()))
        {
            answers.push(wire::describe(&f));
        }
        if !answers.is_empty() {
            self.s.note(format!(
                "{}: {group}: the guest answered with {} frame(s):\n{}",
                self.nic.name(),
                answers.len(),
                answers.join("\n")
            ));
        }
        self.nothing_unexpected(group);
        let d = self.ifconfig()?.delta(&before);
        let mut want = [0u64; Reason::ALL.len()];
        want[reason as usize] = frames.len() as u64;
        eprintln!(
            "{}: {group}: {} frames, dropped{}",
            self.nic.name(),
            frames.len(),
            d.drops_text()
        );
        if d.drops != want {
            let list: Vec<String> = frames.iter().map(|f| format!("  {}", f.what)).collect();
            self.s.note(format!(
                "{}: {group}: {} frames should each count one {} drop; dropped{}\n{}",
                self.nic.name(),
                frames.len(),
                reason.word(),
                d.drops_text(),
                list.join("\n")
            ));
        }
        Ok(())
    }
}

/// Pings to a broadcast address.
fn broadcast_pings() -> Vec<Frame> {
    let subnet = Ipv4Addr::new(10, 0, 2, 255);
    vec![
        frame(
            "ping to 255.255.255.255",
            ping_from(HOST_MAC, HOST_IP, BROADCAST, Ipv4Addr::BROADCAST, 1),
        ),
        frame(
            "ping to 10.0.2.255",
            ping_from(HOST_MAC, HOST_IP, BROADCAST, subnet, 2),
        ),
        frame(
            "ping to 10.0.2.255 at the guest's MAC",
            ping_from(HOST_MAC, HOST_IP, GUEST_MAC, subnet, 3),
        ),
    ]
}

/// Datagrams and pings from sources no neighbor can have.
fn martians() -> Vec<Frame> {
    let mut out = Vec::new();
    for (i, src) in [
        GUEST_IP,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(0, 0, 0, 7),
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(10, 0, 2, 255),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(frame(
            format!("UDP from {src}"),
            udp_from(HOST_MAC, src, GUEST_MAC, GUEST_IP, i),
        ));
        out.push(frame(
            format!("ping from {src}"),
            ping_from(HOST_MAC, src, GUEST_MAC, GUEST_IP, 10 + i as u16),
        ));
    }
    out.push(frame(
        "UDP from the guest's own MAC",
        udp_from(GUEST_MAC, HOST_IP, GUEST_MAC, GUEST_IP, 99),
    ));
    out.push(frame(
        "ping from the guest's own MAC",
        ping_from(GUEST_MAC, HOST_IP, GUEST_MAC, GUEST_IP, 99),
    ));
    out
}

/// IPv4 options whose lengths do not add up.
fn bad_options() -> Vec<Frame> {
    [
        ("length 0", &[0x07, 0][..]),
        ("length 1", &[0x94, 1]),
        ("length 40 in 4 option bytes", &[0x07, 40, 4]),
        ("no length byte", &[1, 1, 1, 0x44]),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (what, opts))| {
        frame(
            format!("IPv4 option of {what}"),
            udp_with_options(opts, &pattern(32, i)),
        )
    })
    .collect()
}

/// ARP that would bind an address to a MAC no neighbor can have, or bind the guest's address.
fn impossible_bindings() -> Vec<Frame> {
    let mut out: Vec<Frame> = [[0; 6], BROADCAST, [0x01, 0x00, 0x5e, 0, 0, 1], GUEST_MAC]
        .into_iter()
        .map(|mac| {
            frame(
                format!("ARP reply: 10.0.2.2 is at {}", wire::mac_text(mac)),
                arp_to_guest(ARP_REPLY, mac, HOST_IP),
            )
        })
        .collect();
    out.push(frame(
        "ARP request: who has 10.0.2.15, tell 10.0.2.15",
        arp_to_guest(ARP_REQUEST, [0x52, 0x54, 0, 0, 0, 9], GUEST_IP),
    ));
    out
}

fn suite(run: &mut Run) -> Result<()> {
    if let Err(e) = run.wire.who_has(GUEST_IP, TRIES, REPLY) {
        run.s.note(format!("ARP: {e:#}"));
    }
    run.s.send_line(&format!("udpecho {ECHO_PORT} &"))?;
    run.s.expect(
        format!("udpecho: echoing on port {ECHO_PORT}").as_str(),
        CMD,
    )?;
    run.echo_alive("boot", 1);
    run.nothing_unexpected("the first echo");

    run.ignored("broadcast pings", &broadcast_pings(), Reason::NotForUs)?;
    run.echo_alive("broadcast pings", 2);
    run.ignored("martian sources", &martians(), Reason::Martian)?;
    run.echo_alive("martian sources", 3);

    run.ignored("bad IPv4 options", &bad_options(), Reason::Malformed)?;
    let source_route = [frame(
        "loose source route via 10.0.2.2",
        udp_with_options(&[0x83, 7, 4, 10, 0, 2, 2], &pattern(32, 7)),
    )];
    run.ignored("a source route", &source_route, Reason::Unsupported)?;
    // Options that add up (no-op, router alert, record route): the datagram is echoed.
    let payload = pattern(32, 8);
    run.wire.send(&udp_with_options(
        &[1, 0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0],
        &payload,
    ))?;
    let echoed = run.wire.recv_until(REPLY, |f| {
        let eth = wire::Ethernet::parse(f).ok()?;
        let ip = wire::Ipv4::parse(eth.payload).ok()?;
        let udp = wire::Udp::parse(&ip).ok()?;
        (udp.sport == ECHO_PORT && udp.dport == 40000).then(|| udp.payload.to_vec())
    });
    if echoed.as_deref() != Some(&payload[..]) {
        run.s.note(format!(
            "{}: a datagram with good IPv4 options was not echoed ({echoed:?})",
            run.nic.name()
        ));
    }
    run.nothing_unexpected("good IPv4 options");

    run.ignored(
        "impossible ARP bindings",
        &impossible_bindings(),
        Reason::Martian,
    )?;
    // The guest still sends to the host's real MAC: the wire answers only pings to it.
    let before = run.wire.stats();
    let out = run.s.run(&format!("ping -c 1 {HOST_IP}"), CMD)?;
    let answered = run.wire.stats().echo_answered - before.echo_answered;
    if answered != 1 || !out.contains("1 packets transmitted, 1 received") {
        run.s.note(format!(
            "{}: after the ARP bindings, ping {HOST_IP}: the wire answered {answered} requests:\n{out}",
            run.nic.name()
        ));
    }
    run.nothing_unexpected("the guest's ping");
    run.echo_alive("impossible ARP bindings", 4);
    run.nothing_unexpected("the last echo");
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
fn net_hostile_ingress_e1000() -> Result<()> {
    on_the_wire(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_hostile_ingress_virtio() -> Result<()> {
    on_the_wire(Nic::Virtio)
}
