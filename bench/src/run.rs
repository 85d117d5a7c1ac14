//! One configuration, once: boots its guest behind QEMU's user network with the benchmark's
//! port forwards, runs the phases in order and records what the load generator cost.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result};
use harness::qemu::BOOT_TIMEOUT;
use harness::{Pattern, Qemu, QemuBuilder};

use crate::costs::{GuestTime, Meter};
use crate::tcp::{self, Bulk, TcpResult};
use crate::udp::{HostEcho, measure_udp};
use crate::{
    CMD_TIMEOUT, DEVICE_ECHO_LINE, GUEST_PORT, GuestCounters, HTTP_PATH, HTTP_PORT, Nic, Phases,
    RunResult, SINK_PORT, SOURCE_PORT, TCPBENCH_END_TIMEOUT, Target, Unsupported, http,
};

/// The host ports QEMU forwards to the guest's services, all on 127.0.0.1.
struct Forwards {
    udp: u16,
    source: u16,
    sink: u16,
    http: u16,
}

impl Forwards {
    fn pick() -> Result<Forwards> {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let [source, sink, http] = harness::free_ports()?;
        Ok(Forwards {
            udp,
            source,
            sink,
            http,
        })
    }

    /// The `-netdev` value: QEMU's user network with the four forwards.
    fn netdev(&self) -> String {
        format!(
            "user,id=net0,hostfwd=udp:127.0.0.1:{}-:{GUEST_PORT},\
             hostfwd=tcp:127.0.0.1:{}-:{SOURCE_PORT},hostfwd=tcp:127.0.0.1:{}-:{SINK_PORT},\
             hostfwd=tcp:127.0.0.1:{}-:{HTTP_PORT}",
            self.udp, self.source, self.sink, self.http
        )
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }
}

/// A guest for `target` with `nic` behind `fwd` and `bootargs` on its command line.
fn guest(target: Target, nic: Nic, fwd: &Forwards, bootargs: &[String]) -> QemuBuilder {
    let b = Qemu::builder(&format!("bench-{}", target.label().replace(' ', "-"))).net([
        "-netdev".to_string(),
        fwd.netdev(),
        "-device".to_string(),
        nic.device().to_string(),
    ]);
    if bootargs.is_empty() {
        b
    } else {
        b.arg("-append").arg(bootargs.join(" "))
    }
}

fn ring_arg(ring: Option<usize>) -> Option<String> {
    ring.map(|r| format!("net.ring={r}"))
}

