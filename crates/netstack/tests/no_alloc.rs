//! Steady traffic allocates nothing: after warm-up (sockets opened, neighbors
//! known), sending, polling and receiving datagrams, pings and TCP segments
//! never touch the heap.
//! A counting global allocator checks it; it counts only on the thread that
//! asks, so the test harness's own threads do not disturb the count.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use netstack::SockKind;

struct Counting;

thread_local! {
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting
// only touches a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.take()).unwrap()
}

#[test]
fn ping_pong_allocates_nothing() {
    let (mut guest, mut host, to_host, to_guest) = pair();
    guest.bind(2000).unwrap();
    host.bind(25099).unwrap();
    let mut exchange = |t: u64| {
        let mut buf = [0u8; 64];
        guest.send(2000, GW, 25099, b"ping").unwrap();
        settle(&mut guest, &mut host, &to_host, &to_guest, t);
        let (_, _, n) = host.try_recv(25099, &mut buf).unwrap();
        host.send(25099, GUEST, 2000, &buf[..n]).unwrap();
        settle(&mut guest, &mut host, &to_host, &to_guest, t);
        assert_eq!(guest.try_recv(2000, &mut buf), Ok((GW, 25099, 4)));
    };
    exchange(0); // ARP, and the first use of every buffer
    let n = allocations(|| {
        for t in 1..=200 {
            exchange(t);
        }
    });
    assert_eq!(n, 0, "allocations during 200 round trips");
}

#[test]
fn flood_and_drops_allocate_nothing() {
    let (mut guest, input, output) = tapped(8);
    guest.bind(2008).unwrap();
    let datagram = udp_to_guest(25099, 2008, b"p a!");
    let unbound = udp_to_guest(25099, 2010, b"p b!");
    let mut garbage = datagram.clone();
    garbage[20] ^= 0xff;
    let ping = echo_request(1, 1, b"ping");
    input.inject(&arp_request_for_guest());
    input.inject(&ping);
    guest.poll(0);
    output.take();
    output.take();
    let n = allocations(|| {
        let mut buf = [0u8; 8];
        for t in 1..=100 {
            for _ in 0..10 {
                input.inject(&datagram);
            }
            input.inject(&unbound);
            input.inject(&garbage);
            input.inject(&ping);
            guest.poll(t);
            // Leave the queue full half of the time, so QueueFull drops happen too.
            if t % 2 == 0 {
                while guest.try_recv(2008, &mut buf).is_ok() {}
            }
            // The echo reply: move it off the wire without allocating.
            assert!(!output.is_empty());
            output.discard_all();
        }
    });
    assert_eq!(n, 0);
    let drops = guest.counters().drops;
    assert_eq!((drops.no_socket, drops.malformed), (100, 100));
    assert_eq!(drops.queue_full, 50 * (20 - 16));
}

#[test]
fn batched_datagrams_through_an_rcvbuf_allocate_nothing() {
    let mut net = Net::new();
    let server = net.guest.bsd().open(SockKind::Datagram).unwrap();
    net.guest.bsd().bind(server, sa(GUEST_IP, 2000)).unwrap();
    // SO_RCVBUF allocates its queue here, once.
    net.guest.bsd().set_rcvbuf(server, 64 << 10).unwrap();
    let client = net.host.bsd().open(SockKind::Datagram).unwrap();
    let to = Some(sa(GUEST_IP, 2000));
    let msgs = [&b"one"[..], b"two", b"three", b"four"];
    let exchange = |net: &mut Net| {
        let (sent, _) = net
            .host
            .bsd()
            .try_send_batch(client, msgs.iter().map(|m| (*m, to)));
        assert_eq!(sent, 4);
        net.run(3);
        let mut echo = [[0u8; 8]; 4];
        let mut lens = [0usize; 4];
        let mut from = sa(GUEST_IP, 0);
        let mut i = 0;
        let got = net.guest.bsd().try_recv_batch(server, 4, |p, src| {
            echo[i][..p.len()].copy_from_slice(p);
            lens[i] = p.len();
            from = src;
            i += 1;
        });
        assert_eq!(got, Ok(4));
        let back = (0..4).map(|i| (&echo[i][..lens[i]], Some(from)));
        assert_eq!(net.guest.bsd().try_send_batch(server, back), (4, None));
        net.run(3);
        assert_eq!(net.host.bsd().try_recv_batch(client, 8, |_, _| {}), Ok(4));
    };
    // ARP first, one datagram each way: at most 3 may wait for a neighbour (neighbor.rs).
    net.host
        .bsd()
        .try_sendto(client, b"arp", sa(GUEST_IP, 2000))
        .unwrap();
    net.run(3);
    let mut from = None;
    assert_eq!(
        net.guest
            .bsd()
            .try_recv_batch(server, 4, |_, src| from = Some(src)),
        Ok(1)
    );
    net.guest
        .bsd()
        .try_sendto(server, b"arp", from.unwrap())
        .unwrap();
    net.run(3);
    assert_eq!(net.host.bsd().try_recv_batch(client, 8, |_, _| {}), Ok(1));
    exchange(&mut net); // the first use of every buffer
    let n = allocations(|| {
        for _ in 0..100 {
            exchange(&mut net);
        }
    });
    assert_eq!(n, 0, "allocations during 100 batched exchanges");
}

#[test]
fn tcp_and_echo_traffic_allocate_nothing() {
    let mut net = Net::new();
    let l = net.host.bsd().open(SockKind::Stream).unwrap();
    net.host.bsd().bind(l, sa(GW_IP, 80)).unwrap();
    net.host.bsd().listen(l, 1).unwrap();
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, sa(GW_IP, 80)).unwrap();
    net.until(100, |n| n.guest.bsd().poll_connect(c) == Ok(()));
    let (s, _) = net.host.bsd().try_accept(l).unwrap();
    let ping = net.guest.bsd().open(SockKind::Echo).unwrap();
    let request = [8, 0, 0, 0, 0, 0, 0, 1, b'p', b'i', b'n', b'g'];
    let exchange = |net: &mut Net| {
        let mut buf = [0u8; 4096];
        let mut moved = 0;
        net.guest.bsd().try_send(c, &[1; 3000]).unwrap();
        net.guest
            .bsd()
            .try_sendto(ping, &request, sa(GW_IP, 0))
            .unwrap();
        while moved < 3000 {
            net.step();
            while let Ok(n) = net.host.bsd().try_recv(s, &mut buf) {
                moved += n;
            }
        }
        net.host.bsd().try_send(s, &buf[..100]).unwrap();
        net.run(20);
        assert_eq!(net.guest.bsd().try_recv(c, &mut buf), Ok(100));
        assert_eq!(net.guest.bsd().try_recv(ping, &mut buf), Ok(12));
    };
    exchange(&mut net); // the first use of every buffer
    let n = allocations(|| {
        for _ in 0..100 {
            exchange(&mut net);
        }
    });
    assert_eq!(n, 0, "allocations during 100 exchanges");
}

#[test]
fn the_meter_sees_allocations() {
    let n = allocations(|| drop(std::hint::black_box(vec![0u8; 16])));
    assert_eq!(n, 1);
}
