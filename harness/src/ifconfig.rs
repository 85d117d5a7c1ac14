//! `ifconfig`'s output, read: the frame counters, the drop counters by reason, and the guest's
//! time counters (the `time:` line). The one place the harness and the benchmark read it.
//!
//! ```text
//! e1000:
//!   rx N frames N bytes
//!   tx N frames N bytes
//!   interrupts N
//!   doorbells tx N rx N
//!   heap N bytes in use
//!   drops: malformed N unsupported N not-for-us N no-socket N
//!   drops: queue-full N tx-ring-full N rx-ring-full N
//!   drops: martian N unresolved N
//!   time: driver_ns=N stack_ns=N copy_ns=N rx=N tx=N interrupts=N tx_doorbells=N rx_doorbells=N
//! ```

use std::fmt::Write as _;

use anyhow::{Context, Result, ensure};

/// The drop reasons, in `ifconfig`'s order and words: the stack's, then the NIC's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Malformed,
    Unsupported,
    NotForUs,
    NoSocket,
    QueueFull,
    TxRingFull,
    /// The NIC's own drops (its receive ring was full), not the stack's.
    RxRingFull,
    /// From an address or MAC no neighbor can have.
    Martian,
    /// Packets whose neighbour never answered ARP.
    Unresolved,
}

use Reason::*;

impl Reason {
    pub const ALL: [Reason; 9] = [
        Malformed,
        Unsupported,
        NotForUs,
        NoSocket,
        QueueFull,
        TxRingFull,
        RxRingFull,
        Martian,
        Unresolved,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Malformed => "malformed",
            Unsupported => "unsupported",
            NotForUs => "not-for-us",
            NoSocket => "no-socket",
            QueueFull => "queue-full",
            TxRingFull => "tx-ring-full",
            RxRingFull => "rx-ring-full",
            Martian => "martian",
            Unresolved => "unresolved",
        }
    }
}

/// `ifconfig`'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Indexed like [`Reason::ALL`].
    pub drops: [u64; 9],
}

impl Counters {
    /// Reads `ifconfig`'s output: `  rx N frames N bytes`, `  tx ...` and the `  drops:` lines
    /// of `reason count` pairs.
    pub fn parse(out: &str) -> Result<Counters> {
        let mut c = Counters::default();
        let mut seen = [false; Reason::ALL.len()];
        let num = |s: Option<&str>| -> Result<u64> {
            s.and_then(|s| s.parse().ok())
                .with_context(|| format!("a number expected in ifconfig's output:\n{out}"))
        };
        for line in out.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first() {
                Some(&"rx") => {
                    c.rx_frames = num(words.get(1).copied())?;
                    c.rx_bytes = num(words.get(3).copied())?;
                }
                Some(&"tx") => {
                    c.tx_frames = num(words.get(1).copied())?;
                    c.tx_bytes = num(words.get(3).copied())?;
                }
                Some(&"drops:") => {
                    for pair in words[1..].chunks(2) {
                        let i = Reason::ALL
                            .iter()
                            .position(|r| r.word() == pair[0])
                            .with_context(|| format!("unknown drop reason {:?}", pair[0]))?;
                        c.drops[i] = num(pair.get(1).copied())?;
                        seen[i] = true;
                    }
                }
                _ => {}
            }
        }
        ensure!(
            seen.iter().all(|&s| s),
            "ifconfig did not print every drop counter:\n{out}"
        );
        Ok(c)
    }

    pub fn drop(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    /// The stack's drops (everything but the NIC's `rx-ring-full`).
    pub fn stack_drops(&self) -> u64 {
        Reason::ALL
            .iter()
            .filter(|&&r| r != RxRingFull)
            .map(|&r| self.drop(r))
            .sum()
    }

    pub fn delta(&self, before: &Counters) -> Counters {
        Counters {
            rx_frames: self.rx_frames - before.rx_frames,
            rx_bytes: self.rx_bytes - before.rx_bytes,
            tx_frames: self.tx_frames - before.tx_frames,
            tx_bytes: self.tx_bytes - before.tx_bytes,
            drops: std::array::from_fn(|i| self.drops[i] - before.drops[i]),
        }
    }

    pub fn drops_text(&self) -> String {
        let mut s = String::new();
        for r in Reason::ALL {
            if self.drop(r) != 0 {
                let _ = write!(s, " {} {}", r.word(), self.drop(r));
            }
        }
        if s.is_empty() {
            s.push_str(" none");
        }
        s
    }
}

