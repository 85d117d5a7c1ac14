//! Intel 82540EM ("E1000") driver, for QEMU's
//! `-netdev user,id=net0 -device e1000,netdev=net0,bus=pcie.0`.
//!
//! `probe` finds the card on PCI, resets it and sets up one receive and one
//! transmit descriptor ring (Intel 8254x manual, chapter 14), then splits the
//! driver in three parts that share nothing but the register window:
//!
//! - `E1000`: interrupts and counters (ICR, MPC), for the interrupt handler;
//! - `E1000Rx`: the receive ring, which lends each stored frame to the stack;
//! - `E1000Tx`: the transmit ring, which lends a free buffer for the stack to fill.
//!
//! Each ring owns one 2 KiB DMA buffer per descriptor, allocated once at probe and
//! reused forever, so no packet allocates. Ownership of a descriptor passes between
//! driver and card through the head (the card's) and tail (the driver's) registers:
//!
//! ```text
//!   RX:  [ spare | taken | taken | stored | stored | empty | empty ]
//!          RDT                     next              RDH
//!        the card owns [RDH, RDT) and stores frames from RDH on; the driver
//!        reads DD at next; taken = cleared, returned by the next RDT write
//!   TX:  [ sent  | sent  | queued | queued | filled | free  ]
//!          head            TDH               TDT      tail
//!        the card owns [TDH, TDT) and sends from TDH on; the driver fills at
//!        tail, moves TDT up to it in `flush`, and reclaims from head once the
//!        card wrote DD back
//! ```
//!
//! The tail registers are the doorbells, and they are dear under QEMU: its e1000 sends
//! every queued frame inside the TDT write, and moves frames it held back into the ring
//! inside the RDT write (docs/bench.md, "Where a packet's time goes"). So neither moves per
//! frame: `flush` (the `TxRing`/`RxRing` method the stack calls once per poll) writes each
//! once, TDT with the final tail. Sooner only when it must: TDT when the ring fills up
//! (the card must send some before a slot frees), RDT once `RX_RETURN_BATCH` descriptors
//! wait (so that a long round never starves the card).
//!
//! The card interrupts when it stores a frame (RXT0), when the free receive
//! descriptors run low (RXDMT0) and when it had to miss frames (RXO); ITR spaces the
//! interrupts out. Transmit completion raises none: a finished slot is reclaimed
//! the next time the driver needs one.

use super::e1000_regs::*;
use super::pci;
use crate::arch::riscv::PGSIZE;
use crate::mm::kalloc::{kalloc, kfree, kzalloc};
use crate::mm::mmio::Mmio;
use crate::println;
use alloc::vec::Vec;
use core::cell::Cell;
use core::marker::PhantomData;
use core::sync::atomic::{Ordering, fence};
use devring::ring;
use netstack::{RxRing, TxRing};

/// One DMA buffer: a whole frame (at most 1514 bytes, the CRC is stripped) fits, and
/// two share a page. RCTL.BSIZE tells the card.
const BUF_SIZE: usize = 2048;
/// An Ethernet header; anything shorter is no frame.
const MIN_FRAME: usize = 14;
/// The shortest frame sent, without CRC: the card wants at least 48 bytes before
/// its own padding [E1000 3.3.3], so shorter ones (ARP) are zero-padded to
/// Ethernet's 60-byte minimum here.
const MIN_TX_LEN: usize = 60;
/// Descriptors are 16 bytes; a ring's byte length must be a multiple of 128
/// [E1000 13.4.27], and the ring fits in one page.
const DESC_SIZE: usize = 16;
const RING_GRANULE: usize = 128 / DESC_SIZE;
const RING_MAX: usize = PGSIZE / DESC_SIZE;
/// Most cleared RX descriptors held back before an RDT write returns them (at most
/// half the ring) when the round has not ended yet.
const RX_RETURN_BATCH: usize = 16;
/// Polls of CTRL.RST before giving up on a reset.
const RESET_POLLS: usize = 1_000_000;

/// The card's interrupts and counters. Its rings are in `E1000Rx` and `E1000Tx`.
pub struct E1000 {
    regs: Mmio,
    mac: [u8; 6],
    irq: usize,
    /// Frames missed since the reset (MPC, see `rx_missed`).
    missed: Cell<u64>,
}

