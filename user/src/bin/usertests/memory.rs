//! Memory tests: malloc until exhaustion, sbrk growing, shrinking and failing cleanly, the
//! zeroed .bss, the guard page below the stack, unwritable addresses, and sbrk edge cases
//! that used to panic xv6.
//!
//! Most of these poke raw memory that sbrk hands out: no Rust object lives there, so writing
//! it cannot break the program's invariants.

use crate::util::*;
use core::alloc::Layout;
use core::ptr::{null_mut, read_volatile, write_volatile};
use core::sync::atomic::AtomicU8;
use ulib::*;

/// xv6's `BIG`: sbrk tests grow the process to 100 MiB.
const BIG: usize = 100 * 1024 * 1024;

/// Allocate all memory with malloc, free it, and allocate again.
pub fn mem(s: &str) {
    if fork() == 0 {
        let chunk = Layout::from_size_align(10001, 8).unwrap();
        // Chain every block through its first word, as xv6 does with malloc.
        let mut m1: *mut u8 = null_mut();
        loop {
            // SAFETY: chunk has a nonzero size.
            let m2 = unsafe { alloc::alloc::alloc(chunk) };
            if m2.is_null() {
                break;
            }
            // SAFETY: m2 is a fresh, 8-aligned block of 10001 bytes.
            unsafe { m2.cast::<*mut u8>().write(m1) };
            m1 = m2;
        }
        while !m1.is_null() {
            // SAFETY: m1 is a live block from the loop above, holding the next link.
            let m2 = unsafe { m1.cast::<*mut u8>().read() };
            // SAFETY: m1 came from alloc with this same layout and is freed once.
            unsafe { alloc::alloc::dealloc(m1, chunk) };
            m1 = m2;
        }
        let again = Layout::from_size_align(1024 * 20, 8).unwrap();
        // SAFETY: nonzero size.
        let m = unsafe { alloc::alloc::alloc(again) };
        if m.is_null() {
            fail!("{}: couldn't allocate mem?!!", s);
        }
        // SAFETY: m came from alloc with this layout.
        unsafe { alloc::alloc::dealloc(m, again) };
        exit(0);
    }
    let xstatus = wait_status();
    // -1 is probably a page fault under lazy allocation, which is OK.
    exit(if xstatus == -1 { 0 } else { xstatus });
}

/// sbrk returns the failure value for too much memory, and grows by single bytes.
pub fn sbrkbasic(s: &str) {
    const TOOMUCH: usize = 1024 * 1024 * 1024;

    let pid = fork();
    if pid < 0 {
        fail!("fork failed in sbrkbasic");
    }
    if pid == 0 {
        let a = sbrk(TOOMUCH as isize);
        if a == SBRK_ERROR {
            // It's OK if this fails.
            exit(0);
        }
        let mut b = a;
        while b < a + TOOMUCH {
            // SAFETY: inside the range sbrk claims to have given us (or a fault kills us).
            unsafe { write_volatile(b as *mut u8, 99) };
            b += PGSIZE;
        }
        // Either sbrk(TOOMUCH) should have failed or (lazily) a page fault killed us.
        exit(1);
    }
    if wait_status() == 1 {
        fail!("{}: too much memory allocated!", s);
    }

    // Can one sbrk() less than a page?
    let mut a = sbrk(0);
    for i in 0..5000 {
        let b = sbrk(1);
        if b != a {
            fail!("{}: sbrk test failed {} {:#x} {:#x}", s, i, a, b);
        }
        // SAFETY: b is the byte sbrk(1) just added.
        unsafe { write_volatile(b as *mut u8, 1) };
        a = b + 1;
    }
    let pid = fork();
    if pid < 0 {
        fail!("{}: sbrk test fork failed", s);
    }
    sbrk(1);
    let c = sbrk(1);
    if c != a + 1 {
        fail!("{}: sbrk test failed post-fork", s);
    }
    if pid == 0 {
        exit(0);
    }
    exit(wait_status());
}

