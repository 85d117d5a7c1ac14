//! Where things are, and running other programs with their command line shown first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{Context, Result, bail};

/// The Rust target of the kernel and the user programs.
pub const RISCV_TARGET: &str = "riscv64gc-unknown-none-elf";

/// The workspace's directories and the build products xtask uses.
pub struct Paths {
    /// The workspace root (commands run here).
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target: PathBuf,
}

impl Paths {
    pub fn new() -> Result<Paths> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask is inside the workspace")
            .to_path_buf();
        // Cargo reads a relative CARGO_TARGET_DIR from the current directory; commands here run
        // from the root, so resolve it now.
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => std::path::absolute(dir).context("resolving CARGO_TARGET_DIR")?,
            None => root.join("target"),
        };
        Ok(Paths { root, target })
    }

    /// Release outputs of the riscv crates.
    pub fn riscv_release(&self) -> PathBuf {
        self.target.join(RISCV_TARGET).join("release")
    }

    pub fn kernel(&self) -> PathBuf {
        self.riscv_release().join("kernel")
    }

    pub fn mkfs(&self) -> PathBuf {
        self.target.join("release/mkfs")
    }

    /// xtask's own outputs: the image, the mkfs argument list, the C fixture, test logs.
    pub fn out(&self) -> PathBuf {
        self.target.join("xv6net")
    }

    pub fn fs_img(&self) -> PathBuf {
        self.out().join("fs.img")
    }

    /// The arguments given to mkfs after the image path, one per line; the harness reads it to make
    /// each test's own image.
    pub fn mkfs_args(&self) -> PathBuf {
        self.out().join("mkfs.args")
    }

    pub fn logs(&self) -> PathBuf {
        self.out().join("logs")
    }

    /// A cargo command running in the workspace root.
    pub fn cargo(&self) -> Command {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&self.root);
        cmd
    }
}

/// How a command looks when typed into a shell.
pub fn show(cmd: &Command) -> String {
    let args: Vec<OsString> = cmd.get_args().map(OsString::from).collect();
    harness::shell_words(&cmd.get_program().to_string_lossy(), &args)
}

/// Prints `cmd`, runs it with inherited stdio and returns its status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    println!("$ {}", show(cmd));
    cmd.status()
        .with_context(|| format!("cannot run {}", cmd.get_program().to_string_lossy()))
}

/// Prints `cmd`, runs it and fails unless it succeeds.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", show(cmd));
    }
    Ok(())
}

/// The first executable named `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The user id xtask runs as (from `id -u`, which needs no unsafe libc call).
pub fn uid() -> Option<u32> {
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_sh_and_not_nonsense() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-xv6net").is_none());
    }

    #[test]
    fn paths_follow_the_documented_layout() {
        let p = Paths {
            root: "/w".into(),
            target: "/w/target".into(),
        };
        assert_eq!(
            p.kernel(),
            Path::new("/w/target/riscv64gc-unknown-none-elf/release/kernel")
        );
        assert_eq!(p.fs_img(), Path::new("/w/target/xv6net/fs.img"));
        assert_eq!(p.mkfs(), Path::new("/w/target/release/mkfs"));
    }

    #[test]
    fn show_quotes_like_a_shell() {
        let mut cmd = Command::new("cargo");
        cmd.args(["test", "--test", "*"]);
        assert_eq!(show(&cmd), "cargo test --test '*'");
    }
}
