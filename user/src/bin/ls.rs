//! ls: list files: `name type inum size`, the name padded to DIRSIZ like xv6's.
#![no_std]
#![no_main]

use abi::fs::DIRENT_SIZE;
use ulib::*;

/// Prints one line for `path` (only its last element is shown).
fn show(path: &str, st: &Stat) {
    let name = path.rsplit('/').next().unwrap_or(path);
    println!("{:<w$} {} {} {}", name, st.typ, st.ino, st.size, w = DIRSIZ);
}

/// Lists `path`; returns false if something could not be listed.
fn ls(path: &str) -> bool {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        eprintln!("ls: cannot open {}", path);
        return false;
    }
    let mut st = Stat::default();
    if fstat(fd, &mut st) < 0 {
        eprintln!("ls: cannot stat {}", path);
        close(fd);
        return false;
    }
    let mut ok = true;
    if st.typ == T_DIR {
        if path.len() + 1 + DIRSIZ + 1 > MAXPATH {
            eprintln!("ls: path too long");
            close(fd);
            return false;
        }
        let mut de = [0u8; DIRENT_SIZE];
        while read(fd, &mut de) == DIRENT_SIZE as i32 {
            let d = Dirent::decode(&de);
            if d.inum == 0 {
                continue;
            }
            let full = format!("{}/{}", path, String::from_utf8_lossy(d.name()));
            if stat(&full, &mut st) < 0 {
                eprintln!("ls: cannot stat {}", full);
                ok = false;
                continue;
            }
            show(&full, &st);
        }
    } else {
        show(path, &st);
    }
    close(fd);
    ok
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 {
        return if ls(".") { 0 } else { 1 };
    }
    let mut status = 0;
    for path in &args[1..] {
        if !ls(path) {
            status = 1;
        }
    }
    status
}
