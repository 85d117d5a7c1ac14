//! The contract between xv6net's kernel, its user programs and its host tools.
//!
//! Everything here is xv6-riscv's user ABI, kept exactly so that an unmodified xv6
//! C program runs: syscall numbers and their registers, `struct stat`, open flags,
//! and the on-disk file system layout that `mkfs` writes and the kernel reads.
//! The socket calls add Linux's numbers and layouts (errno, `sockaddr_in`, `pollfd`).
//! No code here touches hardware; `cargo test` checks every layout on the host.
#![no_std]
#![forbid(unsafe_code)]

pub mod errno;
pub mod fs;
pub mod net;
pub mod param;
pub mod socket;
pub mod syscall;

pub use errno::{Errno, strerror};
pub use fs::{Dinode, Dirent, Superblock};
pub use socket::SockaddrIn;

/// `struct stat` of xv6 (`kernel/stat.h`): 24 bytes, C layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// File system's disk device.
    pub dev: i32,
    /// Inode number.
    pub ino: u32,
    /// Type of file: [`T_DIR`], [`T_FILE`] or [`T_DEVICE`].
    pub typ: i16,
    /// Number of links to file.
    pub nlink: i16,
    /// Size of file in bytes.
    pub size: u64,
}

pub const T_DIR: i16 = 1;
pub const T_FILE: i16 = 2;
pub const T_DEVICE: i16 = 3;

/// Open flags (`kernel/fcntl.h`).
pub const O_RDONLY: i32 = 0x000;
pub const O_WRONLY: i32 = 0x001;
pub const O_RDWR: i32 = 0x002;
pub const O_CREATE: i32 = 0x200;
pub const O_TRUNC: i32 = 0x400;

/// Major device number of the console.
pub const CONSOLE: i16 = 1;

/// Page size of the user address space.
pub const PGSIZE: usize = 4096;
/// One past the highest virtual address of Sv39 that xv6 uses (it avoids the sign-extended top half).
pub const MAXVA: usize = 1 << (9 + 9 + 9 + 12 - 1);
/// The trampoline page, mapped at the same address in kernel and user space.
pub const TRAMPOLINE: usize = MAXVA - PGSIZE;
/// The per-process trap frame, just below the trampoline.
pub const TRAPFRAME: usize = TRAMPOLINE - PGSIZE;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn stat_matches_c_layout() {
        assert_eq!(size_of::<Stat>(), 24);
        assert_eq!(offset_of!(Stat, dev), 0);
        assert_eq!(offset_of!(Stat, ino), 4);
        assert_eq!(offset_of!(Stat, typ), 8);
        assert_eq!(offset_of!(Stat, nlink), 10);
        assert_eq!(offset_of!(Stat, size), 16);
    }

    #[test]
    fn address_space_top_matches_xv6() {
        assert_eq!(MAXVA, 0x40_0000_0000);
        assert_eq!(TRAMPOLINE, 0x3f_ffff_f000);
        assert_eq!(TRAPFRAME, 0x3f_ffff_e000);
    }
}
