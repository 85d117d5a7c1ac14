//! nettrace: turn the kernel's per-packet console trace on or off.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    let on = match args {
        [_, "on"] => true,
        [_, "off"] => false,
        _ => {
            eprintln!("usage: nettrace on|off");
            return 1;
        }
    };
    if nettrace(on) < 0 {
        eprintln!("nettrace: no network card");
        return 1;
    }
    0
}
