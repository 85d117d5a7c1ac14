//! labserver: the host side of the MIT net lab by hand, beside `cargo xtask qemu --nic ...`.
//!
//! `labserver [--port N] [--fwd1 N] [--fwd2 N] [--dns-port N] [--seconds N] [--packets N]
//! [--interval-ms N] MODE`
//! plays one of the lab's `nettest.py` modes (txone rxone rx rx2 rxburst tx ping grade, or `server`
//! for the 2020 lab's `nettests`), and always runs the DNS responder for `nettest dns`; MODE `dns`
//! runs only the responder. Ports default to the lab Makefile's for this user (SERVERPORT
//! uid%5000+25099, FWDPORT1 +25999, FWDPORT2 +30999; DNS +25053), which `cargo xtask qemu` uses too.
//! Everything binds 127.0.0.1; it stops after `--seconds` (default 600), after sending `--packets`
//! datagrams (default 1000000), or when a one-shot mode is done.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use harness::dns::{DnsResponder, lab_records};
use harness::lab::{LabPorts, LabServer, Limits, Role, current_uid, dns_port_for_uid};

const USAGE: &str = "usage: labserver [--port N] [--fwd1 N] [--fwd2 N] [--dns-port N] [--seconds N] \
                     [--packets N] [--interval-ms N] txone|rxone|rx|rx2|rxburst|tx|ping|grade|server|dns";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labserver: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let uid = current_uid().map_err(|e| format!("reading the user id: {e}"))?;
    let mut ports = LabPorts::for_uid(uid);
    let mut dns_port = dns_port_for_uid(uid);
    let mut limits = Limits {
        duration: Duration::from_secs(600),
        packets: 1_000_000,
        ..Limits::default()
    };
    let mut mode = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("bad {name} value {v:?}"))
        };
        let port = |v: u64| u16::try_from(v).map_err(|_| format!("port {v} out of range"));
        match arg.as_str() {
            "--port" => ports.server = port(value("--port")?)?,
            "--fwd1" => ports.fwd1 = port(value("--fwd1")?)?,
            "--fwd2" => ports.fwd2 = port(value("--fwd2")?)?,
            "--dns-port" => dns_port = port(value("--dns-port")?)?,
            "--seconds" => limits.duration = Duration::from_secs(value("--seconds")?),
            "--interval-ms" => limits.interval = Duration::from_millis(value("--interval-ms")?),
            "--packets" => limits.packets = value("--packets")? as usize,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            m if mode.is_none() && (m == "dns" || Role::from_name(m).is_some()) => {
                mode = Some(m.to_string())
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let mode = mode.ok_or("no mode given")?;

    let dns = DnsResponder::serve(dns_port, lab_records(), limits)
        .map_err(|e| format!("DNS responder on 127.0.0.1:{dns_port}: {e}"))?;
    println!(
        "labserver: DNS for {} on 127.0.0.1:{dns_port} (guest: -d 10.0.2.2:{dns_port})",
        harness::dns::LAB_NAME
    );
    let Some(role) = Role::from_name(&mode) else {
        thread::sleep(limits.duration);
        drop(dns);
        return Ok(());
    };
    println!(
        "labserver: {mode} on 127.0.0.1:{} (guest: nettest -p {} -d 10.0.2.2:{dns_port}); \
         guest UDP 2000 is 127.0.0.1:{}, 2001 is 127.0.0.1:{}",
        ports.server, ports.server, ports.fwd1, ports.fwd2
    );
    let server = LabServer::start(role, ports, limits)
        .map_err(|e| format!("{mode} on 127.0.0.1:{}: {e}", ports.server))?;
    let end = Instant::now() + limits.duration;
    while !server.finished() && Instant::now() < end {
        thread::sleep(Duration::from_millis(100));
    }
    server.stop().map_err(|e| format!("{mode}: {e}"))
}
