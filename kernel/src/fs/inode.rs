//! Inodes, directories and path names (xv6's fs.c), on top of the log and buffer cache.
//!
//! The inode table holds NINODE in-memory inodes. `Inode` is a counted reference to one
//! (iget/idup take one, `iput` drops it, inside a transaction since the last reference
//! to an unlinked inode frees it on disk). `ilock` returns an `InodeGuard`: the inode's
//! sleep lock, with the on-disk fields loaded, through which every read and write goes.

use super::bio::bread;
use super::log::log_write;
use crate::proc::{either_copyin, either_copyout, myproc};
use crate::sync::once::Once;
use crate::sync::sleeplock::{SleepLock, SleepLockGuard};
use crate::sync::spinlock::Spinlock;
use abi::fs::*;
use abi::param::NINODE;
use abi::{Stat, Superblock, T_DIR};

static SB: Once<Superblock> = Once::new();

pub fn sb() -> &'static Superblock {
    SB.get()
}

/// Reads the superblock and replays the log.
pub fn fsinit(dev: u32) {
    let buf = bread(dev, 1);
    let sb = Superblock::decode(buf.data());
    drop(buf);
    if sb.magic != FSMAGIC {
        panic!("invalid file system");
    }
    SB.set(sb);
    super::log::initlog(dev, SB.get());
}

// ---- Blocks ----

fn bzero(dev: u32, bno: u32) {
    let mut b = bread(dev, bno);
    b.data_mut().fill(0);
    log_write(&b);
}

/// Allocates a zeroed disk block; None if the disk is full.
fn balloc(dev: u32) -> Option<u32> {
    let sb = sb();
    let mut b = 0;
    while b < sb.size {
        let mut bp = bread(dev, sb.bblock(b));
        let mut bi = 0;
        while bi < BPB && b + bi < sb.size {
            let m = 1u8 << (bi % 8);
            let byte = &mut bp.data_mut()[(bi / 8) as usize];
            if *byte & m == 0 {
                *byte |= m;
                log_write(&bp);
                drop(bp);
                bzero(dev, b + bi);
                return Some(b + bi);
            }
            bi += 1;
        }
        b += BPB;
    }
    crate::println!("balloc: out of blocks");
    None
}

fn bfree(dev: u32, b: u32) {
    let mut bp = bread(dev, sb().bblock(b));
    let bi = b % BPB;
    let m = 1u8 << (bi % 8);
    let byte = &mut bp.data_mut()[(bi / 8) as usize];
    if *byte & m == 0 {
        panic!("freeing free block");
    }
    *byte &= !m;
    log_write(&bp);
}

// ---- The inode table ----

#[derive(Clone, Copy)]
struct Slot {
    dev: u32,
    inum: u32,
    refcnt: u32,
}

static ITABLE: Spinlock<[Slot; NINODE]> = Spinlock::new(
    "itable",
    [Slot {
        dev: 0,
        inum: 0,
        refcnt: 0,
    }; NINODE],
);

/// In-memory copy of an on-disk inode; `valid` once read from disk.
pub struct InodeData {
    valid: bool,
    pub typ: i16,
    pub major: i16,
    pub minor: i16,
    pub nlink: i16,
    pub size: u32,
    addrs: [u32; NDIRECT + 1],
}

static INODES: [SleepLock<InodeData>; NINODE] = [const {
    SleepLock::new(
        "inode",
        InodeData {
            valid: false,
            typ: 0,
            major: 0,
            minor: 0,
            nlink: 0,
            size: 0,
            addrs: [0; NDIRECT + 1],
        },
    )
}; NINODE];

/// A counted reference to an in-memory inode. Give it back with `iput`.
pub struct Inode {
    idx: usize,
    pub dev: u32,
    pub inum: u32,
}

/// A locked inode.
pub struct InodeGuard<'a> {
    ip: &'a Inode,
    d: SleepLockGuard<'static, InodeData>,
}

impl core::ops::Deref for InodeGuard<'_> {
    type Target = InodeData;
    fn deref(&self) -> &InodeData {
        &self.d
    }
}

impl core::ops::DerefMut for InodeGuard<'_> {
    fn deref_mut(&mut self) -> &mut InodeData {
        &mut self.d
    }
}

