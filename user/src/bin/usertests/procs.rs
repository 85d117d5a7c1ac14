//! Process tests: exec with redirected output, pipes, kill and exit status, preemption of
//! spinning processes, races between exit, wait and reparenting, and fork running out of
//! resources.

use crate::util::*;
use ulib::*;

/// exec("echo") with fd 1 redirected to a file writes "OK" into it.
pub fn exectest(s: &str) {
    unlink("echo-ok");
    let pid = xfork(s);
    if pid == 0 {
        let errfd = dup(1);
        if errfd < 0 {
            fail!("{}: dup failed", s);
        }
        close(1);
        let fd = open("echo-ok", O_CREATE | O_WRONLY);
        if fd < 0 {
            fprintln!(errfd, "{}: create failed", s);
            exit(1);
        }
        if fd != 1 {
            fprintln!(errfd, "{}: wrong fd", s);
            exit(1);
        }
        if exec("echo", &["echo", "OK"]) < 0 {
            fprintln!(errfd, "{}: exec echo failed", s);
            exit(1);
        }
        // exec does not return on success.
    }
    let mut xstatus = 0;
    if wait(Some(&mut xstatus)) != pid {
        println!("{}: wait failed!", s);
    }
    if xstatus != 0 {
        fail!("{}: nonzero wait status {}", s, xstatus);
    }

    let fd = open("echo-ok", O_RDONLY);
    if fd < 0 {
        fail!("{}: open failed", s);
    }
    let mut buf = [0u8; 2];
    if read(fd, &mut buf) != 2 {
        fail!("{}: read failed", s);
    }
    unlink("echo-ok");
    if &buf != b"OK" {
        fail!("{}: wrong output", s);
    }
    exit(0);
}

/// A byte sequence through a pipe, read back with growing read sizes.
pub fn pipe1(s: &str) {
    const N: usize = 5;
    const SZ: usize = 1033;
    let mut buf = scratch();

    let mut fds = [0; 2];
    if pipe(&mut fds) != 0 {
        fail!("{}: pipe() failed", s);
    }
    let pid = fork();
    let mut seq: u8 = 0;
    if pid == 0 {
        close(fds[0]);
        for _ in 0..N {
            for b in &mut buf[..SZ] {
                *b = seq;
                seq = seq.wrapping_add(1);
            }
            if write(fds[1], &buf[..SZ]) != SZ as i32 {
                fail!("{}: pipe1 oops 1", s);
            }
        }
        exit(0);
    } else if pid > 0 {
        close(fds[1]);
        let mut total = 0;
        let mut cc = 1;
        loop {
            let n = read(fds[0], &mut buf[..cc]);
            if n <= 0 {
                break;
            }
            for &b in &buf[..n as usize] {
                if b != seq {
                    fail!("{}: pipe1 oops 2", s);
                }
                seq = seq.wrapping_add(1);
            }
            total += n as usize;
            cc = (cc * 2).min(buf.len());
        }
        if total != N * SZ {
            fail!("{}: pipe1 oops 3 total {}", s, total);
        }
        close(fds[0]);
        exit(wait_status());
    } else {
        fail!("{}: fork() failed", s);
    }
}

/// A killed process exits with status -1.
pub fn killstatus(s: &str) {
    for _ in 0..100 {
        let pid1 = xfork(s);
        if pid1 == 0 {
            loop {
                getpid();
            }
        }
        sleep(1);
        kill(pid1);
        if wait_status() != -1 {
            fail!("{}: status should be -1", s);
        }
    }
    exit(0);
}

/// Processes spinning in user space must be preempted, so the parent gets to run and kill
/// them (meant for at most two CPUs).
pub fn preempt(s: &str) {
    let pid1 = xfork(s);
    if pid1 == 0 {
        #[allow(clippy::empty_loop)]
        loop {}
    }
    let pid2 = xfork(s);
    if pid2 == 0 {
        #[allow(clippy::empty_loop)]
        loop {}
    }

    let mut pfds = [0; 2];
    pipe(&mut pfds);
    let pid3 = xfork(s);
    if pid3 == 0 {
        close(pfds[0]);
        if write(pfds[1], b"x") != 1 {
            print!("{}: preempt write error", s);
        }
        close(pfds[1]);
        #[allow(clippy::empty_loop)]
        loop {}
    }

    close(pfds[1]);
    let mut buf = scratch();
    let got = read(pfds[0], &mut buf);
    close(pfds[0]);
    if got != 1 {
        print!("{}: preempt read error", s);
    } else {
        print!("kill... ");
    }
    kill(pid1);
    kill(pid2);
    kill(pid3);
    if got == 1 {
        print!("wait... ");
    }
    wait(None);
    wait(None);
    wait(None);
    if got != 1 {
        exit(1);
    }
}

