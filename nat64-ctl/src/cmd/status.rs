//! `nat64-ctl status`.
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// One instance [default: every instance with pinned state].
    #[arg(long)]
    instance: Option<String>,
    /// One JSON object `{"instances": [...]}` (fields in the README's status section).
    #[arg(long)]
    json: bool,
}

pub fn run(Args { instance, json }: Args) -> Result<()> {
    let code = nat64_ctl::status::run(instance.as_deref(), json)?;
    if code != nat64_ctl::status::EXIT_RUNNING {
        std::io::Write::flush(&mut std::io::stdout())?;
        std::process::exit(code);
    }
    Ok(())
}