/// Grow to 100 MiB, give a page back, take it again (zeroed), and shrink back.
pub fn sbrkmuch(s: &str) {
    let oldbrk = sbrk(0);

    // Can one grow the address space to something big?
    let a = sbrk(0);
    let amt = BIG - a;
    let p = sbrk(amt as isize);
    if p != a {
        fail!(
            "{}: sbrk test failed to grow big address space; enough phys mem?",
            s
        );
    }

    // Touch each page to make sure it exists.
    let eee = sbrk(0);
    let mut pp = a;
    while pp < eee {
        // SAFETY: [a, eee) was just added by sbrk.
        unsafe { write_volatile(pp as *mut u8, 1) };
        pp += PGSIZE;
    }

    let lastaddr = (BIG - 1) as *mut u8;
    // SAFETY: the last byte below the new break.
    unsafe { write_volatile(lastaddr, 99) };

    // Can one de-allocate?
    let a = sbrk(0);
    let c = sbrk(-(PGSIZE as isize));
    if c == SBRK_ERROR {
        fail!("{}: sbrk could not deallocate", s);
    }
    let c = sbrk(0);
    if c != a - PGSIZE {
        fail!(
            "{}: sbrk deallocation produced wrong address, a {:#x} c {:#x}",
            s,
            a,
            c
        );
    }

    // Can one re-allocate that page?
    let a = sbrk(0);
    let c = sbrk(PGSIZE as isize);
    if c != a || sbrk(0) != a + PGSIZE {
        fail!("{}: sbrk re-allocation failed, a {:#x} c {:#x}", s, a, c);
    }
    // SAFETY: lastaddr is in the page just re-allocated.
    if unsafe { read_volatile(lastaddr) } == 99 {
        // Should be zero.
        fail!("{}: sbrk de-allocation didn't really deallocate", s);
    }

    let a = sbrk(0);
    let c = sbrk(-((sbrk(0) - oldbrk) as isize));
    if c != a {
        fail!("{}: sbrk downsize failed, a {:#x} c {:#x}", s, a, c);
    }
}

/// When the system runs out of memory, does the failed sbrk free what it did allocate?
pub fn sbrkfail(s: &str) {
    let mut fds = [0; 2];
    if pipe(&mut fds) != 0 {
        fail!("{}: pipe() failed", s);
    }
    let mut pids = [0i32; 10];
    for pid in pids.iter_mut() {
        *pid = fork();
        if *pid == 0 {
            // Allocate a lot of memory (the later children run out), report, and sit around
            // until killed.
            sbrk((BIG - sbrk(0)) as isize);
            write(fds[1], b"x");
            loop {
                sleep(1000);
            }
        }
        if *pid != -1 {
            let mut scratch = [0u8; 1];
            read(fds[0], &mut scratch);
        }
    }

    // If those failed allocations freed the pages they did allocate, this works.
    let c = sbrk(PGSIZE as isize);
    for &pid in &pids {
        if pid == -1 {
            continue;
        }
        kill(pid);
        wait(None);
    }
    if c == SBRK_ERROR {
        fail!("{}: failed sbrk leaked memory", s);
    }

    // Fork with the page above, then grow absurdly: sbrk fails, so the loop faults.
    let pid = xfork(s);
    if pid == 0 {
        let a = sbrk(0);
        sbrk((10 * BIG) as isize);
        let mut n: i32 = 0;
        let mut i = 0;
        while i < 10 * BIG {
            // SAFETY: a deliberate fault once past the break (unless sbrk wrongly succeeded).
            n = n.wrapping_add(unsafe { read_volatile((a + i) as *const u8) } as i32);
            i += PGSIZE;
        }
        fail!("{}: allocate a lot of memory succeeded {}", s, n);
    }
    let xstatus = wait_status();
    if xstatus != -1 && xstatus != 2 {
        exit(1);
    }
}

/// System calls reading from and writing to freshly sbrk'd memory.
pub fn sbrkarg(s: &str) {
    let a = sbrk(PGSIZE as isize);
    let fd = open("sbrk", O_CREATE | O_WRONLY);
    unlink("sbrk");
    if fd < 0 {
        fail!("{}: open sbrk failed", s);
    }
    // SAFETY: a is a page sbrk just added.
    if unsafe { sys::write(fd, a as *const u8, PGSIZE as i32) } < 0 {
        fail!("{}: write sbrk failed", s);
    }
    close(fd);

    let a = sbrk(PGSIZE as isize);
    // SAFETY: a is a fresh page, room for the two descriptors.
    if unsafe { sys::pipe(a as *mut i32) } != 0 {
        fail!("{}: pipe() failed", s);
    }
}

/// Never written: exec must hand it over zeroed, like C's `char uninit[10000]`. Atomics keep
/// it in writable memory, so it lands in .bss, not in .rodata.
static UNINIT: [AtomicU8; 10000] = [const { AtomicU8::new(0) }; 10000];

/// Does uninitialized data start out zero?
pub fn bsstest(s: &str) {
    // Volatile loads: the compiler knows nothing stores to UNINIT and would fold plain loads
    // to zero, dropping both the check and the array.
    if UNINIT.iter().any(|b| {
        // SAFETY: each pointer is a valid, aligned byte of UNINIT.
        unsafe { b.as_ptr().read_volatile() != 0 }
    }) {
        fail!("{}: bss test failed", s);
    }
}

