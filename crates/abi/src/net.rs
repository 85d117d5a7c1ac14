//! Network counters as user space reads them with `netstat` (SYS_NETSTAT).

/// Counters of the network interface and the stack; all since boot. C layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStat {
    /// 1 = E1000, 2 = virtio-net, 0 = no NIC.
    pub nic: u32,
    /// IPv4 address (host byte order) and prefix length.
    pub addr: u32,
    pub prefix_len: u32,
    /// Default gateway (host byte order), 0 if none.
    pub gateway: u32,
    pub mac: [u8; 8],
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// NIC interrupts taken.
    pub interrupts: u64,
    /// Drops by reason.
    pub drop_malformed: u64,
    pub drop_unsupported: u64,
    pub drop_not_for_us: u64,
    pub drop_no_socket: u64,
    pub drop_queue_full: u64,
    pub drop_tx_ring_full: u64,
    pub drop_rx_ring_full: u64,
    /// The DNS server the DHCP lease offered (host byte order), 0 if none. Appended
    /// after the counters so that the earlier offsets stay as they were.
    pub dns_server: u32,
    /// `NETSTAT_TIMED` when the kernel measures the three times below (built with its
    /// `cost` feature); otherwise they are 0.
    pub flags: u32,
    /// Time spent since boot, in nanoseconds, in the NIC driver (rings and registers),
    /// in the protocol stack (smoltcp and our socket layer, driver time excluded),
    /// and copying payloads between user and kernel memory. Appended like dns_server.
    pub driver_ns: u64,
    pub stack_ns: u64,
    pub copy_ns: u64,
    /// Frames dropped for a martian source (an address or MAC no neighbor can
    /// have). Appended like dns_server.
    pub drop_martian: u64,
    /// Packets dropped because their neighbour never answered ARP (or for room while
    /// waiting for it). Appended like dns_server.
    pub drop_unresolved: u64,
    /// Bytes of the kernel heap in use (sockets and their buffers live there). Appended
    /// like dns_server.
    pub heap_used: u64,
    /// Doorbells the driver rang: register writes that told the NIC of new transmit
    /// descriptors (E1000 TDT, virtio-net transmitq notifications) and of receive
    /// descriptors given back (RDT, receiveq notifications). With the frame counters,
    /// frames per doorbell. Appended like dns_server.
    pub tx_doorbells: u64,
    pub rx_doorbells: u64,
}

/// `NetStat::flags`: the time fields are measured.
pub const NETSTAT_TIMED: u32 = 1;

pub const NIC_NONE: u32 = 0;
pub const NIC_E1000: u32 = 1;
pub const NIC_VIRTIO: u32 = 2;

impl NetStat {
    pub const SIZE: usize = 4 * 4 + 8 + 12 * 8 + 8 + 3 * 8 + 5 * 8;

    /// The bytes user space receives (little-endian, C layout).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.nic.to_le_bytes());
        b[4..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..12].copy_from_slice(&self.prefix_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.gateway.to_le_bytes());
        b[16..24].copy_from_slice(&self.mac);
        let words = [
            self.rx_frames,
            self.rx_bytes,
            self.tx_frames,
            self.tx_bytes,
            self.interrupts,
            self.drop_malformed,
            self.drop_unsupported,
            self.drop_not_for_us,
            self.drop_no_socket,
            self.drop_queue_full,
            self.drop_tx_ring_full,
            self.drop_rx_ring_full,
        ];
        for (i, w) in words.iter().enumerate() {
            b[24 + 8 * i..32 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        b[120..124].copy_from_slice(&self.dns_server.to_le_bytes());
        b[124..128].copy_from_slice(&self.flags.to_le_bytes());
        let times = [self.driver_ns, self.stack_ns, self.copy_ns];
        for (i, t) in times.iter().enumerate() {
            b[128 + 8 * i..136 + 8 * i].copy_from_slice(&t.to_le_bytes());
        }
        b[152..160].copy_from_slice(&self.drop_martian.to_le_bytes());
        b[160..168].copy_from_slice(&self.drop_unresolved.to_le_bytes());
        b[168..176].copy_from_slice(&self.heap_used.to_le_bytes());
        b[176..184].copy_from_slice(&self.tx_doorbells.to_le_bytes());
        b[184..192].copy_from_slice(&self.rx_doorbells.to_le_bytes());
        b
    }

    /// Parses what `to_bytes` wrote.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> NetStat {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(b[24 + 8 * i..32 + 8 * i].try_into().unwrap());
        let mut mac = [0u8; 8];
        mac.copy_from_slice(&b[16..24]);
        NetStat {
            nic: u32_at(0),
            addr: u32_at(4),
            prefix_len: u32_at(8),
            gateway: u32_at(12),
            mac,
            rx_frames: u64_at(0),
            rx_bytes: u64_at(1),
            tx_frames: u64_at(2),
            tx_bytes: u64_at(3),
            interrupts: u64_at(4),
            drop_malformed: u64_at(5),
            drop_unsupported: u64_at(6),
            drop_not_for_us: u64_at(7),
            drop_no_socket: u64_at(8),
            drop_queue_full: u64_at(9),
            drop_tx_ring_full: u64_at(10),
            drop_rx_ring_full: u64_at(11),
            dns_server: u32_at(120),
            flags: u32_at(124),
            driver_ns: u64_at(13),
            stack_ns: u64_at(14),
            copy_ns: u64_at(15),
            drop_martian: u64_at(16),
            drop_unresolved: u64_at(17),
            heap_used: u64_at(18),
            tx_doorbells: u64_at(19),
            rx_doorbells: u64_at(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_bytes_match_the_c_layout() {
        assert_eq!(core::mem::size_of::<NetStat>(), NetStat::SIZE);
        assert_eq!(core::mem::offset_of!(NetStat, rx_frames), 24);
        let s = NetStat {
            nic: NIC_VIRTIO,
            addr: 0x0a00020f,
            rx_frames: 7,
            drop_rx_ring_full: 9,
            dns_server: 0x0a000202,
            flags: NETSTAT_TIMED,
            copy_ns: 11,
            drop_martian: 12,
            drop_unresolved: 13,
            heap_used: 14,
            tx_doorbells: 15,
            rx_doorbells: 16,
            ..Default::default()
        };
        let b = s.to_bytes();
        assert_eq!(core::mem::offset_of!(NetStat, dns_server), 120);
        assert_eq!(&b[120..124], &0x0a000202u32.to_le_bytes());
        assert_eq!(&b[124..128], &NETSTAT_TIMED.to_le_bytes());
        assert_eq!(&b[4..8], &0x0a00020fu32.to_le_bytes());
        assert_eq!(&b[24..32], &7u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, copy_ns), 144);
        assert_eq!(&b[144..152], &11u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, drop_martian), 152);
        assert_eq!(&b[152..160], &12u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, drop_unresolved), 160);
        assert_eq!(&b[160..168], &13u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, heap_used), 168);
        assert_eq!(&b[168..176], &14u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, tx_doorbells), 176);
        assert_eq!(&b[176..184], &15u64.to_le_bytes());
        assert_eq!(core::mem::offset_of!(NetStat, rx_doorbells), 184);
        assert_eq!(&b[184..192], &16u64.to_le_bytes());
        assert_eq!(NetStat::from_bytes(&b), s);
    }
}