/// The kernel heap's bytes in use, from `ifconfig`'s `  heap N bytes in use` line.
pub fn heap_used(out: &str) -> Result<u64> {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix("heap "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no heap line in ifconfig's output:\n{out}"))
}

/// The doorbells rung, (transmit, receive), from `ifconfig`'s `  doorbells tx N rx N` line.
pub fn doorbells(out: &str) -> Result<(u64, u64)> {
    out.lines()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                ["doorbells", "tx", tx, "rx", rx] => Some((tx.parse().ok()?, rx.parse().ok()?)),
                _ => None,
            }
        })
        .with_context(|| format!("no doorbells line in ifconfig's output:\n{out}"))
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
    /// Doorbells rung (TDT writes or transmitq notifications); 0 from a kernel that does
    /// not print them.
    pub tx_doorbells: u64,
    /// Receive doorbells rung (RDT writes or receiveq notifications); 0 likewise.
    pub rx_doorbells: u64,
}

impl GuestTime {
    /// The `time:` line in `ifconfig`'s output, if there is one with every field (the
    /// doorbells, which older kernels do not print, read as 0 when absent).
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
            tx_doorbells: field("tx_doorbells").unwrap_or(0),
            rx_doorbells: field("rx_doorbells").unwrap_or(0),
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
            tx_doorbells: self.tx_doorbells.saturating_sub(earlier.tx_doorbells),
            rx_doorbells: self.rx_doorbells.saturating_sub(earlier.rx_doorbells),
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

    /// Frames sent per transmit doorbell (NaN without doorbells).
    pub fn tx_frames_per_doorbell(&self) -> f64 {
        ratio(self.tx, self.tx_doorbells)
    }

    /// Frames received per receive doorbell (NaN without doorbells).
    pub fn rx_frames_per_doorbell(&self) -> f64 {
        ratio(self.rx, self.rx_doorbells)
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

    const IFCONFIG: &str = "e1000:
  ether 52:54:00:12:34:56
  inet 10.0.2.15/24
  gateway 10.0.2.2
  rx 12 frames 1500 bytes
  tx 3 frames 200 bytes
  interrupts 15
  doorbells tx 2 rx 1
  heap 123456 bytes in use
  drops: malformed 1 unsupported 2 not-for-us 3 no-socket 4
  drops: queue-full 5 tx-ring-full 6 rx-ring-full 7
  drops: martian 8 unresolved 9
";

    #[test]
    fn ifconfig_output_parses() {
        let c = Counters::parse(IFCONFIG).unwrap();
        assert_eq!(
            c,
            Counters {
                rx_frames: 12,
                rx_bytes: 1500,
                tx_frames: 3,
                tx_bytes: 200,
                drops: [1, 2, 3, 4, 5, 6, 7, 8, 9],
            }
        );
        assert_eq!(c.stack_drops(), 38);
        assert_eq!(c.drop(Martian), 8);
        assert_eq!(heap_used(IFCONFIG).unwrap(), 123456);
        assert_eq!(doorbells(IFCONFIG).unwrap(), (2, 1));
        assert!(doorbells(&IFCONFIG.replace("tx 2 rx", "tx x rx")).is_err());
        assert!(heap_used(&IFCONFIG.replace("heap 123456", "heap x")).is_err());
        assert!(Counters::parse(&IFCONFIG.replace("  drops: queue", "  x: queue")).is_err());
        assert!(Counters::parse(&IFCONFIG.replace("rx 12", "rx x")).is_err());
    }

    #[test]
    fn the_time_line_is_parsed_and_differenced() {
        let before = "e1000:\n  interrupts 4\n  time: driver_ns=100 stack_ns=200 copy_ns=30 rx=2 tx=1 interrupts=3\n";
        let after = "  time: driver_ns=1100 stack_ns=4200 copy_ns=530 rx=52 tx=51 interrupts=23 tx_doorbells=10 rx_doorbells=5\n";
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
                interrupts: 20,
                tx_doorbells: 10,
                rx_doorbells: 5,
            }
        );
        assert_eq!(d.packets_per_interrupt(), 5.0);
        assert_eq!(d.tx_frames_per_doorbell(), 5.0);
        assert_eq!(d.rx_frames_per_doorbell(), 10.0);
        assert_eq!(d.ns_per_packet(), [10.0, 40.0, 5.0]);
    }

    #[test]
    fn a_missing_or_partial_time_line_is_none() {
        assert_eq!(GuestTime::parse("e1000:\n  interrupts 4\n"), None);
        assert_eq!(GuestTime::parse("  time: driver_ns=1 rx=2\n"), None);
        assert!(GuestTime::default().packets_per_interrupt().is_nan());
        // A kernel that prints no doorbells: the line still parses, its ratios are NaN.
        let old =
            GuestTime::parse("  time: driver_ns=1 stack_ns=2 copy_ns=3 rx=4 tx=5 interrupts=6\n")
                .unwrap();
        assert_eq!((old.tx_doorbells, old.rx_doorbells), (0, 0));
        assert!(old.tx_frames_per_doorbell().is_nan());
    }
}
