//! xv6's `mkfs` as a library: [`Builder`] writes a file-system image in memory, byte for byte
//! what xv6-riscv's `mkfs/mkfs.c` writes; [`Image`] reads one back (tests, and the harness
//! pulling files out of a disk after a run).
//!
//! ```text
//! block: 0        1       2 ..        ..              ..                ..
//!        [ unused | super | log (nlog) | inodes         | bitmap          | data ... ]
//!                                      (ninodes/IPB+1)  (size/BPB+1)
//! ```
//! Every on-disk structure goes through `abi::fs`, the encoders the kernel uses too.

mod builder;
mod reader;

pub use builder::{Builder, Layout, parse_file_arg};
pub use reader::{Entry, Image};

use std::fmt;

/// Everything that can go wrong building or reading an image. Names are file-system names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The requested size, inode count or log size cannot make a file system.
    BadLayout(String),
    /// A name xv6 cannot store in a directory entry.
    BadName { name: String, why: &'static str },
    /// The root directory already holds this name.
    Duplicate(String),
    /// The file is larger than MAXFILE blocks.
    TooLarge { name: String, len: usize },
    /// No data blocks left for this file.
    OutOfBlocks(String),
    /// No inodes left for this file.
    OutOfInodes(String),
    /// The root directory itself reached MAXFILE blocks.
    DirectoryFull(String),
    /// The image is not an xv6 file system, or it is inconsistent.
    Corrupt(String),
    /// No such path.
    NotFound(String),
    /// A path component that must be a directory is not one.
    NotADirectory(String),
    /// A file was expected but the path names a directory.
    IsADirectory(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use abi::fs::{BSIZE, MAXFILE};
        match self {
            Error::BadLayout(why) => write!(f, "bad layout: {why}"),
            Error::BadName { name, why } => write!(f, "bad name {name:?}: {why}"),
            Error::Duplicate(name) => write!(f, "duplicate name {name:?} in the root directory"),
            Error::TooLarge { name, len } => write!(
                f,
                "{name:?} is {len} bytes, larger than the largest xv6 file ({} bytes)",
                MAXFILE * BSIZE
            ),
            Error::OutOfBlocks(name) => write!(f, "out of data blocks for {name:?}"),
            Error::OutOfInodes(name) => write!(f, "out of inodes for {name:?}"),
            Error::DirectoryFull(name) => write!(f, "root directory full, cannot add {name:?}"),
            Error::Corrupt(why) => write!(f, "corrupt image: {why}"),
            Error::NotFound(path) => write!(f, "{path}: not found"),
            Error::NotADirectory(path) => write!(f, "{path}: not a directory"),
            Error::IsADirectory(path) => write!(f, "{path}: is a directory"),
        }
    }
}

impl std::error::Error for Error {}

/// Reads the little-endian u32 at byte `off` of `b`.
fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
