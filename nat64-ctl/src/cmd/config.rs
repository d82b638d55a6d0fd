//! `nat64-ctl config`, and applying a config file (also on SIGHUP under `attach`).
use anyhow::Result;
use clap::Subcommand;
use nat64_ctl::{config_file, manage, tables};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCmd,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Apply a config file's translation settings (pool6, pool4, static bindings,
    /// filtering, timeouts) to a running gateway. The whole file is checked first: an
    /// invalid one changes nothing and the error names the key. What the file no longer
    /// has (pool4 addresses, static bindings) goes with its flows. Interfaces, hook, XDP mode
    /// and table sizes take effect at the next `attach`.
    Apply {
        file: std::path::PathBuf,
        /// [default: the file's `instance`, else "default"]
        #[arg(long)]
        instance: Option<String>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        ConfigCmd::Apply { file, instance } => {
            // Read first: a bad file fails before anything else is looked at.
            let parsed = config_file::ConfigFile::read(&file)?;
            let instance = instance
                .or(parsed.instance.clone())
                .unwrap_or_else(|| "default".into());
            let dir = super::running_instance(&instance)?;
            let summary = apply_file(&file, &dir)?;
            println!("applied {}: {summary}", file.display());
            Ok(())
        }
    }
}

/// Reads, validates and applies a config file's translation settings to the instance
/// pinned in `dir`. Nothing is written unless the whole file is valid. Interfaces, XDP
/// mode and table sizes take effect at the next `attach`.
pub fn apply_file(path: &std::path::Path, dir: &std::path::Path) -> Result<String> {
    let file = config_file::ConfigFile::read(path)?;
    let mut settings = file
        .settings()
        .map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?;
    nat64_ctl::local::default_pool4(&mut settings.pool4, &file.interfaces)
        .map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?;
    let mut t = tables::Tables::open(dir)?;
    let f = manage::apply_settings(&mut t, &settings)?;
    Ok(format!(
        "pool4 {} addresses, {} static bindings, timeouts {:?}; dropped {} pool4 addresses, {} static and {} dynamic bindings, {} sessions",
        settings.pool4.addresses().len(),
        settings.static_bib.len(),
        settings.timeouts,
        f.addresses,
        f.static_bindings,
        f.bindings,
        f.sessions
    ))
}
