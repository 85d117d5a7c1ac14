//! Name resolution: an A-record query to a DNS server the caller names
//! (RFC 1035), over a UDP socket of its own, retried on a timer.
//!
//! There is no default server: the kernel passes the one DHCP reported or the
//! one configured. (QEMU's 10.0.2.3 forwards to a real resolver; tests use a
//! responder of their own.)
//!
//! A query is a socket-table entry, so the kernel sleeps on its [`QueryId`]'s
//! socket like on any other, and a poll names it once the answer (or the last
//! timeout) is in. [`NetStack::poll_query`] then returns the addresses and frees it.
//!
//! Wire format, as far as used here:
//!
//! ```text
//! header   id:16 | QR OPCODE:4 AA TC RD | RA Z:3 RCODE:4 | QDCOUNT ANCOUNT NSCOUNT ARCOUNT (16 each)
//! question name (labels, or a 2-byte pointer 0b11xxxxxx) | TYPE:16 | CLASS:16
//! answer   name | TYPE:16 | CLASS:16 | TTL:32 | RDLENGTH:16 | RDATA (4 bytes for an A record)
//! ```

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use abi::errno::*;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use crate::bsd::PortSpace;
use crate::device::NetDevice;
use crate::socket::{Entry, SocketId};
use crate::stack::{Core, NetStack};

/// The DNS server port.
pub const DNS_PORT: u16 = 53;
/// Tries before a query fails with `ETIMEDOUT`, waiting 1, 2 then 4 seconds.
const TRIES: u32 = 3;
const FIRST_TIMEOUT_MS: u64 = 1_000;
/// Longest name, in its dotted form (RFC 1035 section 2.3.4).
const MAX_NAME: usize = 253;

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;

/// Writes a recursive query for the A records of `name` with id `xid`.
/// `EINVAL` for an empty or malformed name.
pub fn encode_query(xid: u16, name: &str) -> Result<Vec<u8>, Errno> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(EINVAL);
    }
    let mut msg = Vec::with_capacity(HEADER_LEN + name.len() + 2 + 4);
    msg.extend_from_slice(&xid.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00]); // RD: recursion desired
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.split('.') {
        let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        if label.is_empty() || label.len() > 63 || !label.bytes().all(ok) {
            return Err(EINVAL);
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&TYPE_A.to_be_bytes());
    msg.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(msg)
}

/// What a datagram from the server says about query `xid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Not an answer to this query (another id, a query, or too short to tell):
    /// keep waiting.
    Unrelated,
    /// The A records found, in order (CNAMEs followed by the server).
    Addresses(Vec<Ipv4Addr>),
    /// The name has no A record or does not exist (`ENODATA`), the server
    /// refused (`ECONNREFUSED`), failed or sent garbage (`EIO`).
    Failed(Errno),
}

/// Reads a response to query `xid`.
pub fn parse_reply(xid: u16, msg: &[u8]) -> Reply {
    if msg.len() < HEADER_LEN || u16::from_be_bytes([msg[0], msg[1]]) != xid || msg[2] & 0x80 == 0 {
        return Reply::Unrelated;
    }
    match msg[3] & 0x0f {
        0 => {}
        3 => return Reply::Failed(ENODATA), // NXDOMAIN
        5 => return Reply::Failed(ECONNREFUSED),
        _ => return Reply::Failed(EIO),
    }
    let count = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let (questions, answers) = (count(4), count(6));
    let mut at = HEADER_LEN;
    let mut addrs = Vec::new();
    for _ in 0..questions {
        match skip_name(msg, at) {
            Some(end) if end + 4 <= msg.len() => at = end + 4,
            _ => return Reply::Failed(EIO),
        }
    }
    for _ in 0..answers {
        let Some(end) = skip_name(msg, at).filter(|&end| end + 10 <= msg.len()) else {
            // A truncated reply (TC) may end early: keep what came.
            break;
        };
        let (typ, class, rdlen) = (count(end), count(end + 2), usize::from(count(end + 8)));
        let rdata = end + 10;
        if rdata + rdlen > msg.len() {
            break;
        }
        if typ == TYPE_A && class == CLASS_IN && rdlen == 4 {
            addrs.push(Ipv4Addr::new(
                msg[rdata],
                msg[rdata + 1],
                msg[rdata + 2],
                msg[rdata + 3],
            ));
        }
        at = rdata + rdlen;
    }
    if addrs.is_empty() {
        Reply::Failed(ENODATA)
    } else {
        Reply::Addresses(addrs)
    }
}

