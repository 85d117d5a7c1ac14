//! Sv39 page tables (xv6's vm.c): the kernel's mappings, per-process user page tables,
//! and the checked copies between user and kernel memory that every syscall uses.
//!
//! Unlike xv6, the kernel is mapped into every process's page table, so a trap from user
//! space runs the kernel on the process's own page table: no `satp` write (and, under QEMU,
//! no TLB flush) per system call or interrupt. The kernel's mappings sit in root entries a
//! user program never uses, shared by pointer with the kernel page table:
//! ```text
//!   0xffff_ffff_ffff_f000 down  KSTACK(p): kernel stacks, each below an unmapped guard page
//!   DEVICE_BASE + pa            device registers (UART, PLIC, virtio-mmio, PCI, test device)
//!   -- upper half of Sv39 above, lower half below --
//!   TRAMPOLINE (MAXVA - 4096)   trampoline code          } per process, not U
//!   TRAPFRAME  (MAXVA - 8192)   this process's trap frame }
//!   ...
//!   RAM_BASE .. RAM_END         kernel text (R-X), then data + free RAM (RW-), identity
//!   user_top() = RAM_BASE       user memory below: program segments from 0 (C xv6 binaries)
//!   0                           or 0x1000 (ours), stack, sbrk heap
//! ```
//! The kernel page table holds the same kernel mappings; the scheduler runs on it, so a hart
//! never runs on a process's page table after that process stops running there.

use crate::arch::riscv::*;
use crate::arch::usercopy;
use crate::dtb::platform;
use crate::mm::kalloc::{kalloc, kfree, kzalloc};
use abi::param::NPROC;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A page table: the physical address of its root page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageTable(pub usize);

/// Pages of kernel stack per process (Rust frames are larger than C's).
pub const KSTACK_PAGES: usize = 4;

/// Top of the kernel-stack region: the last page of the Sv39 upper half.
const KSTACKS_TOP: usize = 0usize.wrapping_sub(PGSIZE);

/// Virtual address of process slot `p`'s kernel stack (its lowest byte).
pub const fn kstack(p: usize) -> usize {
    KSTACKS_TOP - (p + 1) * (KSTACK_PAGES + 1) * PGSIZE
}

/// The process slot whose kernel stack `sp` (a stack pointer: the byte below it is the last
/// one pushed) lies in; None outside every kernel stack, as on a hart's boot stack.
pub fn kstack_slot(sp: usize) -> Option<usize> {
    // Slot p's stack and the guard page above it take the p-th stride below KSTACKS_TOP.
    let p = KSTACKS_TOP.checked_sub(sp)? / ((KSTACK_PAGES + 1) * PGSIZE);
    if p >= NPROC {
        return None;
    }
    let pushed = sp.wrapping_sub(1);
    (kstack(p)..kstack(p) + KSTACK_PAGES * PGSIZE)
        .contains(&pushed)
        .then_some(p)
}

/// Where device registers are mapped: physical address `pa` at `DEVICE_BASE + pa`, the start
/// of the Sv39 upper half. Devices sit at low physical addresses (the test device at 1 MiB)
/// where user programs live, so they cannot be identity-mapped in a user page table.
pub const DEVICE_BASE: usize = 0xffff_ffc0_0000_0000;

/// The address of device registers at physical address `pa`: their alias in the device region
/// once this hart has paging on, the physical address before (early boot messages).
pub fn device_va(pa: usize) -> usize {
    if r_satp() == 0 { pa } else { DEVICE_BASE + pa }
}

/// First address above user memory: user pages live in [0, user_top()), below the kernel's
/// identity-mapped RAM. Copies to and from user memory check their range against it.
pub fn user_top() -> usize {
    platform().ram_base
}

/// Whether [va, va + len) lies in user memory.
pub fn is_user_range(va: usize, len: usize) -> bool {
    va.checked_add(len).is_some_and(|end| end <= user_top())
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
        kvmmap(kpt, DEVICE_BASE + base, base, size, PTE_R | PTE_W);
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
    crate::proc::proc_mapstacks(kpt);
    // User page tables share the kernel's root entries, so none may cover user memory or the
    // trampoline and trap frame.
    for i in 0..512 {
        // SAFETY: the root page has 512 entries.
        let shared = unsafe { *entries(kpt.0).add(i) } != 0;
        let user = i < root_entries_below(user_top()) || i == px(2, abi::TRAPFRAME);
        assert!(
            !(shared && user),
            "kvminit: kernel mapping in user root entry {i}"
        );
    }
    KERNEL_PAGETABLE.store(kpt.0, Ordering::Relaxed);
}

/// How many root entries (1 GiB each) cover [0, va).
const fn root_entries_below(va: usize) -> usize {
    va.div_ceil(1 << 30)
}

