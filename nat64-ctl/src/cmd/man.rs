//! `nat64-ctl man`.
use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct Args {
    command: Option<String>,
}

pub fn run(Args { command }: Args) -> Result<()> {
    let top = <crate::Cli as clap::CommandFactory>::command();
    let page = match &command {
        None => top,
        Some(name) => top
            .find_subcommand(name)
            .with_context(|| format!("man {name:?}: no such subcommand"))?
            .clone()
            .name(format!("nat64-ctl-{name}")),
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .section("8")
        .render(&mut out)
        .context("rendering the man page")?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(())
}
