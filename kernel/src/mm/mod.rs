//! Memory: physical pages, the kernel heap, page tables, device registers.

pub mod heap;
pub mod kalloc;
pub mod mmio;
pub mod vm;
