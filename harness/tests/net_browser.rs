//! A real browser against the guest's web server, once per network card.
//!
//! The guest runs `httpd` behind a QEMU `hostfwd` on 127.0.0.1; headless Chromium (Debian's
//! `chromium`, which `.ci/run` installs) loads the home page and the network statistics page with
//! `--dump-dom`, and the test checks what the browser rendered: the titles and headings, and the
//! kernel's counters as real numbers (so an error page fails). Then Chromium takes a screenshot of
//! the statistics page, kept at `target/xv6net/screenshots/httpd-<nic>.png` (beside the log
//! directory), which must be a 1024x768 PNG.
//!
//! Chromium only ever sees `http://127.0.0.1:PORT/`: its own background services are switched
//! off, every host name but 127.0.0.1 resolves to nothing and no proxy is used, so nothing leaves
//! 127.0.0.1.
//! Each Chromium run gets a fresh profile and is killed, with its whole process group, after
//! [`BROWSER_TIMEOUT`].

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use harness::qemu::{Artifacts, Nic};
use harness::{Session, free_port};

/// One guest command: TCG on two busy cores is slow.
const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long httpd may take to answer its first request once it said it is serving.
const SERVE_TIMEOUT: Duration = Duration::from_secs(60);
/// One Chromium run (start, load, render, exit).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
/// The window, and so the screenshot, size.
const WIDTH: u32 = 1024;
const HEIGHT: u32 = 768;

/// Chromium's options for every run: headless, no sandbox (CI runs as root), and no traffic of its
/// own. Every host name but 127.0.0.1 resolves to nothing, so a background service
/// that was not switched off still cannot reach anything.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/// `chromium` on PATH.
fn chromium() -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .context(
            "chromium is not on PATH: install it with `apt-get install chromium` (.ci/run does)",
        )
}

/// What one Chromium run printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs Chromium with [`CHROMIUM_FLAGS`], a fresh profile, the window size and `args`, and
/// kills it (and every process it started) if it is not done within [`BROWSER_TIMEOUT`].
fn run_chromium(bin: &Path, args: &[String]) -> Result<Run> {
    let dir = tempfile::Builder::new()
        .prefix("xv6net-chromium-")
        .tempdir()?;
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new(bin);
    cmd.args(CHROMIUM_FLAGS)
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out)?)
        .stderr(File::create(&err)?)
        // Its own process group, so a timeout kills the renderer and helpers too.
        .process_group(0);
    eprintln!(
        "{}",
        harness::shell_words(&bin.to_string_lossy(), &os_args(&cmd))
    );
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let end = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > end {
            let pgid = child.id() as libc::pid_t;
            // SAFETY: kill(2) takes no pointers; the group is the one made for this child, which
            // is not reaped yet, so its id cannot name anyone else's group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            bail!(
                "chromium did not finish within {BROWSER_TIMEOUT:?}; its stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(100));
    };
    Ok(Run {
        status,
        stdout: std::fs::read_to_string(&out)?,
        stderr: std::fs::read_to_string(&err)?,
    })
}

fn os_args(cmd: &Command) -> Vec<std::ffi::OsString> {
    cmd.get_args().map(ToOwned::to_owned).collect()
}

/// The DOM Chromium rendered for `url`.
fn dump_dom(bin: &Path, url: &str) -> Result<String> {
    let run = run_chromium(bin, &["--dump-dom".into(), url.into()])?;
    ensure!(
        run.status.success() && !run.stdout.is_empty(),
        "chromium --dump-dom {url}: {}, stderr:\n{}",
        run.status,
        run.stderr
    );
    Ok(run.stdout)
}

/// One GET from the harness itself, `Connection: close`: (status code, body).
fn http_get(port: u16, path: &str) -> Result<(u32, String)> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let code = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {reply:?}"))?;
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, body.to_string()))
}

/// Polls `/` until httpd answers 200, within [`SERVE_TIMEOUT`]. slirp accepts the host's
/// connection before the guest does, so early attempts may see a reset or an empty answer.
fn wait_serving(port: u16) -> Result<()> {
    let end = Instant::now() + SERVE_TIMEOUT;
    let mut last = String::from("no attempt");
    while Instant::now() < end {
        match http_get(port, "/") {
            Ok((200, body)) if body.contains("<title>xv6net</title>") => return Ok(()),
            Ok((code, body)) => last = format!("{code}: {body:?}"),
            Err(e) => last = format!("{e:#}"),
        }
        thread::sleep(Duration::from_millis(500));
    }
    bail!("httpd did not serve / within {SERVE_TIMEOUT:?}; last answer: {last}")
}

/// The text of the first `<tag>` element in `dom`.
fn element<'a>(dom: &'a str, tag: &str) -> Option<&'a str> {
    let start = dom.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = dom[start..].find(&format!("</{tag}>"))?;
    Some(dom[start..start + len].trim())
}

/// The value cell of the statistics table's row `name`.
fn stat<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("<td>{name}</td><td>");
    let start = dom.find(&key)? + key.len();
    let len = dom[start..].find("</td>")?;
    Some(&dom[start..start + len])
}

