//! The NIC found at boot as one `NetDevice`: an enum per part, each method one `match`.
//! Probing picks the variant at run time, so no `cfg` chooses a card.

use super::cost::{self, Timed};
use crate::drivers::e1000::{E1000, E1000Rx, E1000Tx};
use crate::drivers::virtio_net::{VirtioNet, VirtioNetRx, VirtioNetTx};
use netstack::{NetDevice, RxRing, TxRing};

/// The control part of the NIC (interrupts, counters).
pub enum NicCtl {
    E1000(E1000),
    Virtio(VirtioNet),
}

pub enum NicRx {
    E1000(E1000Rx),
    Virtio(VirtioNetRx),
}

pub enum NicTx {
    E1000(E1000Tx),
    Virtio(VirtioNetTx),
}

/// Whichever NIC was found at boot. The rings are wrapped in `Timed`, which charges
/// their time to the driver when the kernel is built with the `cost` feature.
pub struct Nic {
    pub ctl: NicCtl,
    pub rx: Timed<NicRx>,
    pub tx: Timed<NicTx>,
}

impl Nic {
    pub fn new(ctl: NicCtl, rx: NicRx, tx: NicTx) -> Nic {
        Nic {
            ctl,
            rx: cost::timed(rx),
            tx: cost::timed(tx),
        }
    }

    /// Acknowledges the card's interrupt, which lowers its interrupt line; says whether
    /// a cause was pending.
    pub fn ack_irq(&mut self) -> bool {
        cost::in_driver(|| match &mut self.ctl {
            NicCtl::E1000(c) => c.ack_irq(),
            NicCtl::Virtio(c) => c.ack_irq(),
        })
    }

    /// Doorbells rung since boot (register writes that told the card of new
    /// descriptors): (transmit, receive).
    pub fn doorbells(&self) -> (u64, u64) {
        let tx = match cost::inner(&self.tx) {
            NicTx::E1000(t) => t.doorbells(),
            NicTx::Virtio(t) => t.doorbells(),
        };
        let rx = match cost::inner(&self.rx) {
            NicRx::E1000(r) => r.doorbells(),
            NicRx::Virtio(r) => r.doorbells(),
        };
        (tx, rx)
    }

    /// Whether a received frame waits in the ring (no device register is read).
    pub fn rx_ready(&self) -> bool {
        match cost::inner(&self.rx) {
            NicRx::E1000(r) => r.ready(),
            NicRx::Virtio(r) => r.ready(),
        }
    }
}

impl NetDevice for Nic {
    type Rx = Timed<NicRx>;
    type Tx = Timed<NicTx>;

    fn mac(&self) -> [u8; 6] {
        match &self.ctl {
            NicCtl::E1000(c) => c.mac(),
            NicCtl::Virtio(c) => c.mac(),
        }
    }

    fn mtu(&self) -> usize {
        1500
    }

    fn rx_missed(&self) -> u64 {
        match &self.ctl {
            NicCtl::E1000(c) => c.rx_missed(),
            NicCtl::Virtio(c) => c.rx_missed(),
        }
    }

    fn rx_burst_limit(&self) -> Option<usize> {
        match cost::inner(&self.rx) {
            NicRx::E1000(r) => Some(r.burst_limit()),
            // QEMU's virtio-net keeps what finds no free buffer queued until the
            // driver adds buffers: it holds the sender back, it loses nothing.
            NicRx::Virtio(_) => None,
        }
    }

    fn split(&mut self) -> (&mut Self::Rx, &mut Self::Tx) {
        (&mut self.rx, &mut self.tx)
    }
}

impl RxRing for NicRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            NicRx::E1000(r) => r.receive(f),
            NicRx::Virtio(r) => r.receive(f),
        }
    }

    fn flush(&mut self) {
        match self {
            NicRx::E1000(r) => r.flush(),
            NicRx::Virtio(r) => r.flush(),
        }
    }
}

impl TxRing for NicTx {
    fn can_transmit(&self) -> bool {
        match self {
            NicTx::E1000(t) => t.can_transmit(),
            NicTx::Virtio(t) => t.can_transmit(),
        }
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        match self {
            NicTx::E1000(t) => t.transmit(len, f),
            NicTx::Virtio(t) => t.transmit(len, f),
        }
    }

    fn flush(&mut self) {
        match self {
            NicTx::E1000(t) => t.flush(),
            NicTx::Virtio(t) => t.flush(),
        }
    }
}
