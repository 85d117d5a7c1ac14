//! Host-side test harness: boots xv6net in QEMU and drives it through its console.
//!
//! - [`console`]: a child process's output as a buffer with a cursor; `expect`, `send_line`,
//!   `wait_exit`, panic detection and logs kept for failed runs.
//! - [`qemu`]: the machine's command line, per-test disk images and the [`Qemu`] launcher;
//!   [`session`]: one test's machine from boot to power-off, with its card, capture and failures.
//! - [`ifconfig`]: `ifconfig`'s output read (frame, drop and time counters).
//! - [`lab`]: the host side of the MIT net lab (its `nettest.py` roles); [`dns`]: the tests' DNS
//!   responder on 127.0.0.1.
//! - [`wire`]: the L2 wire, where the harness is the guest's whole network (raw Ethernet frames).
//! - [`socktest`]: the pattern and checksum of the guest's `socktest` transfers.
//! - [`free_port`]: loopback ports for network tests; [`shell_words`]: command lines for logs.
//!
//! The integration tests in `tests/` boot one machine each through a [`Session`]; `cargo xtask
//! test` runs them after building the kernel, the user programs and the image.

pub mod console;
pub mod dns;
pub mod ifconfig;
pub mod lab;
pub mod qemu;
pub mod session;
pub mod socktest;
pub mod wire;

pub use console::{Console, Pattern};
pub use qemu::{Artifacts, Qemu, QemuBuilder};
pub use session::Session;

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago, for QEMU's `hostfwd` or a harness peer.
///
/// The OS picks it (bind to port 0), so parallel tests do not collide; the port is released on
/// return, so another process could take it before the caller binds it: callers bind right away.
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_ports::<1>()?[0])
}

/// `N` distinct free TCP ports on 127.0.0.1, for one machine's forwards: each is held until
/// all are picked, so the OS cannot hand out the same one twice (as separate `free_port` calls
/// can, which made QEMU refuse a command line with two forwards on one port).
pub fn free_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let held = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, l) in ports.iter_mut().zip(&held) {
        *port = l.local_addr()?.port();
    }
    Ok(ports)
}

/// Shows a command the way a person would type it, for logs and error messages.
pub fn shell_words(program: &str, args: &[OsString]) -> String {
    let mut line = String::from(program);
    for arg in args {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+%".contains(c))
        {
            line.push_str(&arg);
        } else {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quotes_what_a_shell_would_split() {
        let args = ["a b".into(), "it's".into(), "".into(), "x=1,y".into()];
        assert_eq!(shell_words("p", &args), r"p 'a b' 'it'\''s' '' x=1,y");
    }

    #[test]
    fn free_port_can_be_bound_on_loopback() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn free_ports_are_distinct() {
        for _ in 0..50 {
            let ports = free_ports::<4>().unwrap();
            let set: std::collections::BTreeSet<_> = ports.iter().collect();
            assert_eq!(set.len(), 4, "{ports:?}");
            assert!(!ports.contains(&0));
        }
    }
}
