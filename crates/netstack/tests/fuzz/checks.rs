//! The rules the fuzzer checks: what a sent frame must be (`inspect`), which
//! received frames a hardened host ignores (`ignored`), and the drops that count
//! against received frames (`rx_drops`).

use netstack::Drops;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl,
    TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

use crate::common::{GUEST_IP, GUEST_MAC, GW_IP};
use crate::nic::{ClientSegment, Seen};

/// Checks one sent frame, without allocating.
pub fn inspect(frame: &[u8], client_port: u16) -> Result<Seen, &'static str> {
    let caps = ChecksumCapabilities::default();
    let mut seen = Seen::default();
    {
        if frame.len() > 14 + 1500 {
            return Err("frame longer than the MTU");
        }
        let eth = EthernetFrame::new_checked(frame).map_err(|_| "short Ethernet frame")?;
        if eth.src_addr() != EthernetAddress(GUEST_MAC) {
            return Err("source MAC is not the guest's");
        }
        match eth.ethertype() {
            EthernetProtocol::Arp => {
                let packet = ArpPacket::new_checked(eth.payload()).map_err(|_| "bad ARP")?;
                let ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_hardware_addr,
                    target_protocol_addr,
                } = ArpRepr::parse(&packet).map_err(|_| "bad ARP")?
                else {
                    return Err("ARP not Ethernet/IPv4");
                };
                if source_hardware_addr != EthernetAddress(GUEST_MAC)
                    || source_protocol_addr != GUEST_IP
                {
                    return Err("ARP sender is not the guest");
                }
                if martian(target_protocol_addr) {
                    return Err("ARP about a martian address");
                }
                if operation == ArpOperation::Reply && impossible_mac(target_hardware_addr.0) {
                    return Err("ARP reply to an impossible MAC");
                }
                Ok(seen)
            }
            EthernetProtocol::Ipv4 => {
                if impossible_mac(eth.dst_addr().0) {
                    return Err("IPv4 to a broadcast, multicast, zero or the guest's MAC");
                }
                let packet = Ipv4Packet::new_checked(eth.payload()).map_err(|_| "bad IPv4")?;
                let ip = Ipv4Repr::parse(&packet, &caps).map_err(|_| "bad IPv4 header")?;
                if ip.src_addr != GUEST_IP {
                    return Err("IPv4 source is not the guest's address");
                }
                if martian(ip.dst_addr) {
                    return Err("IPv4 to a martian address");
                }
                let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
                let body = packet.payload();
                match ip.next_header {
                    IpProtocol::Icmp => {
                        let icmp = Icmpv4Packet::new_checked(body).map_err(|_| "bad ICMP")?;
                        let repr = Icmpv4Repr::parse(&icmp, &caps).map_err(|_| "bad ICMP")?;
                        seen.echo_reply = matches!(repr, Icmpv4Repr::EchoReply { .. });
                    }
                    IpProtocol::Udp => {
                        let udp = UdpPacket::new_checked(body).map_err(|_| "bad UDP")?;
                        UdpRepr::parse(&udp, &src, &dst, &caps).map_err(|_| "bad UDP")?;
                    }
                    IpProtocol::Tcp => {
                        let tcp = TcpPacket::new_checked(body).map_err(|_| "bad TCP")?;
                        let repr =
                            TcpRepr::parse(&tcp, &src, &dst, &caps).map_err(|_| "bad TCP")?;
                        if ip.dst_addr == GW_IP && repr.dst_port == client_port {
                            let control_len = match repr.control {
                                TcpControl::Syn | TcpControl::Fin => 1,
                                _ => 0,
                            };
                            let next = repr.seq_number + repr.payload.len() + control_len;
                            seen.client_segment = Some(ClientSegment {
                                next: next.0 as u32,
                                ack: repr.ack_number.map(|a| a.0 as u32),
                                control: !matches!(
                                    repr.control,
                                    TcpControl::None | TcpControl::Psh
                                ),
                            });
                        }
                    }
                    _ => return Err("unexpected IP protocol"),
                }
                Ok(seen)
            }
            _ => Err("unexpected EtherType"),
        }
    }
}

/// Addresses no neighbor can have: the guest's own, 0.0.0.0/8, loopback,
/// multicast and reserved (224.0.0.0 and up), the subnet's broadcast.
pub fn martian(addr: Ipv4Address) -> bool {
    let first = addr.octets()[0];
    addr == GUEST_IP
        || first == 0
        || first == 127
        || first >= 224
        || addr == Ipv4Address::new(10, 0, 2, 255)
}

/// MACs no neighbor can have: group addresses, all zeros, the guest's own.
pub fn impossible_mac(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0 || mac == [0; 6] || mac == GUEST_MAC
}

/// A received frame that a hardened host drops without an answer, whatever
/// else is wrong with it: a well-formed IPv4 header, to the guest's MAC, from
/// a martian source; or an echo request to a broadcast or multicast address.
/// Returns (must be dropped, must not be answered by an echo reply).
pub fn ignored(frame: &[u8]) -> (bool, bool) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return (false, false);
    };
    let to_guest = eth.dst_addr().0 == GUEST_MAC || eth.dst_addr().is_broadcast();
    if frame.len() > 1514 || !to_guest || eth.ethertype() != EthernetProtocol::Ipv4 {
        return (false, false);
    }
    let Ok(packet) = Ipv4Packet::new_checked(eth.payload()) else {
        return (false, false);
    };
    let Ok(ip) = Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()) else {
        return (false, false);
    };
    let from_martian = martian(ip.src_addr);
    let echo_to_many = ip.next_header == IpProtocol::Icmp
        && packet.payload().first() == Some(&8)
        && (martian(ip.dst_addr) && ip.dst_addr != GUEST_IP);
    (from_martian, from_martian || echo_to_many)
}

/// The rx-side drops: everything but the TX ring's and the NIC's.
pub fn rx_drops(d: &Drops) -> u64 {
    d.malformed + d.unsupported + d.not_for_us + d.no_socket + d.queue_full + d.martian
}
