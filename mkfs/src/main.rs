//! `mkfs OUT.img [--size BLOCKS] [--inodes N] FILE...`: builds an xv6 file system holding
//! each FILE in its root directory (see `mkfs::parse_file_arg` for the names).
//!
//! The image is built in memory and written to a temporary file renamed over OUT.img, so a
//! failed run never leaves a partial image behind.

use mkfs::{Builder, Layout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{fs, process};

const USAGE: &str = "usage: mkfs OUT.img [--size BLOCKS] [--inodes N] FILE[=NAME]...";

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(summary) => {
            println!("mkfs: {summary}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("mkfs: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Builds and writes the image; returns a one-line summary or the error message.
fn run(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    let mut layout = Layout::default();
    let mut out = None;
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--size" => layout.size = number(&arg, args.next())?,
            "--inodes" => layout.ninodes = number(&arg, args.next())?,
            "-h" | "--help" => return Ok(USAGE.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => files.push(arg),
        }
    }
    let out = out.ok_or(USAGE)?;

    let mut fsb = Builder::new(layout).map_err(|e| e.to_string())?;
    for arg in &files {
        let (path, name) = mkfs::parse_file_arg(arg);
        let data = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        fsb.add_file(&name, &data)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    let used = fsb.blocks_used();
    write_atomically(&out, &fsb.finish()).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(format!(
        "{}: {} files, {used} of {} blocks used, {} inodes",
        out.display(),
        files.len(),
        layout.size,
        layout.ninodes
    ))
}

fn number(option: &str, value: Option<String>) -> Result<u32, String> {
    let value = value.ok_or_else(|| format!("{option} needs a number"))?;
    value
        .parse()
        .map_err(|_| format!("{option}: {value:?} is not a number"))
}

/// Writes `bytes` to a sibling temporary file, then renames it to `out`.
fn write_atomically(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", process::id()));
    let tmp = PathBuf::from(tmp);
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, out));
    if result.is_err() {
        // The temporary file may or may not exist; either way it must not stay.
        let _ = fs::remove_file(&tmp);
    }
    result
}
