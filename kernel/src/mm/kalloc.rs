//! Physical page allocator: a free list of 4096-byte pages threaded through the pages
//! themselves, covering RAM from the end of the kernel (and its heap) to the top.

use crate::arch::riscv::{PGSIZE, pgroundup};
use crate::sync::spinlock::Spinlock;
use core::sync::atomic::{AtomicUsize, Ordering};

struct FreeList {
    head: usize,
    nfree: usize,
}

static KMEM: Spinlock<FreeList> = Spinlock::new("kmem", FreeList { head: 0, nfree: 0 });

/// Physical RAM bounds handed out by kalloc (set once by kinit).
static RANGE_LO: AtomicUsize = AtomicUsize::new(0);
static RANGE_HI: AtomicUsize = AtomicUsize::new(0);

/// Gives every page in [start, end) to the allocator.
pub fn kinit(start: usize, end: usize) {
    RANGE_LO.store(pgroundup(start), Ordering::Relaxed);
    RANGE_HI.store(end, Ordering::Relaxed);
    let mut pa = pgroundup(start);
    while pa + PGSIZE <= end {
        kfree(pa);
        pa += PGSIZE;
    }
}

fn range() -> (usize, usize) {
    (
        RANGE_LO.load(Ordering::Relaxed),
        RANGE_HI.load(Ordering::Relaxed),
    )
}

/// Returns a page to the free list. `pa` must have come from `kalloc` (or kinit).
pub fn kfree(pa: usize) {
    let (lo, hi) = range();
    if !pa.is_multiple_of(PGSIZE) || pa < lo || pa >= hi {
        panic!("kfree: bad page {:#x}", pa);
    }
    // Fill with junk to catch dangling references.
    // SAFETY: the page is owned by the caller and being returned; nobody else uses it.
    unsafe { core::ptr::write_bytes(pa as *mut u8, 1, PGSIZE) };
    let mut k = KMEM.lock();
    // SAFETY: the first word of a free page holds the next-free link.
    unsafe { *(pa as *mut usize) = k.head };
    k.head = pa;
    k.nfree += 1;
}

/// Allocates one page, filled with junk; None when memory is exhausted.
pub fn kalloc() -> Option<usize> {
    let mut k = KMEM.lock();
    let pa = k.head;
    if pa == 0 {
        return None;
    }
    // SAFETY: pa is a free page whose first word is the next link.
    k.head = unsafe { *(pa as *const usize) };
    k.nfree -= 1;
    drop(k);
    // SAFETY: the page now belongs to the caller.
    unsafe { core::ptr::write_bytes(pa as *mut u8, 5, PGSIZE) };
    Some(pa)
}

/// Allocates one zeroed page.
pub fn kzalloc() -> Option<usize> {
    let pa = kalloc()?;
    // SAFETY: the page belongs to the caller.
    unsafe { core::ptr::write_bytes(pa as *mut u8, 0, PGSIZE) };
    Some(pa)
}

/// Number of free pages.
pub fn freepages() -> usize {
    KMEM.lock().nfree
}
