//! Pure network formats for user programs: IPv4 text, and the DNS query and reply
//! checks of the MIT net lab (docs/lab.md).
//!
//! Nothing here calls the kernel or allocates, so the host harness compiles this
//! very file (`#[path]`) and checks its DNS responder against the guest's parser.

use core::fmt;

/// Parses dotted-quad text ("10.0.2.2") into an address in host byte order,
/// the form the lab's `send` and `recv` use.
pub fn parse_ipv4(s: &str) -> Option<u32> {
    let mut addr = 0u32;
    let mut parts = 0;
    for part in s.split('.') {
        // At most three digits: "0010" or "256" are not octets.
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let octet: u32 = part.parse().ok()?;
        if octet > 255 {
            return None;
        }
        addr = (addr << 8) | octet;
        parts += 1;
    }
    (parts == 4).then_some(addr)
}

/// Whether `s` is meant as an address rather than a name: only digits and dots (no top-level
/// domain is all digits), so "256.1.1.1" is a bad address, never a name to look up.
pub fn looks_like_ipv4(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
}

/// A port number as a user writes it: 1 to 65535, digits only.
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p != 0)
}

/// Parses "IP:PORT" (for example "10.0.2.2:25053") into (address, port).
pub fn parse_endpoint(s: &str) -> Option<(u32, u16)> {
    let (ip, port) = s.split_once(':')?;
    if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((parse_ipv4(ip)?, port.parse().ok()?))
}

/// Shows an address in host byte order as dotted-quad text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4(pub u32);

impl fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let [a, b, c, d] = self.0.to_be_bytes();
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// The query every version of the lab sends: id 6828, recursion desired, one
/// question `pdos.csail.mit.edu. A IN`.
pub const LAB_DNS_ID: u16 = 6828;
pub const LAB_DNS_NAME: &str = "pdos.csail.mit.edu.";
/// The only answer the lab accepts.
pub const LAB_DNS_ADDR: [u8; 4] = [128, 52, 129, 126];

const DNS_HEADER: usize = 12;
/// Type, class, TTL and data length after a resource record's name.
const DNS_RR_FIXED: usize = 10;
const TYPE_A: u16 = 1;
const TYPE_OPT: u16 = 41;
/// Longest domain name in text form (RFC 1035 §2.3.4, plus the final dot).
const MAX_NAME: usize = 255;

/// Writes a standard query for `name` (labels separated by dots, final dot
/// optional) with type `qtype`, class IN and recursion desired into `buf`.
/// Returns its length, or None if the name is malformed or `buf` too small.
pub fn dns_query(id: u16, name: &str, qtype: u16, buf: &mut [u8]) -> Option<usize> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let qname_len = if name.is_empty() { 1 } else { name.len() + 2 };
    let len = DNS_HEADER + qname_len + 4;
    if len > buf.len() || qname_len > MAX_NAME {
        return None;
    }
    buf[..DNS_HEADER].fill(0);
    buf[0..2].copy_from_slice(&id.to_be_bytes());
    buf[2] = 0x01; // RD
    buf[5] = 1; // QDCOUNT
    let mut at = DNS_HEADER;
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            buf[at] = label.len() as u8;
            buf[at + 1..at + 1 + label.len()].copy_from_slice(label.as_bytes());
            at += 1 + label.len();
        }
    }
    buf[at] = 0;
    at += 1;
    buf[at..at + 2].copy_from_slice(&qtype.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&1u16.to_be_bytes()); // IN
    Some(at + 4)
}

/// Writes the lab's query into `buf` (at least 36 bytes) and returns its length.
pub fn lab_dns_query(buf: &mut [u8]) -> Option<usize> {
    dns_query(LAB_DNS_ID, LAB_DNS_NAME, TYPE_A, buf)
}

/// Why the lab's checker rejected a DNS reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    TooShort,
    NotReply(u16),
    WrongId(u16),
    Rcode(u8),
    /// A name or record runs past the end of the reply.
    Invalid,
    WrongAddress,
    EdnsName,
    EdnsType,
    Length {
        processed: usize,
        received: usize,
    },
    NoARecord,
}

/// The 2024 lab's wording (`dns: ...`).
impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            DnsError::TooShort => write!(f, "DNS reply too short"),
            DnsError::NotReply(id) => write!(f, "Not a DNS reply for {id}"),
            DnsError::WrongId(id) => write!(f, "DNS wrong id: {id}"),
            DnsError::Rcode(r) => write!(f, "DNS rcode error: {r:x}"),
            DnsError::Invalid => write!(f, "dns: invalid DNS reply"),
            DnsError::WrongAddress => write!(f, "dns: wrong ip address"),
            DnsError::EdnsName => write!(f, "dns: invalid name for EDNS"),
            DnsError::EdnsType => write!(f, "dns: invalid type for EDNS"),
            DnsError::Length {
                processed,
                received,
            } => write!(
                f,
                "dns: processed {processed} data bytes but received {received}"
            ),
            DnsError::NoARecord => write!(f, "dns: didn't receive an arecord"),
        }
    }
}

