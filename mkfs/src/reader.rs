//! The image reader: what the kernel's `fs.c` and `log.c` would see, for host-side checks.
//!
//! Opening an image replays a committed log (as the kernel's `recover_from_log` does at
//! boot), so files written by a guest that stopped mid-commit read back as the guest saw them.

use crate::{Error, le32};
use abi::fs::{BPB, BSIZE, DIRENT_SIZE, Dinode, Dirent, FSMAGIC, IPB, MAXFILE, NDIRECT, ROOTINO};
use abi::fs::{NINDIRECT, Superblock};
use abi::{T_DEVICE, T_DIR};

/// A file-system image held in memory.
pub struct Image {
    disk: Vec<u8>,
    sb: Superblock,
}

/// One directory entry, with the facts from its inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub inum: u32,
    /// T_DIR, T_FILE or T_DEVICE.
    pub typ: i16,
    pub size: u32,
}

impl Image {
    /// Validates the superblock and replays a committed log.
    pub fn open(disk: Vec<u8>) -> Result<Image, Error> {
        let corrupt = |why: String| Err(Error::Corrupt(why));
        if disk.len() < 2 * BSIZE || !disk.len().is_multiple_of(BSIZE) {
            return corrupt(format!(
                "{} bytes is not a whole number of blocks >= 2",
                disk.len()
            ));
        }
        let sb = Superblock::decode(&disk[BSIZE..]);
        if sb.magic != FSMAGIC {
            return corrupt(format!("magic {:#x}, expected {FSMAGIC:#x}", sb.magic));
        }
        if sb.size as usize != disk.len() / BSIZE {
            return corrupt(format!(
                "superblock says {} blocks, image has {}",
                sb.size,
                disk.len() / BSIZE
            ));
        }
        // Each region must end before the next begins; sums in u64 so garbage cannot overflow.
        let end = |start: u32, len: u32| u64::from(start) + u64::from(len);
        let regions_fit = sb.logstart >= 2
            && sb.nlog >= 2
            && sb.ninodes >= 2
            && sb.nblocks < sb.size
            && end(sb.logstart, sb.nlog) <= sb.inodestart.into()
            && end(sb.inodestart, sb.ninodes.div_ceil(IPB)) <= sb.bmapstart.into()
            && end(sb.bmapstart, sb.size.div_ceil(BPB)) <= (sb.size - sb.nblocks).into();
        if !regions_fit {
            return corrupt(format!("superblock regions overlap or overflow: {sb:?}"));
        }
        let mut img = Image { disk, sb };
        img.replay_log()?;
        Ok(img)
    }

    /// Installs the blocks of a committed transaction: header `{ n, block[n] }` at logstart,
    /// the logged copies right after it.
    fn replay_log(&mut self) -> Result<(), Error> {
        let header = self.sb.logstart as usize * BSIZE;
        let n = le32(&self.disk, header);
        if n == 0 {
            return Ok(());
        }
        if n >= self.sb.nlog {
            return Err(Error::Corrupt(format!(
                "log header counts {n} blocks, log has {}",
                self.sb.nlog
            )));
        }
        for i in 0..n as usize {
            let home = le32(&self.disk, header + 4 + 4 * i);
            if home < self.sb.inodestart || home >= self.sb.size {
                return Err(Error::Corrupt(format!(
                    "log entry {i} targets block {home}"
                )));
            }
            let from = header + (i + 1) * BSIZE;
            self.disk
                .copy_within(from..from + BSIZE, home as usize * BSIZE);
        }
        self.disk[header..header + 4].fill(0);
        Ok(())
    }

    pub fn superblock(&self) -> Superblock {
        self.sb
    }

    /// True if the free bitmap marks block `b` as in use.
    pub fn is_allocated(&self, b: u32) -> bool {
        let byte = self.sb.bblock(b) as usize * BSIZE + (b % BPB) as usize / 8;
        self.disk[byte] & (1 << (b % 8)) != 0
    }

    /// The on-disk inode `inum`.
    pub fn inode(&self, inum: u32) -> Result<Dinode, Error> {
        if inum == 0 || inum >= self.sb.ninodes {
            return Err(Error::Corrupt(format!("inode number {inum} out of range")));
        }
        let off = self.sb.iblock(inum) as usize * BSIZE + Dinode::offset_in_block(inum);
        Ok(Dinode::decode(&self.disk[off..]))
    }

    fn block(&self, b: u32) -> Result<&[u8], Error> {
        if b >= self.sb.size {
            return Err(Error::Corrupt(format!("block {b} is outside the image")));
        }
        Ok(&self.disk[b as usize * BSIZE..][..BSIZE])
    }

    /// The block addresses an inode holds, direct then indirect entries (0 = none).
    fn data_addrs(&self, din: &Dinode) -> Result<Vec<u32>, Error> {
        let mut addrs = din.addrs[..NDIRECT].to_vec();
        if din.addrs[NDIRECT] != 0 {
            let ind = self.block(din.addrs[NDIRECT])?;
            addrs.extend((0..NINDIRECT).map(|i| le32(ind, 4 * i)));
        }
        Ok(addrs)
    }

