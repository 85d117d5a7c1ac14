//! Processes (xv6's proc.c): the process table, fork/exit/wait/kill, the per-hart
//! scheduler, and sleep/wakeup.
//!
//! Locking:
//! - `Proc::inner` (p->lock in xv6) protects state, chan, killed, xstate, pid. It is held
//!   across `swtch` between a process and its hart's scheduler.
//! - `WAIT_LOCK` protects every process's parent link; it is taken before any p->lock.
//! - `ProcData` is private to the process: only the process itself touches it while it
//!   lives (through the unsafe `Proc::data`, whose contract says how), and otherwise the
//!   code that holds p->lock while the slot is being set up or torn down
//!   (`Proc::data_locked`, which checks that).
//! - `Proc::context` is the process's half of the hand-off with the scheduler: written
//!   by `swtch` only, with p->lock held across it.

use super::cpu::mycpu;
use crate::arch::riscv::{PGSIZE, PTE_R, PTE_W, PTE_X, intr_get, intr_on, sfence_vma};
use crate::arch::swtch::{Context, swtch};
use crate::fs::file::File;
use crate::fs::inode::{Inode, idup, iput, namei};
use crate::fs::log::{begin_op, end_op};
use crate::mm::kalloc::{kalloc, kfree};
use crate::mm::vm::{self, KSTACK_PAGES, PageTable};
use crate::sync::spinlock::{Spinlock, SpinlockGuard};
use abi::param::{NOFILE, NPROC};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Saved user registers, at TRAPFRAME in the user page table. The trampoline's offsets
/// depend on this exact layout.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Trapframe {
    /*   0 */ pub unused_kernel_satp: usize, // xv6's kernel page table: not needed here
    /*   8 */ pub kernel_sp: usize,
    /*  16 */ pub kernel_trap: usize,
    /*  24 */ pub epc: usize,
    /*  32 */ pub kernel_hartid: usize,
    /*  40 */ pub ra: usize,
    /*  48 */ pub sp: usize,
    /*  56 */ pub gp: usize,
    /*  64 */ pub tp: usize,
    /*  72 */ pub t0: usize,
    /*  80 */ pub t1: usize,
    /*  88 */ pub t2: usize,
    /*  96 */ pub s0: usize,
    /* 104 */ pub s1: usize,
    /* 112 */ pub a0: usize,
    /* 120 */ pub a1: usize,
    /* 128 */ pub a2: usize,
    /* 136 */ pub a3: usize,
    /* 144 */ pub a4: usize,
    /* 152 */ pub a5: usize,
    /* 160 */ pub a6: usize,
    /* 168 */ pub a7: usize,
    /* 176 */ pub s2: usize,
    /* 184 */ pub s3: usize,
    /* 192 */ pub s4: usize,
    /* 200 */ pub s5: usize,
    /* 208 */ pub s6: usize,
    /* 216 */ pub s7: usize,
    /* 224 */ pub s8: usize,
    /* 232 */ pub s9: usize,
    /* 240 */ pub s10: usize,
    /* 248 */ pub s11: usize,
    /* 256 */ pub t3: usize,
    /* 264 */ pub t4: usize,
    /* 272 */ pub t5: usize,
    /* 280 */ pub t6: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcState {
    Unused,
    Used,
    Sleeping,
    Runnable,
    Running,
    Zombie,
}

/// p->lock must be held when using these.
pub struct ProcInner {
    pub state: ProcState,
    /// If non-zero, sleeping on chan.
    pub chan: usize,
    /// If true, have been killed.
    pub killed: bool,
    /// Exit status to be returned to parent's wait.
    pub xstate: i32,
    pub pid: i32,
}

