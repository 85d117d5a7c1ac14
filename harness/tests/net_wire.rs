//! The guest on the L2 wire (DESIGN §6, topology 2), against each network card.
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
//!    replies or a drop, by a reason the group allows ([`Bad`]). `free` before and after the
//!    whole suite must print the same number of pages.
//!
//! A failed run keeps its console log and its pcap (`-object filter-dump`) in the log directory.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use harness::Qemu;
use harness::qemu::Artifacts;
use harness::qemu::Nic;
use harness::wire::{
    self, BROADCAST, ETH_HEADER_LEN, ETHERTYPE_IPV4, GUEST_IP, GUEST_MAC, HOST_IP, HOST_MAC,
    IPV4_HEADER_LEN, Ipv4Header, MIN_FRAME, Mac, PROTO_ICMP, PROTO_UDP, UDP_HEADER_LEN, Wire,
    WireStats,
};

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
/// The UDP port `udpecho` serves.
const ECHO_PORT: u16 = 2000;
/// The flood: this many frames or this long, whichever ends first.
const FLOOD_FRAMES: usize = 20_000;
const FLOOD_TIME: Duration = Duration::from_secs(10);

/// The stack's drop reasons, in `ifconfig`'s order and words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Malformed,
    Unsupported,
    NotForUs,
    NoSocket,
    QueueFull,
    TxRingFull,
    /// The NIC's own drops (its receive ring was full), not the stack's.
    RxRingFull,
}

use Reason::*;

impl Reason {
    const ALL: [Reason; 7] = [
        Malformed,
        Unsupported,
        NotForUs,
        NoSocket,
        QueueFull,
        TxRingFull,
        RxRingFull,
    ];

    fn word(self) -> &'static str {
        match self {
            Malformed => "malformed",
            Unsupported => "unsupported",
            NotForUs => "not-for-us",
            NoSocket => "no-socket",
            QueueFull => "queue-full",
            TxRingFull => "tx-ring-full",
            RxRingFull => "rx-ring-full",
        }
    }
}

/// `ifconfig`'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    rx_frames: u64,
    rx_bytes: u64,
    tx_frames: u64,
    tx_bytes: u64,
    /// Indexed like [`Reason::ALL`].
    drops: [u64; 7],
}

impl Counters {
    /// Reads `ifconfig`'s output: `  rx N frames N bytes`, `  tx ...` and the `  drops:` lines
    /// of `reason count` pairs.
    fn parse(out: &str) -> Result<Counters> {
        let mut c = Counters::default();
        let mut seen = [false; 7];
        let num = |s: Option<&str>| -> Result<u64> {
            s.and_then(|s| s.parse().ok())
                .with_context(|| format!("a number expected in ifconfig's output:\n{out}"))
        };
        for line in out.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first() {
                Some(&"rx") => {
                    c.rx_frames = num(words.get(1).copied())?;
                    c.rx_bytes = num(words.get(3).copied())?;
                }
                Some(&"tx") => {
                    c.tx_frames = num(words.get(1).copied())?;
                    c.tx_bytes = num(words.get(3).copied())?;
                }
                Some(&"drops:") => {
                    for pair in words[1..].chunks(2) {
                        let i = Reason::ALL
                            .iter()
                            .position(|r| r.word() == pair[0])
                            .with_context(|| format!("unknown drop reason {:?}", pair[0]))?;
                        c.drops[i] = num(pair.get(1).copied())?;
                        seen[i] = true;
                    }
                }
                _ => {}
            }
        }
        ensure!(
            seen.iter().all(|&s| s),
            "ifconfig did not print every drop counter:\n{out}"
        );
        Ok(c)
    }

    fn drop(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    /// The stack's drops (everything but the NIC's `rx-ring-full`).
    fn stack_drops(&self) -> u64 {
        Reason::ALL
            .iter()
            .filter(|&&r| r != RxRingFull)
            .map(|&r| self.drop(r))
            .sum()
    }

    fn delta(&self, before: &Counters) -> Counters {
        Counters {
            rx_frames: self.rx_frames - before.rx_frames,
            rx_bytes: self.rx_bytes - before.rx_bytes,
            tx_frames: self.tx_frames - before.tx_frames,
            tx_bytes: self.tx_bytes - before.tx_bytes,
            drops: std::array::from_fn(|i| self.drops[i] - before.drops[i]),
        }
    }

    fn drops_text(&self) -> String {
        let mut s = String::new();
        for r in Reason::ALL {
            if self.drop(r) != 0 {
                let _ = write!(s, " {} {}", r.word(), self.drop(r));
            }
        }
        if s.is_empty() {
            s.push_str(" none");
        }
        s
    }
}

