//! When the kernel polls the NIC: the interrupt / busy-polling state machine, as a pure
//! function so that its transitions run in `cargo test` (the kernel's `net::poll` applies
//! the actions to the PLIC, the card and the stack).
//!
//! While frames flow, taking an interrupt per frame costs a trap, a PLIC claim and a
//! device-register read each time. So, as Linux's NAPI does, the first interrupt switches
//! to polling: the NIC's interrupt is masked and the interrupt hart polls the ring
//! whenever it has nothing else to run, until a quiet window passes without a frame.
//!
//! ```text
//!                 interrupt served and completed (InterruptDone): mask
//!   +------------+ -------------------------------------------> +----------------+
//!   | Interrupts |                                              | Busy { until } |
//!   +------------+ <------------------------------------------- +----------------+
//!     ^   |         Idle or Tick at `until` without a frame:     |   ^
//!     |   |         unmask, ack the card, poll                   |   | Idle with a frame:
//!     +---+                                                      +---+ poll, until = now + window
//!   Interrupt: ack the card, poll                              Tick with a frame: poll
//! ```
//!
//! Acknowledging the card when leaving `Busy` matters: frames polled meanwhile left its
//! interrupt cause set and its (level) line high, and a line that stays high raises no
//! new request, so the PLIC would never hear of the next frame.

/// How the NIC is being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Unmasked: the next frame raises an interrupt.
    #[default]
    Interrupts,
    /// Masked: the interrupt hart polls while idle, until time `until` passes quietly.
    Busy { until: u64 },
}

impl Mode {
    pub fn is_busy(self) -> bool {
        matches!(self, Mode::Busy { .. })
    }
}

/// Why the kernel looks at the NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The NIC's interrupt arrived (before the PLIC completion).
    Interrupt,
    /// The NIC's interrupt was completed at the PLIC (a disabled source's completion is
    /// ignored, so masking waits until now).
    InterruptDone,
    /// The interrupt hart has nothing to run.
    Idle,
    /// A clock tick on the interrupt hart.
    Tick,
}

/// What to do, in this order: mask or unmask the interrupt, acknowledge the card, poll
/// the stack. `keep_polling` tells an idle hart to come back rather than wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Step {
    pub mode: Mode,
    pub mask: bool,
    pub unmask: bool,
    pub ack: bool,
    pub poll: bool,
    pub keep_polling: bool,
}

/// The next mode and actions, given the current mode, why we look, the time (any
/// monotonic unit), whether a received frame waits in the ring, and the quiet window.
pub fn step(mode: Mode, reason: Reason, now: u64, frame_waiting: bool, window: u64) -> Step {
    let stay = Step {
        mode,
        ..Step::default()
    };
    let busy = Step {
        mode: Mode::Busy {
            until: now + window,
        },
        mask: !mode.is_busy(),
        ..stay
    };
    let back_to_interrupts = Step {
        mode: Mode::Interrupts,
        unmask: true,
        ack: true,
        poll: true,
        ..stay
    };
    match (reason, mode) {
        (Reason::Interrupt, _) => Step {
            ack: true,
            poll: true,
            ..stay
        },
        (Reason::InterruptDone, _) => busy,
        (Reason::Idle, _) if frame_waiting => Step {
            poll: true,
            keep_polling: true,
            ..busy
        },
        (Reason::Idle | Reason::Tick, Mode::Interrupts) => stay,
        (Reason::Idle | Reason::Tick, Mode::Busy { until }) if now >= until => back_to_interrupts,
        (Reason::Idle, Mode::Busy { .. }) => Step {
            keep_polling: true,
            ..stay
        },
        (Reason::Tick, Mode::Busy { .. }) => Step {
            poll: frame_waiting,
            ..stay
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 20;

    #[test]
    fn an_interrupt_acks_and_polls_in_any_mode() {
        for mode in [Mode::Interrupts, Mode::Busy { until: 5 }] {
            let s = step(mode, Reason::Interrupt, 1, false, W);
            assert_eq!(
                (s.mode, s.ack, s.poll, s.mask, s.unmask),
                (mode, true, true, false, false)
            );
        }
    }

    #[test]
    fn a_completed_interrupt_masks_once_and_starts_the_window() {
        let s = step(Mode::Interrupts, Reason::InterruptDone, 100, false, W);
        assert_eq!(s.mode, Mode::Busy { until: 120 });
        assert!(s.mask && !s.poll);
        let s = step(s.mode, Reason::InterruptDone, 110, false, W);
        assert_eq!(s.mode, Mode::Busy { until: 130 });
        assert!(!s.mask, "already masked");
    }

    #[test]
    fn an_idle_hart_polls_a_waiting_frame_and_extends_the_window() {
        let s = step(Mode::Interrupts, Reason::Idle, 10, true, W);
        assert_eq!(s.mode, Mode::Busy { until: 30 });
        assert!(s.mask && s.poll && s.keep_polling);
        let s = step(s.mode, Reason::Idle, 25, true, W);
        assert_eq!(s.mode, Mode::Busy { until: 45 });
        assert!(!s.mask && s.poll && s.keep_polling);
    }

    #[test]
    fn an_idle_hart_without_frames_waits_for_interrupts() {
        let s = step(Mode::Interrupts, Reason::Idle, 10, false, W);
        assert_eq!(s, Step::default());
    }

    #[test]
    fn a_busy_hart_keeps_polling_until_the_window_ends_then_unmasks_acks_and_polls() {
        let busy = Mode::Busy { until: 50 };
        let s = step(busy, Reason::Idle, 49, false, W);
        assert_eq!((s.mode, s.keep_polling, s.poll), (busy, true, false));
        for reason in [Reason::Idle, Reason::Tick] {
            let s = step(busy, reason, 50, false, W);
            assert_eq!(s.mode, Mode::Interrupts);
            assert!(s.unmask && s.ack && s.poll && !s.keep_polling && !s.mask);
        }
    }

    #[test]
    fn a_tick_polls_a_waiting_frame_without_extending_the_window() {
        let busy = Mode::Busy { until: 50 };
        let s = step(busy, Reason::Tick, 40, true, W);
        assert_eq!((s.mode, s.poll, s.keep_polling), (busy, true, false));
        let s = step(busy, Reason::Tick, 40, false, W);
        assert_eq!(
            s,
            Step {
                mode: busy,
                ..Step::default()
            }
        );
        assert_eq!(
            step(Mode::Interrupts, Reason::Tick, 40, true, W),
            Step::default(),
            "in interrupt mode the interrupt brings frames"
        );
    }
}
