//! The image builder: xv6's `mkfs.c` (`ialloc`, `iappend`, `balloc`) over an in-memory disk.
//!
//! Inodes and blocks are handed out in increasing order exactly as xv6 does (the root
//! directory's entry for a file is appended before the file's data, the indirect block is
//! taken when the 13th data block is needed), so the same inputs give the same bytes.

use crate::{Error, le32};
use abi::fs::{
    BPB, BSIZE, DIRENT_SIZE, DIRSIZ, Dinode, Dirent, FSMAGIC, IPB, MAXFILE, NDIRECT, ROOTINO,
    Superblock,
};
use abi::{T_DIR, T_FILE, param};
use std::collections::BTreeSet;
use std::path::Path;

/// The shape of a new file system. `Layout::default()` is xv6net's fs.img.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Total blocks in the image.
    pub size: u32,
    /// Inodes, counting the unused inode 0 (the kernel allocates 1..ninodes).
    pub ninodes: u32,
    /// Log blocks, header included.
    pub nlog: u32,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            size: param::FSSIZE,
            ninodes: param::NINODES,
            nlog: param::LOGSIZE as u32,
        }
    }
}

impl Layout {
    /// The superblock xv6's mkfs writes for this layout, or why there is none.
    pub fn superblock(&self) -> Result<Superblock, Error> {
        // A directory entry stores the inode number in 16 bits.
        if !(2..=1 << 16).contains(&self.ninodes) {
            return Err(Error::BadLayout(format!(
                "{} inodes: need 2..=65536",
                self.ninodes
            )));
        }
        // The log needs its header block and at least one block to log.
        if self.nlog < 2 {
            return Err(Error::BadLayout(format!(
                "{} log blocks: need at least 2",
                self.nlog
            )));
        }
        let ninodeblocks = self.ninodes / IPB + 1;
        let nbitmap = self.size / BPB + 1;
        let nmeta = 2 + u64::from(self.nlog) + u64::from(ninodeblocks) + u64::from(nbitmap);
        // The root directory needs one data block.
        if nmeta >= u64::from(self.size) {
            return Err(Error::BadLayout(format!(
                "{} blocks leave no data block after {nmeta} metadata blocks",
                self.size
            )));
        }
        let nmeta = nmeta as u32;
        Ok(Superblock {
            magic: FSMAGIC,
            size: self.size,
            nblocks: self.size - nmeta,
            ninodes: self.ninodes,
            nlog: self.nlog,
            logstart: 2,
            inodestart: 2 + self.nlog,
            bmapstart: 2 + self.nlog + ninodeblocks,
        })
    }
}

/// A file system under construction: a root directory holding `.`, `..` and the added files.
pub struct Builder {
    sb: Superblock,
    disk: Vec<u8>,
    /// Next inode to hand out (xv6's `freeinode`).
    freeinode: u32,
    /// Next data block to hand out (xv6's `freeblock`); every block below it is in use.
    freeblock: u32,
    /// Names in the root directory, to refuse duplicates.
    names: BTreeSet<String>,
}

impl Builder {
    /// An empty file system: superblock and a root directory with `.` and `..`.
    pub fn new(layout: Layout) -> Result<Builder, Error> {
        let sb = layout.superblock()?;
        let mut b = Builder {
            sb,
            disk: vec![0; sb.size as usize * BSIZE],
            freeinode: 1,
            freeblock: sb.size - sb.nblocks,
            names: BTreeSet::new(),
        };
        sb.encode(&mut b.disk[BSIZE..]);
        let root = b.ialloc(T_DIR);
        assert_eq!(root, ROOTINO, "the root directory is the first inode");
        for name in [".", ".."] {
            b.iappend(root, &Dirent::new(root as u16, name.as_bytes()).to_bytes());
            b.names.insert(name.to_string());
        }
        Ok(b)
    }

    /// Adds a file to the root directory as `name`. On error nothing has changed.
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> Result<(), Error> {
        let bad = |why| {
            Err(Error::BadName {
                name: name.to_string(),
                why,
            })
        };
        if name.is_empty() {
            return bad("empty");
        }
        if name.contains(['/', '\0']) {
            return bad("contains '/' or NUL");
        }
        if name.len() > DIRSIZ {
            return bad("longer than DIRSIZ (14 bytes)");
        }
        if self.names.contains(name) {
            return Err(Error::Duplicate(name.to_string()));
        }
        if data.len() > MAXFILE * BSIZE {
            return Err(Error::TooLarge {
                name: name.to_string(),
                len: data.len(),
            });
        }
        if self.freeinode >= self.sb.ninodes {
            return Err(Error::OutOfInodes(name.to_string()));
        }
        let dir_size = self.rinode(ROOTINO).size as usize;
        if dir_size + DIRENT_SIZE > MAXFILE * BSIZE {
            return Err(Error::DirectoryFull(name.to_string()));
        }
        let needed =
            blocks_for(dir_size + DIRENT_SIZE) - blocks_for(dir_size) + blocks_for(data.len());
        if needed > (self.sb.size - self.freeblock) as usize {
            return Err(Error::OutOfBlocks(name.to_string()));
        }

        let inum = self.ialloc(T_FILE);
        self.iappend(
            ROOTINO,
            &Dirent::new(inum as u16, name.as_bytes()).to_bytes(),
        );
        self.iappend(inum, data);
        self.names.insert(name.to_string());
        Ok(())
    }

