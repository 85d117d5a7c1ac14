//! ln: make a new name for a file.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let [_, old, new] = args else {
        eprintln!("usage: ln old new");
        return 1;
    };
    if link(old, new) < 0 {
        eprintln!("link {} {}: failed", old, new);
        return 1;
    }
    0
}
