//! The console of a child process, driven like a person at a terminal.
//!
//! A [`Console`] owns a spawned child whose stdin and stdout/stderr are pipes. Two reader threads
//! append everything the child prints to one shared buffer (and to a log file), so nothing is lost
//! while the test is busy elsewhere. The test reads that buffer through a cursor:
//! [`Console::expect`] waits for a pattern after the cursor and moves the cursor past the match, so
//! each expectation sees only new output.
//!
//! Nothing here knows about QEMU: the unit tests drive `sh -c` children, and `crate::Qemu` adds
//! xv6's conventions (console echo, boot images) on top.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use regex::bytes::Regex;

/// How much console output an error message carries: enough to see the last few commands and a
/// kernel panic's message, small enough to read in a test report.
pub const TAIL_BYTES: usize = 3000;

/// The marker of a kernel (or user library) panic at the start of a line. Once it appears, the
/// output that was expected will not come, so waiting for the timeout would only waste minutes.
const PANIC_MARKER: &[u8] = b"panic:";

/// How long to keep reading after a panic line appears, so the error shows the whole message.
const PANIC_GRACE: Duration = Duration::from_millis(500);

/// What [`Console::expect`] waits for: literal text or a regular expression over the output bytes.
#[derive(Clone, Debug)]
pub struct Pattern {
    regex: Regex,
    shown: String,
}

impl Pattern {
    /// A regular expression (the `regex` crate's syntax, e.g. `(?m)^1 1 3$`).
    ///
    /// # Panics
    /// If `re` is not a valid expression: patterns are written in tests, so a bad one is a bug
    /// there.
    pub fn re(re: &str) -> Pattern {
        let regex = Regex::new(re).unwrap_or_else(|e| panic!("bad pattern {re:?}: {e}"));
        Pattern {
            regex,
            shown: format!("/{re}/"),
        }
    }

    /// Text that must appear exactly.
    pub fn literal(text: &str) -> Pattern {
        Pattern {
            regex: Regex::new(&regex::escape(text)).expect("an escaped literal is a valid regex"),
            shown: format!("{text:?}"),
        }
    }
}

impl From<&str> for Pattern {
    fn from(text: &str) -> Pattern {
        Pattern::literal(text)
    }
}

impl From<&String> for Pattern {
    fn from(text: &String) -> Pattern {
        Pattern::literal(text)
    }
}

/// State shared with the reader threads.
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever `state` changes (new bytes or a closed stream).
    changed: Condvar,
}

struct State {
    /// Everything the child printed, without `\r` (see [`Console::spawn`]).
    buf: Vec<u8>,
    /// Streams (stdout, stderr) not yet at end of file; 0 means the child is gone.
    open: usize,
    /// The log file, written as bytes arrive so a killed or hung run still leaves its log.
    log: Option<File>,
}

/// A running child process and its console output. Dropping it kills the child.
pub struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    /// Offset in the buffer where the next expectation starts looking.
    cursor: usize,
    log_path: Option<PathBuf>,
    /// Set when an operation failed, so the log is kept even if the test goes on or returns `Err`
    /// without panicking.
    failed: bool,
}

