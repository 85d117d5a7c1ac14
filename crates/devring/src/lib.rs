//! Index arithmetic of the descriptor rings the kernel's device drivers share
//! with their devices: [`ring`] for the E1000's head/tail rings, [`virtq`] for
//! virtio split virtqueues (the network card and the disk), [`packed`] for virtio
//! packed virtqueues (the network card, when the device offers them).
//!
//! The drivers do the memory accesses and the fences; what is left here is
//! plain arithmetic on indexes, so every rule runs under `cargo test` on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod packed;
pub mod ring;
pub mod virtq;
