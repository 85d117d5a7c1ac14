//! PCI functions on bus 0 of the PCIe host bridge, through its ECAM configuration
//! window: finding a device by vendor and device id, sizing and placing its memory
//! BARs in the bridge's 32-bit MMIO window, enabling it, and its PLIC interrupt.
//!
//! Nothing assigns BARs on QEMU's `virt` machine with `-bios none`, so the kernel
//! does it. Both windows come from the device tree (`platform().pci`); the kernel
//! maps the first `PCI_ECAM_MAPPED` bytes of ECAM (bus 0) and the first
//! `PCI_MMIO_MAPPED` bytes of the MMIO window, and BARs are handed out from there.
//!
//! ```text
//!   ECAM + (bus << 20 | slot << 15 | function << 12) = a function's 4 KiB of config space
//!   MMIO window: [BAR of the first device][next BAR, aligned to its size]...
//! ```

use crate::dtb::{PCI_ECAM_MAPPED, PCI_IRQS, PCI_MMIO_MAPPED, platform};
use crate::mm::mmio::Mmio;
use crate::sync::spinlock::Spinlock;

// Configuration space header, type 0 (PCI Local Bus spec 3.0, §6.1).
const VENDOR_ID: usize = 0x00;
const DEVICE_ID: usize = 0x02;
const COMMAND: usize = 0x04;
const HEADER_TYPE: usize = 0x0e;
const BAR0: usize = 0x10;
const INTERRUPT_PIN: usize = 0x3d;

/// COMMAND bits: respond to memory accesses; may master the bus (DMA).
const COMMAND_MEMORY: u16 = 1 << 1;
const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// BAR bits: I/O (vs. memory) space; memory type 64-bit.
const BAR_IO: u32 = 1 << 0;
const BAR_TYPE_MASK: u32 = 0b11 << 1;
const BAR_TYPE_64: u32 = 0b10 << 1;
const BAR_MEM_FLAGS: u32 = 0xf;

const SLOTS: usize = 32;
const FUNCTIONS: usize = 8;
const FUNCTION_CONFIG_SIZE: usize = 4096;

/// How much of the MMIO window has been handed out to BARs (bytes from its start).
static MMIO_USED: Spinlock<usize> = Spinlock::new("pci_mmio", 0);

/// One function of a device on bus 0, addressed through its configuration space.
pub struct PciFunction {
    config: Mmio,
    slot: usize,
}

/// Finds the first function on bus 0 with this vendor and device id.
pub fn find(vendor: u16, device: u16) -> Option<PciFunction> {
    let host = platform().pci?;
    let functions =
        (PCI_ECAM_MAPPED.min(host.ecam_size) / FUNCTION_CONFIG_SIZE).min(SLOTS * FUNCTIONS);
    for slot in 0..SLOTS {
        for function in 0..FUNCTIONS {
            let index = slot * FUNCTIONS + function;
            if index >= functions {
                return None;
            }
            // SAFETY: index < functions, so this 4 KiB lies in the mapped part of ECAM.
            let config = unsafe { Mmio::new(host.ecam + index * FUNCTION_CONFIG_SIZE) };
            let f = PciFunction { config, slot };
            let id = f.read16(VENDOR_ID);
            if id == 0xffff {
                // Nothing here; function 0 absent means the whole slot is empty.
                if function == 0 {
                    break;
                }
                continue;
            }
            if id == vendor && f.read16(DEVICE_ID) == device {
                return Some(f);
            }
            // Bit 7 of the header type: the device has functions 1..7.
            if function == 0 && f.read8(HEADER_TYPE) & 0x80 == 0 {
                break;
            }
        }
    }
    None
}

impl PciFunction {
    pub fn read32(&self, off: usize) -> u32 {
        self.config.read32(off)
    }

    pub fn write32(&self, off: usize, v: u32) {
        self.config.write32(off, v)
    }

    pub fn read16(&self, off: usize) -> u16 {
        (self.config.read32(off & !3) >> ((off & 2) * 8)) as u16
    }

    pub fn read8(&self, off: usize) -> u8 {
        self.config.read8(off)
    }

    /// Sets bits in COMMAND.
    fn command_set(&self, bits: u16) {
        let cmd = self.read16(COMMAND) | bits;
        // The upper half of this dword is STATUS, whose bits clear when written as 1:
        // writing zeros there leaves it alone.
        self.write32(COMMAND, cmd as u32);
    }

    fn command_clear(&self, bits: u16) {
        let cmd = self.read16(COMMAND) & !bits;
        self.write32(COMMAND, cmd as u32);
    }

    /// The size of memory BAR `bar` (and whether it is 64-bit), found the standard
    /// way: write all ones, read back which address bits stick, restore. None for an
    /// I/O BAR or an unimplemented one.
    pub fn bar_size(&self, bar: usize) -> Option<(usize, bool)> {
        let off = BAR0 + 4 * bar;
        let old = self.read32(off);
        if old & BAR_IO != 0 {
            return None;
        }
        let is64 = old & BAR_TYPE_MASK == BAR_TYPE_64;
        // The device must not decode a half-written address meanwhile.
        let cmd = self.read16(COMMAND);
        self.command_clear(COMMAND_MEMORY);
        self.write32(off, !0);
        let mut mask = (self.read32(off) & !BAR_MEM_FLAGS) as u64;
        self.write32(off, old);
        if is64 {
            let old_hi = self.read32(off + 4);
            self.write32(off + 4, !0);
            mask |= (self.read32(off + 4) as u64) << 32;
            self.write32(off + 4, old_hi);
        } else {
            mask |= 0xffff_ffff_0000_0000;
        }
        self.write32(COMMAND, cmd as u32);
        if mask & 0xffff_fff0 == 0 {
            return None;
        }
        Some(((!mask).wrapping_add(1) as usize, is64))
    }

    /// Places memory BAR `bar` in the bridge's MMIO window, aligned to its size, and
    /// returns its (identity-mapped) address and size. None when there is no such BAR
    /// or the mapped part of the window is used up.
    pub fn assign_bar(&self, bar: usize) -> Option<(usize, usize)> {
        let host = platform().pci?;
        let (size, is64) = self.bar_size(bar)?;
        let window = PCI_MMIO_MAPPED.min(host.mmio_size);
        let addr = {
            let mut used = MMIO_USED.lock();
            let start = (host.mmio_base + *used).next_multiple_of(size);
            if start + size > host.mmio_base + window {
                return None;
            }
            *used = start + size - host.mmio_base;
            start
        };
        let off = BAR0 + 4 * bar;
        self.command_clear(COMMAND_MEMORY);
        let flags = self.read32(off) & BAR_MEM_FLAGS;
        self.write32(off, addr as u32 | flags);
        if is64 {
            self.write32(off + 4, (addr >> 32) as u32);
        }
        Some((addr, size))
    }

    /// Lets the function answer memory accesses to its BARs and do DMA.
    pub fn enable(&self) {
        self.command_set(COMMAND_MEMORY | COMMAND_BUS_MASTER);
    }

    /// The PLIC interrupt of the function's INTx pin, if it has one. QEMU's `virt`
    /// swizzles pins across slots: INTA of slot s is line PCI_IRQS.start + s mod 4.
    pub fn irq(&self) -> Option<usize> {
        let pin = self.read8(INTERRUPT_PIN) as usize; // 1..=4 is INTA..INTD, 0 is none
        if pin == 0 || pin > 4 {
            return None;
        }
        Some(PCI_IRQS.start() + (self.slot + pin - 1) % 4)
    }
}
