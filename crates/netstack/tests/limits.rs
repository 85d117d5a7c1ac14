//! Limits give errors, not panics; and thousands of open/close cycles of every
//! kind of socket leave nothing behind: the same sockets, the same heap bytes.
//! A global allocator counts the bytes live on the test's own thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use abi::errno::*;
use common::*;
use netstack::{Config, MAX_SOCKETS, SockKind, SocketLimits};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};
use std::net::Ipv4Addr;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: thread-local storage is gone while a thread exits.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting
// only touches a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

#[test]
fn a_full_socket_table_says_enfile() {
    let (mut guest, _, _) = tapped(8);
    let ids: Vec<_> = (0..MAX_SOCKETS)
        .map(|_| guest.bsd().open(SockKind::Datagram).unwrap())
        .collect();
    assert_eq!(guest.bsd().open(SockKind::Datagram), Err(ENFILE));
    assert_eq!(guest.bsd().open(SockKind::Stream), Err(ENFILE));
    assert_eq!(guest.bsd().open(SockKind::Echo), Err(ENFILE));
    assert_eq!(guest.bind(2000), Err(netstack::Error::NoSpace));
    guest.bsd().close(ids[5]).unwrap();
    assert_eq!(guest.bsd().open(SockKind::Stream), Ok(ids[5]));
}

#[test]
fn the_tcp_pool_limit_says_enobufs_and_accept_waits_for_a_slot() {
    let small = Config {
        limits: SocketLimits {
            max_tcp: 2,
            ..SocketLimits::default()
        },
        ..guest_config()
    };
    let mut net = Net::with(small, gateway_config());
    let l = net.host.bsd().open(SockKind::Stream).unwrap();
    net.host.bsd().bind(l, sa(GW_IP, 80)).unwrap();
    net.host.bsd().listen(l, 1).unwrap();

    let c: Vec<_> = (0..3)
        .map(|_| net.guest.bsd().open(SockKind::Stream).unwrap())
        .collect();
    net.guest.bsd().connect(c[0], sa(GW_IP, 80)).unwrap();
    net.guest.bsd().connect(c[1], sa(GW_IP, 80)).unwrap();
    assert_eq!(net.guest.bsd().connect(c[2], sa(GW_IP, 80)), Err(ENOBUFS));
    let small_listen = net.guest.bsd().open(SockKind::Stream).unwrap();
    assert_eq!(net.guest.bsd().listen(small_listen, 1), Err(ENOBUFS));

    // The host's table fills up while a connection waits: accept says ENFILE
    // and keeps the connection for later.
    net.run(50);
    let open = net.host.socket_counts().open;
    let fillers: Vec<_> = (open..MAX_SOCKETS)
        .map(|_| net.host.bsd().open(SockKind::Datagram).unwrap())
        .collect();
    assert_eq!(net.host.bsd().try_accept(l), Err(ENFILE));
    net.host.bsd().close(fillers[0]).unwrap();
    let (s, _) = net.host.bsd().try_accept(l).unwrap();
    net.guest.bsd().try_send(c[0], b"made it").unwrap();
    net.run(20);
    assert_eq!(net.host.bsd().try_recv(s, &mut [0; 16]), Ok(7));
}

/// An ICMP echo request as a ping program writes it.
fn echo(seq_no: u16) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident: 0,
        seq_no,
        data: b"ping",
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// One of each: a TCP connection with data both ways, closed by both sides
/// (the guest first, so it leaves an orphan); a UDP exchange; a ping; a lab port.
fn cycle(net: &mut Net, l: std::net::SocketAddrV4, listener: netstack::SocketId, i: u16) {
    let c = net.guest.bsd().open(SockKind::Stream).unwrap();
    net.guest.bsd().connect(c, l).unwrap();
    net.until(100, |n| n.guest.bsd().poll_connect(c) == Ok(()));
    let (s, _) = net.host.bsd().try_accept(listener).unwrap();
    net.guest.bsd().try_send(c, &[7; 1000]).unwrap();
    net.host.bsd().try_send(s, &[9; 500]).unwrap();
    net.guest.bsd().close(c).unwrap();
    let mut buf = [0u8; 1500];
    let mut got = 0;
    net.until(100, |n| {
        match n.host.bsd().try_recv(s, &mut buf) {
            Ok(0) => return true,
            Ok(k) => got += k,
            Err(e) => assert_eq!(e, EAGAIN),
        }
        false
    });
    assert_eq!(got, 1000);
    net.host.bsd().close(s).unwrap();

    let u = net.guest.bsd().open(SockKind::Datagram).unwrap();
    let peer = net.host.bsd().open(SockKind::Datagram).unwrap();
    net.host.bsd().bind(peer, sa(GW_IP, 7)).unwrap();
    net.guest.bsd().try_sendto(u, b"udp", sa(GW_IP, 7)).unwrap();
    let p = net.guest.bsd().open(SockKind::Echo).unwrap();
    net.guest
        .bsd()
        .try_sendto(p, &echo(i), sa(GW_IP, 0))
        .unwrap();
    net.guest.bind(2000).unwrap();
    net.host.send(25099, GUEST, 2000, b"lab").unwrap();
    net.run(5);
    assert_eq!(net.host.bsd().try_recv(peer, &mut buf), Ok(3));
    assert_eq!(net.guest.bsd().try_recv(p, &mut buf), Ok(12));
    assert_eq!(net.guest.try_recv(2000, &mut buf), Ok((GW, 25099, 3)));
    net.guest.bsd().close(u).unwrap();
    net.guest.bsd().close(p).unwrap();
    net.host.bsd().close(peer).unwrap();
    net.guest.unbind(2000).unwrap();
    net.until(100, |n| n.guest.socket_counts().orphans == 0);
}

#[test]
fn thousands_of_cycles_leave_nothing_behind() {
    let mut net = Net::new();
    let listener = net.host.bsd().open(SockKind::Stream).unwrap();
    let l = sa(GW_IP, 80);
    net.host.bsd().bind(listener, l).unwrap();
    net.host.bsd().listen(listener, 1).unwrap();
    for i in 0..20 {
        cycle(&mut net, l, listener, i);
    }
    let counts = (net.guest.socket_counts(), net.host.socket_counts());
    let bytes = live_bytes();
    for i in 20..2020 {
        cycle(&mut net, l, listener, i);
    }
    assert_eq!(
        (net.guest.socket_counts(), net.host.socket_counts()),
        counts
    );
    assert_eq!(live_bytes(), bytes, "heap bytes grew");
    assert_eq!(counts.0.open, 0);
    assert_eq!(counts.0.tcp, 0);
    assert_eq!(counts.1.tcp, 1, "just the listener");
    // Ephemeral ports went round the range and are still free.
    let port = net.guest.bsd().open(SockKind::Stream).unwrap();
    assert!(
        net.guest
            .bsd()
            .bind(port, sa(Ipv4Addr::UNSPECIFIED, 0))
            .is_ok()
    );
}
