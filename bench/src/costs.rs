//! What the benchmark costs on each side: the load generator's own CPU time (this process,
//! `getrusage(RUSAGE_SELF)`: every thread of the harness, not QEMU, which is a child), and the
//! guest's time counters, totals since boot read from `ifconfig` ([`GuestTime`], in
//! `harness::ifconfig`); the benchmark takes their difference over a phase.

use std::time::{Duration, Instant};

pub use harness::ifconfig::GuestTime;

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

#[cfg(test)]
mod tests {
    use super::*;

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
