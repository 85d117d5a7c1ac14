//! The guest under test: a stack on the fuzzer's NIC with a socket of every kind
//! open (the lab port, UDP, ICMP echo, a TCP listener) and one established
//! connection from a client at 10.0.2.2, which it makes again when the fuzzer kills it.

use std::net::SocketAddrV4;

use netstack::{Config, NetStack, SockKind, SocketId};
use smoltcp::wire::{Ipv4Address, TcpControl};

use crate::common::arp_request_for_guest;
use crate::frames::{ECHO_IDENT, LAB_PORT, TCP_PORT, UDP_PORT, tcp_frame};
use crate::nic::{FuzzNic, FuzzRx, FuzzTx, MAX_FRAME, Peer};

pub struct Guest {
    pub stack: NetStack<FuzzNic>,
    pub now: u64,
    pub listener: SocketId,
    pub udp: SocketId,
    pub echo: SocketId,
    pub conn: Option<SocketId>,
    pub next_client_port: u16,
}

pub fn sa(ip: Ipv4Address, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

impl Guest {
    pub fn new() -> Guest {
        let nic = FuzzNic {
            rx: FuzzRx {
                frame: [0; MAX_FRAME],
                len: None,
            },
            tx: FuzzTx {
                buf: [0; MAX_FRAME],
                sent: 0,
                total: 0,
                bad: None,
                client_port: 0,
                peer: Peer::default(),
                echo_replies: 0,
                unflushed: 0,
            },
        };
        let mut stack = NetStack::new(nic, Config::default());
        stack.bind(LAB_PORT).unwrap();
        let mut bsd = stack.bsd();
        let udp = bsd.open(SockKind::Datagram).unwrap();
        bsd.bind(udp, sa(Ipv4Address::UNSPECIFIED, UDP_PORT))
            .unwrap();
        let echo = bsd.open(SockKind::Echo).unwrap();
        bsd.bind(echo, sa(Ipv4Address::UNSPECIFIED, ECHO_IDENT))
            .unwrap();
        let listener = bsd.open(SockKind::Stream).unwrap();
        bsd.bind(listener, sa(Ipv4Address::UNSPECIFIED, TCP_PORT))
            .unwrap();
        bsd.listen(listener, 2).unwrap();
        let mut guest = Guest {
            stack,
            now: 1,
            listener,
            udp,
            echo,
            conn: None,
            next_client_port: 40000,
        };
        guest.feed(&arp_request_for_guest());
        guest.connect();
        guest
    }

    /// Receives one frame (or none) and polls once; returns the frames sent.
    pub fn feed(&mut self, frame: &[u8]) -> usize {
        let rx = &mut self.stack.device().rx;
        rx.frame[..frame.len()].copy_from_slice(frame);
        rx.len = Some(frame.len());
        self.poll()
    }

    pub fn poll(&mut self) -> usize {
        self.stack.device().tx.sent = 0;
        self.stack.poll(self.now);
        let tx = &self.stack.device().tx;
        assert_eq!(tx.unflushed, 0, "a poll left frames without a doorbell");
        if let Some((rule, frame, len)) = &tx.bad {
            panic!(
                "sent a frame that breaks \"{rule}\": {:02x?}",
                &frame[..*len]
            );
        }
        tx.sent
    }

    /// A client at 10.0.2.2 connects to the guest's listener, and the guest
    /// accepts: the established connection the fuzzer then talks to.
    pub fn connect(&mut self) {
        if let Some(old) = self.conn.take() {
            self.stack.bsd().abort(old).unwrap();
        }
        let port = self.next_client_port;
        self.next_client_port = if port == 40999 { 40000 } else { port + 1 };
        let tx = &mut self.stack.device().tx;
        tx.client_port = port;
        tx.peer = Peer::default();
        let iss = 0x1000_0000 + u32::from(port) * 0x10000;
        self.feed(&tcp_frame(port, TCP_PORT, TcpControl::Syn, iss, None, &[]));
        // Half-open connections from fuzzed SYNs may hold the whole backlog
        // until they time out; the SYN waits, or is sent again, meanwhile.
        let start = self.now;
        while !self.stack.device().tx.peer.syn_ack {
            assert!(self.now - start < 60_000, "no SYN-ACK in 60 s");
            self.now += 500;
            if (self.now - start).is_multiple_of(3_000) {
                self.feed(&tcp_frame(port, TCP_PORT, TcpControl::Syn, iss, None, &[]));
            } else {
                self.poll();
            }
            self.drain_sockets();
        }
        let peer = self.stack.device().tx.peer;
        assert_eq!(peer.acked, iss + 1, "not a SYN-ACK: {peer:?}");
        self.feed(&tcp_frame(
            port,
            TCP_PORT,
            TcpControl::None,
            iss + 1,
            Some(peer.guest_next),
            &[],
        ));
        let (id, _) = self.stack.bsd().try_accept(self.listener).unwrap();
        self.conn = Some(id);
    }

    /// Reads whatever the sockets hold, so that their queues keep room.
    pub fn drain_sockets(&mut self) {
        let mut buf = [0u8; 2048];
        while self.stack.try_recv(LAB_PORT, &mut buf).is_ok() {}
        let (udp, echo, listener, conn) = (self.udp, self.echo, self.listener, self.conn);
        let mut bsd = self.stack.bsd();
        while bsd.try_recvfrom(udp, &mut buf).is_ok() {}
        while bsd.try_recvfrom(echo, &mut buf).is_ok() {}
        // Connections made by fuzzed SYNs: refused at once, so the backlog recovers.
        while let Ok((extra, _)) = bsd.try_accept(listener) {
            bsd.abort(extra).unwrap();
        }
        if let Some(conn) = conn {
            while matches!(bsd.try_recv(conn, &mut buf), Ok(n) if n > 0) {}
        }
    }

    pub fn conn_alive(&mut self) -> bool {
        let Some(conn) = self.conn else {
            return false;
        };
        let r = self.stack.bsd().readiness(conn);
        matches!(r, Ok(r) if !r.hup && !r.error)
    }
}
