//! `nat64-ctl completions`.
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    shell: clap_complete::Shell,
}

pub fn run(Args { shell }: Args) -> Result<()> {
    let mut cmd = <crate::Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "nat64-ctl", &mut std::io::stdout());
    Ok(())
}
