//! Where the time of the packet path goes: running totals of the time spent in the
//! NIC driver, in the protocol stack and in user-copy, read by `netstat` (ifconfig's
//! `time:` line) and turned into ns per packet by the benchmark.
//!
//! Times are in ticks of the `time` CSR. One reading is coarse (100 ns at QEMU's
//! 10 MHz), but a difference of two readings is on average the true duration, so
//! totals over many packets are right.

use crate::arch::riscv::r_time;
use crate::dtb::platform;
use core::sync::atomic::{AtomicU64, Ordering};

/// Rings, descriptors and device registers (both directions).
pub static DRIVER: AtomicU64 = AtomicU64::new(0);
/// smoltcp and our socket layer, driver time excluded.
pub static STACK: AtomicU64 = AtomicU64::new(0);
/// Copying payloads between user and kernel memory.
pub static COPY: AtomicU64 = AtomicU64::new(0);

pub fn now() -> u64 {
    r_time() as u64
}

/// Adds the time since `start` to `total`.
pub fn add_since(total: &AtomicU64, start: u64) {
    total.fetch_add(now().wrapping_sub(start), Ordering::Relaxed);
}

/// Runs `f` (work done inside the stack, which may call into the driver) and
/// charges its time to the stack, less what the driver took meanwhile.
pub fn in_stack<R>(f: impl FnOnce() -> R) -> R {
    let driver_before = DRIVER.load(Ordering::Relaxed);
    let start = now();
    let r = f();
    let total = now().wrapping_sub(start);
    let driver = DRIVER.load(Ordering::Relaxed).wrapping_sub(driver_before);
    STACK.fetch_add(total.saturating_sub(driver), Ordering::Relaxed);
    r
}

/// Runs `f` (a user copy) and charges its time to COPY.
pub fn in_copy<R>(f: impl FnOnce() -> R) -> R {
    let start = now();
    let r = f();
    add_since(&COPY, start);
    r
}

/// A total in nanoseconds.
pub fn ns(total: &AtomicU64) -> u64 {
    let hz = platform().timebase as u64;
    (total.load(Ordering::Relaxed) as u128 * 1_000_000_000 / hz as u128) as u64
}
