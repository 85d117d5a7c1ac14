//! The on-disk format of xv6's file system (`kernel/fs.h`), byte for byte.
//!
//! ```text
//! [ boot | super | log (header + LOGSIZE-1) | inode blocks | free bitmap | data blocks ]
//!    0       1      2 ..
//! ```
//! All integers are little-endian. `mkfs` writes this format and the kernel reads it;
//! both go through the encoders here so they cannot disagree.

/// Block size in bytes.
pub const BSIZE: usize = 1024;
/// `Superblock::magic` of an xv6 file system.
pub const FSMAGIC: u32 = 0x1020_3040;
/// Inode number of the root directory.
pub const ROOTINO: u32 = 1;
/// Direct block addresses in an inode.
pub const NDIRECT: usize = 12;
/// Block addresses in the single indirect block.
pub const NINDIRECT: usize = BSIZE / 4;
/// Largest file, in blocks.
pub const MAXFILE: usize = NDIRECT + NINDIRECT;
/// Bytes of a name in a directory entry (not NUL-terminated when full).
pub const DIRSIZ: usize = 14;
/// Size of an on-disk inode.
pub const DINODE_SIZE: usize = 64;
/// Inodes per block.
pub const IPB: u32 = (BSIZE / DINODE_SIZE) as u32;
/// Bitmap bits per block.
pub const BPB: u32 = (BSIZE * 8) as u32;
/// Size of a directory entry.
pub const DIRENT_SIZE: usize = 16;

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
fn get_i16(b: &[u8], off: usize) -> i16 {
    i16::from_le_bytes([b[off], b[off + 1]])
}
fn put(b: &mut [u8], off: usize, bytes: &[u8]) {
    b[off..off + bytes.len()].copy_from_slice(bytes);
}

/// Block 1 of the disk: where everything else is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Superblock {
    /// Must be [`FSMAGIC`].
    pub magic: u32,
    /// Size of the file system image (blocks).
    pub size: u32,
    /// Number of data blocks.
    pub nblocks: u32,
    /// Number of inodes.
    pub ninodes: u32,
    /// Number of log blocks.
    pub nlog: u32,
    /// Block number of the first log block.
    pub logstart: u32,
    /// Block number of the first inode block.
    pub inodestart: u32,
    /// Block number of the first free-map block.
    pub bmapstart: u32,
}

impl Superblock {
    pub const SIZE: usize = 32;

    /// Decodes the first 32 bytes of `b`.
    pub fn decode(b: &[u8]) -> Superblock {
        Superblock {
            magic: get_u32(b, 0),
            size: get_u32(b, 4),
            nblocks: get_u32(b, 8),
            ninodes: get_u32(b, 12),
            nlog: get_u32(b, 16),
            logstart: get_u32(b, 20),
            inodestart: get_u32(b, 24),
            bmapstart: get_u32(b, 28),
        }
    }

    /// Encodes into the first 32 bytes of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        let fields = [
            self.magic,
            self.size,
            self.nblocks,
            self.ninodes,
            self.nlog,
            self.logstart,
            self.inodestart,
            self.bmapstart,
        ];
        for (i, f) in fields.iter().enumerate() {
            put(b, i * 4, &f.to_le_bytes());
        }
    }

    /// The disk block holding inode `inum`.
    pub fn iblock(&self, inum: u32) -> u32 {
        inum / IPB + self.inodestart
    }

    /// The bitmap block holding the bit of block `b`.
    pub fn bblock(&self, b: u32) -> u32 {
        b / BPB + self.bmapstart
    }
}

/// An on-disk inode: 64 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dinode {
    /// File type; 0 means free.
    pub typ: i16,
    /// Major device number (T_DEVICE only).
    pub major: i16,
    /// Minor device number (T_DEVICE only).
    pub minor: i16,
    /// Number of links to the inode in the file system.
    pub nlink: i16,
    /// Size of the file (bytes).
    pub size: u32,
    /// Data block addresses: NDIRECT direct, then one indirect.
    pub addrs: [u32; NDIRECT + 1],
}

impl Dinode {
    /// Byte offset of inode `inum` inside its block.
    pub fn offset_in_block(inum: u32) -> usize {
        (inum % IPB) as usize * DINODE_SIZE
    }

    /// Decodes the 64 bytes at the start of `b`.
    pub fn decode(b: &[u8]) -> Dinode {
        let mut addrs = [0u32; NDIRECT + 1];
        for (i, a) in addrs.iter_mut().enumerate() {
            *a = get_u32(b, 12 + 4 * i);
        }
        Dinode {
            typ: get_i16(b, 0),
            major: get_i16(b, 2),
            minor: get_i16(b, 4),
            nlink: get_i16(b, 6),
            size: get_u32(b, 8),
            addrs,
        }
    }

