//! Project automation: `cargo xtask <command>`.
//!
//! Every command bootstraps what it needs (nightly rust-src, a bpf-linker matching the
//! nightly's LLVM, Debian packages for the lab), so that a fresh machine needs nothing
//! but rustup and this repository.
mod bootstrap;
mod conformance;
mod ebpf;
mod package;

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "nat64 build, test and demo automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the eBPF toolchain if needed and build the XDP object.
    BuildEbpf,
    /// Build everything: the eBPF object and nat64-ctl (with the object embedded).
    Build,
    /// Run every test tier: host unit tests, BPF_PROG_TEST_RUN fixtures, netns lab tests
    /// (after checking that every test CONFORMANCE.md names exists).
    Test {
        /// Extra arguments for the test binaries (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Build the Debian package (release nat64-ctl with the eBPF object, the systemd unit,
    /// the config, man pages, completions) into target/debian/.
    Package,
    /// Fuzz the pure translation core (nat64-common) with libFuzzer; fails on any crash.
    /// With --loaded-runs, fuzz the loaded data plane instead (both hooks, under
    /// BPF_PROG_TEST_RUN; needs root) for that many executions, and print the count.
    Fuzz {
        /// How long to fuzz the core.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Executions of the loaded program in all (half per hook), e.g. 10000000.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
        loaded_runs: Option<u64>,
    },
    /// Build the demo lab (IPv6-only client, gateway, IPv4-only server), run traffic
    /// through the gateway and show what happened.
    Demo,
    /// Benchmark nat64 on both hooks (XDP, TC) against its baselines (the parse-only XDP
    /// floor, kernel IPv6 forwarding, TAYGA) in one run; writes BENCHMARKS.md, bench/results.json and
    /// bench/*.png.
    Bench {
        /// A short run (a few minutes): fewer runs, tables up to 100 k sessions.
        #[arg(long)]
        quick: bool,
        /// Where results.json and the charts go (default: bench/ in the workspace).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The Markdown report (default: BENCHMARKS.md in the workspace).
        #[arg(long)]
        markdown: Option<std::path::PathBuf>,
    },
}

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    let invoked_from = std::env::current_dir()?;
    std::env::set_current_dir(&root)?;
    match cli.command {
        Cmd::BuildEbpf => {
            bootstrap::ebpf_toolchain()?;
            ebpf::build(&root)?;
        }
        Cmd::Build => build_all(&root)?,
        Cmd::Package => {
            let deb = package::build(&root)?;
            eprintln!("    {}", deb.display());
        }
        Cmd::Test { args } => {
            // Read NAT64_FUZZ_SECONDS first, so that a bad value fails before the long run.
            let ci = std::env::var("CI").as_deref() == Ok("true");
            let var = std::env::var("NAT64_FUZZ_SECONDS").ok();
            let fuzz_seconds = test_fuzz_seconds(var.as_deref(), ci)?;
            // Before the long build: a stale reference in the statement fails at once.
            step(&format!(
                "checking that every test {} names exists",
                conformance::FILE
            ));
            let s = conformance::check_file(&root)?;
            eprintln!(
                "    {} requirement rows, {} done, {} test references resolved",
                s.rows, s.done, s.references
            );
            build_all(&root)?;
            bootstrap::lab_packages()?;
            // Built once here; tests/tests/packaging.rs installs and removes it.
            let deb = package::build(&root)?;
            step("host unit tests, BPF_PROG_TEST_RUN fixtures and netns lab tests");
            let mut cmd = Command::new("cargo");
            cmd.env("NAT64_DEB", &deb);
            cmd.args(["test", "--workspace", "--exclude", "nat64-ebpf"]);
            // --show-output keeps the tests' own lines (which BPF program ran, which
            // counters moved) in the log, so a green run shows what it proved.
            cmd.arg("--").arg("--show-output").args(&args);
            // The lab tests create namespaces and attach XDP; running them in parallel
            // would only make their failures harder to read on a 2-core machine.
            cmd.env("RUST_TEST_THREADS", "1");
            run_cmd(&mut cmd)?;
            // A short fuzz run belongs to every test run (longer ones: `cargo xtask fuzz`).
            match fuzz_seconds {
                Some(seconds) => fuzz(seconds)?,
                None => {
                    eprintln!("SKIPPED fuzzing: NAT64_FUZZ_SECONDS=0 (not allowed under CI=true)")
                }
            }
        }
        Cmd::Fuzz {
            loaded_runs: Some(runs),
            ..
        } => {
            build_all(&root)?;
            fuzz_loaded(runs)?
        }
        Cmd::Fuzz { seconds, .. } => {
            if seconds == 0 {
                // libFuzzer reads -max_total_time=0 as "no limit".
                bail!("--seconds 0 would fuzz forever; give a positive number of seconds");
            }
            fuzz(seconds)?
        }
        Cmd::Demo => {
            build_all(&root)?;
            bootstrap::lab_packages()?;
            step("running the demo lab");
            run_cmd(Command::new("cargo").args([
                "run",
                "--quiet",
                "-p",
                "nat64-tests",
                "--bin",
                "nat64-demo",
            ]))?;
        }
        Cmd::Bench {
            quick,
            out,
            markdown,
        } => {
            build_all(&root)?;
            bootstrap::lab_packages()?;
            bootstrap::bench_packages()?;
            step("running the benchmarks (tests/src/bin/bench)");
            let mut cmd = Command::new("cargo");
            // Release: the expiry sweep is nat64-ctl's own code timed in this process, and
            // the daemon it stands for ships optimised.
            cmd.args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "nat64-tests",
                "--bin",
                "nat64-bench",
                "--",
            ]);
            if quick {
                cmd.arg("--quick");
            }
            if let Some(o) = out {
                cmd.arg("--out").arg(invoked_from.join(o));
            }
            if let Some(m) = markdown {
                cmd.arg("--markdown").arg(invoked_from.join(m));
            }
            run_cmd(&mut cmd)?;
        }
    }
    Ok(())
}

