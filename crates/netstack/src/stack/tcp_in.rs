//! TCP on the ingress path: which socket a segment is for, what becomes of a SYN
//! that finds its listener's backlog busy, and blind segments.
//!
//! - `Core::admit_tcp`: the socket that takes a segment. A SYN for a listener whose
//!   backlog is all busy replaces a half-open connection that may go (`Tcp::make_room`,
//!   with [`Heard`] to tell live peers), or else waits in `syn_wait.rs`. A RST or SYN
//!   that a blind attacker could have sent is answered with a challenge ACK (`blind.rs`);
//! - `Core::replay_waiting_syns`: once per poll, the waiting SYNs a listener can take now;
//! - [`Heard`]: the neighbours that spoke ARP to us lately, live hosts rather than
//!   spoofed sources.

use core::ops::ControlFlow;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Address;

use super::{Core, millis};
use crate::blind::{CHALLENGE_LEN, Check, SeqFields, Seqs, bare_ack_frame, challenge_frame};
use crate::classify::{Host, Segment, Verdict, classify};
use crate::counters::DropReason;
use crate::device::TxRing;

/// Neighbours heard from: the last few senders of ARP requests or replies to
/// us, with when. A SYN from one of them is from a live host, so a flood of
/// SYNs from spoofed, silent addresses must make way for it.
pub(super) struct Heard {
    recent: [(Ipv4Address, u64); HEARD_SLOTS],
    next: usize,
}

/// Neighbours [`Heard`] remembers.
const HEARD_SLOTS: usize = 16;
/// How long a neighbour counts as heard after its last ARP.
const HEARD_MS: u64 = 600_000;

impl Heard {
    pub(super) fn new() -> Heard {
        Heard {
            recent: [(Ipv4Address::UNSPECIFIED, 0); HEARD_SLOTS],
            next: 0,
        }
    }

    /// Notes the sender of a frame smoltcp takes, if it is an ARP request or reply
    /// to us (from an address on our subnet, and let through by `arp_in`).
    pub(super) fn note_arp(&mut self, frame: &[u8], now_ms: u64) {
        // The sender protocol address follows the Ethernet header (14) and 14 bytes of ARP.
        if let Some(&[0x08, 0x06]) = frame.get(12..14)
            && let Some(sender) = frame.get(28..32)
        {
            let sender = Ipv4Address::from_octets(sender.try_into().unwrap_or([0; 4]));
            self.note(sender, now_ms);
        }
    }

    fn note(&mut self, ip: Ipv4Address, now_ms: u64) {
        let slot = match self.recent.iter().position(|&(a, _)| a == ip) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (i + 1) % HEARD_SLOTS;
                i
            }
        };
        self.recent[slot] = (ip, now_ms + HEARD_MS);
    }

    /// Whether the next hop towards `ip` was heard from.
    pub(super) fn next_hop(
        &self,
        host: &Host,
        gateway: Option<Ipv4Address>,
        ip: Ipv4Address,
        now_ms: u64,
    ) -> bool {
        let hop = match host.ip {
            Some(cidr) if !cidr.contains_addr(&ip) => gateway,
            _ => Some(ip),
        };
        hop.is_some_and(|hop| self.contains(hop, now_ms))
    }

    fn contains(&self, ip: Ipv4Address, now_ms: u64) -> bool {
        !ip.is_unspecified()
            && self
                .recent
                .iter()
                .any(|&(a, until)| a == ip && now_ms < until)
    }
}

/// A segment a socket takes, with what `Sockets::after_segment` needs once smoltcp
/// has read it.
pub(super) struct Admitted {
    pub handle: SocketHandle,
    /// The socket's state before the segment.
    pub before: State,
    pub seg: Segment,
    pub fields: Option<SeqFields>,
    /// Bytes in the socket's receive buffer before the segment.
    pub queued: usize,
}

