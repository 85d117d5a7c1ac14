//! Power-off through QEMU's SiFive test device ("sifive,test0" in the device tree):
//! writing 0x5555 ends QEMU with status 0, `(code << 16) | 0x3333` with status `code`.

use crate::dtb::platform;
use crate::mm::mmio::Mmio;

/// Powers the machine off; QEMU exits with `status` (0..=0xffff).
pub fn poweroff(status: u32) -> ! {
    if let Some(base) = platform().test_device {
        let value = if status == 0 {
            0x5555
        } else {
            (status << 16) | 0x3333
        };
        // SAFETY: the test device region from the device tree is mapped by kvmmake.
        unsafe { Mmio::new(base) }.write32(0, value);
    }
    crate::println!("poweroff: no test device; halting");
    loop {
        // SAFETY: waiting for an interrupt has no memory effects.
        unsafe { core::arch::asm!("wfi") };
    }
}
