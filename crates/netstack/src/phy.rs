//! The adapter between smoltcp's `phy::Device` and our [`TxRing`] plus one lent RX frame.
//!
//! A `Phy` lives for one call into smoltcp. For ingress the stack has already
//! taken a frame from the driver (`RxRing::receive` lends it) and checked it;
//! the `Phy` offers exactly that frame to smoltcp, once, together with a TX
//! token for the reply smoltcp may build from it (ARP reply, ICMP echo reply).
//! For egress it offers only TX tokens, and none while the TX ring is full, so
//! smoltcp keeps the datagram in the socket and retries on a later poll.
//!
//! The RX token holds only the borrowed frame and the TX token only the TX ring
//! and the counters, so the two can be alive at once without aliasing.
//!
//! Every frame the tokens send is counted and, with a tracer installed, traced.
//! A reply built while every TX slot is busy goes to a scratch buffer instead
//! and is counted as dropped (`TxRingFull`): smoltcp's token contract requires
//! a buffer, and stalling RX until TX drains would lose more.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Address;

use crate::classify::ETH_HEADER_LEN;
use crate::counters::{Counters, DropReason};
use crate::device::TxRing;
use crate::trace::{Direction, trace_drop, trace_frame};

/// Where trace lines go, e.g. the kernel console.
pub type Tracer = Box<dyn fmt::Write + Send>;

/// Everything a TX token needs besides the ring, kept together so one borrow
/// passes it on.
pub(crate) struct TxSide {
    pub counters: Counters,
    pub tracer: Option<Tracer>,
    /// Receives replies that found the TX ring full; one frame long.
    pub scratch: Vec<u8>,
    /// The ARP requests smoltcp sent lately.
    pub asked: Asked,
}

/// The addresses smoltcp asked for itself (ARP requests it built), lately: a reply
/// from one of them was asked for, and the neighbour mirror (`neighbor.rs`) learns
/// from each that smoltcp's entry is missing or expired.
#[derive(Default)]
pub(crate) struct Asked {
    /// (address, when, not yet reported), in a ring.
    recent: [Option<(Ipv4Address, u64, bool)>; 4],
    next: usize,
}

/// How long a request of smoltcp's makes a reply to it welcome.
const ASKED_MS: u64 = 3_000;

impl Asked {
    fn note(&mut self, ip: Ipv4Address, now: u64) {
        self.recent[self.next] = Some((ip, now, true));
        self.next = (self.next + 1) % self.recent.len();
    }

    /// Whether smoltcp asked for `ip` in the last few seconds.
    pub fn lately(&self, ip: Ipv4Address, now: u64) -> bool {
        self.recent
            .iter()
            .flatten()
            .any(|&(a, t, _)| a == ip && now.saturating_sub(t) < ASKED_MS)
    }

    /// The requests not reported yet, each once.
    pub fn take_new(&mut self, mut f: impl FnMut(Ipv4Address, u64)) {
        for (ip, t, new) in self.recent.iter_mut().flatten() {
            if *new {
                *new = false;
                f(*ip, *t);
            }
        }
    }
}

/// The address an ARP request in `frame` asks for, if it is one.
fn arp_request_target(frame: &[u8]) -> Option<Ipv4Address> {
    let arp = frame.get(ETH_HEADER_LEN..ETH_HEADER_LEN + 28)?;
    let is_request = frame[12..14] == [0x08, 0x06] && arp[6..8] == [0, 1];
    is_request.then(|| Ipv4Address::new(arp[24], arp[25], arp[26], arp[27]))
}

pub(crate) struct Phy<'a, T: TxRing> {
    /// The received frame not yet given to smoltcp, if any.
    pub rx: Option<&'a [u8]>,
    pub tx: &'a mut T,
    pub side: &'a mut TxSide,
    /// The device's IP MTU.
    pub mtu: usize,
}

impl<T: TxRing> Phy<'_, T> {
    fn tx_token(&mut self, now: Instant) -> TxToken<'_, T> {
        TxToken {
            tx: self.tx,
            side: self.side,
            observe: Some(u64::try_from(now.total_millis()).unwrap_or(0)),
        }
    }
}

impl<T: TxRing> phy::Device for Phy<'_, T> {
    type RxToken<'r>
        = RxToken<'r>
    where
        Self: 'r;
    type TxToken<'r>
        = TxToken<'r, T>
    where
        Self: 'r;

    fn receive(&mut self, now: Instant) -> Option<(RxToken<'_>, TxToken<'_, T>)> {
        let frame = self.rx.take()?;
        Some((RxToken(frame), self.tx_token(now)))
    }

    fn transmit(&mut self, now: Instant) -> Option<TxToken<'_, T>> {
        if self.tx.can_transmit() {
            Some(self.tx_token(now))
        } else {
            None
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp's Ethernet MTU counts the Ethernet header.
        caps.max_transmission_unit = self.mtu + ETH_HEADER_LEN;
        caps
    }
}

/// A received frame, still in the driver's RX slot.
pub(crate) struct RxToken<'a>(&'a [u8]);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// The right to put one frame into the TX ring.
pub(crate) struct TxToken<'a, T: TxRing> {
    tx: &'a mut T,
    side: &'a mut TxSide,
    /// For smoltcp's frames, the time, to note its ARP requests; `None` for the stack's own.
    observe: Option<u64>,
}

impl<'a, T: TxRing> TxToken<'a, T> {
    /// A token for a frame the stack builds itself (not smoltcp): counted and traced alike.
    pub(crate) fn ours(tx: &'a mut T, side: &'a mut TxSide) -> Self {
        TxToken {
            tx,
            side,
            observe: None,
        }
    }
}

impl<T: TxRing> phy::TxToken for TxToken<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let TxSide {
            counters,
            tracer,
            scratch,
            asked,
        } = self.side;
        let observe = self.observe;
        let build = |frame: &mut [u8]| {
            let result = f(frame);
            if let Some((now, ip)) = observe.zip(arp_request_target(frame)) {
                asked.note(ip, now);
            }
            if let Some(out) = tracer.as_deref_mut() {
                // A full console must not stop the network: trace output is best effort.
                let _ = trace_frame(out, Direction::Tx, frame);
            }
            result
        };
        match self.tx.transmit(len, build) {
            Ok(result) => {
                counters.tx_frames += 1;
                counters.tx_bytes += len as u64;
                result
            }
            Err(build) => {
                if scratch.len() < len {
                    scratch.resize(len, 0);
                }
                let result = build(&mut scratch[..len]);
                counters.drops.add(DropReason::TxRingFull);
                if let Some(out) = tracer.as_deref_mut() {
                    let _ = trace_drop(out, Direction::Tx, DropReason::TxRingFull);
                }
                result
            }
        }
    }
}