/// Private to the process.
pub struct ProcData {
    /// Virtual address of the kernel stack (lowest byte).
    pub kstack: usize,
    /// Size of process memory (bytes).
    pub sz: usize,
    pub pagetable: PageTable,
    /// Physical address of the trap frame page (identity-mapped in the kernel), or 0
    /// while the slot has none; set only here, so that `trapframe()` can trust it.
    trapframe: usize,
    pub ofile: [Option<Arc<File>>; NOFILE],
    pub cwd: Option<Inode>,
    /// The network lab's UDP ports this process bound (released at exit).
    pub lab_ports: crate::net::lab::LabPorts,
    /// Process name (debugging).
    pub name: [u8; 16],
}

pub struct Proc {
    pub inner: Spinlock<ProcInner>,
    /// The channel this process sleeps on, 0 if none: a copy of `inner.chan` that
    /// `wakeup` reads without the lock to skip the processes that are not its
    /// business (see `sleep` for why that misses nobody).
    sleeping_on: AtomicUsize,
    /// True whenever `inner.state` is Runnable (set and cleared under p->lock), so
    /// the scheduler's scan skips the other slots without taking their locks.
    maybe_runnable: AtomicBool,
    /// swtch() here to run the process. Kept out of `ProcData`: the scheduler and
    /// `sched` switch through it while the process may hold its own data borrowed.
    context: UnsafeCell<Context>,
    data: UnsafeCell<ProcData>,
}

// SAFETY: `inner` is locked; `context` and `data` follow the rules in the module doc.
unsafe impl Sync for Proc {}

impl ProcData {
    /// The saved user registers.
    pub fn trapframe(&mut self) -> &mut Trapframe {
        assert!(self.trapframe != 0, "trapframe: slot has none");
        // SAFETY: a non-zero `trapframe` is a whole page this slot allocated (allocproc)
        // and owns until freeproc clears the field; identity-mapped, page-aligned. The
        // borrow of `self` keeps the reference unique.
        unsafe { &mut *(self.trapframe as *mut Trapframe) }
    }

    /// Physical address of the trap frame page (to map it into a new page table).
    pub fn trapframe_pa(&self) -> usize {
        self.trapframe
    }

    /// The process name, for messages.
    pub fn name(&self) -> &str {
        let n = &self.name;
        let len = n.iter().position(|&c| c == 0).unwrap_or(n.len());
        core::str::from_utf8(&n[..len]).unwrap_or("?")
    }
}

impl Proc {
    /// Marks the process runnable; `inner` is its locked state.
    fn make_runnable(&self, inner: &mut ProcInner) {
        inner.state = ProcState::Runnable;
        self.maybe_runnable.store(true, Ordering::Release);
    }

    const fn new() -> Proc {
        Proc {
            inner: Spinlock::new(
                "proc",
                ProcInner {
                    state: ProcState::Unused,
                    chan: 0,
                    killed: false,
                    xstate: 0,
                    pid: 0,
                },
            ),
            sleeping_on: AtomicUsize::new(0),
            maybe_runnable: AtomicBool::new(false),
            context: UnsafeCell::new(Context {
                ra: 0,
                sp: 0,
                s: [0; 12],
            }),
            data: UnsafeCell::new(ProcData {
                kstack: 0,
                sz: 0,
                pagetable: PageTable(0),
                trapframe: 0,
                ofile: [const { None }; NOFILE],
                cwd: None,
                lab_ports: crate::net::lab::LabPorts::new(),
                name: [0; 16],
            }),
        }
    }

