//! The console device (major 1): reads a line at a time from the UART with xv6's line
//! discipline — backspace and DEL erase a character, ^U kills the line, ^D is end of
//! file, ^P lists processes — and writes through the UART's buffered output.

use super::uart::{uartputc, uartputc_sync};
use crate::proc::{either_copyin, either_copyout, killed, myproc, procdump, sleep, wakeup};
use crate::sync::spinlock::Spinlock;

const INPUT_BUF_SIZE: usize = 128;

const fn ctrl(c: u8) -> u8 {
    c - b'@'
}
const BACKSPACE: u8 = 0x08;
const DEL: u8 = 0x7f;

struct Cons {
    buf: [u8; INPUT_BUF_SIZE],
    /// Read index.
    r: usize,
    /// Write index: end of the last complete line.
    w: usize,
    /// Edit index.
    e: usize,
}

static CONS: Spinlock<Cons> = Spinlock::new(
    "cons",
    Cons {
        buf: [0; INPUT_BUF_SIZE],
        r: 0,
        w: 0,
        e: 0,
    },
);

fn read_chan(c: &Cons) -> usize {
    &c.r as *const usize as usize
}

/// Echoes one character; backspace erases the previous one on the terminal.
fn consputc(c: u8) {
    if c == BACKSPACE {
        uartputc_sync(BACKSPACE);
        uartputc_sync(b' ');
        uartputc_sync(BACKSPACE);
    } else {
        uartputc_sync(c);
    }
}

/// User write()s to the console go here.
pub fn consolewrite(user_src: bool, src: usize, n: usize) -> Result<usize, ()> {
    let mut chunk = [0u8; 64];
    let mut done = 0;
    while done < n {
        let m = (n - done).min(chunk.len());
        if either_copyin(&mut chunk[..m], user_src, src + done).is_err() {
            break;
        }
        for &c in &chunk[..m] {
            uartputc(c);
        }
        done += m;
    }
    Ok(done)
}

/// User read()s from the console go here: copies (up to) a whole input line.
pub fn consoleread(user_dst: bool, mut dst: usize, mut n: usize) -> Result<usize, ()> {
    let target = n;
    let mut cons = CONS.lock();
    while n > 0 {
        // Wait until the interrupt handler has put a line into the buffer.
        while cons.r == cons.w {
            if killed(myproc()) {
                return Err(());
            }
            let chan = read_chan(&cons);
            cons = sleep(chan, cons);
        }
        let c = cons.buf[cons.r % INPUT_BUF_SIZE];
        cons.r += 1;
        if c == ctrl(b'D') {
            // End of file. If we already read something, save ^D for next time, so the
            // caller gets a 0-byte result then.
            if n < target {
                cons.r -= 1;
            }
            break;
        }
        if either_copyout(user_dst, dst, &[c]).is_err() {
            break;
        }
        dst += 1;
        n -= 1;
        if c == b'\n' {
            // A whole line has arrived: return to the user-level read().
            break;
        }
    }
    Ok(target - n)
}

/// The UART interrupt handler calls this for each input character.
pub fn consoleintr(c: u8) {
    let mut cons = CONS.lock();
    match c {
        c if c == ctrl(b'P') => {
            drop(cons);
            procdump();
        }
        c if c == ctrl(b'U') => {
            while cons.e != cons.w && cons.buf[(cons.e - 1) % INPUT_BUF_SIZE] != b'\n' {
                cons.e -= 1;
                consputc(BACKSPACE);
            }
        }
        BACKSPACE | DEL => {
            if cons.e != cons.w {
                cons.e -= 1;
                consputc(BACKSPACE);
            }
        }
        0 => {}
        c => {
            if cons.e - cons.r < INPUT_BUF_SIZE {
                let c = if c == b'\r' { b'\n' } else { c };
                consputc(c);
                let e = cons.e;
                cons.buf[e % INPUT_BUF_SIZE] = c;
                cons.e += 1;
                if c == b'\n' || c == ctrl(b'D') || cons.e - cons.r == INPUT_BUF_SIZE {
                    // Wake up consoleread() if a whole line (or end-of-file) has arrived.
                    cons.w = cons.e;
                    wakeup(read_chan(&cons));
                }
            }
        }
    }
}
