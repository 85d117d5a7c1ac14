//! The kernel seen from its console: boot, the shell, the C fixture and xv6's usertests (quick).
//!
//! Each test boots its own machine (3 harts, 128M, its own disk). They are `#[ignore]`d so that a
//! plain `cargo test` stays a host-only run: `cargo xtask test` builds the kernel, the programs and
//! the image first, then runs them with `--include-ignored`. Timeouts are generous because QEMU
//! emulates three harts with TCG on a two-core machine that may be building at the same time.

use std::time::Duration;

use anyhow::{Result, ensure};
use harness::{Qemu, Session};

/// A shell command that does little work.
const CMD: Duration = Duration::from_secs(60);

/// The lines printed by running `line` at the shell, with trailing spaces removed: xv6's `wc`
/// ends its line with a space before the (empty) file name.
fn run_lines(q: &mut Qemu, line: &str) -> Result<Vec<String>> {
    let out = q.run(line, CMD)?;
    Ok(out.lines().map(|l| l.trim_end().to_string()).collect())
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn boots_to_shell() -> Result<()> {
    let mut q = Session::shell("boots_to_shell")?;
    assert_eq!(run_lines(&mut q, "echo hello xv6net")?, ["hello xv6net"]);

    let names: Vec<String> = run_lines(&mut q, "ls")?
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for expected in [".", "..", "README", "cat", "sh", "usertests"] {
        ensure!(
            names.iter().any(|n| n == expected),
            "ls does not list {expected}: {names:?}"
        );
    }

    assert_eq!(run_lines(&mut q, "echo hi | wc")?, ["1 1 3"]);

    q.halt()
}

/// A script exercising the shell's syntax: redirection, pipes, `;`, `&`, parentheses, `cd` in a
/// list, and error messages (on stderr, which is the console too). Each line is followed by what it
/// prints.
const SCRIPT: &[(&str, &[&str])] = &[
    ("echo one > f1", &[]),
    ("cat f1", &["one"]),
    ("cat f1 | wc", &["1 1 4"]),
    ("(echo a; echo b) | wc", &["2 2 4"]),
    ("echo x y z | grep y", &["x y z"]),
    ("mkdir d; cd d", &[]),
    ("echo inside > f2; cat f2", &["inside"]),
    ("cat < f2 | wc", &["1 1 7"]),
    ("cd ..", &[]),
    ("cat d/f2", &["inside"]),
    ("echo two > f1; echo three > f3", &[]),
    ("grep t f1 f3", &["two", "three"]),
    ("wc f1 f3", &["1 1 4 f1", "1 1 6 f3"]),
    ("rm f1", &[]),
    ("cat f1", &["cat: cannot open f1"]),
    ("ls nonexistent", &["ls: cannot open nonexistent"]),
    ("nosuchprogram", &["exec nosuchprogram failed"]),
    // The background job writes a file and prints nothing, so the output above stays in a fixed
    // order; the test checks the file afterwards.
    ("echo background > bg.txt &", &[]),
    ("echo end", &["end"]),
];

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn shell_script() -> Result<()> {
    let script: String = SCRIPT.iter().map(|(line, _)| format!("{line}\n")).collect();
    let expected: Vec<&str> = SCRIPT
        .iter()
        .flat_map(|(_, out)| out.iter().copied())
        .collect();
    let mut q = Session::builder("shell_script")
        .file("script.sh", script)
        .boot()?;

    assert_eq!(run_lines(&mut q, "sh script.sh")?, expected);

    // The background job may still be running: look for its file a few times.
    let mut last = Vec::new();
    for _ in 0..20 {
        last = run_lines(&mut q, "cat bg.txt")?;
        if last == ["background"] {
            return Ok(());
        }
    }
    Err(q.fail(&format!(
        "the background job never wrote bg.txt (last cat: {last:?})"
    )))
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn c_program_runs() -> Result<()> {
    let mut q = Session::shell("c_program_runs")?;
    let names = run_lines(&mut q, "ls")?;
    ensure!(
        names.iter().any(|l| l.starts_with("ctest ")),
        "ctest is not in the image: `cargo xtask build` needs a riscv C compiler \
         (apt-get install gcc-riscv64-linux-gnu)"
    );
    assert_eq!(run_lines(&mut q, "ctest")?, ["ctest: OK"]);
    Ok(())
}
