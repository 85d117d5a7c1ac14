//! `socktest cycles IP PORT N`: N connect/close cycles (and N UDP and listener
//! open/close cycles); free pages must be the same before and after, and the kernel heap
//! bytes in use must not have grown.

use ulib::socket::{self as so, Errno};
use ulib::*;

/// Looks (100 ms apart) for the heap to come back to its size before the cycles.
const HEAP_SETTLE_TRIES: usize = 50;

/// The kernel heap in use once the last closed connections have finished their FIN
/// handshakes (orphans free their buffers then): the same for 500 ms, or after 5 s.
fn settled_heap() -> usize {
    let mut last = heapused();
    let mut same = 0;
    for _ in 0..HEAP_SETTLE_TRIES {
        so::sleep_ms(100);
        let now = heapused();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 5 {
            break;
        }
    }
    last
}
pub fn cycles(ip: u32, port: u16, n: usize) -> i32 {
    // Each descriptor is closed whatever happens, so that a retry leaks nothing.
    let one = |i: usize| -> Result<(), Errno> {
        let fd = so::tcp_connect((ip, port))?;
        let r = if i.is_multiple_of(2) {
            so::send_all(fd, b"bye")
        } else {
            Ok(())
        };
        close(fd);
        r?;
        let u = so::udp_socket()?;
        let r = so::sendto(u, b"x", 0, Some((ip, port)));
        close(u);
        r?;
        let l = so::tcp_socket()?;
        let r = so::listen(l, 1);
        close(l);
        r
    };
    // Closed connections finish their FIN handshakes in the stack's orphan list, which
    // shares the TCP socket pool with the servers' listeners: when the pool is full
    // (ENOBUFS), wait for orphans to finish, a bounded number of times.
    let one = |i: usize| -> Result<(), Errno> {
        let mut tries = 0;
        loop {
            match one(i) {
                Err(so::ENOBUFS) if tries < 200 => {
                    tries += 1;
                    so::sleep_ms(20);
                }
                r => return r,
            }
        }
    };
    // A few first, so that whatever is allocated once is counted in both numbers.
    for i in 0..10 {
        if let Err(e) = one(i) {
            println!("socktest cycles: warm-up {}: {}", i, e);
            return 1;
        }
    }
    let before = (freemem(), settled_heap());
    for i in 0..n {
        if let Err(e) = one(i) {
            println!("socktest cycles: cycle {}: {}", i, e);
            return 1;
        }
    }
    let pages_after = freemem();
    let mut heap_after = settled_heap();
    for _ in 0..HEAP_SETTLE_TRIES {
        if heap_after <= before.1 {
            break;
        }
        so::sleep_ms(100);
        heap_after = heapused();
    }
    let after = (pages_after, heap_after);
    println!(
        "socktest cycles: {} cycles, free pages {} before, {} after",
        n, before.0, after.0
    );
    println!(
        "socktest cycles: kernel heap {} bytes in use before, {} after",
        before.1, after.1
    );
    if before.0 != after.0 {
        println!("socktest cycles: FAILED (pages leaked)");
        1
    } else if after.1 > before.1 {
        println!("socktest cycles: FAILED (kernel heap leaked)");
        1
    } else {
        // Less than before is no leak: a connection closed before the cycles, its peer slow
        // to answer the FIN, was still holding its buffers when "before" was read.
        if after.1 < before.1 {
            println!(
                "socktest cycles: {} bytes fewer: an earlier connection finished meanwhile",
                before.1 - after.1
            );
        }
        println!("socktest cycles: OK");
        0
    }
}
