/* usys.S: one stub per system call, in xv6's form: number in a7, ecall, and the
 * kernel's result is already in a0 for the return. Arguments stay in a0..a5 where
 * the C caller put them. build.sh checks every number against
 * crates/abi/src/syscall.rs, so the two cannot drift apart.
 */
.macro SYSCALL name, num
    .global \name
    .type \name, @function
\name:
    li a7, \num
    ecall
    ret
    .size \name, . - \name
.endm

SYSCALL fork, 1
SYSCALL exit, 2
SYSCALL wait, 3
SYSCALL pipe, 4
SYSCALL read, 5
SYSCALL kill, 6
SYSCALL exec, 7
SYSCALL fstat, 8
SYSCALL chdir, 9
SYSCALL dup, 10
SYSCALL getpid, 11
SYSCALL sbrk, 12
SYSCALL sleep, 13
SYSCALL uptime, 14
SYSCALL open, 15
SYSCALL write, 16
SYSCALL mknod, 17
SYSCALL unlink, 18
SYSCALL link, 19
SYSCALL mkdir, 20
SYSCALL close, 21
SYSCALL halt, 40