impl Core {
    /// The socket that takes a TCP segment `classify` accepted. `Break` when the
    /// segment stops here (waiting, dropped, or answered with a challenge ACK);
    /// else it goes on to smoltcp, for a socket or (none: counted `NoSocket`) for
    /// smoltcp to answer with a RST.
    pub(super) fn admit_tcp<T: TxRing>(
        &mut self,
        now: Instant,
        frame: &[u8],
        seg: Segment,
        tx: &mut T,
    ) -> ControlFlow<(), Option<Admitted>> {
        let now_ms = millis(now);
        let sockets = &mut self.sockets;
        let fields = SeqFields::of(frame);
        let mut acceptor = sockets.tcp_acceptor(&seg);
        if acceptor.is_none() && seg.syn && !seg.ack && sockets.tcp_listening_on(seg.dst_port) {
            // Every backlog socket is busy: replace a half-open
            // connection if one may go, else wait for a free one.
            let live = |ip| self.heard.next_hop(&self.host, self.gateway, ip, now_ms);
            if sockets.tcp_make_room(seg.dst_port, seg.src, now_ms, live) {
                acceptor = sockets.tcp_acceptor(&seg);
            }
            if acceptor.is_none() {
                if !self.syn_wait.hold(frame, &seg, now_ms) {
                    self.discard(DropReason::QueueFull);
                }
                return ControlFlow::Break(());
            }
        }
        let admitted = match (acceptor, fields) {
            (Some((handle, before)), Some(f)) => match sockets.tcp_check(handle, &seg, f) {
                Check::Deliver => {
                    let queued = sockets.tcp_recv_queue(handle);
                    Admitted {
                        handle,
                        before,
                        seg,
                        fields,
                        queued,
                    }
                }
                Check::Drop => return ControlFlow::Break(()),
                Check::Challenge(seqs) => {
                    self.challenge(now, frame, &seg, seqs, tx);
                    return ControlFlow::Break(());
                }
                Check::AckFirst { rcv_nxt, ack } => {
                    let bare = SeqFields {
                        seq: rcv_nxt,
                        ack: Some(ack),
                        fin: false,
                        len: 0,
                        window: f.window,
                    };
                    self.ack_first(now, frame, &seg, (handle, before), bare, tx);
                    // The segment itself still asks for an ACK, from the socket
                    // in its new state, unless that ACK closed it.
                    match self.sockets.tcp_acceptor(&seg) {
                        Some((h, before)) if h == handle => Admitted {
                            handle,
                            before,
                            seg,
                            fields,
                            queued: self.sockets.tcp_recv_queue(handle),
                        },
                        _ => return ControlFlow::Break(()),
                    }
                }
            },
            (Some((handle, before)), None) => Admitted {
                handle,
                before,
                seg,
                fields: None,
                queued: 0,
            },
            // Counted, and still handed on: smoltcp answers with a RST.
            (None, _) => {
                self.discard(DropReason::NoSocket);
                return ControlFlow::Continue(None);
            }
        };
        ControlFlow::Continue(Some(admitted))
    }

    /// A blind RST or SYN on a connection: smoltcp sees, instead, a segment
    /// it answers with a challenge ACK and otherwise ignores.
    fn challenge<T: TxRing>(
        &mut self,
        now: Instant,
        frame: &[u8],
        seg: &Segment,
        seqs: Seqs,
        tx: &mut T,
    ) {
        let mut buf = [0; CHALLENGE_LEN];
        let Some(len) = challenge_frame(frame, seg, seqs, &mut buf) else {
            return;
        };
        self.smoltcp_ingress(now, &buf[..len], tx);
    }

    /// Hands smoltcp `bare`, a bare ACK at RCV.NXT with the new acknowledgement
    /// a retransmitted FIN carries (see `blind.rs`), as if the peer had sent it
    /// in a segment of its own, to socket `handle` in state `before`.
    fn ack_first<T: TxRing>(
        &mut self,
        now: Instant,
        frame: &[u8],
        seg: &Segment,
        (handle, before): (SocketHandle, State),
        bare: SeqFields,
        tx: &mut T,
    ) {
        let mut buf = [0; CHALLENGE_LEN];
        let (seq, ack) = (bare.seq, bare.ack.unwrap_or(0));
        let Some(len) = bare_ack_frame(frame, seg, seq, ack, bare.window, &mut buf) else {
            return;
        };
        let queued = self.sockets.tcp_recv_queue(handle);
        self.smoltcp_ingress(now, &buf[..len], tx);
        self.sockets
            .after_segment(handle, before, seg, Some(bare), queued);
    }

    /// Delivers the waiting SYNs that a listener can take now, oldest first, and
    /// drops those that waited too long.
    pub(super) fn replay_waiting_syns<T: TxRing>(&mut self, now: Instant, tx: &mut T) {
        let mut i = 0;
        while let Some((frame, expired)) = self.syn_wait.get(i, millis(now)) {
            if expired {
                self.syn_wait.remove(i);
                self.discard(DropReason::QueueFull);
                continue;
            }
            let now_ms = millis(now);
            let takes = match classify(frame, &self.host) {
                Ok(Verdict::Tcp(seg)) => {
                    let live = |ip| self.heard.next_hop(&self.host, self.gateway, ip, now_ms);
                    self.sockets.tcp_acceptor(&seg).is_some()
                        || self
                            .sockets
                            .tcp_make_room(seg.dst_port, seg.src, now_ms, live)
                }
                // The address changed (DHCP) since it arrived: let delivery judge it.
                _ => true,
            };
            if takes {
                let held = self.syn_wait.remove(i);
                self.deliver(now, held.frame(), tx);
            } else {
                i += 1;
            }
        }
    }
}
