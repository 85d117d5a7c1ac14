//! When the stack runs. Every trigger goes through one entry, `poll(reason)`:
//!
//! | reason          | from                                   | does                                  |
//! |-----------------|----------------------------------------|---------------------------------------|
//! | `Interrupt`     | `trap::devintr`, the NIC's PLIC claim  | ack the card, poll                     |
//! | `InterruptDone` | `trap::devintr`, after the completion  | mask the NIC: start busy polling      |
//! | `Idle`          | `proc::scheduler` on the interrupt hart | poll while frames flow, napping between looks |
//! | `Tick`          | `trap::clockintr` on hart 0            | end a busy period, run smoltcp's timers, wake timed sleepers |
//!
//! The interrupt / busy-polling state machine itself is `netstack::napi::step`, a pure
//! function with its diagram and host tests; here its actions reach the PLIC, the card
//! and the stack. Socket calls, which already hold NET, run the stack through
//! `Net::poll_and_wake` (in `wait`), so that what they queued leaves at once.
//!
//! All NIC interrupts go to one hart (`plic::IRQ_HART`, hart 0), which also takes the
//! ticks that call `Tick`; the state lives in `Net`, under NET. The statics below are
//! only hints read without NET, and each is written only with NET held.

use super::{Net, now_ms};
use crate::arch::plic::{plic_mask, plic_unmask};
use crate::arch::riscv::r_time;
use crate::dtb::platform;
use crate::proc::wakeup;
use crate::sync::once::Once;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use netstack::napi::{self, Reason};

/// How long the interrupt hart keeps polling the NIC after the last frame it found.
const BUSY_POLL_US: u64 = 2_000;
/// While busy polling finds nothing, the idle interrupt hart halts this long between two
/// looks at the NIC instead of spinning: under TCG a spinning hart keeps a host core busy,
/// and QEMU's other threads (the one that carries frames between the host and the card, and
/// the program's hart) then wait for it. A frame waits at most this long more.
const NAP_US: usize = 50;
/// Frames the stack takes per poll call is bounded (netstack::RX_BUDGET); a poll runs
/// at most this many calls before leaving the rest to the next tick.
const MAX_POLL_ROUNDS: usize = 8;

/// PLIC source of the NIC, when it interrupts (not in the device-echo mode).
pub(super) static NIC_IRQ: Once<usize> = Once::new();
/// When the stack next wants a poll (ms since boot); u64::MAX for never.
static NEXT_POLL: AtomicU64 = AtomicU64::new(u64::MAX);
/// The NIC is in busy-polling mode (a copy of `Net::napi`, for the tick's quick look).
static BUSY: AtomicBool = AtomicBool::new(false);
/// Processes sleeping on `poll_chan` (in `poll`, or in a call with a timeout).
pub(super) static POLLERS: AtomicUsize = AtomicUsize::new(0);

/// Whether `irq` is the NIC's.
pub fn is_nic_irq(irq: usize) -> bool {
    NIC_IRQ.try_get() == Some(&irq)
}

/// Looks at the NIC and runs the stack as `reason` calls for. For `Idle`, says whether
/// the hart should keep polling rather than wait for an interrupt.
pub fn poll(reason: Reason) -> bool {
    let Some(&irq) = NIC_IRQ.try_get() else {
        return false;
    };
    match reason {
        Reason::Interrupt | Reason::InterruptDone => {
            let Ok(mut net) = super::lock() else {
                return false;
            };
            if reason == Reason::Interrupt {
                net.interrupts += 1;
            }
            net.step(reason, irq)
        }
        Reason::Idle => match idle(irq) {
            Idle::Frames => true,
            // Between two looks, halt rather than spin (see `NAP_US`).
            Idle::Nothing => {
                crate::trap::nap_until(r_time() + nap_window());
                true
            }
            Idle::Done => false,
        },
        Reason::Tick => {
            if BUSY.load(Ordering::Relaxed)
                && let Ok(mut net) = super::lock()
            {
                net.step(reason, irq);
            }
            if POLLERS.load(Ordering::Acquire) > 0 {
                wakeup(poll_chan());
            }
            if now_ms() >= NEXT_POLL.load(Ordering::Relaxed)
                && let Ok(mut net) = super::lock()
            {
                net.poll_and_wake();
            }
            false
        }
    }
}

