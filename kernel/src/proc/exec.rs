//! exec (xv6's exec.c): replace the current process's memory with an ELF program from
//! the file system, and set up its stack with the arguments.
//!
//! Every PT_LOAD segment must start on a page boundary. Pages below the first segment
//! stay unmapped, so Rust programs (linked at 0x1000) fault on a null pointer while C
//! xv6 programs (linked at 0) still run.

use crate::arch::riscv::{PGSIZE, PTE_W, PTE_X, pgroundup};
use crate::fs::inode::{InodeGuard, ilock, iput, namei};
use crate::fs::log::{begin_op, end_op};
use crate::mm::vm::{self, PageTable};
use crate::proc::{myproc, proc_freepagetable, proc_pagetable};
use abi::param::{MAXARG, USERSTACK};

const ELF_MAGIC: u32 = 0x464C_457F; // "\x7FELF" in little endian
const PT_LOAD: u32 = 1;
const ELF_PROG_FLAG_EXEC: u32 = 1;
const ELF_PROG_FLAG_WRITE: u32 = 2;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

struct ElfHeader {
    entry: usize,
    phoff: usize,
    phnum: usize,
}

struct ProgHeader {
    typ: u32,
    flags: u32,
    off: usize,
    vaddr: usize,
    filesz: usize,
    memsz: usize,
}

fn u16_at(b: &[u8], o: usize) -> usize {
    u16::from_le_bytes([b[o], b[o + 1]]) as usize
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> usize {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize
}

fn read_exact(ip: &mut InodeGuard, buf: &mut [u8], off: usize) -> Result<(), ()> {
    let off = u32::try_from(off).map_err(|_| ())?;
    match ip.readi(false, buf.as_mut_ptr() as usize, off, buf.len()) {
        Ok(n) if n == buf.len() => Ok(()),
        _ => Err(()),
    }
}

fn flags2perm(flags: u32) -> usize {
    let mut perm = 0;
    if flags & ELF_PROG_FLAG_EXEC != 0 {
        perm |= PTE_X;
    }
    if flags & ELF_PROG_FLAG_WRITE != 0 {
        perm |= PTE_W;
    }
    perm
}

/// Loads a segment into already-mapped pages at `va` (page-aligned).
fn loadseg(
    pt: PageTable,
    va: usize,
    ip: &mut InodeGuard,
    offset: usize,
    sz: usize,
) -> Result<(), ()> {
    for i in (0..sz).step_by(PGSIZE) {
        let pa = vm::walkaddr(pt, va + i).expect("loadseg: address should exist");
        let n = (sz - i).min(PGSIZE);
        // SAFETY: pa is a whole mapped page owned by the new image.
        let page = unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, n) };
        read_exact(ip, page, offset + i)?;
    }
    Ok(())
}

/// Maps the program's segments into `pt`; returns the end of the image.
fn load_program(pt: PageTable, ip: &mut InodeGuard) -> Result<(usize, usize), usize> {
    let mut eh = [0u8; EHDR_SIZE];
    read_exact(ip, &mut eh, 0).map_err(|_| 0usize)?;
    if u32_at(&eh, 0) != ELF_MAGIC {
        return Err(0);
    }
    let elf = ElfHeader {
        entry: u64_at(&eh, 24),
        phoff: u64_at(&eh, 32),
        phnum: u16_at(&eh, 56),
    };
    let mut sz = 0usize;
    for i in 0..elf.phnum {
        let mut b = [0u8; PHDR_SIZE];
        let off = elf.phoff.checked_add(i * PHDR_SIZE).ok_or(sz)?;
        read_exact(ip, &mut b, off).map_err(|_| sz)?;
        let ph = ProgHeader {
            typ: u32_at(&b, 0),
            flags: u32_at(&b, 4),
            off: u64_at(&b, 8),
            vaddr: u64_at(&b, 16),
            filesz: u64_at(&b, 32),
            memsz: u64_at(&b, 40),
        };
        if ph.typ != PT_LOAD {
            continue;
        }
        let end = ph.vaddr.checked_add(ph.memsz).ok_or(sz)?;
        if ph.memsz < ph.filesz || !ph.vaddr.is_multiple_of(PGSIZE) || ph.vaddr < sz {
            return Err(sz);
        }
        sz = vm::uvmalloc(pt, ph.vaddr, end, flags2perm(ph.flags)).ok_or(sz)?;
        loadseg(pt, ph.vaddr, ip, ph.off, ph.filesz).map_err(|_| sz)?;
    }
    Ok((sz, elf.entry))
}

