//! BSD TCP sockets between two stacks on the in-memory link: connect and
//! accept, megabytes both ways, refused, reset, timeouts, backlog, graceful
//! close with unsent data, orphans, half-close, and which sockets a poll wakes.

mod common;

use abi::errno::*;
use common::*;
use netstack::{Config, Readiness, Shutdown, SockKind, SocketId, SocketLimits};

/// The host listens on port `port` with `backlog`.
fn listener(net: &mut Net, port: u16, backlog: usize) -> SocketId {
    let mut bsd = net.host.bsd();
    let l = bsd.open(SockKind::Stream).unwrap();
    bsd.bind(l, sa(GW_IP, port)).unwrap();
    bsd.listen(l, backlog).unwrap();
    l
}

/// The guest connects to the host's port `port`; returns once connected.
fn connect(net: &mut Net, port: u16) -> SocketId {
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, port)).unwrap();
    assert_eq!(net.guest.bsd().poll_connect(c), Err(EINPROGRESS));
    net.until(1000, |n| n.guest.bsd().poll_connect(c) != Err(EINPROGRESS));
    assert_eq!(net.guest.bsd().poll_connect(c), Ok(()));
    c
}

/// Steps until guest socket `c`'s connect is over, as a blocking `connect`
/// would; the outcome is reported once.
fn connect_result(net: &mut Net, c: SocketId) -> Result<(), Errno> {
    let mut result = Err(EINPROGRESS);
    net.until(10_000, |n| {
        result = n.guest.bsd().poll_connect(c);
        result != Err(EINPROGRESS)
    });
    result
}

/// A connection guest -> host: (guest socket, host socket, listener).
fn connection(net: &mut Net) -> (SocketId, SocketId, SocketId) {
    let l = listener(net, 80, 1);
    let c = connect(net, 80);
    let (s, peer) = net.host.bsd().try_accept(l).unwrap();
    assert_eq!(peer, net.guest.bsd().local_addr(c).unwrap());
    (c, s, l)
}

