//! Host-side test harness: boots xv6net in QEMU and drives it through its console.
//!
//! - [`console`]: a child process's output as a buffer with a cursor; `expect`, `send_line`,
//!   `wait_exit`, panic detection and logs kept for failed runs.
//! - [`qemu`]: the machine's command line, per-test disk images and the [`Qemu`] launcher.
//! - [`free_port`]: loopback ports for network tests.
//!
//! The integration tests in `tests/` boot one machine each; `cargo xtask test` runs them after
//! building the kernel, the user programs and the image.

pub mod console;
pub mod qemu;

pub use console::{Console, Pattern};
pub use qemu::{Artifacts, Qemu, QemuBuilder};

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago, for QEMU's `hostfwd` or a harness peer.
///
/// The OS picks it (bind to port 0), so parallel tests do not collide; the port is released on
/// return, so another process could take it before the caller binds it: callers bind right away.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_port_can_be_bound_on_loopback() {
        let port = super::free_port().unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
