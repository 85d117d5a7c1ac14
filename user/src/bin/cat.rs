//! cat: copy files (or standard input) to standard output.
#![no_std]
#![no_main]

use ulib::*;

fn cat(fd: i32) {
    let mut buf = [0u8; 512];
    loop {
        let n = read(fd, &mut buf);
        if n == 0 {
            return;
        }
        if n < 0 {
            eprintln!("cat: read error");
            exit(1);
        }
        if write(1, &buf[..n as usize]) != n {
            eprintln!("cat: write error");
            exit(1);
        }
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() <= 1 {
        cat(0);
        return 0;
    }
    for path in &args[1..] {
        let fd = open(path, O_RDONLY);
        if fd < 0 {
            eprintln!("cat: cannot open {}", path);
            return 1;
        }
        cat(fd);
        close(fd);
    }
    0
}
