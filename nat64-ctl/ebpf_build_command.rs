// The one command line that builds the eBPF object. `include!`d by nat64-ctl/build.rs and
// by xtask so that both use the same flags and share the cargo cache in `target/ebpf`.

/// Where the object lands, relative to the workspace root.
#[allow(dead_code)]
const EBPF_OBJECT_REL: &str = "target/ebpf/bpfel-unknown-none/release/nat64";

fn ebpf_build_command(root: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("rustup");
    cmd.current_dir(root)
        .args(["run", "nightly", "cargo", "build", "--release", "-p", "nat64-ebpf"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(root.join("target/ebpf"))
        // BTF lets the kernel's verifier log name our types and functions.
        // --disable-expand-memcpy-in-order: with it on (bpf-linker's default) LLVM's BPF
        // backend inlines no memset at all, so every zeroed struct (the plan, the FIB
        // parameters, map keys) became a call to aya-ebpf's byte-at-a-time memset: about
        // 10 % of an established packet's cost. Every memset and memcpy is now inlined.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Cdebuginfo=2\u{1f}-Clink-arg=--btf\u{1f}-Clink-arg=--disable-expand-memcpy-in-order",
        );
    // A surrounding stable cargo (build scripts, `cargo xtask`) exports these; they would
    // point the nightly build at the wrong compiler, flags or target directory.
    for var in [
        "RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTFLAGS", "CARGO",
        "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS",
        "MAKEFLAGS", "MFLAGS", "CARGO_ENCODED_RUSTFLAGS_HOST",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