/// One bad frame and what the guest may do with it.
struct Bad {
    what: String,
    frame: Vec<u8>,
    /// The drop reasons that are right for it; more than one when a NIC may pad it to 60 bytes
    /// (QEMU's e1000 does, virtio-net does not), which changes what the stack sees.
    reasons: &'static [Reason],
    /// The NIC may drop it before the stack sees it (its address filter, its size limit).
    may_vanish: bool,
}

fn bad(what: impl Into<String>, frame: Vec<u8>, reasons: &'static [Reason]) -> Bad {
    Bad {
        what: what.into(),
        frame,
        reasons,
        may_vanish: false,
    }
}

impl Bad {
    fn may_vanish(mut self) -> Bad {
        self.may_vanish = true;
        self
    }
}

/// A UDP datagram from the host to the guest's echo port, `len` payload bytes long.
fn udp_to_echo(len: usize) -> Vec<u8> {
    wire::udp_frame(40000, ECHO_PORT, &pattern(len, 3))
}

/// `len` bytes that differ from one `seed` to another, so a reply cannot pass with stale data.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed) as u8).collect()
}

/// `frame` with its IP header changed by `patch`, and the header checksum fixed so that the
/// change is the frame's only defect.
fn ip_patched(frame: &[u8], patch: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut f = frame.to_vec();
    patch(&mut f[ETH_HEADER_LEN..]);
    wire::fix_ipv4_checksum(&mut f);
    f
}

/// `frame` sent to the Ethernet address `dst` instead.
fn with_dst(mut frame: Vec<u8>, dst: Mac) -> Vec<u8> {
    frame[..6].copy_from_slice(&dst);
    frame
}

/// A valid IPv4 packet to the guest of protocol `proto` with 40 zero bytes as payload, so that
/// the frame is over 60 bytes and no NIC pads it.
fn ip_proto(proto: u8) -> Vec<u8> {
    wire::ipv4_frame(&Ipv4Header::new(HOST_IP, GUEST_IP, proto), &[0; 40])
}

/// Truncated frames: under an Ethernet header, and with a header but cut before the IPv4, UDP or
/// ARP headers end.
fn truncated() -> Vec<Bad> {
    let base = udp_to_echo(100);
    let mut out = Vec::new();
    // No empty frame: QEMU 7.2's virtio-net cannot take one (it reports "try again later"
    // for ever and the link stops), so it would test QEMU, not the guest.
    for len in [1, 6, 12] {
        // Padded with zeros, the EtherType reads 0 (unsupported), or the destination is not
        // the guest's and an e1000 filters it.
        out.push(
            bad(
                format!("{len}-byte frame"),
                base[..len].to_vec(),
                &[Malformed, Unsupported],
            )
            .may_vanish(),
        );
    }
    // 13 bytes end inside the EtherType 0x08..; padded, it is IPv4 version 0.
    out.push(bad("13-byte frame", base[..13].to_vec(), &[Malformed]));
    for len in [14, 20, 33, 34, 41] {
        // Padded or not, the IP total length (128) is beyond the frame.
        out.push(bad(
            format!("IPv4/UDP frame cut to {len} bytes"),
            base[..len].to_vec(),
            &[Malformed],
        ));
    }
    // An ARP request for the guest cut inside the target address: padded, the target is 0.0.0.0.
    let arp = wire::arp_request_frame(GUEST_IP);
    out.push(bad(
        "ARP request cut to 40 bytes",
        arp[..40].to_vec(),
        &[Malformed, NotForUs],
    ));
    out
}

