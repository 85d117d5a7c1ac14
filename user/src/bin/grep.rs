//! grep: print the lines that match a pattern, with xv6's tiny regular expressions
//! (`^` start, `$` end, `.` any character, `c*` zero or more `c`), after Kernighan
//! and Pike's "The Practice of Programming", chapter 9.
#![no_std]
#![no_main]

use ulib::*;

/// Longest line handled as one; longer ones are matched in pieces of this size.
const BUF: usize = 1024;

fn matches(re: &[u8], text: &[u8]) -> bool {
    if let Some(rest) = re.strip_prefix(b"^") {
        return match_here(rest, text);
    }
    (0..=text.len()).any(|i| match_here(re, &text[i..]))
}

fn match_here(re: &[u8], text: &[u8]) -> bool {
    match re {
        [] => true,
        [c, b'*', rest @ ..] => match_star(*c, rest, text),
        [b'$'] => text.is_empty(),
        [c, rest @ ..] => match text {
            [t, trest @ ..] if *c == b'.' || c == t => match_here(rest, trest),
            _ => false,
        },
    }
}

/// Matches `c*` followed by `re` at the start of `text`.
fn match_star(c: u8, re: &[u8], text: &[u8]) -> bool {
    let mut i = 0;
    loop {
        if match_here(re, &text[i..]) {
            return true;
        }
        if i < text.len() && (text[i] == c || c == b'.') {
            i += 1;
        } else {
            return false;
        }
    }
}

fn grep(pattern: &[u8], fd: i32) {
    let mut buf = vec![0u8; BUF];
    let mut m = 0;
    loop {
        let n = read(fd, &mut buf[m..]);
        if n <= 0 {
            break;
        }
        m += n as usize;
        let mut start = 0;
        while let Some(nl) = buf[start..m].iter().position(|&c| c == b'\n') {
            let line = &buf[start..start + nl + 1];
            if matches(pattern, &line[..nl]) {
                write_all(1, line);
            }
            start += nl + 1;
        }
        if start == 0 && m == BUF {
            // A line longer than the buffer: match what we have as one line.
            start = m;
            if matches(pattern, &buf[..m]) {
                write_all(1, &buf[..m]);
                write_all(1, b"\n");
            }
        }
        buf.copy_within(start..m, 0);
        m -= start;
    }
    // A last line without a newline.
    if m > 0 && matches(pattern, &buf[..m]) {
        write_all(1, &buf[..m]);
        write_all(1, b"\n");
    }
}

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() <= 1 {
        eprintln!("usage: grep pattern [file ...]");
        return 1;
    }
    let pattern = args[1].as_bytes();
    if args.len() == 2 {
        grep(pattern, 0);
        return 0;
    }
    for path in &args[2..] {
        let fd = open(path, O_RDONLY);
        if fd < 0 {
            eprintln!("grep: cannot open {}", path);
            return 1;
        }
        grep(pattern, fd);
        close(fd);
    }
    0
}
