//! zombie: exit while a child is still a zombie, so that init must reap it.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(_args: &[&str]) -> i32 {
    if fork() > 0 {
        sleep(5); // Let the child exit before the parent.
    }
    0
}
