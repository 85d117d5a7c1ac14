//! One line about a frame, for error messages: its layers as far as they parse.

use std::fmt::Write as _;

use super::*;

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: Mac) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// One line about a frame for error messages: its layers as far as they parse, what did not
/// parse, and its first 64 bytes in hex.
pub fn describe(frame: &[u8]) -> String {
    let mut s = format!("{} bytes: ", frame.len());
    match Ethernet::parse(frame) {
        Err(e) => s.push_str(&e),
        Ok(eth) => {
            let _ = write!(s, "{} > {} ", mac_text(eth.src), mac_text(eth.dst));
            s.push_str(&describe_payload(&eth));
        }
    }
    s.push_str(" |");
    for b in frame.iter().take(64) {
        let _ = write!(s, " {b:02x}");
    }
    if frame.len() > 64 {
        s.push_str(" ...");
    }
    s
}

fn describe_payload(eth: &Ethernet) -> String {
    match eth.ethertype {
        ETHERTYPE_ARP => match Arp::parse(eth.payload) {
            Ok(a) => format!(
                "ARP op {} {} ({}) asks/tells {} ({})",
                a.op,
                a.spa,
                mac_text(a.sha),
                a.tpa,
                mac_text(a.tha)
            ),
            Err(e) => format!("ARP: {e}"),
        },
        ETHERTYPE_IPV4 => match Ipv4::parse(eth.payload) {
            Err(e) => format!("IPv4: {e}"),
            Ok(ip) => {
                let h = ip.header;
                let l4 = match h.protocol {
                    PROTO_ICMP => match Echo::parse(&ip) {
                        Ok(e) => format!(
                            "ICMP echo type {} id {} seq {} len {}",
                            e.ty,
                            e.id,
                            e.seq,
                            e.payload.len()
                        ),
                        Err(e) => format!("ICMP: {e}"),
                    },
                    PROTO_UDP => match Udp::parse(&ip) {
                        Ok(u) => format!("UDP {} > {} len {}", u.sport, u.dport, u.payload.len()),
                        Err(e) => format!("UDP: {e}"),
                    },
                    p => format!("protocol {p}"),
                };
                format!(
                    "IPv4 {} > {} frag {:#06x}: {l4}",
                    h.src, h.dst, h.flags_fragment
                )
            }
        },
        t => format!("EtherType {t:#06x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ARP_REQUEST_IN, PING_REQUEST, UDP_IN};

    #[test]
    fn describe_names_each_layer() {
        assert!(describe(&UDP_IN[..5]).starts_with("5 bytes: 5 bytes is shorter"));
        let d = describe(PING_REQUEST);
        assert!(
            d.starts_with(
                "46 bytes: 52:55:0a:00:02:02 > 52:54:00:12:34:56 IPv4 10.0.2.2 > 10.0.2.15 \
                 frag 0x0000: ICMP echo type 8 id 4660 seq 1 len 4 | 52 54 00"
            ),
            "{d}"
        );
        let d = describe(ARP_REQUEST_IN);
        assert!(
            d.contains("ARP op 1 10.0.2.2 (52:55:0a:00:02:02) asks/tells 10.0.2.15"),
            "{d}"
        );
        let d = describe(&ethernet(GUEST_MAC, HOST_MAC, 0x88b5, &[0; 80]));
        assert!(d.contains("EtherType 0x88b5") && d.ends_with(" ..."), "{d}");
    }
}
