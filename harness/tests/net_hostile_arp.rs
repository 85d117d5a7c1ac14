//! Neighbours on the L2 wire, against each network card: the harness decides who answers ARP.
//!
//! One boot per NIC (`harness::wire`, static address, no DHCP), then in order:
//!
//! 1. **First ping from a new neighbour.** 10.0.2.88 (never seen) pings the guest once. The guest
//!    asks who has 10.0.2.88; the wire answers; the echo reply must follow, to the new MAC,
//!    without a second request. (A stack that drops the reply it built while the neighbour was
//!    unknown fails here.)
//! 2. **A silent source does not stop `udpecho`.** A datagram from 10.0.2.99, which never answers
//!    ARP, then at once one from the host: the host's echo must come back within a second or two,
//!    and is timed. The guest asks for 10.0.2.99 three times, a second apart, then gives up:
//!    `ifconfig` counts one `unresolved` drop. (A stack whose echo waits for 10.0.2.99 at the
//!    head of the socket's queue echoes nothing else for as long as it keeps asking.)
//! 3. **An ARP storm keeps the gateway.** 3,000 requests for the guest's address from random
//!    addresses of the subnet at random MACs; then the host pings the guest, which must answer
//!    without asking for the host's MAC again (its cache entry survived).
//!
//! A failed run keeps its console log and its pcap in the log directory.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use harness::Session;
use harness::ifconfig::{Counters, Reason};
use harness::qemu::Nic;
use harness::wire::{
    self, ARP_REPLY, ARP_REQUEST, Arp, BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, Echo, Ethernet,
    GUEST_IP, GUEST_MAC, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, Ipv4, Ipv4Header, Mac, PROTO_ICMP,
    PROTO_UDP, Udp, Wire,
};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);
/// How long QEMU may take to connect to the wire once started.
const CONNECT: Duration = Duration::from_secs(30);
/// One wait for a reply; TCG on two busy cores can be slow.
const REPLY: Duration = Duration::from_secs(3);
/// Tries of the warm-up exchanges (a stack may drop the first reply while it resolves the host).
const TRIES: usize = 5;
const ECHO_PORT: u16 = 2000;

/// A neighbour that answers ARP (step 1).
const NEW_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 88);
const NEW_MAC: Mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x58];
/// A neighbour that never does (step 2).
const SILENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 99);
const SILENT_MAC: Mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x63];
/// Requests in the storm (step 3).
const STORM: usize = 3_000;

/// An IPv4 frame from `mac`/`src` to the guest.
fn from(mac: Mac, src: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let packet = Ipv4Header::new(src, GUEST_IP, protocol).emit(payload);
    wire::ethernet(GUEST_MAC, mac, ETHERTYPE_IPV4, &packet)
}

/// An ARP packet from `mac`/`ip` about the guest's address: a broadcast request or a reply.
fn arp_from(op: u16, mac: Mac, ip: Ipv4Addr) -> Vec<u8> {
    let (dst, tha) = if op == ARP_REQUEST {
        (BROADCAST, [0; 6])
    } else {
        (GUEST_MAC, GUEST_MAC)
    };
    let p = wire::arp_packet(op, mac, ip, tha, GUEST_IP);
    wire::ethernet(dst, mac, ETHERTYPE_ARP, &p)
}

/// The address a guest's ARP request asks for.
fn arp_request(f: &[u8]) -> Option<Ipv4Addr> {
    let eth = Ethernet::parse(f).ok()?;
    let arp = Arp::parse(eth.payload).ok()?;
    (eth.ethertype == ETHERTYPE_ARP && arp.op == ARP_REQUEST && eth.src == GUEST_MAC)
        .then_some(arp.tpa)
}

/// One step of the suite.
type Step = fn(&mut Run) -> Result<()>;

struct Run {
    s: Session,
    wire: Wire,
    nic: Nic,
}

impl Run {
    fn boot(nic: Nic) -> Result<Run> {
        let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
        let mut s = Session::builder(&format!("net_hostile_arp_{}", nic.name()))
            .nic(nic, wire.netdev_arg("net0"))
            .append("net.dhcp=0")
            .spawn()?;
        if let Err(e) = wire.accept(CONNECT) {
            return Err(s.fail(&format!("QEMU's netdev: {e}")));
        }
        s.wait_boot()?;
        Ok(Run { s, wire, nic })
    }

