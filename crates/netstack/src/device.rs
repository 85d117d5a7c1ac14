//! `NetDevice`: the small interface our NIC drivers (E1000, virtio-net) implement.
//!
//! Drivers know nothing of smoltcp; they only move Ethernet frames between their
//! DMA rings and the stack. Three rules shape the interface:
//!
//! 1. **No allocation per packet.** A driver owns a fixed set of buffer slots,
//!    one per descriptor. Receiving *lends* the next filled RX slot to a closure
//!    and recycles it to the NIC when the closure returns; transmitting lends a
//!    free TX slot for the closure to fill and then hands it to the NIC.
//! 2. **Backpressure, never a spin.** When every TX slot is still owned by the
//!    NIC, `transmit` returns at once and gives the closure back unused.
//! 3. **RX and TX are separate halves.** smoltcp answers some frames while it is
//!    still reading them: an ICMP echo reply is built from the request's bytes,
//!    so the RX slot is lent at the same moment a TX slot is being filled. With
//!    one `&mut self` for both directions that would need two aliasing `&mut`
//!    borrows of the driver (or a copy of every frame). [`NetDevice::split`]
//!    instead returns two disjoint `&mut` borrows, one per ring, which is also
//!    how the hardware is built: the E1000 and virtio-net have independent RX
//!    and TX rings, each with its own doorbell.
//! 4. **One doorbell per round, not per frame.** Telling the NIC about new
//!    descriptors (a register write, which QEMU's E1000 pays for by sending
//!    inside the write) is deferred: `transmit` and `receive` only fill
//!    descriptors, and [`TxRing::flush`] / [`RxRing::flush`] ring the doorbell
//!    once for all of them. Whoever takes or sends frames must flush before it
//!    lets go of the rings, or the frames stay in the ring: `NetStack::poll`
//!    does, at its end, and so does every other user of a ring.
//!
//! ```text
//!   RX ring                              TX ring
//!   [filled][filled][free ]...           [free][sent ][sent ]...
//!      |  receive(|frame| ..) lends,        |  transmit(len, |buf| ..) lends,
//!      v  then recycles to the NIC          v  then hands to the NIC
//!   flush(): doorbell for the recycled      flush(): doorbell for the queued
//! ```

/// A network card as the stack sees it: a MAC address, an MTU and two rings.
pub trait NetDevice {
    /// The receive half.
    type Rx: RxRing;
    /// The transmit half.
    type Tx: TxRing;

    /// The station (MAC) address, e.g. QEMU's default 52:54:00:12:34:56.
    fn mac(&self) -> [u8; 6];

    /// The largest IP packet a frame can carry, without the 14-byte Ethernet
    /// header: 1500 for both of our NICs.
    fn mtu(&self) -> usize;

    /// Frames the NIC itself dropped because no RX slot was free (E1000: the
    /// MPC register; 0 where the hardware cannot tell).
    fn rx_missed(&self) -> u64;

    /// How many received frames the NIC holds for the stack at most, when they come
    /// faster than the stack takes them, before it loses the next; `None` when it
    /// holds the sender back instead (virtio-net in QEMU). QEMU's E1000 holds what its
    /// free RX descriptors take: the frames it queued beyond them are lost when the
    /// driver returns descriptors. TCP fits its receive window to this (see
    /// [`SocketLimits::fitted_to`](crate::SocketLimits::fitted_to)).
    fn rx_burst_limit(&self) -> Option<usize>;

    /// Borrows the two rings at once; see the module comment for why.
    fn split(&mut self) -> (&mut Self::Rx, &mut Self::Tx);
}

/// The receive half of a NIC.
pub trait RxRing {
    /// Lends the oldest received frame (Ethernet header first, no FCS) to `f`,
    /// then gives its slot back to the NIC. `None` when no frame is waiting.
    ///
    /// The slot may reach the NIC only at the next [`RxRing::flush`] (a driver
    /// may hand slots back sooner, so that a long batch never starves the NIC).
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R>;

    /// Rings the receive doorbell: hands the NIC every slot `receive` gave back
    /// since the last flush, with one register write (or none when it needs no
    /// telling). Call it once the frames of a round are taken; a slot never
    /// flushed is lost to the NIC. As for [`TxRing::flush`], there is no default.
    fn flush(&mut self);
}

/// The transmit half of a NIC.
pub trait TxRing {
    /// Whether a free TX slot exists now.
    fn can_transmit(&self) -> bool;

    /// Lends a free TX slot of exactly `len` bytes to `f`, which writes one
    /// whole Ethernet frame into it; the slot then goes to the NIC, which sends
    /// it once told by [`TxRing::flush`].
    ///
    /// When no slot is free (or `len` does not fit a slot), returns `Err(f)`
    /// without calling `f`, so the caller keeps the closure and decides what to
    /// do: the stack counts a drop or retries later. It never waits.
    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F>;

    /// Rings the transmit doorbell: tells the NIC of every frame `transmit`
    /// queued since the last flush, with one register write (or none when the
    /// NIC needs no telling). Until then a queued frame may sit in the ring
    /// unsent (a driver may ring sooner, e.g. when its ring is full). Call it
    /// once the frames of a round are queued; a frame never flushed is never
    /// sent. There is deliberately no default: each ring says what its doorbell
    /// is (a test ring may have none).
    fn flush(&mut self);
}
