//! The `usertests` phase: xv6's full `usertests` (slow tests included, as the `usertests_full`
//! test runs it) at the shell of the standard test machine without a network card, timed from the
//! typed command to its verdict. It measures the kernel as a whole (processes, pipes, the file
//! system, memory), not the network. A run that does not pass is recorded as failed, with the
//! reason, rather than failing the benchmark.

use std::time::{Duration, Instant};

use anyhow::Result;
use harness::{Pattern, Qemu};

/// The configuration's name in reports: the standard machine, `-nic none`.
pub const CONFIG: &str = "no network card";
/// How long `usertests` may take to its verdict: the same bound as the `usertests_full` test.
pub const TIMEOUT: Duration = Duration::from_secs(1200);
/// At most this many failures are named in a reason.
const MAX_NAMED: usize = 5;

/// How one run of the phase ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `ALL TESTS PASSED`, this long after the command was typed.
    Passed(Duration),
    /// A test failed, the guest panicked, hung or could not boot: why, in one line.
    Failed(String),
}

/// One run of the phase.
#[derive(Clone, Debug, PartialEq)]
pub struct UsertestsRun {
    pub run: usize,
    pub outcome: Outcome,
}

impl UsertestsRun {
    /// The wall-clock seconds to the verdict, if the tests passed.
    pub fn seconds(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::Passed(d) => Some(d.as_secs_f64()),
            Outcome::Failed(_) => None,
        }
    }

    /// Why the run failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Passed(_) => None,
            Outcome::Failed(why) => Some(why),
        }
    }
}

/// Boots the standard machine, runs `usertests` and times it. Never fails: whatever went wrong is
/// the [`Outcome::Failed`] reason (the console log is kept, and the reason names it).
pub fn run_usertests() -> Outcome {
    match time_usertests() {
        Ok(elapsed) => Outcome::Passed(elapsed),
        Err(e) => Outcome::Failed(short_reason(&format!("{e:#}"))),
    }
}

fn time_usertests() -> Result<Duration> {
    let mut q = Qemu::builder("bench-usertests").spawn_shell()?;
    let start = Instant::now();
    q.send_line("usertests")?;
    let out = q.expect(Pattern::re("ALL TESTS PASSED|FAILED"), TIMEOUT)?;
    let elapsed = start.elapsed();
    if out.ends_with("FAILED") {
        // Let the program finish, so the reason and the log name every failure.
        let rest = q
            .expect("$ ", TIMEOUT.saturating_sub(elapsed))
            .unwrap_or_default();
        let failed = failures(&format!("{out}{rest}"));
        return Err(q.fail(&format!("usertests failed: {failed}")));
    }
    Ok(elapsed)
}

/// The failures in `usertests`' output, named: `test NAME: ... FAILED` gives NAME (its `FAILED`
/// may follow the test's own output on a later line), the free-page and heap checks give their
/// whole `FAILED -- ...` line. At most [`MAX_NAMED`], then how many more.
pub fn failures(text: &str) -> String {
    let mut current: Option<&str> = None;
    let mut named: Vec<&str> = Vec::new();
    for line in text.lines() {
        let mut rest = line.trim_end_matches('\r');
        if let Some((name, after)) = rest.strip_prefix("test ").and_then(|r| r.split_once(": ")) {
            current = Some(name);
            rest = after;
        }
        let rest = rest.trim();
        if rest == "SOME TESTS FAILED" || !rest.contains("FAILED") {
            continue;
        }
        let what = match current {
            Some(name) if !rest.starts_with("FAILED --") => name,
            _ => rest,
        };
        if !named.contains(&what) {
            named.push(what);
        }
    }
    match named.len() {
        0 => "no failing test named in the output".into(),
        n if n <= MAX_NAMED => named.join(", "),
        n => format!(
            "{} and {} more",
            named[..MAX_NAMED].join(", "),
            n - MAX_NAMED
        ),
    }
}

/// One line out of an error of the harness: its first line (what went wrong, without the console
/// tail and the harts that follow), and the kept log if the error names one.
pub fn short_reason(error: &str) -> String {
    let first = error.lines().next().unwrap_or("").trim();
    let log = error.lines().find_map(|l| {
        l.trim()
            .strip_prefix("--- full log: ")
            .and_then(|l| l.strip_suffix(" ---"))
    });
    match log {
        Some(path) => format!("{first} (log: {path})"),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_failing_tests_and_checks() {
        let out = "usertests starting\ntest copyin: OK\ntest sbrkbugs: FAILED\n\
                   test forkfork: child said hello\nsomething went wrong\nFAILED\n\
                   test exitwait: OK\nFAILED -- lost some free pages 3 (out of 30000)\n\
                   SOME TESTS FAILED\n$ ";
        assert_eq!(
            failures(out),
            "sbrkbugs, forkfork, FAILED -- lost some free pages 3 (out of 30000)"
        );
    }

    #[test]
    fn failures_are_counted_beyond_the_first_few() {
        let out: String = (0..8).map(|i| format!("test t{i}: FAILED\r\n")).collect();
        assert_eq!(failures(&out), "t0, t1, t2, t3, t4 and 3 more");
        assert_eq!(
            failures("test a: FAILED\nFAILED\n"),
            "a",
            "one test's FAILED once"
        );
        assert_eq!(failures("garbage"), "no failing test named in the output");
    }

    #[test]
    fn reasons_are_one_line_with_the_log() {
        let err = "timed out after 1200s waiting for /ALL TESTS PASSED|FAILED/\n\
                   --- last 2000 bytes of output ---\ntest x: \n\
                   --- full log: /t/logs/bench-usertests.log ---\n\
                   --- where the harts are ---\nhart 0 ...";
        assert_eq!(
            short_reason(err),
            "timed out after 1200s waiting for /ALL TESTS PASSED|FAILED/ \
             (log: /t/logs/bench-usertests.log)"
        );
        assert_eq!(short_reason("no such file\n"), "no such file");
    }

    #[test]
    fn runs_give_seconds_or_a_reason() {
        let ok = UsertestsRun {
            run: 1,
            outcome: Outcome::Passed(Duration::from_millis(152_500)),
        };
        assert_eq!(ok.seconds(), Some(152.5));
        assert_eq!(ok.failure(), None);
        let bad = UsertestsRun {
            run: 2,
            outcome: Outcome::Failed("why".into()),
        };
        assert_eq!(bad.seconds(), None);
        assert_eq!(bad.failure(), Some("why"));
    }
}