/// How long `cargo xtask test` fuzzes: `NAT64_FUZZ_SECONDS` (unset or empty: 60). `0`
/// skips the step, which is refused under CI=true: CI never skips a test tier silently.
fn test_fuzz_seconds(var: Option<&str>, ci: bool) -> Result<Option<u64>> {
    let seconds = match var.map(str::trim) {
        None | Some("") => 60,
        Some(v) => v
            .parse::<u64>()
            .with_context(|| format!("NAT64_FUZZ_SECONDS={v:?}: not a whole number of seconds"))?,
    };
    match seconds {
        0 if ci => bail!(
            "NAT64_FUZZ_SECONDS=0 would skip the fuzz step, which CI=true does not allow; unset it or give a positive number"
        ),
        0 => Ok(None),
        s => Ok(Some(s)),
    }
}

/// `cargo +nightly fuzz run xlat_core` for `seconds` (must be > 0: libFuzzer reads 0 as
/// "no limit"). libFuzzer exits non-zero on a crash, a timeout or running out of memory,
/// and leaves the input in fuzz/artifacts/xlat_core/. The corpus grows in fuzz/corpus/
/// (git-ignored), so later runs start where earlier ones stopped.
///
/// Sanitizer: cargo-fuzz's default (AddressSanitizer). It works with this nightly, and for
/// the allocation-free safe Rust under test it costs little; overflow checks and debug
/// assertions come from fuzz/Cargo.toml's release profile.
fn fuzz(seconds: u64) -> Result<()> {
    bootstrap::cargo_fuzz()?;
    let clean = |cmd: &mut Command| {
        for var in [
            "RUSTC",
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "RUSTUP_TOOLCHAIN",
        ] {
            cmd.env_remove(var);
        }
    };
    step("building the fuzz target (cargo +nightly fuzz build xlat_core)");
    let mut build = Command::new("cargo");
    build.args(["+nightly", "fuzz", "build", "xlat_core"]);
    clean(&mut build);
    run_cmd(&mut build).context("could not build fuzz/fuzz_targets/xlat_core.rs")?;
    step(&format!(
        "fuzzing the translation core for {seconds} s (fuzz/fuzz_targets/xlat_core.rs)"
    ));
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "fuzz", "run", "xlat_core", "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1");
    clean(&mut cmd);
    run_cmd(&mut cmd).context(
        "the fuzzer found a failing input (saved under fuzz/artifacts/xlat_core/; replay it with \
         `cargo +nightly fuzz run xlat_core <file>`); fix the bug and make the input a unit test",
    )
}