/// The receive ring.
pub struct E1000Rx {
    regs: Mmio,
    dma: DmaRing<RxDesc>,
    /// The next descriptor the card fills.
    next: usize,
    /// Descriptors taken and cleared but not yet returned with RDT (see `give_back`).
    unreturned: usize,
    /// Inside a frame that spans descriptors, dropped up to its EOP descriptor.
    partial: bool,
    /// Frames dropped here: receive errors, spanning descriptors, too short.
    dropped: u64,
    /// RDT writes since the probe.
    doorbells: u64,
}

/// The transmit ring.
pub struct E1000Tx {
    regs: Mmio,
    dma: DmaRing<TxDesc>,
    /// The oldest descriptor handed to the card and not yet reclaimed.
    head: usize,
    /// The next descriptor to fill.
    tail: usize,
    /// What TDT says: the descriptors in [notified, tail) are filled but the card has
    /// not been told yet (`flush` tells it).
    notified: usize,
    /// Frames refused because their length fits no slot.
    rejected: u64,
    /// TDT writes since the probe.
    doorbells: u64,
}

/// Finds the E1000 on PCI and brings it up with the given ring sizes and interrupt
/// throttling interval (ITR, in 256 ns units; 0 = off).
pub fn probe(rx_ring: usize, tx_ring: usize, itr: u32) -> Option<(E1000, E1000Rx, E1000Tx)> {
    let dev = pci::find(VENDOR_INTEL, DEVICE_82540EM)?;
    let Some(irq) = dev.irq() else {
        println!("e1000: no interrupt pin");
        return None;
    };
    let Some((bar0, size)) = dev.assign_bar(0) else {
        println!("e1000: no room for BAR0 in the PCI window");
        return None;
    };
    if size < REGS_END {
        println!("e1000: BAR0 too small ({:#x})", size);
        return None;
    }
    dev.enable();
    // SAFETY: BAR0 was just placed in the mapped PCI MMIO window, and it covers every
    // register offset this driver uses (size checked above).
    let regs = unsafe { Mmio::new(bar0) };

    reset(regs)?;

    // [E1000 14.3] General configuration: link up, speed from the PHY, no flow control.
    regs.write32(CTRL, regs.read32(CTRL) | CTRL_SLU | CTRL_ASDE);
    for r in [FCAL, FCAH, FCT, FCTTV] {
        regs.write32(r, 0);
    }

    // QEMU loads RAL0/RAH0 from its EEPROM image (the netdev's MAC) at reset.
    let (ral, rah) = (regs.read32(RAL0), regs.read32(RAH0));
    if rah & RAH_AV == 0 {
        println!("e1000: no MAC address in RAL0/RAH0");
        return None;
    }
    let [m0, m1, m2, m3] = ral.to_le_bytes();
    let [m4, m5, _, _] = rah.to_le_bytes();
    let mac = [m0, m1, m2, m3, m4, m5];

    // Both rings are allocated before the card learns of either, so a failure
    // frees memory the card was never told about.
    let (Some(rx_dma), Some(tx_dma)) = (
        DmaRing::new(ring::ring_size(rx_ring, RING_GRANULE, RING_MAX)),
        DmaRing::new(ring::ring_size(tx_ring, RING_GRANULE, RING_MAX)),
    ) else {
        println!("e1000: out of memory for the rings");
        return None;
    };
    let rx = E1000Rx::new(regs, rx_dma);
    let tx = E1000Tx::new(regs, tx_dma);

    // [E1000 13.4.18] At most one interrupt per ITR × 256 ns.
    regs.write32(ITR, itr.min(0xffff));
    // Drop causes raised before now, then unmask the receive ones [E1000 14.4].
    regs.read32(ICR);
    regs.write32(IMS, ICR_RXT0 | ICR_RXO | ICR_RXDMT0);

    let nic = E1000 {
        regs,
        mac,
        irq,
        missed: Cell::new(0),
    };
    Some((nic, rx, tx))
}

/// Masks every interrupt and resets the card.
fn reset(regs: Mmio) -> Option<()> {
    // Interrupts stay masked through the reset [E1000 13.4.21: IMC].
    regs.write32(IMC, !0);
    regs.write32(CTRL, regs.read32(CTRL) | CTRL_RST);
    // RST clears itself once the reset is done [E1000 13.4.1].
    if !(0..RESET_POLLS).any(|_| regs.read32(CTRL) & CTRL_RST == 0) {
        println!("e1000: reset did not complete");
        return None;
    }
    regs.write32(IMC, !0);
    Some(())
}

