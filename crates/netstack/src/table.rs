//! The socket table: every socket the kernel can name, what kind it is, and
//! which one an arriving UDP datagram or ICMP echo belongs to.
//!
//! A slot holds one `Entry`: a net-lab port, a BSD datagram socket (UDP or ICMP
//! echo) or a BSD TCP socket. Entries own their smoltcp sockets through handles;
//! the kinds' operations live in `lab.rs`, `dgram.rs` and `tcp.rs`, what all
//! kinds share in `socket.rs`; this file only finds, counts and recycles.
//!
//! smoltcp demultiplexes UDP by local port only, and ICMP echoes by identifier,
//! and it drops silently when a buffer is full. So the choice of receiver and the
//! per-socket queue limit are made here, in `SocketTable::admit_udp` and
//! `SocketTable::admit_echo`, before smoltcp sees the frame; smoltcp's buffers are
//! sized so that it never has to drop what we admitted.
//!
//! Slots are never freed back to the allocator, and a closed UDP socket keeps its
//! smoltcp socket and buffers in a spare list for the next one, so steady
//! datagram traffic and socket churn allocate nothing. (TCP sockets are freed:
//! their buffers are large and the kernel heap is not.)

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{icmp, udp};
use smoltcp::wire::Ipv4Address;

use crate::counters::DropReason;
use crate::dgram::{Dgram, Proto};
use crate::readiness::Readiness;
use crate::tcp::Tcp;

/// Most sockets open at once (one bit each in a [`SocketMask`]).
pub const MAX_SOCKETS: usize = 128;

/// Most datagrams a receiving socket queues; newer ones are dropped and
/// counted. The net lab requires at most 16 (its `ping3` test floods a port).
/// A BSD UDP socket may be given more (or fewer) with `SO_RCVBUF`.
pub const QUEUE_LEN: usize = 16;

/// Datagrams a socket can hold while they wait for a free TX slot or an ARP
/// reply; when full, sends return `WouldBlock`/`EAGAIN`.
pub(crate) const TX_QUEUE_LEN: usize = 8;

/// Names one socket for the kernel: a file refers to it, a sleeper waits on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketId(u8);

impl SocketId {
    /// The slot number, 0..[`MAX_SOCKETS`]: handy for a wait-channel address.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A set of sockets, one bit per slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketMask(u128);

impl SocketMask {
    pub(crate) fn insert(&mut self, id: SocketId) {
        self.0 |= 1 << id.0;
    }

    pub fn contains(self, id: SocketId) -> bool {
        self.0 & (1 << id.0) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = SocketId> {
        (0..MAX_SOCKETS as u8)
            .map(SocketId)
            .filter(move |&id| self.contains(id))
    }
}

/// What a net-lab port is being used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabState {
    /// The net lab's `send` from a port nobody bound (`ping3` sends from 2010).
    /// It only transmits: datagrams arriving for it are dropped as `NoSocket`.
    SendOnly { port: u16 },
    /// The net lab's `bind(port)`: receives every datagram to `port`.
    Bound { port: u16, queued: usize },
    /// The 2020 lab's `connect(raddr, lport, rport)`: receives only from
    /// `remote`, sends only to it.
    Connected {
        port: u16,
        remote: (Ipv4Address, u16),
        queued: usize,
    },
}

impl LabState {
    pub(crate) fn port(&self) -> u16 {
        match *self {
            LabState::SendOnly { port }
            | LabState::Bound { port, .. }
            | LabState::Connected { port, .. } => port,
        }
    }

    /// Whether a datagram from `src:src_port` to `dst_port` is for this socket.
    fn receives(&self, src: Ipv4Address, src_port: u16, dst_port: u16) -> bool {
        match *self {
            LabState::SendOnly { .. } => false,
            LabState::Bound { port, .. } => port == dst_port,
            LabState::Connected { port, remote, .. } => {
                port == dst_port && remote == (src, src_port)
            }
        }
    }
}

/// What a slot holds.
pub(crate) enum Entry {
    Free,
    /// A net-lab port over a smoltcp UDP socket.
    Lab {
        handle: SocketHandle,
        state: LabState,
    },
    /// A BSD UDP or ICMP echo socket.
    Dgram(Dgram),
    /// A BSD TCP socket.
    Tcp(Tcp),
}

impl Entry {
    /// The UDP port this entry receives on, if it holds a bound UDP socket.
    fn udp_port(&self) -> Option<u16> {
        match self {
            Entry::Lab { state, .. } => Some(state.port()),
            Entry::Dgram(d) if d.proto == Proto::Udp => d.port(),
            _ => None,
        }
    }

