//! `cargo xtask qemu`: boot xv6net on this terminal, like xv6's `make qemu`.
//!
//! The console is QEMU's `-nographic` stdio (Ctrl-A X quits, Ctrl-A C switches to the monitor). The
//! disk is target/xv6net/fs.img itself, so files written in one session are there in the next.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::{Result, bail};

use crate::cmd;
use crate::{Nic, QemuOpts};
use harness::qemu::{QEMU, machine_args};

/// The command that installs QEMU on Debian 12 (QEMU 7.2 with user networking; docs/design.md).
const INSTALL_QEMU: &str =
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-misc";

pub fn run(opts: &QemuOpts) -> Result<ExitCode> {
    // Checked before the build, which takes minutes: refuse options that cannot run.
    let net = net_args(opts)?;
    ensure_qemu()?;
    let paths = crate::build::build(&opts.build)?;
    let mut args = machine_args(&paths.kernel(), &paths.fs_img(), opts.smp, &opts.mem);
    args.push("-nographic".into());
    args.extend(net);
    args.extend(gdb_args(opts));
    if let Some(append) = &opts.append {
        args.extend(["-append".into(), append.into()]);
    }
    let mut qemu = Command::new(QEMU);
    qemu.args(&args);
    let status = cmd::status(&mut qemu)?;
    Ok(ExitCode::from(status.code().map_or(1, |c| c as u8)))
}

/// The network part of the command line, like the lab's Makefile: the card (`--nic`, E1000 by
/// default; `virtio-packed` is virtio-net with `packed=on`) on QEMU's user network, host UDP
/// ports FWDPORT1 and FWDPORT2 of 127.0.0.1 forwarded to guest ports 2000 and 2001, and a capture in target/xv6net/packets.pcap. The ports default to the
/// lab's for this user (uid%5000 + 25999 and + 30999); the environment variables FWDPORT1, FWDPORT2,
/// SERVERPORT and DNSPORT override them. Prints how to run the host side and `nettest`.
fn net_args(opts: &QemuOpts) -> Result<Vec<OsString>> {
    use harness::lab::{LabPorts, dns_port_for_uid};
    let uid = cmd::uid().unwrap_or(0);
    let env_port = |name: &str, default: u16| -> Result<u16> {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a port number")),
            Err(_) => Ok(default),
        }
    };
    let lab = LabPorts::for_uid(uid);
    let ports = LabPorts {
        server: env_port("SERVERPORT", lab.server)?,
        fwd1: env_port("FWDPORT1", lab.fwd1)?,
        fwd2: env_port("FWDPORT2", lab.fwd2)?,
    };
    let dns = env_port("DNSPORT", dns_port_for_uid(uid))?;
    // httpd in the guest (port 80) is reachable from a host browser at this port.
    let http = env_port("HTTPPORT", (25080 + uid % 5000) as u16)?;
    let nic = opts.nic.unwrap_or(Nic::E1000).harness();
    let (device, name) = (nic.device(), nic.kernel_name());
    let pcap = cmd::Paths::new()?.out().join("packets.pcap");
    let LabPorts { server, fwd1, fwd2 } = ports;
    println!(
        "net: {name} on QEMU's user network: host 127.0.0.1:{fwd1} -> guest UDP 2000, \
         127.0.0.1:{fwd2} -> guest UDP 2001 (capture: {})\n\
         net: SERVERPORT {server}; host side: cargo run -p harness --bin labserver -- \
         --port {server} --fwd1 {fwd1} --fwd2 {fwd2} --dns-port {dns} grade\n\
         net: then in xv6: nettest -p {server} -d 10.0.2.2:{dns} grade\n\
         net: `httpd &` in xv6 serves http://127.0.0.1:{http}/ on the host (guest TCP 80)",
        pcap.display()
    );
    let mut dump = OsString::from("filter-dump,id=f0,netdev=net0,file=");
    dump.push(pcap);
    Ok(vec![
        "-netdev".into(),
        format!(
            "{},hostfwd=tcp:127.0.0.1:{http}-:80",
            ports.netdev_arg("net0")
        )
        .into(),
        "-device".into(),
        device.into(),
        "-object".into(),
        dump,
    ])
}

