//! Idempotent installation of what the build and the lab need. Each step says what it
//! checks and what it does; a failing step says what to do by hand.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{anyhow, bail, Context, Result};

use crate::{display, run_cmd, step};

/// bpf-linker 0.13 is the release line that supports LLVM 22 (the nightly's LLVM).
const BPF_LINKER_VERSION: &str = "^0.13";

/// Debian packages the lab tests and the demo run. `command → package`.
const LAB_PACKAGES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("nsenter", "util-linux"),
    ("curl", "curl"),
    ("nginx", "nginx-light"),
    ("unbound", "unbound"),
    ("dig", "dnsutils"),
    ("iperf3", "iperf3"),
    ("ping", "iputils-ping"),
    // lab_pmtu: the gateway shows as a hop.
    ("traceroute", "traceroute"),
    ("python3", "python3"),
    // promtool validates the metrics endpoint's output.
    ("promtool", "prometheus"),
    // systemd-analyze checks contrib/nat64.service (tests/tests/packaging.rs).
    ("systemd-analyze", "systemd"),
    // packaging.rs reads the installed package's man page.
    ("man", "man-db"),
    // lab_scale_out: BGP between the upstream router and the gateways.
    ("bird", "bird2"),
    // lab_scale_out: FRR on the gateways (bgpd and zebra are not in $PATH; vtysh is).
    ("/usr/lib/frr/bgpd", "frr"),
];

/// What `cargo xtask bench` needs on top of the lab's packages. `command or file → package`
/// (an entry starting with `/` is a file that must exist).
const BENCH_PACKAGES: &[(&str, &str)] = &[
    // The baseline translator: TAYGA, stateless NAT64 on a TUN device.
    ("tayga", "tayga"),
    // trafgen, the packet generator.
    ("trafgen", "netsniff-ng"),
    // The counting drop sinks (netdev ingress `counter drop`).
    ("nft", "nftables"),
    // The charts' text.
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "fonts-dejavu-core",
    ),
];

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {}", display(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            display(cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// nightly with rust-src, and a bpf-linker built against the nightly's LLVM major.
pub fn ebpf_toolchain() -> Result<()> {
    nightly_toolchain()?;
    let components = output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))?;
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        step("adding rust-src to nightly (needed for -Z build-std=core)");
        run_cmd(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))
        .context("run `rustup component add rust-src --toolchain nightly` by hand")?;
    }

    let verbose = output(Command::new("rustc").args(["+nightly", "-vV"]))?;
    let major = llvm_major(&verbose)
        .ok_or_else(|| anyhow!("`rustc +nightly -vV` names no LLVM version:\n{verbose}"))?;
    let sysroot = PathBuf::from(
        output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?.trim(),
    );

    match installed_bpf_linker_llvm() {
        Some(m) if m == major => {
            eprintln!("    bpf-linker is installed and uses LLVM {m}, as nightly does");
            return Ok(());
        }
        Some(m) => step(&format!(
            "bpf-linker uses LLVM {m} but nightly uses LLVM {major}: reinstalling"
        )),
        None => step(&format!(
            "bpf-linker is missing or does not run: installing it for LLVM {major}"
        )),
    }
    install_bpf_linker(major, &sysroot)
}

/// The nightly toolchain (the eBPF build and cargo-fuzz both need it).
fn nightly_toolchain() -> Result<()> {
    step("checking the nightly toolchain");
    let toolchains = output(Command::new("rustup").args(["toolchain", "list"]))?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        step("installing the nightly toolchain");
        run_cmd(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
            .context("the nightly toolchain is missing and could not be installed; install it with `rustup toolchain install nightly`")?;
    }
    Ok(())
}

fn llvm_major(rustc_vv: &str) -> Option<u32> {
    let v = rustc_vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))?;
    v.split('.').next()?.trim().parse().ok()
}

fn stamp_path() -> PathBuf {
    home().join(".cache/nat64/bpf-linker.llvm-major")
}

