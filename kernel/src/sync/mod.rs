//! Locks: spinlocks (interrupts off while held), sleep locks, boot-time write-once cells.

pub mod once;
pub mod sleeplock;
pub mod spinlock;
