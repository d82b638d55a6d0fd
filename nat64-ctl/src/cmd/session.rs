//! `nat64-ctl session`.
use anyhow::Result;
use clap::Subcommand;
use nat64_ctl::{clock, session, wire};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SessionCmd,
}

#[derive(Subcommand)]
enum SessionCmd {
    /// Print every session: both transport addresses on each side, TCP state, idle time.
    Display {
        /// Only this protocol (tcp, udp or icmp).
        #[arg(long)]
        proto: Option<String>,
        #[arg(long)]
        json: bool,
        /// Protocol numbers and TCP state codes instead of names.
        #[arg(long)]
        numeric: bool,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        SessionCmd::Display {
            proto,
            json,
            numeric,
            instance,
        } => {
            let proto = proto
                .map(|p| wire::parse_proto(&p).map_err(|e| anyhow::anyhow!("--proto: {e:#}")))
                .transpose()?;
            let t = super::tables(&instance)?;
            let sessions = session::read(&t, proto, clock::monotonic_ns())?;
            if json {
                println!("{}", session::render_json(&sessions, numeric));
            } else {
                print!("{}", session::render_text(&sessions, numeric));
            }
            Ok(())
        }
    }
}