impl E1000 {
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// PLIC IRQ of the card.
    pub fn irq(&self) -> usize {
        self.irq
    }

    /// Acknowledges the card's interrupt (reads ICR); false if it was not ours.
    pub fn ack_irq(&mut self) -> bool {
        // Reading ICR clears every cause and lowers the interrupt line [E1000 13.4.17].
        self.regs.read32(ICR) != 0
    }

    /// Frames the card dropped for lack of RX descriptors.
    pub fn rx_missed(&self) -> u64 {
        // The 8254x clears its statistics registers when they are read [E1000 13.7];
        // QEMU's e1000 never clears MPC. Two reads in a row tell which: a cleared
        // counter reads lower the second time.
        let first = self.regs.read32(MPC) as u64;
        let second = self.regs.read32(MPC) as u64;
        let total = if second < first {
            // Both readings are misses since the previous call.
            self.missed.get() + first + second
        } else {
            // A running count since the reset.
            self.missed.get().max(second)
        };
        self.missed.set(total);
        total
    }
}

impl E1000Rx {
    /// [E1000 14.4] Receive initialization: every descriptor gets its buffer, and all
    /// but one go to the card; then the receiver is enabled.
    fn new(regs: Mmio, dma: DmaRing<RxDesc>) -> E1000Rx {
        let size = dma.size;
        for i in 0..size {
            dma.set_desc(i, dma.empty_rx(i));
        }
        for i in 0..MTA_WORDS {
            regs.write32(MTA + 4 * i, 0);
        }
        regs.write32(RDBAL, dma.desc_base() as u32);
        regs.write32(RDBAH, (dma.desc_base() >> 32) as u32);
        regs.write32(RDLEN, (size * DESC_SIZE) as u32);
        // The card owns [RDH, RDT): here every descriptor but the last. RDT == RDH
        // would mean the card owns none, so one always stays with the driver.
        regs.write32(RDH, 0);
        regs.write32(RDT, ring::prev(0, size) as u32);
        // Interrupt as soon as a frame is stored; ITR does the spacing.
        regs.write32(RDTR, 0);
        regs.write32(
            RCTL,
            RCTL_EN | RCTL_BAM | RCTL_SECRC | RCTL_BSIZE_2048 | RCTL_RDMTS_HALF,
        );
        E1000Rx {
            regs,
            dma,
            next: 0,
            unreturned: 0,
            partial: false,
            dropped: 0,
            doorbells: 0,
        }
    }

    /// Frames dropped by the driver (receive errors, frames spanning descriptors,
    /// frames shorter than an Ethernet header).
    #[expect(
        dead_code,
        reason = "for netstat: the net glue has no field for it yet"
    )]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Clears descriptor `i`, which the driver has finished with, for the card to
    /// fill again. The card gets it back with the next RDT write, made by `flush` at
    /// the end of the round, or here once `RX_RETURN_BATCH` descriptors are waiting:
    /// QEMU refills a ring with the frames it queued when RDT moves and drops those
    /// that do not fit, so returning one descriptor at a time loses most of a burst,
    /// and holding back too many in a long round leaves the card too few.
    fn give_back(&mut self, i: usize) {
        self.dma.set_desc(i, self.dma.empty_rx(i));
        self.next = ring::next(i, self.dma.size);
        self.unreturned += 1;
        if self.unreturned >= RX_RETURN_BATCH.min(self.dma.size / 2) {
            self.return_descs();
        }
    }

    /// Hands every cleared descriptor back to the card: RDT = the last one cleared,
    /// which becomes the spare, and the card owns everything before it.
    fn return_descs(&mut self) {
        if self.unreturned == 0 {
            return;
        }
        // The cleared descriptors must be in memory before the card may use them.
        fence(Ordering::SeqCst);
        self.regs
            .write32(RDT, ring::prev(self.next, self.dma.size) as u32);
        self.unreturned = 0;
        self.doorbells += 1;
    }

    /// Whether descriptor `d` holds a frame to hand to the stack; counts the drops.
    fn accept(&mut self, d: &RxDesc) -> bool {
        let eop = d.status & RXD_STAT_EOP != 0;
        let was_partial = self.partial;
        self.partial = !eop;
        if was_partial {
            // The rest of a frame already counted.
            return false;
        }
        let len = d.length as usize;
        let ok = eop && d.errors == 0 && (MIN_FRAME..=BUF_SIZE).contains(&len);
        if !ok {
            self.dropped += 1;
        }
        ok
    }
}