/// There is an unmapped guard page below the stack.
pub fn stacktest(s: &str) {
    let pid = fork();
    if pid == 0 {
        let sp: usize;
        // SAFETY: only copies the stack pointer into a register.
        unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
        // SAFETY: a deliberate fault: one stack's worth below sp is the guard page.
        let v = unsafe { read_volatile((sp - USERSTACK * PGSIZE) as *const u8) };
        fail!("{}: stacktest: read below stack {}", s, v);
    } else if pid < 0 {
        fail!("{}: fork failed", s);
    }
    let xstatus = wait_status();
    // -1: the kernel killed the child, as it should.
    exit(if xstatus == -1 { 0 } else { xstatus });
}

/// Writes to forbidden addresses (null, the kernel, the trapframe, the trampoline, beyond
/// MAXVA) kill the writer.
pub fn nowrite(s: &str) {
    const ADDRS: [usize; 6] = [
        0,
        0x8000_0000,
        0x3f_ffff_e000,
        0x3f_ffff_f000,
        0x40_0000_0000,
        0xffff_ffff_ffff_ffff,
    ];
    for addr in ADDRS {
        let pid = fork();
        if pid == 0 {
            // SAFETY: a deliberate fault. A byte store, where xv6 stores an int, so that the
            // last address needs no alignment.
            unsafe { write_volatile(addr as *mut u8, 10) };
            println!("{}: write to {:#x} did not fail!", s, addr);
            exit(0);
        } else if pid < 0 {
            fail!("{}: fork failed", s);
        }
        if wait_status() == 0 {
            // The kernel did not kill the child.
            exit(1);
        }
    }
    exit(0);
}

/// Regression test: sbrk down to zero, into the first page, or by less than a page must not
/// panic the kernel. (The first two children lose their own code and die of a page fault;
/// only the kernel's survival matters.)
pub fn sbrkbugs(_s: &str) {
    let pid = fork();
    if pid < 0 {
        fail!("fork failed");
    }
    if pid == 0 {
        // Free all user memory: exit() used to panic because p->sz was not adjusted.
        let sz = sbrk(0);
        sbrk(-(sz as isize));
        exit(0);
    }
    wait(None);

    let pid = fork();
    if pid < 0 {
        fail!("fork failed");
    }
    if pid == 0 {
        // Set the break inside the very first page, which used to be freed wrongly.
        let sz = sbrk(0);
        sbrk(-((sz - 3500) as isize));
        exit(0);
    }
    wait(None);

    let pid = fork();
    if pid < 0 {
        fail!("fork failed");
    }
    if pid == 0 {
        // Set the break in the middle of a page, ten pages above the program (xv6 uses the
        // absolute 10 pages + 2048, which lies inside this bigger Rust binary)...
        let target = sbrk(0).next_multiple_of(PGSIZE) + 10 * PGSIZE + 2048;
        sbrk((target - sbrk(0)) as isize);
        // ...then lower it a little, without freeing a page: this used to panic.
        sbrk(-10);
        exit(0);
    }
    wait(None);

    exit(0);
}

/// After growing past a page boundary and shrinking back below it, can the kernel still
/// copyin from the last page?
pub fn sbrklast(_s: &str) {
    let top = sbrk(0);
    if !top.is_multiple_of(PGSIZE) {
        sbrk((PGSIZE - top % PGSIZE) as isize);
    }
    sbrk(PGSIZE as isize);
    sbrk(10);
    sbrk(-20);
    let top = sbrk(0);
    let p = (top - 64) as *mut u8;
    // SAFETY: p..p+2 lies below the break in raw sbrk memory; the kernel reads and writes
    // one byte there.
    let ok = unsafe {
        p.write(b'x');
        p.add(1).write(0);
        let fd = sys::open(p, O_RDWR | O_CREATE);
        sys::write(fd, p, 1);
        close(fd);
        let fd = sys::open(p, O_RDWR);
        p.write(0);
        sys::read(fd, p, 1);
        read_volatile(p) == b'x'
    };
    if !ok {
        exit(1);
    }
}

/// Does sbrk handle an int argument that wrapped negative (C's `sbrk(0x80000004)`)?
pub fn sbrk8000(_s: &str) {
    sbrk(0x8000_0004_u32 as i32 as isize);
    let top = sbrk(0);
    let p = (top - 1) as *mut u8;
    // SAFETY: the last byte below the break; at worst it is the allocator's, which this process
    // does not use again before exiting.
    unsafe { write_volatile(p, read_volatile(p).wrapping_add(1)) };
}
