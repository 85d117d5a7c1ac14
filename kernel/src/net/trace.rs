//! `nettrace`: netstack describes every frame in and out, one line per layer; this
//! sends the lines to the console.

use super::lock;
use abi::errno::Errno;
use alloc::boxed::Box;

/// Writes trace lines to the UART as `printf` does, but without its lock: a line comes
/// in pieces (one per field), and trace output is best effort.
struct ConsoleTrace;

impl core::fmt::Write for ConsoleTrace {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            crate::drivers::uart::uartputc_sync(b);
        }
        Ok(())
    }
}

/// Turns the per-packet trace on or off.
pub fn set_trace(on: bool) -> Result<(), Errno> {
    let tracer = on.then(|| Box::new(ConsoleTrace) as netstack::Tracer);
    lock()?.stack.set_tracer(tracer);
    Ok(())
}