/// The LLVM major the installed bpf-linker runs with, if it runs at all. Read from the
/// libLLVM it links (dynamic builds), else from the stamp we wrote when installing it.
fn installed_bpf_linker_llvm() -> Option<u32> {
    let ok = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .ok()?
        .status
        .success();
    if !ok {
        return None;
    }
    let path = output(Command::new("sh").args(["-c", "command -v bpf-linker"])).ok()?;
    if let Ok(ldd) = output(Command::new("ldd").arg(path.trim())) {
        for line in ldd.lines() {
            let line = line.trim();
            if let Some(rest) = line
                .strip_prefix("libLLVM.so.")
                .or_else(|| line.strip_prefix("libLLVM-"))
            {
                if let Some(m) = rest
                    .split(['.', '-', ' '])
                    .next()
                    .and_then(|m| m.parse().ok())
                {
                    return Some(m);
                }
            }
        }
    }
    std::fs::read_to_string(stamp_path())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Route 1: link bpf-linker against the nightly toolchain's own libLLVM through a prefix
/// directory (no system LLVM needed). Route 2: Debian's llvm-<major>-dev.
fn install_bpf_linker(major: u32, sysroot: &Path) -> Result<()> {
    let prefix = home().join(format!(".cache/nat64/llvm-{major}"));
    let first = link_rust_llvm(major, sysroot, &prefix).and_then(|()| {
        step(&format!(
            "cargo install bpf-linker (LLVM {major} from the nightly toolchain, LLVM_PREFIX={})",
            prefix.display()
        ));
        cargo_install_bpf_linker(major, &[("LLVM_PREFIX", prefix.as_os_str())])
    });
    let err = match first {
        Ok(()) => return finish_install(major),
        Err(e) => e,
    };
    eprintln!("    that route failed ({err:#}); trying Debian's llvm-{major}-dev");
    let apt_prefix = PathBuf::from(format!("/usr/lib/llvm-{major}"));
    apt_install(&[&format!("llvm-{major}-dev")])
        .with_context(|| format!("installing llvm-{major}-dev failed"))?;
    cargo_install_bpf_linker(major, &[("LLVM_PREFIX", apt_prefix.as_os_str())]).with_context(|| {
        format!(
            "could not install bpf-linker for LLVM {major}. Do it by hand: `apt-get install llvm-{major}-dev` \
             then `LLVM_PREFIX=/usr/lib/llvm-{major} cargo install bpf-linker --no-default-features --features llvm-{major}`"
        )
    })?;
    finish_install(major)
}

fn link_rust_llvm(major: u32, sysroot: &Path, prefix: &Path) -> Result<()> {
    let lib = sysroot.join("lib");
    let wanted = format!("libLLVM.so.{major}.");
    let so = std::fs::read_dir(&lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(&wanted))
        .ok_or_else(|| anyhow!("no {wanted}* in {}", lib.display()))?;
    let dir = prefix.join("lib");
    std::fs::create_dir_all(&dir)?;
    // The linker needs `libLLVM.so`; at run time the binary asks for the soname, and its
    // RUNPATH points at this directory, so both names must resolve here.
    for name in ["libLLVM.so", so.as_str()] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(lib.join(&so), &link)
            .with_context(|| format!("symlink {}", link.display()))?;
    }
    Ok(())
}

