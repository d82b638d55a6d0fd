//! `nat64-ctl stats`.
use anyhow::Result;
use clap::Subcommand;
use nat64_ctl::{bpffs, stats};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StatsCmd,
}

#[derive(Subcommand)]
enum StatsCmd {
    /// Print the counters (zero ones hidden unless --all).
    Display {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        all: bool,
        /// Add a one-line explanation to each counter (text only: JSON keys are the names).
        #[arg(long, conflicts_with = "json")]
        explain: bool,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        StatsCmd::Display {
            json,
            all,
            explain,
            instance,
        } => {
            let path = bpffs::pin_path(&super::running_instance(&instance)?, stats::STATS_MAP);
            let map = stats::open_pinned(&path)?;
            let values = stats::read(&map)?;
            if json {
                println!("{}", stats::render_json(&values, all));
            } else {
                print!("{}", stats::render_text(&values, all, explain));
            }
            Ok(())
        }
    }
}
