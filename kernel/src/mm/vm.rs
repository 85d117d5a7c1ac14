//! Sv39 page tables (xv6's vm.c): the kernel's direct map, per-process user page tables,
//! and the checked copies between user and kernel memory that every syscall uses.
//!
//! Kernel address space (identity-mapped except the top):
//! ```text
//!   TRAMPOLINE (MAXVA - 4096)   trampoline code, also mapped in user space
//!   KSTACK(p)                   kernel stacks, each below an unmapped guard page
//!   ...
//!   0x8000_0000 .. PHYSTOP      kernel text (R-X), then data + free RAM (RW-)
//!   devices                     UART, virtio-mmio, PLIC, test device: from the device tree
//! ```
//! User address space: program segments from a low address (0 for C xv6 binaries,
//! 0x1000 for ours; unmapped gaps are allowed), guard page, stack, sbrk heap, then
//! TRAPFRAME and TRAMPOLINE at the top.

use crate::arch::riscv::*;
use crate::dtb::platform;
use crate::mm::kalloc::{kalloc, kfree, kzalloc};
use core::sync::atomic::{AtomicUsize, Ordering};

/// A page table: the physical address of its root page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageTable(pub usize);

/// Pages of kernel stack per process (Rust frames are larger than C's).
pub const KSTACK_PAGES: usize = 4;

/// Virtual address of process slot `p`'s kernel stack (its lowest byte).
pub const fn kstack(p: usize) -> usize {
    abi::TRAMPOLINE - (p + 1) * (KSTACK_PAGES + 1) * PGSIZE
}

static KERNEL_PAGETABLE: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    static etext: [u8; 0];
}

/// The kernel page table.
pub fn kernel_pagetable() -> PageTable {
    PageTable(KERNEL_PAGETABLE.load(Ordering::Relaxed))
}

fn entries(pa: usize) -> *mut usize {
    pa as *mut usize
}

/// Builds the kernel page table.
pub fn kvminit() {
    let kpt = PageTable(kzalloc().expect("kvminit: out of memory"));
    let p = platform();
    for &(base, size) in p.mmio_regions().iter().flatten() {
        kvmmap(kpt, base, base, size, PTE_R | PTE_W);
    }
    // SAFETY: only the symbol's address is taken.
    let text_end = unsafe { etext.as_ptr() } as usize;
    kvmmap(
        kpt,
        p.ram_base,
        p.ram_base,
        text_end - p.ram_base,
        PTE_R | PTE_X,
    );
    kvmmap(kpt, text_end, text_end, p.ram_end - text_end, PTE_R | PTE_W);
    // SAFETY: only the symbol's address is taken.
    let tramp = unsafe { crate::arch::trampoline::trampoline.as_ptr() } as usize;
    kvmmap(kpt, abi::TRAMPOLINE, tramp, PGSIZE, PTE_R | PTE_X);
    crate::proc::proc_mapstacks(kpt);
    KERNEL_PAGETABLE.store(kpt.0, Ordering::Relaxed);
}

/// Switches this hart to the kernel page table and turns paging on.
pub fn kvminithart() {
    sfence_vma();
    // SAFETY: the kernel page table identity-maps the kernel's code, data and stacks.
    unsafe { w_satp(make_satp(kernel_pagetable().0)) };
    sfence_vma();
}

/// Returns the PTE for `va`, creating intermediate page-table pages if `alloc`.
/// None if `va` is out of range or a needed page could not be allocated.
pub fn walk(pt: PageTable, va: usize, alloc: bool) -> Option<*mut usize> {
    if va >= MAXVA {
        return None;
    }
    let mut table = pt.0;
    for level in [2, 1] {
        // SAFETY: `table` is a page-table page (4096 bytes), px() < 512.
        let pte = unsafe { entries(table).add(px(level, va)) };
        // SAFETY: pte points into a live page-table page.
        let v = unsafe { *pte };
        if v & PTE_V != 0 {
            table = pte2pa(v);
        } else {
            if !alloc {
                return None;
            }
            table = kzalloc()?;
            // SAFETY: as above.
            unsafe { *pte = pa2pte(table) | PTE_V };
        }
    }
    // SAFETY: `table` is a leaf-level page-table page.
    Some(unsafe { entries(table).add(px(0, va)) })
}