    /// The process-private part, for the process itself (xv6 reads these fields of
    /// `myproc()` without a lock by the same rule).
    ///
    /// # Safety
    /// `self` must be the current process (`myproc()`), and no other reference to its
    /// `ProcData` may be in use while the returned one is: take one per use, and do not
    /// hold it across a call that takes its own (such as `namei`, `either_copyout`,
    /// `fetchaddr` or `argint`). Sleeping while holding it is fine: nothing else
    /// touches a live process's data.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn data(&self) -> &mut ProcData {
        // SAFETY: per the contract, this is the process itself and the only reference.
        unsafe { &mut *self.data.get() }
    }

    /// The process-private part of a slot that is not running, for the code setting it
    /// up (`allocproc`, `fork`) or tearing it down (`freeproc`), which holds p->lock
    /// (`inner`) while the slot is Used (allocated, never run) or a Zombie (gone from
    /// every hart: its last `sched` released p->lock only after switching away).
    pub fn data_locked<'a>(
        &'a self,
        inner: &'a mut SpinlockGuard<'_, ProcInner>,
    ) -> &'a mut ProcData {
        assert!(
            inner.holds(&self.inner),
            "data_locked: not this slot's lock"
        );
        assert!(
            matches!(inner.state, ProcState::Used | ProcState::Zombie),
            "data_locked: {:?}",
            inner.state
        );
        // SAFETY: the process does not run (checked above) and cannot start while p->lock
        // is held (the scheduler takes it to run a process); the borrow of the guard keeps
        // this reference the only one.
        unsafe { &mut *self.data.get() }
    }

    fn index(&self) -> usize {
        (self as *const Proc as usize - PROCS.as_ptr() as usize) / core::mem::size_of::<Proc>()
    }

    /// The wait channel of this process (its address).
    fn chan(&self) -> usize {
        self as *const Proc as usize
    }
}

static PROCS: [Proc; NPROC] = [const { Proc::new() }; NPROC];

/// Parent of each process slot (index), protected by the lock: xv6's wait_lock.
static WAIT_LOCK: Spinlock<[Option<usize>; NPROC]> = Spinlock::new("wait_lock", [None; NPROC]);

static NEXTPID: AtomicI32 = AtomicI32::new(1);

/// The first user process (slot 0).
fn initproc() -> &'static Proc {
    &PROCS[0]
}

/// Allocates a kernel stack for every process slot, each under a guard page.
pub fn proc_mapstacks(kpt: PageTable) {
    for i in 0..NPROC {
        for j in 0..KSTACK_PAGES {
            let pa = kalloc().expect("proc_mapstacks: out of memory");
            vm::kvmmap(kpt, vm::kstack(i) + j * PGSIZE, pa, PGSIZE, PTE_R | PTE_W);
        }
    }
}

pub fn procinit() {
    for (i, p) in PROCS.iter().enumerate() {
        // SAFETY: boot, on one hart, before any process exists: nothing else uses the slot.
        unsafe { (*p.data.get()).kstack = vm::kstack(i) };
    }
}

/// The process running on this hart, if any.
///
/// xv6 keeps it in the hart's `struct cpu` and reads it with interrupts off, so that the
/// process cannot move to another hart between finding its hart and reading the entry.
/// Here the stack pointer says it: a process runs its kernel code (system calls, its
/// traps, and interrupts taken meanwhile) on its own kernel stack, at a fixed address per
/// slot (`vm::kstack`), which goes with it from hart to hart. So the answer needs neither
/// interrupts off nor a CSR access (each ends a block of QEMU's translated code, and this
/// is asked several times per system call). The scheduler runs on its hart's boot stack,
/// outside every kernel stack: no process, as xv6's `c->proc == 0` there.
pub fn myproc_opt() -> Option<&'static Proc> {
    vm::kstack_slot(crate::arch::riscv::r_sp()).map(|slot| &PROCS[slot])
}

/// The process running on this hart; panics in the scheduler.
pub fn myproc() -> &'static Proc {
    myproc_opt().expect("myproc: no process")
}

/// Pid of the current process, or 0 outside any process (sleep locks record it).
pub fn myproc_pid() -> i32 {
    myproc_opt().map_or(0, |p| p.inner.lock().pid)
}

