//! Links berth's programs as position-dependent executables (`-no-pie`).
//! A position-independent `berth` has ~800 kB of pointers in
//! `.data.rel.ro` that the dynamic loader relocates at every start, which
//! copies every one of those pages: about 190 page faults and 1.3 ms before
//! `main` of every CLI command (and of every `berth shim`). Linked at a
//! fixed address, those pages are mapped from the file as they are.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