    /// The count of admitted datagrams not yet taken, for entries that receive them,
    /// and how many they may hold (a lab port always [`QUEUE_LEN`]).
    fn queued_mut(&mut self) -> Option<(&mut usize, usize)> {
        match self {
            Entry::Lab {
                state: LabState::Bound { queued, .. } | LabState::Connected { queued, .. },
                ..
            } => Some((queued, QUEUE_LEN)),
            Entry::Dgram(d) => Some((&mut d.queued, d.capacity)),
            _ => None,
        }
    }
}

struct Slot {
    entry: Entry,
    /// The readiness last reported by a poll or observed by an operation; a
    /// poll reports a socket only when some flag rises above this.
    seen: Readiness,
}

/// All sockets, indexed by [`SocketId`].
pub(crate) struct SocketTable {
    slots: Vec<Slot>,
    /// Closed UDP sockets, unbound, with their buffers, for reuse.
    spare_udp: Vec<SocketHandle>,
    /// Largest UDP payload one frame carries (MTU - IPv4 header - UDP header).
    max_payload: usize,
}

impl SocketTable {
    pub(crate) fn new(mtu: usize) -> Self {
        // Both are bounded by MAX_SOCKETS: allocated once here, they never grow, so the
        // heap in use does not depend on how many sockets were ever open at once.
        SocketTable {
            slots: Vec::with_capacity(MAX_SOCKETS),
            spare_udp: Vec::with_capacity(MAX_SOCKETS),
            max_payload: mtu - 20 - 8,
        }
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    pub(crate) fn entry(&self, id: SocketId) -> &Entry {
        self.slots
            .get(id.index())
            .map_or(&Entry::Free, |s| &s.entry)
    }

    /// The entry of `id`; `None` for a free or never-used slot.
    pub(crate) fn entry_mut(&mut self, id: SocketId) -> Option<&mut Entry> {
        match self.slots.get_mut(id.index()) {
            Some(Slot {
                entry: Entry::Free, ..
            })
            | None => None,
            Some(slot) => Some(&mut slot.entry),
        }
    }

    pub(crate) fn seen_mut(&mut self, id: SocketId) -> &mut Readiness {
        &mut self.slots[id.index()].seen
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SocketId> + use<> {
        (0..self.slots.len() as u8).map(SocketId)
    }

    /// Ids of the open sockets.
    pub(crate) fn open_ids(&self) -> impl Iterator<Item = SocketId> + '_ {
        self.ids()
            .filter(|&id| !matches!(self.entry(id), Entry::Free))
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().map(|s| &s.entry)
    }

    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.slots.iter_mut().map(|s| &mut s.entry)
    }

    /// Whether every slot is taken.
    pub(crate) fn is_full(&self) -> bool {
        self.slots.len() == MAX_SOCKETS && self.open_ids().count() == MAX_SOCKETS
    }

    /// Puts `entry` in a free slot; `None` when all [`MAX_SOCKETS`] are taken.
    pub(crate) fn insert(&mut self, entry: Entry) -> Option<SocketId> {
        let seen = Readiness::default();
        let id = match self.ids().find(|&id| matches!(self.entry(id), Entry::Free)) {
            Some(id) => id,
            None if self.slots.len() < MAX_SOCKETS => {
                self.slots.push(Slot {
                    entry: Entry::Free,
                    seen,
                });
                SocketId(self.slots.len() as u8 - 1)
            }
            None => return None,
        };
        self.slots[id.index()] = Slot { entry, seen };
        Some(id)
    }

    /// Empties slot `id` and returns what it held; the caller releases its sockets.
    pub(crate) fn remove(&mut self, id: SocketId) -> Entry {
        match self.slots.get_mut(id.index()) {
            Some(slot) => {
                slot.seen = Readiness::default();
                core::mem::replace(&mut slot.entry, Entry::Free)
            }
            None => Entry::Free,
        }
    }

