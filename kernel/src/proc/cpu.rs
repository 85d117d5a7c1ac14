//! Per-hart state: the scheduler's saved context, and the interrupt-nesting count that
//! push_off/pop_off keep. (xv6's `c->proc`, the process running on the hart, is not here:
//! `myproc` reads it off the kernel stack in use.)

use crate::arch::riscv::r_tp;
use crate::arch::swtch::Context;
use abi::param::NCPU;
use core::cell::UnsafeCell;

pub struct Cpu {
    /// swtch() here to enter scheduler().
    pub context: Context,
    /// Depth of push_off() nesting.
    pub noff: i32,
    /// Were interrupts enabled before push_off()?
    pub intena: bool,
}

struct Cpus([UnsafeCell<Cpu>; NCPU]);

// SAFETY: each hart touches only its own entry (indexed by its hart id), with interrupts off.
unsafe impl Sync for Cpus {}

static CPUS: Cpus = Cpus(
    [const {
        UnsafeCell::new(Cpu {
            context: Context {
                ra: 0,
                sp: 0,
                s: [0; 12],
            },
            noff: 0,
            intena: false,
        })
    }; NCPU],
);

/// This hart's id. Interrupts must be off, so the process cannot move to another hart
/// between reading it and using it (trivially true for the index itself: tp never moves).
#[inline]
pub fn cpuid() -> usize {
    r_tp()
}

/// This hart's Cpu.
///
/// # Safety
/// Interrupts must be off for as long as the reference is used: otherwise the caller
/// could be moved to another hart meanwhile and use that hart's entry alongside it. And
/// no other reference from `mycpu` may be in use at the same time (take one per use, as
/// `push_off` does, rather than holding one across calls that take their own).
pub unsafe fn mycpu() -> &'static mut Cpu {
    // SAFETY: each hart uses only its own entry; with interrupts off nothing else runs on
    // this hart meanwhile, and the caller holds no other reference to it (the contract).
    unsafe { &mut *CPUS.0[cpuid()].get() }
}