/// Finds the inode (dev, inum) in the table, or claims a free slot for it. Does not
/// read it from disk. None if the table is full.
pub fn iget(dev: u32, inum: u32) -> Option<Inode> {
    let mut t = ITABLE.lock();
    if let Some(i) = t
        .iter()
        .position(|s| s.refcnt > 0 && s.dev == dev && s.inum == inum)
    {
        t[i].refcnt += 1;
        return Some(Inode { idx: i, dev, inum });
    }
    let Some(i) = t.iter().position(|s| s.refcnt == 0) else {
        crate::println!("iget: no inodes");
        return None;
    };
    t[i] = Slot {
        dev,
        inum,
        refcnt: 1,
    };
    drop(t);
    // Nobody holds a free slot's lock, so this does not sleep.
    INODES[i].lock().valid = false;
    Some(Inode { idx: i, dev, inum })
}

/// Another reference to the same inode.
pub fn idup(ip: &Inode) -> Inode {
    ITABLE.lock()[ip.idx].refcnt += 1;
    Inode {
        idx: ip.idx,
        dev: ip.dev,
        inum: ip.inum,
    }
}

/// Allocates an inode of type `typ` on disk; None if there are none left.
pub fn ialloc(dev: u32, typ: i16) -> Option<Inode> {
    let sb = sb();
    for inum in 1..sb.ninodes {
        let mut bp = bread(dev, sb.iblock(inum));
        let off = Dinode::offset_in_block(inum);
        let mut di = Dinode::decode(&bp.data()[off..]);
        if di.typ == 0 {
            di = Dinode {
                typ,
                ..Dinode::default()
            };
            di.encode(&mut bp.data_mut()[off..]);
            log_write(&bp);
            drop(bp);
            return iget(dev, inum);
        }
    }
    crate::println!("ialloc: no inodes");
    None
}

/// Locks the inode, reading it from disk if needed.
pub fn ilock(ip: &Inode) -> InodeGuard<'_> {
    let mut d = INODES[ip.idx].lock();
    if !d.valid {
        let bp = bread(ip.dev, sb().iblock(ip.inum));
        let di = Dinode::decode(&bp.data()[Dinode::offset_in_block(ip.inum)..]);
        drop(bp);
        d.typ = di.typ;
        d.major = di.major;
        d.minor = di.minor;
        d.nlink = di.nlink;
        d.size = di.size;
        d.addrs = di.addrs;
        d.valid = true;
        if d.typ == 0 {
            panic!("ilock: no type");
        }
    }
    InodeGuard { ip, d }
}

/// Drops a reference. If it was the last one and the inode has no links, frees it (and
/// its blocks) on disk. Must be called inside a transaction.
pub fn iput(ip: Inode) {
    let mut t = ITABLE.lock();
    if t[ip.idx].refcnt == 1 {
        // No other reference: nobody else can hold the sleep lock, so this won't block.
        let d = INODES[ip.idx].lock();
        // Releasing a sleep lock wakes its sleepers, which takes every p->lock; fork
        // takes ITABLE (idup) while it holds the child's p->lock. So the sleep lock
        // is always released after ITABLE, never under it.
        drop(t);
        if d.valid && d.nlink == 0 {
            let mut g = InodeGuard { ip: &ip, d };
            g.itrunc();
            g.typ = 0;
            g.iupdate();
            g.valid = false;
            drop(g);
        } else {
            drop(d);
        }
        t = ITABLE.lock();
    }
    t[ip.idx].refcnt -= 1;
}

