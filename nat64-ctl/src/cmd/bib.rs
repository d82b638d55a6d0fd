//! `nat64-ctl bib`.
use anyhow::Result;
use clap::Subcommand;
use nat64_ctl::{config, manage};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BibCmd,
}

#[derive(Subcommand)]
enum BibCmd {
    /// Print every binding: protocol, pool4 and IPv6 transport addresses, static or dynamic.
    Display {
        #[arg(long)]
        json: bool,
        /// Protocol numbers instead of names.
        #[arg(long)]
        numeric: bool,
        #[arg(long, default_value = "default")]
        instance: String,
    },
    /// Add a static binding "PROTO IPV4#PORT IPV6#PORT", e.g. "udp 203.0.113.1#2000 2001:db8::5#2000".
    Add {
        binding: String,
        #[arg(long, default_value = "default")]
        instance: String,
    },
    /// Remove a static binding (given as it was added) and its sessions.
    Remove {
        binding: String,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        BibCmd::Display {
            json,
            numeric,
            instance,
        } => {
            let dir = super::running_instance(&instance)?;
            let bindings = nat64_ctl::bib::read_pinned(&dir)?;
            if json {
                println!("{}", nat64_ctl::bib::render_json(&bindings, numeric));
            } else {
                print!("{}", nat64_ctl::bib::render_text(&bindings, numeric));
            }
            Ok(())
        }
        BibCmd::Add { binding, instance } => {
            let b: config::StaticBib = binding
                .parse()
                .map_err(|e| anyhow::anyhow!("bib add: {e:#}"))?;
            let mut t = super::tables(&instance)?;
            manage::bib_add(&mut t, &b)?;
            println!("added {b}");
            Ok(())
        }
        BibCmd::Remove { binding, instance } => {
            let b: config::StaticBib = binding
                .parse()
                .map_err(|e| anyhow::anyhow!("bib remove: {e:#}"))?;
            let mut t = super::tables(&instance)?;
            let n = manage::bib_remove(&mut t, &b)?;
            println!("removed {b} and {n} sessions");
            Ok(())
        }
    }
}