/// The byte at offset `i` of a test stream: a sequence no protocol bug can fake.
fn pattern(seed: u64, i: u64) -> u8 {
    ((i ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// FNV-1a, to compare what was sent with what arrived.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// One direction of a bulk transfer.
struct Flow {
    seed: u64,
    total: u64,
    sent: u64,
    sent_hash: u64,
    received: u64,
    received_hash: u64,
    eof: bool,
}

impl Flow {
    fn new(seed: u64, total: u64) -> Flow {
        Flow {
            seed,
            total,
            sent: 0,
            sent_hash: FNV0,
            received: 0,
            received_hash: FNV0,
            eof: false,
        }
    }

    /// Sends what the socket takes, then closes the write half at the end.
    fn push(&mut self, stack: &mut Stack, id: SocketId) {
        let mut chunk = [0u8; 8192];
        while self.sent < self.total {
            let n = chunk.len().min((self.total - self.sent) as usize);
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(self.seed, self.sent + i as u64);
            }
            match stack.bsd().try_send(id, &chunk[..n]) {
                Ok(taken) => {
                    self.sent_hash = fnv(self.sent_hash, &chunk[..taken]);
                    self.sent += taken as u64;
                }
                Err(EAGAIN) => return,
                Err(e) => panic!("send: {e}"),
            }
        }
        stack.bsd().shutdown(id, Shutdown::Write).unwrap();
    }

    /// Reads what arrived, checking every byte against the pattern.
    fn pull(&mut self, stack: &mut Stack, id: SocketId) {
        let mut buf = [0u8; 5000];
        while !self.eof {
            match stack.bsd().try_recv(id, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    for (i, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, pattern(self.seed, self.received + i as u64));
                    }
                    self.received_hash = fnv(self.received_hash, &buf[..n]);
                    self.received += n as u64;
                }
                Err(EAGAIN) => return,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }
}

#[test]
fn megabytes_both_ways_with_checksums() {
    let mut net = Net::new();
    let (c, s, l) = connection(&mut net);
    assert_eq!(net.guest.bsd().peer_addr(c), Ok(sa(GW_IP, 80)));
    assert_eq!(net.host.bsd().local_addr(s), Ok(sa(GW_IP, 80)));
    let guest_port = net.guest.bsd().local_addr(c).unwrap().port();
    assert!(guest_port >= 49152, "ephemeral port {guest_port}");
    assert_eq!(net.host.bsd().peer_addr(s), Ok(sa(GUEST_IP, guest_port)));

    const MIB: u64 = 1 << 20;
    let mut up = Flow::new(1, 4 * MIB);
    let mut down = Flow::new(2, 4 * MIB);
    net.until(120_000, |n| {
        up.push(&mut n.guest, c);
        down.push(&mut n.host, s);
        up.pull(&mut n.host, s);
        down.pull(&mut n.guest, c);
        up.eof && down.eof
    });
    for flow in [&up, &down] {
        assert_eq!(flow.received, flow.total);
        assert_eq!(flow.received_hash, flow.sent_hash);
    }
    // Simulated time: the link and the stacks moved 8 MiB in this many ms.
    assert!(net.now < 1_000, "took {} ms", net.now);

    net.guest.bsd().close(c).unwrap();
    net.host.bsd().close(s).unwrap();
    net.host.bsd().close(l).unwrap();
    net.until(1000, |n| {
        n.guest.socket_counts().tcp == 0 && n.host.socket_counts().tcp == 0
    });
    assert_eq!(net.guest.socket_counts().open, 0);
    assert_eq!(net.host.socket_counts().orphans, 0);
}

/// Host -> guest, 1 MiB, into a guest whose card holds 16 frames and loses the rest
/// (QEMU's E1000 with the lab's ring), for at most `ms` of simulated time; returns
/// the bytes the guest received, intact, and the frames the card lost.
fn download_through_a_lossy_card(reported: bool, ms: u64) -> (u64, u64) {
    let mut net = Net::into_guest_through(Port::lossy(16, reported));
    let (c, s, _) = connection(&mut net);
    let mut down = Flow::new(3, 1 << 20);
    let end = net.now + ms;
    while !down.eof && net.now < end {
        down.push(&mut net.host, s);
        down.pull(&mut net.guest, c);
        net.step();
    }
    if down.eof {
        assert_eq!(down.received_hash, down.sent_hash);
    }
    assert_eq!(net.guest.counters().drops.rx_ring_full, net.to_guest.lost());
    (down.received, net.to_guest.lost())
}

/// A peer sends a whole window back to back; a window of more segments than the
/// card holds loses the excess there, and the sender recovers several losses in one
/// window by its retransmission timeout (QEMU's slirp too: 5 Mbit/s instead of
/// 300). Fitted to what the card says it holds, no frame is lost.
#[test]
fn a_receive_window_fitted_to_the_card_loses_no_frame() {
    let (received, lost) = download_through_a_lossy_card(false, 5_000);
    assert!(
        lost > 0 && received < 1 << 20,
        "a 64 KiB window into 16 slots: {lost} frames lost, {received} bytes in 5 s"
    );
    assert_eq!(download_through_a_lossy_card(true, 5_000), (1 << 20, 0));
}

#[test]
fn no_listener_means_refused() {
    let mut net = Net::new();
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 81)).unwrap();
    assert_eq!(connect_result(&mut net, c), Err(ECONNREFUSED));
    // Reported once; the socket keeps its port and may try again.
    assert_eq!(net.guest.bsd().poll_connect(c), Err(ENOTCONN));
    assert_eq!(net.host.counters().drops.no_socket, 1);
    let port = net.guest.bsd().local_addr(c).unwrap().port();
    listener(&mut net, 81, 1);
    net.guest.bsd().connect(c, sa(GW_IP, 81)).unwrap();
    net.until(1000, |n| n.guest.bsd().poll_connect(c) == Ok(()));
    assert_eq!(net.guest.bsd().local_addr(c).unwrap().port(), port);
    assert_eq!(net.guest.bsd().connect(c, sa(GW_IP, 81)), Err(EISCONN));
}

#[test]
fn a_reset_connection_reports_econnreset_once() {
    let mut net = Net::new();
    let (c, s, _) = connection(&mut net);
    net.host.bsd().try_send(s, b"last words").unwrap();
    net.run(5);
    net.host.bsd().abort(s).unwrap();
    net.step(); // the host sends RST
    let (guest, _) = net.step();
    assert!(guest.readable.contains(c) && guest.writable.contains(c));
    let r = net.guest.bsd().readiness(c).unwrap();
    assert!(r.readable && r.error && r.hup, "{r:?}");
    let mut buf = [0u8; 64];
    // What arrived before the RST can still be read.
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(10));
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Err(ECONNRESET));
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(0));
    assert_eq!(net.guest.bsd().try_send(c, b"x"), Err(EPIPE));
    assert_eq!(net.guest.bsd().peer_addr(c), Ok(sa(GW_IP, 80)));
    // Its smoltcp socket is already gone; the id stays until close.
    assert_eq!(net.guest.socket_counts().tcp, 0);
    net.guest.bsd().close(c).unwrap();
}

