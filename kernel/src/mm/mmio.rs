//! Typed access to a device's memory-mapped registers: every access is volatile and
//! 32 bits wide (or 64 where the device says so), at a byte offset from the base.

/// A device register window.
#[derive(Clone, Copy)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// The window at physical address `pa`, reached through its alias in the kernel's device
    /// region once paging is on (`vm::device_va`).
    ///
    /// # Safety
    /// `pa` must be the physical address of a device's register window, large enough for every
    /// offset later passed to `read*`/`write*`, and inside a region `Platform::mmio_regions` lists.
    pub unsafe fn new(pa: usize) -> Mmio {
        Mmio {
            base: crate::mm::vm::device_va(pa),
        }
    }

    pub fn read32(&self, off: usize) -> u32 {
        // SAFETY: in the register window (Mmio::new's contract), naturally aligned.
        unsafe { core::ptr::read_volatile((self.base + off) as *const u32) }
    }

    pub fn write32(&self, off: usize, v: u32) {
        // SAFETY: in the register window (Mmio::new's contract), naturally aligned.
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u32, v) }
    }

    pub fn read8(&self, off: usize) -> u8 {
        // SAFETY: in the register window (Mmio::new's contract).
        unsafe { core::ptr::read_volatile((self.base + off) as *const u8) }
    }

    pub fn write8(&self, off: usize, v: u8) {
        // SAFETY: in the register window (Mmio::new's contract).
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u8, v) }
    }
}
