//! The socket table: every socket the kernel can name, what state it is in, and
//! which one an arriving UDP datagram belongs to.
//!
//! Each slot pairs a smoltcp socket with our `State`. smoltcp demultiplexes UDP
//! by local port only and drops silently when a buffer is full, so the choice of
//! receiver and the per-socket queue limit are made here, in `SocketTable::admit`,
//! before smoltcp sees the frame; smoltcp's buffers are sized so that it never
//! has to drop what we admitted.
//!
//! Slots are never freed back to the allocator: a closed slot keeps its smoltcp
//! socket and buffers and is reused by the next open, so steady traffic allocates
//! nothing. New kinds of socket (TCP) become new `State` variants.

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::Ipv4Address;

use crate::Error;
use crate::counters::DropReason;

/// Most sockets open at once (one bit each in a [`SocketMask`]).
pub const MAX_SOCKETS: usize = 64;

/// Most datagrams a receiving socket queues; newer ones are dropped and
/// counted. The net lab requires at most 16 (its `ping3` test floods a port).
pub const QUEUE_LEN: usize = 16;

/// Datagrams a socket can hold while they wait for a free TX slot or an ARP
/// reply; when full, sends return [`Error::WouldBlock`].
const TX_QUEUE_LEN: usize = 8;

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
pub struct SocketMask(u64);

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

/// What a slot is being used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Closed; the smoltcp socket is unbound and waits for reuse.
    Free,
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

impl State {
    /// The local port, for any open socket.
    pub(crate) fn port(&self) -> Option<u16> {
        match *self {
            State::Free => None,
            State::SendOnly { port }
            | State::Bound { port, .. }
            | State::Connected { port, .. } => Some(port),
        }
    }

    /// Whether a datagram from `src:src_port` to `dst_port` is for this socket.
    fn receives(&self, src: Ipv4Address, src_port: u16, dst_port: u16) -> bool {
        match *self {
            State::Free | State::SendOnly { .. } => false,
            State::Bound { port, .. } => port == dst_port,
            State::Connected { port, remote, .. } => port == dst_port && remote == (src, src_port),
        }
    }

    fn queued_mut(&mut self) -> Option<&mut usize> {
        match self {
            State::Bound { queued, .. } | State::Connected { queued, .. } => Some(queued),
            State::Free | State::SendOnly { .. } => None,
        }
    }
}

struct Slot {
    handle: SocketHandle,
    state: State,
}

/// All sockets, indexed by [`SocketId`].
pub(crate) struct SocketTable {
    slots: Vec<Slot>,
    /// Largest UDP payload one frame carries (MTU - IPv4 header - UDP header).
    max_payload: usize,
}

impl SocketTable {
    pub(crate) fn new(mtu: usize) -> Self {
        SocketTable {
            slots: Vec::new(),
            max_payload: mtu - 20 - 8,
        }
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    pub(crate) fn state(&self, id: SocketId) -> State {
        self.slots
            .get(id.index())
            .map_or(State::Free, |slot| slot.state)
    }

    pub(crate) fn set_state(&mut self, id: SocketId, state: State) {
        self.slots[id.index()].state = state;
    }

    pub(crate) fn handle(&self, id: SocketId) -> SocketHandle {
        self.slots[id.index()].handle
    }

    /// The open socket using local `port`, whatever its kind.
    pub(crate) fn by_port(&self, port: u16) -> Option<SocketId> {
        self.ids().find(|&id| self.state(id).port() == Some(port))
    }

    fn ids(&self) -> impl Iterator<Item = SocketId> + use<> {
        (0..self.slots.len() as u8).map(SocketId)
    }

    /// Open sockets with their smoltcp handles.
    pub(crate) fn open_sockets(&self) -> impl Iterator<Item = (SocketId, SocketHandle)> + '_ {
        self.ids()
            .filter(|&id| self.state(id) != State::Free)
            .map(|id| (id, self.handle(id)))
    }

    /// The lab's queue policy, applied to a well-formed datagram for us: find
    /// the socket that receives it and reserve it a place in that socket's queue.
    pub(crate) fn admit(
        &mut self,
        src: Ipv4Address,
        src_port: u16,
        dst_port: u16,
    ) -> Result<SocketId, DropReason> {
        let id = self
            .ids()
            .find(|&id| self.state(id).receives(src, src_port, dst_port))
            .ok_or(DropReason::NoSocket)?;
        let queued = self.slots[id.index()]
            .state
            .queued_mut()
            .ok_or(DropReason::NoSocket)?;
        if *queued == QUEUE_LEN {
            return Err(DropReason::QueueFull);
        }
        *queued += 1;
        Ok(id)
    }

    /// Records that the kernel took one datagram off `id`'s queue.
    pub(crate) fn dequeued(&mut self, id: SocketId) {
        if let Some(queued) = self.slots[id.index()].state.queued_mut() {
            *queued -= 1;
        }
    }