/// Finds an unused slot and prepares it to run in the kernel (returning through forkret).
/// Returns with the slot's lock held.
fn allocproc() -> Option<(&'static Proc, SpinlockGuard<'static, ProcInner>)> {
    for p in PROCS.iter() {
        let mut inner = p.inner.lock();
        if inner.state != ProcState::Unused {
            continue;
        }
        inner.pid = NEXTPID.fetch_add(1, Ordering::Relaxed);
        inner.state = ProcState::Used;
        let Some(tf) = kalloc() else {
            freeproc(p, inner);
            return None;
        };
        let d = p.data_locked(&mut inner);
        d.trapframe = tf;
        match proc_pagetable(tf) {
            Some(pt) => d.pagetable = pt,
            None => {
                freeproc(p, inner);
                return None;
            }
        }
        let kstack = d.kstack;
        let context = Context {
            ra: forkret as *const () as usize,
            sp: kstack + KSTACK_PAGES * PGSIZE,
            ..Context::default()
        };
        // SAFETY: the slot is Used and p->lock held, so no scheduler switches through
        // its context now.
        unsafe { *p.context.get() = context };
        return Some((p, inner));
    }
    None
}

/// Frees a slot and everything hanging from it; p->lock must be held.
fn freeproc(p: &Proc, mut inner: SpinlockGuard<'static, ProcInner>) {
    let d = p.data_locked(&mut inner);
    if d.trapframe != 0 {
        kfree(d.trapframe);
    }
    d.trapframe = 0;
    if d.pagetable.0 != 0 {
        proc_freepagetable(d.pagetable, d.sz);
    }
    d.pagetable = PageTable(0);
    d.sz = 0;
    d.name = [0; 16];
    inner.pid = 0;
    inner.chan = 0;
    inner.killed = false;
    inner.xstate = 0;
    inner.state = ProcState::Unused;
}

/// A user page table with only the trampoline and trap frame mapped.
pub fn proc_pagetable(trapframe: usize) -> Option<PageTable> {
    let pt = vm::uvmcreate()?;
    // SAFETY: only the symbol's address is taken.
    let tramp = unsafe { crate::arch::trampoline::trampoline.as_ptr() } as usize;
    if vm::mappages(pt, abi::TRAMPOLINE, PGSIZE, tramp, PTE_R | PTE_X).is_err() {
        vm::uvmfree(pt, 0);
        return None;
    }
    if vm::mappages(pt, abi::TRAPFRAME, PGSIZE, trapframe, PTE_R | PTE_W).is_err() {
        vm::uvmunmap(pt, abi::TRAMPOLINE, 1, false);
        vm::uvmfree(pt, 0);
        return None;
    }
    Some(pt)
}

/// Frees a user page table and the memory [0, sz) it maps.
pub fn proc_freepagetable(pt: PageTable, sz: usize) {
    vm::uvmunmap(pt, abi::TRAMPOLINE, 1, false);
    vm::uvmunmap(pt, abi::TRAPFRAME, 1, false);
    vm::uvmfree(pt, sz);
}

/// Creates the first process; its first return to user space execs /init (see forkret).
pub fn userinit() {
    // Before allocproc: looking up "/" may wake sleepers, which needs every p->lock.
    let root = namei(b"/").expect("userinit: no root");
    let (p, mut inner) = allocproc().expect("userinit: no process slot");
    assert!(p.index() == 0);
    let d = p.data_locked(&mut inner);
    d.cwd = Some(root);
    d.name[..8].copy_from_slice(b"initcode");
    p.make_runnable(&mut inner);
}

/// Grows or shrinks user memory by n bytes (sbrk).
pub fn growproc(n: isize) -> Result<(), ()> {
    // SAFETY: the current process's own data; the calls below do not reach it.
    let d = unsafe { myproc().data() };
    let sz = d.sz;
    let newsz = sz.checked_add_signed(n).ok_or(())?;
    if n > 0 {
        d.sz = vm::uvmalloc(d.pagetable, sz, newsz, PTE_W).ok_or(())?;
    } else if n < 0 {
        d.sz = vm::uvmdealloc(d.pagetable, sz, newsz);
        // The page table is loaded: forget translations of the pages just freed.
        sfence_vma();
    }
    Ok(())
}

