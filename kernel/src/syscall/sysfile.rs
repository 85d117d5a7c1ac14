//! File-system system calls (xv6's sysfile.c): argument checking, then the fs layer.
//! Every call that modifies the disk runs inside begin_op()/end_op().

use super::{SysResult, argaddr, argint, argstr, fetchaddr, fetchstr};
use crate::fs::file::{File, FileKind, FileReservation};
use crate::fs::inode::{Inode, ialloc, ilock, iput, name_bytes, namei, nameiparent};
use crate::fs::log::{begin_op, end_op};
use crate::fs::pipe::pipealloc;
use crate::mm::kalloc::{kalloc, kfree};
use crate::mm::vm;
use crate::proc::{ProcData, myproc};
use abi::errno::{EINVAL, ENOENT};
use abi::param::{MAXARG, MAXPATH, NDEV, NOFILE};
use abi::{O_CREATE, O_RDWR, O_TRUNC, O_WRONLY, T_DEVICE, T_DIR, T_FILE};
use alloc::sync::Arc;

/// The n-th argument as an open file descriptor.
fn argfd(n: usize) -> Result<(usize, Arc<File>), ()> {
    let fd = argint(n);
    if fd < 0 || fd as usize >= NOFILE {
        return Err(());
    }
    // SAFETY: the current process's own data, for this statement only.
    let f = unsafe { myproc().data() }.ofile[fd as usize]
        .clone()
        .ok_or(())?;
    Ok((fd as usize, f))
}

/// A free descriptor number of the current process.
fn free_fd() -> Result<usize, ()> {
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }
        .ofile
        .iter()
        .position(|f| f.is_none())
        .ok_or(())
}

/// Gives `f` the lowest free descriptor.
fn fdalloc(f: Arc<File>) -> SysResult {
    let fd = free_fd()?;
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(f);
    Ok(fd)
}

/// The n-th argument as a non-negative byte count.
fn argcount(n: usize) -> Result<usize, ()> {
    let c = argint(n);
    if c < 0 { Err(()) } else { Ok(c as usize) }
}

pub fn sys_dup() -> SysResult {
    let (_, f) = argfd(0)?;
    fdalloc(f)
}

pub fn sys_read() -> SysResult {
    let (_, f) = argfd(0)?;
    Ok(f.read(argaddr(1), argcount(2)?)?)
}

pub fn sys_write() -> SysResult {
    let (_, f) = argfd(0)?;
    Ok(f.write(argaddr(1), argcount(2)?)?)
}

pub fn sys_close() -> SysResult {
    let (fd, f) = argfd(0)?;
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = None;
    drop(f);
    Ok(0)
}

pub fn sys_fstat() -> SysResult {
    let (_, f) = argfd(0)?;
    Ok(f.stat(argaddr(1)).map(|_| 0)?)
}

/// Creates the path `new` as a link to the same inode as `old`.
pub fn sys_link() -> SysResult {
    let mut oldbuf = [0u8; MAXPATH];
    let mut newbuf = [0u8; MAXPATH];
    let old = argstr(0, &mut oldbuf)?;
    let new = argstr(1, &mut newbuf)?;
    begin_op();
    let r = link(old, new);
    end_op();
    r
}

fn link(old: &[u8], new: &[u8]) -> SysResult {
    let ip = namei(old).ok_or(())?;
    let mut g = ilock(&ip);
    if g.typ == T_DIR {
        drop(g);
        iput(ip);
        return Err(EINVAL);
    }
    g.nlink += 1;
    g.iupdate();
    drop(g);

    let linked = nameiparent(new).and_then(|(dp, name)| {
        let mut dg = ilock(&dp);
        let ok = dp.dev == ip.dev && dg.dirlink(name_bytes(&name), ip.inum).is_ok();
        drop(dg);
        iput(dp);
        ok.then_some(())
    });
    if linked.is_none() {
        let mut g = ilock(&ip);
        g.nlink -= 1;
        g.iupdate();
        drop(g);
        iput(ip);
        return Err(EINVAL);
    }
    iput(ip);
    Ok(0)
}

pub fn sys_unlink() -> SysResult {
    let mut buf = [0u8; MAXPATH];
    let path = argstr(0, &mut buf)?;
    begin_op();
    let r = unlink(path);
    end_op();
    r
}