    fn counters(&mut self) -> Result<Counters> {
        let out = self.s.run("ifconfig", CMD)?;
        Counters::parse(&out)
    }

    /// Step 1: the first ping from 10.0.2.88 is answered once the guest resolved it.
    fn first_ping(&mut self) -> Result<()> {
        let request = wire::icmp_echo(ICMP_ECHO_REQUEST, 0x5858, 1, b"first ping");
        self.wire
            .send(&from(NEW_MAC, NEW_IP, PROTO_ICMP, &request))?;
        let start = Instant::now();
        if self
            .wire
            .recv_until(REPLY, |f| (arp_request(f) == Some(NEW_IP)).then_some(()))
            .is_none()
        {
            bail!("the guest never asked who has {NEW_IP}");
        }
        self.wire.send(&arp_from(ARP_REPLY, NEW_MAC, NEW_IP))?;
        let reply = self.wire.recv_until(REPLY, |f| {
            let eth = Ethernet::parse(f).ok()?;
            let ip = Ipv4::parse(eth.payload).ok()?;
            let echo = Echo::parse(&ip).ok()?;
            (echo.ty == ICMP_ECHO_REPLY && echo.id == 0x5858 && echo.seq == 1)
                .then(|| (eth.dst, ip.header.dst, echo.payload.to_vec()))
        });
        let Some((mac, dst, data)) = reply else {
            bail!("the first ping from {NEW_IP} got no reply after its ARP reply");
        };
        ensure!(
            mac == NEW_MAC && dst == NEW_IP && data == b"first ping",
            "echo reply to {} {dst}",
            wire::mac_text(mac)
        );
        eprintln!(
            "{}: first ping from a new neighbour answered in {:.0?}",
            self.nic.name(),
            start.elapsed()
        );
        self.wire.take_unmatched();
        Ok(())
    }

    /// Step 2: `udpecho` keeps echoing the host while its reply to 10.0.2.99 waits, and that
    /// reply gives up after three probes.
    fn silent_source(&mut self) -> Result<()> {
        self.s.send_line(&format!("udpecho {ECHO_PORT} &"))?;
        self.s.expect(
            format!("udpecho: echoing on port {ECHO_PORT}").as_str(),
            CMD,
        )?;
        self.wire
            .udp_echo(40000, ECHO_PORT, b"warm-up", TRIES, REPLY)?;
        self.wire.take_unmatched();
        let before = self.counters()?;

        let d = wire::udp(SILENT_IP, 5555, GUEST_IP, ECHO_PORT, b"from a silent host");
        self.wire
            .send(&from(SILENT_MAC, SILENT_IP, PROTO_UDP, &d))?;
        let start = Instant::now();
        self.wire
            .send(&wire::udp_frame(40001, ECHO_PORT, b"from the host"))?;
        let mut probes = Vec::new();
        let echoed = self.wire.recv_until(REPLY, |f| {
            if arp_request(f) == Some(SILENT_IP) {
                probes.push(start.elapsed());
                return None;
            }
            let eth = Ethernet::parse(f).ok()?;
            let ip = Ipv4::parse(eth.payload).ok()?;
            let udp = Udp::parse(&ip).ok()?;
            (udp.dport == 40001 && udp.payload == b"from the host").then_some(())
        });
        let latency = start.elapsed();
        if echoed.is_none() {
            bail!("udpecho did not echo the host within {REPLY:?} of a datagram from {SILENT_IP}");
        }
        eprintln!(
            "{}: udpecho answered the host {latency:.0?} after a datagram from a silent source",
            self.nic.name()
        );
        // The probes for 10.0.2.99: three, about a second apart, then no more.
        let until = Instant::now() + Duration::from_secs(6);
        while let Some(f) = self
            .wire
            .recv(until.saturating_duration_since(Instant::now()))
        {
            if arp_request(&f) == Some(SILENT_IP) {
                probes.push(start.elapsed());
            }
        }
        eprintln!(
            "{}: probes for {SILENT_IP} at {probes:.1?}",
            self.nic.name()
        );
        ensure!(probes.len() == 3, "{} probes for {SILENT_IP}", probes.len());
        let spacing = probes[2] - probes[0];
        ensure!(
            (Duration::from_millis(1500)..Duration::from_millis(3500)).contains(&spacing),
            "the probes spanned {spacing:?}, not about 2 s"
        );
        let d = self.counters()?.delta(&before);
        ensure!(
            d.drop(Reason::Unresolved) == 1,
            "unresolved drops moved by {}, not 1",
            d.drop(Reason::Unresolved)
        );
        self.wire
            .udp_echo(40002, ECHO_PORT, b"after", 1, REPLY)
            .context("udpecho after the silent source gave up")?;
        self.wire.take_unmatched();
        Ok(())
    }

