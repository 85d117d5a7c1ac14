//! ulib: the library every xv6net user program links.
//!
//! It provides the entry point (`_start` calls the program's
//! `#[unsafe(no_mangle)] fn main(args: &[&str]) -> i32` and exits with its result),
//! the panic handler, a heap over `sbrk`, the raw system calls ([`sys`]), safe
//! wrappers taking `&str` paths and slices (at the crate root), and printing
//! macros. `use ulib::*;` brings in all of it plus `Vec`, `String`, `Box`,
//! `format!` and `vec!`.
#![no_std]

extern crate alloc;

pub mod fs;
mod heap;
pub mod io;
pub mod net;
pub mod proc;
mod rt;
pub mod sys;

pub use abi::fs::{BSIZE, DIRSIZ, Dirent};
pub use abi::param::*;
pub use abi::{
    CONSOLE, O_CREATE, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, PGSIZE, Stat, T_DEVICE, T_DIR, T_FILE,
};
pub use alloc::{boxed::Box, format, string::String, string::ToString, vec, vec::Vec};
pub use fs::*;
pub use io::{read_line, write_all};
pub use net::{bind, connect, netstat, nettrace, parse_ipv4, recv, send, unbind};
pub use proc::*;

/// Like xv6's `atoi`: the value of the leading decimal digits of `s`, or 0.
pub fn atoi(s: &str) -> i32 {
    s.bytes().take_while(u8::is_ascii_digit).fold(0i32, |n, c| {
        n.wrapping_mul(10).wrapping_add((c - b'0') as i32)
    })
}
