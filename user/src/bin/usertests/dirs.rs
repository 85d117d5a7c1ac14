//! Directory and name tests: links, concurrent create/link/unlink of one name, nested
//! directories and `..`, DIRSIZ truncation, `.`/`..` protection, files used as directories,
//! and inode reference counts in path lookup.

use crate::util::*;
use abi::fs::DIRENT_SIZE;
use ulib::*;

pub fn linktest(s: &str) {
    const SZ: i32 = 5;
    let mut buf = scratch();

    unlink("lf1");
    unlink("lf2");

    let fd = open("lf1", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: create lf1 failed", s);
    }
    if write(fd, b"hello") != SZ {
        fail!("{}: write lf1 failed", s);
    }
    close(fd);

    if link("lf1", "lf2") < 0 {
        fail!("{}: link lf1 lf2 failed", s);
    }
    unlink("lf1");

    if open("lf1", O_RDONLY) >= 0 {
        fail!("{}: unlinked lf1 but it is still there!", s);
    }

    let fd = open("lf2", O_RDONLY);
    if fd < 0 {
        fail!("{}: open lf2 failed", s);
    }
    if read(fd, &mut buf) != SZ {
        fail!("{}: read lf2 failed", s);
    }
    close(fd);

    if link("lf2", "lf2") >= 0 {
        fail!("{}: link lf2 lf2 succeeded! oops", s);
    }

    unlink("lf2");
    if link("lf2", "lf1") >= 0 {
        fail!("{}: link non-existent succeeded! oops", s);
    }

    if link(".", "lf1") >= 0 {
        fail!("{}: link . lf1 succeeded! oops", s);
    }
}

/// Concurrent create/link/unlink of the same names; the directory must end up with each
/// name exactly once.
pub fn concreate(s: &str) {
    const N: u8 = 40;
    let file = |i: u8| name(&[b'C', b'0' + i]);

    for i in 0..N {
        let f = file(i);
        unlink(&f);
        let pid = fork();
        if (pid != 0 && i % 3 == 1) || (pid == 0 && i % 5 == 1) {
            link("C0", &f);
        } else {
            let fd = open(&f, O_CREATE | O_RDWR);
            if fd < 0 {
                fail!("concreate create {} failed", f);
            }
            close(fd);
        }
        if pid == 0 {
            exit(0);
        }
        if wait_status() != 0 {
            exit(1);
        }
    }

    let mut fa = [false; N as usize];
    let mut n = 0;
    let fd = open(".", O_RDONLY);
    let mut de = [0u8; DIRENT_SIZE];
    while read(fd, &mut de) > 0 {
        let de = Dirent::decode(&de);
        if de.inum == 0 {
            continue;
        }
        if de.name[0] == b'C' && de.name[2] == 0 {
            let shown = name(de.name());
            let i = de.name[1].wrapping_sub(b'0') as usize;
            if i >= fa.len() {
                fail!("{}: concreate weird file {}", s, shown);
            }
            if fa[i] {
                fail!("{}: concreate duplicate file {}", s, shown);
            }
            fa[i] = true;
            n += 1;
        }
    }
    close(fd);

    if n != N {
        fail!("{}: concreate not enough files in directory listing", s);
    }

    for i in 0..N {
        let f = file(i);
        let pid = xfork(s);
        if (i % 3 == 0 && pid == 0) || (i % 3 == 1 && pid != 0) {
            for _ in 0..6 {
                close(open(&f, O_RDONLY));
            }
        } else {
            for _ in 0..6 {
                unlink(&f);
            }
        }
        if pid == 0 {
            exit(0);
        }
        wait(None);
    }
}

/// Another concurrent link/unlink/create mix, looking for deadlocks.
pub fn linkunlink(s: &str) {
    unlink("x");
    let pid = xfork(s);

    let mut x: u32 = if pid != 0 { 1 } else { 97 };
    for _ in 0..100 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        match x % 3 {
            0 => {
                close(open("x", O_RDWR | O_CREATE));
            }
            1 => {
                link("cat", "x");
            }
            _ => {
                unlink("x");
            }
        }
    }

    if pid != 0 {
        wait(None);
    } else {
        exit(0);
    }
}

