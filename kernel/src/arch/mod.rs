//! The machine: boot, CSRs, trap vectors, context switch, interrupt controller, power.

pub mod kernelvec;
pub mod plic;
pub mod power;
pub mod riscv;
pub mod start;
pub mod swtch;
pub mod trampoline;
pub mod usercopy;
