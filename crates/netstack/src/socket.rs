//! The socket layer: what every kind of socket shares. `Sockets` owns the
//! socket table, smoltcp's socket set and the TCP pool, and does for any
//! socket what does not depend on its kind: open and close, readiness and the
//! wake-up report after a poll, local ports, and the ingress path's questions
//! (who receives this datagram, which TCP socket takes this segment).
//!
//! A poll names a socket when one of its [`Readiness`] flags rose since the
//! kernel last looked: `Sockets::observe` records a look after every
//! operation, `Sockets::report` after every poll. Both first bring TCP
//! entries up to date with their smoltcp sockets, which change only then, so
//! that `Sockets::readiness` in between is a pure getter.

use core::net::Ipv4Addr;

use abi::errno::*;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{icmp, tcp as smol_tcp, udp};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use crate::blind::{Check, SeqFields};
use crate::classify::Segment;
use crate::counters::DropReason;
use crate::dgram::{self, Dgram, Proto, new_inbox};
use crate::neighbor::{Neighbors, Waiting};
use crate::readiness::Readiness;
use crate::table::{Entry, SocketTable};
pub use crate::table::{MAX_SOCKETS, QUEUE_LEN, SocketId, SocketMask};
use crate::tcp::{Tcp, TcpSocket};
use crate::tcp_pool::{self, SocketLimits, TcpPool};

/// The port namespaces: UDP ports, TCP ports, ICMP echo identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortSpace {
    Udp,
    Tcp,
    Icmp,
}

/// Most bytes of receive queue that `SO_RCVBUF` may allocate for all sockets
/// together (the kernel heap is 16 MiB): seven sockets at the largest value.
pub const RCVBUF_TOTAL: usize = 2 << 20;

/// Linux's ephemeral port range (`ip_local_port_range` is 32768-60999; IANA's
/// 49152-65535 is used here, as by smoltcp's examples).
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// The first ephemeral port to try, from the seed.
fn first_ephemeral(seed: u64) -> u16 {
    let span = u64::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
    EPHEMERAL.start() + (seed % span) as u16
}

/// The interface's address and default gateway, as socket operations check them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Addressing {
    pub ip: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
}

impl Addressing {
    /// `bind`'s address check: any, or ours.
    pub(crate) fn check_local_ip(&self, ip: Ipv4Addr) -> Result<(), Errno> {
        if ip.is_unspecified() || self.ip.map(|c| c.address()) == Some(ip) {
            Ok(())
        } else {
            Err(EADDRNOTAVAIL)
        }
    }

    /// Whether packets to `dst` have somewhere to go: an address of ours, and
    /// `dst` on our subnet or a gateway.
    pub(crate) fn check_reachable(&self, dst: Ipv4Address) -> Result<(), Errno> {
        match self.ip {
            Some(cidr) if cidr.contains_addr(&dst) || self.gateway.is_some() => Ok(()),
            _ => Err(ENETUNREACH),
        }
    }

    /// The neighbour a packet to `dst` goes to, as smoltcp routes it: `dst` on our
    /// subnet, else the gateway. `None` when no neighbour is needed (broadcast,
    /// multicast) or there is no route.
    pub(crate) fn next_hop(&self, dst: Ipv4Address) -> Option<Ipv4Address> {
        let cidr = self.ip?;
        let group = dst.is_broadcast() || dst.is_multicast() || cidr.broadcast() == Some(dst);
        if group || dst.is_unspecified() {
            None
        } else if cidr.contains_addr(&dst) {
            Some(dst)
        } else {
            self.gateway
        }
    }

    /// Whether `ip` is the interface's own address.
    pub(crate) fn is_me(&self, ip: Ipv4Address) -> bool {
        self.ip.is_some_and(|c| c.address() == ip)
    }
}

/// Every socket of one stack.
pub(crate) struct Sockets {
    set: SocketSet<'static>,
    table: SocketTable,
    tcp: TcpPool,
    /// The next ephemeral port to try.
    next_port: u16,
    /// Next hops, and the datagrams that wait for one (see `neighbor.rs`).
    pub(crate) neighbors: Neighbors,
}