impl InodeGuard<'_> {
    /// Copies the in-memory inode to disk (through the log).
    pub fn iupdate(&mut self) {
        let mut bp = bread(self.ip.dev, sb().iblock(self.ip.inum));
        let di = Dinode {
            typ: self.typ,
            major: self.major,
            minor: self.minor,
            nlink: self.nlink,
            size: self.size,
            addrs: self.addrs,
        };
        di.encode(&mut bp.data_mut()[Dinode::offset_in_block(self.ip.inum)..]);
        log_write(&bp);
    }

    /// The disk block holding the file's block `bn`, allocating it if needed.
    /// None if the disk is full.
    fn bmap(&mut self, bn: usize) -> Option<u32> {
        let dev = self.ip.dev;
        if bn < NDIRECT {
            if self.addrs[bn] == 0 {
                self.addrs[bn] = balloc(dev)?;
            }
            return Some(self.addrs[bn]);
        }
        let bn = bn - NDIRECT;
        assert!(bn < NINDIRECT, "bmap: out of range");
        if self.addrs[NDIRECT] == 0 {
            self.addrs[NDIRECT] = balloc(dev)?;
        }
        let mut bp = bread(dev, self.addrs[NDIRECT]);
        let entry = &mut bp.data_mut()[4 * bn..4 * bn + 4];
        let mut addr = u32::from_le_bytes(entry.try_into().unwrap());
        if addr == 0 {
            addr = balloc(dev)?;
            entry.copy_from_slice(&addr.to_le_bytes());
            log_write(&bp);
        }
        Some(addr)
    }

    /// Frees all the file's data blocks.
    pub fn itrunc(&mut self) {
        let dev = self.ip.dev;
        for i in 0..NDIRECT {
            if self.addrs[i] != 0 {
                bfree(dev, self.addrs[i]);
                self.addrs[i] = 0;
            }
        }
        if self.addrs[NDIRECT] != 0 {
            let bp = bread(dev, self.addrs[NDIRECT]);
            for j in 0..NINDIRECT {
                let a = u32::from_le_bytes(bp.data()[4 * j..4 * j + 4].try_into().unwrap());
                if a != 0 {
                    bfree(dev, a);
                }
            }
            drop(bp);
            bfree(dev, self.addrs[NDIRECT]);
            self.addrs[NDIRECT] = 0;
        }
        self.size = 0;
        self.iupdate();
    }

    pub fn stati(&self) -> Stat {
        Stat {
            dev: self.ip.dev as i32,
            ino: self.ip.inum,
            typ: self.typ,
            nlink: self.nlink,
            size: self.size as u64,
        }
    }

    /// Reads up to `n` bytes from offset `off` to a user or kernel address. Returns the
    /// number of bytes read (short at end of file); Err if a copy fails before any byte.
    pub fn readi(&mut self, user_dst: bool, dst: usize, off: u32, n: usize) -> Result<usize, ()> {
        if off > self.size || off.checked_add(n as u32).is_none() {
            return Ok(0);
        }
        let n = n.min((self.size - off) as usize);
        let mut tot = 0;
        let mut off = off as usize;
        while tot < n {
            let Some(addr) = self.bmap(off / BSIZE) else {
                break;
            };
            let bp = bread(self.ip.dev, addr);
            let m = (n - tot).min(BSIZE - off % BSIZE);
            let src = &bp.data()[off % BSIZE..off % BSIZE + m];
            if either_copyout(user_dst, dst + tot, src).is_err() {
                return if tot > 0 { Ok(tot) } else { Err(()) };
            }
            tot += m;
            off += m;
        }
        Ok(tot)
    }

    /// Writes `n` bytes from a user or kernel address at offset `off`, growing the file.
    /// Returns the number of bytes written; fewer than `n` means an error (bad address,
    /// disk full), and Err if nothing could be written.
    pub fn writei(&mut self, user_src: bool, src: usize, off: u32, n: usize) -> Result<usize, ()> {
        let end = (off as usize).checked_add(n).ok_or(())?;
        if off > self.size || end > MAXFILE * BSIZE {
            return Err(());
        }
        let mut tot = 0;
        let mut off = off as usize;
        while tot < n {
            let Some(addr) = self.bmap(off / BSIZE) else {
                break;
            };
            let mut bp = bread(self.ip.dev, addr);
            let m = (n - tot).min(BSIZE - off % BSIZE);
            let dst = &mut bp.data_mut()[off % BSIZE..off % BSIZE + m];
            if either_copyin(dst, user_src, src + tot).is_err() {
                break;
            }
            log_write(&bp);
            tot += m;
            off += m;
        }
        if off > self.size as usize {
            self.size = off as u32;
        }
        // Write the inode back even if the size didn't change: bmap() may have added
        // blocks to addrs[].
        self.iupdate();
        Ok(tot)
    }

    // ---- Directories ----

    /// Calls `f` with each directory entry from byte offset `from` on and the entry's
    /// offset, until `f` returns `Some`. Each block of the directory is read once: xv6
    /// reads each 16-byte entry through `readi`, a buffer-cache lookup per entry, and a
    /// lookup in the root directory (about 50 entries) cost `open` some 200 µs under
    /// QEMU's emulation. Entries never straddle blocks (BSIZE is a multiple of 16).
    fn scan_dir<R>(
        &mut self,
        from: u32,
        mut f: impl FnMut(u32, &Dirent) -> Option<R>,
    ) -> Option<R> {
        if self.typ != T_DIR {
            panic!("scan_dir not DIR");
        }
        let size = self.size as usize;
        let mut off = from as usize;
        while off + DIRENT_SIZE <= size {
            let Some(addr) = self.bmap(off / BSIZE) else {
                panic!("scan_dir: no block");
            };
            let bp = bread(self.ip.dev, addr);
            let block_end = size.min((off / BSIZE + 1) * BSIZE);
            while off + DIRENT_SIZE <= block_end {
                let at = off % BSIZE;
                let de = Dirent::decode(&bp.data()[at..at + DIRENT_SIZE]);
                if let Some(r) = f(off as u32, &de) {
                    return Some(r);
                }
                off += DIRENT_SIZE;
            }
        }
        None
    }

    /// Looks for a directory entry; returns the inode and the entry's byte offset.
    pub fn dirlookup(&mut self, name: &[u8]) -> Option<(Inode, u32)> {
        let (inum, off) = self.scan_dir(0, |off, de| {
            (de.inum != 0 && de.is_named(name)).then_some((de.inum, off))
        })?;
        iget(self.ip.dev, inum as u32).map(|ip| (ip, off))
    }

    /// Writes a new directory entry (name, inum). Err if the name is present or the disk
    /// is full.
    pub fn dirlink(&mut self, name: &[u8], inum: u32) -> Result<(), ()> {
        if let Some((ip, _)) = self.dirlookup(name) {
            iput(ip);
            return Err(());
        }
        // The first free entry, or a new one at the end.
        let off = self
            .scan_dir(0, |off, de| (de.inum == 0).then_some(off))
            .unwrap_or(self.size);
        let de = Dirent::new(inum as u16, name).to_bytes();
        match self.writei(false, de.as_ptr() as usize, off, DIRENT_SIZE) {
            Ok(DIRENT_SIZE) => Ok(()),
            _ => Err(()),
        }
    }

    /// Is the directory empty except for "." and ".."?
    pub fn isdirempty(&mut self) -> bool {
        self.scan_dir(2 * DIRENT_SIZE as u32, |_, de| (de.inum != 0).then_some(()))
            .is_none()
    }

    /// Clears the directory entry at `off`.
    pub fn clear_dirent(&mut self, off: u32) {
        let zero = [0u8; DIRENT_SIZE];
        if self.writei(false, zero.as_ptr() as usize, off, DIRENT_SIZE) != Ok(DIRENT_SIZE) {
            panic!("unlink: writei");
        }
    }
}