/// The loaded-program fuzz (tests/tests/prog_test_run/fuzz.rs, the `mutated_frames`
/// tests) for `runs` executions in all: half per hook, the two hooks side by side, no time
/// limit. The tests print their tallies; the total is read off those lines, so the count
/// printed is what ran, not what was asked for.
fn fuzz_loaded(runs: u64) -> Result<()> {
    let per_hook = runs.div_ceil(2);
    step(&format!(
        "fuzzing the loaded program: {per_hook} mutated frames per hook (XDP, TC)"
    ));
    let out = Command::new("cargo")
        .args([
            "test",
            "-p",
            "nat64-tests",
            "--test",
            "prog_test_run",
            "mutated_frames",
            "--",
            "--nocapture",
            "--test-threads=2",
        ])
        .env("NAT64_FUZZ_LOADED_RUNS", per_hook.to_string())
        .env("NAT64_FUZZ_LOADED_SECONDS", "0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("could not start cargo test")?
        .wait_with_output()?;
    let log = String::from_utf8_lossy(&out.stderr);
    eprint!("{log}");
    if !out.status.success() {
        bail!("the loaded-program fuzz failed: the failing run's seed and input are above");
    }
    let done = executions_in(&log);
    if done.len() != 2 {
        bail!("expected one tally per hook, found {}", done.len());
    }
    let total: u64 = done.iter().sum();
    if total < runs {
        bail!("only {total} of {runs} executions ran");
    }
    eprintln!("loaded-program fuzz: {total} executions in all ({done:?} per hook), every run checked, clean");
    Ok(())
}

/// The execution counts the loaded-program fuzz printed ("ok: N mutated frames through …").
fn executions_in(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| {
            l.strip_prefix("ok: ")?
                .split_once(" mutated frames through ")
        })
        .filter_map(|(n, _)| n.parse().ok())
        .collect()
}

fn build_all(root: &std::path::Path) -> Result<()> {
    bootstrap::ebpf_toolchain()?;
    ebpf::build(root)?;
    step("building nat64-ctl (embeds the eBPF object)");
    run_cmd(Command::new("cargo").args(["build", "-p", "nat64-ctl"]))
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn step(msg: &str) {
    eprintln!("\x1b[1m==> {msg}\x1b[0m");
}

pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", display(cmd));
    }
    Ok(())
}

pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{executions_in, test_fuzz_seconds};

    #[test]
    fn loaded_fuzz_tallies_are_read_off_the_log() {
        let log = "running 2 tests\nok: 5000000 mutated frames through the Xdp program in 350 s (14285/s): Tally { .. }\n\
                   test mutated_frames::xdp ... ok\nok: 12 mutated frames? no\n\
                   ok: 5000001 mutated frames through the Tc program in 360 s (13888/s): Tally { .. }\n";
        assert_eq!(executions_in(log), vec![5_000_000, 5_000_001]);
    }

    #[test]
    fn fuzz_seconds_for_the_test_run() {
        assert_eq!(test_fuzz_seconds(None, false).unwrap(), Some(60));
        assert_eq!(test_fuzz_seconds(None, true).unwrap(), Some(60));
        assert_eq!(test_fuzz_seconds(Some(""), true).unwrap(), Some(60));
        assert_eq!(test_fuzz_seconds(Some(" 20 "), true).unwrap(), Some(20));
        // 0 skips locally, never under CI.
        assert_eq!(test_fuzz_seconds(Some("0"), false).unwrap(), None);
        assert!(test_fuzz_seconds(Some("0"), true).is_err());
        assert!(test_fuzz_seconds(Some("1m"), false).is_err());
        assert!(test_fuzz_seconds(Some("-5"), false).is_err());
    }
}
