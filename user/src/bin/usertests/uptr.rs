//! User-pointer tests: system calls handed wild pointers must fail cleanly (copyin, copyout,
//! copyinstr), exec must refuse oversized or bad arguments, and loads or stores outside the
//! process must kill only the process (status -1).
//!
//! These call `ulib::sys` directly with xv6's raw addresses. Every such call is sound from this
//! process's side: the kernel validates the pointer, and the tests pass only addresses outside
//! the address space or raw sbrk pages that no Rust object occupies.

use crate::util::*;
use core::ptr::{null, read_volatile, write_volatile};
use ulib::*;

/// Kernel memory, the trapframe, the trampoline, MAXVA, and the top of the 64-bit range.
const WILD: [usize; 5] = [
    0x8000_0000,
    0x3f_ffff_e000,
    0x3f_ffff_f000,
    0x40_0000_0000,
    0xffff_ffff_ffff_ffff,
];

/// Does write() refuse buffers that are not user memory (copyin)?
pub fn copyin(_s: &str) {
    for addr in WILD {
        let fd = open("copyin1", O_CREATE | O_WRONLY);
        if fd < 0 {
            fail!("open(copyin1) failed");
        }
        // SAFETY: write only reads from addr, and the kernel must reject it (module doc).
        let n = unsafe { sys::write(fd, addr as *const u8, 8192) };
        if n >= 0 {
            fail!("write(fd, {:#x}, 8192) returned {}, not -1", addr, n);
        }
        close(fd);
        unlink("copyin1");

        // SAFETY: as above, for the console.
        let n = unsafe { sys::write(1, addr as *const u8, 8192) };
        if n > 0 {
            fail!("write(1, {:#x}, 8192) returned {}, not -1 or 0", addr, n);
        }

        let mut fds = [0; 2];
        if pipe(&mut fds) < 0 {
            fail!("pipe() failed");
        }
        // SAFETY: as above, for a pipe.
        let n = unsafe { sys::write(fds[1], addr as *const u8, 8192) };
        if n > 0 {
            fail!("write(pipe, {:#x}, 8192) returned {}, not -1 or 0", addr, n);
        }
        close(fds[0]);
        close(fds[1]);
    }
}

/// Does read() refuse destinations that are not writable user memory (copyout)?
pub fn copyout(_s: &str) {
    // Address 0 too: it is unmapped here (xv6 maps read-only text there).
    for addr in [0].into_iter().chain(WILD) {
        let fd = open("README", O_RDONLY);
        if fd < 0 {
            fail!("open(README) failed");
        }
        // SAFETY: no Rust object lives at addr, and the kernel must refuse to write there.
        let n = unsafe { sys::read(fd, addr as *mut u8, 8192) };
        if n > 0 {
            fail!("read(fd, {:#x}, 8192) returned {}, not -1 or 0", addr, n);
        }
        close(fd);

        let mut fds = [0; 2];
        if pipe(&mut fds) < 0 {
            fail!("pipe() failed");
        }
        if write(fds[1], b"x") != 1 {
            fail!("pipe write failed");
        }
        // SAFETY: as above, from a pipe.
        let n = unsafe { sys::read(fds[0], addr as *mut u8, 8192) };
        if n > 0 {
            fail!("read(pipe, {:#x}, 8192) returned {}, not -1 or 0", addr, n);
        }
        close(fds[0]);
        close(fds[1]);
    }
}

/// Does open() refuse path pointers that are not user memory (copyinstr)?
pub fn copyinstr1(_s: &str) {
    for addr in WILD {
        // SAFETY: the kernel only reads the path, and must reject addr.
        let fd = unsafe { sys::open(addr as *const u8, O_CREATE | O_WRONLY) };
        if fd >= 0 {
            fail!("open({:#x}) returned {}, not -1", addr, fd);
        }
    }
}

/// A path exactly MAXPATH bytes long has its NUL just past the kernel's buffer: every path
/// call must fail. And exec must refuse arguments bigger than a page.
pub fn copyinstr2(_s: &str) {
    // The raw calls hand this buffer to the kernel as is (ulib's wrappers would check the
    // length first). MAXPATH + 1 bytes are fine on the stack.
    let mut b = [b'x'; MAXPATH + 1];
    b[MAXPATH] = 0;
    let p = b.as_ptr();
    let shown = "x".repeat(MAXPATH);

    // SAFETY: p is a NUL-terminated string that lives across the call.
    let ret = unsafe { sys::unlink(p) };
    if ret != -1 {
        fail!("unlink({}) returned {}, not -1", shown, ret);
    }
    // SAFETY: as above.
    let fd = unsafe { sys::open(p, O_CREATE | O_WRONLY) };
    if fd != -1 {
        fail!("open({}) returned {}, not -1", shown, fd);
    }
    // SAFETY: as above.
    let ret = unsafe { sys::link(p, p) };
    if ret != -1 {
        fail!("link({}, {}) returned {}, not -1", shown, shown, ret);
    }
    let args = [c"xx".as_ptr().cast::<u8>(), null()];
    // SAFETY: p and args are NUL-terminated and null-terminated, alive across the call.
    let ret = unsafe { sys::exec(p, args.as_ptr()) };
    if ret != -1 {
        fail!("exec({}) returned {}, not -1", shown, ret);
    }

    let pid = fork();
    if pid < 0 {
        fail!("fork failed");
    }
    if pid == 0 {
        let mut big = vec![b'x'; PGSIZE + 1];
        big[PGSIZE] = 0;
        let args2 = [big.as_ptr(), big.as_ptr(), big.as_ptr(), null()];
        // SAFETY: every argument is a NUL-terminated heap string alive across the call.
        let ret = unsafe { sys::exec(c"echo".as_ptr().cast(), args2.as_ptr()) };
        if ret != -1 {
            fail!("exec(echo, BIG) returned {}, not -1", ret);
        }
        exit(747);
    }
    if wait_status() != 747 {
        fail!("exec(echo, BIG) succeeded, should have failed");
    }
}

