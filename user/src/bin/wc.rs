//! wc: count lines, words and bytes: `lines words bytes name`.
#![no_std]
#![no_main]

use ulib::*;

fn wc(fd: i32, name: &str) {
    let (mut l, mut w, mut c) = (0usize, 0usize, 0usize);
    let mut in_word = false;
    let mut buf = [0u8; 512];
    loop {
        let n = read(fd, &mut buf);
        if n == 0 {
            break;
        }
        if n < 0 {
            eprintln!("wc: read error");
            exit(1);
        }
        for &b in &buf[..n as usize] {
            c += 1;
            if b == b'\n' {
                l += 1;
            }
            if b" \r\t\n\x0b".contains(&b) {
                in_word = false;
            } else if !in_word {
                w += 1;
                in_word = true;
            }
        }
    }
    println!("{} {} {} {}", l, w, c, name);
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() <= 1 {
        wc(0, "");
        return 0;
    }
    for path in &args[1..] {
        let fd = open(path, O_RDONLY);
        if fd < 0 {
            eprintln!("wc: cannot open {}", path);
            return 1;
        }
        wc(fd, path);
        close(fd);
    }
    0
}
