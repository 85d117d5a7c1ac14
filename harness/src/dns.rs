//! A tiny DNS responder on 127.0.0.1, the resolver of every test: no test asks a real one, so
//! nothing leaves the machine.
//!
//! It answers standard queries from a fixed table of A records, by default the net lab's one
//! (`pdos.csail.mit.edu` → 128.52.129.126). A reply copies the question, points its answer's name at
//! it (`0xc00c`), has no authority section, and echoes an EDNS OPT record only when the query had
//! one: exactly what the lab's strict checker (`nettest`'s `dns`) accepts. Unknown names get
//! NXDOMAIN; known names asked for another type get an empty NOERROR. The guest reaches it as
//! 10.0.2.2:[`DnsResponder::port`] through QEMU's user network.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::lab::Limits;

/// The name the net lab looks up, and the only answer it accepts.
pub const LAB_NAME: &str = "pdos.csail.mit.edu";
pub const LAB_ADDR: Ipv4Addr = Ipv4Addr::new(128, 52, 129, 126);

const HEADER: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_OPT: u16 = 41;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
/// The UDP payload size the OPT echo advertises (the DNS flag day's safe size).
const EDNS_UDP_SIZE: u16 = 1232;
/// TTL of the answers, in seconds.
const TTL: u32 = 300;

/// One name → address record (names compare without case and without a final dot).
pub type Record = (String, Ipv4Addr);

/// The lab's table: one A record.
pub fn lab_records() -> Vec<Record> {
    vec![(LAB_NAME.to_string(), LAB_ADDR)]
}

/// A responder thread on a UDP socket of 127.0.0.1; stops when dropped or when its [`Limits`] run out.
pub struct DnsResponder {
    port: u16,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsResponder {
    /// Serves the lab's record on a port the OS picks, with the default [`Limits`].
    pub fn start() -> io::Result<DnsResponder> {
        DnsResponder::serve(0, lab_records(), Limits::default())
    }

    /// Serves `records` on 127.0.0.1:`port` (0: the OS picks).
    pub fn serve(port: u16, records: Vec<Record>, limits: Limits) -> io::Result<DnsResponder> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
        sock.set_read_timeout(Some(crate::lab::POLL))?;
        let port = sock.local_addr()?.port();
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (answered, stop) = (Arc::clone(&answered), Arc::clone(&stop));
            thread::spawn(move || run(sock, &records, limits, &answered, &stop))
        };
        Ok(DnsResponder {
            port,
            answered,
            stop,
            thread: Some(thread),
        })
    }

    /// The UDP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many queries were answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    sock: UdpSocket,
    records: &[Record],
    limits: Limits,
    answered: &AtomicUsize,
    stop: &AtomicBool,
) {
    let deadline = Instant::now() + limits.duration;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed)
        && Instant::now() < deadline
        && answered.load(Ordering::Relaxed) < limits.packets
    {
        let (n, from): (usize, SocketAddr) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            // Timeouts let the loop look at `stop`; other errors (an ICMP error reported on the
            // socket) concern one peer only.
            Err(_) => continue,
        };
        if let Some(reply) = answer(&buf[..n], records) {
            // Counted before it is sent: whoever got the reply must see it counted.
            answered.fetch_add(1, Ordering::Relaxed);
            if sock.send_to(&reply, from).is_err() {
                answered.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Skips the uncompressed name at `at` (queries carry no pointers) and returns it in lower case,
/// labels joined by dots, with the offset past it.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    loop {
        let len = *msg.get(at)? as usize;
        if len == 0 {
            return Some((name, at + 1));
        }
        if len > 63 || name.len() + len > 253 {
            return None;
        }
        let label = msg.get(at + 1..at + 1 + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
        at += 1 + len;
    }
}

/// A reply header for `query`'s id, opcode and RD bit.
fn header(query: &[u8], rcode: u8, counts: [u16; 4]) -> Vec<u8> {
    let mut h = vec![0u8; HEADER];
    h[0..2].copy_from_slice(&query[0..2]);
    // QR, the query's opcode, AA, and its RD bit; RA; the rcode.
    h[2] = 0x80 | (query[2] & 0x78) | 0x04 | (query[2] & 0x01);
    h[3] = 0x80 | rcode;
    for (i, c) in counts.iter().enumerate() {
        h[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
    }
    h
}

/// The reply to one datagram, or None for what deserves none (a response, or fewer than 12 bytes).
pub fn answer(query: &[u8], records: &[Record]) -> Option<Vec<u8>> {
    if query.len() < HEADER || query[2] & 0x80 != 0 {
        return None;
    }
    if (query[2] >> 3) & 0x0f != 0 {
        return Some(header(query, RCODE_NOTIMP, [0; 4]));
    }
    let formerr = || Some(header(query, RCODE_FORMERR, [0; 4]));
    if be16(query, 4)? != 1 {
        return formerr();
    }
    let Some((name, qend)) = read_name(query, HEADER) else {
        return formerr();
    };
    let (Some(qtype), Some(qclass)) = (be16(query, qend), be16(query, qend + 2)) else {
        return formerr();
    };
    let question = &query[HEADER..qend + 4];
    // An OPT record among the additional ones (a query has no answers or authority).
    let edns = be16(query, 10)? > 0
        && query.get(qend + 4) == Some(&0)
        && be16(query, qend + 5) == Some(TYPE_OPT);

    let name = name.trim_end_matches('.');
    let matches: Vec<Ipv4Addr> = records
        .iter()
        .filter(|(n, _)| n.trim_end_matches('.').eq_ignore_ascii_case(name))
        .map(|(_, a)| *a)
        .collect();
    let rcode = if matches.is_empty() {
        RCODE_NXDOMAIN
    } else {
        0
    };
    let answers: &[Ipv4Addr] = if qclass == CLASS_IN && (qtype == TYPE_A || qtype == TYPE_ANY) {
        &matches
    } else {
        &[]
    };

    let mut reply = header(query, rcode, [1, answers.len() as u16, 0, u16::from(edns)]);
    reply.extend_from_slice(question);
    for addr in answers {
        reply.extend_from_slice(&[0xc0, HEADER as u8]); // the name: a pointer to the question's
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&TTL.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&addr.octets());
    }
    if edns {
        reply.push(0); // root name
        reply.extend_from_slice(&TYPE_OPT.to_be_bytes());
        reply.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
        reply.extend_from_slice(&0u32.to_be_bytes()); // extended rcode, version 0, no flags
        reply.extend_from_slice(&0u16.to_be_bytes());
    }
    Some(reply)
}

/// A standard query (RD set) for `name` with `qtype`, class IN; with an EDNS OPT record if `edns`.
/// For tests and peers that act as clients.
pub fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0u8; HEADER];
    q[0..2].copy_from_slice(&id.to_be_bytes());
    q[2] = 0x01;
    q[5] = 1;
    q[11] = u8::from(edns);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

