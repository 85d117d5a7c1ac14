//! Two guests on one Ethernet link with nothing else on it, one with each network card.
//!
//! Guest A (E1000, 52:54:00:00:03:01) listens on a `-netdev stream` socket on 127.0.0.1 and
//! guest B (virtio-net, 52:54:00:00:03:02) connects to it ([`harness::qemu::Link`]): the link
//! carries only their frames. Each boots with `net.ip=10.0.3.N/24 net.gw=none` on its kernel
//! command line. Then, from their shells, each way (A to B, then B to A):
//!
//! 1. `ping -c 3`: 3 replies, 0% loss.
//! 2. UDP: `udpecho 2000` on one side, `echo TEXT | nc -u -w 3 PEER 2000` on the other, which must
//!    print TEXT back.
//! 3. TCP: `socktest sink PORT` on one side, `socktest tx PEER PORT BYTES` on the other; the
//!    sender's and the receiver's byte counts and checksums must both equal the harness's.
//!
//! A failure keeps both consoles and both pcaps in the log directory. Nothing leaves 127.0.0.1:
//! the guests' only link is the socket between the two QEMUs.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use harness::qemu::{BOOT_TIMEOUT, Link, Nic};
use harness::socktest::pattern_sum;
use harness::{Pattern, Session};

/// One guest command; TCG on two busy cores is slow.
const CMD: Duration = Duration::from_secs(120);
/// One TCP transfer.
const TRANSFER: Duration = Duration::from_secs(300);
/// Bytes per TCP transfer: 4 MiB and an odd tail, so the last segment is not a full one.
const BULK: usize = (4 << 20) + 7;
const PINGS: usize = 3;
/// The UDP port of `udpecho`, and the TCP ports of the two sinks.
const UDP_PORT: u16 = 2000;
const TCP_PORTS: [u16; 2] = [5001, 5002];

/// One end of the link.
struct Guest {
    nic: Nic,
    mac: &'static str,
    ip: &'static str,
}

const A: Guest = Guest {
    nic: Nic::E1000,
    mac: "52:54:00:00:03:01",
    ip: "10.0.3.1",
};

const B: Guest = Guest {
    nic: Nic::Virtio,
    mac: "52:54:00:00:03:02",
    ip: "10.0.3.2",
};

/// Starts `g`'s machine on `link`, listening or connecting, with its address on the kernel
/// command line and a capture of its NIC.
fn start(g: &Guest, link: Link, listen: bool) -> Result<Session> {
    let netdev = if listen {
        link.listen_netdev("net0")
    } else {
        link.connect_netdev("net0")
    };
    Session::builder(&format!("net_l2_{}", g.nic.name()))
        .nic_with_mac(g.nic, g.mac, netdev)
        .append(format!("net.ip={}/24 net.gw=none", g.ip))
        .spawn()
}

/// Waits for `s`'s shell and checks that the kernel took the card and the address it was given.
fn booted(s: &mut Session, g: &Guest) -> Result<()> {
    s.wait_boot()?;
    s.want_boot_line(&format!("net: addr {}/24 gw none", g.ip))
}

/// `from` pings `to`: every request answered.
fn ping(from: &mut Session, to: &Guest) -> Result<()> {
    let out = from.run_want(
        &format!("ping -c {PINGS} {}", to.ip),
        CMD,
        &[&format!(
            "{PINGS} packets transmitted, {PINGS} received, 0% packet loss"
        )],
    )?;
    let replies = out
        .lines()
        .filter(|l| l.contains(&format!("bytes from {}: icmp_seq=", to.ip)))
        .count();
    ensure!(replies == PINGS, "{replies} ping replies printed:\n{out}");
    Ok(())
}

