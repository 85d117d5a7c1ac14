//! kill: kill the processes with the given pids.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: kill pid...");
        return 1;
    }
    let mut status = 0;
    for a in &args[1..] {
        if kill(atoi(a)) < 0 {
            eprintln!("kill: {} failed", a);
            status = 1;
        }
    }
    status
}