impl Console {
    /// Spawns `cmd` with piped stdin, stdout and stderr. Both output streams go into the same
    /// buffer; carriage returns are dropped so that patterns can use `\n` and `$` whatever the
    /// guest sends. If `log` is given, the output is also written there (after a first line with
    /// the command); the file is deleted on drop unless something failed.
    pub fn spawn(mut cmd: Command, log: Option<&Path>) -> Result<Console> {
        let args: Vec<OsString> = cmd.get_args().map(OsString::from).collect();
        let shown = crate::shell_words(&cmd.get_program().to_string_lossy(), &args);
        let log_file = match log {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let mut f =
                    File::create(path).with_context(|| format!("creating {}", path.display()))?;
                writeln!(f, "$ {shown}")?;
                Some(f)
            }
            None => None,
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {shown}"))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::new(),
                open: 2,
                log: log_file,
            }),
            changed: Condvar::new(),
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            spawn_reader(stdout, Arc::clone(&shared)),
            spawn_reader(stderr, Arc::clone(&shared)),
        ];
        Ok(Console {
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
            cursor: 0,
            log_path: log.map(Path::to_path_buf),
            failed: false,
        })
    }

    /// Waits until `pattern` appears after the cursor, moves the cursor past the match and returns
    /// the output from the old cursor to the end of the match.
    ///
    /// Fails early, without waiting for the timeout, when a line starting with `panic:` appears
    /// before the match or when the child exits. The error carries the last [`TAIL_BYTES`] of
    /// output.
    pub fn expect(&mut self, pattern: impl Into<Pattern>, timeout: Duration) -> Result<String> {
        let pattern = pattern.into();
        let deadline = Instant::now() + timeout;
        // A clone, so the guard does not borrow `self` while the cursor moves.
        let shared = Arc::clone(&self.shared);
        let mut state = shared.state.lock().expect("console lock poisoned");
        loop {
            let region = &state.buf[self.cursor..];
            let found = pattern.regex.find(region).map(|m| m.end());
            let panic_at = find_panic(&state.buf, self.cursor);
            match (found, panic_at) {
                (Some(end), p) if p.is_none_or(|p| end <= p) => {
                    let text = String::from_utf8_lossy(&region[..end]).into_owned();
                    self.cursor += end;
                    return Ok(text);
                }
                (_, Some(_)) => {
                    drop(state);
                    self.settle(PANIC_GRACE);
                    return Err(self.fail(&format!("panic while waiting for {}", pattern.shown)));
                }
                _ => {}
            }
            if state.open == 0 {
                drop(state);
                let status = self.child.wait().ok().map(describe);
                let status = status.unwrap_or_else(|| "unknown status".into());
                return Err(self.fail(&format!(
                    "process exited ({status}) while waiting for {}",
                    pattern.shown
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                return Err(self.fail(&format!(
                    "timed out after {timeout:?} waiting for {}",
                    pattern.shown
                )));
            }
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .expect("console lock poisoned")
                .0;
        }
    }

    /// Types `line` and a newline.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}\n").as_bytes())
    }

    /// Writes raw bytes to the child's stdin.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        result.map_err(|e| self.fail(&format!("typing {:?}: {e}", String::from_utf8_lossy(bytes))))
    }

    /// Waits up to `timeout` for the child to exit and returns its exit status, or `None` if it is
    /// still running. A child killed by signal N reports 128 + N, as shells do.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(exit_code(status)),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    self.failed = true;
                    return None;
                }
            }
        }
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the child printed so far (lossily decoded).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.lock().buf).into_owned()
    }

    /// The last [`TAIL_BYTES`] of output (lossily decoded).
    pub fn tail(&self) -> String {
        let state = self.lock();
        let start = state.buf.len().saturating_sub(TAIL_BYTES);
        String::from_utf8_lossy(&state.buf[start..]).into_owned()
    }

    /// Marks the run as failed (the log is kept) and builds an error with `what` and the output
    /// tail.
    pub fn fail(&mut self, what: &str) -> anyhow::Error {
        self.failed = true;
        let log = match &self.log_path {
            Some(path) => format!("\n--- full log: {} ---", path.display()),
            None => String::new(),
        };
        anyhow!(
            "{what}\n--- last {TAIL_BYTES} bytes of output ---\n{}{log}",
            self.tail()
        )
    }

    /// Waits `grace` for more output, so an error shows the rest of a message being printed.
    fn settle(&self, grace: Duration) {
        let state = self.lock();
        let _unused = self
            .shared
            .changed
            .wait_timeout_while(state, grace, |s| s.open > 0)
            .expect("console lock poisoned");
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("console lock poisoned")
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // Closing stdin first lets a well-behaved child see EOF; the kill covers the rest.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if let Some(path) = &self.log_path {
            if self.failed || thread::panicking() {
                eprintln!("console log kept at {}", path.display());
            } else {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Copies one output stream of the child into the shared buffer until end of file.
fn spawn_reader(mut stream: impl Read + Send + 'static, shared: Arc<Shared>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).unwrap_or(0);
            let mut state = shared.state.lock().expect("console lock poisoned");
            if n == 0 {
                state.open -= 1;
                shared.changed.notify_all();
                return;
            }
            let bytes: Vec<u8> = chunk[..n].iter().copied().filter(|&b| b != b'\r').collect();
            state.buf.extend_from_slice(&bytes);
            if let Some(log) = state.log.as_mut() {
                // A log write error must not stop the console: the buffer is what tests read.
                let _ = log.write_all(&bytes);
            }
            shared.changed.notify_all();
        }
    })
}

