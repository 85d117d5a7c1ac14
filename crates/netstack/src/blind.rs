//! Defence against blind in-window attacks on TCP connections (RFC 5961 §3-4).
//!
//! smoltcp closes a connection on any RST whose sequence number falls in the
//! receive window, so an off-path sender that guesses within 64 KiB kills it.
//! RFC 5961 (and Linux) reset only on an exact match with RCV.NXT; any other
//! in-window RST, and a SYN on a synchronized connection, is answered with a
//! "challenge ACK" that tells a real peer where the stream is, so that it can
//! send an exact RST if it really lost the connection.
//!
//! smoltcp does not export RCV.NXT, so [`SeqTable`] follows it for every
//! synchronized connection from the segments the ingress path hands it: set
//! when the handshake completes, then advanced by the bytes that became
//! readable in order and by the peer's FIN. It also keeps a rough SND.UNA
//! (the peer's latest acknowledgement), enough to make smoltcp answer: the
//! offending segment is replaced by a bare ACK acknowledging far beyond
//! anything sent, which smoltcp answers with its own (rate-limited, one a
//! second) challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, and otherwise ignores.
//! The table is allocated once, one entry per smoltcp TCP socket at most.
//!
//! The same table serves the opposite case, a segment smoltcp would drop
//! although it carries news: a retransmission of the peer's FIN, which ends
//! exactly at RCV.NXT, fails smoltcp's acceptability test (RFC 793's, which
//! wants a segment to reach past RCV.NXT; Linux takes one that ends at it), so
//! smoltcp answers it and ignores its ACK. In a simultaneous close that ACK is
//! the only acknowledgement of our FIN the peer sends: smoltcp then stays in
//! CLOSING until its FIN retransmission a second later (its shortest
//! retransmission timeout), and the socket, an orphan by then, holds one of
//! the pool's few TCP sockets for that second. The ACK goes to smoltcp first,
//! alone, at RCV.NXT ([`Check::AckFirst`]); then the segment itself.

use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::tcp::State as S;
use smoltcp::wire::{
    EthernetFrame, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};

use crate::classify::{ETH_HEADER_LEN, Segment};

/// The sequence fields of a received segment that classify accepted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeqFields {
    pub seq: u32,
    pub ack: Option<u32>,
    pub fin: bool,
    /// Payload bytes.
    pub len: u32,
    /// The window field, unscaled.
    pub window: u16,
}

impl SeqFields {
    /// Reads them from a frame `classify` already checked.
    pub(crate) fn of(frame: &[u8]) -> Option<SeqFields> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        Some(SeqFields {
            seq: tcp.seq_number().0 as u32,
            ack: tcp.ack().then(|| tcp.ack_number().0 as u32),
            fin: tcp.fin(),
            len: tcp.payload().len() as u32,
            window: tcp.window_len(),
        })
    }
}

/// What RCV.NXT and (roughly) SND.UNA are on one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seqs {
    rcv_nxt: u32,
    snd_una: u32,
}

/// What to do with a segment before smoltcp sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Check {
    Deliver,
    /// A RST outside the window: dropped, as smoltcp would.
    Drop,
    /// Not delivered; elicit a challenge ACK with this in its place.
    Challenge(Seqs),
    /// A retransmitted FIN with a new ACK: deliver a bare ACK <SEQ=RCV.NXT>
    /// <ACK=this> first, then the segment.
    AckFirst {
        rcv_nxt: u32,
        ack: u32,
    },
}

/// States in which both sequence spaces are known.
fn synchronized(state: S) -> bool {
    matches!(
        state,
        S::Established | S::FinWait1 | S::FinWait2 | S::CloseWait | S::Closing | S::LastAck
    )
}

/// States reached only after the peer's FIN.
fn fin_received(state: S) -> bool {
    matches!(state, S::CloseWait | S::LastAck | S::Closing | S::TimeWait)
}

/// The largest step the peer's acknowledgement may take at once to be
/// believed: more than any send buffer, far less than the sequence space.
const ACK_STEP_MAX: u32 = 1 << 20;

/// RCV.NXT and SND.UNA of the synchronized connections, by smoltcp socket.
pub(crate) struct SeqTable {
    entries: Vec<(SocketHandle, Seqs)>,
}

impl SeqTable {
    /// Room for `max` connections: it never grows after this.
    pub(crate) fn new(max: usize) -> SeqTable {
        SeqTable {
            entries: Vec::with_capacity(max),
        }
    }

