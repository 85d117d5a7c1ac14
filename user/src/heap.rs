//! The global allocator: `linked_list_allocator` heaps over memory from `sbrk`.
//!
//! The heap grows in chunks of at least CHUNK bytes. Programs may call `sbrk`
//! themselves (usertests does), so the break is not always where the heap ended:
//! then the new memory starts a new region rather than extending the old one.
//! Exhaustion returns null, which Rust's allocation-error path turns into a panic,
//! and the panic handler prints it and exits with -1.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{NonNull, null_mut};
use linked_list_allocator::Heap;

/// Smallest growth of the heap, in bytes.
const CHUNK: usize = 16 * 1024;
/// Most separate (non-contiguous) regions the heap can have.
const REGIONS: usize = 8;

struct Regions {
    heaps: [Heap; REGIONS],
    /// Number of initialized entries at the front of `heaps`.
    used: usize,
}

impl Regions {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let found = self.heaps[..self.used]
            .iter_mut()
            .find_map(|h| h.allocate_first_fit(layout).ok());
        if found.is_some() {
            return found;
        }
        let last = self.grow(layout)?;
        self.heaps[last].allocate_first_fit(layout).ok()
    }

    /// Asks `sbrk` for enough memory for `layout`; returns the region that got it.
    fn grow(&mut self, layout: Layout) -> Option<usize> {
        // Room for alignment padding and the allocator's hole header.
        let need = layout
            .size()
            .checked_add(layout.align() + 4 * size_of::<usize>())?;
        let amount = need.max(CHUNK).checked_next_multiple_of(CHUNK)?;
        let old = crate::sys::sbrk(isize::try_from(amount).ok()?);
        if old == usize::MAX {
            return None;
        }
        let start = old as *mut u8;
        if let Some(last) = self.used.checked_sub(1)
            && self.heaps[last].top() == start
        {
            // SAFETY: sbrk just gave us [start, start+amount), directly after
            // this heap's memory, and nothing else uses it.
            unsafe { self.heaps[last].extend(amount) };
            return Some(last);
        }
        if self.used == REGIONS {
            // Give the memory back: nothing can use it.
            crate::sys::sbrk(-(amount as isize));
            return None;
        }
        let idx = self.used;
        // SAFETY: [start, start+amount) is fresh memory from sbrk, used by nothing else
        // for the rest of the program (the heap never shrinks the break).
        unsafe { self.heaps[idx].init(start, amount) };
        self.used += 1;
        Some(idx)
    }

    /// Returns `ptr` to the region it came from.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc` with this `layout` and not freed since.
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let p = ptr.as_ptr();
        if let Some(h) = self.heaps[..self.used]
            .iter_mut()
            .find(|h| h.bottom() <= p && p < h.top())
        {
            // SAFETY: `ptr` came from this heap (it lies inside it) with `layout`.
            unsafe { h.deallocate(ptr, layout) };
        }
    }
}

/// The allocator behind `Box`, `Vec` and `String`.
pub struct SbrkHeap(UnsafeCell<Regions>);

// SAFETY: xv6 user processes have one thread and no signal handlers, so the heap
// is never entered twice at once; fork gives the child its own copy.
unsafe impl Sync for SbrkHeap {}

// SAFETY: blocks come from linked_list_allocator, which never hands out
// overlapping live blocks and honours each layout's size and alignment.
unsafe impl GlobalAlloc for SbrkHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded and not reentrant (see `impl Sync`), so this is
        // the only reference to the regions.
        let r = unsafe { &mut *self.0.get() };
        r.alloc(layout).map_or(null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`, this is the only reference to the regions.
        let r = unsafe { &mut *self.0.get() };
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with `layout`.
            unsafe { r.dealloc(p, layout) };
        }
    }
}

#[global_allocator]
static HEAP: SbrkHeap = SbrkHeap(UnsafeCell::new(Regions {
    heaps: [const { Heap::empty() }; REGIONS],
    used: 0,
}));