// ---- Paths ----

/// Splits off the first element of `path`: ("a", "bb/c") for "a/bb/c". Leading and
/// repeated slashes are skipped; None when there is no element. The element is
/// truncated to DIRSIZ bytes, as xv6 does.
fn skipelem(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let path = &path[path.iter().position(|&c| c != b'/')?..];
    let len = path.iter().position(|&c| c == b'/').unwrap_or(path.len());
    let name = &path[..len.min(DIRSIZ)];
    let mut rest = &path[len..];
    while rest.first() == Some(&b'/') {
        rest = &rest[1..];
    }
    Some((name, rest))
}

/// Looks up a path. With `parent`, stops one level early and returns the parent
/// directory and the final element.
fn namex(path: &[u8], parent: bool) -> Option<(Inode, [u8; DIRSIZ])> {
    let mut ip = if path.first() == Some(&b'/') {
        iget(abi::param::ROOTDEV, ROOTINO)?
    } else {
        // SAFETY: the current process's own data; idup does not reach it.
        idup(unsafe { myproc().data() }.cwd.as_ref()?)
    };
    let mut name = [0u8; DIRSIZ];
    let mut path = path;
    while let Some((elem, rest)) = skipelem(path) {
        name = [0; DIRSIZ];
        name[..elem.len()].copy_from_slice(elem);
        let mut g = ilock(&ip);
        if g.typ != T_DIR {
            drop(g);
            iput(ip);
            return None;
        }
        if parent && rest.is_empty() {
            // Stop one level early.
            drop(g);
            return Some((ip, name));
        }
        let next = g.dirlookup(elem);
        drop(g);
        iput(ip);
        ip = next?.0;
        path = rest;
    }
    if parent {
        iput(ip);
        return None;
    }
    Some((ip, name))
}

pub fn namei(path: &[u8]) -> Option<Inode> {
    namex(path, false).map(|(ip, _)| ip)
}

/// The parent directory of `path` and the final path element (NUL-padded).
pub fn nameiparent(path: &[u8]) -> Option<(Inode, [u8; DIRSIZ])> {
    namex(path, true)
}

/// The bytes of a NUL-padded name.
pub fn name_bytes(name: &[u8; DIRSIZ]) -> &[u8] {
    let len = name.iter().position(|&c| c == 0).unwrap_or(DIRSIZ);
    &name[..len]
}
