//! The file system: buffer cache, log, inodes and directories, open files, pipes.
//! Layered as in xv6: bio → log → inode → file → sysfile.

pub mod bio;
pub mod file;
pub mod inode;
pub mod log;
pub mod pipe;

pub use inode::fsinit;