/// The kernel's boot lines about its card (`net: NAME mac ... ring N`, and the echo mode's).
fn boot_lines(q: &Qemu) -> String {
    q.output()
        .lines()
        .filter(|l| {
            (l.starts_with("net: ") && l.contains(" ring ")) || l.starts_with(DEVICE_ECHO_LINE)
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs one configuration once: boots a guest if needed, measures, and records the generator's
/// cost. For a guest, also returns the kernel's boot lines about the card. A kernel without the
/// device echo mode gives an [`Unsupported`] error.
pub fn run_target(target: Target, phases: &Phases) -> Result<(RunResult, String)> {
    let total = Meter::start();
    let (mut result, boot) = match target {
        Target::Host => {
            let echo = HostEcho::start(Duration::from_secs(600))?;
            (measure_udp(echo.addr(), phases)?, String::new())
        }
        Target::DeviceEcho { nic, ring } => {
            let fwd = Forwards::pick()?;
            let mut args = vec!["net.echo=1".to_string()];
            args.extend(ring_arg(ring));
            let mut q = guest(target, nic, &fwd, &args).spawn()?;
            // The echo loop may or may not leave the shell running on the other harts.
            let seen = q.expect(
                Pattern::re(&format!("{DEVICE_ECHO_LINE}|init: starting sh")),
                BOOT_TIMEOUT,
            )?;
            if !seen.contains(DEVICE_ECHO_LINE)
                && q.expect(DEVICE_ECHO_LINE, Duration::from_secs(5)).is_err()
            {
                return Err(Unsupported(format!(
                    "the kernel printed no `{DEVICE_ECHO_LINE}` line with net.echo=1"
                ))
                .into());
            }
            match measure_udp(Forwards::at(fwd.udp), phases) {
                Ok(r) => (r, boot_lines(&q)),
                Err(e) => return Err(q.fail(&format!("{e:#}"))),
            }
        }
        Target::Guest { nic, ring } | Target::BatchedEcho { nic, ring } => {
            let fwd = Forwards::pick()?;
            let args: Vec<String> = ring_arg(ring).into_iter().collect();
            let mut q = guest(target, nic, &fwd, &args).spawn_shell()?;
            let r = match target {
                Target::BatchedEcho { .. } => udp_phases(&mut q, &fwd, phases, "mudpecho"),
                _ => guest_phases(&mut q, &fwd, phases),
            };
            match r {
                Ok(r) => (r, boot_lines(&q)),
                Err(e) => return Err(q.fail(&format!("{e:#}"))),
            }
        }
    };
    result.costs.push(total.stop("total"));
    Ok((result, boot))
}

/// The UDP part of a guest's run: the counters, `server` (`udpecho` or `mudpecho`, which
/// print the same first words) in the background, the UDP phases, the counters again.
fn udp_phases(q: &mut Qemu, fwd: &Forwards, phases: &Phases, server: &str) -> Result<RunResult> {
    let before = GuestTime::parse(&q.run("ifconfig", CMD_TIMEOUT)?);
    q.send_line(&format!("{server} {GUEST_PORT} &"))?;
    q.expect(
        format!("{server}: echoing on port {GUEST_PORT}").as_str(),
        CMD_TIMEOUT,
    )?;
    let mut r = measure_udp(Forwards::at(fwd.udp), phases)?;
    let after = GuestTime::parse(&q.run("ifconfig", CMD_TIMEOUT)?);
    r.guest_time = match before.zip(after) {
        Some((b, a)) => GuestCounters::Read(a.since(&b)),
        None => GuestCounters::Missing,
    };
    Ok(r)
}

/// Everything measured in a `udpecho` guest, in order: the UDP phases against `udpecho`
/// (`udp_phases`); `tcpbench source` then `tcpbench sink`; `httpd` in the background, HTTP
/// with keep-alive then without.
fn guest_phases(q: &mut Qemu, fwd: &Forwards, phases: &Phases) -> Result<RunResult> {
    let mut r = udp_phases(q, fwd, phases, "udpecho")?;

    let meter = Meter::start();
    r.tcp = Some(tcp_phases(q, fwd, phases)?);
    r.costs.push(meter.stop("tcp"));

    q.send_line(&format!("httpd {HTTP_PORT} &"))?;
    q.expect(
        format!("httpd: serving / on port {HTTP_PORT}").as_str(),
        CMD_TIMEOUT,
    )?;
    let meter = Meter::start();
    for keep_alive in [true, false] {
        r.http.push(http::load(
            Forwards::at(fwd.http),
            HTTP_PATH,
            &phases.http(keep_alive),
        )?);
    }
    r.costs.push(meter.stop("http"));
    Ok(r)
}

/// Types `line` (a `tcpbench` command) and waits until it listens on `port`.
fn start_tcpbench(q: &mut Qemu, line: &str, port: u16) -> Result<()> {
    q.send_line(line)?;
    q.expect(
        format!("tcpbench: listening on {port}").as_str(),
        CMD_TIMEOUT,
    )?;
    Ok(())
}

/// Waits for `tcpbench`'s last line (`VERB N bytes in U us`) and the shell's prompt; returns
/// the guest's count.
fn tcpbench_count(q: &mut Qemu, verb: &str) -> Result<(u64, u64)> {
    let text = q.expect(
        Pattern::re(&format!(r"tcpbench: {verb} \d+ bytes in \d+ us[^\n]*\n")),
        TCPBENCH_END_TIMEOUT,
    )?;
    q.expect("$ ", CMD_TIMEOUT)?;
    tcp::parse_count(&text).context("tcpbench's count")
}

/// Guest→host, then host→guest, [`Phases::tcp_bytes`] each.
fn tcp_phases(q: &mut Qemu, fwd: &Forwards, phases: &Phases) -> Result<TcpResult> {
    let planned = phases.tcp_bytes;
    start_tcpbench(
        q,
        &format!("tcpbench source {SOURCE_PORT} {planned}"),
        SOURCE_PORT,
    )?;
    let (bytes, elapsed) = tcp::receive(Forwards::at(fwd.source), phases.tcp_deadline)?;
    let (_, guest_us) = tcpbench_count(q, "sent")?;
    let guest_to_host = Bulk {
        planned,
        bytes,
        elapsed,
        guest_us: Some(guest_us),
    };
    start_tcpbench(q, &format!("tcpbench sink {SINK_PORT}"), SINK_PORT)?;
    let (elapsed, _answer) = tcp::send(Forwards::at(fwd.sink), planned, phases.tcp_deadline)?;
    // The guest's count is what arrived, whether or not its answer made it back in time.
    let (bytes, guest_us) = tcpbench_count(q, "received")?;
    let host_to_guest = Bulk {
        planned,
        bytes,
        elapsed,
        guest_us: Some(guest_us),
    };
    Ok(TcpResult {
        guest_to_host,
        host_to_guest,
    })
}
