//! The virtio-mmio transport (version 2, "modern": QEMU needs
//! `-global virtio-mmio.force-legacy=false`) and split virtqueues, shared by the
//! virtio block and network drivers. Virtio 1.2 spec §4.2 (MMIO) and §2.7 (split queues).

use crate::arch::riscv::PGSIZE;
use crate::mm::kalloc::kzalloc;
use crate::mm::mmio::Mmio;
use core::sync::atomic::{Ordering, fence};

// Registers (§4.2.2).
pub const MAGIC_VALUE: usize = 0x000; // 0x74726976 ("virt")
pub const VERSION: usize = 0x004; // 2 for modern devices
pub const DEVICE_ID: usize = 0x008; // 1 is net, 2 is disk
pub const DEVICE_FEATURES: usize = 0x010;
pub const DEVICE_FEATURES_SEL: usize = 0x014;
pub const DRIVER_FEATURES: usize = 0x020;
pub const DRIVER_FEATURES_SEL: usize = 0x024;
pub const QUEUE_SEL: usize = 0x030;
pub const QUEUE_NUM_MAX: usize = 0x034;
pub const QUEUE_NUM: usize = 0x038;
pub const QUEUE_READY: usize = 0x044;
pub const QUEUE_NOTIFY: usize = 0x050;
pub const INTERRUPT_STATUS: usize = 0x060;
pub const INTERRUPT_ACK: usize = 0x064;
pub const STATUS: usize = 0x070;
pub const QUEUE_DESC_LOW: usize = 0x080;
pub const QUEUE_DESC_HIGH: usize = 0x084;
pub const QUEUE_DRIVER_LOW: usize = 0x090;
pub const QUEUE_DRIVER_HIGH: usize = 0x094;
pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;

// Device status bits (§2.1).
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;

// Descriptor flags.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// The device writes (vs. reads) this buffer.
pub const VRING_DESC_F_WRITE: u16 = 2;

/// A buffer descriptor (§2.7.5).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct VirtqDesc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

/// Finds the virtio-mmio slot that holds a modern device of type `device_id`.
pub fn probe(device_id: u32) -> Option<(Mmio, usize)> {
    for slot in crate::dtb::platform().virtio.iter().flatten() {
        // SAFETY: every virtio slot's window from the device tree is mapped by kvmmake.
        let regs = unsafe { Mmio::new(slot.base) };
        if regs.read32(MAGIC_VALUE) == 0x7472_6976
            && regs.read32(VERSION) == 2
            && regs.read32(DEVICE_ID) == device_id
        {
            return Some((regs, slot.irq));
        }
    }
    None
}

/// Resets the device and negotiates features: the driver accepts `accept(offered)`
/// of the low 32 feature bits (and VIRTIO_F_VERSION_1 from the high ones).
/// Returns the accepted low bits.
pub fn negotiate(regs: Mmio, accept: impl Fn(u32) -> u32) -> u32 {
    regs.write32(STATUS, 0);
    let mut status = STATUS_ACKNOWLEDGE;
    regs.write32(STATUS, status);
    status |= STATUS_DRIVER;
    regs.write32(STATUS, status);

    regs.write32(DEVICE_FEATURES_SEL, 0);
    let offered = regs.read32(DEVICE_FEATURES);
    let features = accept(offered) & offered;
    regs.write32(DRIVER_FEATURES_SEL, 0);
    regs.write32(DRIVER_FEATURES, features);
    // VIRTIO_F_VERSION_1 (bit 32): a modern device requires it.
    regs.write32(DEVICE_FEATURES_SEL, 1);
    let high = regs.read32(DEVICE_FEATURES) & 1;
    regs.write32(DRIVER_FEATURES_SEL, 1);
    regs.write32(DRIVER_FEATURES, high);

    status |= STATUS_FEATURES_OK;
    regs.write32(STATUS, status);
    assert!(
        regs.read32(STATUS) & STATUS_FEATURES_OK != 0,
        "virtio: FEATURES_OK unset"
    );
    features
}

/// Tells the device the driver is ready.
pub fn driver_ok(regs: Mmio) {
    let s = regs.read32(STATUS);
    regs.write32(STATUS, s | STATUS_DRIVER_OK);
}