fn unlink(path: &[u8]) -> SysResult {
    let (dp, name) = nameiparent(path).ok_or(())?;
    let name = name_bytes(&name);
    let mut dg = ilock(&dp);
    // Cannot unlink "." or "..".
    let found = if name == b"." || name == b".." {
        None
    } else {
        dg.dirlookup(name)
    };
    let Some((ip, off)) = found else {
        drop(dg);
        iput(dp);
        return Err(EINVAL);
    };
    let mut g = ilock(&ip);
    if g.nlink < 1 {
        panic!("unlink: nlink < 1");
    }
    if g.typ == T_DIR && !g.isdirempty() {
        drop(g);
        iput(ip);
        drop(dg);
        iput(dp);
        return Err(EINVAL);
    }
    dg.clear_dirent(off);
    if g.typ == T_DIR {
        dg.nlink -= 1;
        dg.iupdate();
    }
    drop(dg);
    iput(dp);
    g.nlink -= 1;
    g.iupdate();
    drop(g);
    iput(ip);
    Ok(0)
}

/// Creates (or, for a plain file, opens) `path` with type `typ`. Must be inside a
/// transaction. Returns an unlocked reference.
fn create(path: &[u8], typ: i16, major: i16, minor: i16) -> Option<Inode> {
    let (dp, name) = nameiparent(path)?;
    let name = name_bytes(&name);
    let mut dg = ilock(&dp);
    if let Some((ip, _)) = dg.dirlookup(name) {
        drop(dg);
        iput(dp);
        let g = ilock(&ip);
        if typ == T_FILE && (g.typ == T_FILE || g.typ == T_DEVICE) {
            drop(g);
            return Some(ip);
        }
        drop(g);
        iput(ip);
        return None;
    }
    let Some(ip) = ialloc(dp.dev, typ) else {
        drop(dg);
        iput(dp);
        return None;
    };
    let mut g = ilock(&ip);
    g.major = major;
    g.minor = minor;
    g.nlink = 1;
    g.iupdate();

    // Create . and .. entries (no nlink++ for ".": avoid a cyclic ref count).
    let ok = (typ != T_DIR
        || (g.dirlink(b".", ip.inum).is_ok() && g.dirlink(b"..", dp.inum).is_ok()))
        && dg.dirlink(name, ip.inum).is_ok();
    if !ok {
        // De-allocate ip: iput frees an inode with no links.
        g.nlink = 0;
        g.iupdate();
        drop(g);
        iput(ip);
        drop(dg);
        iput(dp);
        return None;
    }
    if typ == T_DIR {
        // Now that success is guaranteed: for "..".
        dg.nlink += 1;
        dg.iupdate();
    }
    drop(g);
    drop(dg);
    iput(dp);
    Some(ip)
}

pub fn sys_open() -> SysResult {
    let mut buf = [0u8; MAXPATH];
    let path = argstr(0, &mut buf)?;
    let omode = argint(1);
    // Claim the descriptor and the file slot first: nothing to undo if they're gone.
    let fd = free_fd()?;
    let slot = FileReservation::new().ok_or(())?;

    begin_op();
    let ip = if omode & O_CREATE != 0 {
        create(path, T_FILE, 0, 0)
    } else {
        namei(path)
    };
    let Some(ip) = ip else {
        end_op();
        return Err(EINVAL);
    };
    let mut g = ilock(&ip);
    let bad = (g.typ == T_DIR && omode != abi::O_RDONLY)
        || (g.typ == T_DEVICE && (g.major < 0 || g.major as usize >= NDEV));
    if bad {
        drop(g);
        iput(ip);
        end_op();
        return Err(EINVAL);
    }
    if omode & O_TRUNC != 0 && g.typ == T_FILE {
        g.itrunc();
    }
    let (typ, major) = (g.typ, g.major);
    drop(g);
    end_op();

    let kind = if typ == T_DEVICE {
        FileKind::Device(ip, major)
    } else {
        FileKind::Inode(ip)
    };
    let readable = omode & O_WRONLY == 0;
    let writable = omode & O_WRONLY != 0 || omode & O_RDWR != 0;
    // SAFETY: the current process's own data, for this statement only.
    unsafe { myproc().data() }.ofile[fd] = Some(slot.fill(kind, readable, writable));
    Ok(fd)
}

