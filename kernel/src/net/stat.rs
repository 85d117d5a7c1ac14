//! `netstat`: the interface (card, addresses) and its counters for user space, in
//! `abi::net::NetStat`'s layout (what `ifconfig` and httpd's `/stats` show).

use super::nic::NicCtl;
use super::{cost, lock};
use abi::errno::Errno;
use abi::net::{NETSTAT_TIMED, NIC_E1000, NIC_VIRTIO, NetStat};
use core::net::Ipv4Addr;

fn host_order(a: Option<Ipv4Addr>) -> u32 {
    a.map_or(0, |a| u32::from_be_bytes(a.octets()))
}

/// The interface's state and counters now.
pub fn netstat() -> Result<NetStat, Errno> {
    let mut net = lock()?;
    let c = net.stack.counters();
    let (addr, prefix) = net.stack.ipv4();
    let mut mac = [0u8; 8];
    mac[..6].copy_from_slice(&net.stack.mac());
    let nic = match &net.stack.device().ctl {
        NicCtl::E1000(_) => NIC_E1000,
        NicCtl::Virtio(_) => NIC_VIRTIO,
    };
    let dns = net
        .stack
        .dhcp_lease()
        .and_then(|l| l.dns_servers.first().copied());
    let (tx_doorbells, rx_doorbells) = net.stack.device().doorbells();
    let times = cost::totals_ns();
    let [driver_ns, stack_ns, copy_ns] = times.unwrap_or_default();
    Ok(NetStat {
        nic,
        addr: host_order(Some(addr)),
        prefix_len: prefix as u32,
        gateway: host_order(net.stack.gateway()),
        dns_server: host_order(dns),
        flags: if times.is_some() { NETSTAT_TIMED } else { 0 },
        mac,
        rx_frames: c.rx_frames,
        rx_bytes: c.rx_bytes,
        tx_frames: c.tx_frames,
        tx_bytes: c.tx_bytes,
        interrupts: net.interrupts,
        drop_malformed: c.drops.malformed,
        drop_unsupported: c.drops.unsupported,
        drop_not_for_us: c.drops.not_for_us,
        drop_no_socket: c.drops.no_socket,
        drop_queue_full: c.drops.queue_full,
        drop_tx_ring_full: c.drops.tx_ring_full,
        drop_rx_ring_full: c.drops.rx_ring_full,
        drop_unresolved: c.drops.unresolved,
        driver_ns,
        stack_ns,
        copy_ns,
        drop_martian: c.drops.martian,
        heap_used: crate::mm::heap::heap_used() as u64,
        tx_doorbells,
        rx_doorbells,
    })
}
