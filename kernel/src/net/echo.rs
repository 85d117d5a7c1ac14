//! The device-ceiling mode (`net.echo=1` on the kernel command line): hart 0 gives
//! up scheduling and serves the NIC itself, answering ARP and echoing every UDP datagram
//! and ICMP echo request in the driver (`netstack::echo`), with no stack, no sockets and
//! no system calls. The benchmark measures this to learn what QEMU's device and network
//! allow, and shows every other figure as a fraction of it.
//!
//! The loop polls while frames come, and after `IDLE_SPIN_US` without one it waits for
//! the NIC's interrupt in `wfi`. A hart that spun forever would keep a host core busy,
//! and on a machine with few cores it would compete with the QEMU threads that move the
//! frames (slirp, and virtio-net's transmit, which runs in QEMU's main loop): the ceiling
//! would then measure the host's scheduler rather than the device.

use super::lock;
use crate::arch::plic::{plic_claim, plic_complete};
use crate::arch::riscv::{r_time, w_stimecmp};
use crate::dtb::platform;
use netstack::{NetDevice, RxRing, TxRing};

/// Frames taken per lock hold, so that other harts (ifconfig) still get the lock.
const BATCH: usize = 32;

/// How long the loop keeps polling an empty ring before it waits for an interrupt.
const IDLE_SPIN_US: u64 = 100;

/// Whether the kernel was booted with `net.echo=1` (then hart 0 runs `run`).
pub fn enabled() -> bool {
    super::lock().is_ok_and(|net| net.echo)
}

/// Serves the NIC forever.
pub fn run() -> ! {
    crate::println!(
        "net: device echo mode: hart {} echoes UDP and ICMP echo in the driver",
        crate::proc::cpuid()
    );
    // This hart takes no clock ticks: only the NIC (and the other devices routed here)
    // may end its `wfi`.
    w_stimecmp(u64::MAX as usize);
    let spin = platform().timebase as u64 * IDLE_SPIN_US / 1_000_000;
    let mut last_frame = r_time() as u64;
    loop {
        if echo_batch() > 0 {
            last_frame = r_time() as u64;
        } else if r_time() as u64 - last_frame > spin {
            wait_for_interrupt();
            last_frame = r_time() as u64;
        } else {
            core::hint::spin_loop();
        }
    }
}

/// Echoes up to BATCH frames, then rings each ring's doorbell once; returns how many
/// frames it took.
fn echo_batch() -> usize {
    let Ok(mut net) = lock() else {
        panic!("net.echo=1 without a NIC")
    };
    let (mac, ip) = (net.stack.mac(), net.stack.ipv4().0.octets());
    let (rx, tx) = net.stack.device().split();
    let mut took = 0;
    for _ in 0..BATCH {
        let mut reply = [0u8; 1514];
        let Some(answer) =
            rx.receive(|frame| netstack::echo::echo_reply(frame, mac, ip, &mut reply))
        else {
            break;
        };
        took += 1;
        if let Some(len) = answer {
            // A full TX ring drops the echo, as a busy card would.
            let _ = tx.transmit(len, |out| out.copy_from_slice(&reply[..len]));
        }
    }
    // One doorbell per ring for the batch: the echoes leave, the RX slots go back.
    tx.flush();
    rx.flush();
    took
}

/// Acknowledges the card (so that its next frame raises the interrupt line again), and
/// unless a frame came meanwhile, waits in `wfi` for an interrupt, with interrupts off in
/// `sstatus`: a pending one still ends `wfi`, and is claimed and served here. The other
/// devices routed to this hart (console, disk) are served too, so the shell on the other
/// harts keeps working.
fn wait_for_interrupt() {
    {
        let Ok(mut net) = lock() else { return };
        net.stack.device().ack_irq();
        if net.stack.device().rx_ready() {
            return;
        }
    }
    // SAFETY: waiting for an interrupt has no memory effects.
    unsafe { core::arch::asm!("wfi") };
    loop {
        let irq = plic_claim();
        if irq == 0 {
            return;
        }
        if irq == platform().uart_irq {
            crate::drivers::uart::uartintr();
        } else if Some(irq) == crate::drivers::virtio_disk::irq() {
            crate::drivers::virtio_disk::virtio_disk_intr();
        }
        plic_complete(irq);
    }
}
