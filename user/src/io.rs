//! Formatted output to file descriptors, and line input.
//!
//! `print!` and friends format into a 512-byte stack buffer and flush it with one
//! `write`, so a line printed by one process is not split by another's output.

use crate::fs::{read, write};
use core::fmt;

const BUF: usize = 512;

/// Buffers formatted text for one file descriptor; flushes whenever it would overflow.
struct FdWriter {
    fd: i32,
    len: usize,
    buf: [u8; BUF],
}

impl FdWriter {
    fn flush(&mut self) {
        write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl fmt::Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        if self.len + bytes.len() > BUF {
            self.flush();
        }
        if bytes.len() > BUF {
            write_all(self.fd, bytes);
        } else {
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// Writes formatted `args` to `fd`. Used by the printing macros.
#[doc(hidden)]
pub fn _fprint(fd: i32, args: fmt::Arguments) {
    let mut w = FdWriter {
        fd,
        len: 0,
        buf: [0; BUF],
    };
    // FdWriter never fails; an error can only come from a Display impl, and then
    // printing what was formatted so far is the most useful thing to do.
    let _ = fmt::Write::write_fmt(&mut w, args);
    w.flush();
}

/// Writes all of `buf` to `fd`, looping over short writes. Returns the number of
/// bytes written, or -1 if the first write failed.
pub fn write_all(fd: i32, buf: &[u8]) -> i32 {
    let mut done = 0;
    while done < buf.len() {
        let n = write(fd, &buf[done..]);
        if n <= 0 {
            return if done == 0 { -1 } else { done as i32 };
        }
        done += n as usize;
    }
    done as i32
}

/// Like xv6's `gets()`: reads one byte at a time until `\n` or `\r` (kept), a full
/// buffer, or end of file. Returns the number of bytes read.
pub fn read_line(fd: i32, buf: &mut [u8]) -> usize {
    let mut i = 0;
    while i < buf.len() {
        let mut c = [0u8; 1];
        if read(fd, &mut c) < 1 {
            break;
        }
        buf[i] = c[0];
        i += 1;
        if c[0] == b'\n' || c[0] == b'\r' {
            break;
        }
    }
    i
}

/// Prints to standard output (fd 1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_fprint(1, format_args!($($arg)*)) };
}

/// Prints a line to standard output (fd 1).
#[macro_export]
macro_rules! println {
    () => { $crate::io::_fprint(1, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::io::_fprint(1, format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to standard error (fd 2).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::_fprint(2, format_args!($($arg)*)) };
}

/// Prints a line to standard error (fd 2).
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::_fprint(2, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::io::_fprint(2, format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to file descriptor `fd`.
#[macro_export]
macro_rules! fprint {
    ($fd:expr, $($arg:tt)*) => { $crate::io::_fprint($fd, format_args!($($arg)*)) };
}

/// Prints a line to file descriptor `fd`.
#[macro_export]
macro_rules! fprintln {
    ($fd:expr) => { $crate::io::_fprint($fd, format_args!("\n")) };
    ($fd:expr, $($arg:tt)*) => { $crate::io::_fprint($fd, format_args!("{}\n", format_args!($($arg)*))) };
}
