//! virtio-net driver. PLACEHOLDER: being written on the virtio-net branch.

use netstack::{RxRing, TxRing};

pub struct VirtioNet {}
pub struct VirtioNetRx {}
pub struct VirtioNetTx {}

/// Finds a virtio-net device on virtio-mmio and brings it up with queues of `ring`
/// descriptors.
pub fn probe(_ring: usize) -> Option<(VirtioNet, VirtioNetRx, VirtioNetTx)> {
    None
}

impl VirtioNet {
    pub fn mac(&self) -> [u8; 6] {
        [0; 6]
    }
    /// PLIC IRQ of the card.
    pub fn irq(&self) -> usize {
        0
    }
    /// Acknowledges the card's interrupt (INTERRUPT_ACK); false if it was not ours.
    pub fn ack_irq(&mut self) -> bool {
        false
    }
    /// Frames the card dropped for lack of RX descriptors.
    pub fn rx_missed(&self) -> u64 {
        0
    }
}

impl RxRing for VirtioNetRx {
    fn receive<R>(&mut self, _f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        None
    }
}

impl TxRing for VirtioNetTx {
    fn can_transmit(&self) -> bool {
        false
    }
    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, _len: usize, f: F) -> Result<R, F> {
        Err(f)
    }
}