/// Frames longer than the 1514 bytes of a 1500-byte MTU: the NIC may refuse them itself.
fn oversized() -> Vec<Bad> {
    let overhead = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;
    [1515, 1518, 1522, 1600, 9000]
        .into_iter()
        .map(|len| {
            bad(
                format!("{len}-byte UDP frame"),
                udp_to_echo(len - overhead),
                &[Malformed],
            )
            .may_vanish()
        })
        .collect()
}

/// IPv4 headers that lie.
fn bad_ipv4() -> Vec<Bad> {
    let base = udp_to_echo(20); // 62 bytes, IP total length 48
    let mut bad_sum = base.clone();
    bad_sum[ETH_HEADER_LEN + 8] ^= 1; // TTL, checksum not fixed
    let mut bad_icmp = wire::ping_frame(9, 9, &[0x55; 32]);
    let last = bad_icmp.len() - 1;
    bad_icmp[last] ^= 0x80;
    vec![
        bad("IHL 4", ip_patched(&base, |ip| ip[0] = 0x44), &[Malformed]),
        bad("IHL 0", ip_patched(&base, |ip| ip[0] = 0x40), &[Malformed]),
        bad(
            "IHL 15 (60 bytes) in a 48-byte packet",
            ip_patched(&base, |ip| ip[0] = 0x4f),
            &[Malformed],
        ),
        bad("bad IPv4 header checksum", bad_sum, &[Malformed]),
        bad(
            "IP version 6 under EtherType IPv4",
            ip_patched(&base, |ip| ip[0] = 0x65),
            &[Malformed],
        ),
        bad(
            "total length 148 in a 48-byte packet",
            ip_patched(&base, |ip| ip[2..4].copy_from_slice(&148u16.to_be_bytes())),
            &[Malformed],
        ),
        bad(
            "total length 19",
            ip_patched(&base, |ip| ip[2..4].copy_from_slice(&19u16.to_be_bytes())),
            &[Malformed],
        ),
        bad(
            "source 255.255.255.255",
            ip_patched(&base, |ip| ip[12..16].fill(0xff)),
            &[Malformed],
        ),
        bad(
            "source 224.0.0.1",
            ip_patched(&base, |ip| ip[12..16].copy_from_slice(&[224, 0, 0, 1])),
            &[Malformed],
        ),
        bad(
            "echo request with a bad ICMP checksum",
            bad_icmp,
            &[Malformed],
        ),
    ]
}

/// IPv4 fragments: without reassembly none can be delivered.
fn fragments() -> Vec<Bad> {
    let frag = |what: &str, flags_fragment: u16| {
        let header = Ipv4Header {
            ident: 0x4242,
            flags_fragment,
            ..Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_UDP)
        };
        let datagram = wire::udp(HOST_IP, 40000, GUEST_IP, ECHO_PORT, &pattern(64, 5));
        bad(what, wire::ipv4_frame(&header, &datagram), &[Malformed])
    };
    vec![
        frag("first fragment (MF, offset 0)", 0x2000),
        frag("middle fragment (MF, offset 8)", 0x2001),
        frag("last fragment (offset 185)", 185),
        frag("DF with offset 8", 0x4001),
    ]
}

/// Well-formed frames of kinds the stack does not speak.
fn unsupported() -> Vec<Bad> {
    let other_type = |ethertype: u16| {
        let frame = wire::ethernet(GUEST_MAC, HOST_MAC, ethertype, &[0x5a; 46]);
        bad(format!("EtherType {ethertype:#06x}"), frame, &[Unsupported])
    };
    let mut arp_op3 = wire::arp_request_frame(GUEST_IP);
    arp_op3[ETH_HEADER_LEN + 7] = 3;
    arp_op3.resize(MIN_FRAME, 0);
    let mut arp_hw6 = wire::arp_request_frame(GUEST_IP);
    arp_hw6[ETH_HEADER_LEN + 1] = 6;
    arp_hw6.resize(MIN_FRAME, 0);
    let timestamp = {
        let mut m = vec![13, 0, 0, 0, 0, 1, 0, 1];
        m.extend_from_slice(&[0; 12]);
        let sum = wire::checksum(&[&m]);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        wire::ipv4_frame(&Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_ICMP), &m)
    };
    vec![
        other_type(0x88b5),
        other_type(0x86dd),
        other_type(0x8100),
        other_type(0x0042),
        bad("IP protocol 253", ip_proto(253), &[Unsupported]),
        bad("IP protocol 2 (IGMP)", ip_proto(2), &[Unsupported]),
        bad("ARP operation 3", arp_op3, &[Unsupported]),
        bad("ARP hardware type 6", arp_hw6, &[Unsupported]),
        bad("ICMP timestamp request", timestamp, &[Unsupported]),
    ]
}