#[test]
fn an_unanswered_syn_times_out() {
    let config = Config {
        limits: SocketLimits {
            connect_timeout_ms: 3000,
            ..SocketLimits::default()
        },
        ..guest_config()
    };
    let mut net = Net::with(config, gateway_config());
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    // Nobody has 10.0.2.99: ARP goes unanswered.
    net.guest
        .bsd()
        .connect(c, sa(std::net::Ipv4Addr::new(10, 0, 2, 99), 80))
        .unwrap();
    net.run(2900);
    assert_eq!(net.guest.bsd().poll_connect(c), Err(EINPROGRESS));
    assert_eq!(connect_result(&mut net, c), Err(ETIMEDOUT));
    assert!(net.now <= 3100, "failed at {} ms", net.now);
    assert_eq!(net.guest.socket_counts().tcp, 0);
}

#[test]
fn backlog_holds_n_connections_then_makes_the_next_wait() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 2);
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let c = net.guest.bsd().open(SockKind::Stream).unwrap();
            net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
            c
        })
        .collect();
    net.run(300);
    let status: Vec<_> = clients
        .iter()
        .map(|&c| net.guest.bsd().poll_connect(c))
        .collect();
    assert_eq!(status, [Ok(()), Ok(()), Err(EINPROGRESS)]);
    // The third SYN waits for a listener rather than being dropped.
    assert_eq!(net.host.counters().drops.queue_full, 0);
    assert!(net.host.bsd().readiness(l).unwrap().readable);

    // Accepting one re-arms a listener, and the waiting SYN gets it at once, without
    // waiting for the client's retransmission (a second or more).
    let (first, _) = net.host.bsd().try_accept(l).unwrap();
    let accepted_at = net.now;
    net.until(5000, |n| n.guest.bsd().poll_connect(clients[2]) == Ok(()));
    assert!(
        net.now - accepted_at <= 30,
        "took {} ms",
        net.now - accepted_at
    );
    let (second, _) = net.host.bsd().try_accept(l).unwrap();
    let (third, peer) = net.host.bsd().try_accept(l).unwrap();
    assert_eq!(peer, net.guest.bsd().local_addr(clients[2]).unwrap());
    assert_eq!(net.host.bsd().try_accept(l), Err(EAGAIN));
    assert!(!net.host.bsd().readiness(l).unwrap().readable);
    assert_eq!(net.host.socket_counts().tcp, 2 + 3);

    // Each accepted socket talks to its own client.
    for (i, (&c, s)) in clients.iter().zip([first, second, third]).enumerate() {
        net.guest.bsd().try_send(c, &[i as u8]).unwrap();
        net.run(20);
        let mut b = [0xff];
        assert_eq!(net.host.bsd().try_recv(s, &mut b), Ok(1));
        let from = net.host.bsd().peer_addr(s).unwrap();
        assert_eq!(from, net.guest.bsd().local_addr(c).unwrap());
        let _ = b;
    }
}

#[test]
fn backlog_is_clamped_and_listen_needs_a_stream() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 1000);
    assert_eq!(
        net.host.socket_counts().tcp,
        SocketLimits::default().max_backlog
    );
    assert_eq!(net.host.bsd().listen(l, 4), Ok(()));
    let u = net.host.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(net.host.bsd().listen(u, 1), Err(EOPNOTSUPP));
    let t = net.host.bsd().open(SockKind::Stream).unwrap();
    assert_eq!(net.host.bsd().bind(t, sa(GW_IP, 80)), Err(EADDRINUSE));
    assert_eq!(net.host.bsd().bind(t, sa(GUEST_IP, 80)), Err(EADDRNOTAVAIL));
    assert_eq!(net.host.bsd().try_accept(t), Err(EINVAL));
}

