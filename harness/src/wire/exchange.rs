//! Exchanges with the guest that check its reply field by field and retry a few times.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Result, bail, ensure};

use super::*;

impl Wire {
    /// Asks who has `ip` (by broadcast, from the host) and returns the MAC of the first reply
    /// from `ip`, after checking that it is a well-formed reply to the host. Sends up to `tries`
    /// requests, waiting `per_try` for each.
    pub fn who_has(&mut self, ip: Ipv4Addr, tries: usize, per_try: Duration) -> Result<Mac> {
        for _ in 0..tries {
            self.send(&arp_request_frame(ip))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let arp = Arp::parse(eth.payload).ok()?;
                (eth.ethertype == ETHERTYPE_ARP && arp.op == ARP_REPLY && arp.spa == ip)
                    .then_some((eth.dst, eth.src, arp))
            });
            if let Some((dst, src, arp)) = reply {
                ensure!(
                    dst == HOST_MAC && src == arp.sha && arp.tha == HOST_MAC && arp.tpa == HOST_IP,
                    "ARP reply for {ip} not addressed as expected: Ethernet {} > {}, {arp:?}",
                    mac_text(src),
                    mac_text(dst)
                );
                return Ok(arp.sha);
            }
        }
        bail!("no ARP reply for {ip} after {tries} requests");
    }

    /// Sends echo requests (`id`, `seq`, `payload`) to the guest until a reply comes, up to
    /// `tries` times `per_try`, and checks every field of the reply. Returns the number of
    /// requests sent. Retrying is not a failure: a stack that has to ask for the host's MAC
    /// before it can answer may drop that first reply.
    pub fn ping(
        &mut self,
        id: u16,
        seq: u16,
        payload: &[u8],
        tries: usize,
        per_try: Duration,
    ) -> Result<usize> {
        for attempt in 1..=tries {
            self.send(&ping_frame(id, seq, payload))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let ip = Ipv4::parse(eth.payload).ok()?;
                let echo = Echo::parse(&ip).ok()?;
                (eth.ethertype == ETHERTYPE_IPV4
                    && echo.ty == ICMP_ECHO_REPLY
                    && echo.id == id
                    && echo.seq == seq)
                    .then(|| {
                        (
                            eth.src,
                            eth.dst,
                            ip.header,
                            echo.code,
                            echo.payload.to_vec(),
                        )
                    })
            });
            if let Some((src, dst, header, code, data)) = reply {
                ensure!(
                    src == GUEST_MAC && dst == HOST_MAC,
                    "echo reply {id}/{seq} from {} to {}",
                    mac_text(src),
                    mac_text(dst)
                );
                ensure!(
                    header.src == GUEST_IP && header.dst == HOST_IP && code == 0,
                    "echo reply {id}/{seq}: {header:?}, code {code}"
                );
                ensure!(
                    data == payload,
                    "echo reply {id}/{seq} carries {} bytes that differ from the {} sent",
                    data.len(),
                    payload.len()
                );
                return Ok(attempt);
            }
        }
        bail!(
            "no echo reply to id {id} seq {seq} ({} bytes) after {tries} requests",
            payload.len()
        );
    }

    /// Sends `payload` from the host's port `sport` to the guest's `dport` until the same
    /// payload comes back from `dport` to `sport` (an echo service), up to `tries` times
    /// `per_try`. Returns the number of datagrams sent.
    pub fn udp_echo(
        &mut self,
        sport: u16,
        dport: u16,
        payload: &[u8],
        tries: usize,
        per_try: Duration,
    ) -> Result<usize> {
        for attempt in 1..=tries {
            self.send(&udp_frame(sport, dport, payload))?;
            let reply = self.recv_until(per_try, |f| {
                let eth = Ethernet::parse(f).ok()?;
                let ip = Ipv4::parse(eth.payload).ok()?;
                let udp = Udp::parse(&ip).ok()?;
                (eth.ethertype == ETHERTYPE_IPV4 && udp.sport == dport && udp.dport == sport)
                    .then(|| (eth.src, eth.dst, ip.header, udp.payload.to_vec()))
            });
            if let Some((src, dst, header, data)) = reply {
                ensure!(
                    src == GUEST_MAC && dst == HOST_MAC,
                    "UDP reply from {} to {}",
                    mac_text(src),
                    mac_text(dst)
                );
                ensure!(
                    header.src == GUEST_IP && header.dst == HOST_IP,
                    "UDP reply {header:?}"
                );
                ensure!(
                    data == payload,
                    "UDP echo of {} bytes came back as {} different bytes",
                    payload.len(),
                    data.len()
                );
                return Ok(attempt);
            }
        }
        bail!(
            "no UDP echo from port {dport} of {} bytes after {tries} datagrams",
            payload.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;
    use crate::wire::fixtures::{FakeQemu, from_guest};

    #[test]
    fn exchanges_check_the_reply_and_retry() {
        let mut wire = Wire::listen().unwrap();
        let mut qemu = FakeQemu::connect(&mut wire);
        // A guest that ignores the first echo request (as a stack resolving the host's MAC may),
        // answers ARP, echoes pings and UDP, and first sends something nobody asked for.
        let guest = thread::spawn(move || {
            qemu.send(&from_guest(
                PROTO_UDP,
                &udp(GUEST_IP, 7, HOST_IP, 7, b"noise"),
            ));
            let mut pings = 0;
            while let Ok(f) = qemu.recv() {
                let eth = Ethernet::parse(&f).unwrap();
                if eth.ethertype == ETHERTYPE_ARP {
                    let a = Arp::parse(eth.payload).unwrap();
                    let p = arp_packet(ARP_REPLY, GUEST_MAC, GUEST_IP, a.sha, a.spa);
                    qemu.send(&ethernet(a.sha, GUEST_MAC, ETHERTYPE_ARP, &p));
                    continue;
                }
                let ip = Ipv4::parse(eth.payload).unwrap();
                if let Ok(e) = Echo::parse(&ip) {
                    pings += 1;
                    if pings > 1 {
                        let m = icmp_echo(ICMP_ECHO_REPLY, e.id, e.seq, e.payload);
                        qemu.send(&from_guest(PROTO_ICMP, &m));
                    }
                } else if let Ok(u) = Udp::parse(&ip) {
                    // Echoes with one byte changed when asked on port 13.
                    let mut data = u.payload.to_vec();
                    if u.dport == 13 {
                        data[0] ^= 1;
                    }
                    let d = udp(GUEST_IP, u.dport, HOST_IP, u.sport, &data);
                    qemu.send(&from_guest(PROTO_UDP, &d));
                }
            }
        });
        let quick = Duration::from_millis(300);
        assert_eq!(
            wire.who_has(GUEST_IP, 2, Duration::from_secs(10)).unwrap(),
            GUEST_MAC
        );
        assert_eq!(wire.ping(3, 4, b"payload", 3, quick).unwrap(), 2);
        assert_eq!(
            wire.udp_echo(5000, 12, b"data", 2, Duration::from_secs(10))
                .unwrap(),
            1
        );
        let err = wire
            .udp_echo(5000, 13, b"data", 1, Duration::from_secs(10))
            .unwrap_err();
        assert!(err.to_string().contains("differ"), "{err}");
        let unmatched = wire.take_unmatched();
        assert_eq!(unmatched.len(), 1);
        assert!(
            describe(&unmatched[0]).contains("UDP 7 > 7 len 5"),
            "{}",
            describe(&unmatched[0])
        );
        assert!(wire.take_unmatched().is_empty());
        // Dropping the wire closes the connection: the guest's loop ends.
        drop(wire);
        guest.join().unwrap();
    }
}