impl E1000Rx {
    /// Whether the card has stored a frame we have not taken yet (reads memory only).
    pub fn ready(&self) -> bool {
        self.dma.desc(self.next).status & RXD_STAT_DD != 0
    }

    /// RDT writes since the probe.
    pub fn doorbells(&self) -> u64 {
        self.doorbells
    }

    /// The most frames the card holds for us when they come faster than we take them:
    /// every descriptor but the one the driver keeps. QEMU's e1000 queues what finds no
    /// free descriptor, and when an RDT write returns some it stores as many queued
    /// frames as fit and loses the rest (counted in MPC); a real 82540EM would add its
    /// on-chip packet buffer.
    pub fn burst_limit(&self) -> usize {
        self.dma.size - 1
    }
}

impl RxRing for E1000Rx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        // Bounded so that a card storing only bad frames cannot hold us here.
        for _ in 0..self.dma.size {
            let i = self.next;
            let d = self.dma.desc(i);
            if d.status & RXD_STAT_DD == 0 {
                // Drained: the descriptors taken go back at `flush`.
                return None;
            }
            // Read the buffer only after seeing DD: the card wrote it first.
            fence(Ordering::SeqCst);
            if self.accept(&d) {
                // SAFETY: DD is set and i is outside [RDH, RDT), so the card is done
                // with this buffer and does not touch it until return_descs moves
                // RDT past it; length <= BUF_SIZE was checked by accept.
                let frame = unsafe {
                    core::slice::from_raw_parts(self.dma.buf(i) as *const u8, d.length as usize)
                };
                let r = f(frame);
                self.give_back(i);
                return Some(r);
            }
            self.give_back(i);
        }
        None
    }

    fn flush(&mut self) {
        self.return_descs();
    }
}

impl E1000Tx {
    /// [E1000 14.5] Transmit initialization: an empty ring, then the transmitter is
    /// enabled for full duplex.
    fn new(regs: Mmio, dma: DmaRing<TxDesc>) -> E1000Tx {
        let size = dma.size;
        regs.write32(TDBAL, dma.desc_base() as u32);
        regs.write32(TDBAH, (dma.desc_base() >> 32) as u32);
        regs.write32(TDLEN, (size * DESC_SIZE) as u32);
        regs.write32(TDH, 0);
        regs.write32(TDT, 0);
        // Collision threshold 0x0f and distance 0x40 (64-byte times, full duplex)
        // are the manual's recommended values [E1000 13.4.33].
        regs.write32(
            TCTL,
            TCTL_EN | TCTL_PSP | (0x0f << TCTL_CT_SHIFT) | (0x40 << TCTL_COLD_SHIFT),
        );
        regs.write32(TIPG, TIPG_802_3);
        E1000Tx {
            regs,
            dma,
            head: 0,
            tail: 0,
            notified: 0,
            rejected: 0,
            doorbells: 0,
        }
    }

    /// Frames refused because they were longer than a slot or shorter than an
    /// Ethernet header.
    #[expect(
        dead_code,
        reason = "for netstat: the net glue has no field for it yet"
    )]
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Whether the card has finished with descriptor `i` (it wrote DD back, as RS
    /// asked).
    fn sent(&self, i: usize) -> bool {
        self.dma.desc(i).status & TXD_STAT_DD != 0
    }

    /// TDT writes since the probe.
    pub fn doorbells(&self) -> u64 {
        self.doorbells
    }

    /// Takes back the descriptors the card has finished, oldest first.
    fn reclaim(&mut self) {
        while self.head != self.tail && self.sent(self.head) {
            self.head = ring::next(self.head, self.dma.size);
        }
    }
}

