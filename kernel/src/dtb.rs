//! The device tree QEMU hands to hart 0 (a1 at boot) decides where every device is:
//! RAM, the UART, the PLIC, the virtio-mmio slots, the power-off device and the PCI
//! host bridge. Nothing else in the kernel hard-codes a device address.

use crate::arch::riscv::{PGSIZE, pgroundup};
use crate::sync::once::Once;

/// Number of virtio-mmio slots we keep track of (QEMU's virt machine has 8).
pub const VIRTIO_SLOTS: usize = 8;

/// One virtio-mmio transport: register window and its PLIC interrupt.
#[derive(Clone, Copy, Debug)]
pub struct VirtioSlot {
    pub base: usize,
    pub irq: usize,
}

/// The PCIe host bridge: configuration space (ECAM) and the 32-bit memory window for BARs.
#[derive(Clone, Copy, Debug)]
pub struct PciHost {
    pub ecam: usize,
    pub ecam_size: usize,
    pub mmio_base: usize,
    pub mmio_size: usize,
}

/// What the kernel learned from the device tree.
#[derive(Debug)]
pub struct Platform {
    pub ram_base: usize,
    pub ram_end: usize,
    pub ncpu: usize,
    /// Ticks per second of the `time` CSR.
    pub timebase: usize,
    pub uart: usize,
    pub uart_irq: usize,
    pub plic: usize,
    pub plic_size: usize,
    pub test_device: Option<usize>,
    pub virtio: [Option<VirtioSlot>; VIRTIO_SLOTS],
    pub pci: Option<PciHost>,
    /// The kernel command line (`-append "..."`), copied out of the device tree.
    bootargs: [u8; 128],
    bootargs_len: usize,
}

/// Bytes of the PCI configuration space (bus 0 only) and BAR window the kernel maps.
pub const PCI_ECAM_MAPPED: usize = 32 * 8 * 4096;
pub const PCI_MMIO_MAPPED: usize = 2 << 20;
/// PLIC lines of PCI INTA..INTD on QEMU's virt machine.
pub const PCI_IRQS: core::ops::RangeInclusive<usize> = 32..=35;

static PLATFORM: Once<Platform> = Once::new();

/// The platform description; valid after `dtbinit`.
pub fn platform() -> &'static Platform {
    PLATFORM.get()
}

fn reg_of(node: fdt::node::FdtNode) -> Option<(usize, usize)> {
    let r = node.reg()?.next()?;
    Some((r.starting_address as usize, r.size.unwrap_or(PGSIZE)))
}

fn irq_of(node: fdt::node::FdtNode) -> usize {
    node.interrupts().and_then(|mut i| i.next()).unwrap_or(0)
}

