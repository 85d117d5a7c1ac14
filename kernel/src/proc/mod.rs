//! Processes: per-hart state, the process table and scheduler, and exec.

pub mod cpu;
pub mod exec;
#[allow(clippy::module_inception)]
pub mod proc;

pub use cpu::cpuid;
pub use proc::*;