#[test]
fn close_with_unsent_data_still_delivers_it() {
    let mut net = Net::new();
    let (c, s, _) = connection(&mut net);
    // Fill the send buffer without polling: nothing has left yet.
    let mut flow = Flow::new(3, 1 << 20);
    flow.total = 1 << 20;
    let mut chunk = vec![0u8; 16384];
    while let Ok(n) = {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = pattern(3, flow.sent + i as u64);
        }
        net.guest.bsd().try_send(c, &chunk)
    } {
        flow.sent_hash = fnv(flow.sent_hash, &chunk[..n]);
        flow.sent += n as u64;
    }
    assert_eq!(flow.sent, SocketLimits::default().tcp_tx_buffer as u64);
    net.guest.bsd().close(c).unwrap();
    assert_eq!(net.guest.socket_counts().open, 0);
    assert_eq!(net.guest.socket_counts().orphans, 1);
    assert_eq!(net.guest.bsd().try_send(c, b"x"), Err(EBADF));

    net.until(5000, |n| {
        flow.pull(&mut n.host, s);
        flow.eof
    });
    assert_eq!(flow.received, flow.sent);
    assert_eq!(flow.received_hash, flow.sent_hash);
    // The host closes too: the guest's orphan finishes its handshake and goes.
    net.host.bsd().close(s).unwrap();
    net.until(1000, |n| n.guest.socket_counts().tcp == 0);
    assert_eq!(net.guest.socket_counts().orphans, 0);
}

#[test]
fn an_orphan_whose_peer_never_closes_is_aborted() {
    let config = Config {
        limits: SocketLimits {
            orphan_timeout_ms: 5000,
            ..SocketLimits::default()
        },
        ..guest_config()
    };
    let mut net = Net::with(config, gateway_config());
    let (c, s, _) = connection(&mut net);
    net.guest.bsd().close(c).unwrap();
    net.run(100);
    // FIN-WAIT-2: the host got FIN, but keeps its half open.
    assert_eq!(net.host.bsd().try_recv(s, &mut [0; 8]), Ok(0));
    assert_eq!(net.guest.socket_counts().orphans, 1);
    let deadline = net.guest.poll_at(net.now).unwrap();
    assert!(
        deadline <= net.now + 5000,
        "poll_at {deadline} now {}",
        net.now
    );
    net.run(4800);
    assert_eq!(net.guest.socket_counts().orphans, 1);
    net.until(2000, |n| n.guest.socket_counts().tcp == 0);
    // The abort's RST told the host.
    net.run(5);
    assert_eq!(net.host.bsd().take_error(s), Ok(Some(ECONNRESET)));
    assert_eq!(net.host.bsd().try_send(s, b"x"), Err(EPIPE));
}

#[test]
fn half_close_keeps_the_other_direction() {
    let mut net = Net::new();
    let (c, s, _) = connection(&mut net);
    net.guest.bsd().shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(net.guest.bsd().try_send(c, b"x"), Err(EPIPE));
    net.run(20);
    assert_eq!(net.host.bsd().try_recv(s, &mut [0; 8]), Ok(0));
    assert!(net.host.bsd().readiness(s).unwrap().readable);
    net.host.bsd().try_send(s, b"still here").unwrap();
    net.run(20);
    let mut buf = [0u8; 16];
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"still here");
    net.host.bsd().shutdown(s, Shutdown::Both).unwrap();
    net.run(20);
    assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(0));
    assert!(net.guest.bsd().readiness(c).unwrap().hup);
    assert_eq!(net.host.bsd().try_recv(s, &mut buf), Ok(0));
}

#[test]
fn polls_wake_only_the_sockets_that_changed() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 2);
    let a = connect(&mut net, 80);
    let b = connect(&mut net, 80);
    let (sa_, _) = net.host.bsd().try_accept(l).unwrap();
    let (sb, _) = net.host.bsd().try_accept(l).unwrap();
    // Both host sockets have been looked at: nothing to read.
    for s in [sa_, sb] {
        assert_eq!(net.host.bsd().try_recv(s, &mut [0; 4]), Err(EAGAIN));
    }
    net.run(50);
    net.guest.bsd().try_send(a, b"ping").unwrap();
    let mut woken = Vec::new();
    for _ in 0..20 {
        woken.extend(net.step().1.readable.iter());
    }
    assert!(woken.contains(&sa_));
    assert!(!woken.contains(&sb), "{woken:?}");
    // Once reported, no second wakeup until it is looked at again.
    let more: Vec<_> = (0..20).flat_map(|_| net.step().1.readable.iter()).collect();
    assert!(!more.contains(&sa_));
    let _ = b;

    // A listener is woken by a connection to accept.
    assert_eq!(net.host.bsd().try_accept(l), Err(EAGAIN));
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
    let mut listener_woken = false;
    let mut connected = false;
    for _ in 0..50 {
        let (g, h) = net.step();
        listener_woken |= h.readable.contains(l);
        connected |= g.writable.contains(c);
    }
    assert!(listener_woken && connected);
    assert_eq!(
        net.guest.bsd().readiness(c).unwrap(),
        Readiness {
            writable: true,
            ..Readiness::default()
        }
    );
}