/// `-S -gdb` on a port that depends on the user, as xv6's Makefile does, so two people on one
/// machine do not collide; only 127.0.0.1 listens.
fn gdb_args(opts: &QemuOpts) -> Vec<OsString> {
    if !opts.gdb {
        return Vec::new();
    }
    let port = 25000 + cmd::uid().unwrap_or(0) % 5000;
    println!("QEMU waits for gdb: `gdb-multiarch KERNEL`, then `target remote 127.0.0.1:{port}`");
    vec![
        "-S".into(),
        "-gdb".into(),
        format!("tcp:127.0.0.1:{port}").into(),
    ]
}

/// Installs QEMU when it is missing and xtask runs as root; otherwise says how and fails.
pub fn ensure_qemu() -> Result<()> {
    if cmd::which(QEMU).is_some() {
        return Ok(());
    }
    if cmd::uid() != Some(0) {
        bail!("{QEMU} is missing; install it with:\n  sudo sh -c '{INSTALL_QEMU}'");
    }
    cmd::run(Command::new("apt-get").arg("update"))?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "qemu-system-misc"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuildOpts;

    fn opts(nic: Option<Nic>, gdb: bool) -> QemuOpts {
        QemuOpts {
            nic,
            smp: 3,
            mem: "128M".into(),
            gdb,
            append: None,
            build: BuildOpts::default(),
        }
    }

    /// The values of `-netdev` and `-device`.
    fn netdev_and_device(nic: Option<Nic>) -> (String, String) {
        let args = net_args(&opts(nic, false)).unwrap();
        let s: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            (s[0].as_str(), s[2].as_str(), s[4].as_str()),
            ("-netdev", "-device", "-object")
        );
        assert!(
            s[5].starts_with("filter-dump,id=f0,netdev=net0,file="),
            "{}",
            s[5]
        );
        (s[1].clone(), s[3].clone())
    }

    #[test]
    fn the_default_nic_is_e1000_with_the_labs_forwards_on_loopback() {
        let (netdev, device) = netdev_and_device(None);
        assert_eq!(device, "e1000,netdev=net0,bus=pcie.0");
        let parts: Vec<&str> = netdev.split(',').collect();
        assert_eq!(parts[..2], ["user", "id=net0"], "{netdev}");
        assert_eq!(parts.len(), 5, "{netdev}");
        for (part, guest) in parts[2..4].iter().zip(["-:2000", "-:2001"]) {
            assert!(part.starts_with("hostfwd=udp:127.0.0.1:"), "{part}");
            assert!(part.ends_with(guest), "{part}");
        }
        assert!(parts[4].starts_with("hostfwd=tcp:127.0.0.1:"), "{netdev}");
        assert!(parts[4].ends_with("-:80"), "{netdev}");
    }

    #[test]
    fn virtio_sits_in_mmio_slot_1() {
        let (_, device) = netdev_and_device(Some(Nic::Virtio));
        assert_eq!(
            device,
            "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1"
        );
    }

    #[test]
    fn virtio_packed_asks_qemu_for_packed_queues() {
        let (_, device) = netdev_and_device(Some(Nic::VirtioPacked));
        assert_eq!(
            device,
            "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1,packed=on"
        );
    }

    #[test]
    fn gdb_listens_on_loopback_only() {
        assert!(gdb_args(&opts(None, false)).is_empty());
        let args = gdb_args(&opts(None, true));
        assert_eq!(args[..2], ["-S", "-gdb"]);
        assert!(args[2].to_string_lossy().starts_with("tcp:127.0.0.1:"));
    }
}
