//! Binary tests: `mkfs` as xtask runs it, checked by exit code, message and output file.

use abi::fs::{BSIZE, MAXFILE};
use mkfs::Image;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch directory per test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mkfs-cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("user")).unwrap();
        Scratch(dir)
    }

    fn file(&self, rel: &str, data: &[u8]) -> String {
        let path = self.0.join(rel);
        std::fs::write(&path, data).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn img(&self) -> PathBuf {
        self.0.join("fs.img")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfs(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mkfs"))
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

/// Runs mkfs expecting failure: non-zero exit, `needles` in stderr, and no image left.
fn fails(s: &Scratch, args: &[&str], needles: &[&str]) {
    let out = mkfs(&s.img(), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "mkfs {args:?} succeeded");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr {stderr:?} lacks {needle:?}"
        );
    }
    assert!(!s.img().exists(), "a failed run left {}", s.img().display());
    let leftovers = std::fs::read_dir(&s.0).unwrap().filter(|e| {
        let name = e.as_ref().unwrap().file_name();
        name.to_string_lossy().starts_with("fs.img")
    });
    assert_eq!(leftovers.count(), 0, "temporary file left behind");
}

#[test]
fn builds_an_image_with_stripped_and_explicit_names() {
    let s = Scratch::new("ok");
    let ls = s.file("user/_ls", b"\x7fELF ls");
    let readme = s.file("README", b"hello\n");
    let renamed = format!("{}=notes.txt", s.file("host-name.txt", b"mine"));
    let out = mkfs(&s.img(), &[&ls, &readme, &renamed]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 files"));

    let img = Image::open(std::fs::read(s.img()).unwrap()).unwrap();
    img.check().unwrap();
    let names: Vec<String> = img
        .list_dir("/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [".", "..", "ls", "README", "notes.txt"]);
    assert_eq!(img.read_file("ls").unwrap(), b"\x7fELF ls");
    assert_eq!(img.read_file("notes.txt").unwrap(), b"mine");
    assert_eq!(img.superblock().size, 4000);
}

#[test]
fn size_and_inodes_options_shape_the_image() {
    let s = Scratch::new("opts");
    let f = s.file("f", b"x");
    let out = mkfs(&s.img(), &["--size", "300", "--inodes", "64", &f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = Image::open(std::fs::read(s.img()).unwrap()).unwrap();
    let sb = img.superblock();
    assert_eq!(
        (sb.size, sb.ninodes, sb.nlog, sb.bmapstart),
        (300, 64, 30, 37)
    );
}

#[test]
fn name_longer_than_dirsiz_fails() {
    let s = Scratch::new("long");
    let f = s.file("user/_fifteen_chars_xx", b"");
    fails(&s, &[&f], &["_fifteen_chars_xx", "longer than DIRSIZ"]);
}

#[test]
fn duplicate_name_fails() {
    let s = Scratch::new("dup");
    let a = s.file("user/_cat", b"1");
    let b = s.file("cat", b"2");
    fails(&s, &[&a, &b], &[&b, "duplicate name \"cat\""]);
}

#[test]
fn file_larger_than_maxfile_fails() {
    let s = Scratch::new("big");
    let f = s.file("big", &vec![1; MAXFILE * BSIZE + 1]);
    fails(&s, &[&f], &[&f, "larger than the largest xv6 file"]);
}

#[test]
fn running_out_of_blocks_or_inodes_fails() {
    let s = Scratch::new("full");
    let f = s.file("f", &vec![1; 60 * BSIZE]);
    fails(&s, &["--size", "100", &f], &[&f, "out of data blocks"]);
    let g = s.file("g", b"g");
    let h = s.file("h", b"h");
    fails(&s, &["--inodes", "3", &g, &h], &[&h, "out of inodes"]);
}

#[test]
fn bad_arguments_fail() {
    let s = Scratch::new("args");
    fails(&s, &[&s.0.join("missing").to_string_lossy()], &["missing"]);
    fails(&s, &["--size", "lots"], &["--size", "not a number"]);
    fails(&s, &["--size", "10"], &["bad layout"]);
    fails(&s, &["--frobnicate"], &["unknown option"]);
    let out = Command::new(env!("CARGO_BIN_EXE_mkfs")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn a_failed_run_keeps_an_existing_image() {
    let s = Scratch::new("keep");
    let f = s.file("f", b"first");
    assert!(mkfs(&s.img(), &[&f]).status.success());
    let before = std::fs::read(s.img()).unwrap();
    let long = s.file("a_name_too_long_for_xv6", b"");
    assert!(!mkfs(&s.img(), &[&f, &long]).status.success());
    assert_eq!(std::fs::read(s.img()).unwrap(), before);
}
