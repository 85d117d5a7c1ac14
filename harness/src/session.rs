//! One test's machine from boot to power-off: the scaffolding every QEMU test shares.
//!
//! [`Session::builder`] names the test (its console log, `NAME.log`, and its capture,
//! `NAME.pcap`, in the log directory), optionally gives the machine a network card on netdev
//! `net0` with a capture of it (`-object filter-dump`, in the machine's directory), and collects
//! the kernel's command line. [`Session::wait_boot`] waits for the shell's first prompt and, with
//! a card, checks the kernel's `net: NAME mac MAC` line. A session can note failures and go on,
//! so that one run reports all of them ([`Session::finish`]); a failed run keeps its console log
//! and its capture. A session derefs to its [`Qemu`].

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::Qemu;
use crate::qemu::{Artifacts, BOOT_TIMEOUT, Nic, QemuBuilder};

/// QEMU's default MAC address, which a card has unless given another.
pub const DEFAULT_MAC: &str = "52:54:00:12:34:56";

/// How long `halt` may take to power the machine off.
const HALT_TIMEOUT: Duration = Duration::from_secs(20);

/// The file name of a card's capture in the machine's directory.
const PCAP: &str = "net.pcap";

/// The guest's memory as `free` shows it: `free: N pages, N KiB` and `heap: N bytes in use`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Free physical pages.
    pub pages: i64,
    /// Bytes of the kernel heap in use.
    pub heap: u64,
}

impl Memory {
    pub fn parse(out: &str) -> Option<Memory> {
        let after = |prefix: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))?
                .split_whitespace()
                .next()
        };
        Some(Memory {
            pages: after("free:")?.parse().ok()?,
            heap: after("heap:")?.parse().ok()?,
        })
    }
}

/// Options for one session; [`spawn`](Self::spawn) or [`boot`](Self::boot) starts it.
pub struct SessionBuilder {
    name: String,
    qemu: QemuBuilder,
    card: Option<(Nic, String)>,
    append: Vec<String>,
}

impl SessionBuilder {
    /// A network card `nic` with QEMU's default MAC on the `-netdev` value `netdev` (whose id
    /// must be `net0`), captured to `net.pcap`.
    pub fn nic(self, nic: Nic, netdev: impl Into<String>) -> Self {
        self.nic_with_mac(nic, DEFAULT_MAC, netdev)
    }

    /// [`nic`](Self::nic) with the address `mac`: machines on one link need their own.
    pub fn nic_with_mac(mut self, nic: Nic, mac: &str, netdev: impl Into<String>) -> Self {
        let device = if mac == DEFAULT_MAC {
            nic.device().to_string()
        } else {
            nic.device_with_mac(mac)
        };
        self.qemu = self.qemu.net([
            "-netdev".to_string(),
            netdev.into(),
            "-device".to_string(),
            device,
            "-object".to_string(),
            // Relative to the machine's own directory; copied to the logs if the test fails.
            format!("filter-dump,id=f0,netdev=net0,file={PCAP}"),
        ]);
        self.card = Some((nic, mac.to_string()));
        self
    }

    /// Adds `words` to the kernel's command line (`-append`).
    pub fn append(mut self, words: impl Into<String>) -> Self {
        self.append.push(words.into());
        self
    }

    /// Adds a file named `name` with `contents` to this test's image.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.qemu = self.qemu.file(name, contents);
        self
    }

    /// Starts the machine without waiting for it.
    pub fn spawn(self) -> Result<Session> {
        let mut qemu = self.qemu;
        if !self.append.is_empty() {
            qemu = qemu.arg("-append").arg(self.append.join(" "));
        }
        Ok(Session {
            q: qemu.spawn()?,
            name: self.name,
            card: self.card,
            failures: Vec::new(),
        })
    }

    /// [`spawn`](Self::spawn), then [`Session::wait_boot`].
    pub fn boot(self) -> Result<Session> {
        let mut s = self.spawn()?;
        s.wait_boot()?;
        Ok(s)
    }
}

/// One booted (or booting) test machine, and the failures its test noted so far.
pub struct Session {
    q: Qemu,
    name: String,
    card: Option<(Nic, String)>,
    failures: Vec<String>,
}

impl Session {
    /// A session for the test `name`, with the standard machine and no network.
    pub fn builder(name: &str) -> SessionBuilder {
        SessionBuilder {
            name: name.to_string(),
            qemu: Qemu::builder(name),
            card: None,
            append: Vec::new(),
        }
    }

    /// The standard machine with no network, booted to the shell's first prompt.
    pub fn shell(name: &str) -> Result<Session> {
        Session::builder(name).boot()
    }