pub fn sys_mkdir() -> SysResult {
    let mut buf = [0u8; MAXPATH];
    let path = argstr(0, &mut buf)?;
    begin_op();
    let r = create(path, T_DIR, 0, 0).map(iput);
    end_op();
    r.map(|_| 0).ok_or(EINVAL)
}

pub fn sys_mknod() -> SysResult {
    let mut buf = [0u8; MAXPATH];
    let path = argstr(0, &mut buf)?;
    let major = argint(1) as i16;
    let minor = argint(2) as i16;
    begin_op();
    let r = create(path, T_DEVICE, major, minor).map(iput);
    end_op();
    r.map(|_| 0).ok_or(EINVAL)
}

pub fn sys_chdir() -> SysResult {
    let mut buf = [0u8; MAXPATH];
    let path = argstr(0, &mut buf)?;
    begin_op();
    let Some(ip) = namei(path) else {
        end_op();
        return Err(ENOENT);
    };
    let g = ilock(&ip);
    if g.typ != T_DIR {
        drop(g);
        iput(ip);
        end_op();
        return Err(EINVAL);
    }
    drop(g);
    // SAFETY: the current process's own data; the borrow ends before iput.
    let old = unsafe { myproc().data() }.cwd.replace(ip);
    if let Some(old) = old {
        iput(old);
    }
    end_op();
    Ok(0)
}

/// Kernel pages holding exec's argument strings; freed on drop.
struct ArgPages {
    pages: [usize; MAXARG],
    lens: [usize; MAXARG],
    n: usize,
}

impl Drop for ArgPages {
    fn drop(&mut self) {
        for &pa in &self.pages[..self.n] {
            kfree(pa);
        }
    }
}

pub fn sys_exec() -> SysResult {
    let mut pathbuf = [0u8; MAXPATH];
    let path = argstr(0, &mut pathbuf)?;
    let uargv = argaddr(1);
    let mut args = ArgPages {
        pages: [0; MAXARG],
        lens: [0; MAXARG],
        n: 0,
    };
    loop {
        if args.n >= MAXARG {
            return Err(EINVAL);
        }
        let uarg = fetchaddr(uargv.checked_add(8 * args.n).ok_or(())?)?;
        if uarg == 0 {
            break;
        }
        let page = kalloc().ok_or(())?;
        args.pages[args.n] = page;
        args.n += 1;
        // SAFETY: `page` is a whole page owned by `args`.
        let buf =
            unsafe { core::slice::from_raw_parts_mut(page as *mut u8, crate::arch::riscv::PGSIZE) };
        args.lens[args.n - 1] = fetchstr(uarg, buf)?.len();
    }
    let mut argv: [&[u8]; MAXARG] = [&[]; MAXARG];
    for (i, arg) in argv.iter_mut().enumerate().take(args.n) {
        // SAFETY: each page holds lens[i] bytes copied in above, and lives as long as args.
        *arg = unsafe { core::slice::from_raw_parts(args.pages[i] as *const u8, args.lens[i]) };
    }
    Ok(crate::proc::exec::kexec(path, &argv[..args.n])?)
}

pub fn sys_pipe() -> SysResult {
    let fdarray = argaddr(0);
    let (rf, wf) = pipealloc().ok_or(())?;
    // SAFETY: the current process's own data; nothing below reaches it otherwise (so
    // the free descriptors are looked up here, not with free_fd).
    let d = unsafe { myproc().data() };
    let free = |d: &ProcData| d.ofile.iter().position(|f| f.is_none()).ok_or(());
    let fd0 = free(d)?;
    d.ofile[fd0] = Some(rf);
    let Ok(fd1) = free(d) else {
        d.ofile[fd0] = None;
        return Err(EINVAL);
    };
    d.ofile[fd1] = Some(wf);
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&(fd0 as i32).to_le_bytes());
    b[4..8].copy_from_slice(&(fd1 as i32).to_le_bytes());
    if vm::copyout(d.pagetable, fdarray, &b).is_err() {
        d.ofile[fd0] = None;
        d.ofile[fd1] = None;
        return Err(EINVAL);
    }
    Ok(0)
}
