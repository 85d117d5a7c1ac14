//! Program entry and panics.
//!
//! xv6's exec starts a program at `_start` with a0 = argc, a1 = argv (an array of
//! NUL-terminated strings) and sp 16-byte aligned, so `_start` can be a plain
//! Rust function: it builds `&[&str]`, calls the program's `main`, and exits with
//! the status `main` returns.

use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::{CStr, c_char};

unsafe extern "Rust" {
    /// Every program defines `#[unsafe(no_mangle)] fn main(args: &[&str]) -> i32`.
    safe fn main(args: &[&str]) -> i32;
}

/// Converts one argument; non-UTF-8 bytes become U+FFFD.
fn arg(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => String::from_utf8_lossy(bytes).into_owned().leak(),
    }
}

#[unsafe(no_mangle)]
extern "C" fn _start(argc: usize, argv: *const *const c_char) -> ! {
    let args: Vec<&str> = (0..argc)
        .map(|i| {
            // SAFETY: exec put argc valid pointers to NUL-terminated strings in argv;
            // they live on the stack for the whole life of the program.
            let s = unsafe { CStr::from_ptr(*argv.add(i)) };
            arg(s.to_bytes())
        })
        .collect();
    crate::sys::exit(main(&args))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::eprintln!("panic: {}", info.message());
    crate::sys::exit(-1)
}
