//! A packet tracer: one line per protocol layer per frame, like a small tcpdump.
//!
//! The stack calls [`trace_frame`] for every frame it receives or sends when a
//! sink is installed ([`crate::NetStack::set_tracer`]), e.g. the kernel console.
//! Lines look like this:
//!
//! ```text
//! rx eth 52:55:0a:00:02:02 > 52:54:00:12:34:56 ipv4
//! rx   ipv4 10.0.2.2 > 10.0.2.15 udp len 31 ttl 64
//! rx     udp 25099 > 2000 len 3
//! rx drop no-socket
//! ```
//!
//! It parses with smoltcp's `wire` accessors rather than its `Repr`s, so that a
//! frame with a bad checksum or a lying length is still shown as far as it
//! goes, with the fault named, instead of vanishing.

use core::fmt::{self, Write};

use crate::counters::DropReason;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Message, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket,
};

/// Which way a frame went through the NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Rx,
    Tx,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
        })
    }
}

/// A MAC address in the usual colon notation (smoltcp prints hyphens).
struct Mac(EthernetAddress);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An IP protocol by name, or by number when we have no name for it.
struct Proto(IpProtocol);

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpProtocol::Icmp => f.write_str("icmp"),
            IpProtocol::Udp => f.write_str("udp"),
            IpProtocol::Tcp => f.write_str("tcp"),
            other => write!(f, "proto {}", u8::from(other)),
        }
    }
}

/// TCP flags as tcpdump writes them: S F R P U, and `.` for ACK.
struct TcpFlags<'a, 'b>(&'a TcpPacket<&'b [u8]>);

impl fmt::Display for TcpFlags<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let flags = [
            (t.syn(), 'S'),
            (t.fin(), 'F'),
            (t.rst(), 'R'),
            (t.psh(), 'P'),
            (t.urg(), 'U'),
            (t.ack(), '.'),
        ];
        for (_, letter) in flags.iter().filter(|(set, _)| *set) {
            f.write_char(*letter)?;
        }
        Ok(())
    }
}

/// Writes one line: the direction, two spaces of indent per layer depth, the text.
fn line(out: &mut dyn Write, dir: Direction, depth: usize, text: fmt::Arguments) -> fmt::Result {
    writeln!(out, "{dir} {:indent$}{text}", "", indent = 2 * depth)
}

/// Appends a note that a checksum did not verify.
fn checksum_note(ok: bool) -> &'static str {
    if ok { "" } else { " bad-checksum" }
}

/// Formats `frame` into `out`, one line per layer it can parse.
pub fn trace_frame(out: &mut dyn Write, dir: Direction, frame: &[u8]) -> fmt::Result {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return line(
            out,
            dir,
            0,
            format_args!("eth truncated ({} bytes)", frame.len()),
        );
    };
    let (src, dst) = (Mac(eth.src_addr()), Mac(eth.dst_addr()));
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            line(out, dir, 0, format_args!("eth {src} > {dst} arp"))?;
            trace_arp(out, dir, eth.payload())
        }
        EthernetProtocol::Ipv4 => {
            line(out, dir, 0, format_args!("eth {src} > {dst} ipv4"))?;
            trace_ipv4(out, dir, eth.payload())
        }
        other => line(
            out,
            dir,
            0,
            format_args!("eth {src} > {dst} type {:#06x}", u16::from(other)),
        ),
    }
}

/// Writes the line a tracing stack adds after a frame it dropped.
pub(crate) fn trace_drop(out: &mut dyn Write, dir: Direction, reason: DropReason) -> fmt::Result {
    line(out, dir, 0, format_args!("drop {reason}"))
}

