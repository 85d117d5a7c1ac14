//! TCP against a hostile link, on each network card: the harness is the whole network
//! (`harness::wire`) and plays both a real client at 10.0.2.2 and attackers that spoof
//! neighbours which never answer ARP. One boot per NIC runs, in order:
//!
//! 1. An `echod` connection is opened and left idle; it is checked last, more than a minute
//!    later: an idle connection must not be dropped.
//! 2. Blind resets: on another `echod` connection, a RST in the window but not at RCV.NXT and a
//!    SYN must each be answered with a challenge ACK (RFC 5961) and leave the connection
//!    working; a RST at RCV.NXT must reset it.
//! 3. Eight spoofed SYNs to `httpd` (backlog 8) and two to `echod` (backlog 2): a real client
//!    right after must be served at once.
//! 4. A SYN flood, 3,000 SYNs from 100 spoofed neighbours to `httpd`'s port, while the real
//!    client fetches `/` over and over; it must be served during the flood and right after.
//!
//! The connect latencies are printed. Both machines run at once, so that the idle minute passes
//! once. A failed run keeps its console log and its pcap.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use harness::Session;
use harness::qemu::Nic;
use harness::wire::{
    self, ETHERTYPE_IPV4, Ethernet, GUEST_IP, GUEST_MAC, HOST_IP, HOST_MAC, Ipv4, Ipv4Header, Mac,
    Wire,
};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);
/// How long QEMU may take to connect to the wire once started.
const CONNECT: Duration = Duration::from_secs(30);
/// One wait for a reply; TCG on two busy cores can be slow.
const REPLY: Duration = Duration::from_secs(3);
/// How long the idle connection stays idle, at least: beyond the 60 s after which the guest
/// used to drop it.
const IDLE: Duration = Duration::from_secs(66);
/// SYNs in the flood, and the spoofed neighbours they come from.
const FLOOD_SYNS: usize = 3000;
const FLOOD_SOURCES: usize = 100;
/// The flood lasts at most this long.
const FLOOD_TIME: Duration = Duration::from_secs(15);
/// A real client must be connected within this long after spoofed SYNs (it used to take 20 s).
const SERVED: Duration = Duration::from_secs(3);

const PROTO_TCP: u8 = 6;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

const HTTP_PORT: u16 = 80;
const ECHO_PORT: u16 = 7;

/// A TCP segment as it crosses the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// An Ethernet frame from `src_mac` to the guest carrying `seg`, with correct checksums.
fn tcp_frame(src_mac: Mac, seg: &Seg) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + seg.payload.len());
    t.extend_from_slice(&seg.sport.to_be_bytes());
    t.extend_from_slice(&seg.dport.to_be_bytes());
    t.extend_from_slice(&seg.seq.to_be_bytes());
    t.extend_from_slice(&seg.ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, seg.flags]);
    t.extend_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&seg.payload);
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&seg.src.octets());
    pseudo[4..8].copy_from_slice(&seg.dst.octets());
    pseudo[9] = PROTO_TCP;
    pseudo[10..].copy_from_slice(&(t.len() as u16).to_be_bytes());
    let sum = wire::checksum(&[&pseudo, &t]);
    t[16..18].copy_from_slice(&sum.to_be_bytes());
    let ip = Ipv4Header::new(seg.src, seg.dst, PROTO_TCP).emit(&t);
    wire::ethernet(GUEST_MAC, src_mac, ETHERTYPE_IPV4, &ip)
}

/// The TCP segment in a frame from the guest, if it is one (checksum checked).
fn parse_tcp(frame: &[u8]) -> Option<Seg> {
    let eth = Ethernet::parse(frame).ok()?;
    if eth.ethertype != ETHERTYPE_IPV4 || eth.src != GUEST_MAC {
        return None;
    }
    let ip = Ipv4::parse(eth.payload).ok()?;
    let t = ip.payload;
    if ip.header.protocol != PROTO_TCP || t.len() < 20 {
        return None;
    }
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&ip.header.src.octets());
    pseudo[4..8].copy_from_slice(&ip.header.dst.octets());
    pseudo[9] = PROTO_TCP;
    pseudo[10..].copy_from_slice(&(t.len() as u16).to_be_bytes());
    if wire::checksum(&[&pseudo, t]) != 0 {
        return None;
    }
    let be32 = |i: usize| u32::from_be_bytes(t[i..i + 4].try_into().unwrap());
    let off = usize::from(t[12] >> 4) * 4;
    Some(Seg {
        src: ip.header.src,
        dst: ip.header.dst,
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: be32(4),
        ack: be32(8),
        flags: t[13],
        payload: t.get(off..)?.to_vec(),
    })
}