    /// A smoltcp UDP socket, unbound: a spare one, or a new one.
    pub(crate) fn take_udp(&mut self, sockets: &mut SocketSet<'static>) -> SocketHandle {
        match self.spare_udp.pop() {
            Some(handle) => handle,
            None => sockets.add(self.new_udp_socket()),
        }
    }

    /// Gives a UDP socket back: what it queued, in and out, is discarded.
    pub(crate) fn put_udp(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        sockets.get_mut::<udp::Socket>(handle).close();
        self.spare_udp.push(handle);
    }

    /// How many closed UDP sockets wait for reuse.
    pub(crate) fn spare_udp(&self) -> usize {
        self.spare_udp.len()
    }

    /// The open socket receiving on UDP `port`, whatever its kind.
    pub(crate) fn by_udp_port(&self, port: u16) -> Option<SocketId> {
        self.ids()
            .find(|&id| self.entry(id).udp_port() == Some(port))
    }

    /// The net-lab port on `port`, if that is what uses it.
    pub(crate) fn lab_port(&self, port: u16) -> Option<(SocketId, SocketHandle, LabState)> {
        let id = self.by_udp_port(port)?;
        match *self.entry(id) {
            Entry::Lab { handle, state } => Some((id, handle, state)),
            _ => None,
        }
    }

    /// The queue policy, applied to a well-formed UDP datagram for us: find the
    /// socket that receives it and reserve it a place in that socket's queue.
    pub(crate) fn admit_udp(
        &mut self,
        src: Ipv4Address,
        src_port: u16,
        dst: Ipv4Address,
        dst_port: u16,
    ) -> Result<SocketId, DropReason> {
        let receives = |entry: &Entry| match entry {
            Entry::Lab { state, .. } => state.receives(src, src_port, dst_port),
            Entry::Dgram(d) => d.proto == Proto::Udp && d.receives(src, src_port, dst, dst_port),
            Entry::Free | Entry::Tcp(_) => false,
        };
        let id = self
            .ids()
            .find(|&id| receives(self.entry(id)))
            .ok_or(DropReason::NoSocket)?;
        self.reserve(id)
    }

    /// The queue policy for an ICMP echo: an echo socket with that identifier
    /// queues replies. smoltcp hands it requests too (and answers them): those
    /// are thrown away as soon as smoltcp stored them, so they take no place.
    /// `Ok(None)`: no socket, smoltcp just answers the request.
    pub(crate) fn admit_echo(
        &mut self,
        ident: u16,
        request: bool,
    ) -> Result<Option<SocketId>, DropReason> {
        let owner = self.ids().find(|&id| match self.entry(id) {
            Entry::Dgram(d) => d.proto == Proto::Icmp && d.port() == Some(ident),
            _ => false,
        });
        match owner {
            Some(id) if request => Ok(Some(id)),
            Some(id) => self.reserve(id).map(Some),
            None if request => Ok(None),
            None => Err(DropReason::NoSocket),
        }
    }

    fn reserve(&mut self, id: SocketId) -> Result<SocketId, DropReason> {
        let (queued, capacity) = self.slots[id.index()]
            .entry
            .queued_mut()
            .ok_or(DropReason::NoSocket)?;
        if *queued >= capacity {
            return Err(DropReason::QueueFull);
        }
        *queued += 1;
        Ok(id)
    }

    /// Records that one admitted datagram was taken off `id`'s queue.
    pub(crate) fn dequeued(&mut self, id: SocketId) {
        if let Some((queued, _)) = self.slots[id.index()].entry.queued_mut() {
            *queued -= 1;
        }
    }

