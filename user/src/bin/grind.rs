//! grind: xv6's stress test of random system calls, bounded.
//!
//! `grind [ROUNDS]` runs two children at once, each making ROUNDS (default 1000)
//! random calls on a shared set of files and directories, then prints `grind: OK`
//! if both exited cleanly. xv6's grind loops forever; this one stops by itself so
//! tests can run it. A child prints `A` or `B` every 500 calls to show progress.
//!
//! The children call `sbrk` with odd sizes and shrink the break again, which would
//! pull memory from under the heap, so they never allocate: their I/O buffer comes
//! from the heap before they start, and they call the raw `exec`.
#![no_std]
#![no_main]

use ulib::*;

const DEFAULT_ROUNDS: u64 = 1000;

/// Park and Miller's minimal standard generator, as in xv6 (from FreeBSD).
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u64 {
        // x = 7^5 * x mod (2^31 - 1), computed without overflowing 31 bits:
        // 2^31 - 1 = 127773 * 7^5 + 2836.
        let x = (self.0 % 0x7fff_fffe) as i64 + 1;
        let (hi, lo) = (x / 127_773, x % 127_773);
        let mut x = 16_807 * lo - 2_836 * hi;
        if x < 0 {
            x += 0x7fff_ffff;
        }
        self.0 = (x - 1) as u64;
        self.0
    }
}

fn die(msg: &str) -> ! {
    println!("grind: {}", msg);
    exit(1)
}

/// Forks, or exits the whole child on failure like xv6's grind.
fn fork_or_die() -> i32 {
    let pid = fork();
    if pid < 0 {
        die("fork failed");
    }
    pid
}

/// Runs `exec` with NUL-terminated byte strings (at most two arguments), without
/// touching the heap.
fn exec_raw(path: &[u8], argv: &[&[u8]]) {
    let mut ptrs = [core::ptr::null(); 3];
    for (p, a) in ptrs.iter_mut().zip(argv.iter().take(2)) {
        *p = a.as_ptr();
    }
    // SAFETY: every caller passes literals ending in NUL, and the array ends with null.
    unsafe { sys::exec(path.as_ptr(), ptrs.as_ptr()) };
}

/// Runs `echo hi | cat` by hand and checks that `hi\n` comes out.
fn pipeline() {
    let mut aa = [0i32; 2];
    let mut bb = [0i32; 2];
    if pipe(&mut aa) < 0 || pipe(&mut bb) < 0 {
        eprintln!("grind: pipe failed");
        exit(1);
    }
    let pid1 = fork();
    if pid1 == 0 {
        close(bb[0]);
        close(bb[1]);
        close(aa[0]);
        close(1);
        if dup(aa[1]) != 1 {
            eprintln!("grind: dup failed");
            exit(1);
        }
        close(aa[1]);
        exec_raw(b"grindir/../echo\0", &[b"echo\0", b"hi\0"]);
        eprintln!("grind: echo: not found");
        exit(2);
    } else if pid1 < 0 {
        eprintln!("grind: fork failed");
        exit(3);
    }
    let pid2 = fork();
    if pid2 == 0 {
        close(aa[1]);
        close(bb[0]);
        close(0);
        if dup(aa[0]) != 0 {
            eprintln!("grind: dup failed");
            exit(4);
        }
        close(aa[0]);
        close(1);
        if dup(bb[1]) != 1 {
            eprintln!("grind: dup failed");
            exit(5);
        }
        close(bb[1]);
        exec_raw(b"/cat\0", &[b"cat\0"]);
        eprintln!("grind: cat: not found");
        exit(6);
    } else if pid2 < 0 {
        eprintln!("grind: fork failed");
        exit(7);
    }
    close(aa[0]);
    close(aa[1]);
    close(bb[1]);
    let mut buf = [0u8; 3];
    for b in buf.iter_mut() {
        read(bb[0], core::slice::from_mut(b));
    }
    close(bb[0]);
    let (mut st1, mut st2) = (0, 0);
    wait(Some(&mut st1));
    wait(Some(&mut st2));
    if st1 != 0 || st2 != 0 || &buf != b"hi\n" {
        let got = core::str::from_utf8(&buf).unwrap_or("?");
        println!(
            "grind: exec pipeline failed {} {} \"{}\"",
            st1,
            st2,
            got.trim_end_matches('\0')
        );
        exit(1);
    }
}

