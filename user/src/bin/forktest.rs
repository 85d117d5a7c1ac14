//! forktest: fork until the process table is full, then reap every child.
//! Writes with `write` directly, like xv6's, to stay small.
#![no_std]
#![no_main]

use ulib::*;

const N: usize = 1000;

fn say(s: &str) {
    write(1, s.as_bytes());
}

#[unsafe(no_mangle)]
fn main(_args: &[&str]) -> i32 {
    say("fork test\n");
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
    if n == N {
        say("fork claimed to work N times!\n");
        return 1;
    }
    for _ in 0..n {
        if wait(None) < 0 {
            say("wait stopped early\n");
            return 1;
        }
    }
    if wait(None) != -1 {
        say("wait got too many\n");
        return 1;
    }
    say("fork test OK\n");
    0
}