    fn get(&self, handle: SocketHandle) -> Option<Seqs> {
        self.entries
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|&(_, s)| s)
    }

    /// Forgets a socket that is freed.
    pub(crate) fn forget(&mut self, handle: SocketHandle) {
        self.entries.retain(|(h, _)| *h != handle);
    }

    /// Decides the fate of `seg` for socket `handle` in `state`, whose
    /// receive window is `window` bytes.
    pub(crate) fn check(
        &self,
        handle: SocketHandle,
        state: S,
        seg: &Segment,
        fields: SeqFields,
        window: usize,
    ) -> Check {
        if let Some(ack) = fields.ack
            && fields.fin
            && !(seg.rst || seg.syn)
            && synchronized(state)
            && fin_received(state)
            && let Some(seqs) = self.get(handle)
            // It ends (FIN included) exactly at RCV.NXT: the FIN we already have...
            && fields.seq.wrapping_add(fields.len).wrapping_add(1) == seqs.rcv_nxt
            // ...and acknowledges more than before.
            && (1..=ACK_STEP_MAX).contains(&ack.wrapping_sub(seqs.snd_una))
        {
            return Check::AckFirst {
                rcv_nxt: seqs.rcv_nxt,
                ack,
            };
        }
        if !(seg.rst || seg.syn) || !synchronized(state) {
            return Check::Deliver;
        }
        let Some(seqs) = self.get(handle) else {
            return Check::Deliver;
        };
        if seg.syn {
            // RFC 5961 §4.2: whatever its sequence number.
            return Check::Challenge(seqs);
        }
        let offset = fields.seq.wrapping_sub(seqs.rcv_nxt) as usize;
        match offset {
            0 => Check::Deliver,
            _ if offset < window.max(1) => Check::Challenge(seqs),
            _ => Check::Drop,
        }
    }

    /// After smoltcp took a segment for `handle`: `before` and `after` are its
    /// states around it, `growth` the bytes that became readable.
    pub(crate) fn after(
        &mut self,
        handle: SocketHandle,
        before: S,
        after: S,
        fields: SeqFields,
        syn: bool,
        growth: usize,
    ) {
        let fin = u32::from(!fin_received(before) && fin_received(after));
        let growth = growth as u32;
        let i = self.entries.iter().position(|(h, _)| *h == handle);
        if !synchronized(before) && before != S::TimeWait {
            if !(synchronized(after) || after == S::TimeWait) {
                return;
            }
            // The handshake just completed: this segment was in order.
            let seqs = Seqs {
                rcv_nxt: fields
                    .seq
                    .wrapping_add(u32::from(syn))
                    .wrapping_add(growth)
                    .wrapping_add(fin),
                snd_una: fields.ack.unwrap_or(0),
            };
            match i {
                Some(i) => self.entries[i].1 = seqs,
                // One entry per existing socket: never beyond capacity.
                None if self.entries.len() < self.entries.capacity() => {
                    self.entries.push((handle, seqs))
                }
                None => {}
            }
            return;
        }
        let Some(i) = i else { return };
        let seqs = &mut self.entries[i].1;
        seqs.rcv_nxt = seqs.rcv_nxt.wrapping_add(growth).wrapping_add(fin);
        if let Some(ack) = fields.ack
            && ack.wrapping_sub(seqs.snd_una) <= ACK_STEP_MAX
        {
            seqs.snd_una = ack;
        }
    }
}

/// Writes into `out` the segment that replaces `frame` (a RST or SYN from the
/// peer): a bare ACK at RCV.NXT acknowledging 2^30 beyond SND.UNA, which
/// smoltcp answers with a challenge ACK; its length, or `None` if `out` is
/// too short.
pub(crate) fn challenge_frame(
    frame: &[u8],
    seg: &Segment,
    seqs: Seqs,
    out: &mut [u8],
) -> Option<usize> {
    let ack = seqs.snd_una.wrapping_add(1 << 30);
    bare_ack_frame(frame, seg, seqs.rcv_nxt, ack, 0, out)
}

/// Writes into `out` a bare ACK <SEQ=seq><ACK=ack><WND=window> from the
/// sender of `frame`, with its Ethernet header; its length, or `None` if
/// `out` is too short (it takes [`CHALLENGE_LEN`]).
pub(crate) fn bare_ack_frame(
    frame: &[u8],
    seg: &Segment,
    seq: u32,
    ack: u32,
    window: u16,
    out: &mut [u8],
) -> Option<usize> {
    let tcp = TcpRepr {
        src_port: seg.src_port,
        dst_port: seg.dst_port,
        control: TcpControl::None,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: Some(TcpSeqNumber(ack as i32)),
        window_len: window,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: seg.src,
        dst_addr: seg.dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let len = ETH_HEADER_LEN + ip.buffer_len() + tcp.buffer_len();
    let out = out.get_mut(..len)?;
    out[..ETH_HEADER_LEN].copy_from_slice(frame.get(..ETH_HEADER_LEN)?);
    let caps = ChecksumCapabilities::default();
    let ip_bytes = &mut out[ETH_HEADER_LEN..];
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut *ip_bytes), &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut ip_bytes[ip.buffer_len()..]),
        &IpAddress::Ipv4(seg.src),
        &IpAddress::Ipv4(seg.dst),
        &caps,
    );
    Some(len)
}

/// Room for [`challenge_frame`]'s frame.
pub(crate) const CHALLENGE_LEN: usize = ETH_HEADER_LEN + 20 + 20;
