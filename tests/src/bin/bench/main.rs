//! `cargo xtask bench`: nat64 side by side with its baselines, measured in the same run.
//! Writes `<out>/results.json`, `<out>/*.png` and `BENCHMARKS.md`.
//!
//! Usage: nat64-bench [--quick] [--out DIR] [--markdown FILE] [--skip-lab] [--skip-xdp]
mod lab;
mod xdp;

use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Context, Result};
use nat64_tests::bench::{self, Machine, Report, Section};

pub struct Opts {
    pub quick: bool,
    out: PathBuf,
    markdown: PathBuf,
    skip_lab: bool,
    skip_xdp: bool,
}

fn parse_args() -> Result<Opts> {
    let root = nat64_tests::workspace_root();
    let mut opts = Opts {
        quick: false,
        out: root.join("bench"),
        markdown: root.join("BENCHMARKS.md"),
        skip_lab: false,
        skip_xdp: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--skip-lab" => opts.skip_lab = true,
            "--skip-xdp" => opts.skip_xdp = true,
            "--out" => opts.out = args.next().context("--out needs a directory")?.into(),
            "--markdown" => {
                opts.markdown = args.next().context("--markdown needs a file")?.into()
            }
            other => bail!("unknown argument {other:?} (known: --quick, --out DIR, --markdown FILE, --skip-lab, --skip-xdp)"),
        }
    }
    Ok(opts)
}

fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u32;
    let mem_kb: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        cpu,
        cpus,
        memory_gib: mem_kb / 1024.0 / 1024.0,
        note: "A shared virtual machine (other jobs compile on the same cores while the benchmark \
               runs), so absolute figures are noisy and drift between runs; every comparison is \
               against a baseline measured in the same run, interleaved where possible."
            .into(),
    }
}

fn utc_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("nat64-bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn step(msg: &str) {
    eprintln!("\x1b[1m--> {msg}\x1b[0m");
}

fn run() -> Result<()> {
    let opts = parse_args()?;
    if !nat64_tests::lab_available("nat64-bench") {
        bail!("the benchmark needs root, network namespaces and BPF");
    }
    let started = Instant::now();
    let date = utc_now();
    let mut sections: Vec<Section> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    if !opts.skip_xdp {
        // Each part runs in a thread of its own: it enters a namespace for its FIB lookups,
        // and the namespace goes with the thread.
        step("per-packet cost (BPF_PROG_TEST_RUN) against the floor program");
        let part = std::thread::scope(|s| {
            s.spawn(|| {
                let mut secs = Vec::new();
                xdp::per_packet(&opts, &mut secs).map(|()| secs)
            })
            .join()
            .expect("per-packet thread")
        });
        match part {
            Ok(s) => sections.extend(s),
            Err(e) => skipped.push(format!("Per-packet cost: failed: {e:#}")),
        }
        step("session table at scale");
        let part = std::thread::scope(|s| {
            s.spawn(|| {
                let (mut secs, mut skip) = (Vec::new(), Vec::new());
                xdp::scale(&opts, &mut secs, &mut skip).map(|()| (secs, skip))
            })
            .join()
            .expect("scale thread")
        });
        match part {
            Ok((s, k)) => {
                sections.extend(s);
                skipped.extend(k);
            }
            Err(e) => skipped.push(format!("Scale: failed: {e:#}")),
        }
    }
    if !opts.skip_lab {
        step("netns lab: forwarding rate, TCP bulk, connection setup rate");
        if let Err(e) = lab::run(&opts, &mut sections, &mut skipped) {
            skipped.push(format!("netns lab: failed: {e:#}"));
        }
    }

    let report = Report {
        date,
        quick: opts.quick,
        machine: machine(),
        seconds: started.elapsed().as_secs_f64(),
        sections,
        skipped,
    };
    std::fs::create_dir_all(&opts.out)?;
    let mut report = report;
    for sec in &mut report.sections {
        if sec.chart && !sec.rows.is_empty() {
            let path = opts.out.join(format!("{}.png", sec.id));
            if let Err(e) = bench::chart(sec, &path) {
                eprintln!("chart {}: {e:#}", path.display());
                sec.chart = false;
            }
        } else {
            sec.chart = false;
        }
    }
    let json = opts.out.join("results.json");
    std::fs::write(&json, report.to_json()).with_context(|| json.display().to_string())?;
    // Charts are referenced relative to the Markdown file.
    let md_dir = opts
        .markdown
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let rel = opts
        .out
        .strip_prefix(&md_dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| opts.out.display().to_string());
    let rel = if rel.is_empty() { ".".to_string() } else { rel };
    std::fs::write(&opts.markdown, report.markdown(&rel))
        .with_context(|| opts.markdown.display().to_string())?;
    eprintln!(
        "wrote {}, {} and the charts in {} ({:.0} s)",
        opts.markdown.display(),
        json.display(),
        opts.out.display(),
        report.seconds
    );
    for k in &report.skipped {
        eprintln!("not measured: {k}");
    }
    Ok(())
}