/// The 2020–2023 lab's wording of the same errors (no `dns:` prefix).
pub struct Legacy(pub DnsError);

impl fmt::Display for Legacy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            DnsError::Invalid => write!(f, "invalid DNS reply"),
            DnsError::WrongAddress => write!(f, "wrong ip address"),
            DnsError::EdnsName => write!(f, "invalid name for EDNS"),
            DnsError::EdnsType => write!(f, "invalid type for EDNS"),
            DnsError::Length {
                processed,
                received,
            } => write!(
                f,
                "Processed {processed} data bytes but received {received}"
            ),
            DnsError::NoARecord => write!(f, "Didn't receive an arecord"),
            other => other.fmt(f),
        }
    }
}

/// A domain name decoded from a question, in text form with a final dot.
struct Name {
    buf: [u8; MAX_NAME + 1],
    len: usize,
}

impl Name {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// Decodes the uncompressed name at `at` into text ("a.b." form, as the lab's
/// `decode_qname` leaves it) and returns it with the offset just past it.
fn decode_name(msg: &[u8], mut at: usize) -> Result<(Name, usize), DnsError> {
    let mut name = Name {
        buf: [0; MAX_NAME + 1],
        len: 0,
    };
    loop {
        let l = *msg.get(at).ok_or(DnsError::Invalid)? as usize;
        if l == 0 {
            return Ok((name, at + 1));
        }
        let label = msg.get(at + 1..at + 1 + l).ok_or(DnsError::Invalid)?;
        if name.len + l + 1 > MAX_NAME + 1 {
            return Err(DnsError::Invalid);
        }
        name.buf[name.len..name.len + l].copy_from_slice(label);
        name.buf[name.len + l] = b'.';
        name.len += l + 1;
        at += 1 + l;
    }
}

fn be16(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    let b = msg.get(at..at + 2).ok_or(DnsError::Invalid)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Checks a reply to the lab's query the way the lab's `dns_rep` does, calling
/// `on_a(name, addr)` for every A record before judging its address (the lab
/// prints `DNS arecord for NAME is ADDR` there, then fails if ADDR is wrong).
///
/// The checks, in order: a full header; QR set; id 6828; RCODE 0. Questions are
/// skipped. An answer's name is a 2-byte compression pointer when its first
/// byte is above 63, else an uncompressed name. An A record with 4 bytes of data
/// must be 128.52.129.126. Additional records may only be EDNS OPT (root name,
/// type 41). The parsed length must equal the reply's length, so any authority
/// record fails, and at least one A record must be present.
///
/// One departure: the lab does not skip the data of answers that are not
/// 4-byte A records (so a CNAME desynchronizes its parse); this skips it.
pub fn check_lab_dns_reply(
    msg: &[u8],
    mut on_a: impl FnMut(&str, [u8; 4]),
) -> Result<(), DnsError> {
    if msg.len() < DNS_HEADER {
        return Err(DnsError::TooShort);
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    if msg[2] & 0x80 == 0 {
        return Err(DnsError::NotReply(id));
    }
    if id != LAB_DNS_ID {
        return Err(DnsError::WrongId(id));
    }
    if msg[3] & 0x0f != 0 {
        return Err(DnsError::Rcode(msg[3] & 0x0f));
    }
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    let arcount = be16(msg, 10)?;

    let mut at = DNS_HEADER;
    let mut qname: Option<Name> = None;
    for _ in 0..qdcount {
        let (name, end) = decode_name(msg, at)?;
        qname = Some(name);
        at = end + 4;
    }

    let mut record = false;
    for _ in 0..ancount {
        let first = *msg.get(at).ok_or(DnsError::Invalid)?;
        at = if first > 63 {
            at + 2
        } else {
            decode_name(msg, at)?.1
        };
        let rtype = be16(msg, at)?;
        let rdlen = be16(msg, at + 8)? as usize;
        at += DNS_RR_FIXED;
        let data = msg.get(at..at + rdlen).ok_or(DnsError::Invalid)?;
        if rtype == TYPE_A && rdlen == 4 {
            record = true;
            let addr = [data[0], data[1], data[2], data[3]];
            on_a(qname.as_ref().map_or("", Name::as_str), addr);
            if addr != LAB_DNS_ADDR {
                return Err(DnsError::WrongAddress);
            }
        }
        at += rdlen;
    }

    for _ in 0..arcount {
        if *msg.get(at).ok_or(DnsError::Invalid)? != 0 {
            return Err(DnsError::EdnsName);
        }
        at += 1;
        if be16(msg, at)? != TYPE_OPT {
            return Err(DnsError::EdnsType);
        }
        at += DNS_RR_FIXED + be16(msg, at + 8)? as usize;
    }

    if at != msg.len() {
        return Err(DnsError::Length {
            processed: at,
            received: msg.len(),
        });
    }
    if !record {
        return Err(DnsError::NoARecord);
    }
    Ok(())
}
