//! Frame counters and one drop counter per reason, as `ifconfig`/`netstat` show them.
//!
//! Every frame the driver hands up is either delivered (to smoltcp, which then
//! answers ARP and pings itself or queues the datagram on a socket) or dropped
//! for exactly one [`DropReason`]. Nothing is dropped silently.

use core::fmt;

/// Why a frame was thrown away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Truncated, a length field that lies, a bad checksum, a fragment, an
    /// oversized frame: anything the wire parsers reject.
    Malformed,
    /// A well-formed frame of a kind we do not speak (unknown EtherType,
    /// IP protocol other than ICMP and UDP).
    Unsupported,
    /// Addressed to another MAC or IP address.
    NotForUs,
    /// A UDP datagram to a port no socket is bound to.
    NoSocket,
    /// The receiving socket already holds its maximum of queued datagrams.
    QueueFull,
    /// A reply (ARP, ICMP echo) was built while every TX slot was busy.
    TxRingFull,
    /// From an address no host on the link can have: the guest's own address
    /// or MAC, 0.0.0.0/8 (but for a DHCP reply), loopback, multicast,
    /// broadcast or reserved; or an ARP message that would bind an address to
    /// 00:00:00:00:00:00, a group MAC or the guest's own MAC.
    Martian,
    /// A packet waited for a neighbour that never answered ARP (or made room for a
    /// newer one while waiting), or was sent to our own address: see `neighbor.rs`.
    Unresolved,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Malformed => "malformed",
            DropReason::Unsupported => "unsupported",
            DropReason::NotForUs => "not-for-us",
            DropReason::NoSocket => "no-socket",
            DropReason::QueueFull => "queue-full",
            DropReason::TxRingFull => "tx-ring-full",
            DropReason::Martian => "martian",
            DropReason::Unresolved => "unresolved",
        })
    }
}

/// Dropped frames, one field per [`DropReason`], plus the NIC's own drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    pub malformed: u64,
    pub unsupported: u64,
    pub not_for_us: u64,
    pub no_socket: u64,
    pub queue_full: u64,
    pub tx_ring_full: u64,
    /// Frames the NIC dropped before the stack saw them (RX ring full).
    pub rx_ring_full: u64,
    pub martian: u64,
    pub unresolved: u64,
}

impl Drops {
    pub(crate) fn add(&mut self, reason: DropReason) {
        let n = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::Unsupported => &mut self.unsupported,
            DropReason::NotForUs => &mut self.not_for_us,
            DropReason::NoSocket => &mut self.no_socket,
            DropReason::QueueFull => &mut self.queue_full,
            DropReason::TxRingFull => &mut self.tx_ring_full,
            DropReason::Martian => &mut self.martian,
            DropReason::Unresolved => &mut self.unresolved,
        };
        *n += 1;
    }
}

/// Traffic through one interface since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames taken from the driver, dropped or not.
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Of those, ARP frames and IPv4 frames (by EtherType, well formed or not).
    pub rx_arp: u64,
    pub rx_ipv4: u64,
    /// Frames handed to the driver's TX ring.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub drops: Drops,
}
