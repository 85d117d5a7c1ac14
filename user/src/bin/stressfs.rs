//! stressfs: five processes each write and read back a 10 KiB file at once.
#![no_std]
#![no_main]

use ulib::*;

#[unsafe(no_mangle)]
fn main(_args: &[&str]) -> i32 {
    println!("stressfs starting");
    let mut data = [b'a'; 512];
    let mut i = 0;
    while i < 4 {
        if fork() > 0 {
            break;
        }
        i += 1;
    }
    println!("write {}", i);
    let path = format!("stressfs{}", i);
    let fd = open(&path, O_CREATE | O_RDWR);
    for _ in 0..20 {
        write(fd, &data);
    }
    close(fd);
    println!("read");
    let fd = open(&path, O_RDONLY);
    for _ in 0..20 {
        read(fd, &mut data);
    }
    close(fd);
    wait(None);
    0
}