#[test]
fn operations_in_the_wrong_state() {
    let mut net = Net::new();
    let mut bsd = net.guest.bsd();
    let t = bsd.open(SockKind::Stream).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(bsd.try_send(t, b"x"), Err(ENOTCONN));
    assert_eq!(bsd.try_recv(t, &mut buf), Err(ENOTCONN));
    assert_eq!(bsd.peer_addr(t), Err(ENOTCONN));
    assert_eq!(bsd.shutdown(t, Shutdown::Write), Err(ENOTCONN));
    assert_eq!(
        bsd.local_addr(t),
        Ok(sa(std::net::Ipv4Addr::UNSPECIFIED, 0))
    );
    assert_eq!(bsd.connect(t, sa(GW_IP, 0)), Err(EINVAL));
    bsd.bind(t, sa(GUEST_IP, 7000)).unwrap();
    assert_eq!(bsd.bind(t, sa(GUEST_IP, 7001)), Err(EINVAL));
    let off_link = sa(std::net::Ipv4Addr::new(10, 0, 3, 1), 80);
    assert_eq!(bsd.connect(t, off_link), Ok(()), "via the gateway");
    assert_eq!(bsd.connect(t, sa(GW_IP, 80)), Err(EALREADY));
    bsd.close(t).unwrap();
    assert_eq!(bsd.close(t), Err(EBADF));
    let id = bsd.open(SockKind::Echo).unwrap();
    assert_eq!(bsd.kind(id), Some(SockKind::Echo));

    net.guest.set_ipv4(GUEST_IP, 24, None);
    let t = net.guest.bsd().open(SockKind::Stream).unwrap();
    assert_eq!(net.guest.bsd().connect(t, off_link), Err(ENETUNREACH));
}

/// Nagle's algorithm holds a small segment while earlier data is unacknowledged
/// (the peer delays its ACK); `TCP_NODELAY` sends it at once.
#[test]
fn nodelay_sends_small_segments_at_once() {
    for nodelay in [false, true] {
        let mut net = Net::new();
        let (c, s, _) = connection(&mut net);
        net.host.bsd().set_nodelay(s, nodelay).unwrap();
        assert_eq!(net.host.bsd().nodelay(s), Ok(nodelay));
        net.host.bsd().try_send(s, b"a").unwrap();
        net.step();
        net.host.bsd().try_send(s, b"b").unwrap();
        let start = net.now;
        let mut got = Vec::new();
        net.until(1000, |n| {
            let mut buf = [0u8; 8];
            if let Ok(k) = n.guest.bsd().try_recv(c, &mut buf) {
                got.extend_from_slice(&buf[..k]);
            }
            got.len() == 2
        });
        let took = net.now - start;
        assert_eq!(got, b"ab");
        if nodelay {
            assert!(took <= 3, "TCP_NODELAY: the second byte took {took} ms");
        } else {
            assert!(took >= 5, "Nagle: the second byte took only {took} ms");
        }
    }
}

#[test]
fn nodelay_is_inherited_by_accepted_connections_and_tcp_only() {
    let mut net = Net::new();
    let l = listener(&mut net, 80, 1);
    net.host.bsd().set_nodelay(l, true).unwrap();
    let c = connect(&mut net, 80);
    let (s, _) = net.host.bsd().try_accept(l).unwrap();
    assert_eq!(net.host.bsd().nodelay(s), Ok(true));
    assert_eq!(net.guest.bsd().nodelay(c), Ok(false));
    let u = net.guest.bsd().open(SockKind::Datagram).unwrap();
    assert_eq!(net.guest.bsd().set_nodelay(u, true), Err(EOPNOTSUPP));
}

/// A SYN waits for a free listener only so long; then it is dropped (counted) and
/// the client's own retry takes over.
#[test]
fn a_waiting_syn_is_dropped_after_its_time() {
    let mut net = Net::new();
    let _l = listener(&mut net, 80, 1);
    let first = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(first, sa(GW_IP, 80)).unwrap();
    net.run(50);
    let second = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(second, sa(GW_IP, 80)).unwrap();
    net.run(4_000);
    assert_eq!(net.host.counters().drops.queue_full, 0, "dropped too early");
    net.run(1_500);
    assert!(net.host.counters().drops.queue_full >= 1, "never dropped");
    assert_eq!(net.guest.bsd().poll_connect(second), Err(EINPROGRESS));
}