fn trace_arp(out: &mut dyn Write, dir: Direction, payload: &[u8]) -> fmt::Result {
    let Ok(packet) = ArpPacket::new_checked(payload) else {
        return line(out, dir, 1, format_args!("arp truncated"));
    };
    let Ok(ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    }) = ArpRepr::parse(&packet)
    else {
        return line(out, dir, 1, format_args!("arp not ethernet/ipv4"));
    };
    match operation {
        ArpOperation::Request => line(
            out,
            dir,
            1,
            format_args!("arp request who-has {target_protocol_addr} tell {source_protocol_addr}"),
        ),
        ArpOperation::Reply => line(
            out,
            dir,
            1,
            format_args!(
                "arp reply {source_protocol_addr} is-at {}",
                Mac(source_hardware_addr)
            ),
        ),
        ArpOperation::Unknown(op) => line(
            out,
            dir,
            1,
            format_args!("arp op {op} {source_protocol_addr} > {target_protocol_addr}"),
        ),
    }
}

fn trace_ipv4(out: &mut dyn Write, dir: Direction, payload: &[u8]) -> fmt::Result {
    let Ok(ip) = Ipv4Packet::new_checked(payload) else {
        return line(out, dir, 1, format_args!("ipv4 truncated or bad length"));
    };
    if ip.version() != 4 {
        return line(
            out,
            dir,
            1,
            format_args!("ipv4 bad version {}", ip.version()),
        );
    }
    let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let fragment = ip.more_frags() || ip.frag_offset() != 0;
    line(
        out,
        dir,
        1,
        format_args!(
            "ipv4 {src} > {dst} {} len {} ttl {}{}{}",
            Proto(proto),
            ip.total_len(),
            ip.hop_limit(),
            if fragment { " fragment" } else { "" },
            checksum_note(ip.verify_checksum())
        ),
    )?;
    if fragment {
        // Only the first fragment holds the transport header; none is reassembled.
        return Ok(());
    }
    let (src, dst) = (IpAddress::Ipv4(src), IpAddress::Ipv4(dst));
    let body = ip.payload();
    match proto {
        IpProtocol::Icmp => trace_icmp(out, dir, body),
        IpProtocol::Udp => {
            let Ok(udp) = UdpPacket::new_checked(body) else {
                return line(out, dir, 2, format_args!("udp truncated or bad length"));
            };
            // A zero checksum means "none" in IPv4.
            let ok = udp.checksum() == 0 || udp.verify_checksum(&src, &dst);
            line(
                out,
                dir,
                2,
                format_args!(
                    "udp {} > {} len {}{}",
                    udp.src_port(),
                    udp.dst_port(),
                    udp.payload().len(),
                    checksum_note(ok)
                ),
            )
        }
        IpProtocol::Tcp => {
            let Ok(tcp) = TcpPacket::new_checked(body) else {
                return line(out, dir, 2, format_args!("tcp truncated or bad length"));
            };
            line(
                out,
                dir,
                2,
                format_args!(
                    "tcp {} > {} flags {} seq {} ack {} len {}{}",
                    tcp.src_port(),
                    tcp.dst_port(),
                    TcpFlags(&tcp),
                    tcp.seq_number().0 as u32,
                    tcp.ack_number().0 as u32,
                    tcp.payload().len(),
                    checksum_note(tcp.verify_checksum(&src, &dst))
                ),
            )
        }
        _ => Ok(()),
    }
}