/// UDP length fields that lie, bad checksums, port 0.
fn bad_udp() -> Vec<Bad> {
    let base = udp_to_echo(40);
    let udp_at = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    let with = |what: &str, at: usize, bytes: &[u8]| {
        let mut f = base.clone();
        f[udp_at + at..udp_at + at + bytes.len()].copy_from_slice(bytes);
        bad(what, f, &[Malformed])
    };
    vec![
        // The checksum stays the one computed over the whole datagram.
        with("UDP length 98 for 48 bytes", 4, &98u16.to_be_bytes()),
        with("UDP length 20 for 48 bytes", 4, &20u16.to_be_bytes()),
        with("UDP length 7", 4, &7u16.to_be_bytes()),
        with("UDP length 0", 4, &0u16.to_be_bytes()),
        with("bad UDP checksum", 6, &[0x12, 0x34]),
        bad(
            "UDP to port 0",
            wire::udp_frame(40000, 0, &pattern(40, 1)),
            &[Malformed],
        ),
    ]
}

/// Datagrams to ports nobody bound: dropped without an ICMP error.
fn unbound() -> Vec<Bad> {
    let mut out: Vec<Bad> = [9, 2001, 65535]
        .into_iter()
        .map(|port| {
            bad(
                format!("UDP to unbound port {port}"),
                wire::udp_frame(40000, port, &pattern(32, port.into())),
                &[NoSocket],
            )
        })
        .collect();
    let bcast = Ipv4Addr::new(10, 0, 2, 255);
    let datagram = wire::udp(HOST_IP, 40000, bcast, 9, &pattern(32, 2));
    let frame = wire::ethernet(
        BROADCAST,
        HOST_MAC,
        ETHERTYPE_IPV4,
        &Ipv4Header::new(HOST_IP, bcast, PROTO_UDP).emit(&datagram),
    );
    out.push(bad("UDP broadcast to 10.0.2.255:9", frame, &[NoSocket]));
    out
}

/// Frames for other hosts.
fn not_for_us() -> Vec<Bad> {
    const OTHER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
    let other_ip = Ipv4Addr::new(10, 0, 2, 99);
    let to_other_ip = wire::ipv4_frame(
        &Ipv4Header::new(HOST_IP, other_ip, PROTO_UDP),
        &wire::udp(HOST_IP, 40000, other_ip, ECHO_PORT, &pattern(32, 7)),
    );
    let group = Ipv4Addr::new(224, 0, 0, 1);
    let multicast = wire::ethernet(
        [0x01, 0x00, 0x5e, 0, 0, 1],
        HOST_MAC,
        ETHERTYPE_IPV4,
        &Ipv4Header::new(HOST_IP, group, PROTO_UDP).emit(&wire::udp(
            HOST_IP,
            40000,
            group,
            ECHO_PORT,
            &pattern(32, 8),
        )),
    );
    let mut who_has_other = wire::arp_request_frame(other_ip);
    who_has_other.resize(MIN_FRAME, 0);
    vec![
        // An e1000 filters other unicast and multicast addresses; virtio-net starts promiscuous.
        bad(
            "UDP to the echo port for MAC 02:00:00:00:00:01",
            with_dst(udp_to_echo(32), OTHER_MAC),
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "echo request for MAC 02:00:00:00:00:01",
            with_dst(wire::ping_frame(5, 5, &[1; 32]), OTHER_MAC),
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "UDP to 224.0.0.1 (01:00:5e:00:00:01)",
            multicast,
            &[NotForUs],
        )
        .may_vanish(),
        bad(
            "UDP to 10.0.2.99 at the guest's MAC",
            to_other_ip,
            &[NotForUs],
        ),
        bad("ARP: who has 10.0.2.99?", who_has_other, &[NotForUs]),
    ]
}