/// Switches this hart to the kernel page table and turns paging on. Supervisor code may
/// touch user pages from now on (sstatus.SUM): QEMU 7.2 flushes its whole TLB whenever SUM
/// changes, so turning it on around each copy would cost what the page-table switch cost.
/// Copies still check their range (`is_user_range`), and nothing else in the kernel
/// dereferences user addresses.
pub fn kvminithart() {
    switch_to(kernel_pagetable());
    w_sstatus(r_sstatus() | SSTATUS_SUM);
}

/// Loads page table `pt` on this hart and flushes stale translations.
pub fn switch_to(pt: PageTable) {
    // SAFETY: every page table maps the kernel's code, data, stacks and devices identically.
    unsafe { w_satp(make_satp(pt.0)) };
    sfence_vma();
}

/// Whether `pt` is the page table loaded on this hart.
fn is_loaded(pt: PageTable) -> bool {
    r_satp() == make_satp(pt.0)
}

/// Returns the PTE for `va`, creating intermediate page-table pages if `alloc`.
/// None if `va` is out of range or a needed page could not be allocated.
pub fn walk(pt: PageTable, va: usize, alloc: bool) -> Option<*mut usize> {
    // Sv39 addresses are sign-extended from bit 38: the lower half, or the upper half where
    // the kernel keeps its stacks and device registers.
    if (MAXVA..DEVICE_BASE).contains(&va) {
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
    if va >= user_top() {
        return None;
    }
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

/// A user page table with only the kernel's mappings: its root entries point at the kernel
/// page table's own lower levels, which never change after boot.
pub fn uvmcreate() -> Option<PageTable> {
    let pt = kzalloc()?;
    // SAFETY: both are distinct root pages of 512 entries.
    unsafe { core::ptr::copy_nonoverlapping(entries(kernel_pagetable().0), entries(pt), 512) };
    Some(PageTable(pt))
}

/// Grows a process from `oldsz` to `newsz` bytes (zeroed pages). Returns the new size.
pub fn uvmalloc(pt: PageTable, oldsz: usize, newsz: usize, xperm: usize) -> Option<usize> {
    if newsz < oldsz {
        return Some(oldsz);
    }
    if newsz > user_top() {
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

/// Frees user memory pages [0, sz) and then the page table itself, leaving the kernel's
/// shared lower levels alone.
pub fn uvmfree(pt: PageTable, sz: usize) {
    if sz > 0 {
        uvmunmap(pt, 0, pgroundup(sz) / PGSIZE, true);
    }
    let kernel = entries(kernel_pagetable().0);
    for i in 0..512 {
        // SAFETY: both are root pages of 512 entries.
        unsafe {
            let pte = entries(pt.0).add(i);
            if *pte == *kernel.add(i) {
                *pte = 0;
            }
        }
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

/// Copies `src` to user address `dstva`. Fails on any unmapped, non-user or read-only page.
pub fn copyout(pt: PageTable, dstva: usize, src: &[u8]) -> Result<(), ()> {
    if !is_user_range(dstva, src.len()) {
        return Err(());
    }
    if is_loaded(pt) {
        // SAFETY: the user range was checked; src is kernel memory of src.len() bytes.
        return unsafe { usercopy::copy(dstva as *mut u8, src.as_ptr(), src.len()) };
    }
    copyout_walk(pt, dstva, src)
}

/// copyout into a page table that is not loaded (exec filling a new stack), by walking it.
fn copyout_walk(pt: PageTable, mut dstva: usize, mut src: &[u8]) -> Result<(), ()> {
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

/// Copies `dst.len()` bytes from user address `srcva` of the loaded page table `pt`.
pub fn copyin(pt: PageTable, dst: &mut [u8], srcva: usize) -> Result<(), ()> {
    if !is_user_range(srcva, dst.len()) || !is_loaded(pt) {
        return Err(());
    }
    // SAFETY: the user range was checked; dst is kernel memory of dst.len() bytes.
    unsafe { usercopy::copy(dst.as_mut_ptr(), srcva as *const u8, dst.len()) }
}

/// Copies a NUL-terminated string from user space (the loaded page table `pt`) into `dst`.
/// Returns its length (without the NUL); fails if no NUL fits in `dst` or a page is not mapped.
pub fn copyinstr(pt: PageTable, dst: &mut [u8], srcva: usize) -> Result<usize, ()> {
    if !is_loaded(pt) || srcva >= user_top() {
        return Err(());
    }
    // Never read past user memory, even if the string would fit in dst.
    let max = dst.len().min(user_top() - srcva);
    // SAFETY: [srcva, srcva + max) lies below user_top().
    unsafe { usercopy::copy_str(&mut dst[..max], srcva) }
}
