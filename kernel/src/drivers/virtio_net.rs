//! virtio-net (virtio 1.2 §5.1) over the modern virtio-mmio transport. QEMU flags:
//! `-netdev user,id=net0,... -device virtio-net-device,netdev=net0,bus=virtio-mmio-bus.1`
//! (plus `-global virtio-mmio.force-legacy=false`).
//!
//! Two split virtqueues of `ring` entries each: receiveq (0) and transmitq (1). Every
//! descriptor owns one fixed 2048-byte buffer (two per kalloc'd page) for the driver's
//! lifetime, so no packet allocates. Each buffer holds the 12-byte `virtio_net_hdr`
//! (its VERSION_1 size) followed by one whole Ethernet frame of up to 1514 bytes
//! (MRG_RXBUF is not negotiated, so a frame never spans buffers).
//!
//! ```text
//!   receiveq:  all buffers posted at probe; receive() lends a used one (header
//!              stripped) to the stack, then posts it again at once.
//!   transmitq: free list of descriptors; transmit() fills one (zeroed header +
//!              frame) and posts it; used ones are reclaimed when the list runs dry.
//! ```
//!
//! Features: MAC (§5.1.4: the address is in config space), VERSION_1, and EVENT_IDX when
//! offered (§2.7.7, §2.7.10: notify the device only when its `avail_event` is crossed;
//! ask for RX interrupts one frame ahead, and for TX interrupts only while every slot is
//! in flight). No checksum offload: smoltcp computes every checksum on TX and verifies
//! every one on RX, so CSUM would save nothing, and GUEST_CSUM would let the device hand
//! us partially checksummed frames (NEEDS_CSUM) that smoltcp rejects.

use super::virtio::*;
use crate::arch::riscv::{PGSIZE, r_time};
use crate::mm::kalloc::kalloc;
use crate::mm::mmio::Mmio;
use alloc::vec::Vec;
use devring::virtq;
use netstack::{RxRing, TxRing};

/// virtio device type of a network card.
const DEVICE_ID_NET: u32 = 1;
const RECEIVEQ: u32 = 0;
const TRANSMITQ: u32 = 1;

// Feature bits (§5.1.3).
/// The MAC address is in config space.
const VIRTIO_NET_F_MAC: u32 = 5;

/// `struct virtio_net_hdr` with VIRTIO_F_VERSION_1: flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset, num_buffers. All zero on TX means "no offload, one buffer".
const NET_HDR_LEN: usize = 12;
/// The largest Ethernet frame without FCS: 1500 bytes of payload and a 14-byte header.
const MAX_FRAME: usize = 1514;
/// Bytes per buffer slot (two per page); a slot holds header + largest frame.
const SLOT: usize = 2048;
const _: () = assert!(NET_HDR_LEN + MAX_FRAME <= SLOT && PGSIZE.is_multiple_of(SLOT));

/// The register handle, for interrupts.
pub struct VirtioNet {
    regs: Mmio,
    irq: usize,
    mac: [u8; 6],
}

/// The receive half: receiveq and its buffers.
pub struct VirtioNetRx {
    regs: Mmio,
    queue: Vring,
    /// Address of descriptor i's buffer.
    bufs: Vec<usize>,
}

/// The transmit half: transmitq and its buffers.
pub struct VirtioNetTx {
    regs: Mmio,
    queue: Vring,
    /// Address of descriptor i's buffer.
    bufs: Vec<usize>,
    /// Descriptors the device does not hold (capacity = queue size, so never grows).
    free: Vec<u16>,
    /// Whether we asked for an interrupt when the device frees a slot (only while
    /// `free` is empty).
    armed: bool,
}

/// Finds a virtio-net device on virtio-mmio and brings it up with queues of `ring`
/// descriptors.
pub fn probe(ring: usize) -> Option<(VirtioNet, VirtioNetRx, VirtioNetTx)> {
    let (regs, irq) = super::virtio::probe(DEVICE_ID_NET)?;
    // Everything else stays off: no offloads (see the module comment), no merged RX
    // buffers, no control queue, one queue pair.
    let features = negotiate(regs, |_| 1 << VIRTIO_NET_F_MAC | 1 << VIRTIO_F_EVENT_IDX);
    let event_idx = features & (1 << VIRTIO_F_EVENT_IDX) != 0;
    let max = queue_max(regs, RECEIVEQ).min(queue_max(regs, TRANSMITQ));
    let Some(size) = virtq::queue_size(ring, max) else {
        regs.write32(STATUS, 0);
        return None;
    };
    let mac = if features & (1 << VIRTIO_NET_F_MAC) != 0 {
        read_mac(regs)
    } else {
        // §5.1.5: without a MAC from the device, make up a locally administered one
        // (the clock's low bits stand in for randomness).
        let t = (r_time() as u32).to_le_bytes();
        [0x02, 0x00, t[0], t[1], t[2], t[3]]
    };

    let mut rx = VirtioNetRx {
        regs,
        queue: Vring::new(regs, RECEIVEQ, size, event_idx),
        bufs: alloc_slots(size),
    };
    for i in 0..size {
        rx.queue.set_desc(
            i,
            VirtqDesc {
                addr: rx.bufs[i as usize] as u64,
                len: (NET_HDR_LEN + MAX_FRAME) as u32,
                flags: VRING_DESC_F_WRITE,
                next: 0,
            },
        );
        // The device may not be notified before DRIVER_OK; it is, below.
        rx.queue.push(i);
    }
    let mut tx = VirtioNetTx {
        regs,
        queue: Vring::new(regs, TRANSMITQ, size, event_idx),
        bufs: alloc_slots(size),
        free: (0..size).rev().collect(),
        armed: false,
    };
    // Sent frames need no interrupt until every slot is in flight.
    tx.queue.disarm_intr();

    driver_ok(regs);
    regs.write32(QUEUE_NOTIFY, RECEIVEQ);
    Some((VirtioNet { regs, irq, mac }, rx, tx))
}