/// Nested directories, `..` in paths, and every operation that must fail on a file used as a
/// directory, a missing directory, or a non-empty directory.
pub fn subdir(s: &str) {
    let mut buf = scratch();

    unlink("ff");
    if mkdir("dd") != 0 {
        fail!("{}: mkdir dd failed", s);
    }

    let fd = open("dd/ff", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: create dd/ff failed", s);
    }
    write(fd, b"ff");
    close(fd);

    if unlink("dd") >= 0 {
        fail!("{}: unlink dd (non-empty dir) succeeded!", s);
    }

    if mkdir("/dd/dd") != 0 {
        fail!("{}: subdir mkdir dd/dd failed", s);
    }

    let fd = open("dd/dd/ff", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: create dd/dd/ff failed", s);
    }
    write(fd, b"FF");
    close(fd);

    let fd = open("dd/dd/../ff", O_RDONLY);
    if fd < 0 {
        fail!("{}: open dd/dd/../ff failed", s);
    }
    let cc = read(fd, &mut buf);
    if cc != 2 || buf[0] != b'f' {
        fail!("{}: dd/dd/../ff wrong content", s);
    }
    close(fd);

    if link("dd/dd/ff", "dd/dd/ffff") != 0 {
        fail!("{}: link dd/dd/ff dd/dd/ffff failed", s);
    }

    if unlink("dd/dd/ff") != 0 {
        fail!("{}: unlink dd/dd/ff failed", s);
    }
    if open("dd/dd/ff", O_RDONLY) >= 0 {
        fail!("{}: open (unlinked) dd/dd/ff succeeded", s);
    }

    if chdir("dd") != 0 {
        fail!("{}: chdir dd failed", s);
    }
    if chdir("dd/../../dd") != 0 {
        fail!("{}: chdir dd/../../dd failed", s);
    }
    if chdir("dd/../../../dd") != 0 {
        fail!("{}: chdir dd/../../../dd failed", s);
    }
    if chdir("./..") != 0 {
        fail!("{}: chdir ./.. failed", s);
    }

    let fd = open("dd/dd/ffff", O_RDONLY);
    if fd < 0 {
        fail!("{}: open dd/dd/ffff failed", s);
    }
    if read(fd, &mut buf) != 2 {
        fail!("{}: read dd/dd/ffff wrong len", s);
    }
    close(fd);

    if open("dd/dd/ff", O_RDONLY) >= 0 {
        fail!("{}: open (unlinked) dd/dd/ff succeeded!", s);
    }

    if open("dd/ff/ff", O_CREATE | O_RDWR) >= 0 {
        fail!("{}: create dd/ff/ff succeeded!", s);
    }
    if open("dd/xx/ff", O_CREATE | O_RDWR) >= 0 {
        fail!("{}: create dd/xx/ff succeeded!", s);
    }
    if open("dd", O_CREATE) >= 0 {
        fail!("{}: create dd succeeded!", s);
    }
    if open("dd", O_RDWR) >= 0 {
        fail!("{}: open dd rdwr succeeded!", s);
    }
    if open("dd", O_WRONLY) >= 0 {
        fail!("{}: open dd wronly succeeded!", s);
    }
    if link("dd/ff/ff", "dd/dd/xx") == 0 {
        fail!("{}: link dd/ff/ff dd/dd/xx succeeded!", s);
    }
    if link("dd/xx/ff", "dd/dd/xx") == 0 {
        fail!("{}: link dd/xx/ff dd/dd/xx succeeded!", s);
    }
    if link("dd/ff", "dd/dd/ffff") == 0 {
        fail!("{}: link dd/ff dd/dd/ffff succeeded!", s);
    }
    if mkdir("dd/ff/ff") == 0 {
        fail!("{}: mkdir dd/ff/ff succeeded!", s);
    }
    if mkdir("dd/xx/ff") == 0 {
        fail!("{}: mkdir dd/xx/ff succeeded!", s);
    }
    if mkdir("dd/dd/ffff") == 0 {
        fail!("{}: mkdir dd/dd/ffff succeeded!", s);
    }
    if unlink("dd/xx/ff") == 0 {
        fail!("{}: unlink dd/xx/ff succeeded!", s);
    }
    if unlink("dd/ff/ff") == 0 {
        fail!("{}: unlink dd/ff/ff succeeded!", s);
    }
    if chdir("dd/ff") == 0 {
        fail!("{}: chdir dd/ff succeeded!", s);
    }
    if chdir("dd/xx") == 0 {
        fail!("{}: chdir dd/xx succeeded!", s);
    }

    if unlink("dd/dd/ffff") != 0 {
        fail!("{}: unlink dd/dd/ff failed", s);
    }
    if unlink("dd/ff") != 0 {
        fail!("{}: unlink dd/ff failed", s);
    }
    if unlink("dd") == 0 {
        fail!("{}: unlink non-empty dd succeeded!", s);
    }
    if unlink("dd/dd") < 0 {
        fail!("{}: unlink dd/dd failed", s);
    }
    if unlink("dd") < 0 {
        fail!("{}: unlink dd failed", s);
    }
}