/// A booted guest on the wire, collecting failures so one run reports all of them.
struct Run {
    q: Qemu,
    wire: Wire,
    nic: Nic,
    failures: Vec<String>,
    /// The next sequence number of the liveness pings.
    seq: u16,
    /// The counters `ifconfig` printed last.
    last: Option<Counters>,
}

impl Run {
    fn boot(nic: Nic) -> Result<Run> {
        let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
        let mut q = Qemu::builder(&format!("net_wire_{}", nic.name()))
            .net([
                "-netdev",
                &wire.netdev_arg("net0"),
                "-device",
                nic.device(),
                "-object",
                // Relative to the machine's own directory; copied to the logs if the test fails.
                "filter-dump,id=f0,netdev=net0,file=net.pcap",
            ])
            .spawn()?;
        if let Err(e) = wire.accept(CONNECT) {
            return Err(q.fail(&format!("QEMU's netdev: {e}")));
        }
        q.expect("init: starting sh", harness::qemu::BOOT_TIMEOUT)?;
        q.expect("$ ", harness::qemu::BOOT_TIMEOUT)?;
        if q.output().contains("net: no network card found") {
            return Err(q.fail(&format!(
                "the kernel found no network card ({} driver not on this branch?)",
                nic.name()
            )));
        }
        let banner = format!("net: {} mac 52:54:00:12:34:56", nic.kernel_name());
        if !q.output().contains(&banner) {
            return Err(q.fail(&format!("no {banner:?} line at boot")));
        }
        Ok(Run {
            q,
            wire,
            nic,
            failures: Vec::new(),
            seq: 0,
            last: None,
        })
    }

    /// `ifconfig`'s counters. With `quiet`, nothing crossed the wire since the last reading, so
    /// nothing may have moved (reading counters must not change them).
    fn ifconfig(&mut self, quiet: bool) -> Result<Counters> {
        let out = self.q.run("ifconfig", CMD)?;
        let c = Counters::parse(&out)?;
        if let Some(last) = self.last.filter(|&last| quiet && last != c) {
            self.failures.push(format!(
                "the counters moved with no traffic: from {last:?}\n  to {c:?}"
            ));
        }
        self.last = Some(c);
        Ok(c)
    }

