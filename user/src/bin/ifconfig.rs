//! ifconfig: show the network card, its addresses and every counter (netstat).
#![no_std]
#![no_main]

use abi::net::{NETSTAT_TIMED, NIC_E1000, NIC_VIRTIO};
use ulib::net::Ipv4;
use ulib::*;

#[unsafe(no_mangle)]
fn main(args: &[&str]) -> i32 {
    if args.len() != 1 {
        eprintln!("usage: ifconfig");
        return 1;
    }
    let Some(s) = netstat() else {
        eprintln!("ifconfig: no network card");
        return 1;
    };
    let nic = match s.nic {
        NIC_E1000 => "e1000",
        NIC_VIRTIO => "virtio-net",
        _ => "none",
    };
    let m = s.mac;
    println!("{nic}:");
    println!(
        "  ether {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    );
    println!("  inet {}/{}", Ipv4(s.addr), s.prefix_len);
    if s.gateway != 0 {
        println!("  gateway {}", Ipv4(s.gateway));
    } else {
        println!("  gateway none");
    }
    // The resolver programs use by default: the one the DHCP lease named.
    if s.dns_server != 0 {
        println!("  dns {} (DHCP)", Ipv4(s.dns_server));
    } else {
        println!("  dns none");
    }
    println!("  rx {} frames {} bytes", s.rx_frames, s.rx_bytes);
    println!("  tx {} frames {} bytes", s.tx_frames, s.tx_bytes);
    println!("  interrupts {}", s.interrupts);
    println!("  doorbells tx {} rx {}", s.tx_doorbells, s.rx_doorbells);
    println!("  heap {} bytes in use", s.heap_used);
    println!(
        "  drops: malformed {} unsupported {} not-for-us {} no-socket {}",
        s.drop_malformed, s.drop_unsupported, s.drop_not_for_us, s.drop_no_socket
    );
    println!(
        "  drops: queue-full {} tx-ring-full {} rx-ring-full {}",
        s.drop_queue_full, s.drop_tx_ring_full, s.drop_rx_ring_full
    );
    println!(
        "  drops: martian {} unresolved {}",
        s.drop_martian, s.drop_unresolved
    );
    // One line of totals for the benchmark to parse, from a kernel that measures them.
    if s.flags & NETSTAT_TIMED != 0 {
        println!(
            "  time: driver_ns={} stack_ns={} copy_ns={} rx={} tx={} interrupts={} tx_doorbells={} rx_doorbells={}",
            s.driver_ns,
            s.stack_ns,
            s.copy_ns,
            s.rx_frames,
            s.tx_frames,
            s.interrupts,
            s.tx_doorbells,
            s.rx_doorbells
        );
    }
    0
}
