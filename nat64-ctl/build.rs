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

    version_info(&root);

    // Escape hatch for packagers who build the object separately.
    if let Ok(path) = env::var("NAT64_EBPF_OBJECT") {
        println!("cargo:rustc-env=NAT64_EBPF_OBJECT={path}");
        object_hash(std::path::Path::new(&path));
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
    object_hash(&object);
}

/// `NAT64_EBPF_SHA256`: the embedded object's SHA-256, which `--version` prints and which
/// tells whether a running data plane was loaded from this binary's object.
fn object_hash(object: &std::path::Path) {
    use sha2::Digest;
    let bytes = std::fs::read(object)
        .unwrap_or_else(|e| panic!("reading the eBPF object {}: {e}", object.display()));
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=NAT64_EBPF_SHA256={hex}");
}

/// `NAT64_GIT_COMMIT`: the commit built (`git rev-parse HEAD`), "unknown" outside git (a
/// source tarball). Rebuilt when HEAD moves: every commit and checkout appends to the
/// reflog.
fn version_info(root: &std::path::Path) {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rustc-env=NAT64_GIT_COMMIT={commit}");
}

include!("ebpf_build_command.rs");