    /// A UDP socket whose receive buffer can never overflow before `admit_udp`
    /// says the queue is full. smoltcp's packet ring may spend one metadata
    /// entry and less than one payload on padding when it wraps, hence the +1.
    fn new_udp_socket(&self) -> udp::Socket<'static> {
        let rx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; QUEUE_LEN + 1],
            vec![0; (QUEUE_LEN + 1) * self.max_payload],
        );
        let tx = udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; TX_QUEUE_LEN],
            vec![0; TX_QUEUE_LEN * self.max_payload],
        );
        udp::Socket::new(rx, tx)
    }

    /// An ICMP socket whose receive side holds just one message: the stack
    /// moves each one to the echo socket's own inbox as soon as smoltcp has
    /// stored it (see `dgram.rs`); two, because the ring may pad when it wraps.
    /// An echo message is at most the MTU less the IPv4 header.
    pub(crate) fn new_icmp_socket(&self) -> icmp::Socket<'static> {
        let len = self.max_payload + 8;
        let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 2], vec![0; 2 * len]);
        let tx = icmp::PacketBuffer::new(
            vec![icmp::PacketMetadata::EMPTY; TX_QUEUE_LEN],
            vec![0; TX_QUEUE_LEN * len],
        );
        icmp::Socket::new(rx, tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const ME: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);

    fn table() -> (SocketTable, SocketSet<'static>) {
        (SocketTable::new(1500), SocketSet::new(Vec::new()))
    }

    fn lab(t: &mut SocketTable, s: &mut SocketSet<'static>, state: LabState) -> SocketId {
        let handle = t.take_udp(s);
        t.insert(Entry::Lab { handle, state }).unwrap()
    }

    fn close(t: &mut SocketTable, s: &mut SocketSet<'static>, id: SocketId) {
        if let Entry::Lab { handle, .. } = t.remove(id) {
            t.put_udp(s, handle);
        }
    }

    #[test]
    fn bound_port_queues_sixteen_then_drops() {
        let (mut t, mut s) = table();
        let id = lab(
            &mut t,
            &mut s,
            LabState::Bound {
                port: 2000,
                queued: 0,
            },
        );
        for _ in 0..QUEUE_LEN {
            assert_eq!(t.admit_udp(GW, 25099, ME, 2000), Ok(id));
        }
        assert_eq!(t.admit_udp(GW, 25099, ME, 2000), Err(DropReason::QueueFull));
        t.dequeued(id);
        assert_eq!(t.admit_udp(GW, 25099, ME, 2000), Ok(id));
        assert_eq!(t.admit_udp(GW, 25099, ME, 2001), Err(DropReason::NoSocket));
    }

    #[test]
    fn send_only_and_connected_demux() {
        let (mut t, mut s) = table();
        lab(&mut t, &mut s, LabState::SendOnly { port: 2010 });
        assert_eq!(t.admit_udp(GW, 25099, ME, 2010), Err(DropReason::NoSocket));
        let state = LabState::Connected {
            port: 2000,
            remote: (GW, 25099),
            queued: 0,
        };
        let id = lab(&mut t, &mut s, state);
        assert_eq!(t.admit_udp(GW, 25099, ME, 2000), Ok(id));
        assert_eq!(t.admit_udp(GW, 53, ME, 2000), Err(DropReason::NoSocket));
        assert_eq!(t.by_udp_port(2000), Some(id));
    }

    #[test]
    fn closed_slots_and_udp_sockets_are_reused() {
        let (mut t, mut s) = table();
        let a = lab(&mut t, &mut s, LabState::Bound { port: 1, queued: 0 });
        close(&mut t, &mut s, a);
        assert_eq!(t.spare_udp(), 1);
        let b = lab(&mut t, &mut s, LabState::Bound { port: 2, queued: 0 });
        assert_eq!(a, b);
        assert_eq!(t.spare_udp(), 0);
        assert_eq!(s.iter().count(), 1);
        assert_eq!(t.by_udp_port(1), None);
        assert_eq!(t.by_udp_port(2), Some(b));
    }

    #[test]
    fn a_full_table_says_so() {
        let (mut t, mut s) = table();
        for port in 1..=MAX_SOCKETS as u16 {
            lab(&mut t, &mut s, LabState::Bound { port, queued: 0 });
        }
        assert_eq!(t.insert(Entry::Free), None);
        close(&mut t, &mut s, SocketId(7));
        assert_eq!(
            t.insert(Entry::Lab {
                handle: t.spare_udp[0],
                state: LabState::SendOnly { port: 9999 }
            }),
            Some(SocketId(7))
        );
    }

    #[test]
    fn echoes_without_a_socket() {
        let (mut t, _) = table();
        assert_eq!(t.admit_echo(7, true), Ok(None));
        assert_eq!(t.admit_echo(7, false), Err(DropReason::NoSocket));
    }

    #[test]
    fn mask_iterates_members() {
        let mut m = SocketMask::default();
        assert!(m.is_empty());
        m.insert(SocketId(3));
        m.insert(SocketId(127));
        let ids: Vec<_> = m.iter().map(SocketId::index).collect();
        assert_eq!(ids, [3, 127]);
    }
}