/// One child's random walk through the system calls.
/// `buf` is allocated before `break0` is taken, so shrinking the break spares it.
fn go(which: u8, rand: &mut Rand, rounds: u64, buf: &mut [u8]) -> ! {
    let mut fd = -1;
    let break0 = sbrk(0);

    mkdir("grindir");
    if chdir("grindir") != 0 {
        die("chdir grindir failed");
    }
    chdir("/");

    for iters in 1..=rounds {
        if iters % 500 == 0 {
            write(1, if which == 0 { b"A" } else { b"B" });
        }
        match rand.next() % 23 {
            1 => {
                close(open("grindir/../a", O_CREATE | O_RDWR));
            }
            2 => {
                close(open("grindir/../grindir/../b", O_CREATE | O_RDWR));
            }
            3 => {
                unlink("grindir/../a");
            }
            4 => {
                if chdir("grindir") != 0 {
                    die("chdir grindir failed");
                }
                unlink("../b");
                chdir("/");
            }
            5 => {
                close(fd);
                fd = open("/grindir/../a", O_CREATE | O_RDWR);
            }
            6 => {
                close(fd);
                fd = open("/./grindir/./../b", O_CREATE | O_RDWR);
            }
            7 => {
                write(fd, buf);
            }
            8 => {
                read(fd, buf);
            }
            9 => {
                mkdir("grindir/../a");
                close(open("a/../a/./a", O_CREATE | O_RDWR));
                unlink("a/a");
            }
            10 => {
                mkdir("/../b");
                close(open("grindir/../b/b", O_CREATE | O_RDWR));
                unlink("b/b");
            }
            11 => {
                unlink("b");
                link("../grindir/./../a", "../b");
            }
            12 => {
                unlink("../grindir/../a");
                link(".././b", "/grindir/../a");
            }
            13 => {
                if fork_or_die() == 0 {
                    exit(0);
                }
                wait(None);
            }
            14 => {
                if fork_or_die() == 0 {
                    fork();
                    fork();
                    exit(0);
                }
                wait(None);
            }
            15 => {
                sbrk(6011);
            }
            16 => {
                let now = sbrk(0);
                if now > break0 {
                    sbrk(-((now - break0) as isize));
                }
            }
            17 => {
                let pid = fork_or_die();
                if pid == 0 {
                    close(open("a", O_CREATE | O_RDWR));
                    exit(0);
                }
                if chdir("../grindir/..") != 0 {
                    die("chdir failed");
                }
                kill(pid);
                wait(None);
            }
            18 => {
                if fork_or_die() == 0 {
                    kill(getpid());
                    exit(0);
                }
                wait(None);
            }
            19 => {
                let mut fds = [0i32; 2];
                if pipe(&mut fds) < 0 {
                    die("pipe failed");
                }
                if fork_or_die() == 0 {
                    fork();
                    fork();
                    if write(fds[1], b"x") != 1 {
                        println!("grind: pipe write failed");
                    }
                    let mut c = [0u8; 1];
                    if read(fds[0], &mut c) != 1 {
                        println!("grind: pipe read failed");
                    }
                    exit(0);
                }
                close(fds[0]);
                close(fds[1]);
                wait(None);
            }
            20 => {
                if fork_or_die() == 0 {
                    unlink("a");
                    mkdir("a");
                    chdir("a");
                    unlink("../a");
                    // Left open: exit must release a file whose name is gone.
                    open("x", O_CREATE | O_RDWR);
                    unlink("x");
                    exit(0);
                }
                wait(None);
            }
            21 => {
                // Must always work: checks that inodes, fds and blocks are not leaking.
                unlink("c");
                let fd1 = open("c", O_CREATE | O_RDWR);
                if fd1 < 0 {
                    die("create c failed");
                }
                if write(fd1, b"x") != 1 {
                    die("write c failed");
                }
                let mut st = Stat::default();
                if fstat(fd1, &mut st) != 0 {
                    die("fstat failed");
                }
                if st.size != 1 {
                    println!("grind: fstat reports wrong size {}", st.size);
                    exit(1);
                }
                if st.ino > 200 {
                    println!("grind: fstat reports crazy i-number {}", st.ino);
                    exit(1);
                }
                close(fd1);
                unlink("c");
            }
            22 => pipeline(),
            _ => {}
        }
    }
    exit(0)
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let rounds = match args {
        [_] => DEFAULT_ROUNDS,
        [_, n] if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => atoi(n) as u64,
        _ => {
            eprintln!("usage: grind [rounds]");
            return 1;
        }
    };
    unlink("a");
    unlink("b");
    let mut rand = Rand(1);
    let mut buf = vec![0u8; 999];
    let pid1 = fork_or_die();
    if pid1 == 0 {
        rand.0 ^= 31;
        go(0, &mut rand, rounds, &mut buf);
    }
    let pid2 = fork_or_die();
    if pid2 == 0 {
        rand.0 ^= 7177;
        go(1, &mut rand, rounds, &mut buf);
    }
    let mut st1 = -1;
    wait(Some(&mut st1));
    if st1 != 0 {
        kill(pid1);
        kill(pid2);
    }
    let mut st2 = -1;
    wait(Some(&mut st2));
    if st1 != 0 || st2 != 0 {
        println!("\ngrind: FAILED");
        return 1;
    }
    println!("\ngrind: OK");
    0
}
