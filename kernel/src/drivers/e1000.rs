//! Intel 82540EM (E1000) driver. PLACEHOLDER: being written on the e1000 branch.

use netstack::{RxRing, TxRing};

pub struct E1000 {}
pub struct E1000Rx {}
pub struct E1000Tx {}

/// Finds the E1000 on PCI and brings it up with the given ring sizes and interrupt
/// throttling interval (ITR, in 256 ns units; 0 = off).
pub fn probe(_rx_ring: usize, _tx_ring: usize, _itr: u32) -> Option<(E1000, E1000Rx, E1000Tx)> {
    None
}

impl E1000 {
    pub fn mac(&self) -> [u8; 6] {
        [0; 6]
    }
    /// PLIC IRQ of the card.
    pub fn irq(&self) -> usize {
        0
    }
    /// Acknowledges the card's interrupt (reads ICR); false if it was not ours.
    pub fn ack_irq(&mut self) -> bool {
        false
    }
    /// Frames the card dropped for lack of RX descriptors.
    pub fn rx_missed(&self) -> u64 {
        0
    }
}

impl RxRing for E1000Rx {
    fn receive<R>(&mut self, _f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        None
    }
}

impl TxRing for E1000Tx {
    fn can_transmit(&self) -> bool {
        false
    }
    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, _len: usize, f: F) -> Result<R, F> {
        Err(f)
    }
}