/// Creates a copy of the current process. Returns the child's pid in the parent.
pub fn fork() -> Option<i32> {
    let p = myproc();
    let (np, mut ninner) = allocproc()?;
    // SAFETY: the current process's own data; the calls below do not reach it (the
    // child's comes from data_locked, a different slot).
    let pd = unsafe { p.data() };
    let nd = np.data_locked(&mut ninner);
    if vm::uvmcopy(pd.pagetable, nd.pagetable, pd.sz).is_err() {
        freeproc(np, ninner);
        return None;
    }
    nd.sz = pd.sz;
    *nd.trapframe() = *pd.trapframe();
    // fork returns 0 in the child.
    nd.trapframe().a0 = 0;
    for (n, o) in nd.ofile.iter_mut().zip(pd.ofile.iter()) {
        *n = o.clone();
    }
    nd.cwd = pd.cwd.as_ref().map(idup);
    nd.name = pd.name;
    let pid = ninner.pid;
    drop(ninner);

    WAIT_LOCK.lock()[np.index()] = Some(p.index());
    np.make_runnable(&mut np.inner.lock());
    Some(pid)
}

/// Gives p's abandoned children to init. WAIT_LOCK must be held.
fn reparent(parents: &mut [Option<usize>; NPROC], p: &Proc) {
    for parent in parents.iter_mut() {
        if *parent == Some(p.index()) {
            *parent = Some(0);
            wakeup(initproc().chan());
        }
    }
}

/// Exits the current process; it stays a zombie until its parent calls wait().
pub fn exit(status: i32) -> ! {
    let p = myproc();
    if p.index() == 0 {
        panic!("init exiting");
    }
    for fd in 0..NOFILE {
        // SAFETY: the current process's own data, used only to take the file out: closing
        // it (which may sleep or reach the network) runs after the borrow ends.
        let f = unsafe { p.data() }.ofile[fd].take();
        drop(f);
    }
    // SAFETY: the current process's own data, used only to take its lab ports out.
    let mut ports = core::mem::replace(
        &mut unsafe { p.data() }.lab_ports,
        crate::net::lab::LabPorts::new(),
    );
    // No p->lock may be held here: releasing takes NET, and polls under NET take
    // every p->lock to wake sleepers.
    crate::net::lab::release_all(&mut ports);
    // SAFETY: as above: the borrow ends before iput.
    let cwd = unsafe { p.data() }.cwd.take();
    if let Some(cwd) = cwd {
        begin_op();
        iput(cwd);
        end_op();
    }

    let mut parents = WAIT_LOCK.lock();
    reparent(&mut parents, p);
    // The parent might be sleeping in wait().
    if let Some(parent) = parents[p.index()] {
        wakeup(PROCS[parent].chan());
    }
    let mut inner = p.inner.lock();
    inner.xstate = status;
    inner.state = ProcState::Zombie;
    drop(parents);

    sched(inner);
    panic!("zombie exit");
}

/// Waits for a child to exit; copies its status to user address `addr` (if non-zero).
/// Returns the child's pid, or None if there are no children or we were killed.
pub fn wait(addr: usize) -> Option<i32> {
    let p = myproc();
    let me = p.index();
    let mut parents = WAIT_LOCK.lock();
    loop {
        let mut havekids = false;
        for (i, child) in PROCS.iter().enumerate() {
            if parents[i] != Some(me) {
                continue;
            }
            havekids = true;
            let inner = child.inner.lock();
            if inner.state == ProcState::Zombie {
                let pid = inner.pid;
                let status = inner.xstate.to_le_bytes();
                // SAFETY: the current process's own data, read for this call only.
                let pagetable = unsafe { p.data() }.pagetable;
                if addr != 0 && vm::copyout(pagetable, addr, &status).is_err() {
                    return None;
                }
                freeproc(child, inner);
                parents[i] = None;
                return Some(pid);
            }
        }
        if !havekids || killed(p) {
            return None;
        }
        parents = sleep(p.chan(), parents);
    }
}

