//! rm: remove files (and empty directories).
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() < 2 {
        eprintln!("usage: rm files...");
        return 1;
    }
    for path in &args[1..] {
        if unlink(path) < 0 {
            eprintln!("rm: {} failed to delete", path);
            return 1;
        }
    }
    0
}
