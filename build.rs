//! Link-time layout of the anycastd binary (issue 15, lean): packaging/steady.ld puts the
//! functions the daemon runs once start-up is done together at the start of `.text`, so that an
//! idle daemon's code is resident in a few 64 KiB blocks (BENCHMARKS.md "Idle RSS";
//! interop/profile-steady.py writes the script). Only the order of functions changes.

fn main() {
    println!("cargo:rerun-if-changed=packaging/steady.ld");
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if let (true, Ok(dir)) = (linux, std::env::var("CARGO_MANIFEST_DIR")) {
        // The GNU linker and lld both read a script of INSERT commands beside their default one.
        println!("cargo:rustc-link-arg-bin=anycastd=-Wl,-T,{dir}/packaging/steady.ld");
    }
}
