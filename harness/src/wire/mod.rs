//! The L2 wire: the harness is the guest's whole network (docs/testing.md, the `net_wire` test).
//!
//! QEMU attaches the NIC to `-netdev stream` as a TCP client of a [`Wire`] listening on
//! 127.0.0.1 ([`Wire::netdev_arg`]). Each Ethernet frame crosses the connection as a 4-byte
//! big-endian length followed by the frame, in both directions, with no slirp in between. The wire
//! plays the host 10.0.2.2 with slirp's static MAC ([`HOST_MAC`]): a reader thread answers the
//! guest's ARP requests for that address and its echo requests (pings) to it, counting both, and
//! queues every other frame for the test, which sends whatever it builds, well formed or not.
//!
//! - `link`: the connection, its framing, the reader and the queue ([`Wire`], [`WireStats`]);
//!   `answer`: the host's replies to the guest's ARP requests and pings.
//! - `exchange`: three exchanges that check a reply field by field ([`Wire::who_has`],
//!   [`Wire::ping`], [`Wire::udp_echo`]).
//! - `build`: frames written out by hand, with correct checksums, so that a test can break any
//!   field; `parse`: what the guest sends, read with smoltcp's wire module, every length and
//!   checksum checked; `describe`: one line about a frame for error messages.
//! - [`bad`]: the catalogue of bad frames the `net_wire` test sends, each with the drop reasons
//!   it allows; [`accounting`]: whether the guest's counters match what a group sent.
//!
//! Everything is bounded: the queue, the waits, the reader's lifetime (it stops when the wire is
//! dropped).

pub mod accounting;
mod answer;
pub mod bad;

mod build;
mod describe;
mod exchange;
mod link;
mod parse;

use std::net::Ipv4Addr;

pub use build::{
    Ipv4Header, arp_packet, arp_request_frame, checksum, ethernet, fix_ipv4_checksum, icmp_echo,
    ipv4_frame, ping_frame, udp, udp_frame,
};
pub use describe::{describe, mac_text};
pub use link::{MAX_FRAME, QUEUE_LIMIT, UNMATCHED_LIMIT, Wire, WireStats};
pub use parse::{Arp, Echo, Ethernet, Ipv4, Udp};

/// An Ethernet address.
pub type Mac = [u8; 6];

/// The harness's address: slirp's gateway MAC, so frames look like those of the user network.
pub const HOST_MAC: Mac = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
/// The harness's IPv4 address (the guest's gateway).
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// QEMU's default NIC address.
pub const GUEST_MAC: Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// The guest's static address.
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const BROADCAST: Mac = [0xff; 6];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;

pub const ETH_HEADER_LEN: usize = 14;
pub const IPV4_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
pub const ICMP_ECHO_HEADER_LEN: usize = 8;
/// An Ethernet/IPv4 ARP packet's length.
pub(crate) const ARP_LEN: usize = 28;

/// The shortest Ethernet frame without FCS; real senders pad to it.
pub const MIN_FRAME: usize = 60;

/// Frames and a stand-in for QEMU, for the unit tests of every part of the wire.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::io::{self, Read, Write};
    use std::net::{Ipv4Addr, TcpStream};
    use std::time::Duration;

    use super::*;

    // The host → guest frames of crates/netstack/src/fixtures.rs, whose checksums were computed
    // independently of this file: the builders must produce them byte for byte.

    /// 10.0.2.2:25099 sends "xyz" to 10.0.2.15:2000.
    pub(crate) const UDP_IN: &[u8] = &[
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x62, 0xbe, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x02, 0x0f, 0x62, 0x0b, 0x07, 0xd0, 0x00, 0x0b, 0x8b, 0x72, 0x78, 0x79, 0x7a,
    ];

    /// Who has 10.0.2.15? Tell 10.0.2.2.
    pub(crate) const ARP_REQUEST_IN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x0a, 0x00,
        0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x02, 0x0f,
    ];

    /// Echo request 10.0.2.2 -> 10.0.2.15, id 0x1234, seq 1, data "ping".
    pub(crate) const PING_REQUEST: &[u8] = &[
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x62, 0xcd, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x02, 0x0f, 0x08, 0x00, 0x06, 0xfa, 0x12, 0x34, 0x00, 0x01, 0x70, 0x69, 0x6e,
        0x67,
    ];

    /// A stand-in for QEMU: connects to the wire and speaks its framing.
    pub(crate) struct FakeQemu(TcpStream);

    impl FakeQemu {
        pub(crate) fn connect(wire: &mut Wire) -> FakeQemu {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, wire.port())).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            wire.accept(Duration::from_secs(10)).unwrap();
            FakeQemu(stream)
        }

        pub(crate) fn send(&mut self, frame: &[u8]) {
            self.0
                .write_all(&(frame.len() as u32).to_be_bytes())
                .unwrap();
            self.0.write_all(frame).unwrap();
        }

        pub(crate) fn recv(&mut self) -> io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            self.0.read_exact(&mut len)?;
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            self.0.read_exact(&mut frame)?;
            Ok(frame)
        }
    }

    /// A guest frame from 10.0.2.15 to the host.
    pub(crate) fn from_guest(protocol: u8, payload: &[u8]) -> Vec<u8> {
        ethernet(
            HOST_MAC,
            GUEST_MAC,
            ETHERTYPE_IPV4,
            &Ipv4Header::new(GUEST_IP, HOST_IP, protocol).emit(payload),
        )
    }
}