    /// The test's name, which names its log and capture.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for init to start the shell and for its first prompt; with a card, checks that the
    /// kernel found it and printed its line (`net: NAME mac MAC irq N ring N`, ending in
    /// ` packed` for a card with packed virtqueues).
    pub fn wait_boot(&mut self) -> Result<()> {
        self.q.expect("init: starting sh", BOOT_TIMEOUT)?;
        self.q.expect("$ ", BOOT_TIMEOUT)?;
        let Some((nic, mac)) = &self.card else {
            return Ok(());
        };
        let out = self.q.output();
        if out.contains("net: no network card found") {
            return Err(self.q.fail(&format!(
                "the kernel found no network card (is the {} driver built in?)",
                nic.name()
            )));
        }
        let line = format!("net: {} mac {mac}", nic.kernel_name());
        let suffix = nic.layout_suffix();
        self.want_boot_line(&line)?;
        // The layout the card was asked for is the one the driver chose.
        let layout = regex::Regex::new(&format!(
            r"(?m)^{} irq \d+ ring \d+{}$",
            regex::escape(&line),
            regex::escape(suffix)
        ))?;
        if !layout.is_match(&self.q.output()) {
            return Err(self.q.fail(&format!(
                "the boot line {line:?} does not end in `ring N{suffix}`"
            )));
        }
        Ok(())
    }

    /// Fails unless the kernel printed `line` while booting.
    pub fn want_boot_line(&mut self, line: &str) -> Result<()> {
        if !self.q.output().contains(line) {
            return Err(self.q.fail(&format!("no {line:?} line at boot")));
        }
        Ok(())
    }

    /// Runs `line` at the shell and fails (keeping the log) unless its output contains every
    /// one of `want`.
    pub fn run_want(&mut self, line: &str, timeout: Duration, want: &[&str]) -> Result<String> {
        let out = self.q.run(line, timeout)?;
        for w in want {
            if !out.contains(w) {
                return Err(self.q.fail(&format!("`{line}`: no {w:?} in:\n{out}")));
            }
        }
        Ok(out)
    }

    /// The number of free pages `free` prints.
    pub fn free_pages(&mut self, timeout: Duration) -> Result<i64> {
        Ok(self.memory(timeout)?.pages)
    }

    /// What `free` prints: free pages and kernel heap bytes in use.
    pub fn memory(&mut self, timeout: Duration) -> Result<Memory> {
        let out = self.q.run("free", timeout)?;
        Memory::parse(&out).with_context(|| format!("unexpected `free` output {out:?}"))
    }

    /// Notes a failure; the test goes on and [`finish`](Self::finish) reports it.
    pub fn note(&mut self, failure: impl Into<String>) {
        self.failures.push(failure.into());
    }

    /// The failures noted so far.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Takes back the failures noted since there were `len` (to retry what failed).
    pub fn take_failures_from(&mut self, len: usize) -> Vec<String> {
        self.failures.split_off(len)
    }

    /// Types `halt` and checks that the machine powers off.
    pub fn halt(&mut self) -> Result<()> {
        self.q.send_line("halt")?;
        ensure!(
            self.q.wait_exit(HALT_TIMEOUT) == Some(0),
            "halt did not power off"
        );
        Ok(())
    }

    /// Powers off if no failure was noted; otherwise reports them all, keeping the console log
    /// and the capture.
    pub fn finish(mut self) -> Result<()> {
        if self.failures.is_empty() {
            return self.halt();
        }
        let msg = self.failures.join("\n\n");
        self.keep_pcap();
        Err(self.q.fail(&msg))
    }

    /// The test stopped early with `e`: keeps the log and the capture and returns `e` with the
    /// failures noted before it and the console's tail.
    pub fn abort(&mut self, e: anyhow::Error) -> anyhow::Error {
        self.keep_pcap();
        if self.failures.is_empty() {
            return self.q.fail(&format!("{e:#}"));
        }
        let earlier = self.failures.join("\n\n");
        self.q
            .fail(&format!("{e:#}\n\nearlier failures:\n{earlier}"))
    }

    /// Copies the card's capture next to the console log, as `NAME.pcap`.
    pub fn keep_pcap(&self) {
        if self.card.is_none() {
            return;
        }
        let logs = Artifacts::from_env().log_dir;
        let to = logs.join(format!("{}.pcap", self.name));
        if std::fs::create_dir_all(&logs).is_ok()
            && std::fs::copy(self.q.dir().join(PCAP), &to).is_ok()
        {
            eprintln!("pcap kept at {}", to.display());
        }
    }

    /// Turns `self` into its error when `r` failed (see [`abort`](Self::abort)).
    pub fn check<T>(&mut self, r: Result<T>) -> Result<T> {
        r.map_err(|e| self.abort(e))
    }
}

impl Deref for Session {
    type Target = Qemu;

    fn deref(&self) -> &Qemu {
        &self.q
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Qemu {
        &mut self.q
    }
}

#[cfg(test)]
mod tests {
    use super::Memory;

    #[test]
    fn free_output_parses() {
        let out = "free: 31000 pages, 124000 KiB\nheap: 524288 bytes in use\n";
        assert_eq!(
            Memory::parse(out),
            Some(Memory {
                pages: 31000,
                heap: 524288
            })
        );
        assert_eq!(Memory::parse("free: 31000 pages, 124000 KiB\n"), None);
    }
}
