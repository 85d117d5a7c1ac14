//! free: print the amount of free physical memory and how much of the kernel heap is in use.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() != 1 {
        eprintln!("usage: free");
        return 1;
    }
    let pages = freemem();
    if pages < 0 {
        eprintln!("free: freemem failed");
        return 1;
    }
    println!(
        "free: {} pages, {} KiB",
        pages,
        pages as usize * PGSIZE / 1024
    );
    println!("heap: {} bytes in use", heapused());
    0
}