impl TxRing for E1000Tx {
    fn can_transmit(&self) -> bool {
        !ring::is_full(self.head, self.tail, self.dma.size) || self.sent(self.head)
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        if !(MIN_FRAME..=BUF_SIZE).contains(&len) {
            self.rejected += 1;
            return Err(f);
        }
        let size = self.dma.size;
        if ring::is_full(self.head, self.tail, size) {
            self.reclaim();
            if ring::is_full(self.head, self.tail, size) {
                return Err(f);
            }
        }
        let i = self.tail;
        let buf = self.dma.buf(i);
        // SAFETY: i is outside [head, tail), so the card is not reading this buffer
        // (it reads only below TDT, which is at most i); len <= BUF_SIZE was checked above.
        let frame = unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, len) };
        let r = f(frame);
        let wire_len = len.max(MIN_TX_LEN);
        // SAFETY: [len, wire_len) lies in the same free buffer (MIN_TX_LEN < BUF_SIZE).
        unsafe { core::ptr::write_bytes((buf + len) as *mut u8, 0, wire_len - len) };
        let d = TxDesc {
            addr: buf as u64,
            length: wire_len as u16,
            cmd: TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
            ..TxDesc::default()
        };
        self.dma.set_desc(i, d);
        self.tail = ring::next(i, size);
        // The card learns of it at the next `flush`, or now if the ring just filled up:
        // a full ring frees slots only as the card sends (QEMU inside the write), and
        // until then `can_transmit` says no and the stack would stop sending.
        if ring::is_full(self.head, self.tail, size) {
            self.flush();
        }
        Ok(r)
    }

    /// One TDT write for every descriptor filled since the last: the card owns up to
    /// the final tail.
    fn flush(&mut self) {
        if self.notified == self.tail {
            return;
        }
        // The frames and their descriptors must be in memory before the card sees TDT.
        fence(Ordering::SeqCst);
        self.regs.write32(TDT, self.tail as u32);
        self.notified = self.tail;
        self.doorbells += 1;
    }
}

/// A descriptor ring and its buffers, one `BUF_SIZE` buffer per descriptor: the
/// descriptors fill one zeroed page, the buffers two per page. All of it is physical
/// memory the card reads and writes by DMA (identity-mapped, so the kernel uses the
/// same addresses). Dropped only by a probe that fails before the card knows the ring.
struct DmaRing<D> {
    /// Number of descriptors.
    size: usize,
    /// The descriptor page.
    descs: usize,
    /// The buffer pages.
    pages: Vec<usize>,
    _desc: PhantomData<D>,
}

const BUFS_PER_PAGE: usize = PGSIZE / BUF_SIZE;

impl<D: Copy> DmaRing<D> {
    fn new(size: usize) -> Option<DmaRing<D>> {
        assert!(size * core::mem::size_of::<D>() <= PGSIZE && size.is_multiple_of(BUFS_PER_PAGE));
        let mut dma = DmaRing {
            size,
            descs: 0,
            pages: Vec::with_capacity(size / BUFS_PER_PAGE),
            _desc: PhantomData,
        };
        dma.descs = kzalloc()?;
        for _ in 0..size / BUFS_PER_PAGE {
            dma.pages.push(kalloc()?);
        }
        Some(dma)
    }

    fn desc_base(&self) -> usize {
        self.descs
    }

    /// The address of descriptor `i`'s buffer.
    fn buf(&self, i: usize) -> usize {
        self.pages[i / BUFS_PER_PAGE] + (i % BUFS_PER_PAGE) * BUF_SIZE
    }

    fn desc(&self, i: usize) -> D {
        assert!(i < self.size);
        // SAFETY: i < size, so the descriptor lies in the descriptor page (checked in
        // new); the card may write it concurrently, hence volatile.
        unsafe { (self.descs as *const D).add(i).read_volatile() }
    }

    fn set_desc(&self, i: usize, d: D) {
        assert!(i < self.size);
        // SAFETY: as in desc; the caller owns descriptor i (outside the card's part
        // of the ring).
        unsafe { (self.descs as *mut D).add(i).write_volatile(d) }
    }
}

impl DmaRing<RxDesc> {
    /// Descriptor `i` as the card wants it: its buffer, status cleared.
    fn empty_rx(&self, i: usize) -> RxDesc {
        RxDesc {
            addr: self.buf(i) as u64,
            ..RxDesc::default()
        }
    }
}

impl<D> Drop for DmaRing<D> {
    fn drop(&mut self) {
        for &page in &self.pages {
            kfree(page);
        }
        if self.descs != 0 {
            kfree(self.descs);
        }
    }
}
