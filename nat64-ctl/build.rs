//! Builds the eBPF object (nat64-ebpf, bpfel-unknown-none) so that `nat64-ctl` can embed
//! it and deploy as one binary. The toolchain itself (nightly rust-src, bpf-linker) is
//! installed by `cargo xtask build-ebpf`; here we only check for it and say so if absent.
use std::{env, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    for dir in [
        "nat64-ebpf/src",
        "nat64-ebpf/Cargo.toml",
        "nat64-common/src",
        "nat64-common/Cargo.toml",
        "nat64-ctl/ebpf_build_command.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=NAT64_EBPF_OBJECT");

    // Escape hatch for packagers who build the object separately.
    if let Ok(path) = env::var("NAT64_EBPF_OBJECT") {
        println!("cargo:rustc-env=NAT64_EBPF_OBJECT={path}");
        return;
    }

    let status = ebpf_build_command(&root).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(_) | Err(_) => {
            eprintln!();
            eprintln!("error: building the eBPF object (nat64-ebpf) failed.");
            eprintln!("       If the nightly toolchain's rust-src or bpf-linker is missing, run:");
            eprintln!();
            eprintln!("           cargo xtask build-ebpf");
            eprintln!();
            eprintln!("       which installs what is missing and then builds it.");
            std::process::exit(1);
        }
    }
    let object = root.join(EBPF_OBJECT_REL);
    println!("cargo:rustc-env=NAT64_EBPF_OBJECT={}", object.display());
}

include!("ebpf_build_command.rs");