    /// Step 3: 3,000 ARP requests from strangers, then the host's ping is answered without an
    /// ARP request for the host.
    fn storm(&mut self) -> Result<()> {
        // Something from the host first, as in use: the guest renews the host's entry.
        self.wire.ping(0x5a5a, 1, b"before", TRIES, REPLY)?;
        self.wire.take_unmatched();
        let before = self.counters()?;
        let arp_before = self.wire.stats().arp_answered;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let start = Instant::now();
        for i in 0..STORM {
            // Paced a little, so that most requests reach the stack rather than a full RX ring.
            if i % 8 == 7 {
                std::thread::sleep(Duration::from_millis(2));
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Any host of the subnet but the host, the guest and the neighbours above.
            let host = match 3 + (seed % 250) as u8 {
                15 | 88 | 99 => 16,
                h => h,
            };
            let mac = [0x02, (seed >> 8) as u8, (seed >> 16) as u8, 0, 1, host];
            self.wire
                .send(&arp_from(ARP_REQUEST, mac, Ipv4Addr::new(10, 0, 2, host)))?;
        }
        let sent_in = start.elapsed();
        // The guest answers each (some may be lost to a full ring): wait until it is done.
        let mut answers = 0;
        while let Some(f) = self.wire.recv(Duration::from_secs(1)) {
            if Ethernet::parse(&f).is_ok_and(|e| e.ethertype == ETHERTYPE_ARP && e.src == GUEST_MAC)
            {
                answers += 1;
            }
        }
        let pings = self
            .wire
            .ping(0x5a5a, 2, b"after", TRIES, REPLY)
            .with_context(|| {
                format!("the host's ping after {STORM} ARP requests from strangers")
            })?;
        self.wire.take_unmatched();
        let asked = self.wire.stats().arp_answered - arp_before;
        let d = self.counters()?.delta(&before);
        eprintln!(
            "{}: {STORM} ARP requests sent in {sent_in:.1?}, {answers} answered; the host's ping \
             answered after {pings} request(s); the guest asked for the host {asked} times; \
             drops{}",
            self.nic.name(),
            d.drops_text()
        );
        ensure!(
            asked == 0,
            "after the storm the guest asked for the host's MAC again: its entry was evicted"
        );
        Ok(())
    }
}

fn on_the_wire(nic: Nic) -> Result<()> {
    let mut run = Run::boot(nic)?;
    // The guest learns the host (the wire answers its ARP request).
    if let Err(e) = run.wire.ping(1, 1, b"hello", TRIES, REPLY) {
        return Err(run.s.abort(e));
    }
    run.wire.take_unmatched();
    // Each step is independent of the others' outcome: all of them report.
    let steps: [(&str, Step); 3] = [
        ("first ping from a new neighbour", Run::first_ping),
        ("a silent source and udpecho", Run::silent_source),
        ("an ARP storm", Run::storm),
    ];
    for (name, step) in steps {
        if let Err(e) = step(&mut run) {
            run.s.note(format!("{name}: {e:#}"));
        }
    }
    run.s.finish()
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_hostile_arp_e1000() -> Result<()> {
    on_the_wire(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_hostile_arp_virtio() -> Result<()> {
    on_the_wire(Nic::Virtio)
}
