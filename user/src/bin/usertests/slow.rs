//! The slow tests: a directory big enough for indirect blocks, concurrent writers, writes from
//! bad buffers, exec with no memory left, and running the disk out of blocks and inodes.

use crate::util::*;
use core::ptr::null;
use ulib::*;

/// Name of the `i`th file of bigdir: `x` and two base-64-ish digits.
fn bigdir_name(i: usize) -> String {
    name(&[b'x', b'0' + (i / 64) as u8, b'0' + (i % 64) as u8])
}

/// A directory that needs indirect blocks.
pub fn bigdir(s: &str) {
    const N: usize = 500;

    unlink("bd");
    let fd = open("bd", O_CREATE);
    if fd < 0 {
        fail!("{}: bigdir create failed", s);
    }
    close(fd);

    for i in 0..N {
        let nm = bigdir_name(i);
        if link("bd", &nm) != 0 {
            fail!("{}: bigdir i={} link(bd, {}) failed", s, i, nm);
        }
    }

    unlink("bd");
    for i in 0..N {
        if unlink(&bigdir_name(i)) != 0 {
            print!("{}: bigdir unlink failed", s);
            exit(1);
        }
    }
}

/// Concurrent writes, to provoke deadlock in the disk driver.
pub fn manywrites(s: &str) {
    const NCHILDREN: usize = 4;
    const HOWMANY: usize = 30;

    for ci in 0..NCHILDREN {
        let pid = fork();
        if pid < 0 {
            fail!("fork failed");
        }
        if pid == 0 {
            let nm = name(&[b'b', b'a' + ci as u8]);
            let buf = scratch();
            unlink(&nm);
            for _ in 0..HOWMANY {
                for _ in 0..ci + 1 {
                    let fd = open(&nm, O_CREATE | O_RDWR);
                    if fd < 0 {
                        fail!("{}: cannot create {}", s, nm);
                    }
                    let cc = write(fd, &buf);
                    if cc != BUFSZ as i32 {
                        fail!("{}: write({}) ret {}", s, BUFSZ, cc);
                    }
                    close(fd);
                }
                unlink(&nm);
            }
            unlink(&nm);
            exit(0);
        }
    }

    for _ in 0..NCHILDREN {
        let st = wait_status();
        if st != 0 {
            exit(st);
        }
    }
    exit(0);
}

/// Regression test: a write() from an invalid buffer must not leave an allocated block behind
/// when the file is deleted (balloc would run out of blocks).
pub fn badwrite(_s: &str) {
    const ASSUMED_FREE: usize = 600;

    unlink("junk");
    for _ in 0..ASSUMED_FREE {
        let fd = open("junk", O_CREATE | O_WRONLY);
        if fd < 0 {
            fail!("open junk failed");
        }
        // SAFETY: the buffer is not user memory; the kernel must reject it.
        unsafe { sys::write(fd, 0xff_ffff_ffff_usize as *const u8, 1) };
        close(fd);
        unlink("junk");
    }

    let fd = open("junk", O_CREATE | O_WRONLY);
    if fd < 0 {
        fail!("open junk failed");
    }
    if write(fd, b"x") != 1 {
        fail!("write failed");
    }
    close(fd);
    unlink("junk");
    exit(0);
}

/// exec() when memory is (almost) exhausted must clean up, not panic.
pub fn execout(_s: &str) {
    for avail in 0..15 {
        let pid = fork();
        if pid < 0 {
            fail!("fork failed");
        } else if pid == 0 {
            // Allocate all of memory.
            loop {
                let a = sbrk(PGSIZE as isize);
                if a == SBRK_ERROR {
                    break;
                }
                // SAFETY: the last byte of the page sbrk just added.
                unsafe { ((a + PGSIZE - 1) as *mut u8).write_volatile(1) };
            }
            // Free a few pages so exec can make some progress.
            for _ in 0..avail {
                sbrk(-(PGSIZE as isize));
            }
            close(1);
            // Raw exec: ulib's wrapper would need the heap, and there is no memory left.
            let args = [c"echo".as_ptr().cast::<u8>(), c"x".as_ptr().cast(), null()];
            // SAFETY: static NUL-terminated strings and a null-terminated argv.
            unsafe { sys::exec(args[0], args.as_ptr()) };
            exit(0);
        } else {
            wait(None);
        }
    }
    exit(0);
}

/// Name of the `fi`th big file of diskfull.
fn big_name(fi: u8) -> String {
    name(&[b'b', b'i', b'g', b'0' + fi])
}

/// Name of the `i`th small file of diskfull and outofinodes.
fn zz_name(i: usize) -> String {
    name(&[b'z', b'z', b'0' + (i / 32) as u8, b'0' + (i % 32) as u8])
}

/// Can the kernel tolerate running out of disk space?
pub fn diskfull(s: &str) {
    let buf = vec![0u8; BSIZE];

    unlink("diskfulldir");

    let mut fi = 0;
    while b'0' + fi < 0o177 {
        let nm = big_name(fi);
        fi += 1;
        unlink(&nm);
        let fd = open(&nm, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            // Ran out of inodes before running out of blocks.
            println!("{}: could not create file {}", s, nm);
            break;
        }
        let full = (0..abi::fs::MAXFILE).any(|_| write(fd, &buf) != BSIZE as i32);
        close(fd);
        if full {
            break;
        }
    }

    // With no free blocks left, dirlink() must merely fail when it cannot extend the
    // directory; one of these creations is expected to fail.
    const NZZ: usize = 128;
    for i in 0..NZZ {
        let nm = zz_name(i);
        unlink(&nm);
        let fd = open(&nm, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            break;
        }
        close(fd);
    }

    // This mkdir() is expected to fail.
    if mkdir("diskfulldir") == 0 {
        println!("{}: mkdir(diskfulldir) unexpectedly succeeded!", s);
    }
    unlink("diskfulldir");

    for i in 0..NZZ {
        unlink(&zz_name(i));
    }
    let mut i = 0;
    while b'0' + i < 0o177 {
        unlink(&big_name(i));
        i += 1;
    }
}

/// Creating files until the inodes run out must fail cleanly.
pub fn outofinodes(_s: &str) {
    const NZZ: usize = 32 * 32;
    for i in 0..NZZ {
        let nm = zz_name(i);
        unlink(&nm);
        let fd = open(&nm, O_CREATE | O_RDWR | O_TRUNC);
        if fd < 0 {
            // Failure is eventually expected.
            break;
        }
        close(fd);
    }
    for i in 0..NZZ {
        unlink(&zz_name(i));
    }
}