fn trace_icmp(out: &mut dyn Write, dir: Direction, body: &[u8]) -> fmt::Result {
    let Ok(icmp) = Icmpv4Packet::new_checked(body) else {
        return line(out, dir, 2, format_args!("icmp truncated"));
    };
    let ok = checksum_note(icmp.verify_checksum());
    match icmp.msg_type() {
        kind @ (Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply) => {
            let name = if kind == Icmpv4Message::EchoRequest {
                "echo-request"
            } else {
                "echo-reply"
            };
            line(
                out,
                dir,
                2,
                format_args!(
                    "icmp {name} id {} seq {}{ok}",
                    icmp.echo_ident(),
                    icmp.echo_seq_no()
                ),
            )
        }
        kind => line(
            out,
            dir,
            2,
            format_args!("icmp type {} code {}{ok}", u8::from(kind), icmp.msg_code()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use alloc::string::String;

    fn trace(dir: Direction, frame: &[u8]) -> String {
        let mut out = String::new();
        trace_frame(&mut out, dir, frame).unwrap();
        out
    }

    #[test]
    fn udp_one_line_per_layer() {
        assert_eq!(
            trace(Direction::Rx, UDP_IN),
            "rx eth 52:55:0a:00:02:02 > 52:54:00:12:34:56 ipv4\n\
             rx   ipv4 10.0.2.2 > 10.0.2.15 udp len 31 ttl 64\n\
             rx     udp 25099 > 2000 len 3\n"
        );
    }

    #[test]
    fn arp_request_and_reply() {
        assert_eq!(
            trace(Direction::Rx, ARP_REQUEST),
            "rx eth 52:55:0a:00:02:02 > ff:ff:ff:ff:ff:ff arp\n\
             rx   arp request who-has 10.0.2.15 tell 10.0.2.2\n"
        );
        assert_eq!(
            trace(Direction::Tx, ARP_REPLY),
            "tx eth 52:54:00:12:34:56 > 52:55:0a:00:02:02 arp\n\
             tx   arp reply 10.0.2.15 is-at 52:54:00:12:34:56\n"
        );
    }

    #[test]
    fn icmp_echo() {
        assert_eq!(
            trace(Direction::Rx, PING_REQUEST),
            "rx eth 52:55:0a:00:02:02 > 52:54:00:12:34:56 ipv4\n\
             rx   ipv4 10.0.2.2 > 10.0.2.15 icmp len 32 ttl 64\n\
             rx     icmp echo-request id 4660 seq 1\n"
        );
    }

    #[test]
    fn tcp_flags() {
        assert_eq!(
            trace(Direction::Rx, TCP_SYN),
            "rx eth 52:55:0a:00:02:02 > 52:54:00:12:34:56 ipv4\n\
             rx   ipv4 10.0.2.2 > 10.0.2.15 tcp len 40 ttl 64\n\
             rx     tcp 40000 > 80 flags S seq 1000 ack 0 len 0\n"
        );
    }

    #[test]
    fn faults_are_named_not_hidden() {
        assert_eq!(
            trace(Direction::Rx, &UDP_IN[..10]),
            "rx eth truncated (10 bytes)\n"
        );
        let bad_ttl = patched(UDP_IN, 14 + 8, 0x41);
        assert_eq!(
            trace(Direction::Rx, &bad_ttl).lines().nth(1),
            Some("rx   ipv4 10.0.2.2 > 10.0.2.15 udp len 31 ttl 65 bad-checksum")
        );
        let lying_udp = patched(UDP_IN, 14 + 20 + 4, 0xff);
        assert_eq!(
            trace(Direction::Rx, &lying_udp).lines().nth(2),
            Some("rx     udp truncated or bad length")
        );
        let bad_payload = patched(UDP_IN, UDP_IN.len() - 1, b'Y');
        assert_eq!(
            trace(Direction::Rx, &bad_payload).lines().nth(2),
            Some("rx     udp 25099 > 2000 len 3 bad-checksum")
        );
        let short_ihl = patched(UDP_IN, 14, 0x44);
        assert_eq!(
            trace(Direction::Rx, &short_ihl).lines().nth(1),
            Some("rx   ipv4 truncated or bad length")
        );
        let lldp = patched(UDP_IN, 12, 0x88);
        assert_eq!(
            trace(Direction::Rx, &lldp),
            "rx eth 52:55:0a:00:02:02 > 52:54:00:12:34:56 type 0x8800\n"
        );
    }

    #[test]
    fn drop_line() {
        let mut out = String::new();
        trace_drop(&mut out, Direction::Rx, DropReason::QueueFull).unwrap();
        assert_eq!(out, "rx drop queue-full\n");
    }
}