/// Waits up to `timeout` for the reply to `q` from the responder on 127.0.0.1:`port`.
pub fn ask(port: u16, q: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.set_read_timeout(Some(timeout))?;
    sock.send_to(q, (Ipv4Addr::LOCALHOST, port))?;
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf)?;
    Ok(buf[..n].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reply says, parsed independently of `answer`.
    #[derive(Debug, PartialEq)]
    struct Parsed {
        id: u16,
        flags: u16,
        counts: [u16; 4],
        question: (String, u16, u16),
        /// (name pointer, type, class, ttl, address)
        answers: Vec<(u16, u16, u16, u32, Ipv4Addr)>,
        /// (type, udp size, ttl, rdlen) of the additional records
        additional: Vec<(u16, u16, u32, u16)>,
    }

    fn parse(r: &[u8]) -> Parsed {
        let u16_at = |at: usize| u16::from_be_bytes([r[at], r[at + 1]]);
        let u32_at = |at: usize| u32::from_be_bytes(r[at..at + 4].try_into().unwrap());
        let counts = [u16_at(4), u16_at(6), u16_at(8), u16_at(10)];
        let (qname, at) = read_name(r, HEADER).unwrap();
        let question = (qname, u16_at(at), u16_at(at + 2));
        let mut at = at + 4;
        let mut answers = Vec::new();
        for _ in 0..counts[1] {
            let rdlen = u16_at(at + 10);
            assert_eq!(rdlen, 4);
            let a = &r[at + 12..at + 16];
            answers.push((
                u16_at(at),
                u16_at(at + 2),
                u16_at(at + 4),
                u32_at(at + 6),
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
            ));
            at += 16;
        }
        assert_eq!(counts[2], 0, "no authority section");
        let mut additional = Vec::new();
        for _ in 0..counts[3] {
            assert_eq!(r[at], 0, "root name");
            additional.push((
                u16_at(at + 1),
                u16_at(at + 3),
                u32_at(at + 5),
                u16_at(at + 9),
            ));
            at += 11 + u16_at(at + 9) as usize;
        }
        assert_eq!(at, r.len(), "nothing after the last record");
        Parsed {
            id: u16_at(0),
            flags: u16_at(2),
            counts,
            question,
            answers,
            additional,
        }
    }

    #[test]
    fn the_labs_query_gets_one_compressed_a_record() {
        let q = query(6828, "pdos.csail.mit.edu.", TYPE_A, false);
        let r = answer(&q, &lab_records()).unwrap();
        assert_eq!(
            parse(&r),
            Parsed {
                id: 6828,
                // QR, AA, RD, RA, NOERROR
                flags: 0x8580,
                counts: [1, 1, 0, 0],
                question: ("pdos.csail.mit.edu".into(), TYPE_A, CLASS_IN),
                answers: vec![(0xc00c, TYPE_A, CLASS_IN, TTL, LAB_ADDR)],
                additional: vec![],
            }
        );
        // The question is copied byte for byte.
        assert_eq!(r[HEADER..q.len()], q[HEADER..]);
    }

    #[test]
    fn edns_is_echoed_only_when_asked() {
        let q = query(1, "PDOS.csail.MIT.edu", TYPE_A, true);
        let p = parse(&answer(&q, &lab_records()).unwrap());
        assert_eq!(p.counts, [1, 1, 0, 1]);
        assert_eq!(p.answers[0].4, LAB_ADDR);
        assert_eq!(p.additional, [(TYPE_OPT, EDNS_UDP_SIZE, 0, 0)]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_other_types_nodata() {
        let p = parse(&answer(&query(2, "example.com", TYPE_A, false), &lab_records()).unwrap());
        assert_eq!(
            (p.flags & 0x0f, p.counts),
            (RCODE_NXDOMAIN as u16, [1, 0, 0, 0])
        );
        let aaaa = 28;
        let p = parse(&answer(&query(3, LAB_NAME, aaaa, false), &lab_records()).unwrap());
        assert_eq!((p.flags & 0x0f, p.counts), (0, [1, 0, 0, 0]));
    }

    #[test]
    fn malformed_queries_get_formerr_and_responses_nothing() {
        let mut two_questions = query(4, LAB_NAME, TYPE_A, false);
        two_questions[5] = 2;
        let r = answer(&two_questions, &lab_records()).unwrap();
        assert_eq!((r.len(), r[3] & 0x0f), (HEADER, RCODE_FORMERR));

        let q = query(5, LAB_NAME, TYPE_A, false);
        let truncated = &q[..q.len() - 3];
        assert_eq!(
            answer(truncated, &lab_records()).unwrap()[3] & 0x0f,
            RCODE_FORMERR
        );

        let mut response = q.clone();
        response[2] |= 0x80;
        assert_eq!(answer(&response, &lab_records()), None);
        assert_eq!(answer(&q[..11], &lab_records()), None);

        let mut status = q;
        status[2] |= 2 << 3; // opcode STATUS
        assert_eq!(
            answer(&status, &lab_records()).unwrap()[3] & 0x0f,
            RCODE_NOTIMP
        );
    }

    #[test]
    fn several_records_for_one_name_are_all_answered() {
        let records = vec![
            ("h.test".to_string(), Ipv4Addr::new(10, 0, 2, 2)),
            ("h.test.".to_string(), Ipv4Addr::new(10, 0, 2, 9)),
        ];
        let p = parse(&answer(&query(6, "h.test", TYPE_A, false), &records).unwrap());
        let addrs: Vec<_> = p.answers.iter().map(|a| a.4).collect();
        assert_eq!(
            addrs,
            [Ipv4Addr::new(10, 0, 2, 2), Ipv4Addr::new(10, 0, 2, 9)]
        );
    }

    #[test]
    fn the_responder_answers_over_udp_and_stops_on_drop() {
        let dns = DnsResponder::start().unwrap();
        let q = query(6828, LAB_NAME, TYPE_A, false);
        let r = ask(dns.port(), &q, Duration::from_secs(5)).unwrap();
        assert_eq!(parse(&r).answers[0].4, LAB_ADDR);
        assert_eq!(dns.answered(), 1);
        let port = dns.port();
        let start = Instant::now();
        drop(dns);
        assert!(start.elapsed() < Duration::from_secs(2));
        // The port is free again.
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn the_responder_stops_after_its_packet_limit() {
        let limits = Limits {
            packets: 1,
            ..Limits::default()
        };
        let dns = DnsResponder::serve(0, lab_records(), limits).unwrap();
        let q = query(1, LAB_NAME, TYPE_A, false);
        ask(dns.port(), &q, Duration::from_secs(5)).unwrap();
        assert!(ask(dns.port(), &q, Duration::from_millis(300)).is_err());
    }
}
