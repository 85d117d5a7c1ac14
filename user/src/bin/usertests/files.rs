//! File tests: truncation, iput() inside transactions, small and maximum-size files, writes
//! bigger than the log, and several processes sharing or racing on files.

use crate::util::*;
use ulib::*;

/// O_TRUNC empties a file for every open descriptor.
pub fn truncate1(s: &str) {
    let mut buf = [0u8; 32];

    unlink("truncfile");
    let fd1 = open("truncfile", O_CREATE | O_WRONLY | O_TRUNC);
    write(fd1, b"abcd");
    close(fd1);

    let fd2 = open("truncfile", O_RDONLY);
    let n = read(fd2, &mut buf);
    if n != 4 {
        fail!("{}: read {} bytes, wanted 4", s, n);
    }

    let fd1 = open("truncfile", O_WRONLY | O_TRUNC);

    let fd3 = open("truncfile", O_RDONLY);
    let n = read(fd3, &mut buf);
    if n != 0 {
        println!("aaa fd3={}", fd3);
        fail!("{}: read {} bytes, wanted 0", s, n);
    }

    let n = read(fd2, &mut buf);
    if n != 0 {
        println!("bbb fd2={}", fd2);
        fail!("{}: read {} bytes, wanted 0", s, n);
    }

    write(fd1, b"abcdef");

    let n = read(fd3, &mut buf);
    if n != 6 {
        fail!("{}: read {} bytes, wanted 6", s, n);
    }

    let n = read(fd2, &mut buf);
    if n != 2 {
        fail!("{}: read {} bytes, wanted 2", s, n);
    }

    unlink("truncfile");
    close(fd1);
    close(fd2);
    close(fd3);
}

/// A write through a descriptor whose offset is now past the end of the truncated file fails
/// on xv6 (unlike POSIX), but must not crash.
pub fn truncate2(s: &str) {
    unlink("truncfile");

    let fd1 = open("truncfile", O_CREATE | O_TRUNC | O_WRONLY);
    write(fd1, b"abcd");

    let fd2 = open("truncfile", O_TRUNC | O_WRONLY);

    let n = write(fd1, b"x");
    if n != -1 {
        fail!("{}: write returned {}, expected -1", s, n);
    }

    unlink("truncfile");
    close(fd1);
    close(fd2);
}

/// Truncation racing with writes and reads from another process.
pub fn truncate3(s: &str) {
    close(open("truncfile", O_CREATE | O_TRUNC | O_WRONLY));

    let pid = xfork(s);
    if pid == 0 {
        let mut buf = [0u8; 32];
        for _ in 0..100 {
            let fd = open("truncfile", O_WRONLY);
            if fd < 0 {
                fail!("{}: open failed", s);
            }
            let n = write(fd, b"1234567890");
            if n != 10 {
                fail!("{}: write got {}, expected 10", s, n);
            }
            close(fd);
            let fd = open("truncfile", O_RDONLY);
            read(fd, &mut buf);
            close(fd);
        }
        exit(0);
    }

    for _ in 0..150 {
        let fd = open("truncfile", O_CREATE | O_WRONLY | O_TRUNC);
        if fd < 0 {
            fail!("{}: open failed", s);
        }
        let n = write(fd, b"xxx");
        if n != 3 {
            fail!("{}: write got {}, expected 3", s, n);
        }
        close(fd);
    }

    let xstatus = wait_status();
    unlink("truncfile");
    exit(xstatus);
}

/// Does open()'s error path for writing a directory call iput() inside a transaction?
pub fn openiput(s: &str) {
    if mkdir("oidir") < 0 {
        fail!("{}: mkdir oidir failed", s);
    }
    let pid = xfork(s);
    if pid == 0 {
        let fd = open("oidir", O_RDWR);
        if fd >= 0 {
            fail!("{}: open directory for write succeeded", s);
        }
        exit(0);
    }
    sleep(1);
    if unlink("oidir") != 0 {
        fail!("{}: unlink failed", s);
    }
    exit(wait_status());
}

