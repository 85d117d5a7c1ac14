//! The guest's NIC: it holds the one frame the test feeds, and every frame the
//! stack sends is checked in place (`checks::inspect`) as it is written, without
//! allocating. It also follows the test client's connection from the guest's side,
//! so that the fuzzer can aim segments at the connection's window.

use netstack::{NetDevice, RxRing, TxRing};

use crate::checks::inspect;
use crate::common::GUEST_MAC;

/// Longest frame the fuzzer makes: beyond Ethernet's 1514, to test oversize.
pub const MAX_FRAME: usize = 2048;
/// Most frames one received frame may cause the stack to send.
pub const MAX_TX_PER_POLL: usize = 4;

/// What the test learns from the guest's TCP segments to the test's client.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peer {
    /// The guest's next sequence number (what the client acknowledges).
    pub guest_next: u32,
    /// What the guest acknowledged: the client's next sequence number.
    pub acked: u32,
    /// The guest sent a SYN-ACK, RST or FIN since last looked.
    pub syn_ack: bool,
}

pub struct FuzzRx {
    pub frame: [u8; MAX_FRAME],
    pub len: Option<usize>,
}

pub struct FuzzTx {
    pub buf: [u8; MAX_FRAME],
    /// Frames sent during this poll.
    pub sent: usize,
    pub total: u64,
    /// The first sent frame that broke a rule, and which rule.
    pub bad: Option<(&'static str, [u8; MAX_FRAME], usize)>,
    /// The client's TCP port, to follow its connection.
    pub client_port: u16,
    pub peer: Peer,
    /// ICMP echo replies sent.
    pub echo_replies: u64,
    /// Frames sent since the last flush (the doorbell): 0 after every poll.
    pub unflushed: usize,
}

pub struct FuzzNic {
    pub rx: FuzzRx,
    pub tx: FuzzTx,
}

impl RxRing for FuzzRx {
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let len = self.len.take()?;
        Some(f(&self.frame[..len]))
    }

    fn flush(&mut self) {}
}

impl TxRing for FuzzTx {
    fn can_transmit(&self) -> bool {
        true
    }

    fn transmit<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        if len > MAX_FRAME {
            return Err(f);
        }
        let result = f(&mut self.buf[..len]);
        self.sent += 1;
        self.total += 1;
        self.unflushed += 1;
        match inspect(&self.buf[..len], self.client_port) {
            Ok(seen) => {
                self.echo_replies += u64::from(seen.echo_reply);
                if let Some(segment) = seen.client_segment {
                    self.follow(segment);
                }
            }
            Err(rule) => {
                if self.bad.is_none() {
                    self.bad = Some((rule, self.buf, len));
                }
            }
        }
        Ok(result)
    }

    fn flush(&mut self) {
        self.unflushed = 0;
    }
}

/// A segment the guest sent to the test's client.
#[derive(Clone, Copy)]
pub struct ClientSegment {
    /// The sequence number after it.
    pub next: u32,
    pub ack: Option<u32>,
    /// SYN, FIN or RST.
    pub control: bool,
}

/// What a sent frame was, as far as the test cares.
#[derive(Default)]
pub struct Seen {
    pub echo_reply: bool,
    pub client_segment: Option<ClientSegment>,
}

impl FuzzTx {
    /// Follows the test client's connection from the guest's side.
    pub fn follow(&mut self, segment: ClientSegment) {
        self.peer.guest_next = segment.next;
        if let Some(ack) = segment.ack {
            self.peer.acked = ack;
        }
        self.peer.syn_ack |= segment.control;
    }
}

impl NetDevice for FuzzNic {
    type Rx = FuzzRx;
    type Tx = FuzzTx;

    fn mac(&self) -> [u8; 6] {
        GUEST_MAC
    }

    fn mtu(&self) -> usize {
        1500
    }

    fn rx_missed(&self) -> u64 {
        0
    }

    fn rx_burst_limit(&self) -> Option<usize> {
        None
    }

    fn split(&mut self) -> (&mut FuzzRx, &mut FuzzTx) {
        (&mut self.rx, &mut self.tx)
    }
}
