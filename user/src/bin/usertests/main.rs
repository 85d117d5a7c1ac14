//! usertests: xv6-riscv's system-call test suite (MIT 6.1810, 2024 labs), ported to Rust.
//!
//! The driver owns the test tables and the protocol graders match: `usertests starting`, then
//! `test NAME: ` and `OK` or `FAILED` per test, `usertests slow tests starting`, and finally
//! `ALL TESTS PASSED` or `SOME TESTS FAILED`. Each test runs in a forked child; exit status 0
//! is a pass. `countfree()` before and after the run catches leaked physical pages, and
//! `heapused()` (exactly equal) leaked kernel heap.
//!
//! Usage: `usertests [-c] [-C] [-q] [testname]` (`-q` quick tests only, `-c` loop until a
//! failure, `-C` loop forever ignoring failures, `testname` runs just that test).
//!
//! The user stack is a single page: tests keep big buffers on the heap, never on the stack.
#![no_std]
#![no_main]

extern crate alloc;

use ulib::*;

/// Prints a message and ends the test process with status 1, like xv6's `printf(...); exit(1);`.
macro_rules! fail {
    ($($arg:tt)*) => {{
        ::ulib::println!($($arg)*);
        ::ulib::exit(1)
    }};
}

mod dirs;
mod files;
mod memory;
mod procs;
mod slow;
mod uptr;
mod util;

/// One named test; it passes when its process exits with status 0.
struct Test {
    f: fn(&str),
    name: &'static str,
}

/// Shorthand for a table row.
const fn t(f: fn(&str), name: &'static str) -> Test {
    Test { f, name }
}

/// The quick tests, in xv6-riscv's 2024 order.
const QUICK: &[Test] = &[
    t(uptr::copyin, "copyin"),
    t(uptr::copyout, "copyout"),
    t(uptr::copyinstr1, "copyinstr1"),
    t(uptr::copyinstr2, "copyinstr2"),
    t(uptr::copyinstr3, "copyinstr3"),
    t(uptr::rwsbrk, "rwsbrk"),
    t(uptr::badptr, "badptr"),
    t(files::truncate1, "truncate1"),
    t(files::truncate2, "truncate2"),
    t(files::truncate3, "truncate3"),
    t(files::openiput, "openiput"),
    t(files::exitiput, "exitiput"),
    t(files::iput, "iput"),
    t(files::opentest, "opentest"),
    t(files::writetest, "writetest"),
    t(files::writebig, "writebig"),
    t(files::createtest, "createtest"),
    t(files::dirtest, "dirtest"),
    t(procs::exectest, "exectest"),
    t(procs::pipe1, "pipe1"),
    t(procs::killstatus, "killstatus"),
    t(procs::preempt, "preempt"),
    t(procs::exitwait, "exitwait"),
    t(procs::reparent, "reparent"),
    t(procs::twochildren, "twochildren"),
    t(procs::forkfork, "forkfork"),
    t(procs::forkforkfork, "forkforkfork"),
    t(procs::reparent2, "reparent2"),
    t(memory::mem, "mem"),
    t(files::sharedfd, "sharedfd"),
    t(files::fourfiles, "fourfiles"),
    t(files::createdelete, "createdelete"),
    t(files::unlinkread, "unlinkread"),
    t(dirs::linktest, "linktest"),
    t(dirs::concreate, "concreate"),
    t(dirs::linkunlink, "linkunlink"),
    t(dirs::subdir, "subdir"),
    t(files::bigwrite, "bigwrite"),
    t(files::bigfile, "bigfile"),
    t(dirs::fourteen, "fourteen"),
    t(dirs::rmdot, "rmdot"),
    t(dirs::dirfile, "dirfile"),
    t(dirs::iref, "iref"),
    t(procs::forktest, "forktest"),
    t(memory::sbrkbasic, "sbrkbasic"),
    t(memory::sbrkmuch, "sbrkmuch"),
    t(uptr::kernmem, "kernmem"),
    t(uptr::maxva_plus, "MAXVAplus"),
    t(memory::sbrkfail, "sbrkfail"),
    t(memory::sbrkarg, "sbrkarg"),
    t(uptr::validatetest, "validatetest"),
    t(memory::bsstest, "bsstest"),
    t(uptr::bigargtest, "bigargtest"),
    t(uptr::argptest, "argptest"),
    t(memory::stacktest, "stacktest"),
    t(memory::nowrite, "nowrite"),
    t(uptr::pgbug, "pgbug"),
    t(memory::sbrkbugs, "sbrkbugs"),
    t(memory::sbrklast, "sbrklast"),
    t(memory::sbrk8000, "sbrk8000"),
    t(uptr::badarg, "badarg"),
];

