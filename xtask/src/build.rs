//! `cargo xtask build`: the kernel, the user programs, mkfs, the C fixture, and the file system
//! image.
//!
//! The image holds README (this repository's README.md), every user program under its own name, the
//! C fixture `ctest` when a riscv C compiler is present, the files of `fs-extra/` (httpd's site),
//! and the files given with `--add`. Like xv6's Makefile, an existing image is rebuilt only when its contents would change, so files a
//! person made in `cargo xtask qemu` survive until a program is rebuilt.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::BuildOpts;
use crate::cmd::{self, Paths, RISCV_TARGET};

/// C compilers tests/c/build.sh looks for (after `$TOOLPREFIX` gcc), as its README says.
const C_COMPILERS: [&str; 3] = [
    "riscv64-unknown-elf-gcc",
    "riscv64-linux-gnu-gcc",
    "riscv64-unknown-linux-gnu-gcc",
];

/// Builds everything and returns the paths of the products.
pub fn build(opts: &BuildOpts) -> Result<Paths> {
    let paths = Paths::new()?;
    ensure_target()?;
    // Listed before the build, so that a program added meanwhile is left out rather than missing.
    let programs = user_programs(&paths.root.join("user/src/bin"))?;
    // The kernel is built with whole-program (fat) LTO and one codegen unit: smoltcp's
    // code is inlined into the kernel's, and every instruction saved is one QEMU does not
    // emulate (the stack's time per frame fell by a third). Only the kernel: the host
    // crates' many test binaries would link far slower, and user programs, inlined
    // whole, outgrow xv6's one-page user stack.
    cmd::run(
        paths
            .cargo()
            .env("CARGO_PROFILE_RELEASE_LTO", "fat")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .args([
                "build",
                "--release",
                "--target",
                RISCV_TARGET,
                "-p",
                "kernel",
            ]),
    )?;
    cmd::run(
        paths
            .cargo()
            .args(["build", "--release", "--target", RISCV_TARGET, "-p", "user"]),
    )?;
    cmd::run(paths.cargo().args(["build", "--release", "-p", "mkfs"]))?;

    let mut files = vec![format!("{}=README", paths.root.join("README.md").display())];
    for name in programs {
        files.push(format!(
            "{}={name}",
            paths.riscv_release().join(&name).display()
        ));
    }
    for extra in fs_extra(&paths.root.join("fs-extra"))? {
        files.push(extra);
    }
    if let Some(ctest) = c_fixture(&paths)? {
        files.push(format!("{}=ctest", ctest.display()));
    }
    for add in &opts.add {
        files.push(absolute_file_arg(add)?);
    }
    make_image(&paths, &files)?;
    Ok(paths)
}

/// Installs the riscv target if this toolchain lacks it (rust-toolchain.toml alone does not
/// install it on every machine).
pub fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup (install it from rustup.rs)")?;
    if !String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == RISCV_TARGET)
    {
        cmd::run(Command::new("rustup").args(["target", "add", RISCV_TARGET]))?;
    }
    Ok(())
}

/// The names of package user's programs: `src/bin/NAME.rs` and `src/bin/NAME/main.rs`, sorted.
fn user_programs(bin_dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(bin_dir).with_context(|| format!("reading {}", bin_dir.display()))?
    {
        let path = entry?.path();
        let name = path.file_stem().and_then(|n| n.to_str());
        let is_program = if path.is_dir() {
            path.join("main.rs").is_file()
        } else {
            path.extension().is_some_and(|e| e == "rs")
        };
        if let (true, Some(name)) = (is_program, name) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The files of fs-extra/ (the web site httpd serves, ...), each as `PATH=NAME` for the image's
/// root directory (mkfs makes no subdirectories); none if the folder is absent.
fn fs_extra(dir: &Path) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if let (true, Some(name)) = (path.is_file(), path.file_name().and_then(|n| n.to_str())) {
            files.push(format!("{}={name}", path.display()));
        }
    }
    files.sort();
    Ok(files)
}

/// Builds the C fixture with tests/c/build.sh if it exists and a riscv C compiler is installed;
/// returns the `ctest` ELF.
fn c_fixture(paths: &Paths) -> Result<Option<PathBuf>> {
    let script = paths.root.join("tests/c/build.sh");
    if !script.exists() {
        return Ok(None);
    }
    let prefixed = std::env::var("TOOLPREFIX").map(|p| format!("{p}gcc"));
    let mut compilers = prefixed.iter().map(String::as_str).chain(C_COMPILERS);
    if !compilers.any(|cc| cmd::which(cc).is_some()) {
        println!(
            "note: skipping the C fixture (tests/c): no riscv C compiler on PATH \
             (apt-get install gcc-riscv64-linux-gnu, see tests/c/README.md)"
        );
        return Ok(None);
    }
    let out = paths.out().join("c");
    let ctest = out.join("ctest");
    // Rebuilt only when a source changed: a new ctest would make the image look out of date.
    let mut sources = vec![paths.root.join("crates/abi/src/syscall.rs")];
    for entry in std::fs::read_dir(paths.root.join("tests/c"))? {
        sources.push(entry?.path());
    }
    if up_to_date(&ctest, &sources) {
        return Ok(Some(ctest));
    }
    cmd::run(
        Command::new("bash")
            .arg(&script)
            .arg(&out)
            .current_dir(&paths.root),
    )?;
    if !ctest.is_file() {
        bail!("{} did not produce {}", script.display(), ctest.display());
    }
    Ok(Some(ctest))
}

