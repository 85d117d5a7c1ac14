//! Constants and small helpers the test modules share: xv6 values ulib does not export, the
//! scratch buffer that xv6 keeps as a global, and fork/wait shorthands.

use ulib::*;

/// Size of xv6's global `buf`: a write this big spans more blocks than one log transaction.
pub const BUFSZ: usize = (MAXOPBLOCKS + 2) * BSIZE;
/// What sbrk returns on failure (`(char*)-1`).
pub const SBRK_ERROR: usize = usize::MAX;
/// Start of the kernel's address range (`memlayout.h`).
pub const KERNBASE: usize = 0x8000_0000;

/// A zeroed `BUFSZ` buffer on the heap (xv6's `char buf[BUFSZ]`; too big for the one-page stack).
pub fn scratch() -> Vec<u8> {
    vec![0; BUFSZ]
}

/// A file name built from ASCII bytes, like xv6's `name[0] = 'a'; name[1] = '0' + i; ...`.
pub fn name(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// `fork()`, failing the test with xv6's message if it cannot.
pub fn xfork(s: &str) -> i32 {
    let pid = fork();
    if pid < 0 {
        fail!("{}: fork failed", s);
    }
    pid
}

/// Waits for any child and returns its exit status.
pub fn wait_status() -> i32 {
    let mut xstatus = 0;
    wait(Some(&mut xstatus));
    xstatus
}
