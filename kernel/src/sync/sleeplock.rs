//! Sleep locks (xv6's sleeplock.c): long-term locks for inodes and disk buffers. A waiter
//! sleeps instead of spinning, so they may be held across disk I/O — but never inside a
//! spinlock or an interrupt handler.

use crate::proc::{myproc_pid, sleep, wakeup};
use crate::sync::spinlock::Spinlock;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

struct State {
    locked: bool,
    /// Process holding the lock.
    pid: i32,
}

pub struct SleepLock<T> {
    state: Spinlock<State>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serializes all access to `data`.
unsafe impl<T: Send> Sync for SleepLock<T> {}

pub struct SleepLockGuard<'a, T> {
    lock: &'a SleepLock<T>,
}

impl<T> SleepLock<T> {
    pub const fn new(name: &'static str, data: T) -> Self {
        SleepLock {
            state: Spinlock::new(
                name,
                State {
                    locked: false,
                    pid: 0,
                },
            ),
            data: UnsafeCell::new(data),
        }
    }

    fn chan(&self) -> usize {
        self as *const _ as usize
    }

    pub fn lock(&self) -> SleepLockGuard<'_, T> {
        let mut s = self.state.lock();
        while s.locked {
            s = sleep(self.chan(), s);
        }
        s.locked = true;
        s.pid = myproc_pid();
        SleepLockGuard { lock: self }
    }
}

impl<T> Deref for SleepLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SleepLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SleepLockGuard<'_, T> {
    fn drop(&mut self) {
        let mut s = self.lock.state.lock();
        s.locked = false;
        s.pid = 0;
        wakeup(self.lock.chan());
        drop(s);
    }
}