    /// Encodes into the 64 bytes at the start of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put(b, 0, &self.typ.to_le_bytes());
        put(b, 2, &self.major.to_le_bytes());
        put(b, 4, &self.minor.to_le_bytes());
        put(b, 6, &self.nlink.to_le_bytes());
        put(b, 8, &self.size.to_le_bytes());
        for (i, a) in self.addrs.iter().enumerate() {
            put(b, 12 + 4 * i, &a.to_le_bytes());
        }
    }
}

/// A directory entry: 16 bytes. `inum == 0` marks a free slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dirent {
    pub inum: u16,
    /// NUL-padded; not NUL-terminated when all DIRSIZ bytes are used.
    pub name: [u8; DIRSIZ],
}

impl Dirent {
    /// An entry for `name`, truncated to DIRSIZ bytes like xv6's `strncpy`.
    pub fn new(inum: u16, name: &[u8]) -> Dirent {
        let mut d = Dirent {
            inum,
            name: [0; DIRSIZ],
        };
        let n = name.len().min(DIRSIZ);
        d.name[..n].copy_from_slice(&name[..n]);
        d
    }

    /// The name without its NUL padding.
    pub fn name(&self) -> &[u8] {
        let len = self.name.iter().position(|&c| c == 0).unwrap_or(DIRSIZ);
        &self.name[..len]
    }

    /// True if this entry is called `name` (compared like xv6's `namecmp`: first DIRSIZ bytes).
    pub fn is_named(&self, name: &[u8]) -> bool {
        let n = &name[..name.len().min(DIRSIZ)];
        self.name() == n
    }

    pub fn decode(b: &[u8]) -> Dirent {
        let mut name = [0u8; DIRSIZ];
        name.copy_from_slice(&b[2..2 + DIRSIZ]);
        Dirent {
            inum: u16::from_le_bytes([b[0], b[1]]),
            name,
        }
    }

    pub fn encode(&self, b: &mut [u8]) {
        put(b, 0, &self.inum.to_le_bytes());
        put(b, 2, &self.name);
    }

    pub fn to_bytes(&self) -> [u8; DIRENT_SIZE] {
        let mut b = [0u8; DIRENT_SIZE];
        self.encode(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trips_at_fixed_offsets() {
        let sb = Superblock {
            magic: FSMAGIC,
            size: 2000,
            nblocks: 1954,
            ninodes: 200,
            nlog: 30,
            logstart: 2,
            inodestart: 32,
            bmapstart: 45,
        };
        let mut b = [0u8; BSIZE];
        sb.encode(&mut b);
        assert_eq!(&b[0..4], &[0x40, 0x30, 0x20, 0x10]);
        assert_eq!(&b[28..32], &45u32.to_le_bytes());
        assert_eq!(Superblock::decode(&b), sb);
        assert_eq!(sb.iblock(17), 33);
        assert_eq!(sb.bblock(8193), 46);
    }

    #[test]
    fn dinode_is_64_bytes_with_addrs_at_12() {
        let mut d = Dinode {
            typ: 2,
            major: 0,
            minor: 0,
            nlink: 1,
            size: 5000,
            addrs: [0; 13],
        };
        d.addrs[0] = 77;
        d.addrs[12] = 99;
        let mut b = [0xffu8; 64];
        d.encode(&mut b);
        assert_eq!(&b[0..2], &[2, 0]);
        assert_eq!(&b[8..12], &5000u32.to_le_bytes());
        assert_eq!(&b[12..16], &77u32.to_le_bytes());
        assert_eq!(&b[60..64], &99u32.to_le_bytes());
        assert_eq!(Dinode::decode(&b), d);
        assert_eq!(IPB, 16);
        assert_eq!(Dinode::offset_in_block(17), 64);
    }

    #[test]
    fn dirent_names_compare_like_xv6() {
        let d = Dirent::new(3, b"abcdefghijklmnopq");
        assert_eq!(d.name(), b"abcdefghijklmn");
        assert!(d.is_named(b"abcdefghijklmnXYZ"));
        let e = Dirent::decode(&Dirent::new(9, b"ls").to_bytes());
        assert_eq!(e.inum, 9);
        assert!(e.is_named(b"ls"));
        assert!(!e.is_named(b"l"));
    }
}
