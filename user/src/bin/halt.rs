//! halt: power the machine off; QEMU exits with the given status (default 0).
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let status = match args {
        [_] => 0,
        [_, n] if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => atoi(n),
        _ => {
            eprintln!("usage: halt [status]");
            return 1;
        }
    };
    halt(status)
}
