//! `cargo xtask qemu`: boot xv6net on this terminal, like xv6's `make qemu`.
//!
//! The console is QEMU's `-nographic` stdio (Ctrl-A X quits, Ctrl-A C switches to the monitor). The
//! disk is target/xv6net/fs.img itself, so files written in one session are there in the next.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::{Result, bail};

use crate::cmd;
use crate::{Nic, QemuOpts};
use harness::qemu::{NO_NETWORK, QEMU, machine_args};

/// The command that installs QEMU on Debian 12 (QEMU 7.2 with user networking; DESIGN §3).
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
    let mut qemu = Command::new(QEMU);
    qemu.args(&args);
    let status = cmd::status(&mut qemu)?;
    Ok(ExitCode::from(status.code().map_or(1, |c| c as u8)))
}

/// The network part of the command line.
fn net_args(opts: &QemuOpts) -> Result<Vec<OsString>> {
    match opts.nic {
        None => Ok(NO_NETWORK.map(OsString::from).into()),
        Some(nic) => bail!(
            "--nic {}: no network card is wired up yet (the network issue adds them)",
            match nic {
                Nic::E1000 => "e1000",
                Nic::Virtio => "virtio",
            }
        ),
    }
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
            build: BuildOpts::default(),
        }
    }

    #[test]
    fn no_nic_means_no_network_at_all() {
        assert_eq!(net_args(&opts(None, false)).unwrap(), ["-nic", "none"]);
    }

    #[test]
    fn a_nic_is_refused_until_the_drivers_exist() {
        let err = net_args(&opts(Some(Nic::E1000), false)).unwrap_err();
        assert!(format!("{err}").contains("--nic e1000"), "{err}");
    }

    #[test]
    fn gdb_listens_on_loopback_only() {
        assert!(gdb_args(&opts(None, false)).is_empty());
        let args = gdb_args(&opts(None, true));
        assert_eq!(args[..2], ["-S", "-gdb"]);
        assert!(args[2].to_string_lossy().starts_with("tcp:127.0.0.1:"));
    }
}
