//! The host's side of the guest's own traffic: what the reader answers by itself.

use super::*;

/// The host's reply if `frame` is an ARP request for [`HOST_IP`] from a unicast sender, padded
/// to [`MIN_FRAME`] as a real host sends it (so that a NIC that pads or not sees the same bytes).
pub(super) fn arp_answer(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = Ethernet::parse(frame).ok()?;
    let arp = Arp::parse(eth.payload).ok()?;
    let wanted = eth.ethertype == ETHERTYPE_ARP
        && arp.op == ARP_REQUEST
        && arp.tpa == HOST_IP
        && arp.sha[0] & 1 == 0;
    wanted.then(|| {
        let mut reply = ethernet(
            arp.sha,
            HOST_MAC,
            ETHERTYPE_ARP,
            &arp_packet(ARP_REPLY, HOST_MAC, HOST_IP, arp.sha, arp.spa),
        );
        reply.resize(MIN_FRAME, 0);
        reply
    })
}

/// The host's echo reply if `frame` is a well-formed echo request to [`HOST_IP`] at
/// [`HOST_MAC`] from a unicast sender: same id, sequence number and data, back to the sender's
/// MAC and address, as a host's stack answers a ping.
pub(super) fn echo_answer(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = Ethernet::parse(frame).ok()?;
    if eth.ethertype != ETHERTYPE_IPV4 || eth.dst != HOST_MAC || eth.src[0] & 1 != 0 {
        return None;
    }
    let ip = Ipv4::parse(eth.payload).ok()?;
    let echo = Echo::parse(&ip).ok()?;
    let wanted = ip.header.dst == HOST_IP
        && ip.header.flags_fragment & 0x3fff == 0
        && echo.ty == ICMP_ECHO_REQUEST
        && echo.code == 0;
    wanted.then(|| {
        let reply = icmp_echo(ICMP_ECHO_REPLY, echo.id, echo.seq, echo.payload);
        let header = Ipv4Header::new(HOST_IP, ip.header.src, PROTO_ICMP);
        ethernet(eth.src, HOST_MAC, ETHERTYPE_IPV4, &header.emit(&reply))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{PING_REQUEST, UDP_IN};

    #[test]
    fn the_host_answers_arp_requests_for_its_address_only() {
        let ask = |target| {
            ethernet(
                BROADCAST,
                GUEST_MAC,
                ETHERTYPE_ARP,
                &arp_packet(ARP_REQUEST, GUEST_MAC, GUEST_IP, [0; 6], target),
            )
        };
        let reply = arp_answer(&ask(HOST_IP)).unwrap();
        assert_eq!(reply.len(), MIN_FRAME);
        let eth = Ethernet::parse(&reply).unwrap();
        assert_eq!(
            (eth.dst, eth.src, eth.ethertype),
            (GUEST_MAC, HOST_MAC, ETHERTYPE_ARP)
        );
        assert_eq!(
            Arp::parse(eth.payload).unwrap(),
            Arp {
                op: ARP_REPLY,
                sha: HOST_MAC,
                spa: HOST_IP,
                tha: GUEST_MAC,
                tpa: GUEST_IP
            }
        );
        assert_eq!(arp_answer(&ask(Ipv4Addr::new(10, 0, 2, 3))), None);
        assert_eq!(arp_answer(&reply), None);
        assert_eq!(arp_answer(UDP_IN), None);
    }

    #[test]
    fn the_host_answers_pings_to_its_address_only() {
        let request = icmp_echo(ICMP_ECHO_REQUEST, 0x4242, 7, b"abcdefgh");
        let ping = |dst_mac: Mac, header: Ipv4Header, message: &[u8]| {
            ethernet(dst_mac, GUEST_MAC, ETHERTYPE_IPV4, &header.emit(message))
        };
        let to_host = Ipv4Header::new(GUEST_IP, HOST_IP, PROTO_ICMP);
        let reply = echo_answer(&ping(HOST_MAC, to_host, &request)).unwrap();
        let eth = Ethernet::parse(&reply).unwrap();
        assert_eq!(
            (eth.dst, eth.src, eth.ethertype),
            (GUEST_MAC, HOST_MAC, ETHERTYPE_IPV4)
        );
        let ip = Ipv4::parse(eth.payload).unwrap();
        assert_eq!(ip.header, Ipv4Header::new(HOST_IP, GUEST_IP, PROTO_ICMP));
        let echo = Echo::parse(&ip).unwrap();
        assert_eq!(
            (echo.ty, echo.code, echo.id, echo.seq, echo.payload),
            (ICMP_ECHO_REPLY, 0, 0x4242, 7, &b"abcdefgh"[..])
        );

        let other_ip = Ipv4Header::new(GUEST_IP, Ipv4Addr::new(10, 0, 2, 3), PROTO_ICMP);
        let fragment = Ipv4Header {
            flags_fragment: 0x2000,
            ..to_host
        };
        let mut bad_sum = request.clone();
        bad_sum[8] ^= 1;
        let answer_to = icmp_echo(ICMP_ECHO_REPLY, 1, 1, b"x");
        for (what, frame) in [
            ("another address", ping(HOST_MAC, other_ip, &request)),
            ("another MAC", ping(GUEST_MAC, to_host, &request)),
            ("broadcast", ping(BROADCAST, to_host, &request)),
            ("a fragment", ping(HOST_MAC, fragment, &request)),
            ("a bad checksum", ping(HOST_MAC, to_host, &bad_sum)),
            ("an echo reply", ping(HOST_MAC, to_host, &answer_to)),
        ] {
            assert_eq!(echo_answer(&frame), None, "{what}");
        }
        assert_eq!(echo_answer(UDP_IN), None);
        assert_eq!(echo_answer(PING_REQUEST), None);
    }
}