/// Races between exit and wait: each child's status reaches the parent.
pub fn exitwait(s: &str) {
    for i in 0..100 {
        let pid = xfork(s);
        if pid != 0 {
            let mut xstate = 0;
            if wait(Some(&mut xstate)) != pid {
                fail!("{}: wait wrong pid", s);
            }
            if xstate != i {
                fail!("{}: wait wrong exit status", s);
            }
        } else {
            exit(i);
        }
    }
}

/// Races in reparenting when a parent exits with live children.
pub fn reparent(s: &str) {
    let master_pid = getpid();
    for _ in 0..200 {
        let pid = xfork(s);
        if pid != 0 {
            if wait(None) != pid {
                fail!("{}: wait wrong pid", s);
            }
        } else {
            if fork() < 0 {
                kill(master_pid);
                exit(1);
            }
            exit(0);
        }
    }
    exit(0);
}

/// Two children exiting at the same time.
pub fn twochildren(s: &str) {
    for _ in 0..1000 {
        if xfork(s) == 0 {
            exit(0);
        }
        if xfork(s) == 0 {
            exit(0);
        }
        wait(None);
        wait(None);
    }
}

/// Concurrent forks, to expose locking bugs.
pub fn forkfork(s: &str) {
    const N: usize = 2;

    for _ in 0..N {
        let pid = fork();
        if pid < 0 {
            print!("{}: fork failed", s);
            exit(1);
        }
        if pid == 0 {
            for _ in 0..200 {
                let pid1 = fork();
                if pid1 < 0 {
                    exit(1);
                }
                if pid1 == 0 {
                    exit(0);
                }
                wait(None);
            }
            exit(0);
        }
    }

    for _ in 0..N {
        if wait_status() != 0 {
            print!("{}: fork in child failed", s);
            exit(1);
        }
    }
}

/// Fork until the process table is full, keep forking for two seconds, then stop everyone.
pub fn forkforkfork(s: &str) {
    unlink("stopforking");

    let pid = fork();
    if pid < 0 {
        print!("{}: fork failed", s);
        exit(1);
    }
    if pid == 0 {
        loop {
            if open("stopforking", O_RDONLY) >= 0 {
                exit(0);
            }
            if fork() < 0 {
                close(open("stopforking", O_CREATE | O_RDWR));
            }
        }
    }

    sleep(20); // two seconds
    close(open("stopforking", O_CREATE | O_RDWR));
    wait(None);
    sleep(10); // one second
}

/// Regression test: reparenting to init must not deadlock against init's wait() or release
/// the wrong lock.
pub fn reparent2(_s: &str) {
    for _ in 0..800 {
        let pid1 = fork();
        if pid1 < 0 {
            fail!("fork failed");
        }
        if pid1 == 0 {
            fork();
            fork();
            exit(0);
        }
        wait(None);
    }
    exit(0);
}

/// fork fails gracefully when processes (or memory) run out, and every child is reaped.
pub fn forktest(s: &str) {
    const N: usize = 1000;

    let mut n = 0;
    while n < N {
        let pid = fork();
        if pid < 0 {
            break;
        }
        if pid == 0 {
            exit(0);
        }
        n += 1;
    }

    if n == 0 {
        fail!("{}: no fork at all!", s);
    }
    if n == N {
        fail!("{}: fork claimed to work 1000 times!", s);
    }

    while n > 0 {
        if wait(None) < 0 {
            fail!("{}: wait stopped early", s);
        }
        n -= 1;
    }

    if wait(None) != -1 {
        fail!("{}: wait got too many", s);
    }
}