/// The offset just past the name at `at`, or `None` if it runs off the end.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            // A compression pointer ends the name.
            l if l & 0xc0 == 0xc0 => return (at + 2 <= msg.len()).then_some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// Names a query in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryId(SocketId);

impl QueryId {
    /// The socket the kernel sleeps on while the query runs.
    pub fn socket(self) -> SocketId {
        self.0
    }
}

/// How a query stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryStatus {
    Pending,
    /// The addresses; the query is over and its id free.
    Ready(Vec<Ipv4Addr>),
}

enum Progress {
    /// Sent `tries` times; the next try or the verdict is due at `deadline`
    /// (the first poll sets the first one: `start_query` has no clock).
    Waiting {
        tries: u32,
        deadline: Option<u64>,
    },
    Done(Result<Vec<Ipv4Addr>, Errno>),
}

/// A query's socket-table entry.
pub(crate) struct Query {
    pub handle: SocketHandle,
    pub port: u16,
    server: Ipv4Address,
    xid: u16,
    /// Admitted replies not yet read.
    pub queued: usize,
    /// The query datagram, kept for retries.
    request: Vec<u8>,
    progress: Progress,
}

impl Query {
    /// Whether a datagram from `src:src_port` to `dst_port` is a reply to this query.
    pub(crate) fn receives(&self, src: Ipv4Address, src_port: u16, dst_port: u16) -> bool {
        dst_port == self.port && src == self.server && src_port == DNS_PORT
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.progress, Progress::Done(_))
    }

    fn send(&self, sockets: &mut SocketSet<'static>) {
        let to = IpEndpoint::new(IpAddress::Ipv4(self.server), DNS_PORT);
        // A full send queue only means an earlier copy is still waiting to go.
        let _ = sockets
            .get_mut::<udp::Socket>(self.handle)
            .send_slice(&self.request, to);
    }

    /// Reads the replies that arrived and runs the retry timer; returns how
    /// many admitted datagrams it took.
    fn advance(&mut self, sockets: &mut SocketSet<'static>, now: u64) -> usize {
        let mut taken = 0;
        while let Ok((msg, _)) = sockets.get_mut::<udp::Socket>(self.handle).recv() {
            taken += 1;
            if self.is_done() {
                continue;
            }
            match parse_reply(self.xid, msg) {
                Reply::Unrelated => {}
                Reply::Addresses(addrs) => self.progress = Progress::Done(Ok(addrs)),
                Reply::Failed(e) => self.progress = Progress::Done(Err(e)),
            }
        }
        if let Progress::Waiting { tries, deadline } = &mut self.progress {
            let due = *deadline.get_or_insert(now + (FIRST_TIMEOUT_MS << (*tries - 1)));
            if now >= due {
                if *tries == TRIES {
                    self.progress = Progress::Done(Err(ETIMEDOUT));
                } else {
                    *tries += 1;
                    *deadline = Some(now + (FIRST_TIMEOUT_MS << (*tries - 1)));
                    self.send(sockets);
                }
            }
        }
        taken
    }

    fn deadline(&self) -> Option<u64> {
        match self.progress {
            Progress::Waiting { deadline, .. } => deadline,
            Progress::Done(_) => None,
        }
    }
}

impl<D: NetDevice> NetStack<D> {
    /// Asks `server` for the IPv4 addresses of `name`. The query leaves with
    /// the next poll. `EINVAL` for a bad name, `ENETUNREACH` without a route,
    /// `ENFILE` when the socket table is full.
    pub fn start_query(&mut self, name: &str, server: Ipv4Address) -> Result<QueryId, Errno> {
        let core = &mut self.core;
        core.rng ^= core.rng << 13;
        core.rng ^= core.rng >> 7;
        core.rng ^= core.rng << 17;
        let xid = core.rng as u16;
        let request = encode_query(xid, name)?;
        if server.is_unspecified() {
            return Err(EINVAL);
        }
        core.check_reachable(server)?;
        if core.table.is_full() {
            return Err(ENFILE);
        }
        let port = core.ephemeral_port(PortSpace::Udp)?;
        let handle = core.table.take_udp(&mut core.sockets);
        // An unbound socket and a non-zero port: this cannot fail.
        let _ = core.sockets.get_mut::<udp::Socket>(handle).bind(port);
        let query = Query {
            handle,
            port,
            server,
            xid,
            queued: 0,
            request,
            progress: Progress::Waiting {
                tries: 1,
                deadline: None,
            },
        };
        query.send(&mut core.sockets);
        let id = core
            .table
            .insert(Entry::Query(query))
            .expect("a slot was free");
        core.observe(id);
        Ok(QueryId(id))
    }

