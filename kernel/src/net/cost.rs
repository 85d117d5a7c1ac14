//! Where the time of the packet path goes: running totals of the time spent in the NIC
//! driver, in the protocol stack and in user copies, read by `netstat` (ifconfig's `time:`
//! line) and turned into ns per packet by the benchmark.
//!
//! Compiled in only with the kernel's `cost` feature (`cargo xtask bench --guest-time` turns
//! it on): without it every function here is an empty inline wrapper and `Timed<R>` is just
//! `R`, so the packet path carries no instrumentation. With it:
//! - `Timed` wraps each NIC ring as middleware (as smoltcp's `phy::Tracer` wraps a device):
//!   the ring's time counts as driver time, less the stack's own work inside the
//!   closure (building or parsing the frame), which counts as stack time; a ring's
//!   `flush` (its doorbell) is all driver time;
//! - `in_stack` times the stack's work around a poll or a socket operation, less what the
//!   driver took meanwhile; `in_copy` times user copies.
//!
//! Times are in ticks of the `time` CSR. One reading is coarse (100 ns at QEMU's 10 MHz),
//! but a difference of two readings is on average the true duration, so totals over many
//! packets are right.

#[cfg(feature = "cost")]
pub use timed::*;

#[cfg(not(feature = "cost"))]
pub use untimed::*;

/// The three totals in nanoseconds (driver, stack, copy), and whether they are measured.
pub fn totals_ns() -> Option<[u64; 3]> {
    measured_totals_ns()
}

#[cfg(not(feature = "cost"))]
mod untimed {
    /// Without the feature a ring is itself.
    pub type Timed<R> = R;

    #[inline(always)]
    pub fn timed<R>(r: R) -> Timed<R> {
        r
    }

    #[inline(always)]
    pub fn inner<R>(r: &Timed<R>) -> &R {
        r
    }

    #[inline(always)]
    pub fn in_stack<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[inline(always)]
    pub fn in_driver<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[inline(always)]
    pub fn in_copy<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    pub fn measured_totals_ns() -> Option<[u64; 3]> {
        None
    }
}

#[cfg(feature = "cost")]
mod timed {
    use crate::arch::riscv::r_time;
    use crate::dtb::platform;
    use core::sync::atomic::{AtomicU64, Ordering};
    use netstack::{RxRing, TxRing};

    /// Rings, descriptors and device registers (both directions).
    static DRIVER: AtomicU64 = AtomicU64::new(0);
    /// smoltcp and our socket layer, driver time excluded.
    static STACK: AtomicU64 = AtomicU64::new(0);
    /// Copying payloads between user and kernel memory.
    static COPY: AtomicU64 = AtomicU64::new(0);

    fn now() -> u64 {
        r_time() as u64
    }

    fn add(total: &AtomicU64, ticks: u64) {
        total.fetch_add(ticks, Ordering::Relaxed);
    }

    /// A NIC ring whose time is charged to the driver.
    pub struct Timed<R>(R);

    pub fn timed<R>(r: R) -> Timed<R> {
        Timed(r)
    }

    pub fn inner<R>(r: &Timed<R>) -> &R {
        &r.0
    }

    /// Runs `f` and charges its time to the driver.
    pub fn in_driver<R>(f: impl FnOnce() -> R) -> R {
        let start = now();
        let r = f();
        add(&DRIVER, now().wrapping_sub(start));
        r
    }

    /// Runs `f` (work inside the stack, which may call into the driver) and charges its
    /// time to the stack, less what the driver took meanwhile.
    pub fn in_stack<R>(f: impl FnOnce() -> R) -> R {
        let driver_before = DRIVER.load(Ordering::Relaxed);
        let start = now();
        let r = f();
        let total = now().wrapping_sub(start);
        let driver = DRIVER.load(Ordering::Relaxed).wrapping_sub(driver_before);
        add(&STACK, total.saturating_sub(driver));
        r
    }

    /// Runs `f` (a user copy) and charges its time to COPY.
    pub fn in_copy<R>(f: impl FnOnce() -> R) -> R {
        let start = now();
        let r = f();
        add(&COPY, now().wrapping_sub(start));
        r
    }

    /// Charges a ring operation that began at `start`: `in_stack` ticks of it were the
    /// stack's work inside the callback, the rest the driver's.
    fn charge(start: u64, in_stack: u64) {
        add(&STACK, in_stack);
        add(&DRIVER, now().wrapping_sub(start).saturating_sub(in_stack));
    }

    impl<R: RxRing> RxRing for Timed<R> {
        fn receive<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
            let start = now();
            let mut in_stack = 0;
            let r = self.0.receive(|frame| {
                let t = now();
                let r = f(frame);
                in_stack = now().wrapping_sub(t);
                r
            });
            charge(start, in_stack);
            r
        }

        fn flush(&mut self) {
            in_driver(|| self.0.flush());
        }
    }

    impl<R: TxRing> TxRing for Timed<R> {
        fn can_transmit(&self) -> bool {
            self.0.can_transmit()
        }

        fn transmit<T, F: FnOnce(&mut [u8]) -> T>(&mut self, len: usize, f: F) -> Result<T, F> {
            let start = now();
            let mut in_stack = 0;
            // A refused frame must give `f` back: it waits in an Option the callback takes.
            let mut f = Some(f);
            let r = self.0.transmit(len, |buf: &mut [u8]| {
                let t = now();
                let r = f.take().map(|f| f(buf));
                in_stack = now().wrapping_sub(t);
                r
            });
            // Dropping a refused callback ends its borrow of `f`.
            let r = r.ok().flatten();
            charge(start, in_stack);
            match r {
                Some(r) => Ok(r),
                _ => Err(f.take().expect("a refused frame's callback was not called")),
            }
        }

        /// The doorbell is the driver's: for the E1000 most of the cost of sending.
        fn flush(&mut self) {
            in_driver(|| self.0.flush());
        }
    }

    fn ns(total: &AtomicU64) -> u64 {
        let hz = platform().timebase as u64;
        (total.load(Ordering::Relaxed) as u128 * 1_000_000_000 / hz as u128) as u64
    }

    pub fn measured_totals_ns() -> Option<[u64; 3]> {
        Some([ns(&DRIVER), ns(&STACK), ns(&COPY)])
    }
}
