//! echo: print the arguments, separated by spaces.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let mut line = String::new();
    for (i, a) in args.iter().enumerate().skip(1) {
        if i > 1 {
            line.push(' ');
        }
        line.push_str(a);
    }
    line.push('\n');
    write_all(1, line.as_bytes());
    0
}
