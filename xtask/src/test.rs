//! `cargo xtask test`: everything CI checks, in order, going on after a failure so one run reports
//! all problems.
//!
//! 1. `cargo fmt --all --check`
//! 2. `cargo clippy --all-targets -- -D warnings` (host crates), then the same for the riscv
//!    crates, `kernel` and `user`, with every `unsafe` block required to say why it is sound
//!    (`clippy::undocumented_unsafe_blocks`) and every `unsafe fn` to state its contract
//!    (`safety_docs`)
//! 3. `cargo test --no-fail-fast` (host crates; the in-QEMU tests are `#[ignore]`d there, since
//!    they need step 4)
//! 4. `cargo xtask build`
//! 5. the in-QEMU tests: `cargo test --release --no-fail-fast -p harness --test '*' --
//!    --include-ignored --test-threads=1`, told where the build products are through `XV6NET_*`
//!    variables
//!
//! The last line is `N passed, N failed`: N counts tests from every libtest summary, plus one
//! failure for each step that failed without a failing test (formatting, lint, a build error).

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result};

use crate::BuildOpts;
use crate::cmd::{self, Paths, RISCV_TARGET};

/// Test counts from libtest's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    passed: u32,
    failed: u32,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

pub fn run() -> Result<ExitCode> {
    let paths = Paths::new()?;
    let mut total = Counts::default();
    let mut failed_steps = Vec::new();
    let mut step = |name: &str, result: Result<Counts>| match result {
        Ok(counts) => total += counts,
        Err(e) => {
            eprintln!("xtask test: {name} failed: {e:#}");
            failed_steps.push(name.to_string());
        }
    };

    step(
        "fmt",
        checked(paths.cargo().args(["fmt", "--all", "--check"])),
    );
    step(
        "clippy",
        checked(
            paths
                .cargo()
                .args(["clippy", "--all-targets", "--", "-D", "warnings"]),
        ),
    );
    // The riscv crates are not default members, so the step above skips them, yet they hold
    // nearly all the unsafe code. Same profile and target as `cargo xtask build` (its LTO
    // settings only matter for code generation, which clippy does not do).
    step(
        "riscv clippy",
        crate::build::ensure_target()
            .and_then(|()| checked(&mut riscv_clippy(&paths)))
            .and_then(|counts| {
                let missing = crate::safety_docs::undocumented(&paths.root)?;
                if !missing.is_empty() {
                    anyhow::bail!(
                        "unsafe fns without a `# Safety` section:\n{}",
                        missing.join("\n")
                    );
                }
                Ok(counts)
            }),
    );
    // --no-fail-fast: without it cargo stops at the first failing test binary and hides the rest.
    step(
        "host tests",
        cargo_test(paths.cargo().args(["test", "--no-fail-fast"])),
    );

    match crate::qemu::ensure_qemu().and_then(|()| crate::build::build(&BuildOpts::default())) {
        Ok(paths) => step("qemu tests", qemu_tests(&paths)),
        Err(e) => step("build", Err(e)),
    }

    let failed = total.failed + failed_steps.len() as u32;
    if !failed_steps.is_empty() {
        println!("failed steps: {}", failed_steps.join(", "));
    }
    println!("{} passed, {failed} failed", total.passed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cargo clippy` for the kernel and the user programs, as `cargo xtask build` builds them.
fn riscv_clippy(paths: &Paths) -> Command {
    let mut cmd = paths.cargo();
    cmd.args([
        "clippy",
        "--release",
        "--target",
        RISCV_TARGET,
        "-p",
        "kernel",
        "-p",
        "user",
        "--",
        "-D",
        "warnings",
        "-D",
        "clippy::undocumented_unsafe_blocks",
    ]);
    cmd
}

/// Runs the in-QEMU tests against the products of the build.
fn qemu_tests(paths: &Paths) -> Result<Counts> {
    // Logs of an earlier run would be mistaken for this run's failures.
    let _ = std::fs::remove_dir_all(paths.logs());
    let mut cmd = paths.cargo();
    cmd.args([
        "test",
        "--release",
        "--no-fail-fast",
        "-p",
        "harness",
        "--test",
        "*",
        "--",
    ])
    .args(["--include-ignored", "--test-threads=1"])
    .env("XV6NET_KERNEL", paths.kernel())
    .env("XV6NET_MKFS", paths.mkfs())
    .env("XV6NET_MKFS_ARGS", paths.mkfs_args())
    .env("XV6NET_LOG_DIR", paths.logs())
    // A failing test's error already carries the console tail; anyhow's backtrace of the
    // harness would only bury it (RUST_BACKTRACE still applies to panics).
    .env("RUST_LIB_BACKTRACE", "0");
    cargo_test(&mut cmd)
}

/// Runs a check that has no test counts.
fn checked(cmd: &mut Command) -> Result<Counts> {
    cmd::run(cmd).map(|()| Counts::default())
}

/// Runs a `cargo test` command, copying its output through to our stdout as it comes, and returns
/// the summed counts of its `test result:` lines. A failing command with no failed test is an
/// error.
fn cargo_test(cmd: &mut Command) -> Result<Counts> {
    cargo_test_to(cmd, &mut std::io::stdout())
}

/// [`cargo_test`] with the output copied to `out`.
fn cargo_test_to(cmd: &mut Command, out: &mut impl Write) -> Result<Counts> {
    println!("$ {}", cmd::show(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stdout.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        // Passed through unbuffered: a test that runs for minutes shows its name while it runs.
        out.write_all(&chunk[..n])?;
        out.flush()?;
        seen.extend_from_slice(&chunk[..n]);
    }
    let status = child.wait()?;
    let counts = parse_results(&String::from_utf8_lossy(&seen));
    if !status.success() && counts.failed == 0 {
        anyhow::bail!("`{}` failed ({status})", cmd::show(cmd));
    }
    Ok(counts)
}

/// Sums libtest's `test result: ok. 3 passed; 1 failed; ...` lines.
fn parse_results(output: &str) -> Counts {
    let mut total = Counts::default();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "passed" => total.passed += n,
                "failed" => total.failed += n,
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_summed_over_test_binaries() {
        let out = "\
running 2 tests
test a ... ok
test b ... FAILED

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
   Doc-tests abi
test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 1.50s
";
        assert_eq!(
            parse_results(out),
            Counts {
                passed: 13,
                failed: 1
            }
        );
    }

    #[test]
    fn other_lines_do_not_count() {
        assert_eq!(
            parse_results("test x ... ok\n3 passed, 4 failed\nresult: 1 passed;\n"),
            Counts::default()
        );
    }

    #[test]
    fn a_failing_command_without_failed_tests_is_an_error() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'test result: ok. 2 passed; 0 failed;'; exit 101",
        ]);
        // The output goes to a sink: on stdout, these lines would be counted by the
        // `cargo xtask test` that runs this test.
        assert!(cargo_test_to(&mut cmd, &mut std::io::sink()).is_err());
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'test result: FAILED. 2 passed; 1 failed;'; exit 101",
        ]);
        assert_eq!(
            cargo_test_to(&mut cmd, &mut std::io::sink()).unwrap(),
            Counts {
                passed: 2,
                failed: 1
            }
        );
    }
}
