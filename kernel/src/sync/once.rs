//! A value written once at boot (by hart 0, before the other harts start) and only read
//! afterwards.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

pub struct Once<T> {
    ready: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once before `ready` is published with Release, and only
// read after observing `ready` with Acquire.
unsafe impl<T: Sync + Send> Sync for Once<T> {}

impl<T> Once<T> {
    pub const fn new() -> Self {
        Once {
            ready: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Stores the value; panics if called twice.
    pub fn set(&self, v: T) {
        assert!(!self.ready.load(Ordering::Acquire), "Once::set twice");
        // SAFETY: no reader exists until `ready` is set below; one writer at boot.
        unsafe { *self.value.get() = Some(v) };
        self.ready.store(true, Ordering::Release);
    }

    /// The value, if set.
    pub fn try_get(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            // SAFETY: set() finished (observed via Acquire) and never runs again.
            unsafe { (*self.value.get()).as_ref() }
        } else {
            None
        }
    }

    /// The value; panics if not yet set.
    pub fn get(&self) -> &T {
        assert!(self.ready.load(Ordering::Acquire), "Once::get before set");
        // SAFETY: set() finished (observed via Acquire) and never runs again.
        unsafe { (*self.value.get()).as_ref().unwrap() }
    }
}
