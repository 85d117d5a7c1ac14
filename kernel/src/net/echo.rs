//! The device-ceiling mode (`net.echo=1` on the kernel command line): hart 0 gives
//! up scheduling and polls the NIC, answering ARP and echoing every UDP datagram
//! and ICMP echo request itself (`netstack::echo`), with no stack, no sockets, no
//! system calls and no interrupts. The benchmark measures this to learn what QEMU's
//! device and network allow, and shows every other figure as a fraction of it.

use super::lock;
use netstack::{NetDevice, RxRing, TxRing};

/// Frames taken per lock hold, so that other harts (ifconfig) still get the lock.
const BATCH: usize = 32;

/// Whether the kernel was booted with `net.echo=1` (then hart 0 runs `run`).
pub fn enabled() -> bool {
    super::lock().is_ok_and(|net| net.echo)
}

/// Polls and echoes forever.
pub fn run() -> ! {
    crate::println!(
        "net: device echo mode: hart {} echoes UDP and ICMP echo in the driver",
        crate::proc::cpuid()
    );
    loop {
        let Ok(mut net) = lock() else {
            panic!("net.echo=1 without a NIC")
        };
        let (mac, ip) = (net.stack.mac(), net.stack.ipv4().0.octets());
        let (rx, tx) = net.stack.device().split();
        for _ in 0..BATCH {
            let mut reply = [0u8; 1514];
            let Some(answer) =
                rx.receive(|frame| netstack::echo::echo_reply(frame, mac, ip, &mut reply))
            else {
                break;
            };
            if let Some(len) = answer {
                // A full TX ring drops the echo, as a busy card would.
                let _ = tx.transmit(len, |out| out.copy_from_slice(&reply[..len]));
            }
        }
        drop(net);
        core::hint::spin_loop();
    }
}
