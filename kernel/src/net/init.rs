//! Boot: find a NIC (E1000 on PCI first, then virtio-net on virtio-mmio), bring the stack
//! up on it with the address the command line or DHCP gives, and publish it as NET.
//!
//! Kernel command line options: `net.ring=N` (descriptors per ring, default 16),
//! `e1000.itr=N` (interrupt throttling), `net.ip=A.B.C.D/N` and `net.gw=A.B.C.D|none`
//! (a static address; a bad value is reported and ignored), `net.dhcp=0|1` (DHCP is on
//! unless `net.ip` is given), `net.echo=1` (the benchmark's device echo, see `echo`).

use super::lab::FirstFrames;
use super::nic::{Nic, NicCtl, NicRx, NicTx};
use super::{NET, Net, now_ms, poll};
use crate::arch::riscv::r_time;
use crate::drivers::{e1000, virtio_net};
use crate::dtb::platform;
use crate::sync::spinlock::Spinlock;
use core::net::Ipv4Addr;
use netstack::{Config, NetDevice, NetStack};

/// How long boot waits for a DHCP lease before going on with the static address.
/// QEMU's user network answers within milliseconds; a link without a server costs
/// this wait once, and the client keeps trying in the background.
const DHCP_BOOT_WAIT_MS: u64 = 2000;

fn bootarg_usize(key: &str, default: usize) -> usize {
    platform()
        .bootarg(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Finds the NIC and brings the stack up on it; without a NIC, NET stays unset and
/// every network call fails with ENETDOWN.
pub fn netinit() {
    let ring = bootarg_usize("net.ring", 16);
    let itr = bootarg_usize("e1000.itr", 0) as u32;
    // `layout`: how the boot line names a ring layout other than the card's usual one.
    let (nic, irq, name, layout) = if let Some((c, r, t)) = e1000::probe(ring, ring, itr) {
        let irq = c.irq();
        let nic = Nic::new(NicCtl::E1000(c), NicRx::E1000(r), NicTx::E1000(t));
        (nic, irq, "e1000", "")
    } else if let Some((c, r, t)) = virtio_net::probe(ring) {
        let (irq, layout) = (c.irq(), if c.packed() { " packed" } else { "" });
        let nic = Nic::new(NicCtl::Virtio(c), NicRx::Virtio(r), NicTx::Virtio(t));
        (nic, irq, "virtio-net", layout)
    } else {
        crate::println!("net: no network card found");
        return;
    };
    let m = nic.mac();
    let args = platform();
    let (config, refused) = Config {
        random_seed: r_time() as u64,
        ..Config::default()
    }
    .with_bootargs(args.bootarg("net.ip"), args.bootarg("net.gw"));
    for bad in refused.iter().flatten() {
        crate::println!("net: bad {}, ignored", bad);
    }
    let mut stack = NetStack::new(nic, config);
    let (addr, prefix) = stack.ipv4();
    crate::println!(
        "net: {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} irq {} ring {}{}",
        name,
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5],
        irq,
        ring,
        layout
    );
    crate::println!(
        "net: addr {}/{} gw {}",
        addr,
        prefix,
        OrNone(config.gateway)
    );
    let mut first_frames = FirstFrames::default();
    // DHCP by default, as a user expects, unless the command line set an address
    // (`net.ip=`) or asked for the device echo; `net.dhcp=0` keeps the static address.
    let echo = bootarg_usize("net.echo", 0) == 1;
    let dhcp_default = usize::from(args.bootarg("net.ip").is_none());
    if !echo && bootarg_usize("net.dhcp", dhcp_default) == 1 {
        stack.start_dhcp();
        wait_for_lease(&mut stack, &mut first_frames, addr, prefix);
    }
    NET.set(Spinlock::new(
        "net",
        Net {
            stack,
            napi: Default::default(),
            interrupts: 0,
            echo,
            first_frames,
        },
    ));
    if !echo {
        poll::NIC_IRQ.set(irq);
        // The first tick polls, so that timers the stack started (DHCP) run from then on.
        poll::poll_at_next_tick();
    }
    // In the echo mode the NIC's interrupt stays enabled at the PLIC for hart 0, which
    // claims it itself (`echo::run`); nothing else takes it (NIC_IRQ is not set).
}

/// Polls the stack (no interrupts yet at boot) until DHCP gives a lease or the wait
/// ends, so the lease line comes before the shell's prompt.
fn wait_for_lease(
    stack: &mut NetStack<Nic>,
    first_frames: &mut FirstFrames,
    addr: Ipv4Addr,
    prefix: u8,
) {
    let deadline = now_ms() + DHCP_BOOT_WAIT_MS;
    while now_ms() < deadline {
        let changed = stack.poll(now_ms()).config_changed;
        first_frames.note(&stack.counters());
        if changed && stack.dhcp_lease().is_some() {
            print_lease(stack);
            return;
        }
        let next = r_time() + platform().timebase / 1000;
        while r_time() < next {
            core::hint::spin_loop();
        }
    }
    crate::println!(
        "net: no DHCP lease within {} ms: static {}/{} until one comes",
        DHCP_BOOT_WAIT_MS,
        addr,
        prefix
    );
}

/// Prints the DHCP lease just acquired (or lost).
/// An optional address as a user reads it: `10.0.2.2`, or `none`.
struct OrNone(Option<Ipv4Addr>);

impl core::fmt::Display for OrNone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("none"),
        }
    }
}

pub(super) fn print_lease(stack: &NetStack<Nic>) {
    match stack.dhcp_lease() {
        Some(l) => {
            crate::println!(
                "dhcp: lease {}/{} gw {} dns {} from {}",
                l.addr,
                l.prefix_len,
                OrNone(l.gateway),
                OrNone(l.dns_servers.first().copied()),
                l.server
            );
        }
        None => crate::println!("dhcp: lease lost"),
    }
}
