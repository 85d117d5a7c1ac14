//! The bad-input checks' tools: a [`Checker`] that counts and prints failed
//! expectations, and [`raw`] system calls with arbitrary (possibly bad) arguments.

use ulib::socket::Errno;
use ulib::*;

/// Counts checks and failures, printing each failure.
pub struct Checker {
    pub failed: usize,
}

impl Checker {
    pub fn expect<T: core::fmt::Debug>(&mut self, what: &str, got: Result<T, Errno>, want: Errno) {
        match got {
            Err(e) if e == want => {}
            other => {
                self.failed += 1;
                println!(
                    "socktest: {}: got {:?}, want {:?} ({})",
                    what, other, want, want
                );
            }
        }
    }

    pub fn ok<T>(&mut self, what: &str, got: Result<T, Errno>) -> Option<T> {
        match got {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed += 1;
                println!("socktest: {}: {}", what, e);
                None
            }
        }
    }

    pub fn check(&mut self, what: &str, cond: bool) {
        if !cond {
            self.failed += 1;
            println!("socktest: {}: failed", what);
        }
    }
}

/// A raw call with arbitrary (possibly bad) arguments, as -errno.
pub fn raw(num: usize, a: [usize; 6]) -> Result<usize, Errno> {
    // SAFETY: the kernel must reject bad pointers with EFAULT; that is what is tested.
    // Good pointers given here point at live locals.
    let r = unsafe { ulib::sys::syscall(num, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        Err(Errno::from_code(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// An address no process maps.
pub const BAD_PTR: usize = 0x3f_ffff_0000;