fn cargo_install_bpf_linker(major: u32, env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.args([
        "install",
        "--locked",
        "--force",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
    ])
    .args([
        "--no-default-features",
        "--features",
        &format!("llvm-{major}"),
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for var in ["RUSTC", "RUSTFLAGS", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN"] {
        cmd.env_remove(var);
    }
    run_cmd(&mut cmd)
}

fn finish_install(major: u32) -> Result<()> {
    let stamp = stamp_path();
    std::fs::create_dir_all(stamp.parent().unwrap())?;
    std::fs::write(&stamp, format!("{major}\n"))?;
    match installed_bpf_linker_llvm() {
        Some(m) if m == major => {
            eprintln!("    bpf-linker installed (LLVM {major})");
            Ok(())
        }
        other => bail!(
            "bpf-linker was installed but does not run with LLVM {major} (found {other:?}); \
             check `bpf-linker --version` and `ldd $(command -v bpf-linker)`"
        ),
    }
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let mut updated = false;
    loop {
        let mut cmd = Command::new("apt-get");
        cmd.args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive");
        match run_cmd(&mut cmd) {
            Ok(()) => return Ok(()),
            Err(_) if !updated => {
                // A fresh machine has no package lists yet.
                run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
                updated = true;
            }
            Err(e) => return Err(e),
        }
    }
}

fn cargo_fuzz_version() -> Option<String> {
    output(Command::new("cargo").args(["fuzz", "--version"]))
        .ok()
        .map(|v| v.trim().to_string())
}

/// Nightly and cargo-fuzz (the libFuzzer driver), installed from crates.io if missing.
pub fn cargo_fuzz() -> Result<()> {
    nightly_toolchain()?;
    step("checking cargo-fuzz");
    if let Some(v) = cargo_fuzz_version() {
        eprintln!("    {v} is installed");
        return Ok(());
    }
    step(
        "cargo-fuzz is missing or does not run: cargo install --locked cargo-fuzz (a few minutes)",
    );
    let mut cmd = Command::new("cargo");
    cmd.args(["install", "--locked", "cargo-fuzz"]);
    for var in ["RUSTC", "RUSTFLAGS", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN"] {
        cmd.env_remove(var);
    }
    run_cmd(&mut cmd)
        .context("could not install cargo-fuzz; run `cargo install --locked cargo-fuzz` by hand")?;
    match cargo_fuzz_version() {
        Some(v) => {
            eprintln!("    {v} installed");
            Ok(())
        }
        None => bail!(
            "cargo-fuzz was installed but `cargo fuzz --version` fails; is ~/.cargo/bin on PATH?"
        ),
    }
}

/// cargo-deb, which `cargo xtask package` builds the .deb with, from crates.io if missing.
pub fn cargo_deb() -> Result<()> {
    step("checking cargo-deb");
    let version = || output(Command::new("cargo").args(["deb", "--version"])).ok();
    if let Some(v) = version() {
        eprintln!("    {} is installed", v.trim());
        return Ok(());
    }
    step("cargo-deb is missing: cargo install --locked cargo-deb (a few minutes)");
    let mut cmd = Command::new("cargo");
    cmd.args(["install", "--locked", "cargo-deb"]);
    for var in ["RUSTC", "RUSTFLAGS", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN"] {
        cmd.env_remove(var);
    }
    run_cmd(&mut cmd)
        .context("could not install cargo-deb; run `cargo install --locked cargo-deb` by hand")?;
    version()
        .map(|_| ())
        .ok_or_else(|| anyhow!("cargo-deb was installed but `cargo deb --version` fails"))
}

fn have(command: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("command -v {command} >/dev/null 2>&1 || test -x /usr/sbin/{command}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The real programs the netns lab drives; installed only if missing.
pub fn lab_packages() -> Result<()> {
    step("checking the lab's Debian packages");
    install_missing(LAB_PACKAGES)
}

/// What the benchmark adds to the lab (`cargo xtask bench`); installed only if missing.
pub fn bench_packages() -> Result<()> {
    step("checking the benchmark's Debian packages");
    install_missing(BENCH_PACKAGES)
}

fn install_missing(list: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = list
        .iter()
        .filter(|(what, _)| {
            if what.starts_with('/') {
                !Path::new(what).exists()
            } else {
                !have(what)
            }
        })
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        eprintln!("    all present");
        return Ok(());
    }
    if euid() != 0 {
        bail!(
            "the lab needs these Debian packages: {}; install them as root (apt-get install {})",
            missing.join(" "),
            missing.join(" ")
        );
    }
    step(&format!("apt-get install {}", missing.join(" ")));
    apt_install(&missing)?;
    // nginx, unbound and prometheus start system-wide services on install; the lab runs
    // its own nginx and unbound and needs only promtool from prometheus.
    // tayga's service would need a configuration the benchmark brings itself; bird's
    // would route the host itself (the lab runs one per namespace), and so would frr's.
    // One unit at a time: a unit not installed (tayga before the benchmark's packages)
    // must not keep the others running.
    let _ = Command::new("sh").args(["-c", "for u in nginx unbound prometheus tayga bird frr; do systemctl disable --now $u >/dev/null 2>&1; done; pkill -x nginx; pkill -x unbound; pkill -x prometheus; true"]).status();
    Ok(())
}

fn euid() -> u32 {
    output(Command::new("id").arg("-u"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::llvm_major;

    #[test]
    fn reads_llvm_major_from_rustc_vv() {
        let vv = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(llvm_major(vv), Some(22));
        assert_eq!(llvm_major("rustc 1.0\n"), None);
    }
}
