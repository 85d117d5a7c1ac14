//! What the benchmark costs on each side: the load generator's own CPU time (this process,
//! `getrusage(RUSAGE_SELF)`: every thread of the harness, not QEMU, which is a child), and the
//! guest's time counters, read from the `time:` line of `ifconfig`:
//!
//! ```text
//!   time: driver_ns=N stack_ns=N copy_ns=N rx=N tx=N interrupts=N
//! ```
//!
//! (totals since boot; the benchmark takes the difference over a phase).

use std::time::{Duration, Instant};

/// The CPU time (user + system) this process has used so far, all threads together.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage writes only into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: zeroed is a valid `rusage` (plain integers), and getrusage filled it in.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The generator's cost over one phase of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseCost {
    /// `udp`, `tcp`, `http`, or `total` (the whole configuration, boot included).
    pub phase: &'static str,
    /// CPU time of this process during the phase.
    pub cpu: Duration,
    /// Wall-clock time of the phase.
    pub wall: Duration,
}

impl PhaseCost {
    /// CPU time per wall-clock time, in % of one core.
    pub fn share(&self) -> f64 {
        if self.wall.is_zero() {
            f64::NAN
        } else {
            self.cpu.as_secs_f64() / self.wall.as_secs_f64() * 100.0
        }
    }
}

/// A stopwatch of CPU and wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Meter {
    cpu: Duration,
    wall: Instant,
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            cpu: cpu_time(),
            wall: Instant::now(),
        }
    }

    /// The cost since [`start`](Self::start), named `phase`.
    pub fn stop(&self, phase: &'static str) -> PhaseCost {
        PhaseCost {
            phase,
            cpu: cpu_time().saturating_sub(self.cpu),
            wall: self.wall.elapsed(),
        }
    }
}

/// The guest's time counters (one `time:` line of `ifconfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestTime {
    /// Nanoseconds in the NIC driver, as the kernel counts them.
    pub driver_ns: u64,
    /// Nanoseconds in the network stack.
    pub stack_ns: u64,
    /// Nanoseconds copying between user memory and the kernel (socket calls).
    pub copy_ns: u64,
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// NIC interrupts taken.
    pub interrupts: u64,
}

impl GuestTime {
    /// The `time:` line in `ifconfig`'s output, if there is one with every field.
    pub fn parse(ifconfig: &str) -> Option<GuestTime> {
        let line = ifconfig
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("time:"))?;
        let field = |key: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(GuestTime {
            driver_ns: field("driver_ns")?,
            stack_ns: field("stack_ns")?,
            copy_ns: field("copy_ns")?,
            rx: field("rx")?,
            tx: field("tx")?,
            interrupts: field("interrupts")?,
        })
    }

    /// What the counters grew by since `earlier`.
    pub fn since(&self, earlier: &GuestTime) -> GuestTime {
        GuestTime {
            driver_ns: self.driver_ns.saturating_sub(earlier.driver_ns),
            stack_ns: self.stack_ns.saturating_sub(earlier.stack_ns),
            copy_ns: self.copy_ns.saturating_sub(earlier.copy_ns),
            rx: self.rx.saturating_sub(earlier.rx),
            tx: self.tx.saturating_sub(earlier.tx),
            interrupts: self.interrupts.saturating_sub(earlier.interrupts),
        }
    }

    /// Frames moved, both ways.
    pub fn packets(&self) -> u64 {
        self.rx + self.tx
    }

    /// Frames (received and sent) per NIC interrupt.
    pub fn packets_per_interrupt(&self) -> f64 {
        ratio(self.packets(), self.interrupts)
    }

    /// Nanoseconds per frame (received or sent) in the driver, the stack and the user copy.
    pub fn ns_per_packet(&self) -> [f64; 3] {
        [self.driver_ns, self.stack_ns, self.copy_ns].map(|ns| ratio(ns, self.packets()))
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_line_is_parsed_and_differenced() {
        let before = "e1000:\n  interrupts 4\n  time: driver_ns=100 stack_ns=200 copy_ns=30 rx=2 tx=1 interrupts=3\n";
        let after = "  time: driver_ns=1100 stack_ns=4200 copy_ns=530 rx=52 tx=51 interrupts=23\n";
        let d = GuestTime::parse(after)
            .unwrap()
            .since(&GuestTime::parse(before).unwrap());
        assert_eq!(
            d,
            GuestTime {
                driver_ns: 1000,
                stack_ns: 4000,
                copy_ns: 500,
                rx: 50,
                tx: 50,
                interrupts: 20
            }
        );
        assert_eq!(d.packets_per_interrupt(), 5.0);
        assert_eq!(d.ns_per_packet(), [10.0, 40.0, 5.0]);
    }

    #[test]
    fn a_missing_or_partial_time_line_is_none() {
        assert_eq!(GuestTime::parse("e1000:\n  interrupts 4\n"), None);
        assert_eq!(GuestTime::parse("  time: driver_ns=1 rx=2\n"), None);
        assert!(GuestTime::default().packets_per_interrupt().is_nan());
    }

    #[test]
    fn the_meter_sees_this_process_work() {
        let m = Meter::start();
        let end = Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        while m.stop("test").cpu < Duration::from_millis(10) && Instant::now() < end {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        let c = m.stop("test");
        assert!(c.cpu >= Duration::from_millis(10), "{c:?}");
        assert!(c.share() > 0.0, "{c:?}");
    }
}
