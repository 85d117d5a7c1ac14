//! The 16550a UART (QEMU's serial port; address and IRQ from the device tree).
//! Output to the console device goes through an interrupt-driven transmit buffer;
//! kernel printing uses the synchronous `uartputc_sync`.

use crate::dtb::platform;
use crate::mm::mmio::Mmio;
use crate::proc::{sleep, wakeup};
use crate::sync::spinlock::{Spinlock, pop_off, push_off};
use core::sync::atomic::{AtomicBool, Ordering};

// Registers (offsets from the base), see http://byterunner.com/16550.html.
const RHR: usize = 0; // receive holding register (input bytes)
const THR: usize = 0; // transmit holding register (output bytes)
const IER: usize = 1; // interrupt enable register
const IER_RX_ENABLE: u8 = 1 << 0;
const IER_TX_ENABLE: u8 = 1 << 1;
const FCR: usize = 2; // FIFO control register
const FCR_FIFO_ENABLE: u8 = 1 << 0;
const FCR_FIFO_CLEAR: u8 = 3 << 1;
const LCR: usize = 3; // line control register
const LCR_EIGHT_BITS: u8 = 0b11;
const LCR_BAUD_LATCH: u8 = 1 << 7;
const LSR: usize = 5; // line status register
const LSR_RX_READY: u8 = 1 << 0;
const LSR_TX_IDLE: u8 = 1 << 5;

/// Set when the kernel panics: other harts stop printing.
pub static PANICKED: AtomicBool = AtomicBool::new(false);

const TX_BUF_SIZE: usize = 32;

struct TxBuf {
    buf: [u8; TX_BUF_SIZE],
    /// Next slot to write (buf[w % SIZE]).
    w: usize,
    /// Next slot to send (buf[r % SIZE]).
    r: usize,
}

static TX: Spinlock<TxBuf> = Spinlock::new(
    "uart",
    TxBuf {
        buf: [0; TX_BUF_SIZE],
        w: 0,
        r: 0,
    },
);

fn regs() -> Mmio {
    // SAFETY: the UART's window from the device tree is mapped by kvmmake (and is
    // identity-mapped before paging is on).
    unsafe { Mmio::new(platform().uart) }
}

pub fn uartinit() {
    let u = regs();
    u.write8(IER, 0x00);
    // Baud rate 38.4K.
    u.write8(LCR, LCR_BAUD_LATCH);
    u.write8(0, 0x03);
    u.write8(1, 0x00);
    u.write8(LCR, LCR_EIGHT_BITS);
    u.write8(FCR, FCR_FIFO_ENABLE | FCR_FIFO_CLEAR);
    u.write8(IER, IER_TX_ENABLE | IER_RX_ENABLE);
}

fn tx_chan(tx: &TxBuf) -> usize {
    &tx.r as *const usize as usize
}

/// Adds a byte to the output buffer, sleeping while it is full. Not for interrupts.
pub fn uartputc(c: u8) {
    let mut tx = TX.lock();
    if PANICKED.load(Ordering::Relaxed) {
        loop {
            core::hint::spin_loop();
        }
    }
    while tx.w == tx.r + TX_BUF_SIZE {
        // Buffer full: wait for uartstart() to open up space.
        let chan = tx_chan(&tx);
        tx = sleep(chan, tx);
    }
    let w = tx.w;
    tx.buf[w % TX_BUF_SIZE] = c;
    tx.w += 1;
    uartstart(&mut tx);
}

/// Writes a byte without interrupts or the buffer: for kernel printf and echoing.
pub fn uartputc_sync(c: u8) {
    push_off();
    if PANICKED.load(Ordering::Relaxed) && !crate::printf::is_panicking_hart() {
        loop {
            core::hint::spin_loop();
        }
    }
    let u = regs();
    while u.read8(LSR) & LSR_TX_IDLE == 0 {}
    u.write8(THR, c);
    pop_off();
}

/// Sends buffered bytes while the UART can take them. Caller holds the TX lock.
fn uartstart(tx: &mut TxBuf) {
    let u = regs();
    while tx.w != tx.r {
        if u.read8(LSR) & LSR_TX_IDLE == 0 {
            // The UART will interrupt when it is ready for another byte.
            return;
        }
        let c = tx.buf[tx.r % TX_BUF_SIZE];
        tx.r += 1;
        // uartputc() may be waiting for space.
        wakeup(tx_chan(tx));
        u.write8(THR, c);
    }
}

fn uartgetc() -> Option<u8> {
    let u = regs();
    if u.read8(LSR) & LSR_RX_READY != 0 {
        Some(u.read8(RHR))
    } else {
        None
    }
}

/// UART interrupt: input arrived, or the transmitter is ready for more.
pub fn uartintr() {
    while let Some(c) = uartgetc() {
        crate::drivers::console::consoleintr(c);
    }
    let mut tx = TX.lock();
    uartstart(&mut tx);
}