impl Sockets {
    pub(crate) fn new(mtu: usize, limits: SocketLimits, seed: u64) -> Sockets {
        Sockets {
            // Room for every socket normal use can have at once (TCP ones, one per table
            // entry, a few of the stack's own), so the set does not grow, and the heap in
            // use stays the same, after a busy moment; beyond that it still grows.
            set: SocketSet::new(alloc::vec::Vec::with_capacity(
                limits.max_tcp + MAX_SOCKETS + 4,
            )),
            table: SocketTable::new(mtu),
            tcp: TcpPool::new(limits),
            next_port: first_ephemeral(seed),
            neighbors: Neighbors::new(crate::classify::ETH_HEADER_LEN + mtu),
        }
    }

    /// smoltcp's sockets, for the interface's polls.
    pub(crate) fn set(&self) -> &SocketSet<'static> {
        &self.set
    }

    pub(crate) fn set_mut(&mut self) -> &mut SocketSet<'static> {
        &mut self.set
    }

    pub(crate) fn table(&self) -> &SocketTable {
        &self.table
    }

    pub(crate) fn table_mut(&mut self) -> &mut SocketTable {
        &mut self.table
    }

    /// smoltcp UDP socket `handle`, of a lab port.
    pub(crate) fn udp(&mut self, handle: SocketHandle) -> &mut udp::Socket<'static> {
        self.set.get_mut::<udp::Socket>(handle)
    }

    /// A smoltcp UDP socket, unbound: a spare one, or a new one.
    pub(crate) fn take_udp(&mut self) -> SocketHandle {
        self.table.take_udp(&mut self.set)
    }

    /// Open sockets, smoltcp TCP sockets, of which orphans, spare UDP sockets,
    /// all smoltcp sockets.
    pub(crate) fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let (tcp, orphans) = self.tcp.counts();
        let open = self.table.open_ids().count();
        let smoltcp = self.set.iter().count();
        (open, tcp, orphans, self.table.spare_udp(), smoltcp)
    }

    /// A new TCP socket; `ENFILE` when the table is full.
    pub(crate) fn open_tcp(&mut self) -> Result<SocketId, Errno> {
        self.table.insert(Entry::Tcp(Tcp::new())).ok_or(ENFILE)
    }

    /// A new datagram socket of `proto`, unbound; `ENFILE` when the table is full.
    pub(crate) fn open_dgram(&mut self, proto: Proto) -> Result<SocketId, Errno> {
        if self.table.is_full() {
            return Err(ENFILE);
        }
        let (handle, inbox) = match proto {
            Proto::Udp => (self.table.take_udp(&mut self.set), None),
            Proto::Icmp => {
                let len = self.table.max_payload() + 8;
                let inbox = new_inbox(QUEUE_LEN, len)?;
                (self.set.add(self.table.new_icmp_socket()), Some(inbox))
            }
        };
        let entry = Entry::Dgram(Dgram::new(proto, handle, inbox));
        Ok(self.table.insert(entry).expect("a slot was free"))
    }

    /// Closes any socket; false if `id` is not open. A TCP connection is
    /// finished gracefully, or reset if `abort`.
    pub(crate) fn close(&mut self, id: SocketId, abort: bool) -> bool {
        match self.table.remove(id) {
            Entry::Free => return false,
            Entry::Lab { handle, .. } => {
                self.neighbors.forget(handle);
                self.table.put_udp(&mut self.set, handle);
            }
            Entry::Dgram(d) => {
                self.neighbors.forget(d.handle);
                match d.proto {
                    // Kept for reuse.
                    Proto::Udp => self.table.put_udp(&mut self.set, d.handle),
                    Proto::Icmp => {
                        self.set.remove(d.handle);
                    }
                }
            }
            Entry::Tcp(t) => t.release(&mut self.tcp, &mut self.set, abort),
        }
        true
    }

    /// TCP socket `id` with what its operations need; `EBADF` if it is not one.
    pub(crate) fn tcp(&mut self, id: SocketId) -> Result<TcpSocket<'_>, Errno> {
        match self.table.entry_mut(id) {
            Some(Entry::Tcp(t)) => Ok(TcpSocket {
                t,
                pool: &mut self.tcp,
                sockets: &mut self.set,
            }),
            _ => Err(EBADF),
        }
    }

    /// Datagram socket `id` and smoltcp's sockets; `EBADF` if it is not one.
    pub(crate) fn dgram(
        &mut self,
        id: SocketId,
    ) -> Result<(&mut Dgram, &mut SocketSet<'static>), Errno> {
        match self.table.entry_mut(id) {
            Some(Entry::Dgram(d)) => Ok((d, &mut self.set)),
            _ => Err(EBADF),
        }
    }

    /// Largest UDP payload one frame carries.
    pub(crate) fn max_payload(&self) -> usize {
        self.table.max_payload()
    }

    /// Sends one datagram (`what` says from which socket, to where): into its smoltcp
    /// socket when the next hop is known, else kept until the neighbour answers (see
    /// `neighbor.rs`). One to our own address never leaves: dropped and counted.
    /// `EAGAIN` when the socket's queue is full.
    pub(crate) fn send_datagram(
        &mut self,
        addr: &Addressing,
        what: Waiting,
        bytes: &[u8],
    ) -> Result<(), Errno> {
        let dst = match what {
            Waiting::Udp { to, .. } => match to.addr {
                smoltcp::wire::IpAddress::Ipv4(ip) => ip,
            },
            Waiting::Echo { to, .. } => to,
            Waiting::Frame => return Err(EINVAL),
        };
        if let Some(hop) = addr.next_hop(dst) {
            if addr.is_me(hop) {
                // smoltcp would ask for its own address forever.
                self.neighbors.dropped += 1;
                return Ok(());
            }
            if self.neighbors.must_wait(hop) {
                self.neighbors.hold(hop, what, bytes);
                return Ok(());
            }
        }
        dgram::enqueue(&mut self.set, what, bytes)
    }

    /// Puts the datagrams whose neighbour answered into their sockets, oldest first,
    /// until one finds its socket full (it waits for a later poll).
    pub(crate) fn release_datagrams(&mut self, now: u64) {
        while let Some((i, what)) = self.neighbors.next_ready_datagram(now) {
            match dgram::enqueue(&mut self.set, what, self.neighbors.bytes(i)) {
                Err(EAGAIN) => break,
                Ok(()) => self.neighbors.release(i),
                Err(_) => {
                    self.neighbors.release(i);
                    self.neighbors.dropped += 1;
                }
            }
        }
    }

    /// Brings TCP socket `id` up to date with its smoltcp socket.
    pub(crate) fn sync(&mut self, id: SocketId) {
        if let Ok(mut t) = self.tcp(id) {
            t.sync();
        }
    }

    /// What socket `id` can do now.
    pub(crate) fn readiness(&self, id: SocketId) -> Readiness {
        match self.table.entry(id) {
            Entry::Free => Readiness::default(),
            Entry::Lab { handle, .. } => {
                let s = self.set.get::<udp::Socket>(*handle);
                Readiness {
                    readable: s.can_recv(),
                    writable: s.can_send(),
                    ..Readiness::default()
                }
            }
            Entry::Dgram(d) => d.readiness(&self.set),
            Entry::Tcp(t) => t.readiness(&self.set),
        }
    }

    /// Records the readiness the caller of an operation on `id` has now seen.
    pub(crate) fn observe(&mut self, id: SocketId) {
        if !matches!(self.table.entry(id), Entry::Free) {
            self.sync(id);
            *self.table.seen_mut(id) = self.readiness(id);
        }
    }

    /// After a poll: the sockets whose readiness rose since last seen, as
    /// (readable, writable). Hang-ups and errors wake readers and writers alike.
    pub(crate) fn report(&mut self) -> (SocketMask, SocketMask) {
        let (mut readable, mut writable) = (SocketMask::default(), SocketMask::default());
        for id in self.table.ids() {
            if matches!(self.table.entry(id), Entry::Free) {
                continue;
            }
            self.sync(id);
            let now = self.readiness(id);
            let seen = self.table.seen_mut(id);
            let rose = now.rose_since(*seen);
            *seen = now;
            if rose.readable || rose.hup || rose.error {
                readable.insert(id);
            }
            if rose.writable || rose.hup || rose.error {
                writable.insert(id);
            }
        }
        (readable, writable)
    }

    /// Whether TCP `port` is taken: by a socket's `bind` (strict: also by
    /// accepted connections and orphans, which an ephemeral port must avoid).
    fn tcp_port_in_use(&self, port: u16, strict: bool) -> bool {
        let by_socket = self.table.entries().any(|e| match e {
            Entry::Tcp(t) => t
                .port()
                .is_some_and(|(p, binds)| p == port && (binds || strict)),
            _ => false,
        });
        by_socket || (strict && self.tcp.orphan_port(&self.set, port))
    }

    fn port_in_use(&self, space: PortSpace, port: u16) -> bool {
        match space {
            PortSpace::Udp => self.table.by_udp_port(port).is_some(),
            PortSpace::Tcp => self.tcp_port_in_use(port, true),
            PortSpace::Icmp => self.table.entries().any(|e| match e {
                Entry::Dgram(d) => d.proto == Proto::Icmp && d.port() == Some(port),
                _ => false,
            }),
        }
    }

    /// A free port (identifier) of `space`, in the ephemeral range, taken in
    /// turn from a start that depends on the random seed.
    pub(crate) fn ephemeral_port(&mut self, space: PortSpace) -> Result<u16, Errno> {
        for _ in EPHEMERAL {
            let port = self.next_port;
            self.next_port = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            if !self.port_in_use(space, port) {
                return Ok(port);
            }
        }
        Err(EADDRINUSE)
    }

    /// The port a `bind` to `port` of `space` gets: an ephemeral one for 0,
    /// else `port` unless taken (`EADDRINUSE`).
    pub(crate) fn claim_port(&mut self, space: PortSpace, port: u16) -> Result<u16, Errno> {
        let taken = |s: &Self| match space {
            // Accepted connections share their listener's port.
            PortSpace::Tcp => s.tcp_port_in_use(port, false),
            _ => s.port_in_use(space, port),
        };
        match port {
            0 => self.ephemeral_port(space),
            _ if taken(self) => Err(EADDRINUSE),
            _ => Ok(port),
        }
    }

    /// The smoltcp socket that will take `seg`, and its state before.
    pub(crate) fn tcp_acceptor(&self, seg: &Segment) -> Option<(SocketHandle, smol_tcp::State)> {
        tcp_pool::acceptor(&self.set, seg)
    }

    /// Whether a listener owns `port` (so a SYN nobody took found it busy).
    pub(crate) fn tcp_listening_on(&self, port: u16) -> bool {
        self.table
            .entries()
            .any(|e| matches!(e, Entry::Tcp(t) if t.listens_on(port)))
    }

    /// A SYN from `src` to `port` found the listener's backlog busy: replaces a
    /// half-open connection if one may be (see [`Tcp::make_room`]).
    pub(crate) fn tcp_make_room(
        &mut self,
        port: u16,
        src: Ipv4Address,
        now: u64,
        heard: impl Fn(Ipv4Address) -> bool,
    ) -> bool {
        let (set, pool) = (&mut self.set, &mut self.tcp);
        self.table.entries_mut().any(|e| match e {
            Entry::Tcp(t) if t.listens_on(port) => t.make_room(pool, set, src, now, &heard),
            _ => false,
        })
    }

    /// What to do with `seg` (for socket `handle`) before smoltcp sees it: a
    /// blind RST or SYN is not delivered (see `blind.rs`).
    pub(crate) fn tcp_check(
        &self,
        handle: SocketHandle,
        seg: &Segment,
        fields: SeqFields,
    ) -> Check {
        let s = self.set.get::<smol_tcp::Socket>(handle);
        let window = s.recv_capacity() - s.recv_queue();
        self.tcp.seqs.check(handle, s.state(), seg, fields, window)
    }

    /// Bytes waiting to be read on smoltcp socket `handle`.
    pub(crate) fn tcp_recv_queue(&self, handle: SocketHandle) -> usize {
        self.set.get::<smol_tcp::Socket>(handle).recv_queue()
    }

    /// Admission of a UDP datagram; see [`SocketTable::admit_udp`].
    pub(crate) fn admit_udp(
        &mut self,
        src: Ipv4Address,
        src_port: u16,
        dst: Ipv4Address,
        dst_port: u16,
    ) -> Result<SocketId, DropReason> {
        self.table.admit_udp(src, src_port, dst, dst_port)
    }

    /// Admission of an ICMP echo; see [`SocketTable::admit_echo`].
    pub(crate) fn admit_echo(
        &mut self,
        ident: u16,
        request: bool,
    ) -> Result<Option<SocketId>, DropReason> {
        self.table.admit_echo(ident, request)
    }

    /// After smoltcp took a datagram admitted for `id`: a socket with an inbox
    /// (echo sockets, UDP sockets after `SO_RCVBUF`) moves it there.
    pub(crate) fn after_datagram(&mut self, id: SocketId) {
        debug_assert!(self.delivered(id), "smoltcp dropped an admitted datagram");
        if let Some(Entry::Dgram(d)) = self.table.entry_mut(id) {
            d.collect(&mut self.set);
        }
    }

    /// `SO_RCVBUF` on datagram socket `id`, within [`RCVBUF_TOTAL`] for all sockets.
    pub(crate) fn set_rcvbuf(&mut self, id: SocketId, bytes: usize) -> Result<(), Errno> {
        let others: usize = self
            .table
            .ids()
            .filter(|&other| other != id)
            .map(|other| match self.table.entry(other) {
                Entry::Dgram(d) => d.rcvbuf_allocated(),
                _ => 0,
            })
            .sum();
        let max_payload = self.max_payload();
        let (d, set) = self.dgram(id)?;
        d.set_rcvbuf(set, bytes, max_payload, RCVBUF_TOTAL.saturating_sub(others))
    }

    /// Whether socket `id` holds a datagram: what admission promised.
    fn delivered(&self, id: SocketId) -> bool {
        let udp = |handle| self.set.get::<udp::Socket>(handle).can_recv();
        match self.table.entry(id) {
            Entry::Lab { handle, .. } => udp(*handle),
            Entry::Dgram(d) if d.proto == Proto::Udp => udp(d.handle),
            Entry::Dgram(d) => self.set.get::<icmp::Socket>(d.handle).can_recv(),
            Entry::Free | Entry::Tcp(_) => false,
        }
    }

    /// After smoltcp processed a segment for smoltcp socket `handle`, which
    /// was in state `before` with `queued` bytes to read: follows its
    /// sequence numbers, and a RST that closed a connection is an error for
    /// its owner.
    pub(crate) fn after_segment(
        &mut self,
        handle: SocketHandle,
        before: smol_tcp::State,
        seg: &Segment,
        fields: Option<SeqFields>,
        queued: usize,
    ) {
        let s = self.set.get::<smol_tcp::Socket>(handle);
        let after = s.state();
        if let Some(fields) = fields {
            let growth = s.recv_queue().saturating_sub(queued);
            self.tcp
                .seqs
                .after(handle, before, after, fields, seg.syn, growth);
        }
        let rst = seg.rst;
        if after != smol_tcp::State::Closed || before == smol_tcp::State::Closed {
            return;
        }
        for entry in self.table.entries_mut() {
            if let Entry::Tcp(t) = entry
                && t.note_closed(handle, rst)
            {
                return;
            }
        }
    }

    /// Before egress, once per poll: re-arm listeners (and drop half-open
    /// connections that waited too long), arm connections' timeouts, drain
    /// orphans and abort those past their deadline.
    pub(crate) fn tcp_housekeeping(&mut self, now: u64) {
        for entry in self.table.entries_mut() {
            if let Entry::Tcp(t) = entry {
                t.tend(&mut self.tcp, &mut self.set, now);
            }
        }
        self.tcp.tend_orphans(&mut self.set, now);
    }

    /// After egress, once per poll: frees the orphans that are done.
    pub(crate) fn tcp_reap(&mut self, now: u64) {
        self.tcp.reap(&mut self.set, now);
    }

    /// The earliest orphan deadline, for `poll_at`.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.tcp.next_deadline()
    }
}