/// Writes fs.img from `files` (mkfs `FILE[=NAME]` arguments) unless the existing image already
/// holds exactly these files, each no newer than the image.
fn make_image(paths: &Paths, files: &[String]) -> Result<()> {
    std::fs::create_dir_all(paths.out())?;
    let list: String = files.iter().map(|f| format!("{f}\n")).collect();
    let img = paths.fs_img();
    let mut inputs: Vec<PathBuf> = files.iter().map(|f| PathBuf::from(file_path(f))).collect();
    inputs.push(paths.mkfs());
    let same_list = std::fs::read_to_string(paths.mkfs_args()).is_ok_and(|old| old == list);
    if same_list && up_to_date(&img, &inputs) {
        println!("{} is up to date", img.display());
        return Ok(());
    }
    std::fs::write(paths.mkfs_args(), &list)?;
    cmd::run(Command::new(paths.mkfs()).arg(&img).args(files))
}

/// An mkfs `FILE[=NAME]` argument with FILE made absolute: the harness runs mkfs again with the
/// same list from another directory. The name stays what mkfs would have chosen.
fn absolute_file_arg(arg: &str) -> Result<String> {
    let path = file_path(arg);
    let abs = std::path::absolute(path).with_context(|| format!("resolving {path}"))?;
    Ok(format!("{}{}", abs.display(), &arg[path.len()..]))
}

/// The host path of an mkfs `FILE[=NAME]` argument.
fn file_path(arg: &str) -> &str {
    arg.rsplit_once('=').map_or(arg, |(path, _)| path)
}

/// Whether `output` exists and is at least as new as every input (a missing input counts as newer,
/// so mkfs runs and reports it).
fn up_to_date(output: &Path, inputs: &[PathBuf]) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let Some(out_time) = modified(output) else {
        return false;
    };
    inputs
        .iter()
        .all(|i| modified(i).is_some_and(|t: SystemTime| t <= out_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_files_and_directories_with_main() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        std::fs::write(bin.join("sh.rs"), "").unwrap();
        std::fs::write(bin.join("cat.rs"), "").unwrap();
        std::fs::write(bin.join("notes.txt"), "").unwrap();
        std::fs::create_dir(bin.join("usertests")).unwrap();
        std::fs::write(bin.join("usertests/main.rs"), "").unwrap();
        std::fs::create_dir(bin.join("helpers")).unwrap();
        std::fs::write(bin.join("helpers/mod.rs"), "").unwrap();
        assert_eq!(user_programs(bin).unwrap(), ["cat", "sh", "usertests"]);
    }

    #[test]
    fn file_path_strips_the_image_name() {
        assert_eq!(file_path("/a/README.md=README"), "/a/README.md");
        assert_eq!(file_path("notes.txt"), "notes.txt");
    }

    #[test]
    fn added_files_get_absolute_paths_and_keep_their_names() {
        assert_eq!(absolute_file_arg("/a/b=c").unwrap(), "/a/b=c");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute_file_arg("x/notes.txt").unwrap(),
            format!("{}/x/notes.txt", cwd.display())
        );
        assert_eq!(
            absolute_file_arg("s.sh=script").unwrap(),
            format!("{}/s.sh=script", cwd.display())
        );
    }

    #[test]
    fn fs_extra_files_go_to_the_root_sorted() {
        let dir = tempfile::tempdir().unwrap();
        assert!(fs_extra(&dir.path().join("absent")).unwrap().is_empty());
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        std::fs::write(dir.path().join("index.html"), "i").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let d = dir.path().display();
        assert_eq!(
            fs_extra(dir.path()).unwrap(),
            [
                format!("{d}/b.txt=b.txt"),
                format!("{d}/index.html=index.html")
            ]
        );
    }

    #[test]
    fn up_to_date_compares_modification_times() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let output = dir.path().join("out");
        std::fs::write(&input, "").unwrap();
        assert!(!up_to_date(&output, std::slice::from_ref(&input)));
        std::fs::write(&output, "").unwrap();
        assert!(up_to_date(&output, std::slice::from_ref(&input)));
        let later = SystemTime::now() + std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&input)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(!up_to_date(&output, std::slice::from_ref(&input)));
        assert!(!up_to_date(&output, &[dir.path().join("missing")]));
    }
}