/// Parses the device tree at physical address `dtb`.
pub fn dtbinit(dtb: usize) {
    // SAFETY: QEMU placed a valid FDT at this address and nothing overwrites it:
    // it lies in RAM above the kernel image, and kinit skips it (see main).
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.expect("dtb: bad device tree");

    let mem = fdt.memory().regions().next().expect("dtb: no memory");
    let ram_base = mem.starting_address as usize;
    let ram_end = ram_base + mem.size.expect("dtb: memory size");

    let cpus = fdt.cpus();
    let mut ncpu = 0;
    let mut timebase = 10_000_000;
    for cpu in cpus {
        ncpu += 1;
        timebase = cpu.timebase_frequency();
    }

    let uart = fdt.find_compatible(&["ns16550a"]).expect("dtb: no uart");
    let (uart_base, _) = reg_of(uart).expect("dtb: uart reg");
    let plic = fdt
        .find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"])
        .expect("dtb: no plic");
    let (plic_base, plic_size) = reg_of(plic).expect("dtb: plic reg");
    let test_device = fdt
        .find_compatible(&["sifive,test1", "sifive,test0"])
        .and_then(reg_of)
        .map(|(b, _)| b);

    let mut virtio = [None; VIRTIO_SLOTS];
    let mut slots: [Option<VirtioSlot>; VIRTIO_SLOTS] = [None; VIRTIO_SLOTS];
    let mut n = 0;
    for node in fdt.all_nodes() {
        let is_virtio = node
            .compatible()
            .is_some_and(|c| c.all().any(|s| s == "virtio,mmio"));
        if is_virtio
            && n < VIRTIO_SLOTS
            && let Some((base, _)) = reg_of(node)
        {
            slots[n] = Some(VirtioSlot {
                base,
                irq: irq_of(node),
            });
            n += 1;
        }
    }
    // Keep them in address order: slot i is at the i-th lowest address (bus=virtio-mmio-bus.i).
    slots[..n].sort_unstable_by_key(|s| s.map_or(usize::MAX, |s| s.base));
    virtio[..n].copy_from_slice(&slots[..n]);

    let pci = fdt
        .find_compatible(&["pci-host-ecam-generic"])
        .and_then(|node| {
            let (ecam, ecam_size) = reg_of(node)?;
            // QEMU's virt: the 32-bit MMIO window for BARs (ranges entry with space code 0x2).
            let ranges = node.property("ranges")?.value;
            let mut window = None;
            for entry in ranges.chunks_exact(28) {
                let be =
                    |i: usize| u32::from_be_bytes(entry[i..i + 4].try_into().unwrap()) as usize;
                let space = (be(0) >> 24) & 0x3;
                let cpu_addr = (be(12) << 32) | be(16);
                let size = (be(20) << 32) | be(24);
                if space == 2 && window.is_none() {
                    window = Some((cpu_addr, size));
                }
            }
            let (mmio_base, mmio_size) = window?;
            Some(PciHost {
                ecam,
                ecam_size,
                mmio_base,
                mmio_size,
            })
        });

    let mut bootargs = [0u8; 128];
    let args = fdt.chosen().bootargs().unwrap_or("").as_bytes();
    let bootargs_len = args.len().min(bootargs.len());
    bootargs[..bootargs_len].copy_from_slice(&args[..bootargs_len]);

    PLATFORM.set(Platform {
        ram_base,
        ram_end,
        ncpu,
        timebase,
        uart: uart_base,
        uart_irq: irq_of(uart),
        plic: plic_base,
        plic_size,
        test_device,
        virtio,
        pci,
        bootargs,
        bootargs_len,
    });
}

impl Platform {
    /// Device register windows the kernel page table must map, page-rounded.
    pub fn mmio_regions(&self) -> [Option<(usize, usize)>; VIRTIO_SLOTS + 5] {
        let mut r = [None; VIRTIO_SLOTS + 5];
        if let Some(pci) = self.pci {
            r[VIRTIO_SLOTS + 3] = Some((pci.ecam, PCI_ECAM_MAPPED.min(pci.ecam_size)));
            r[VIRTIO_SLOTS + 4] = Some((pci.mmio_base, PCI_MMIO_MAPPED.min(pci.mmio_size)));
        }
        r[0] = Some((self.uart, PGSIZE));
        r[1] = Some((self.plic, pgroundup(self.plic_size)));
        r[2] = self.test_device.map(|b| (b, PGSIZE));
        for (i, s) in self.virtio.iter().enumerate() {
            r[3 + i] = s.map(|s| (s.base, PGSIZE));
        }
        r
    }

    /// IRQ numbers the kernel enables at the PLIC.
    pub fn irqs(&self) -> impl Iterator<Item = usize> + '_ {
        let pci = self.pci.map(|_| PCI_IRQS).into_iter().flatten();
        core::iter::once(self.uart_irq)
            .chain(self.virtio.iter().flatten().map(|s| s.irq))
            .chain(pci)
            .filter(|&i| i != 0)
    }

    /// The value of `key=value` on the kernel command line, if present.
    pub fn bootarg(&self, key: &str) -> Option<&str> {
        let args = core::str::from_utf8(&self.bootargs[..self.bootargs_len]).ok()?;
        args.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}
