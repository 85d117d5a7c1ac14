//! The host's half of the guest's `socktest` transfers (user/src/bin/socktest/data.rs): the
//! byte pattern it sends and expects, and its checksum, 32-bit FNV-1a.

/// Byte `i` of a transfer.
pub fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) + i / 4093) as u8
}

/// The first `n` bytes of the pattern.
pub fn pattern_bytes(n: usize) -> Vec<u8> {
    (0..n).map(pattern).collect()
}

/// A running 32-bit FNV-1a checksum.
pub struct Fnv(pub u32);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0x811c_9dc5)
    }

    pub fn add(&mut self, b: &[u8]) {
        for &c in b {
            self.0 = (self.0 ^ u32::from(c)).wrapping_mul(0x0100_0193);
        }
    }
}

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv::new()
    }
}

/// The checksum of `b`.
pub fn fnv(b: &[u8]) -> u32 {
    let mut f = Fnv::new();
    f.add(b);
    f.0
}

/// The checksum of the first `len` bytes of the pattern.
pub fn pattern_sum(len: usize) -> u32 {
    let mut f = Fnv::new();
    for i in 0..len {
        f.add(&[pattern(i)]);
    }
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checksum_is_stable() {
        assert_eq!(fnv(b""), 0x811c9dc5);
        assert_eq!(fnv(b"a"), 0xe40c292c);
        assert_eq!(pattern_sum(10_000), fnv(&pattern_bytes(10_000)));
    }
}