/// `client` sends a line to `udpecho` on `server` with `nc -u`, which must print it back.
fn udp(server: &mut Session, client: &mut Session, to: &Guest, text: &str) -> Result<()> {
    server.send_line(&format!("udpecho {UDP_PORT} &"))?;
    server.expect(format!("udpecho: echoing on port {UDP_PORT}").as_str(), CMD)?;
    let out = client.run(
        &format!("echo {text} | nc -u -w 3 {} {UDP_PORT}", to.ip),
        CMD,
    )?;
    if out.lines().map(str::trim).collect::<Vec<_>>() != [text] {
        return Err(client.fail(&format!("nc -u printed {out:?}, not the echo of {text:?}")));
    }
    Ok(())
}

/// `client` sends [`BULK`] bytes over TCP to `socktest sink` on `server`; both sides must count
/// every byte and agree with the harness on the checksum.
fn tcp(server: &mut Session, client: &mut Session, to: &Guest, port: u16) -> Result<()> {
    let sum = pattern_sum(BULK);
    server.send_line(&format!("socktest sink {port} &"))?;
    server.expect(format!("socktest sink: listening on {port}").as_str(), CMD)?;
    client.run_want(
        &format!("socktest tx {} {port} {BULK}", to.ip),
        TRANSFER,
        &[&format!("socktest tx: sent {BULK} sum {sum:08x}")],
    )?;
    let got = server.expect(Pattern::re("socktest sink: [^\n]*\n"), CMD)?;
    let want = format!("socktest sink: received {BULK} sum {sum:08x}\n");
    if !got.ends_with(&want) {
        return Err(server.fail(&format!("the sink printed {got:?}, wanted {want:?}")));
    }
    Ok(())
}

/// Ping, UDP and TCP from `x` to `y` (addressed as `to`), timing each.
fn one_way(x: &mut Session, y: &mut Session, to: &Guest, name: &str, port: u16) -> Result<()> {
    let t = Instant::now();
    ping(x, to).with_context(|| format!("ping {name}"))?;
    eprintln!("net_l2: ping {name}: {:.1?}", t.elapsed());
    let t = Instant::now();
    udp(y, x, to, &format!("l2-udp-{}", name.replace(' ', "-")))
        .with_context(|| format!("UDP {name}"))?;
    eprintln!("net_l2: UDP {name}: {:.1?}", t.elapsed());
    let t = Instant::now();
    tcp(y, x, to, port).with_context(|| format!("TCP {name}"))?;
    eprintln!("net_l2: TCP {BULK} bytes {name}: {:.1?}", t.elapsed());
    Ok(())
}

/// Every step each way, then both machines power off.
fn steps(a: &mut Session, b: &mut Session) -> Result<()> {
    one_way(a, b, &B, "A to B", TCP_PORTS[0])?;
    one_way(b, a, &A, "B to A", TCP_PORTS[1])?;
    for (q, g) in [(&mut *a, &A), (&mut *b, &B)] {
        // For the record: drops and retransmissions show here first when a step gets slow.
        let out = q.run("ifconfig", CMD)?;
        eprintln!("net_l2: {} ifconfig:\n{out}", g.nic.name());
    }
    a.halt()?;
    b.halt()
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_l2_pair() -> Result<()> {
    let start_time = Instant::now();
    let link = Link::new().context("choosing the link's port")?;
    let mut a = start(&A, link, true)?;
    // QEMU opens the listening socket before the guest runs: once A prints, B may connect.
    a.expect("xv6net kernel is booting", BOOT_TIMEOUT)?;
    let mut b = start(&B, link, false)?;
    let result = booted(&mut a, &A)
        .and_then(|()| booted(&mut b, &B))
        .and_then(|()| {
            eprintln!("net_l2: both booted: {:.1?}", start_time.elapsed());
            steps(&mut a, &mut b)
        });
    if let Err(e) = result {
        a.keep_pcap();
        b.keep_pcap();
        let a_tail = a.fail("guest A (e1000)");
        let b_tail = b.fail("guest B (virtio-net)");
        return Err(anyhow!("{e:#}\n\n{a_tail:#}\n\n{b_tail:#}"));
    }
    eprintln!("net_l2: total {:.1?}", start_time.elapsed());
    Ok(())
}