/// Does exit() call iput(p->cwd) inside a transaction?
pub fn exitiput(s: &str) {
    let pid = xfork(s);
    if pid == 0 {
        if mkdir("iputdir") < 0 {
            fail!("{}: mkdir failed", s);
        }
        if chdir("iputdir") < 0 {
            fail!("{}: child chdir failed", s);
        }
        if unlink("../iputdir") < 0 {
            fail!("{}: unlink ../iputdir failed", s);
        }
        exit(0);
    }
    exit(wait_status());
}

/// Does chdir() call iput(p->cwd) inside a transaction?
pub fn iput(s: &str) {
    if mkdir("iputdir") < 0 {
        fail!("{}: mkdir failed", s);
    }
    if chdir("iputdir") < 0 {
        fail!("{}: chdir iputdir failed", s);
    }
    if unlink("../iputdir") < 0 {
        fail!("{}: unlink ../iputdir failed", s);
    }
    if chdir("/") < 0 {
        fail!("{}: chdir / failed", s);
    }
}

pub fn opentest(s: &str) {
    let fd = open("echo", O_RDONLY);
    if fd < 0 {
        fail!("{}: open echo failed!", s);
    }
    close(fd);
    let fd = open("doesnotexist", O_RDONLY);
    if fd >= 0 {
        fail!("{}: open doesnotexist succeeded!", s);
    }
}

pub fn writetest(s: &str) {
    const N: usize = 100;
    const SZ: usize = 10;
    let mut buf = scratch();

    let fd = open("small", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: error: creat small failed!", s);
    }
    for i in 0..N {
        if write(fd, b"aaaaaaaaaa") != SZ as i32 {
            fail!("{}: error: write aa {} new file failed", s, i);
        }
        if write(fd, b"bbbbbbbbbb") != SZ as i32 {
            fail!("{}: error: write bb {} new file failed", s, i);
        }
    }
    close(fd);
    let fd = open("small", O_RDONLY);
    if fd < 0 {
        fail!("{}: error: open small failed!", s);
    }
    if read(fd, &mut buf[..N * SZ * 2]) != (N * SZ * 2) as i32 {
        fail!("{}: read failed", s);
    }
    close(fd);

    if unlink("small") < 0 {
        fail!("{}: unlink small failed", s);
    }
}

/// A file of the largest size the inode can map (MAXFILE blocks, the indirect block included).
pub fn writebig(s: &str) {
    let mut buf = scratch();

    let fd = open("big", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: error: creat big failed!", s);
    }
    for i in 0..abi::fs::MAXFILE as i32 {
        buf[..4].copy_from_slice(&i.to_ne_bytes());
        if write(fd, &buf[..BSIZE]) != BSIZE as i32 {
            fail!("{}: error: write big file failed i={}", s, i);
        }
    }
    close(fd);

    let fd = open("big", O_RDONLY);
    if fd < 0 {
        fail!("{}: error: open big failed!", s);
    }
    let mut n = 0;
    loop {
        let i = read(fd, &mut buf[..BSIZE]);
        if i == 0 {
            if n != abi::fs::MAXFILE as i32 {
                fail!("{}: read only {} blocks from big", s, n);
            }
            break;
        } else if i != BSIZE as i32 {
            fail!("{}: read failed {}", s, i);
        }
        let got = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if got != n {
            fail!("{}: read content of block {} is {}", s, n, got);
        }
        n += 1;
    }
    close(fd);
    if unlink("big") < 0 {
        fail!("{}: unlink big failed", s);
    }
}

/// Many creates, then unlinks.
pub fn createtest(_s: &str) {
    const N: u8 = 52;
    for i in 0..N {
        close(open(&name(&[b'a', b'0' + i]), O_CREATE | O_RDWR));
    }
    for i in 0..N {
        unlink(&name(&[b'a', b'0' + i]));
    }
}