/// One connection of the real client, 10.0.2.2.
#[derive(Clone, Copy, Debug)]
struct Conn {
    sport: u16,
    dport: u16,
    /// Our next sequence number: the guest's RCV.NXT.
    snd_nxt: u32,
    /// The guest's next sequence number.
    rcv_nxt: u32,
}

impl Conn {
    fn seg(&self, flags: u8, seq: u32, payload: &[u8]) -> Seg {
        Seg {
            src: HOST_IP,
            dst: GUEST_IP,
            sport: self.sport,
            dport: self.dport,
            seq,
            ack: self.rcv_nxt,
            flags,
            payload: payload.to_vec(),
        }
    }

    /// Whether `s` belongs to this connection.
    fn owns(&self, s: &Seg) -> bool {
        s.dst == HOST_IP && s.sport == self.dport && s.dport == self.sport
    }
}

/// A booted guest on the wire running `httpd` and `echod`.
struct Run {
    s: Session,
    wire: Wire,
    nic: Nic,
    /// The last source port of the real client.
    port: Cell<u16>,
}

impl Run {
    fn boot(nic: Nic) -> Result<Run> {
        let mut wire = Wire::listen().context("listening for QEMU's netdev")?;
        let mut s = Session::builder(&format!("net_hostile_tcp_{}", nic.name()))
            .nic(nic, wire.netdev_arg("net0"))
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
            port: Cell::new(20000),
        })
    }

    fn send(&self, seg: &Seg) -> Result<()> {
        self.wire.send(&tcp_frame(HOST_MAC, seg))?;
        Ok(())
    }

    /// The next segment of `c` from the guest within `timeout`; other frames are dropped.
    fn next_seg(&self, c: &Conn, timeout: Duration) -> Option<Seg> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.wire.recv(left)?;
            if let Some(s) = parse_tcp(&frame).filter(|s| c.owns(s)) {
                return Some(s);
            }
        }
    }

    /// Connects to the guest's `dport`, retransmitting the SYN every second (as Linux's first
    /// retries do) until `within`; returns the connection and how long it took.
    fn connect(&self, dport: u16, within: Duration) -> Result<(Conn, Duration)> {
        let sport = self.port.get().wrapping_add(1).max(20000);
        self.port.set(sport);
        let iss = 0x1000_0193u32.wrapping_mul(u32::from(sport));
        let mut c = Conn {
            sport,
            dport,
            snd_nxt: iss,
            rcv_nxt: 0,
        };
        let start = Instant::now();
        while start.elapsed() < within {
            self.send(&c.seg(SYN, iss, &[]))?;
            let retry = Instant::now() + Duration::from_secs(1);
            while let Some(s) = self.next_seg(&c, retry.saturating_duration_since(Instant::now())) {
                if s.flags & (SYN | ACK) == SYN | ACK && s.ack == iss.wrapping_add(1) {
                    let took = start.elapsed();
                    c.snd_nxt = iss.wrapping_add(1);
                    c.rcv_nxt = s.seq.wrapping_add(1);
                    self.send(&c.seg(ACK, c.snd_nxt, &[]))?;
                    return Ok((c, took));
                }
                if s.flags & RST != 0 {
                    bail!("port {dport} refused the connection");
                }
            }
        }
        bail!("no SYN-ACK from port {dport} within {within:?}")
    }

    /// Sends `data` on `c`.
    fn write(&self, c: &mut Conn, data: &[u8]) -> Result<()> {
        self.send(&c.seg(ACK | PSH, c.snd_nxt, data))?;
        c.snd_nxt = c.snd_nxt.wrapping_add(data.len() as u32);
        Ok(())
    }

    /// Reads from `c`, acknowledging in-order data, until what came contains `want` (or a
    /// FIN or RST came, or `timeout` passed); returns what came.
    fn read(&self, c: &mut Conn, want: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while !got.windows(want.len()).any(|w| w == want) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(s) = self.next_seg(c, left) else {
                bail!(
                    "waited {timeout:?} for {:?} from port {}; got {:?}",
                    String::from_utf8_lossy(want),
                    c.dport,
                    String::from_utf8_lossy(&got)
                );
            };
            if s.flags & RST != 0 {
                bail!("port {} reset the connection", c.dport);
            }
            if s.seq == c.rcv_nxt && !s.payload.is_empty() {
                got.extend_from_slice(&s.payload);
                c.rcv_nxt = c.rcv_nxt.wrapping_add(s.payload.len() as u32);
            }
            if s.flags & FIN != 0 && s.seq.wrapping_add(s.payload.len() as u32) == c.rcv_nxt {
                c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
                self.send(&c.seg(ACK, c.snd_nxt, &[]))?;
                break;
            }
            if !s.payload.is_empty() {
                self.send(&c.seg(ACK, c.snd_nxt, &[]))?;
            }
        }
        Ok(got)
    }

    /// Ends `c` with a RST at the guest's RCV.NXT.
    fn reset(&self, c: &Conn) -> Result<()> {
        self.send(&c.seg(RST | ACK, c.snd_nxt, &[]))
    }

    /// Sends `text` on an `echod` connection and checks it comes back.
    fn echo(&self, c: &mut Conn, text: &str) -> Result<()> {
        self.write(c, text.as_bytes())?;
        self.read(c, text.as_bytes(), REPLY)
            .with_context(|| format!("echo of {text:?}"))?;
        Ok(())
    }

    /// Fetches `/` from `httpd`: the time to connect, after `within` at most.
    fn fetch(&self, within: Duration) -> Result<Duration> {
        let (mut c, took) = self.connect(HTTP_PORT, within)?;
        self.write(&mut c, b"GET / HTTP/1.0\r\n\r\n")?;
        self.read(&mut c, b"HTTP/1.", REPLY)
            .context("httpd's answer")?;
        self.reset(&c)?;
        Ok(took)
    }

    /// A SYN to `dport` from the spoofed neighbour 10.0.2.`host`, which never answers ARP.
    fn spoofed_syn(host: u8, sport: u16, dport: u16) -> Vec<u8> {
        let src = Ipv4Addr::new(10, 0, 2, host);
        let seg = Seg {
            src,
            dst: GUEST_IP,
            sport,
            dport,
            seq: u32::from(sport).wrapping_mul(7919),
            ack: 0,
            flags: SYN,
            payload: Vec::new(),
        };
        tcp_frame([0x02, 0, 0, 0, 2, host], &seg)
    }

    /// Blind in-window RST and SYN on a live connection: challenge ACKs, no reset; then an
    /// exact RST resets it.
    fn blind_reset(&mut self) -> Result<()> {
        let (mut c, _) = self.connect(ECHO_PORT, SERVED)?;
        self.echo(&mut c, "before")?;
        let challenge = |run: &Run, c: &Conn, what: &str| -> Result<()> {
            let s = run
                .next_seg(c, REPLY)
                .with_context(|| format!("no challenge ACK to {what}"))?;
            ensure!(
                s.flags & (ACK | RST | SYN | FIN) == ACK
                    && s.ack == c.snd_nxt
                    && s.seq == c.rcv_nxt
                    && s.payload.is_empty(),
                "{what}: the guest answered {s:?}, not a challenge ACK <SEQ={}><ACK={}>",
                c.rcv_nxt,
                c.snd_nxt
            );
            Ok(())
        };
        self.send(&c.seg(RST, c.snd_nxt.wrapping_add(1000), &[]))?;
        challenge(self, &c, "a RST 1000 bytes into the window")?;
        self.echo(&mut c, "after a blind RST")?;
        // Challenge ACKs are limited to one a second.
        std::thread::sleep(Duration::from_millis(1100));
        self.send(&c.seg(SYN, c.snd_nxt.wrapping_add(5), &[]))?;
        challenge(self, &c, "a SYN on the connection")?;
        self.echo(&mut c, "after a SYN")?;
        self.send(&c.seg(RST, c.snd_nxt, &[]))?;
        // The connection is gone: data now gets a RST.
        self.send(&c.seg(ACK | PSH, c.snd_nxt, b"gone?"))?;
        let s = self
            .next_seg(&c, REPLY)
            .context("no answer to data after an exact RST")?;
        ensure!(
            s.flags & RST != 0,
            "after a RST at RCV.NXT the connection still answers: {s:?}"
        );
        eprintln!(
            "{}: blind RST and SYN got challenge ACKs; an exact RST reset",
            self.nic.name()
        );
        Ok(())
    }

    /// Eight spoofed SYNs to `httpd`, two to `echod`: real clients are served at once.
    fn few_spoofed_syns(&mut self) -> Result<()> {
        for i in 0..8 {
            self.wire
                .send(&Self::spoofed_syn(77, 3000 + i, HTTP_PORT))?;
        }
        let took = self.fetch(SERVED + Duration::from_secs(20))?;
        eprintln!(
            "{}: httpd after 8 spoofed SYNs: connected in {took:.2?}",
            self.nic.name()
        );
        ensure!(
            took <= SERVED,
            "httpd took {took:.2?} to accept after 8 spoofed SYNs"
        );
        for i in 0..2 {
            self.wire
                .send(&Self::spoofed_syn(78, 4000 + i, ECHO_PORT))?;
        }
        let (mut c, took) = self.connect(ECHO_PORT, SERVED + Duration::from_secs(20))?;
        eprintln!(
            "{}: echod after 2 spoofed SYNs: connected in {took:.2?}",
            self.nic.name()
        );
        ensure!(
            took <= SERVED,
            "echod took {took:.2?} to accept after 2 spoofed SYNs"
        );
        self.echo(&mut c, "served")?;
        self.reset(&c)
    }

    /// 3,000 SYNs from 100 spoofed neighbours, sent by another thread, while this one fetches
    /// `/` again and again.
    fn flood(&mut self) -> Result<()> {
        let mut during = Vec::new();
        let (sent, flood_time) = std::thread::scope(|scope| -> Result<(usize, Duration)> {
            let wire = &self.wire;
            let flooder = scope.spawn(move || {
                let start = Instant::now();
                let mut sent = 0;
                while sent < FLOOD_SYNS && start.elapsed() < FLOOD_TIME {
                    let host = 100 + (sent % FLOOD_SOURCES) as u8;
                    let sport = 10000 + (sent / FLOOD_SOURCES) as u16;
                    if wire
                        .send(&Self::spoofed_syn(host, sport, HTTP_PORT))
                        .is_err()
                    {
                        break;
                    }
                    sent += 1;
                    // About 1,000 a second, so that the flood lasts a few seconds.
                    if sent % 10 == 0 {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                (sent, start.elapsed())
            });
            while !flooder.is_finished() {
                match self.fetch(Duration::from_secs(10)) {
                    Ok(took) => during.push(took),
                    Err(e) => {
                        let _ = flooder.join();
                        return Err(e.context("fetching / during the flood"));
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(flooder.join().expect("the flooder does not panic"))
        })?;
        let after = self.fetch(Duration::from_secs(20))?;
        let worst = during.iter().max().copied().unwrap_or_default();
        let mean = during.iter().sum::<Duration>() / during.len().max(1) as u32;
        eprintln!(
            "{}: flood of {sent} SYNs in {flood_time:.1?}: {} fetches during it, connect \
             {mean:.2?} on average, {worst:.2?} at worst; {after:.2?} right after",
            self.nic.name(),
            during.len()
        );
        ensure!(!during.is_empty(), "no fetch completed during the flood");
        ensure!(
            worst <= SERVED,
            "a connect took {worst:.2?} during the flood"
        );
        ensure!(
            after <= SERVED,
            "a connect took {after:.2?} right after the flood"
        );
        Ok(())
    }
}

fn suite(run: &mut Run) -> Result<()> {
    run.s.send_line("echod &")?;
    run.s.expect("echod: listening on port 7", CMD)?;
    run.s.send_line("httpd &")?;
    run.s.expect("httpd: serving / on port 80", CMD)?;
    // A real client on the LAN asks who has the guest before it connects.
    run.wire.who_has(GUEST_IP, 5, REPLY)?;

    let (mut idle, _) = run.connect(ECHO_PORT, Duration::from_secs(10))?;
    run.echo(&mut idle, "hello")?;
    let idle_since = Instant::now();

    if let Err(e) = run.blind_reset() {
        run.s.note(format!("blind reset: {e:#}"));
    }
    if let Err(e) = run.few_spoofed_syns() {
        run.s.note(format!("spoofed SYNs: {e:#}"));
    }
    if let Err(e) = run.flood() {
        run.s.note(format!("SYN flood: {e:#}"));
    }

    std::thread::sleep(IDLE.saturating_sub(idle_since.elapsed()));
    let idle_for = idle_since.elapsed();
    match run.echo(&mut idle, "still there?") {
        Ok(()) => eprintln!(
            "{}: the connection idle for {idle_for:.0?} still echoes",
            run.nic.name()
        ),
        Err(e) => run
            .s
            .note(format!("the connection idle for {idle_for:.0?}: {e:#}")),
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

/// Both cards at once, each in its own machine: the minute the idle connection must wait
/// passes once.
#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_hostile_tcp_both_nics() -> Result<()> {
    let virtio = std::thread::spawn(|| on_the_wire(Nic::Virtio));
    let e1000 = on_the_wire(Nic::E1000);
    let virtio = virtio
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the virtio-net run panicked")));
    match (e1000, virtio) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(e.context("E1000")),
        (Ok(()), Err(e)) => Err(e.context("virtio-net")),
        (Err(a), Err(b)) => bail!("E1000: {a:#}\n\nvirtio-net: {b:#}"),
    }
}