/// What a poll of the idle interrupt hart found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// Frames, now taken: look again at once.
    Frames,
    /// None yet, in busy-polling mode: look again soon.
    Nothing,
    /// Interrupt mode: wait for the NIC's interrupt.
    Done,
}

/// One poll of the idle interrupt hart (`Reason::Idle`); `irq` is the NIC's.
fn idle(irq: usize) -> Idle {
    // The idle hart must not spin on a lock another hart holds for long: it looks
    // again soon instead.
    match super::NET.try_get().and_then(|n| n.try_lock()) {
        Some(mut net) => {
            let polled = net.stack.device().rx_ready();
            match net.step(Reason::Idle, irq) {
                false => Idle::Done,
                true if polled => Idle::Frames,
                true => Idle::Nothing,
            }
        }
        None if BUSY.load(Ordering::Relaxed) => Idle::Nothing,
        None => Idle::Done,
    }
}

/// Asks for a poll at the next tick (boot: timers the stack started, such as DHCP's).
pub(super) fn poll_at_next_tick() {
    NEXT_POLL.store(0, Ordering::Relaxed);
}

fn nap_window() -> usize {
    platform().timebase * NAP_US / 1_000_000
}

fn busy_window() -> u64 {
    platform().timebase as u64 * BUSY_POLL_US / 1_000_000
}

impl Net {
    /// One transition of the interrupt / busy-polling machine, its actions applied.
    fn step(&mut self, reason: Reason, irq: usize) -> bool {
        let frame_waiting = self.stack.device().rx_ready();
        let s = napi::step(
            self.napi,
            reason,
            r_time() as u64,
            frame_waiting,
            busy_window(),
        );
        self.napi = s.mode;
        BUSY.store(s.mode.is_busy(), Ordering::Relaxed);
        if s.mask {
            plic_mask(irq);
        }
        if s.unmask {
            plic_unmask(irq);
        }
        if s.ack {
            self.stack.device().ack_irq();
        }
        if s.poll {
            self.poll_and_wake();
        }
        s.keep_polling
    }

    /// Runs the stack (again while its RX budget runs out, a bounded number of times)
    /// and wakes the sleepers of the sockets that became readable or writable.
    pub fn poll_and_wake(&mut self) {
        if self.echo {
            return; // the echo loop owns the rings
        }
        let mut pending = true;
        for _ in 0..MAX_POLL_ROUNDS {
            let r = super::cost::in_stack(|| self.stack.poll(now_ms()));
            for id in r.readable.iter().chain(r.writable.iter()) {
                wakeup(super::chan(id));
            }
            if !(r.readable.is_empty() && r.writable.is_empty())
                && POLLERS.load(Ordering::Acquire) > 0
            {
                wakeup(poll_chan());
            }
            if r.config_changed {
                super::init::print_lease(&self.stack);
            }
            pending = r.rx_pending;
            if !pending {
                break;
            }
        }
        if !self.first_frames.done() {
            self.first_frames.note(&self.stack.counters());
        }
        // Frames still waiting after the bounded loop: take them at the next tick rather
        // than waiting for an interrupt that may never come (the NIC already raised it).
        let next = if pending {
            0
        } else {
            self.stack.poll_at(now_ms()).unwrap_or(u64::MAX)
        };
        NEXT_POLL.store(next, Ordering::Relaxed);
    }
}

/// The channel of sleepers that wait for any socket (poll) or for a deadline: woken
/// whenever a poll reports a change, and on every tick while someone waits there.
pub fn poll_chan() -> usize {
    &POLLERS as *const _ as usize
}
