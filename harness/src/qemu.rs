//! Booting xv6net in QEMU for one test.
//!
//! Every [`Qemu`] gets its own temporary directory with its own file system image, so tests never
//! share a disk and may write to it freely. The machine is the `virt` board with `-bios none`
//! (the kernel runs from reset, as xv6's does), the disk a virtio-mmio block device in slot 0, and the console the UART on stdio.
//! The build products come from `cargo xtask build`, located through the `XV6NET_*` environment
//! variables that `cargo xtask test` sets (see [`Artifacts`]).

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;

use crate::console::{Console, Pattern};

/// The QEMU binary, as packaged by Debian's `qemu-system-misc`.
pub const QEMU: &str = "qemu-system-riscv64";

/// Harts and memory of every test machine unless a test asks otherwise: the same as
/// `cargo xtask qemu`.
pub const DEFAULT_SMP: usize = 3;
/// See [`DEFAULT_SMP`].
pub const DEFAULT_MEM: &str = "128M";

/// Turns off the network QEMU creates by default, so a machine only talks to what a test set up.
pub const NO_NETWORK: [&str; 2] = ["-nic", "none"];

/// How long a boot to the shell's first prompt may take. A boot takes seconds, but tests run under
/// TCG on two cores that may be busy with a build.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// The file name of QEMU's human monitor socket in a machine's directory.
const MONITOR_SOCKET: &str = "monitor.sock";

/// What the monitor prints when it waits for a command.
const MONITOR_PROMPT: &str = "(qemu) ";

/// How long the monitor may take to answer: it answers at once unless QEMU itself is stuck.
const MONITOR_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the console echo of a typed line may take to appear (see [`Qemu::send_line`]).
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);

/// The QEMU arguments that describe the machine: board, kernel, memory, harts and disk.
/// The console and network arguments are added by the caller (a terminal for `cargo xtask qemu`,
/// pipes for tests).
///
/// Without network arguments QEMU would create a user-mode network on its own; callers that want no
/// network pass [`NO_NETWORK`].
pub fn machine_args(kernel: &Path, image: &Path, smp: usize, mem: &str) -> Vec<OsString> {
    let mut drive = OsString::from("file=");
    drive.push(image);
    drive.push(",if=none,format=raw,id=x0");
    let args: [OsString; 16] = [
        "-machine".into(),
        "virt".into(),
        "-bios".into(),
        "none".into(),
        "-kernel".into(),
        kernel.into(),
        "-m".into(),
        mem.into(),
        "-smp".into(),
        smp.to_string().into(),
        "-global".into(),
        // Modern (version 2) virtio-mmio devices: the drivers do not speak the legacy interface.
        "virtio-mmio.force-legacy=false".into(),
        "-drive".into(),
        drive,
        "-device".into(),
        "virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0".into(),
    ];
    args.into()
}

/// Where the products of `cargo xtask build` are.
///
/// Each path comes from an environment variable set by `cargo xtask test`; without it, from the
/// place `cargo xtask build` puts it under the target directory (`$CARGO_TARGET_DIR` or the
/// workspace's `target/`), so `cargo test -p harness -- --ignored` works after a manual build.
///
/// Tests do not copy `target/xv6net/fs.img`: `cargo xtask qemu` keeps that image across runs like
/// xv6's `make qemu`, so it may hold a person's files. Each test builds a pristine image instead
/// from the same mkfs argument list (a few milliseconds).
#[derive(Clone, Debug)]
pub struct Artifacts {
    /// The kernel ELF (`XV6NET_KERNEL`).
    pub kernel: PathBuf,
    /// The host `mkfs` binary (`XV6NET_MKFS`).
    pub mkfs: PathBuf,
    /// The arguments `mkfs` got after the image path, one per line (`XV6NET_MKFS_ARGS`): README,
    /// every user program, and the files given to `cargo xtask build --add`.
    pub mkfs_args: PathBuf,
    /// Where console logs of failed tests are kept (`XV6NET_LOG_DIR`).
    pub log_dir: PathBuf,
}

impl Artifacts {
    /// Reads the locations from the environment, falling back to `cargo xtask build`'s layout.
    pub fn from_env() -> Artifacts {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let out = target.join("xv6net");
        let var = |name: &str, default: PathBuf| {
            std::env::var_os(name).map(PathBuf::from).unwrap_or(default)
        };
        Artifacts {
            kernel: var(
                "XV6NET_KERNEL",
                target.join("riscv64gc-unknown-none-elf/release/kernel"),
            ),
            mkfs: var("XV6NET_MKFS", target.join("release/mkfs")),
            mkfs_args: var("XV6NET_MKFS_ARGS", out.join("mkfs.args")),
            log_dir: var("XV6NET_LOG_DIR", out.join("logs")),
        }
    }

