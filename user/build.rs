//! Links every user program with user.ld (text at 0x1000, page-aligned PT_LOADs).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    // Segments sit at 4 KiB (xv6 PGSIZE) offsets in the file, not at a larger default.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    // Assembler-temporary .L symbols (thousands on RISC-V) would triple the file size;
    // function symbols stay for debugging.
    println!("cargo:rustc-link-arg-bins=--discard-locals");
    println!("cargo:rerun-if-changed=user.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