/// The offset of the first line at or after `from` that starts with [`PANIC_MARKER`].
fn find_panic(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len())
        .find(|&i| (i == 0 || buf[i - 1] == b'\n') && buf[i..].starts_with(PANIC_MARKER))
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn describe(status: ExitStatus) -> String {
    format!("exit status {}", exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_secs(5);

    /// Runs `script` under `sh`. Scripts end in `exec sleep` rather than `sleep`: a kill reaches
    /// only the direct child, and a grandchild holding the pipes would delay the end of output.
    fn sh(script: &str) -> Console {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        Console::spawn(cmd, None).expect("spawn sh")
    }

    #[test]
    fn expect_moves_the_cursor_past_each_match() {
        let mut c = sh("echo one; echo two; echo one; exec sleep 5");
        assert_eq!(c.expect("one", SHORT).unwrap(), "one");
        assert_eq!(c.expect("one", SHORT).unwrap(), "\ntwo\none");
        assert!(c.expect("one", Duration::from_millis(200)).is_err());
    }

    #[test]
    fn expect_waits_for_late_output() {
        let mut c = sh("sleep 0.3; echo late; exec sleep 5");
        assert!(c.expect("late", SHORT).unwrap().ends_with("late"));
    }

    #[test]
    fn regex_patterns_anchor_on_lines_and_ignore_carriage_returns() {
        let mut c = sh(r"printf '$ echo 1 1 3\r\n1 1 3\r\n'; exec sleep 5");
        let text = c.expect(Pattern::re(r"(?m)^1 1 3$"), SHORT).unwrap();
        assert_eq!(text, "$ echo 1 1 3\n1 1 3");
    }

    #[test]
    fn timeout_error_carries_the_output_tail() {
        let mut c = sh("echo something else; exec sleep 5");
        let err = c.expect("never", Duration::from_millis(300)).unwrap_err();
        let msg = format!("{err}");
        assert!(msg.contains("timed out"), "{msg}");
        assert!(msg.contains("something else"), "{msg}");
    }

    #[test]
    fn tail_is_bounded() {
        let mut c = sh("head -c 10000 /dev/zero | tr '\\0' x; echo; echo end; exec sleep 5");
        c.expect("end", SHORT).unwrap();
        assert_eq!(c.tail().len(), TAIL_BYTES);
        let msg = format!(
            "{}",
            c.expect("never", Duration::from_millis(100)).unwrap_err()
        );
        assert!(msg.len() < TAIL_BYTES + 200, "{}", msg.len());
    }

    #[test]
    fn a_panic_line_fails_at_once() {
        let mut c = sh("echo booting; echo 'panic: kerneltrap'; exec sleep 30");
        let start = Instant::now();
        let err = c.expect("$ ", Duration::from_secs(30)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(format!("{err}").contains("panic: kerneltrap"), "{err}");
    }

    #[test]
    fn panic_inside_a_line_is_not_a_panic() {
        let mut c = sh("echo 'test dont-panic: OK'; echo done; exec sleep 5");
        c.expect("done", SHORT).unwrap();
    }

    #[test]
    fn a_match_before_the_panic_line_still_succeeds() {
        let mut c = sh("echo ready; echo 'panic: later'; exec sleep 5");
        c.expect("ready", SHORT).unwrap();
        assert!(c.expect("never", SHORT).is_err());
    }

    #[test]
    fn exit_of_the_child_fails_at_once() {
        let mut c = sh("echo bye; exit 3");
        let start = Instant::now();
        let err = c.expect("never", Duration::from_secs(30)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(format!("{err}").contains("exit status 3"), "{err}");
    }

    #[test]
    fn send_line_reaches_the_child() {
        let mut c = sh("read line; echo \"got <$line>\"; exec sleep 5");
        c.send_line("hello there").unwrap();
        c.expect("got <hello there>", SHORT).unwrap();
    }

    #[test]
    fn wait_exit_reports_status_or_none() {
        let mut c = sh("read x; exit $x");
        assert_eq!(c.wait_exit(Duration::from_millis(200)), None);
        c.send_line("7").unwrap();
        assert_eq!(c.wait_exit(SHORT), Some(7));
    }

    #[test]
    fn drop_kills_the_child() {
        let c = sh("exec sleep 60");
        let start = Instant::now();
        drop(c);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn log_is_deleted_on_success_and_kept_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("logs/ok.log");
        let bad = dir.path().join("logs/bad.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo fine; exec sleep 5"]);
        let mut c = Console::spawn(cmd, Some(&ok)).unwrap();
        c.expect("fine", SHORT).unwrap();
        assert!(ok.exists());
        drop(c);
        assert!(!ok.exists());

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo broken; exec sleep 5"]);
        let mut c = Console::spawn(cmd, Some(&bad)).unwrap();
        let err = c.expect("fine", Duration::from_millis(200)).unwrap_err();
        assert!(format!("{err}").contains(&bad.display().to_string()));
        drop(c);
        let log = std::fs::read_to_string(&bad).unwrap();
        assert!(log.starts_with("$ "), "{log}");
        assert!(log.contains("broken"), "{log}");
    }
}