pub fn dirtest(s: &str) {
    if mkdir("dir0") < 0 {
        fail!("{}: mkdir failed", s);
    }
    if chdir("dir0") < 0 {
        fail!("{}: chdir dir0 failed", s);
    }
    if chdir("..") < 0 {
        fail!("{}: chdir .. failed", s);
    }
    if unlink("dir0") < 0 {
        fail!("{}: unlink dir0 failed", s);
    }
}

/// Two processes write through one descriptor: is the offset shared, and does inode locking
/// keep every record?
pub fn sharedfd(s: &str) {
    const N: usize = 1000;
    const SZ: usize = 10;

    unlink("sharedfd");
    let fd = open("sharedfd", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: cannot open sharedfd for writing", s);
    }
    let pid = fork();
    let mut buf = [if pid == 0 { b'c' } else { b'p' }; SZ];
    for _ in 0..N {
        if write(fd, &buf) != SZ as i32 {
            fail!("{}: write sharedfd failed", s);
        }
    }
    if pid == 0 {
        exit(0);
    }
    let xstatus = wait_status();
    if xstatus != 0 {
        exit(xstatus);
    }

    close(fd);
    let fd = open("sharedfd", O_RDONLY);
    if fd < 0 {
        fail!("{}: cannot open sharedfd for reading", s);
    }
    let (mut nc, mut np) = (0, 0);
    while read(fd, &mut buf) > 0 {
        nc += buf.iter().filter(|&&b| b == b'c').count();
        np += buf.iter().filter(|&&b| b == b'p').count();
    }
    close(fd);
    unlink("sharedfd");
    if nc != N * SZ || np != N * SZ {
        fail!("{}: nc/np test fails", s);
    }
}

/// Four processes write different files at the same time (block allocation).
pub fn fourfiles(s: &str) {
    const NAMES: [&str; 4] = ["f0", "f1", "f2", "f3"];
    const N: usize = 12;
    const SZ: usize = 500;
    let mut buf = scratch();

    for (pi, fname) in NAMES.iter().enumerate() {
        unlink(fname);
        let pid = xfork(s);
        if pid == 0 {
            let fd = open(fname, O_CREATE | O_RDWR);
            if fd < 0 {
                fail!("{}: create failed", s);
            }
            buf[..SZ].fill(b'0' + pi as u8);
            for _ in 0..N {
                let n = write(fd, &buf[..SZ]);
                if n != SZ as i32 {
                    fail!("write failed {}", n);
                }
            }
            exit(0);
        }
    }

    for _ in 0..NAMES.len() {
        let xstatus = wait_status();
        if xstatus != 0 {
            exit(xstatus);
        }
    }

    for (i, fname) in NAMES.iter().enumerate() {
        let fd = open(fname, O_RDONLY);
        let mut total = 0;
        loop {
            let n = read(fd, &mut buf);
            if n <= 0 {
                break;
            }
            if buf[..n as usize].iter().any(|&b| b != b'0' + i as u8) {
                fail!("{}: wrong char", s);
            }
            total += n as usize;
        }
        close(fd);
        if total != N * SZ {
            fail!("wrong length {}", total);
        }
        unlink(fname);
    }
}