    /// Opens a socket in `state` on its local port, reusing a closed slot (or,
    /// when the table is full, an idle send-only one) before allocating.
    pub(crate) fn open(
        &mut self,
        sockets: &mut SocketSet<'static>,
        state: State,
    ) -> Result<SocketId, Error> {
        let port = state.port().ok_or(Error::Invalid)?;
        let id = match self.ids().find(|&id| self.state(id) == State::Free) {
            Some(id) => id,
            None if self.slots.len() < MAX_SOCKETS => {
                let handle = sockets.add(self.new_udp_socket());
                self.slots.push(Slot {
                    handle,
                    state: State::Free,
                });
                SocketId(self.slots.len() as u8 - 1)
            }
            None => {
                // Send-only slots are a cache of source ports; one whose
                // datagrams have all left can serve another port.
                let idle = self.ids().find(|&id| {
                    matches!(self.state(id), State::SendOnly { .. })
                        && sockets.get::<udp::Socket>(self.handle(id)).send_queue() == 0
                });
                let id = idle.ok_or(Error::NoSpace)?;
                self.close(sockets, id);
                id
            }
        };
        let socket = sockets.get_mut::<udp::Socket>(self.handle(id));
        socket.bind(port).map_err(|_| Error::Invalid)?;
        self.set_state(id, state);
        Ok(id)
    }

    /// Closes `id`: its queued datagrams, in and out, are discarded.
    pub(crate) fn close(&mut self, sockets: &mut SocketSet<'static>, id: SocketId) {
        sockets.get_mut::<udp::Socket>(self.handle(id)).close();
        self.set_state(id, State::Free);
    }

    /// A UDP socket whose receive buffer can never overflow before `admit`
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

    fn table() -> (SocketTable, SocketSet<'static>) {
        (SocketTable::new(1500), SocketSet::new(Vec::new()))
    }

    #[test]
    fn bound_port_queues_sixteen_then_drops() {
        let (mut t, mut s) = table();
        let id = t
            .open(
                &mut s,
                State::Bound {
                    port: 2000,
                    queued: 0,
                },
            )
            .unwrap();
        for _ in 0..QUEUE_LEN {
            assert_eq!(t.admit(GW, 25099, 2000), Ok(id));
        }
        assert_eq!(t.admit(GW, 25099, 2000), Err(DropReason::QueueFull));
        t.dequeued(id);
        assert_eq!(t.admit(GW, 25099, 2000), Ok(id));
        assert_eq!(t.admit(GW, 25099, 2001), Err(DropReason::NoSocket));
    }

    #[test]
    fn send_only_and_connected_demux() {
        let (mut t, mut s) = table();
        t.open(&mut s, State::SendOnly { port: 2010 }).unwrap();
        assert_eq!(t.admit(GW, 25099, 2010), Err(DropReason::NoSocket));
        let remote = (GW, 25099);
        let state = State::Connected {
            port: 2000,
            remote,
            queued: 0,
        };
        let id = t.open(&mut s, state).unwrap();
        assert_eq!(t.admit(GW, 25099, 2000), Ok(id));
        assert_eq!(t.admit(GW, 53, 2000), Err(DropReason::NoSocket));
        assert_eq!(t.by_port(2000), Some(id));
    }

    #[test]
    fn closed_slots_are_reused() {
        let (mut t, mut s) = table();
        let a = t.open(&mut s, State::Bound { port: 1, queued: 0 }).unwrap();
        t.close(&mut s, a);
        let b = t.open(&mut s, State::Bound { port: 2, queued: 0 }).unwrap();
        assert_eq!(a, b);
        assert_eq!(t.by_port(1), None);
        assert_eq!(t.by_port(2), Some(b));
    }

    #[test]
    fn full_table_recycles_idle_send_only_slots() {
        let (mut t, mut s) = table();
        for port in 1..=MAX_SOCKETS as u16 {
            t.open(&mut s, State::Bound { port, queued: 0 }).unwrap();
        }
        let full = State::Bound {
            port: 999,
            queued: 0,
        };
        assert_eq!(t.open(&mut s, full), Err(Error::NoSpace));
        let id = t.by_port(7).unwrap();
        t.set_state(id, State::SendOnly { port: 7 });
        assert_eq!(t.open(&mut s, full), Ok(id));
        assert_eq!(t.by_port(7), None);
    }

    #[test]
    fn mask_iterates_members() {
        let mut m = SocketMask::default();
        assert!(m.is_empty());
        m.insert(SocketId(3));
        m.insert(SocketId(63));
        let ids: Vec<_> = m.iter().map(SocketId::index).collect();
        assert_eq!(ids, [3, 63]);
    }
}
