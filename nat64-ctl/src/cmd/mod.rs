//! One module per subcommand, each with its clap arguments and a `run` function; `main.rs`
//! only parses and dispatches. What several commands share lives here.
use anyhow::{bail, Result};
use nat64_ctl::{bpffs, tables};

pub mod attach;
pub mod bib;
pub mod blocks;
pub mod completions;
pub mod config;
pub mod detach;
pub mod man;
pub mod pool4;
pub mod session;
pub mod stats;
pub mod status;
pub mod timeouts;

/// The pin directory of a running instance, or a clear error when none runs.
pub fn running_instance(instance: &str) -> Result<std::path::PathBuf> {
    bpffs::validate_instance(instance)?;
    let dir = bpffs::instance_dir(instance);
    let stats = bpffs::pin_path(&dir, nat64_ctl::stats::STATS_MAP);
    if !stats.exists() {
        bail!(
            "no gateway instance {instance:?} is running ({} does not exist)",
            stats.display()
        );
    }
    Ok(dir)
}

/// The maps of a running instance.
pub fn tables(instance: &str) -> Result<tables::Tables> {
    tables::Tables::open(&running_instance(instance)?)
}

pub fn require_root() -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "nat64-ctl attach must run as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)"
        );
    }
    Ok(())
}
