//! The benchmark's device ceiling (`net.echo=1`), on each card: hart 0 echoes UDP in the
//! driver with no stack. The host sends datagrams through a `hostfwd` on 127.0.0.1 and
//! must get each one back unchanged, also after a pause long enough for the echo loop to
//! wait for the NIC's interrupt; the shell on the other harts must keep working (its
//! console and disk interrupts are routed to hart 0, which serves them in the echo loop).

use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use harness::qemu::Nic;
use harness::{Session, free_port};

/// Datagrams per burst; every one must come back.
const DATAGRAMS: usize = 50;

/// How long one datagram may take to come back before it is sent again.
const REPLY: Duration = Duration::from_millis(500);

/// Tries per datagram (slirp may drop the first while it learns the guest's MAC by ARP).
const TRIES: usize = 6;

/// Sends `DATAGRAMS` distinct datagrams one at a time and checks each echo. A datagram sent
/// again after a slow first echo is echoed twice: late copies of earlier ones are skipped.
fn burst(sock: &UdpSocket, port: u16, tag: &str) -> Result<()> {
    let mut buf = [0u8; 2048];
    let payload = |i: usize| format!("{tag} datagram {i} {}", "x".repeat(i));
    for i in 0..DATAGRAMS {
        let want = payload(i);
        let mut echoed = false;
        'tries: for _ in 0..TRIES {
            sock.send_to(want.as_bytes(), ("127.0.0.1", port))?;
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, _)) if &buf[..n] == want.as_bytes() => {
                        echoed = true;
                        break 'tries;
                    }
                    Ok((n, _)) => ensure!(
                        (0..i).any(|j| &buf[..n] == payload(j).as_bytes()),
                        "datagram {i} came back as {:?}",
                        String::from_utf8_lossy(&buf[..n])
                    ),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        continue 'tries;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        ensure!(
            echoed,
            "{tag}: datagram {i} was never echoed ({TRIES} tries)"
        );
    }
    Ok(())
}

fn echo_mode(nic: Nic) -> Result<()> {
    let port = free_port()?;
    let mut q = Session::builder(&format!("net_echo_mode_{}", nic.name()))
        .nic(
            nic,
            format!("user,id=net0,hostfwd=udp:127.0.0.1:{port}-:2000"),
        )
        .append("net.echo=1")
        .boot()?;
    q.want_boot_line("net: device echo mode")?;
    let sock = UdpSocket::bind("127.0.0.1:0").context("binding the host's socket")?;
    sock.set_read_timeout(Some(REPLY))?;
    let r = burst(&sock, port, "first")
        .and_then(|()| {
            // Long past the echo loop's spinning: it now sleeps until the NIC interrupts.
            std::thread::sleep(Duration::from_millis(300));
            burst(&sock, port, "after a pause")
        })
        .and_then(|()| {
            q.run_want("echo still here", Duration::from_secs(60), &["still here"])
                .map(drop)
        });
    if let Err(e) = r {
        return Err(q.abort(e));
    }
    q.finish()
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_echo_mode_e1000() -> Result<()> {
    echo_mode(Nic::E1000)
}

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn net_echo_mode_virtio() -> Result<()> {
    echo_mode(Nic::Virtio)
}
