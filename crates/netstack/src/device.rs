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
//!
//! ```text
//!   RX ring                              TX ring
//!   [filled][filled][free ]...           [free][sent ][sent ]...
//!      |  receive(|frame| ..) lends,        |  transmit(len, |buf| ..) lends,
//!      v  then recycles to the NIC          v  then hands to the NIC (doorbell)
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

    /// Borrows the two rings at once; see the module comment for why.
    fn split(&mut self) -> (&mut Self::Rx, &mut Self::Tx);
}

/// The receive half of a NIC.
pub trait RxRing {
    /// Lends the oldest received frame (Ethernet header first, no FCS) to `f`,
    /// then gives its slot back to the NIC. `None` when no frame is waiting.
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R>;
}

/// The transmit half of a NIC.
pub trait TxRing {
    /// Whether a free TX slot exists now.
    fn can_transmit(&self) -> bool;

    /// Lends a free TX slot of exactly `len` bytes to `f`, which writes one
    /// whole Ethernet frame into it; the slot then goes to the NIC.
    ///
    /// When no slot is free (or `len` does not fit a slot), returns `Err(f)`
    /// without calling `f`, so the caller keeps the closure and decides what to
    /// do: the stack counts a drop or retries later. It never waits.
    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F>;
}
