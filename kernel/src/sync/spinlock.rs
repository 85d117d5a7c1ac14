//! Spinlocks (xv6's spinlock.c) as an RAII type: `lock()` returns a guard that derefs to
//! the protected data and releases on drop. Interrupts stay off on this hart while it
//! holds any spinlock (push_off/pop_off), so an interrupt handler can never spin on a
//! lock its own hart holds.

use crate::arch::riscv::{intr_get, intr_on, intr_take};
use crate::proc::cpu::{cpuid, mycpu};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Spinlock<T: ?Sized> {
    locked: AtomicBool,
    /// Hart holding the lock, plus one (0 = none); for `holding` and panics.
    owner: AtomicUsize,
    name: &'static str,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serializes all access to `data`.
unsafe impl<T: ?Sized + Send> Sync for Spinlock<T> {}
// SAFETY: a Spinlock owns its data.
unsafe impl<T: ?Sized + Send> Send for Spinlock<T> {}

pub struct SpinlockGuard<'a, T: ?Sized> {
    lock: &'a Spinlock<T>,
}

impl<T> Spinlock<T> {
    pub const fn new(name: &'static str, data: T) -> Self {
        Spinlock {
            locked: AtomicBool::new(false),
            owner: AtomicUsize::new(0),
            name,
            data: UnsafeCell::new(data),
        }
    }
}

impl<T: ?Sized> Spinlock<T> {
    /// Acquires the lock, spinning until it is free.
    pub fn lock(&self) -> SpinlockGuard<'_, T> {
        push_off();
        if self.holding() {
            panic!("acquire {}: already held", self.name);
        }
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        self.owner.store(cpuid() + 1, Ordering::Relaxed);
        SpinlockGuard { lock: self }
    }

    /// Acquires the lock if it is free; None (at once) if another hart holds it.
    pub fn try_lock(&self) -> Option<SpinlockGuard<'_, T>> {
        push_off();
        if self.holding() {
            panic!("acquire {}: already held", self.name);
        }
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            pop_off();
            return None;
        }
        self.owner.store(cpuid() + 1, Ordering::Relaxed);
        Some(SpinlockGuard { lock: self })
    }

    /// Does this hart hold the lock? (Interrupts must be off.)
    pub fn holding(&self) -> bool {
        self.locked.load(Ordering::Relaxed) && self.owner.load(Ordering::Relaxed) == cpuid() + 1
    }

    /// Releases a lock whose guard was forgotten (a new process's first return through
    /// forkret releases the lock the scheduler took).
    ///
    /// # Safety
    /// This hart must hold the lock and no guard for it may be used afterwards.
    pub unsafe fn force_unlock(&self) {
        self.release();
    }

    fn release(&self) {
        if !self.holding() {
            panic!("release {}: not held", self.name);
        }
        self.owner.store(0, Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        pop_off();
    }

    /// Raw access to the data for code that holds the lock through a forgotten guard.
    ///
    /// # Safety
    /// The caller must hold the lock (or otherwise be the only user of the data).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut_unchecked(&self) -> &mut T {
        // SAFETY: per the contract, access is exclusive.
        unsafe { &mut *self.data.get() }
    }
}

impl<'a, T: ?Sized> SpinlockGuard<'a, T> {
    /// Whether this guard holds `lock` (and not some other lock of the same type).
    pub fn holds(&self, lock: &Spinlock<T>) -> bool {
        core::ptr::eq(self.lock, lock)
    }

    /// Releases the lock and returns it, so `sleep` can re-acquire it after waking.
    pub fn unlock(self) -> &'a Spinlock<T> {
        let lock = self.lock;
        drop(self);
        lock
    }
}

impl<T: ?Sized> Deref for SpinlockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for SpinlockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for SpinlockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// Like intr_off(), but nests: it takes as many pop_off()s to undo as push_off()s, and
/// interrupts come back on only if they were on at the first push_off.
pub fn push_off() {
    let old = intr_take();
    // SAFETY: interrupts are off, and this is the only reference taken here.
    let c = unsafe { mycpu() };
    if c.noff == 0 {
        c.intena = old;
    }
    c.noff += 1;
}

pub fn pop_off() {
    // xv6 checks this in every build; here only debug builds do, because reading sstatus
    // costs as much as the rest of a lock and unlock under emulation (arch::riscv).
    debug_assert!(!intr_get(), "pop_off: interruptible");
    // SAFETY: interrupts are off (the matching push_off turned them off; debug builds
    // check it above), and this is the only reference taken here.
    let c = unsafe { mycpu() };
    if c.noff < 1 {
        panic!("pop_off: not pushed");
    }
    c.noff -= 1;
    if c.noff == 0 && c.intena {
        intr_on();
    }
}
