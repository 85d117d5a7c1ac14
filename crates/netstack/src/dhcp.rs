//! The DHCP client: smoltcp's `dhcpv4` socket, whose lease this file applies
//! to the interface (address, default route) and keeps for the kernel to show.
//!
//! The kernel calls [`NetStack::start_dhcp`] at boot and polls as usual; a poll
//! whose [`PollResult::config_changed`](crate::PollResult) is set acquired (or
//! lost) a lease, which [`NetStack::dhcp_lease`] returns. With no lease after a
//! while, the kernel may [`NetStack::stop_dhcp`] and [`NetStack::set_ipv4`] a
//! static address instead. The DNS servers of the lease are only reported:
//! nothing here resolves names unless the kernel passes one of them on.
//!
//! DHCP replies are UDP from port 67 to 68, often broadcast, and arrive before
//! we have an address: smoltcp gives them to the DHCP socket before its
//! address checks, and so does `classify`.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::socket::dhcpv4;

use crate::device::NetDevice;
use crate::stack::{Core, NetStack};

/// What the DHCP server granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// At most three, as the server listed them.
    pub dns_servers: Vec<Ipv4Addr>,
    /// The server that granted it.
    pub server: Ipv4Addr,
}

impl<D: NetDevice> NetStack<D> {
    /// Starts asking for a lease (once; again after `stop_dhcp`). The
    /// interface keeps its present address, if any, until a lease replaces it.
    pub fn start_dhcp(&mut self) {
        let core = &mut self.core;
        if core.dhcp.is_none() {
            core.dhcp = Some(core.sockets.add(dhcpv4::Socket::new()));
            core.host.dhcp = true;
        }
    }

    /// Stops the client; the address it configured stays until changed.
    pub fn stop_dhcp(&mut self) {
        let core = &mut self.core;
        if let Some(handle) = core.dhcp.take() {
            core.sockets.remove(handle);
            core.host.dhcp = false;
        }
    }

    /// The lease in force, if any.
    pub fn dhcp_lease(&self) -> Option<Lease> {
        self.core.lease.clone()
    }
}

impl Core {
    /// Applies what the DHCP client learnt since the last poll; true if the
    /// interface's configuration changed.
    pub(crate) fn dhcp_housekeeping(&mut self) -> bool {
        let Some(handle) = self.dhcp else {
            return false;
        };
        let lease = match self.sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => return false,
            Some(dhcpv4::Event::Configured(config)) => Some(Lease {
                addr: config.address.address(),
                prefix_len: config.address.prefix_len(),
                gateway: config.router,
                dns_servers: config.dns_servers.iter().copied().collect(),
                server: config.server.address,
            }),
            // The client starts by saying so: nothing to undo then.
            Some(dhcpv4::Event::Deconfigured) if self.lease.is_none() => return false,
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match &lease {
            Some(l) => self.set_ipv4(Some((l.addr, l.prefix_len)), l.gateway),
            None => self.set_ipv4(None, None),
        }
        self.lease = lease;
        true
    }
}