/// A path that runs off the end of the last user page must fail, not crash the kernel.
pub fn copyinstr3(_s: &str) {
    sbrk(8192);
    let top = sbrk(0);
    if !top.is_multiple_of(PGSIZE) {
        sbrk((PGSIZE - top % PGSIZE) as isize);
    }
    let top = sbrk(0);
    if !top.is_multiple_of(PGSIZE) {
        fail!("oops");
    }
    let b = (top - 1) as *mut u8;
    // SAFETY: top - 1 is the last byte of memory sbrk just gave this process.
    unsafe { b.write(b'x') };

    // SAFETY: the kernel reads the string at b, which runs into the unmapped page at top;
    // it must notice and fail (the same for the three calls below).
    let ret = unsafe { sys::unlink(b) };
    if ret != -1 {
        fail!("unlink(x) returned {}, not -1", ret);
    }
    // SAFETY: see above.
    let fd = unsafe { sys::open(b, O_CREATE | O_WRONLY) };
    if fd != -1 {
        fail!("open(x) returned {}, not -1", fd);
    }
    // SAFETY: see above.
    let ret = unsafe { sys::link(b, b) };
    if ret != -1 {
        fail!("link(x, x) returned {}, not -1", ret);
    }
    let args = [c"xx".as_ptr().cast::<u8>(), null()];
    // SAFETY: see above; args is null-terminated.
    let ret = unsafe { sys::exec(b, args.as_ptr()) };
    if ret != -1 {
        fail!("exec(x) returned {}, not -1", ret);
    }
}

/// Does the kernel refuse to read or write memory the process gave back with sbrk?
pub fn rwsbrk(_s: &str) {
    let a = sbrk(8192);
    if a == SBRK_ERROR {
        fail!("sbrk(rwsbrk) failed");
    }
    if sbrk(-8192) == SBRK_ERROR {
        fail!("sbrk(rwsbrk) shrink failed");
    }
    let gone = a + PGSIZE;

    let fd = open("rwsbrk", O_CREATE | O_WRONLY);
    if fd < 0 {
        fail!("open(rwsbrk) failed");
    }
    // SAFETY: `gone` is no longer mapped; the kernel must refuse it.
    let n = unsafe { sys::write(fd, gone as *const u8, 1024) };
    if n >= 0 {
        fail!("write(fd, {:#x}, 1024) returned {}, not -1", gone, n);
    }
    close(fd);
    unlink("rwsbrk");

    let fd = open("README", O_RDONLY);
    if fd < 0 {
        fail!("open(README) failed");
    }
    // SAFETY: as above.
    let n = unsafe { sys::read(fd, gone as *mut u8, 10) };
    if n >= 0 {
        fail!("read(fd, {:#x}, 10) returned {}, not -1", gone, n);
    }
    close(fd);
    exit(0);
}

/// Can user code read the kernel's memory? Each attempt must kill the child.
pub fn kernmem(s: &str) {
    let mut a = KERNBASE;
    while a < KERNBASE + 2_000_000 {
        if xfork(s) == 0 {
            // SAFETY: a deliberate fault: kernel memory is not user-accessible, so the kernel
            // kills this process before the load completes.
            let v = unsafe { read_volatile(a as *const u8) };
            fail!("{}: oops could read {:#x} = {:#x}", s, a, v);
        }
        if wait_status() != -1 {
            exit(1);
        }
        a += 50000;
    }
}

/// User code must not be able to write at or above MAXVA.
pub fn maxva_plus(s: &str) {
    let mut a = abi::MAXVA;
    while a != 0 {
        if xfork(s) == 0 {
            // SAFETY: a deliberate fault at an address no user page can map.
            unsafe { write_volatile(a as *mut u8, 99) };
            fail!("{}: oops wrote {:#x}", s, a);
        }
        if wait_status() != -1 {
            exit(1);
        }
        a <<= 1;
    }
}