/// Each hart runs this loop after boot: pick a runnable process, swtch to it, and come
/// back here when it gives up the hart.
pub fn scheduler() -> ! {
    loop {
        // The most recent process may have had interrupts off; let devices interrupt so a
        // sleeping process can be woken.
        intr_on();
        let mut found = false;
        for p in PROCS.iter() {
            // A process made runnable just after this read is found on the next
            // round, as one made runnable just after xv6's scan passed it.
            if !p.maybe_runnable.load(Ordering::Acquire) {
                continue;
            }
            let mut inner = p.inner.lock();
            if inner.state == ProcState::Runnable {
                inner.state = ProcState::Running;
                p.maybe_runnable.store(false, Ordering::Relaxed);
                // SAFETY: p->lock is held, so interrupts are off; the reference is gone
                // before swtch, and the process takes its own.
                let cpu_context = &raw mut unsafe { mycpu() }.context;
                // The process runs on its own page table, kernel included (vm.rs).
                // SAFETY: p->lock is held and the process was Runnable, not running
                // anywhere: nothing changes its page table meanwhile.
                vm::switch_to(unsafe { (*p.data.get()).pagetable });
                // SAFETY: both contexts are valid; the process's kernel stack is mapped.
                // It switches back here (holding p->lock) through sched().
                unsafe { swtch(cpu_context, p.context.get()) };
                // Back on the kernel page table before p->lock is released: once it is, a
                // parent's wait() may free an exited process's page table.
                vm::switch_to(vm::kernel_pagetable());
                found = true;
            }
            drop(inner);
        }
        if !found {
            // The interrupt hart polls the NIC instead of sleeping while frames flow.
            if crate::proc::cpuid() == crate::arch::plic::IRQ_HART
                && crate::net::poll::poll(netstack::napi::Reason::Idle)
            {
                continue;
            }
            intr_on();
            // SAFETY: waiting for an interrupt has no memory effects.
            unsafe { core::arch::asm!("wfi") };
        }
    }
}

/// Switches to the scheduler. Must hold only p->lock (passed in), and have changed the
/// state already. Returns with p->lock held again, when the process next runs.
fn sched(inner: SpinlockGuard<'static, ProcInner>) -> SpinlockGuard<'static, ProcInner> {
    let p = myproc();
    if !p.inner.holding() {
        panic!("sched p->lock");
    }
    // SAFETY: p->lock is held, so interrupts are off; each mycpu() reference here is
    // used in its own statement only.
    if unsafe { mycpu() }.noff != 1 {
        panic!("sched locks");
    }
    if inner.state == ProcState::Running {
        panic!("sched running");
    }
    if intr_get() {
        panic!("sched interruptible");
    }
    // SAFETY: see above.
    let intena = unsafe { mycpu() }.intena;
    // SAFETY: see above.
    let cpu_context = unsafe { &raw const mycpu().context };
    // SAFETY: both contexts are valid; the scheduler's stack is this hart's boot stack.
    // p->lock is held, so no other hart switches through p's context meanwhile.
    unsafe { swtch(p.context.get(), cpu_context) };
    // SAFETY: see above (this may be another hart now, still with p->lock held).
    unsafe { mycpu() }.intena = intena;
    inner
}

/// Gives up the hart for one scheduling round.
pub fn yield_() {
    let p = myproc();
    let mut inner = p.inner.lock();
    p.make_runnable(&mut inner);
    drop(sched(inner));
}

static FIRST: AtomicBool = AtomicBool::new(true);

/// A new process's first scheduling lands here, still holding p->lock from scheduler().
extern "C" fn forkret() {
    let p = myproc();
    // SAFETY: scheduler() acquired p->lock before switching here. A process normally
    // releases it by returning from sched(); a new process never called sched(), so it
    // releases the lock here instead, as xv6's forkret does.
    unsafe { p.inner.force_unlock() };

    if FIRST.swap(false, Ordering::AcqRel) {
        // File system initialization sleeps, so it runs in a process, not in kmain.
        crate::fs::fsinit(abi::param::ROOTDEV);
        let argc = crate::proc::exec::kexec(b"/init", &[b"/init"]).expect("exec /init");
        // SAFETY: the current process's own data, for this statement only.
        unsafe { p.data() }.trapframe().a0 = argc;
    }
    crate::trap::usertrapret();
}

/// Atomically releases `guard`'s lock and sleeps on `chan`; re-acquires the lock when
/// woken.
pub fn sleep<'a, T>(chan: usize, guard: SpinlockGuard<'a, T>) -> SpinlockGuard<'a, T> {
    let p = myproc();
    // Once we hold p->lock, no wakeup can be missed (wakeup takes p->lock), so it is
    // safe to release the caller's lock.
    let mut inner = p.inner.lock();
    // Published before the caller's lock is released: a waker holds that lock when
    // it calls wakeup, so it sees `sleeping_on` set, and then waits on p->lock until
    // this process is asleep. (xv6's wakeup takes every p->lock instead.)
    p.sleeping_on.store(chan, Ordering::Release);
    let lock = guard.unlock();
    inner.chan = chan;
    inner.state = ProcState::Sleeping;
    let mut inner = sched(inner);
    inner.chan = 0;
    p.sleeping_on.store(0, Ordering::Relaxed);
    drop(inner);
    lock.lock()
}

