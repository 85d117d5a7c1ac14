//! Device drivers: the UART console, virtio-blk, and the NICs (E1000 on PCI,
//! virtio-net); character devices by major number.

pub mod console;
pub mod e1000;
pub mod e1000_regs;
pub mod pci;
pub mod uart;
pub mod virtio;
pub mod virtio_disk;
pub mod virtio_net;
pub mod virtio_packed;
pub mod virtqueue;

/// Reads from character device `major` into a user or kernel address.
pub fn devread(major: i16, user_dst: bool, dst: usize, n: usize) -> Result<usize, ()> {
    match major {
        abi::CONSOLE => console::consoleread(user_dst, dst, n),
        _ => Err(()),
    }
}

/// Writes to character device `major` from a user or kernel address.
pub fn devwrite(major: i16, user_src: bool, src: usize, n: usize) -> Result<usize, ()> {
    match major {
        abi::CONSOLE => console::consolewrite(user_src, src, n),
        _ => Err(()),
    }
}