/// Four processes create and delete different files in the same directory.
pub fn createdelete(s: &str) {
    const N: u8 = 20;
    const NCHILD: u8 = 4;

    for pi in 0..NCHILD {
        let pid = xfork(s);
        if pid == 0 {
            for i in 0..N {
                let fd = open(&name(&[b'p' + pi, b'0' + i]), O_CREATE | O_RDWR);
                if fd < 0 {
                    fail!("{}: create failed", s);
                }
                close(fd);
                if i > 0 && i % 2 == 0 && unlink(&name(&[b'p' + pi, b'0' + i / 2])) < 0 {
                    fail!("{}: unlink failed", s);
                }
            }
            exit(0);
        }
    }

    for _ in 0..NCHILD {
        if wait_status() != 0 {
            exit(1);
        }
    }

    for i in 0..N {
        for pi in 0..NCHILD {
            let nm = name(&[b'p' + pi, b'0' + i]);
            let fd = open(&nm, O_RDONLY);
            if (i == 0 || i >= N / 2) && fd < 0 {
                fail!("{}: oops createdelete {} didn't exist", s, nm);
            } else if (1..N / 2).contains(&i) && fd >= 0 {
                fail!("{}: oops createdelete {} did exist", s, nm);
            }
            if fd >= 0 {
                close(fd);
            }
        }
    }

    for i in 0..N {
        for pi in 0..NCHILD {
            unlink(&name(&[b'p' + pi, b'0' + i]));
        }
    }
}

/// Can a process still read and write a file after unlinking it?
pub fn unlinkread(s: &str) {
    const SZ: i32 = 5;
    let mut buf = scratch();

    let fd = open("unlinkread", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: create unlinkread failed", s);
    }
    write(fd, b"hello");
    close(fd);

    let fd = open("unlinkread", O_RDWR);
    if fd < 0 {
        fail!("{}: open unlinkread failed", s);
    }
    if unlink("unlinkread") != 0 {
        fail!("{}: unlink unlinkread failed", s);
    }

    let fd1 = open("unlinkread", O_CREATE | O_RDWR);
    write(fd1, b"yyy");
    close(fd1);

    if read(fd, &mut buf) != SZ {
        fail!("{}: unlinkread read failed", s);
    }
    if buf[0] != b'h' {
        fail!("{}: unlinkread wrong data", s);
    }
    if write(fd, &buf[..10]) != 10 {
        fail!("{}: unlinkread write failed", s);
    }
    close(fd);
    unlink("unlinkread");
}

/// Writes larger than the log must be split into several transactions.
pub fn bigwrite(s: &str) {
    let buf = scratch();

    unlink("bigwrite");
    let mut sz = 499;
    while sz < BUFSZ {
        let fd = open("bigwrite", O_CREATE | O_RDWR);
        if fd < 0 {
            fail!("{}: cannot create bigwrite", s);
        }
        for _ in 0..2 {
            let cc = write(fd, &buf[..sz]);
            if cc != sz as i32 {
                fail!("{}: write({}) ret {}", s, sz, cc);
            }
        }
        close(fd);
        unlink("bigwrite");
        sz += 471;
    }
}

/// Writes and reads with sizes that straddle block boundaries.
pub fn bigfile(s: &str) {
    const N: usize = 20;
    const SZ: usize = 600;
    let mut buf = scratch();

    unlink("bigfile.dat");
    let fd = open("bigfile.dat", O_CREATE | O_RDWR);
    if fd < 0 {
        fail!("{}: cannot create bigfile", s);
    }
    for i in 0..N {
        buf[..SZ].fill(i as u8);
        if write(fd, &buf[..SZ]) != SZ as i32 {
            fail!("{}: write bigfile failed", s);
        }
    }
    close(fd);

    let fd = open("bigfile.dat", O_RDONLY);
    if fd < 0 {
        fail!("{}: cannot open bigfile", s);
    }
    let mut total = 0;
    let mut i = 0;
    loop {
        let cc = read(fd, &mut buf[..SZ / 2]);
        if cc < 0 {
            fail!("{}: read bigfile failed", s);
        }
        if cc == 0 {
            break;
        }
        if cc != (SZ / 2) as i32 {
            fail!("{}: short read bigfile", s);
        }
        if buf[0] as usize != i / 2 || buf[SZ / 2 - 1] as usize != i / 2 {
            fail!("{}: read bigfile wrong data", s);
        }
        total += cc as usize;
        i += 1;
    }
    close(fd);
    if total != N * SZ {
        fail!("{}: read bigfile wrong total", s);
    }
    unlink("bigfile.dat");
}