/// A split virtqueue of `N` descriptors: descriptor table, available ring (driver →
/// device) and used ring (device → driver), each in its own zeroed page.
pub struct Virtqueue<const N: usize> {
    desc: *mut VirtqDesc,
    /// flags: u16, idx: u16, ring: [u16; N]
    avail: *mut u16,
    /// flags: u16, idx: u16, ring: [(id: u32, len: u32); N]
    used: *mut u8,
    free: [bool; N],
    /// How far we have consumed the used ring.
    pub used_idx: u16,
}

// SAFETY: the ring pages are owned by the queue; users serialize access with a lock.
unsafe impl<const N: usize> Send for Virtqueue<N> {}

impl<const N: usize> Virtqueue<N> {
    /// Allocates the rings and tells the device about queue `index`.
    pub fn new(regs: Mmio, index: u32) -> Virtqueue<N> {
        assert!(N * 16 <= PGSIZE && N <= u16::MAX as usize);
        regs.write32(QUEUE_SEL, index);
        assert!(regs.read32(QUEUE_READY) == 0, "virtio queue already in use");
        let max = regs.read32(QUEUE_NUM_MAX) as usize;
        assert!(max >= N, "virtio queue too short");
        let desc = kzalloc().expect("virtio: out of memory");
        let avail = kzalloc().expect("virtio: out of memory");
        let used = kzalloc().expect("virtio: out of memory");
        regs.write32(QUEUE_NUM, N as u32);
        regs.write32(QUEUE_DESC_LOW, desc as u32);
        regs.write32(QUEUE_DESC_HIGH, (desc >> 32) as u32);
        regs.write32(QUEUE_DRIVER_LOW, avail as u32);
        regs.write32(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
        regs.write32(QUEUE_DEVICE_LOW, used as u32);
        regs.write32(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
        regs.write32(QUEUE_READY, 1);
        Virtqueue {
            desc: desc as *mut VirtqDesc,
            avail: avail as *mut u16,
            used: used as *mut u8,
            free: [true; N],
            used_idx: 0,
        }
    }

    /// Takes a free descriptor.
    pub fn alloc_desc(&mut self) -> Option<u16> {
        let i = self.free.iter().position(|&f| f)?;
        self.free[i] = false;
        Some(i as u16)
    }

    /// Returns a descriptor chain starting at `i` to the free list.
    pub fn free_chain(&mut self, mut i: u16) {
        loop {
            let d = self.desc(i);
            assert!(!self.free[i as usize], "virtio: freeing a free descriptor");
            self.free[i as usize] = true;
            if d.flags & VRING_DESC_F_NEXT == 0 {
                return;
            }
            i = d.next;
        }
    }

    pub fn desc(&self, i: u16) -> VirtqDesc {
        assert!((i as usize) < N);
        // SAFETY: i < N, inside the descriptor page.
        unsafe { self.desc.add(i as usize).read_volatile() }
    }

    pub fn set_desc(&mut self, i: u16, d: VirtqDesc) {
        assert!((i as usize) < N);
        // SAFETY: i < N, inside the descriptor page.
        unsafe { self.desc.add(i as usize).write_volatile(d) };
    }

    /// Offers the chain starting at `head` to the device (does not notify).
    pub fn push_avail(&mut self, head: u16) {
        // SAFETY: the avail page holds flags, idx and N ring entries (u16 each).
        unsafe {
            let idx = self.avail.add(1).read_volatile();
            self.avail.add(2 + (idx as usize % N)).write_volatile(head);
            // The ring entry must be visible before the index that publishes it.
            fence(Ordering::SeqCst);
            self.avail.add(1).write_volatile(idx.wrapping_add(1));
        }
        fence(Ordering::SeqCst);
    }

    /// Takes the next completed chain from the used ring: (head id, bytes written).
    pub fn pop_used(&mut self) -> Option<(u16, u32)> {
        fence(Ordering::SeqCst);
        // SAFETY: the used page holds flags, idx and N (id, len) elements.
        unsafe {
            let idx = (self.used.add(2) as *const u16).read_volatile();
            if idx == self.used_idx {
                return None;
            }
            let elem = self.used.add(4 + 8 * (self.used_idx as usize % N));
            let id = (elem as *const u32).read_volatile();
            let len = (elem.add(4) as *const u32).read_volatile();
            self.used_idx = self.used_idx.wrapping_add(1);
            Some((id as u16, len))
        }
    }
}