    /// How query `q` stands. Once it is over (addresses, or an error such as
    /// `ENODATA` or `ETIMEDOUT`), `q` is freed.
    pub fn poll_query(&mut self, q: QueryId) -> Result<QueryStatus, Errno> {
        let core = &mut self.core;
        let Some(Entry::Query(query)) = core.table.entry_mut(q.0) else {
            return Err(EBADF);
        };
        let result = match &mut query.progress {
            Progress::Waiting { .. } => {
                core.observe(q.0);
                return Ok(QueryStatus::Pending);
            }
            Progress::Done(result) => core::mem::replace(result, Err(EBADF)),
        };
        core.close_socket(q.0);
        result.map(QueryStatus::Ready)
    }

    /// Gives up on query `q` (e.g. its process was killed).
    pub fn cancel_query(&mut self, q: QueryId) {
        if matches!(self.core.table.entry(q.0), Entry::Query(_)) {
            self.core.close_socket(q.0);
        }
    }
}

impl Core {
    /// Once per poll: replies and retries of every query.
    pub(crate) fn dns_housekeeping(&mut self, now: u64) {
        for id in self.table.ids() {
            let Some(Entry::Query(q)) = self.table.entry_mut(id) else {
                continue;
            };
            for _ in 0..q.advance(&mut self.sockets, now) {
                self.table.dequeued(id);
            }
        }
    }

    /// The earliest retry or timeout of a query, for `poll_at`.
    pub(crate) fn dns_deadline(&self) -> Option<u64> {
        self.table
            .entries()
            .filter_map(|e| match e {
                Entry::Query(q) => q.deadline(),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = encode_query(0x1234, "a.bc.").unwrap();
        let want = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header
            1, b'a', 2, b'b', b'c', 0, // name
            0, 1, 0, 1, // A, IN
        ];
        assert_eq!(q, want);
        assert_eq!(encode_query(1, ""), Err(EINVAL));
        assert_eq!(encode_query(1, "a..b"), Err(EINVAL));
        assert_eq!(encode_query(1, "a b"), Err(EINVAL));
        assert_eq!(encode_query(1, &"x".repeat(64)), Err(EINVAL));
    }

    /// A reply as a resolver writes it: the question echoed, a CNAME with a
    /// compressed name, then two A records pointing back at it.
    fn reply(xid: u16, rcode: u8) -> Vec<u8> {
        let mut m = encode_query(xid, "www.test").unwrap();
        m[2] = 0x81; // QR, RD
        m[3] = 0x80 | rcode; // RA
        m[7] = 3; // three answers
        // www.test CNAME web.test (name is a pointer to offset 12)
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend_from_slice(&[3, b'w', b'e', b'b', 0xc0, 16]);
        // web.test: header 12 + question 14 + answer header 12.
        let web = 38;
        for last in [7u8, 8] {
            m.extend_from_slice(&[0xc0, web, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            m.extend_from_slice(&[10, 0, 2, last]);
        }
        m
    }

    #[test]
    fn reply_with_cname_and_two_addresses() {
        assert_eq!(
            parse_reply(7, &reply(7, 0)),
            Reply::Addresses(vec![Ipv4Addr::new(10, 0, 2, 7), Ipv4Addr::new(10, 0, 2, 8)])
        );
    }

    #[test]
    fn errors_and_strangers() {
        assert_eq!(parse_reply(8, &reply(7, 0)), Reply::Unrelated);
        assert_eq!(
            parse_reply(7, &encode_query(7, "x").unwrap()),
            Reply::Unrelated
        );
        assert_eq!(parse_reply(7, &reply(7, 3)), Reply::Failed(ENODATA));
        assert_eq!(parse_reply(7, &reply(7, 5)), Reply::Failed(ECONNREFUSED));
        assert_eq!(parse_reply(7, &reply(7, 2)), Reply::Failed(EIO));
        let mut none = reply(7, 0);
        none[7] = 0;
        assert_eq!(parse_reply(7, &none), Reply::Failed(ENODATA));
    }

    #[test]
    fn truncations_never_panic() {
        let full = reply(7, 0);
        for n in 0..full.len() {
            let _ = parse_reply(7, &full[..n]);
        }
        // Cut inside the second A record: the first is kept.
        let cut = &full[..full.len() - 2];
        assert_eq!(
            parse_reply(7, cut),
            Reply::Addresses(vec![Ipv4Addr::new(10, 0, 2, 7)])
        );
    }
}