/// Physical address of user page `va`, if mapped and user-accessible.
pub fn walkaddr(pt: PageTable, va: usize) -> Option<usize> {
    let pte = walk(pt, va, false)?;
    // SAFETY: walk returned a pointer into a live page-table page.
    let v = unsafe { *pte };
    if v & PTE_V == 0 || v & PTE_U == 0 {
        return None;
    }
    Some(pte2pa(v))
}

/// Adds a mapping to the kernel page table at boot; panics on failure.
pub fn kvmmap(pt: PageTable, va: usize, pa: usize, sz: usize, perm: usize) {
    if mappages(pt, va, sz, pa, perm).is_err() {
        panic!("kvmmap {:#x}", va);
    }
}

/// Maps [va, va+size) to [pa, pa+size). `va` and `size` must be page-aligned.
pub fn mappages(pt: PageTable, va: usize, size: usize, pa: usize, perm: usize) -> Result<(), ()> {
    assert!(
        va.is_multiple_of(PGSIZE) && size.is_multiple_of(PGSIZE) && size != 0,
        "mappages: misaligned"
    );
    let mut a = va;
    let mut pa = pa;
    let last = va + size - PGSIZE;
    loop {
        let pte = walk(pt, a, true).ok_or(())?;
        // SAFETY: walk returned a pointer into a live page-table page.
        unsafe {
            if *pte & PTE_V != 0 {
                panic!("mappages: remap {:#x}", a);
            }
            *pte = pa2pte(pa) | perm | PTE_V;
        }
        if a == last {
            return Ok(());
        }
        a += PGSIZE;
        pa += PGSIZE;
    }
}

/// Removes `npages` mappings starting at `va`, freeing the pages if `do_free`.
/// Unlike xv6, pages that are not mapped are skipped: a user address space may have
/// holes (Rust programs leave page 0 unmapped).
pub fn uvmunmap(pt: PageTable, va: usize, npages: usize, do_free: bool) {
    assert!(va.is_multiple_of(PGSIZE), "uvmunmap: not aligned");
    for a in (va..va + npages * PGSIZE).step_by(PGSIZE) {
        let Some(pte) = walk(pt, a, false) else {
            continue;
        };
        // SAFETY: walk returned a pointer into a live page-table page.
        let v = unsafe { *pte };
        if v & PTE_V == 0 {
            continue;
        }
        if pte_flags(v) == PTE_V {
            panic!("uvmunmap: not a leaf");
        }
        if do_free {
            kfree(pte2pa(v));
        }
        // SAFETY: as above.
        unsafe { *pte = 0 };
    }
}

/// An empty user page table.
pub fn uvmcreate() -> Option<PageTable> {
    kzalloc().map(PageTable)
}

/// Grows a process from `oldsz` to `newsz` bytes (zeroed pages). Returns the new size.
pub fn uvmalloc(pt: PageTable, oldsz: usize, newsz: usize, xperm: usize) -> Option<usize> {
    if newsz < oldsz {
        return Some(oldsz);
    }
    if newsz > abi::TRAPFRAME {
        return None;
    }
    let oldsz = pgroundup(oldsz);
    for a in (oldsz..newsz).step_by(PGSIZE) {
        let mapped = kzalloc().and_then(|mem| {
            mappages(pt, a, PGSIZE, mem, PTE_R | PTE_U | xperm)
                .map_err(|_| kfree(mem))
                .ok()
        });
        if mapped.is_none() {
            uvmdealloc(pt, a, oldsz);
            return None;
        }
    }
    Some(newsz)
}

/// Shrinks a process from `oldsz` to `newsz` bytes. Returns the new size.
pub fn uvmdealloc(pt: PageTable, oldsz: usize, newsz: usize) -> usize {
    if newsz >= oldsz {
        return oldsz;
    }
    if pgroundup(newsz) < pgroundup(oldsz) {
        let npages = (pgroundup(oldsz) - pgroundup(newsz)) / PGSIZE;
        uvmunmap(pt, pgroundup(newsz), npages, true);
    }
    newsz
}

/// Frees page-table pages; all leaf mappings must already be removed.
fn freewalk(table: usize) {
    for i in 0..512 {
        // SAFETY: `table` is a page-table page of 512 entries.
        let pte = unsafe { entries(table).add(i) };
        // SAFETY: as above.
        let v = unsafe { *pte };
        if v & PTE_V != 0 && v & (PTE_R | PTE_W | PTE_X) == 0 {
            freewalk(pte2pa(v));
            // SAFETY: as above.
            unsafe { *pte = 0 };
        } else if v & PTE_V != 0 {
            panic!("freewalk: leaf");
        }
    }
    kfree(table);
}