/// Reads the MAC from config space, again if the device changed it meanwhile (§4.2.2.2:
/// CONFIG_GENERATION).
fn read_mac(regs: Mmio) -> [u8; 6] {
    loop {
        let generation = regs.read32(CONFIG_GENERATION);
        let mut mac = [0u8; 6];
        for (i, b) in mac.iter_mut().enumerate() {
            *b = regs.read8(CONFIG + i);
        }
        if regs.read32(CONFIG_GENERATION) == generation {
            return mac;
        }
    }
}

/// Addresses of `n` buffer slots, two per page. The pages are the driver's for good.
fn alloc_slots(n: u16) -> Vec<usize> {
    let mut slots = Vec::with_capacity(n as usize);
    while slots.len() < n as usize {
        let page = kalloc().expect("virtio-net: out of memory");
        slots.extend((page..page + PGSIZE).step_by(SLOT));
    }
    slots.truncate(n as usize);
    slots
}

impl VirtioNet {
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// PLIC IRQ of the card.
    pub fn irq(&self) -> usize {
        self.irq
    }

    /// Acknowledges the card's interrupt (INTERRUPT_ACK); false if it was not ours.
    pub fn ack_irq(&mut self) -> bool {
        // Bit 0: a queue has used buffers; bit 1: the configuration changed.
        let status = self.regs.read32(INTERRUPT_STATUS) & 0x3;
        self.regs.write32(INTERRUPT_ACK, status);
        status != 0
    }

    /// Frames the card dropped for lack of RX descriptors: virtio-net cannot tell, so 0.
    pub fn rx_missed(&self) -> u64 {
        0
    }
}

impl VirtioNetRx {
    /// Whether the device has delivered a frame we have not taken yet (reads memory only).
    pub fn ready(&self) -> bool {
        self.queue.has_used()
    }
}

impl RxRing for VirtioNetRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let (id, len) = match self.queue.pop_used() {
            Some(used) => used,
            None => {
                // Drained: ask for an interrupt on the next frame, then look once more
                // for a frame that arrived before the request took effect.
                self.queue.arm_intr();
                self.queue.pop_used()?
            }
        };
        assert!(id < self.queue.size(), "virtio-net: bad RX descriptor");
        let addr = self.bufs[id as usize];
        // A length the device should never report (shorter than the header, longer than
        // the buffer) is clamped; the stack then counts the frame as malformed.
        let end = (len as usize).clamp(NET_HDR_LEN, NET_HDR_LEN + MAX_FRAME);
        // SAFETY: the buffer is one of ours (slot `id`, SLOT bytes inside a page we own),
        // and the device gave it back (used ring) and will not write it until `push`
        // below, after the borrow ends.
        let frame = unsafe {
            core::slice::from_raw_parts((addr + NET_HDR_LEN) as *const u8, end - NET_HDR_LEN)
        };
        let r = f(frame);
        // The descriptor still describes this buffer: only offer it again.
        if self.queue.push(id) {
            self.regs.write32(QUEUE_NOTIFY, RECEIVEQ);
        }
        // Interrupt on the next frame the device delivers from now on. Re-arming after
        // every frame, not only once drained, keeps interrupts coming when the stack stops
        // short of draining (its RX budget); frames left then go on the next interrupt or
        // poll.
        self.queue.arm_intr();
        Some(r)
    }
}

impl VirtioNetTx {
    /// A free descriptor. The ones the device has sent are reclaimed only when at most
    /// one is left.
    ///
    /// Taking the last one asks for an interrupt when the device gives any back: the
    /// stack sees `can_transmit` false until then and keeps its frames, and that
    /// interrupt's poll is what retries them. (Arming here rather than in
    /// `can_transmit`, which only gets `&self`, covers the same moment: the ring stays
    /// full and armed until a reclaim, which disarms.)
    fn take_slot(&mut self) -> Option<u16> {
        if self.free.len() <= 1 {
            self.reclaim();
        }
        let id = self.free.pop()?;
        if self.free.is_empty() {
            self.queue.arm_intr();
            self.armed = true;
        }
        Some(id)
    }

    fn reclaim(&mut self) {
        let mut any = false;
        while let Some((id, _)) = self.queue.pop_used() {
            assert!(id < self.queue.size(), "virtio-net: bad TX descriptor");
            self.free.push(id);
            any = true;
        }
        if any && self.armed {
            self.queue.disarm_intr();
            self.armed = false;
        }
    }
}

impl TxRing for VirtioNetTx {
    fn can_transmit(&self) -> bool {
        !self.free.is_empty() || self.queue.has_used()
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        if len > MAX_FRAME {
            return Err(f);
        }
        let Some(id) = self.take_slot() else {
            return Err(f);
        };
        let addr = self.bufs[id as usize];
        // SAFETY: slot `id` is ours (SLOT bytes inside a page we own), and the device
        // does not hold it: it is on no ring until `push` below, after the borrow ends.
        let buf = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, NET_HDR_LEN + len) };
        buf[..NET_HDR_LEN].fill(0);
        let r = f(&mut buf[NET_HDR_LEN..]);
        self.queue.set_desc(
            id,
            VirtqDesc {
                addr: addr as u64,
                len: (NET_HDR_LEN + len) as u32,
                flags: 0,
                next: 0,
            },
        );
        if self.queue.push(id) {
            self.regs.write32(QUEUE_NOTIFY, TRANSMITQ);
        }
        Ok(r)
    }
}