    /// The contents of an inode; a zero address reads as a block of zeros, like a hole.
    fn read_inode(&self, din: &Dinode) -> Result<Vec<u8>, Error> {
        let size = din.size as usize;
        if size > MAXFILE * BSIZE {
            return Err(Error::Corrupt(format!("inode claims {size} bytes")));
        }
        let addrs = self.data_addrs(din)?;
        let mut out = Vec::with_capacity(size);
        for &addr in &addrs[..size.div_ceil(BSIZE).min(addrs.len())] {
            let n = (size - out.len()).min(BSIZE);
            match addr {
                0 => out.resize(out.len() + n, 0),
                _ => out.extend_from_slice(&self.block(addr)?[..n]),
            }
        }
        out.resize(size, 0);
        Ok(out)
    }

    fn dir_entries(&self, din: &Dinode) -> Result<Vec<Dirent>, Error> {
        let data = self.read_inode(din)?;
        let entries = data.chunks_exact(DIRENT_SIZE).map(Dirent::decode);
        Ok(entries.filter(|d| d.inum != 0).collect())
    }

    /// The inode number of `path`, resolved from the root (xv6 name comparison).
    pub fn lookup(&self, path: &str) -> Result<u32, Error> {
        let mut inum = ROOTINO;
        for name in path.split('/').filter(|c| !c.is_empty()) {
            let din = self.inode(inum)?;
            if din.typ != T_DIR {
                return Err(Error::NotADirectory(path.to_string()));
            }
            let entry = self
                .dir_entries(&din)?
                .into_iter()
                .find(|d| d.is_named(name.as_bytes()));
            inum = entry
                .ok_or_else(|| Error::NotFound(path.to_string()))?
                .inum
                .into();
        }
        Ok(inum)
    }

    /// The entries of directory `path` in on-disk order, `.` and `..` included.
    pub fn list_dir(&self, path: &str) -> Result<Vec<Entry>, Error> {
        let din = self.inode(self.lookup(path)?)?;
        if din.typ != T_DIR {
            return Err(Error::NotADirectory(path.to_string()));
        }
        let mut out = Vec::new();
        for d in self.dir_entries(&din)? {
            let ip = self.inode(d.inum.into())?;
            let name = String::from_utf8_lossy(d.name()).into_owned();
            out.push(Entry {
                name,
                inum: d.inum.into(),
                typ: ip.typ,
                size: ip.size,
            });
        }
        Ok(out)
    }

    /// The contents of the file at `path`.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        let din = self.inode(self.lookup(path)?)?;
        if din.typ == T_DIR {
            return Err(Error::IsADirectory(path.to_string()));
        }
        self.read_inode(&din)
    }

    /// Checks the invariants the kernel relies on: the root is a directory; every allocated
    /// inode has a valid type; every block an inode uses is a data block, marked in the bitmap
    /// and used once; every metadata block is marked; no data block is marked yet unused.
    pub fn check(&self) -> Result<(), Error> {
        let corrupt = |why: String| Err(Error::Corrupt(why));
        if self.inode(ROOTINO)?.typ != T_DIR {
            return corrupt("the root inode is not a directory".into());
        }
        let datastart = self.sb.size - self.sb.nblocks;
        let mut owner = vec![0u32; self.sb.size as usize];
        for inum in 1..self.sb.ninodes {
            let din = self.inode(inum)?;
            if din.typ == 0 {
                continue;
            }
            if !(T_DIR..=T_DEVICE).contains(&din.typ) {
                return corrupt(format!("inode {inum} has type {}", din.typ));
            }
            let indirect = din.addrs[NDIRECT];
            let mut used = self.data_addrs(&din)?;
            used.push(indirect);
            for b in used.into_iter().filter(|&b| b != 0) {
                if b < datastart || b >= self.sb.size {
                    return corrupt(format!(
                        "inode {inum} uses block {b}, outside the data area"
                    ));
                }
                if !self.is_allocated(b) {
                    return corrupt(format!("inode {inum} uses block {b}, free in the bitmap"));
                }
                if owner[b as usize] != 0 {
                    return corrupt(format!(
                        "block {b} used by inodes {} and {inum}",
                        owner[b as usize]
                    ));
                }
                owner[b as usize] = inum;
            }
        }
        for b in 0..self.sb.size {
            let meta = b < datastart;
            if meta && !self.is_allocated(b) {
                return corrupt(format!("metadata block {b} is free in the bitmap"));
            }
            if !meta && self.is_allocated(b) && owner[b as usize] == 0 {
                return corrupt(format!(
                    "block {b} is marked in the bitmap but no inode uses it"
                ));
            }
        }
        Ok(())
    }
}