/// Names longer than DIRSIZ (14) are truncated, consistently, at every path component.
pub fn fourteen(s: &str) {
    if mkdir("12345678901234") != 0 {
        fail!("{}: mkdir 12345678901234 failed", s);
    }
    if mkdir("12345678901234/123456789012345") != 0 {
        fail!("{}: mkdir 12345678901234/123456789012345 failed", s);
    }
    let fd = open("123456789012345/123456789012345/123456789012345", O_CREATE);
    if fd < 0 {
        fail!(
            "{}: create 123456789012345/123456789012345/123456789012345 failed",
            s
        );
    }
    close(fd);
    let fd = open("12345678901234/12345678901234/12345678901234", O_RDONLY);
    if fd < 0 {
        fail!(
            "{}: open 12345678901234/12345678901234/12345678901234 failed",
            s
        );
    }
    close(fd);

    if mkdir("12345678901234/12345678901234") == 0 {
        fail!("{}: mkdir 12345678901234/12345678901234 succeeded!", s);
    }
    if mkdir("123456789012345/12345678901234") == 0 {
        fail!("{}: mkdir 12345678901234/123456789012345 succeeded!", s);
    }

    unlink("123456789012345/12345678901234");
    unlink("12345678901234/12345678901234");
    unlink("12345678901234/12345678901234/12345678901234");
    unlink("123456789012345/123456789012345/123456789012345");
    unlink("12345678901234/123456789012345");
    unlink("12345678901234");
}

/// `.` and `..` cannot be unlinked.
pub fn rmdot(s: &str) {
    if mkdir("dots") != 0 {
        fail!("{}: mkdir dots failed", s);
    }
    if chdir("dots") != 0 {
        fail!("{}: chdir dots failed", s);
    }
    if unlink(".") == 0 {
        fail!("{}: rm . worked!", s);
    }
    if unlink("..") == 0 {
        fail!("{}: rm .. worked!", s);
    }
    if chdir("/") != 0 {
        fail!("{}: chdir / failed", s);
    }
    if unlink("dots/.") == 0 {
        fail!("{}: unlink dots/. worked!", s);
    }
    if unlink("dots/..") == 0 {
        fail!("{}: unlink dots/.. worked!", s);
    }
    if unlink("dots") != 0 {
        fail!("{}: unlink dots failed!", s);
    }
}

/// A plain file used as a directory, and a directory opened for writing.
pub fn dirfile(s: &str) {
    let fd = open("dirfile", O_CREATE);
    if fd < 0 {
        fail!("{}: create dirfile failed", s);
    }
    close(fd);
    if chdir("dirfile") == 0 {
        fail!("{}: chdir dirfile succeeded!", s);
    }
    let fd = open("dirfile/xx", O_RDONLY);
    if fd >= 0 {
        fail!("{}: create dirfile/xx succeeded!", s);
    }
    let fd = open("dirfile/xx", O_CREATE);
    if fd >= 0 {
        fail!("{}: create dirfile/xx succeeded!", s);
    }
    if mkdir("dirfile/xx") == 0 {
        fail!("{}: mkdir dirfile/xx succeeded!", s);
    }
    if unlink("dirfile/xx") == 0 {
        fail!("{}: unlink dirfile/xx succeeded!", s);
    }
    if link("README", "dirfile/xx") == 0 {
        fail!("{}: link to dirfile/xx succeeded!", s);
    }
    if unlink("dirfile") != 0 {
        fail!("{}: unlink dirfile failed!", s);
    }

    let fd = open(".", O_RDWR);
    if fd >= 0 {
        fail!("{}: open . for writing succeeded!", s);
    }
    let fd = open(".", O_RDONLY);
    if write(fd, b"x") > 0 {
        fail!("{}: write . succeeded!", s);
    }
    close(fd);
}

/// Does path lookup drop its inode references (iput at the end of namei)? More nested
/// directories than the in-memory inode table holds, plus empty names.
pub fn iref(s: &str) {
    for _ in 0..NINODE + 1 {
        if mkdir("irefd") != 0 {
            fail!("{}: mkdir irefd failed", s);
        }
        if chdir("irefd") != 0 {
            fail!("{}: chdir irefd failed", s);
        }

        mkdir("");
        link("README", "");
        let fd = open("", O_CREATE);
        if fd >= 0 {
            close(fd);
        }
        let fd = open("xx", O_CREATE);
        if fd >= 0 {
            close(fd);
        }
        unlink("xx");
    }

    for _ in 0..NINODE + 1 {
        chdir("..");
        unlink("irefd");
    }

    chdir("/");
}
