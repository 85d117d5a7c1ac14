//! The kernel heap (`alloc`'s global allocator): linked_list_allocator's `Heap` over a
//! fixed run of physical pages carved out before kinit, behind our own spinlock so an
//! interrupt handler that allocates cannot deadlock with the code it interrupted.

use crate::sync::spinlock::Spinlock;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

/// Bytes reserved for the kernel heap.
pub const HEAP_SIZE: usize = 16 * 1024 * 1024;

struct KernelHeap(Spinlock<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Spinlock::new("heap", Heap::empty()));

/// Hands [start, start + HEAP_SIZE) to the heap.
pub fn heapinit(start: usize) {
    // SAFETY: the region is RAM owned by nobody else (carved out before kinit).
    unsafe { HEAP.0.lock().init(start as *mut u8, HEAP_SIZE) };
}

/// Bytes of the heap in use now (what every live allocation took, rounded as the allocator
/// rounds it): the leak checks compare it before and after, exactly.
pub fn heap_used() -> usize {
    HEAP.0.lock().used()
}

// SAFETY: Heap hands out disjoint, correctly aligned blocks; the spinlock serializes it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: ptr came from alloc with this layout (GlobalAlloc's contract).
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}