/// Bad string pointers to link() must fail, not crash the kernel.
pub fn validatetest(s: &str) {
    let hi = 1100 * 1024;
    let mut p = 0;
    while p <= hi {
        // SAFETY: the kernel only reads the path at p; it is either unmapped (rejected) or
        // this process's own memory (a string that names no file).
        let r = unsafe { sys::link(c"nosuchfile".as_ptr().cast(), p as *const u8) };
        if r != -1 {
            fail!("{}: link should not succeed", s);
        }
        p += PGSIZE;
    }
}

/// Does exec fail (and return) when the arguments do not fit on the one-page stack?
pub fn bigargtest(s: &str) {
    unlink("bigarg-ok");
    let pid = fork();
    if pid == 0 {
        let mut big = vec![b' '; 400];
        big[399] = 0;
        let mut args = vec![big.as_ptr(); MAXARG];
        args[MAXARG - 1] = null();
        // SAFETY: 31 NUL-terminated heap strings and a null terminator, alive across the call.
        unsafe { sys::exec(c"echo".as_ptr().cast(), args.as_ptr()) };
        let fd = open("bigarg-ok", O_CREATE);
        close(fd);
        exit(0);
    } else if pid < 0 {
        fail!("{}: bigargtest: fork failed", s);
    }
    let xstatus = wait_status();
    if xstatus != 0 {
        exit(xstatus);
    }
    let fd = open("bigarg-ok", O_RDONLY);
    if fd < 0 {
        fail!("{}: bigarg test failed!", s);
    }
    close(fd);
}

/// read() into the last byte of memory with a huge count must fail cleanly.
pub fn argptest(s: &str) {
    let fd = open("init", O_RDONLY);
    if fd < 0 {
        fail!("{}: open failed", s);
    }
    let last = sbrk(0) - 1;
    // SAFETY: the kernel may copy file bytes from `last` to the end of its page, which can
    // clobber the allocator's last byte; this process only closes a file and exits afterwards,
    // so nothing reads it. It must stop at the unmapped page that follows.
    unsafe { sys::read(fd, last as *mut u8, -1) };
    close(fd);
}

/// Regression test: wild pointers whose page address does not fit in 32 bits.
pub fn pgbug(_s: &str) {
    let big = 0xeaeb_0b5b_0000_2f5e_usize;
    let argv = [null::<u8>()];
    // SAFETY: big is not a user address; the kernel must reject both calls.
    unsafe {
        sys::exec(big as *const u8, argv.as_ptr());
        sys::pipe(big as *mut i32);
    }
    exit(0);
}

/// Regression test: exec with an invalid argv[0] must not leak memory (countfree notices).
pub fn badarg(_s: &str) {
    for _ in 0..50000 {
        let argv = [0xffff_ffff_usize as *const u8, null()];
        // SAFETY: argv[0] is a wild pointer the kernel must reject; nothing here is written.
        unsafe { sys::exec(c"echo".as_ptr().cast(), argv.as_ptr()) };
    }
    exit(0);
}

/// Does the kernel refuse user pointers that are in the address space but not writable, or
/// that run past its end? (The kernel copies through the MMU: the fault of a bad page must turn
/// into -1, and nothing may reach the kernel's memory right above user space.)
pub fn badptr(_s: &str) {
    let text = badptr as *const () as usize;
    let sp: usize;
    // SAFETY: only copies the stack pointer into a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    // sp is in the stack's top page, this shallow in the call chain.
    let guard = (sp & !(PGSIZE - 1)) - USERSTACK * PGSIZE;
    // (address, length): read-only text, the stack's guard page, and a buffer that starts in
    // user space and ends in the kernel's memory above it.
    let cases = [(text, 16), (guard, 16), (KERNBASE - 8, 16)];
    for (addr, len) in cases {
        let before = if addr == text {
            // SAFETY: text is mapped and readable.
            unsafe { read_volatile(text as *const u64) }
        } else {
            0
        };
        let fd = open("README", O_RDONLY);
        if fd < 0 {
            fail!("open(README) failed");
        }
        // SAFETY: the kernel must refuse to write there (module doc).
        let n = unsafe { sys::read(fd, addr as *mut u8, len) };
        if n >= 0 {
            fail!("read(fd, {:#x}, {}) returned {}, not -1", addr, len, n);
        }
        close(fd);
        // SAFETY: as above.
        if addr == text && unsafe { read_volatile(text as *const u64) } != before {
            fail!("read() changed this program's text");
        }
        // The same addresses as the source of a write (copyin): only the text may be read.
        let fd = open("badptr", O_CREATE | O_WRONLY);
        if fd < 0 {
            fail!("open(badptr) failed");
        }
        // SAFETY: write only reads from addr, which the kernel checks.
        let n = unsafe { sys::write(fd, addr as *const u8, len) };
        let want = if addr == text { len } else { -1 };
        if n != want {
            fail!(
                "write(fd, {:#x}, {}) returned {}, not {}",
                addr,
                len,
                n,
                want
            );
        }
        close(fd);
        unlink("badptr");
    }
}