/// The slow tests, run after the quick ones unless `-q` is given.
const SLOW: &[Test] = &[
    t(slow::bigdir, "bigdir"),
    t(slow::manywrites, "manywrites"),
    t(slow::badwrite, "badwrite"),
    t(slow::execout, "execout"),
    t(slow::diskfull, "diskfull"),
    t(slow::outofinodes, "outofinodes"),
];

/// How `-c` and `-C` repeat the run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Once,
    /// `-c`: loop until something fails.
    UntilFailure,
    /// `-C`: loop forever, reporting failures but carrying on.
    Forever,
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let mut repeat = Repeat::Once;
    let mut quick = false;
    let mut justone = None;
    match args {
        [_] => {}
        [_, "-q"] => quick = true,
        [_, "-c"] => repeat = Repeat::UntilFailure,
        [_, "-C"] => repeat = Repeat::Forever,
        [_, name] if !name.starts_with('-') => justone = Some(*name),
        _ => {
            println!("Usage: usertests [-c] [-C] [-q] [testname]");
            exit(1);
        }
    }
    if !drivetests(quick, repeat, justone) {
        exit(1);
    }
    println!("ALL TESTS PASSED");
    0
}

/// Runs the tables (once or in a loop); false when the run should end in failure.
fn drivetests(quick: bool, repeat: Repeat, justone: Option<&str>) -> bool {
    loop {
        println!("usertests starting");
        let free0 = countfree();
        let heap0 = heapused();
        if !runtests(QUICK, justone, repeat) && repeat != Repeat::Forever {
            return false;
        }
        if !quick {
            if justone.is_none() {
                println!("usertests slow tests starting");
            }
            if !runtests(SLOW, justone, repeat) && repeat != Repeat::Forever {
                return false;
            }
        }
        let free1 = countfree();
        if free1 < free0 {
            println!(
                "FAILED -- lost some free pages {} (out of {})",
                free1, free0
            );
            if repeat != Repeat::Forever {
                return false;
            }
        }
        // Open files, pipes and sockets live in the kernel heap, which page counts miss.
        let heap1 = heapused();
        if heap1 != heap0 {
            println!(
                "FAILED -- kernel heap in use went from {} to {} bytes",
                heap0, heap1
            );
            if repeat != Repeat::Forever {
                return false;
            }
        }
        if repeat == Repeat::Once {
            return true;
        }
    }
}

/// Runs every test of `tests` (or just `justone`); false after the first failure unless `-C`.
fn runtests(tests: &[Test], justone: Option<&str>, repeat: Repeat) -> bool {
    for t in tests {
        if justone.is_none_or(|name| name == t.name) && !run(t) && repeat != Repeat::Forever {
            println!("SOME TESTS FAILED");
            return false;
        }
    }
    true
}

/// Runs one test in its own process; true if it exited with status 0.
fn run(t: &Test) -> bool {
    print!("test {}: ", t.name);
    let pid = fork();
    if pid < 0 {
        println!("runtest: fork error");
        exit(1);
    }
    if pid == 0 {
        (t.f)(t.name);
        exit(0);
    }
    let mut xstatus = 0;
    wait(Some(&mut xstatus));
    if xstatus != 0 {
        println!("FAILED");
    } else {
        println!("OK");
    }
    xstatus == 0
}

/// Counts free physical pages the xv6 way: a child grows its memory a page at a time until
/// sbrk fails, touching each page so it is really allocated, and reports one byte per page
/// through a pipe.
fn countfree() -> i32 {
    let mut fds = [0; 2];
    if pipe(&mut fds) < 0 {
        println!("pipe() failed in countfree()");
        exit(1);
    }
    let pid = fork();
    if pid < 0 {
        println!("fork failed in countfree()");
        exit(1);
    }
    if pid == 0 {
        close(fds[0]);
        loop {
            let a = sbrk(abi::PGSIZE as isize);
            if a == util::SBRK_ERROR {
                break;
            }
            // SAFETY: sbrk just gave this process the page [a, a + PGSIZE); no Rust object
            // lives there.
            unsafe { ((a + abi::PGSIZE - 1) as *mut u8).write_volatile(1) };
            if write(fds[1], b"x") != 1 {
                println!("write() failed in countfree()");
                exit(1);
            }
        }
        exit(0);
    }
    close(fds[1]);
    let mut n = 0;
    let mut chunk = [0u8; 64];
    loop {
        let cc = read(fds[0], &mut chunk);
        if cc < 0 {
            println!("read() failed in countfree()");
            exit(1);
        }
        if cc == 0 {
            break;
        }
        n += cc;
    }
    close(fds[0]);
    wait(None);
    n
}