/// Replaces the current process image with the program at `path`. Returns argc (which
/// lands in a0; a1 holds argv) or Err, leaving the old image intact.
pub fn kexec(path: &[u8], argv: &[&[u8]]) -> Result<usize, ()> {
    if argv.len() > MAXARG {
        return Err(());
    }
    let p = myproc();
    begin_op();
    let Some(ip) = namei(path) else {
        end_op();
        return Err(());
    };
    let mut g = ilock(&ip);
    // SAFETY: the current process's own data, read for this call only.
    let trapframe = unsafe { p.data() }.trapframe_pa();
    let pt = match proc_pagetable(trapframe) {
        Some(pt) => pt,
        None => {
            drop(g);
            iput(ip);
            end_op();
            return Err(());
        }
    };
    let loaded = load_program(pt, &mut g);
    drop(g);
    iput(ip);
    end_op();
    let (sz, entry) = match loaded {
        Ok(v) => v,
        Err(sz) => {
            proc_freepagetable(pt, sz);
            return Err(());
        }
    };

    // Stack: USERSTACK pages, with an unmapped guard page below. (xv6 keeps the page and
    // clears PTE_U; the kernel reaches user pages through the MMU, where a supervisor page
    // would be writable, so the guard must not be mapped at all.)
    let sz = pgroundup(sz);
    let Some(sz) = vm::uvmalloc(pt, sz, sz + (USERSTACK + 1) * PGSIZE, PTE_W) else {
        proc_freepagetable(pt, sz);
        return Err(());
    };
    vm::uvmunmap(pt, sz - (USERSTACK + 1) * PGSIZE, 1, true);
    let stackbase = sz - USERSTACK * PGSIZE;
    let mut sp = sz;

    // Argument strings, then the argv[] array of pointers to them.
    let mut ustack = [0usize; MAXARG + 1];
    for (i, arg) in argv.iter().enumerate() {
        sp = sp.wrapping_sub(arg.len() + 1);
        sp -= sp % 16; // riscv sp must be 16-byte aligned
        if sp < stackbase
            || vm::copyout(pt, sp, arg).is_err()
            || vm::copyout(pt, sp + arg.len(), &[0]).is_err()
        {
            proc_freepagetable(pt, sz);
            return Err(());
        }
        ustack[i] = sp;
    }
    let argc = argv.len();
    ustack[argc] = 0;
    sp = sp.wrapping_sub((argc + 1) * 8);
    sp -= sp % 16;
    let mut words = [0u8; (MAXARG + 1) * 8];
    for (i, w) in ustack[..=argc].iter().enumerate() {
        words[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    if sp < stackbase || vm::copyout(pt, sp, &words[..(argc + 1) * 8]).is_err() {
        proc_freepagetable(pt, sz);
        return Err(());
    }

    // Save the program name for debugging: the last path element.
    // SAFETY: the current process's own data; nothing below reaches it otherwise.
    let d = unsafe { p.data() };
    let last = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    d.name = [0; 16];
    let n = last.len().min(15);
    d.name[..n].copy_from_slice(&last[..n]);

    // Commit to the user image.
    let oldpagetable = d.pagetable;
    let oldsz = d.sz;
    d.pagetable = pt;
    d.sz = sz;
    let tf = d.trapframe();
    tf.epc = entry;
    tf.sp = sp;
    tf.a1 = sp;
    // This hart runs on the old page table: leave it before freeing it.
    vm::switch_to(pt);
    proc_freepagetable(oldpagetable, oldsz);
    Ok(argc)
}