/// Frees user memory pages [0, sz) and then the page table itself.
pub fn uvmfree(pt: PageTable, sz: usize) {
    if sz > 0 {
        uvmunmap(pt, 0, pgroundup(sz) / PGSIZE, true);
    }
    freewalk(pt.0);
}

/// Copies a parent's memory [0, sz) into a child's page table (for fork).
/// On failure, frees whatever was copied.
pub fn uvmcopy(old: PageTable, new: PageTable, sz: usize) -> Result<(), ()> {
    for va in (0..sz).step_by(PGSIZE) {
        let Some(pte) = walk(old, va, false) else {
            continue;
        };
        // SAFETY: walk returned a pointer into a live page-table page.
        let v = unsafe { *pte };
        if v & PTE_V == 0 {
            continue;
        }
        let copied = kalloc().and_then(|mem| {
            // SAFETY: both are distinct whole pages.
            unsafe {
                core::ptr::copy_nonoverlapping(pte2pa(v) as *const u8, mem as *mut u8, PGSIZE)
            };
            mappages(new, va, PGSIZE, mem, pte_flags(v))
                .map_err(|_| kfree(mem))
                .ok()
        });
        if copied.is_none() {
            uvmunmap(new, 0, va / PGSIZE, true);
            return Err(());
        }
    }
    Ok(())
}

/// Marks a PTE invalid for user access (the stack guard page).
pub fn uvmclear(pt: PageTable, va: usize) {
    let pte = walk(pt, va, false).expect("uvmclear");
    // SAFETY: walk returned a pointer into a live page-table page.
    unsafe { *pte &= !PTE_U };
}

/// Copies `src` to user address `dstva`. Fails on any unmapped, non-user or read-only page.
pub fn copyout(pt: PageTable, mut dstva: usize, mut src: &[u8]) -> Result<(), ()> {
    while !src.is_empty() {
        let va0 = pgrounddown(dstva);
        let pte = walk(pt, va0, false).ok_or(())?;
        // SAFETY: walk returned a pointer into a live page-table page.
        let v = unsafe { *pte };
        if v & PTE_V == 0 || v & PTE_U == 0 || v & PTE_W == 0 {
            return Err(());
        }
        let n = (PGSIZE - (dstva - va0)).min(src.len());
        let pa = pte2pa(v) + (dstva - va0);
        // SAFETY: [pa, pa+n) lies inside one mapped user page; src is kernel memory.
        unsafe { core::ptr::copy(src.as_ptr(), pa as *mut u8, n) };
        src = &src[n..];
        dstva = va0 + PGSIZE;
    }
    Ok(())
}

/// Copies `dst.len()` bytes from user address `srcva`.
pub fn copyin(pt: PageTable, dst: &mut [u8], mut srcva: usize) -> Result<(), ()> {
    let mut done = 0;
    while done < dst.len() {
        let va0 = pgrounddown(srcva);
        let pa0 = walkaddr(pt, va0).ok_or(())?;
        let n = (PGSIZE - (srcva - va0)).min(dst.len() - done);
        // SAFETY: [pa0+off, +n) lies inside one mapped user page.
        unsafe {
            core::ptr::copy(
                (pa0 + (srcva - va0)) as *const u8,
                dst[done..].as_mut_ptr(),
                n,
            )
        };
        done += n;
        srcva = va0 + PGSIZE;
    }
    Ok(())
}

/// Copies a NUL-terminated string from user space into `dst`. Returns its length
/// (without the NUL); fails if no NUL fits in `dst` or a page is not mapped.
pub fn copyinstr(pt: PageTable, dst: &mut [u8], mut srcva: usize) -> Result<usize, ()> {
    let mut got = 0;
    while got < dst.len() {
        let va0 = pgrounddown(srcva);
        let pa0 = walkaddr(pt, va0).ok_or(())?;
        let mut off = srcva - va0;
        while off < PGSIZE && got < dst.len() {
            // SAFETY: pa0 + off is inside a mapped user page.
            let c = unsafe { *((pa0 + off) as *const u8) };
            dst[got] = c;
            if c == 0 {
                return Ok(got);
            }
            got += 1;
            off += 1;
        }
        srcva = va0 + PGSIZE;
    }
    Err(())
}