/// Checks the rendered statistics page: its heading and the kernel's counters.
fn check_stats(dom: &str) -> Result<()> {
    ensure!(
        element(dom, "title") == Some("xv6net stats")
            && element(dom, "h1") == Some("Network statistics"),
        "not the statistics page:\n{dom}"
    );
    let number = |name: &str| -> Result<u64> {
        stat(dom, name)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no number for {name:?} in:\n{dom}"))
    };
    // The browser's own requests went in and the pages came out, so these cannot be zero.
    for name in [
        "rx frames",
        "rx bytes",
        "tx frames",
        "tx bytes",
        "uptime (ticks)",
    ] {
        ensure!(number(name)? > 0, "{name} is 0 in:\n{dom}");
    }
    ensure!(
        number("rx bytes")? >= number("rx frames")? * 42,
        "fewer rx bytes than minimal frames:\n{dom}"
    );
    for name in ["interrupts", "drops: malformed", "drops: queue full"] {
        number(name)?;
    }
    ensure!(
        stat(dom, "address") == Some("10.0.2.15/24"),
        "guest address in:\n{dom}"
    );
    Ok(())
}

/// Where the screenshot of `nic`'s run goes: `screenshots/` beside the log directory
/// (`target/xv6net/screenshots` under `cargo xtask test`).
fn screenshot_path(nic: Nic) -> PathBuf {
    let logs = Artifacts::from_env().log_dir;
    logs.parent()
        .unwrap_or(&logs)
        .join("screenshots")
        .join(format!("httpd-{}.png", nic.name()))
}

/// Checks that `png` is a PNG of the window's size and not an empty page.
fn check_png(png: &[u8]) -> Result<()> {
    ensure!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.get(12..16) == Some(b"IHDR"),
        "not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    ensure!(
        (be(16), be(20)) == (WIDTH, HEIGHT),
        "the PNG is {}x{}, want {WIDTH}x{HEIGHT}",
        be(16),
        be(20)
    );
    // A blank page of this size compresses to a few KB; text and a table take more.
    ensure!(
        (12 << 10..8 << 20).contains(&png.len()),
        "implausible PNG size: {} bytes",
        png.len()
    );
    Ok(())
}

fn browse(nic: Nic) -> Result<()> {
    let bin = chromium()?;
    let port = free_port()?;
    let netdev = format!("user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:80");
    let mut q = Session::builder(&format!("net_browser_{}", nic.name()))
        .nic(nic, netdev)
        .boot()?;
    q.send_line("httpd &")?;
    q.expect("httpd: serving / on port 80", CMD_TIMEOUT)?;
    if let Err(e) = wait_serving(port) {
        return Err(q.fail(&format!("{e:#}")));
    }

    let base = format!("http://127.0.0.1:{port}");
    let home = dump_dom(&bin, &format!("{base}/")).map_err(|e| q.fail(&format!("{e:#}")))?;
    if element(&home, "title") != Some("xv6net")
        || element(&home, "h1") != Some("xv6net")
        || !home.contains(r#"<a href="/stats">"#)
    {
        return Err(q.fail(&format!("the home page rendered as:\n{home}")));
    }
    let stats = dump_dom(&bin, &format!("{base}/stats")).map_err(|e| q.fail(&format!("{e:#}")))?;
    if let Err(e) = check_stats(&stats) {
        return Err(q.fail(&format!("{e:#}")));
    }

    let shot = screenshot_path(nic);
    std::fs::create_dir_all(shot.parent().expect("has a parent"))?;
    // An old screenshot must not pass for this run's.
    let _ = std::fs::remove_file(&shot);
    let run = run_chromium(
        &bin,
        &[
            format!("--screenshot={}", shot.display()),
            format!("{base}/stats"),
        ],
    )
    .map_err(|e| q.fail(&format!("{e:#}")))?;
    let png = std::fs::read(&shot).with_context(|| {
        format!(
            "chromium ({}) wrote no {}; stderr:\n{}",
            run.status,
            shot.display(),
            run.stderr
        )
    })?;
    check_png(&png).with_context(|| shot.display().to_string())?;
    eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());
    Ok(())
}

#[test]
#[ignore = "boots QEMU and runs chromium: run by `cargo xtask test`"]
fn net_browser_e1000() -> Result<()> {
    browse(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU and runs chromium: run by `cargo xtask test`"]
fn net_browser_virtio() -> Result<()> {
    browse(Nic::Virtio)
}

#[test]
fn stats_cells_are_found() {
    let dom = "<html><head><title>xv6net stats</title></head><body><h1>Network statistics</h1>\
               <table><tbody><tr><td>address</td><td>10.0.2.15/24</td></tr>\
               <tr><td>rx frames</td><td>12</td></tr><tr><td>rx bytes</td><td>3000</td></tr>\
               <tr><td>tx frames</td><td>9</td></tr><tr><td>tx bytes</td><td>4000</td></tr>\
               <tr><td>interrupts</td><td>20</td></tr><tr><td>drops: malformed</td><td>0</td></tr>\
               <tr><td>drops: queue full</td><td>0</td></tr>\
               <tr><td>uptime (ticks)</td><td>77</td></tr></tbody></table></body></html>";
    check_stats(dom).unwrap();
    assert_eq!(stat(dom, "rx frames"), Some("12"));
    assert!(check_stats(&dom.replace("<td>12</td>", "<td>?</td>")).is_err());
    let not_found = "<html><head></head><body><h1>404 Not Found</h1><p>stats</p></body></html>";
    assert!(check_stats(not_found).is_err());
}

#[test]
fn png_header_is_checked() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(WIDTH.to_be_bytes());
    png.extend(HEIGHT.to_be_bytes());
    png.resize(20_000, 0);
    check_png(&png).unwrap();
    png[16..20].copy_from_slice(&800u32.to_be_bytes());
    assert!(check_png(&png).is_err());
    assert!(check_png(b"<html>").is_err());
}