    /// Builds an image at `out` holding everything the standard image holds plus `extra`
    /// (`(host path, name in the image)` pairs; a later file with the same name is an mkfs error).
    pub fn make_image(&self, out: &Path, extra: &[(PathBuf, String)]) -> Result<()> {
        let list = std::fs::read_to_string(&self.mkfs_args).with_context(|| {
            format!(
                "reading {} (run `cargo xtask build`)",
                self.mkfs_args.display()
            )
        })?;
        let mut cmd = Command::new(&self.mkfs);
        cmd.arg(out).args(list.lines().filter(|l| !l.is_empty()));
        for (path, name) in extra {
            let mut arg = path.as_os_str().to_owned();
            arg.push("=");
            arg.push(name);
            cmd.arg(arg);
        }
        let output = cmd
            .output()
            .with_context(|| format!("running {}", self.mkfs.display()))?;
        ensure!(
            output.status.success(),
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn check(&self) -> Result<()> {
        for path in [&self.kernel, &self.mkfs, &self.mkfs_args] {
            if !path.exists() {
                bail!(
                    "{} is missing: run `cargo xtask build` first",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// A file to put into a test's image.
enum ExtraFile {
    Contents(String, Vec<u8>),
    Host(PathBuf, String),
}

/// Options for one test machine; [`QemuBuilder::spawn`] boots it.
pub struct QemuBuilder {
    name: String,
    artifacts: Artifacts,
    smp: usize,
    mem: String,
    net: Vec<OsString>,
    args: Vec<OsString>,
    files: Vec<ExtraFile>,
}

impl QemuBuilder {
    /// Number of harts (`-smp`).
    pub fn smp(mut self, harts: usize) -> Self {
        self.smp = harts;
        self
    }

    /// Memory size in QEMU's syntax, e.g. `128M` (`-m`).
    pub fn mem(mut self, size: &str) -> Self {
        self.mem = size.to_string();
        self
    }

    /// The network arguments (NIC and netdev), replacing the default [`NO_NETWORK`].
    pub fn net<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.net = args.into_iter().map(Into::into).collect();
        self
    }

    /// One more QEMU argument, appended after the machine, console and network arguments.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a file named `name` with `contents` to this test's image.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files
            .push(ExtraFile::Contents(name.to_string(), contents.into()));
        self
    }

    /// Adds the host file `path` to this test's image as `name`.
    pub fn host_file(mut self, path: impl Into<PathBuf>, name: &str) -> Self {
        self.files
            .push(ExtraFile::Host(path.into(), name.to_string()));
        self
    }

    /// Builds the disk in a fresh temporary directory, prints the command line and starts QEMU.
    pub fn spawn(self) -> Result<Qemu> {
        self.artifacts.check()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("xv6net-{}-", self.name))
            .tempdir()
            .context("creating the test's temporary directory")?;
        let image = dir.path().join("fs.img");
        let mut extra = Vec::new();
        for file in self.files {
            extra.push(match file {
                ExtraFile::Contents(name, contents) => {
                    let path = dir.path().join("files").join(&name);
                    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
                    std::fs::write(&path, contents)
                        .with_context(|| format!("writing {}", path.display()))?;
                    (path, name)
                }
                ExtraFile::Host(path, name) => (path, name),
            });
        }
        self.artifacts.make_image(&image, &extra)?;

        let mut args = machine_args(&self.artifacts.kernel, &image, self.smp, &self.mem);
        // The UART alone on stdio, without QEMU's monitor multiplexer, so every byte typed reaches
        // the guest; the monitor listens on a socket instead (see `Qemu::harts`).
        let mut monitor = OsString::from("unix:");
        monitor.push(dir.path().join(MONITOR_SOCKET));
        monitor.push(",server=on,wait=off");
        args.extend(["-display", "none", "-serial", "stdio", "-monitor"].map(OsString::from));
        args.push(monitor);
        // No reboot: a guest reset ends the run instead of booting again until the timeout.
        args.push("-no-reboot".into());
        args.extend(self.net);
        args.extend(self.args);
        let command_line = crate::shell_words(QEMU, &args);
        eprintln!("{command_line}");
        let mut cmd = Command::new(QEMU);
        cmd.args(&args).current_dir(dir.path());
        let log = self.artifacts.log_dir.join(format!("{}.log", self.name));
        let console = Console::spawn(cmd, Some(&log))?;
        Ok(Qemu {
            console,
            command_line,
            dir,
        })
    }

    /// [`spawn`](Self::spawn), then waits for init to start the shell and for its first prompt.
    pub fn spawn_shell(self) -> Result<Qemu> {
        let mut qemu = self.spawn()?;
        qemu.expect("init: starting sh", BOOT_TIMEOUT)?;
        qemu.expect("$ ", BOOT_TIMEOUT)?;
        Ok(qemu)
    }
}

/// One running xv6net machine. Dropping it kills QEMU; the console log is kept only if the test
/// failed.
pub struct Qemu {
    console: Console,
    command_line: String,
    /// Owns the image; declared after `console` so QEMU is dead before the directory goes.
    dir: TempDir,
}

impl Qemu {
    /// A machine for the test `name` (which also names its log) with the standard image,
    /// [`DEFAULT_SMP`] harts and [`DEFAULT_MEM`].
    pub fn builder(name: &str) -> QemuBuilder {
        QemuBuilder {
            name: name.to_string(),
            artifacts: Artifacts::from_env(),
            smp: DEFAULT_SMP,
            mem: DEFAULT_MEM.to_string(),
            net: NO_NETWORK.map(OsString::from).into(),
            args: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Boots the standard machine for the test `name` and waits for the shell's first prompt.
    pub fn shell(name: &str) -> Result<Qemu> {
        Qemu::builder(name).spawn_shell()
    }

    /// See [`Console::expect`]. When the guest is still running after a failure (a hang, or a
    /// timeout too short), the error also tells where each hart is.
    pub fn expect(&mut self, pattern: impl Into<Pattern>, timeout: Duration) -> Result<String> {
        let result = self.console.expect(pattern, timeout);
        result.map_err(|e| self.with_harts(e))
    }

    /// Types `line` and a newline, then waits for xv6's console to echo it and moves the cursor
    /// past the echo, so that the next [`expect`](Self::expect) sees only what the command prints.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.console.send_line(line)?;
        self.expect(Pattern::literal(&format!("{line}\n")), ECHO_TIMEOUT)
            .map(drop)
    }

    /// Types `line`, waits for the shell's next `$ ` prompt and returns what was printed before it.
    pub fn run(&mut self, line: &str, timeout: Duration) -> Result<String> {
        self.send_line(line)?;
        let out = self.expect("$ ", timeout)?;
        Ok(out.strip_suffix("$ ").unwrap_or(&out).to_string())
    }

    /// Waits for the verdict of an xv6-style test program (`usertests` and those written like it):
    /// `ALL TESTS PASSED`, or any `FAILED`, which fails at once, once the program has finished (so
    /// the log shows every failure).
    pub fn expect_verdict(&mut self, timeout: Duration) -> Result<()> {
        let out = self.expect(Pattern::re("ALL TESTS PASSED|FAILED"), timeout)?;
        if out.ends_with("FAILED") {
            let _ = self.expect("$ ", timeout);
            return Err(self.fail("the test program printed FAILED"));
        }
        Ok(())
    }

    /// See [`Console::wait_exit`]. If the guest is still running at the timeout, prints where
    /// each hart is.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let status = self.console.wait_exit(timeout);
        if status.is_none()
            && let Some(harts) = self.harts()
        {
            eprintln!("QEMU did not exit; where the harts are:\n{harts}");
        }
        status
    }

    /// `e` followed by where each hart is, if QEMU still runs and its monitor answers.
    fn with_harts(&mut self, e: anyhow::Error) -> anyhow::Error {
        match self.harts() {
            Some(harts) => anyhow::anyhow!("{e:#}\n--- where the harts are ---\n{harts}"),
            None => e,
        }
    }

    /// Asks QEMU's monitor for every hart's registers and summarizes them, one line per hart.
    /// A hung guest shows here what its console cannot: which harts spin, sleep or loop, and where.
    fn harts(&mut self) -> Option<String> {
        if !self.console.running() {
            return None;
        }
        let path = self.dir.path().join(MONITOR_SOCKET);
        let text = monitor_command(&path, "info registers -a").ok()?;
        Some(summarize_registers(&text))
    }

    /// Marks the test as failed (keeping the log) and returns an error with `what` and the console
    /// tail.
    pub fn fail(&mut self, what: &str) -> anyhow::Error {
        self.console.fail(what)
    }

    /// Everything the console printed so far.
    pub fn output(&self) -> String {
        self.console.output()
    }

    /// The QEMU command line, as printed at start.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// This machine's temporary directory (holds `fs.img`, and sockets or captures of later tests).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs one command on QEMU's human monitor at the Unix socket `path` and returns its output.
///
/// The monitor greets, prompts `(qemu) `, echoes the command with terminal escapes, prints the
/// output and prompts again; the output is what lies between the end of the echoed line and the
/// second prompt.
fn monitor_command(path: &Path, command: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut sock = UnixStream::connect(path)?;
    sock.set_read_timeout(Some(MONITOR_TIMEOUT))?;
    read_until_prompt(&mut sock)?;
    sock.write_all(format!("{command}\n").as_bytes())?;
    let answer = read_until_prompt(&mut sock)?;
    let answer = answer.strip_suffix(MONITOR_PROMPT).unwrap_or(&answer);
    Ok(answer
        .split_once('\n')
        .map_or("", |(_echo, out)| out)
        .to_string())
}

/// Reads from the monitor up to and including its next prompt.
fn read_until_prompt(sock: &mut UnixStream) -> std::io::Result<String> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(MONITOR_PROMPT.as_bytes()) {
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// One line per hart from `info registers -a`: the program counter, return address and stack
/// pointer, and the supervisor trap registers (a `pc` below 0x8000_0000 is in user space).
fn summarize_registers(text: &str) -> String {
    const SHOWN: [(&str, &str); 6] = [
        ("pc", "pc"),
        ("x1/ra", "ra"),
        ("x2/sp", "sp"),
        ("sepc", "sepc"),
        ("scause", "scause"),
        ("stval", "stval"),
    ];
    let mut lines = Vec::new();
    for cpu in text.split("CPU#").skip(1) {
        let words: Vec<&str> = cpu.split_whitespace().collect();
        let mut line = format!("hart {}:", words.first().copied().unwrap_or("?"));
        for (register, shown) in SHOWN {
            if let Some(i) = words.iter().position(|w| *w == register) {
                let value = words.get(i + 1).copied().unwrap_or("?");
                let value = value.trim_start_matches('0');
                line.push_str(&format!(
                    " {shown}=0x{}",
                    if value.is_empty() { "0" } else { value }
                ));
            }
        }
        lines.push(line);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_summarized_one_line_per_hart() {
        let text = "\
CPU#0
 V      =   0
 pc       0000000080005eb0
 mhartid  0000000000000000
 sepc     0000000000000000
 scause   0000000000000000
 stval    0000000000000000
 x0/zero  0000000000000000 x1/ra    0000000080005eac x2/sp    0000000080043cb0 x3/gp    0000000000000000
CPU#1
 pc       0000000000001a2c
 sepc     0000000000001a28
 scause   0000000000000008
 stval    0000000000000000
 x0/zero  0000000000000000 x1/ra    0000000000001000 x2/sp    0000000000003f80 x3/gp    0000000000000000
";
        assert_eq!(
            summarize_registers(text),
            "hart 0: pc=0x80005eb0 ra=0x80005eac sp=0x80043cb0 sepc=0x0 scause=0x0 stval=0x0\n\
             hart 1: pc=0x1a2c ra=0x1000 sp=0x3f80 sepc=0x1a28 scause=0x8 stval=0x0"
        );
    }

    #[test]
    fn machine_args_match_the_documented_command() {
        let args = machine_args(Path::new("k"), Path::new("/t/fs.img"), 3, "128M");
        assert_eq!(
            crate::shell_words(QEMU, &args),
            "qemu-system-riscv64 -machine virt -bios none -kernel k -m 128M -smp 3 \
             -global virtio-mmio.force-legacy=false -drive file=/t/fs.img,if=none,format=raw,id=x0 \
             -device virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0"
        );
    }

    #[test]
    fn a_link_joins_two_netdevs_on_loopback() {
        let link = Link { port: 4321 };
        assert_eq!(
            link.listen_netdev("net0"),
            "stream,id=net0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=4321"
        );
        assert_eq!(
            link.connect_netdev("n1"),
            "stream,id=n1,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=4321"
        );
        assert_eq!(
            Nic::Virtio.device_with_mac("52:54:00:00:03:02"),
            "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1,mac=52:54:00:00:03:02"
        );
        assert_eq!(
            Nic::VirtioPacked.device_with_mac("52:54:00:00:03:02"),
            "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1,packed=on,mac=52:54:00:00:03:02"
        );
    }

    #[test]
    fn make_image_passes_the_standard_list_then_the_extras() {
        let dir = tempfile::tempdir().unwrap();
        let fake_mkfs = dir.path().join("mkfs");
        std::fs::write(&fake_mkfs, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$1\"\n").unwrap();
        std::fs::set_permissions(
            &fake_mkfs,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let list = dir.path().join("mkfs.args");
        std::fs::write(&list, "README.md=README\n/b/cat=cat\n").unwrap();
        let artifacts = Artifacts {
            kernel: dir.path().join("kernel"),
            mkfs: fake_mkfs,
            mkfs_args: list,
            log_dir: dir.path().join("logs"),
        };
        let out = dir.path().join("out.img");
        artifacts
            .make_image(&out, &[(PathBuf::from("/x/s.sh"), "script.sh".into())])
            .unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            got,
            format!(
                "{}\nREADME.md=README\n/b/cat=cat\n/x/s.sh=script.sh\n",
                out.display()
            )
        );
    }
}

/// A network card of the guest, attached to QEMU netdev `net0`. The one place the harness,
/// the tests, the benchmark and `cargo xtask qemu` take the QEMU device options from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nic {
    E1000,
    /// virtio-net as QEMU offers it by default: split virtqueues.
    Virtio,
    /// virtio-net with `packed=on`: QEMU also offers packed virtqueues
    /// (VIRTIO_F_RING_PACKED), which the driver then uses.
    VirtioPacked,
}

impl Nic {
    /// Short name, for test and file names.
    pub fn name(self) -> &'static str {
        match self {
            Nic::E1000 => "e1000",
            Nic::Virtio => "virtio",
            Nic::VirtioPacked => "virtio-packed",
        }
    }

    /// The name the kernel prints at boot (`net: NAME mac ...`) and `ifconfig` shows.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Nic::E1000 => "e1000",
            Nic::Virtio | Nic::VirtioPacked => "virtio-net",
        }
    }

    /// What the kernel's boot line (`net: NAME mac ... ring N...`) ends with when it drives
    /// this card in a layout other than its usual one: ` packed` for packed virtqueues.
    pub fn layout_suffix(self) -> &'static str {
        match self {
            Nic::E1000 | Nic::Virtio => "",
            Nic::VirtioPacked => " packed",
        }
    }

    /// QEMU's `-device` value.
    pub fn device(self) -> &'static str {
        match self {
            Nic::E1000 => "e1000,netdev=net0,bus=pcie.0",
            Nic::Virtio => "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1",
            Nic::VirtioPacked => "virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1,packed=on",
        }
    }

    /// QEMU's `-device` value for a card with the address `mac` (`52:54:00:...`) instead of
    /// QEMU's default, which every machine would share: machines on one link need their own.
    pub fn device_with_mac(self, mac: &str) -> String {
        format!("{},mac={mac}", self.device())
    }
}

/// An Ethernet link between two machines (the `net_l2` test): QEMU's `-netdev stream` over
/// TCP on 127.0.0.1, the first machine listening and the second connecting. Frames cross it as
/// they are, with nothing else on the link.
///
/// The connecting machine must start after the listening one has its socket open: QEMU opens
/// it while starting, before the guest runs, so any console output of the first machine means
/// the second may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    port: u16,
}

impl Link {
    /// A link on a port of 127.0.0.1 that was free a moment ago (see [`crate::free_port`]).
    pub fn new() -> std::io::Result<Link> {
        Ok(Link {
            port: crate::free_port()?,
        })
    }

    pub fn port(self) -> u16 {
        self.port
    }

    /// The `-netdev` value of the listening end, as netdev `id`.
    pub fn listen_netdev(self, id: &str) -> String {
        self.netdev(id, "on")
    }

    /// The `-netdev` value of the connecting end, as netdev `id`.
    pub fn connect_netdev(self, id: &str) -> String {
        self.netdev(id, "off")
    }

    fn netdev(self, id: &str, server: &str) -> String {
        format!(
            "stream,id={id},server={server},addr.type=inet,addr.host=127.0.0.1,addr.port={}",
            self.port
        )
    }
}
