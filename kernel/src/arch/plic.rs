//! The RISC-V Platform-Level Interrupt Controller: routes device interrupts (UART,
//! virtio, PCI INTx) to each hart's supervisor context. Its base address and the IRQ
//! numbers come from the device tree (see `dtb`).

use crate::dtb::platform;
use crate::mm::mmio::Mmio;

const PRIORITY: usize = 0x0;
const SENABLE_BASE: usize = 0x2080; // hart h's S-mode enable bits at +h*0x100
const SPRIORITY_BASE: usize = 0x20_1000; // S-mode threshold at +h*0x2000
const SCLAIM_BASE: usize = 0x20_1004;

fn plic() -> Mmio {
    // SAFETY: the PLIC region from the device tree is mapped by kvmmake.
    unsafe { Mmio::new(platform().plic) }
}

/// Gives every IRQ the kernel handles a non-zero priority.
pub fn plicinit() {
    for irq in platform().irqs() {
        plic().write32(PRIORITY + irq * 4, 1);
    }
}

/// Stops delivering `irq` to the interrupt hart; the device's request stays pending
/// in the PLIC and is delivered after `plic_unmask`.
pub fn plic_mask(irq: usize) {
    set_enabled(irq, false);
}

pub fn plic_unmask(irq: usize) {
    set_enabled(irq, true);
}

fn set_enabled(irq: usize, on: bool) {
    let reg = SENABLE_BASE + IRQ_HART * 0x100 + (irq / 32) * 4;
    let old = plic().read32(reg);
    let bit = 1 << (irq % 32);
    plic().write32(reg, if on { old | bit } else { old & !bit });
}

/// The hart that takes every device interrupt.
///
/// xv6 lets all harts take them, so every interrupt wakes every idle hart, and all
/// of them race to claim it (a PLIC register access each, which QEMU serializes
/// under its global lock) while one wins. Steering them to one hart, as Linux's
/// default IRQ affinity does, wakes one; the process an interrupt wakes then
/// usually runs on that same hart, its data still warm.
pub const IRQ_HART: usize = 0;

/// Enables this hart's S-mode context for every IRQ the kernel handles, on the
/// interrupt hart only.
pub fn plicinithart() {
    let hart = crate::proc::cpuid();
    for irq in platform().irqs().filter(|_| hart == IRQ_HART) {
        let reg = SENABLE_BASE + hart * 0x100 + (irq / 32) * 4;
        let old = plic().read32(reg);
        plic().write32(reg, old | (1 << (irq % 32)));
    }
    plic().write32(SPRIORITY_BASE + hart * 0x2000, 0);
}

/// Asks the PLIC which interrupt we should serve (0 if none).
pub fn plic_claim() -> usize {
    let hart = crate::proc::cpuid();
    plic().read32(SCLAIM_BASE + hart * 0x2000) as usize
}

/// Tells the PLIC we've served this IRQ.
pub fn plic_complete(irq: usize) {
    let hart = crate::proc::cpuid();
    plic().write32(SCLAIM_BASE + hart * 0x2000, irq as u32);
}
