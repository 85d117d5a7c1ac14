#!/usr/bin/env bash
# build.sh OUTDIR: builds the C compatibility fixture (OUTDIR/ctest, an RV64 ELF linked
# at 0 like an xv6 C program) with a Debian RISC-V cross compiler, then checks the ELF
# the way xv6's exec will: every PT_LOAD page-aligned, the first at 0, entry = start.
#
# The compiler is found like xv6's Makefile does: $TOOLPREFIX if set, else the first of
# riscv64-unknown-elf-, riscv64-linux-gnu-, riscv64-unknown-linux-gnu- that has gcc.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
syscalls="$here/../../crates/abi/src/syscall.rs"
progs="ctest"
lib="usys.S ulib.c printf.c"

die() {
    echo "tests/c/build.sh: $*" >&2
    [ -z "${elf:-}" ] || rm -f "$elf"
    exit 1
}

[ $# -eq 1 ] || die "usage: tests/c/build.sh OUTDIR"
mkdir -p "$1"
out=$(cd "$1" && pwd)

if [ -n "${TOOLPREFIX:-}" ]; then
    command -v "${TOOLPREFIX}gcc" >/dev/null || die "TOOLPREFIX=$TOOLPREFIX but ${TOOLPREFIX}gcc is not found"
else
    for p in riscv64-unknown-elf- riscv64-linux-gnu- riscv64-unknown-linux-gnu-; do
        if command -v "${p}gcc" >/dev/null; then
            TOOLPREFIX=$p
            break
        fi
    done
    [ -n "${TOOLPREFIX:-}" ] ||
        die "no RISC-V cross compiler found (tried riscv64-unknown-elf-gcc, riscv64-linux-gnu-gcc," \
            "riscv64-unknown-linux-gnu-gcc). Install one, e.g. on Debian/Ubuntu:" \
            "apt-get install gcc-riscv64-linux-gnu (or gcc-riscv64-unknown-elf); or set TOOLPREFIX."
fi
cc=${TOOLPREFIX}gcc
readelf=${TOOLPREFIX}readelf
nm=${TOOLPREFIX}nm

# usys.S must use the kernel's numbers: each `SYSCALL name, N` needs `SYS_NAME: usize = N;`.
while read -r _ name num; do
    name=${name%,}
    grep -q "pub const SYS_${name^^}: usize = ${num};" "$syscalls" ||
        die "usys.S gives $name number $num, but crates/abi/src/syscall.rs disagrees"
done < <(grep '^SYSCALL ' "$here/usys.S")

# xv6's flags, plus -fno-tree-loop-distribute-patterns so that GCC does not compile the
# loops in memset/memmove into calls to memset/memmove themselves.
cflags=(-march=rv64gc -mabi=lp64d -mcmodel=medany -ffreestanding -fno-common -nostdlib
    -static -fno-pie -no-pie -Wl,--build-id=none -O2 -Wall -Werror
    -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables
    -Wl,-z,max-page-size=4096 -T "$here/user.ld")

for prog in $progs; do
    # Built under a temporary name and renamed once checked: a bad ELF never lands in OUTDIR.
    elf="$out/$prog.tmp"
    rm -f "$out/$prog"
    srcs=()
    for f in $lib "$prog.c"; do srcs+=("$here/$f"); done
    "$cc" "${cflags[@]}" -o "$elf" "${srcs[@]}"

    # The checks xv6's exec makes, done here so a bad link fails the build, not the boot.
    "$readelf" -h "$elf" | grep -q 'Machine:.*RISC-V' || die "$prog: not a RISC-V ELF"
    "$readelf" -h "$elf" | grep -q 'Class:.*ELF64' || die "$prog: not ELF64"
    loads=$("$readelf" -lW "$elf" | awk '$1 == "LOAD" { print $3 }')
    [ -n "$loads" ] || die "$prog: no PT_LOAD segment"
    first=1
    for vaddr in $loads; do
        (( vaddr % 4096 == 0 )) || die "$prog: PT_LOAD at $vaddr is not page-aligned"
        if [ $first = 1 ]; then
            (( vaddr == 0 )) || die "$prog: first PT_LOAD at $vaddr, expected 0"
            first=0
        fi
    done
    if "$readelf" -lW "$elf" | grep -Eq '^ +(INTERP|DYNAMIC) '; then
        die "$prog: dynamically linked"
    fi
    entry=$("$readelf" -h "$elf" | awk '/Entry point address/ { print $4 }')
    start=$("$nm" "$elf" | awk '$3 == "start" { print "0x" $1 }')
    (( entry == start )) || die "$prog: entry $entry is not start ($start)"
    size=$(stat -c %s "$elf")
    (( size <= 268 * 1024 )) || die "$prog: $size bytes, larger than an xv6 file (MAXFILE blocks)"
    mv "$elf" "$out/$prog"
    echo "tests/c/build.sh: built $out/$prog ($size bytes, PT_LOAD at $(echo $loads))"
done
