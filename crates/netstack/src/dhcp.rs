//! The DHCP client: smoltcp's `dhcpv4` socket, whose lease the stack applies
//! to the interface (address, default route) and keeps for the kernel to show.
//!
//! The kernel calls [`NetStack::start_dhcp`](crate::NetStack::start_dhcp) at
//! boot and polls as usual; a poll whose
//! [`PollResult::config_changed`](crate::PollResult) is set acquired (or lost)
//! a lease, which [`NetStack::dhcp_lease`](crate::NetStack::dhcp_lease)
//! returns. With no lease after a while, the kernel may
//! [`NetStack::stop_dhcp`](crate::NetStack::stop_dhcp) and
//! [`NetStack::set_ipv4`](crate::NetStack::set_ipv4) a static address
//! instead. The DNS servers of the lease are only reported: user programs
//! resolve names themselves.
//!
//! DHCP replies are UDP from port 67 to 68, often broadcast, and arrive before
//! we have an address: smoltcp gives them to the DHCP socket before its
//! address checks, and so does `classify`.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;

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

/// The client: its smoltcp socket while it runs, and the lease in force.
pub(crate) struct Dhcp {
    handle: Option<SocketHandle>,
    lease: Option<Lease>,
}

impl Dhcp {
    pub(crate) fn new() -> Dhcp {
        Dhcp {
            handle: None,
            lease: None,
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// Starts asking for a lease, unless already asking.
    pub(crate) fn start(&mut self, sockets: &mut SocketSet<'static>) {
        if self.handle.is_none() {
            self.handle = Some(sockets.add(dhcpv4::Socket::new()));
        }
    }

    /// Stops the client; the lease stays on record.
    pub(crate) fn stop(&mut self, sockets: &mut SocketSet<'static>) {
        if let Some(handle) = self.handle.take() {
            sockets.remove(handle);
        }
    }

    pub(crate) fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Takes in what the client learnt since the last poll; true if the lease
    /// changed, and with it the interface's configuration.
    pub(crate) fn poll(&mut self, sockets: &mut SocketSet<'static>) -> bool {
        let Some(handle) = self.handle else {
            return false;
        };
        self.lease = match sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
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
        true
    }
}
