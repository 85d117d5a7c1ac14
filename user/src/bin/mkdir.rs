//! mkdir: create directories.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: mkdir files...");
        return 1;
    }
    for path in &args[1..] {
        if mkdir(path) < 0 {
            eprintln!("mkdir: {} failed to create", path);
            return 1;
        }
    }
    0
}