/// Wakes up all processes sleeping on `chan`. Must be called without any p->lock.
pub fn wakeup(chan: usize) {
    let me = myproc_opt().map(|p| p as *const Proc);
    for p in PROCS.iter() {
        if Some(p as *const Proc) == me || p.sleeping_on.load(Ordering::Acquire) != chan {
            continue;
        }
        let mut inner = p.inner.lock();
        if inner.state == ProcState::Sleeping && inner.chan == chan {
            p.make_runnable(&mut inner);
        }
    }
}

/// Kills the process with the given pid: it exits when it next returns to user space.
pub fn kill(pid: i32) -> Result<(), ()> {
    for p in PROCS.iter() {
        let mut inner = p.inner.lock();
        if inner.pid == pid && inner.state != ProcState::Unused {
            inner.killed = true;
            if inner.state == ProcState::Sleeping {
                p.make_runnable(&mut inner);
            }
            return Ok(());
        }
    }
    Err(())
}

pub fn setkilled(p: &Proc) {
    p.inner.lock().killed = true;
}

pub fn killed(p: &Proc) -> bool {
    p.inner.lock().killed
}

/// Copies to a user address (`user_dst`) or a kernel address.
pub fn either_copyout(user_dst: bool, dst: usize, src: &[u8]) -> Result<(), ()> {
    if user_dst {
        // SAFETY: the current process's own data, read for this call only.
        let pagetable = unsafe { myproc().data() }.pagetable;
        vm::copyout(pagetable, dst, src)
    } else {
        // SAFETY: kernel callers pass a kernel buffer of at least src.len() bytes.
        unsafe { core::ptr::copy(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
}

/// Copies from a user address (`user_src`) or a kernel address.
pub fn either_copyin(dst: &mut [u8], user_src: bool, src: usize) -> Result<(), ()> {
    if user_src {
        // SAFETY: the current process's own data, read for this call only.
        let pagetable = unsafe { myproc().data() }.pagetable;
        vm::copyin(pagetable, dst, src)
    } else {
        // SAFETY: kernel callers pass a kernel buffer of at least dst.len() bytes.
        unsafe { core::ptr::copy(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }
}

/// Prints a process listing (^P on the console). Takes no locks, to stay usable when the
/// machine is wedged.
pub fn procdump() {
    crate::println!();
    for p in PROCS.iter() {
        // SAFETY: a racy read for debugging only, as in xv6.
        let inner = unsafe { p.inner.get_mut_unchecked() };
        if inner.state == ProcState::Unused {
            continue;
        }
        // SAFETY: as above: a racy read of the name, for debugging only.
        let d = unsafe { &*p.data.get() };
        crate::println!("{} {:?} {}", inner.pid, inner.state, d.name());
    }
}
