//! `cargo xtask package`: the Debian package, with cargo-deb. The man pages and the shell
//! completions come from the release binary itself (`nat64-ctl man`, `nat64-ctl
//! completions`), so they always describe the CLI that ships.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::{bootstrap, display, ebpf, run_cmd, step};

/// Where the generated pages and completions go; nat64-ctl/Cargo.toml's
/// [package.metadata.deb] assets point here.
const GENERATED: &str = "target/package";

/// Builds the .deb and returns its path.
pub fn build(root: &Path) -> Result<PathBuf> {
    bootstrap::cargo_deb()?;
    bootstrap::ebpf_toolchain()?;
    ebpf::build(root)?;
    step("building nat64-ctl (release, embeds the eBPF object)");
    run_cmd(Command::new("cargo").args(["build", "--release", "-p", "nat64-ctl"]))?;
    let bin = root.join("target/release/nat64-ctl");

    step("generating the man pages and completions");
    let generated = root.join(GENERATED);
    let _ = std::fs::remove_dir_all(&generated);
    let man = generated.join("man");
    let completions = generated.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let page = |args: &[&str], file: &str| -> Result<()> {
        let out = stdout(Command::new(&bin).args(args))?;
        std::fs::write(man.join(file), out)?;
        Ok(())
    };
    page(&["man"], "nat64-ctl.8")?;
    let help = String::from_utf8(stdout(Command::new(&bin).arg("--help"))?)?;
    let subcommands = subcommands(&help);
    if subcommands.is_empty() {
        bail!("`nat64-ctl --help` lists no subcommands:\n{help}");
    }
    for sub in &subcommands {
        page(&["man", sub], &format!("nat64-ctl-{sub}.8"))?;
    }
    // Debian policy: man pages compressed, reproducibly (-n: no name or time stamp).
    run_cmd(
        Command::new("sh")
            .arg("-c")
            .arg("gzip -9nf *.8")
            .current_dir(&man),
    )?;
    for (shell, file) in [
        ("bash", "nat64-ctl.bash"),
        ("zsh", "_nat64-ctl"),
        ("fish", "nat64-ctl.fish"),
    ] {
        let out = stdout(Command::new(&bin).args(["completions", shell]))?;
        std::fs::write(completions.join(file), out)?;
    }

    step("cargo deb -p nat64-ctl --no-build");
    let out_dir = root.join("target/debian");
    let printed = stdout(
        Command::new("cargo")
            .args([
                "deb",
                "-p",
                "nat64-ctl",
                "--no-build",
                "--no-strip",
                "--output",
            ])
            .arg(&out_dir),
    )?;
    let deb = String::from_utf8(printed)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .context("cargo deb printed no .deb path")?;
    if !deb.exists() {
        bail!("cargo deb named {} but it does not exist", deb.display());
    }
    Ok(deb)
}

/// The subcommands `--help` lists (clap's "Commands:" section), but `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(String::from)
        .collect()
}

fn stdout(cmd: &mut Command) -> Result<Vec<u8>> {
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
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::subcommands;

    #[test]
    fn subcommands_from_clap_help() {
        let help = "About\n\nUsage: nat64-ctl [OPTIONS] <COMMAND>\n\nCommands:\n  attach       Load it\n  pool4        Pool4\n  help         Print this message\n\nOptions:\n  -h, --help  Print help\n";
        assert_eq!(subcommands(help), ["attach", "pool4"]);
    }
}