    fn free_pages(&mut self) -> Result<i64> {
        let out = self.q.run("free", CMD)?;
        out.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("unexpected `free` output {out:?}"))
    }

    /// Frames the guest sent that no exchange asked for, as a failure.
    fn nothing_unexpected(&mut self, after: &str) {
        let extra = self.wire.take_unmatched();
        if !extra.is_empty() {
            let lines: Vec<String> = extra.iter().map(|f| wire::describe(f)).collect();
            self.failures.push(format!(
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
            Ok(mac) => self.failures.push(format!(
                "ARP: 10.0.2.15 is at {}, not 52:54:00:12:34:56",
                wire::mac_text(mac)
            )),
            Err(e) => self.failures.push(format!("ARP: {e:#}")),
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
                Err(e) => self.failures.push(format!("ping: {e:#}")),
            }
        }
        self.nothing_unexpected("the pings");
        Ok(())
    }

    /// Datagrams of several sizes into `udpecho`, from several source ports. Returns whether
    /// `udpecho` runs.
    fn udp(&mut self) -> Result<bool> {
        let ls = self.q.run("ls udpecho", CMD)?;
        if ls.contains("cannot open") {
            eprintln!(
                "SKIPPED: UDP into a bound port: this image has no udpecho (it comes with the \
                 e1000 branch)"
            );
            return Ok(false);
        }
        self.q.send_line(&format!("udpecho {ECHO_PORT} &"))?;
        self.q.expect(
            format!("udpecho: echoing on port {ECHO_PORT}").as_str(),
            CMD,
        )?;
        for (i, len) in [0usize, 1, 18, 100, 1000, 1472].into_iter().enumerate() {
            let sport = 40000 + i as u16 * 1111;
            let payload = pattern(len, i);
            match self.wire.udp_echo(sport, ECHO_PORT, &payload, TRIES, REPLY) {
                Ok(1) => {}
                Ok(n) => eprintln!("UDP echo of {len} bytes came back after {n} datagrams"),
                Err(e) => self.failures.push(format!("udpecho: {e:#}")),
            }
        }
        self.nothing_unexpected("the UDP echoes");
        Ok(true)
    }

    /// The guest pings the wire's address: every request answered, counted once by the wire.
    fn ping_the_wire(&mut self) -> Result<()> {
        let before = self.wire.stats();
        let out = self
            .q
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
            self.failures.push(format!(
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
        let w = wire_stats_delta(&self.wire.stats(), &wire_before);
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
            self.failures.push(format!(
                "{name}: {e}\n  counters moved by {d:?}\n  wire {w:?}\n  frames:\n{}",
                list.join("\n")
            ));
        }
        Ok(())
    }

    /// Powers off and reports every failure noted, keeping the pcap if there was one.
    fn finish(mut self) -> Result<()> {
        if self.failures.is_empty() {
            self.q.send_line("halt")?;
            ensure!(
                self.q.wait_exit(Duration::from_secs(20)) == Some(0),
                "halt did not power off"
            );
            return Ok(());
        }
        let msg = self.failures.join("\n\n");
        let err = self.q.fail(&msg);
        keep_pcap(&self.q);
        Err(err)
    }
}

fn wire_stats_delta(after: &WireStats, before: &WireStats) -> WireStats {
    WireStats {
        sent: after.sent - before.sent,
        sent_bytes: after.sent_bytes - before.sent_bytes,
        received: after.received - before.received,
        arp_answered: after.arp_answered - before.arp_answered,
        echo_answered: after.echo_answered - before.echo_answered,
        overflowed: after.overflowed - before.overflowed,
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
///   the filters if it may vanish, giving exactly the counts that moved ([`matches_reasons`]);
/// - the guest sent exactly what reached the wire (replies and ARP requests, nothing else);
/// - when nothing vanished and every frame was at least 60 bytes (so no NIC pads it), the
///   stack counted exactly the bytes sent.
fn check_group(frames: &[Bad], d: &Counters, w: &WireStats) -> Result<()> {
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

/// Copies the machine's capture next to its console log.
fn keep_pcap(q: &Qemu) {
    let logs = Artifacts::from_env().log_dir;
    let name = q
        .dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = logs.join(format!("{name}.pcap"));
    if std::fs::create_dir_all(&logs).is_ok()
        && std::fs::copy(q.dir().join("net.pcap"), &to).is_ok()
    {
        eprintln!("pcap kept at {}", to.display());
    }
}

/// The flood: small datagrams to an unbound port, as fast as QEMU takes them. What the NIC
/// cannot hold it drops (QEMU's e1000 does, reading the socket at full speed), and those drops
/// must show as rx-ring-full.
fn flood() -> Vec<Bad> {
    let frame = wire::udp_frame(40000, 9, &[0x46; 18]);
    (0..FLOOD_FRAMES)
        .map(|_| bad("flood: UDP to unbound port 9", frame.clone(), &[NoSocket]))
        .collect()
}

/// Builds the frames of one group of bad input.
type Group = fn() -> Vec<Bad>;

fn suite(run: &mut Run) -> Result<()> {
    run.arp()?;
    run.pings()?;
    run.udp()?;
    run.ping_the_wire()?;

    let free_before = run.free_pages()?;
    let groups: [(&str, Group); 8] = [
        ("truncated Ethernet", truncated),
        ("oversized frames", oversized),
        ("bad IPv4 headers", bad_ipv4),
        ("IPv4 fragments", fragments),
        ("unsupported kinds", unsupported),
        ("UDP length and checksum", bad_udp),
        ("UDP to unbound ports", unbound),
        ("frames for other hosts", not_for_us),
    ];
    for (name, frames) in groups {
        run.group(name, frames(), None)?;
    }
    run.group("flood", flood(), Some(FLOOD_TIME))?;
    run.ifconfig(true)?;
    let free_after = run.free_pages()?;
    eprintln!("free pages before and after the bad input: {free_before} {free_after}");
    if free_before != free_after {
        run.failures.push(format!(
            "free pages went from {free_before} to {free_after} over the bad input"
        ));
    }
    Ok(())
}

fn on_the_wire(nic: Nic) -> Result<()> {
    let mut run = Run::boot(nic)?;
    if let Err(e) = suite(&mut run) {
        keep_pcap(&run.q);
        let failures = run.failures.join("\n\n");
        return Err(run
            .q
            .fail(&format!("{e:#}\n\nearlier failures:\n{failures}")));
    }
    run.finish()
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

mod host {
    //! The test's own logic on the host: `ifconfig` parsing and the group accounting.

    use super::*;

    const IFCONFIG: &str = "e1000:
  ether 52:54:00:12:34:56
  inet 10.0.2.15/24
  gateway 10.0.2.2
  rx 12 frames 1500 bytes
  tx 3 frames 200 bytes
  interrupts 15
  drops: malformed 1 unsupported 2 not-for-us 3 no-socket 4
  drops: queue-full 5 tx-ring-full 6 rx-ring-full 7
";

    #[test]
    fn ifconfig_output_parses() {
        let c = Counters::parse(IFCONFIG).unwrap();
        assert_eq!(
            c,
            Counters {
                rx_frames: 12,
                rx_bytes: 1500,
                tx_frames: 3,
                tx_bytes: 200,
                drops: [1, 2, 3, 4, 5, 6, 7],
            }
        );
        assert_eq!(c.stack_drops(), 21);
        assert!(Counters::parse(&IFCONFIG.replace("  drops: queue", "  x: queue")).is_err());
        assert!(Counters::parse(&IFCONFIG.replace("rx 12", "rx x")).is_err());
    }

    fn counters(rx: u64, tx: u64, drops: [u64; 7]) -> Counters {
        Counters {
            rx_frames: rx,
            tx_frames: tx,
            drops,
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
        ok(counters(5, 2, [1, 1, 1, 0, 0, 0, 0]));
        ok(counters(5, 2, [2, 0, 1, 0, 0, 0, 0]));
        // The NIC refused both that may vanish, or one of them.
        ok(counters(3, 2, [1, 0, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [2, 0, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [1, 1, 0, 0, 0, 0, 0]));
        ok(counters(4, 2, [1, 0, 1, 0, 0, 0, 0]));

        let err = |d: Counters| {
            check_group(&frames, &d, &stats(5, 2))
                .unwrap_err()
                .to_string()
        };
        // A frame the stack saw but did not count.
        assert!(err(counters(5, 2, [1, 1, 0, 0, 0, 0, 0])).contains("good ones"));
        // The right number of drops for the wrong reasons: each count is possible on its own,
        // not together ("c" reached the stack, so it is not-for-us; "a" is malformed).
        assert!(err(counters(5, 2, [2, 1, 0, 0, 0, 0, 0])).contains("do not match"));
        assert!(err(counters(5, 2, [1, 1, 0, 1, 0, 0, 0])).contains("do not match"));
        assert!(err(counters(4, 2, [0, 1, 1, 0, 0, 0, 0])).contains("do not match"));
        // Frames lost to a full ring, counted by the NIC: "c", or a good one.
        ok(counters(4, 2, [1, 1, 0, 0, 0, 0, 1]));
        ok(counters(4, 2, [1, 1, 1, 0, 0, 0, 1]));
        // More ring drops than missing frames; a good frame missing with no ring drop.
        assert!(err(counters(5, 2, [1, 1, 1, 0, 0, 0, 1])).contains("only 0 frames are missing"));
        assert!(err(counters(4, 2, [1, 1, 1, 0, 0, 0, 0])).contains("good ones"));
        // A frame that cannot vanish never arrived.
        assert!(err(counters(2, 2, [0, 0, 0, 0, 0, 0, 0])).contains("never reached"));
        // The guest sent something the wire did not see.
        assert!(err(counters(5, 3, [1, 1, 1, 0, 0, 0, 0])).contains("frames sent"));
    }
}
