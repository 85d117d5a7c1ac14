//! The programs that move the test pattern and check it: `tx` sends it, `sink`
//! receives a connection and answers with the byte count and checksum, `sum` checks a
//! file. The checksum is 32-bit FNV-1a; the pattern's byte i is
//! `(i * 7 + i / 4093) as u8`. The harness computes both too and compares.

use ulib::socket as so;
use ulib::*;

/// Byte `i` of the test pattern.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) + i / 4093) as u8
}

/// 32-bit FNV-1a.
struct Fnv(u32);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0x811c9dc5)
    }
    fn add(&mut self, b: &[u8]) {
        for &c in b {
            self.0 = (self.0 ^ u32::from(c)).wrapping_mul(0x0100_0193);
        }
    }
}

pub fn tx(ip: u32, port: u16, bytes: usize) -> i32 {
    let fd = match so::tcp_connect((ip, port)) {
        Ok(fd) => fd,
        Err(e) => {
            println!("socktest tx: connect: {}", e);
            return 1;
        }
    };
    let mut buf = vec![0u8; 4096];
    let mut sum = Fnv::new();
    let mut off = 0;
    while off < bytes {
        let n = (bytes - off).min(buf.len());
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(off + j);
        }
        sum.add(&buf[..n]);
        if let Err(e) = so::send_all(fd, &buf[..n]) {
            println!("socktest tx: send at {}: {}", off, e);
            return 1;
        }
        off += n;
    }
    close(fd);
    println!("socktest tx: sent {} sum {:08x}", bytes, sum.0);
    0
}

pub fn sink(port: u16) -> i32 {
    let l = match so::tcp_socket()
        .and_then(|fd| so::bind(fd, (0, port)).map(|_| fd))
        .and_then(|fd| so::listen(fd, 1).map(|_| fd))
    {
        Ok(l) => l,
        Err(e) => {
            println!("socktest sink: {}", e);
            return 1;
        }
    };
    println!("socktest sink: listening on {}", port);
    let (fd, _) = match so::accept(l) {
        Ok(c) => c,
        Err(e) => {
            println!("socktest sink: accept: {}", e);
            return 1;
        }
    };
    close(l);
    let mut buf = vec![0u8; 4096];
    let mut sum = Fnv::new();
    let mut total = 0usize;
    loop {
        match so::recv(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                sum.add(&buf[..n]);
                total += n;
            }
            Err(e) => {
                println!("socktest sink: recv after {}: {}", total, e);
                return 1;
            }
        }
    }
    let line = format!("received {} sum {:08x}\n", total, sum.0);
    let _ = so::send_all(fd, line.as_bytes());
    close(fd);
    print!("socktest sink: {}", line);
    0
}

pub fn sum(path: &str) -> i32 {
    let fd = open(path, O_RDONLY);
    if fd < 0 {
        println!("socktest sum: cannot open {}", path);
        return 1;
    }
    let mut buf = vec![0u8; 4096];
    let mut s = Fnv::new();
    let mut total = 0;
    loop {
        let n = read(fd, &mut buf);
        if n <= 0 {
            break;
        }
        s.add(&buf[..n as usize]);
        total += n as usize;
    }
    close(fd);
    println!("socktest sum: {} bytes sum {:08x}", total, s.0);
    0
}
