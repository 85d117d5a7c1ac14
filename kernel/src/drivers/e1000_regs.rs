//! Intel 82540EM (E1000) registers, bits and DMA descriptor formats: only what
//! e1000.rs uses. Offsets are bytes from BAR0. Section numbers are those of the Intel
//! "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's Manual"
//! (8254x, rev. 4.0), cited as [E1000 x.y].

/// PCI ids of the 82540EM, the card QEMU's `-device e1000` emulates [E1000 5.2].
pub const VENDOR_INTEL: u16 = 0x8086;
pub const DEVICE_82540EM: u16 = 0x100e;

// Registers [E1000 13.4, 13.5, 13.7].
pub const CTRL: usize = 0x0000; // Device Control
pub const FCAL: usize = 0x0028; // Flow Control Address Low
pub const FCAH: usize = 0x002c; // Flow Control Address High
pub const FCT: usize = 0x0030; // Flow Control Type
pub const ICR: usize = 0x00c0; // Interrupt Cause Read (clears on read) [E1000 13.4.17]
pub const ITR: usize = 0x00c4; // Interrupt Throttling [E1000 13.4.18]
pub const IMS: usize = 0x00d0; // Interrupt Mask Set [E1000 13.4.20]
pub const IMC: usize = 0x00d8; // Interrupt Mask Clear
pub const RCTL: usize = 0x0100; // Receive Control
pub const FCTTV: usize = 0x0170; // Flow Control Transmit Timer Value
pub const TCTL: usize = 0x0400; // Transmit Control
pub const TIPG: usize = 0x0410; // Transmit Inter-Packet Gap [E1000 13.4.34]
pub const RDBAL: usize = 0x2800; // Receive Descriptor Base Address Low
pub const RDBAH: usize = 0x2804; // ... and High
pub const RDLEN: usize = 0x2808; // Receive Descriptor Length (bytes) [E1000 13.4.27]
pub const RDH: usize = 0x2810; // Receive Descriptor Head (the card's)
pub const RDT: usize = 0x2818; // Receive Descriptor Tail (the driver's)
pub const RDTR: usize = 0x2820; // Receive Delay Timer
pub const TDBAL: usize = 0x3800; // Transmit Descriptor Base Address Low
pub const TDBAH: usize = 0x3804; // ... and High
pub const TDLEN: usize = 0x3808; // Transmit Descriptor Length (bytes)
pub const TDH: usize = 0x3810; // Transmit Descriptor Head (the card's)
pub const TDT: usize = 0x3818; // Transmit Descriptor Tail (the driver's)
pub const MPC: usize = 0x4010; // Missed Packets Count [E1000 13.7.5]
pub const MTA: usize = 0x5200; // Multicast Table Array, 128 words
pub const MTA_WORDS: usize = 128;
pub const RAL0: usize = 0x5400; // Receive Address Low [E1000 13.5.2]
pub const RAH0: usize = 0x5404; // Receive Address High [E1000 13.5.3]
/// Every register above lies below this offset.
pub const REGS_END: usize = RAH0 + 4;

// CTRL bits [E1000 13.4.1].
pub const CTRL_ASDE: u32 = 1 << 5; // auto-detect speed
pub const CTRL_SLU: u32 = 1 << 6; // set link up
pub const CTRL_RST: u32 = 1 << 26; // device reset, self-clearing

// Interrupt causes, the same bits in ICR, IMS and IMC [E1000 13.4.17].
pub const ICR_RXDMT0: u32 = 1 << 4; // free RX descriptors fell to the threshold
pub const ICR_RXO: u32 = 1 << 6; // receiver overrun: frames are being missed
pub const ICR_RXT0: u32 = 1 << 7; // receiver timer: a frame was stored

/// RAH0: the address in RAL0/RAH0 is valid and filters received frames.
pub const RAH_AV: u32 = 1 << 31;

// RCTL bits [E1000 13.4.22].
pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_RDMTS_HALF: u32 = 0b00 << 8; // RXDMT0 when half the ring is left
pub const RCTL_BAM: u32 = 1 << 15; // accept broadcast (ARP requests)
pub const RCTL_BSIZE_2048: u32 = 0b00 << 16; // with BSEX = 0
pub const RCTL_SECRC: u32 = 1 << 26; // strip the Ethernet CRC

// TCTL fields [E1000 13.4.33].
pub const TCTL_EN: u32 = 1 << 1;
pub const TCTL_PSP: u32 = 1 << 3; // pad short frames to 64 bytes
pub const TCTL_CT_SHIFT: u32 = 4; // collision threshold
pub const TCTL_COLD_SHIFT: u32 = 12; // collision distance

/// TIPG for IEEE 802.3's 96-bit-time gap on copper: IPGT 10, IPGR1 8, IPGR2 6
/// [E1000 13.4.34].
pub const TIPG_802_3: u32 = 10 | (8 << 10) | (6 << 20);

/// A receive descriptor [E1000 3.2.3]. The card writes length, status and errors
/// back when it has stored a frame in the buffer.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RxDesc {
    pub addr: u64,
    pub length: u16,
    /// Packet checksum; unused (no RXCSUM offload).
    pub _checksum: u16,
    pub status: u8,
    pub errors: u8,
    /// VLAN tag; unused.
    pub _special: u16,
}

// RxDesc.status bits [E1000 3.2.3.1].
pub const RXD_STAT_DD: u8 = 1 << 0; // descriptor done
pub const RXD_STAT_EOP: u8 = 1 << 1; // last descriptor of the frame

/// A legacy transmit descriptor [E1000 3.3.3]. The card sets DD in status once it
/// has read the frame, if the driver asked with RS.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct TxDesc {
    pub addr: u64,
    pub length: u16,
    /// Checksum offset; unused (no checksum insertion).
    pub _cso: u8,
    pub cmd: u8,
    pub status: u8,
    /// Checksum start; unused.
    pub _css: u8,
    /// VLAN tag; unused.
    pub _special: u16,
}

// TxDesc.cmd bits [E1000 3.3.3.1].
pub const TXD_CMD_EOP: u8 = 1 << 0; // last descriptor of the frame
pub const TXD_CMD_IFCS: u8 = 1 << 1; // append the Ethernet CRC
pub const TXD_CMD_RS: u8 = 1 << 3; // report status (write DD back)

// TxDesc.status bits [E1000 3.3.3.2].
pub const TXD_STAT_DD: u8 = 1 << 0;
