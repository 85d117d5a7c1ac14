//! Kernel limits (`kernel/param.h`). Shared so that mkfs and the kernel agree.

/// Maximum number of processes.
pub const NPROC: usize = 64;
/// Maximum number of harts.
pub const NCPU: usize = 8;
/// Open files per process.
pub const NOFILE: usize = 16;
/// Open files per system.
pub const NFILE: usize = 100;
/// Maximum number of active in-memory inodes.
pub const NINODE: usize = 50;
/// Maximum major device number.
pub const NDEV: usize = 10;
/// Device number of the file system root disk.
pub const ROOTDEV: u32 = 1;
/// Maximum exec arguments.
pub const MAXARG: usize = 32;
/// Maximum number of blocks any FS op writes.
pub const MAXOPBLOCKS: usize = 10;
/// Maximum data blocks in the on-disk log.
pub const LOGSIZE: usize = MAXOPBLOCKS * 3;
/// Size of the disk block cache.
pub const NBUF: usize = MAXOPBLOCKS * 3;
/// Size of the file system in blocks. Larger than xv6's 2000: Rust binaries are bigger than C ones.
pub const FSSIZE: u32 = 4000;
/// Maximum file path name.
pub const MAXPATH: usize = 128;
/// Inodes mkfs creates.
pub const NINODES: u32 = 200;
/// User stack pages (below them, one guard page).
pub const USERSTACK: usize = 1;