    /// Blocks in use so far (metadata included): blocks `0..blocks_used()` are allocated.
    pub fn blocks_used(&self) -> u32 {
        self.freeblock
    }

    /// Finishes the image: pads the root directory to whole blocks and writes the bitmap.
    pub fn finish(mut self) -> Vec<u8> {
        // xv6 sets the root's size to `(size/BSIZE + 1) * BSIZE`, which, when the entries end
        // exactly on a block boundary, claims a block that was never allocated: the kernel would
        // then allocate on a read. Rounding up gives the same size in every other case.
        let mut root = self.rinode(ROOTINO);
        root.size = (root.size as usize).next_multiple_of(BSIZE) as u32;
        self.winode(ROOTINO, &root);

        let bmap = self.sb.bmapstart as usize * BSIZE;
        for b in 0..self.freeblock as usize {
            self.disk[bmap + b / 8] |= 1 << (b % 8);
        }
        self.disk
    }

    fn ialloc(&mut self, typ: i16) -> u32 {
        let inum = self.freeinode;
        self.freeinode += 1;
        self.winode(
            inum,
            &Dinode {
                typ,
                nlink: 1,
                ..Dinode::default()
            },
        );
        inum
    }

    fn inode_offset(&self, inum: u32) -> usize {
        self.sb.iblock(inum) as usize * BSIZE + Dinode::offset_in_block(inum)
    }

    fn rinode(&self, inum: u32) -> Dinode {
        Dinode::decode(&self.disk[self.inode_offset(inum)..])
    }

    fn winode(&mut self, inum: u32, din: &Dinode) {
        let off = self.inode_offset(inum);
        din.encode(&mut self.disk[off..]);
    }

    /// Hands out the next data block; callers have checked that one is left.
    fn balloc(&mut self) -> u32 {
        assert!(
            self.freeblock < self.sb.size,
            "add_file checks free space first"
        );
        self.freeblock += 1;
        self.freeblock - 1
    }

    /// Appends `data` to inode `inum`, allocating blocks as the file grows (xv6's `iappend`).
    fn iappend(&mut self, inum: u32, mut data: &[u8]) {
        let mut din = self.rinode(inum);
        let mut off = din.size as usize;
        while !data.is_empty() {
            let fbn = off / BSIZE;
            let block = if fbn < NDIRECT {
                if din.addrs[fbn] == 0 {
                    din.addrs[fbn] = self.balloc();
                }
                din.addrs[fbn]
            } else {
                if din.addrs[NDIRECT] == 0 {
                    din.addrs[NDIRECT] = self.balloc();
                }
                let slot = din.addrs[NDIRECT] as usize * BSIZE + (fbn - NDIRECT) * 4;
                if le32(&self.disk, slot) == 0 {
                    let b = self.balloc();
                    self.disk[slot..slot + 4].copy_from_slice(&b.to_le_bytes());
                }
                le32(&self.disk, slot)
            };
            let start = off % BSIZE;
            let n = data.len().min(BSIZE - start);
            let dst = block as usize * BSIZE + start;
            self.disk[dst..dst + n].copy_from_slice(&data[..n]);
            data = &data[n..];
            off += n;
        }
        din.size = off as u32;
        self.winode(inum, &din);
    }
}

/// Blocks a file of `len` bytes occupies: its data blocks plus the indirect block if used.
fn blocks_for(len: usize) -> usize {
    let n = len.div_ceil(BSIZE);
    n + usize::from(n > NDIRECT)
}

/// Splits a command-line FILE argument into the host path and the name in the root directory.
///
/// `PATH=NAME` names the file explicitly. Otherwise the name is PATH's last component with
/// one leading `_` stripped: xv6 builds programs as `user/_ls` so that a build rule never
/// runs them in place of the host's `ls`.
pub fn parse_file_arg(arg: &str) -> (&str, String) {
    if let Some((path, name)) = arg.rsplit_once('=') {
        return (path, name.to_string());
    }
    let base = Path::new(arg)
        .file_name()
        .map_or(arg.into(), |n| n.to_string_lossy());
    (arg, base.strip_prefix('_').unwrap_or(&base).to_string())
}
