//! `nat64-ctl timeouts`.
use anyhow::{bail, Result};
use clap::Subcommand;
use nat64_ctl::{
    manage,
    options::{Source, TimeoutOptions},
};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TimeoutsCmd,
}

#[derive(Subcommand)]
enum TimeoutsCmd {
    /// Print the session lifetimes in force.
    Display {
        #[arg(long, default_value = "default")]
        instance: String,
    },
    /// Change session lifetimes; sessions are judged by the new values from the next sweep.
    Set {
        #[command(flatten)]
        timeouts: TimeoutOptions,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        TimeoutsCmd::Display { instance } => {
            let t = super::tables(&instance)?.gateway_config()?.timeouts;
            println!("udp        {} s", t.udp_s);
            println!("tcp_est    {} s", t.tcp_est_s);
            println!("tcp_trans  {} s", t.tcp_trans_s);
            println!("icmp       {} s", t.icmp_s);
            Ok(())
        }
        TimeoutsCmd::Set { timeouts, instance } => {
            if timeouts.is_empty() {
                bail!("timeouts set: give at least one of --udp-timeout, --tcp-est-timeout, --tcp-trans-timeout, --icmp-timeout");
            }
            let mut t = super::tables(&instance)?;
            let new = timeouts.apply(t.gateway_config()?.timeouts, Source::CommandLine)?;
            manage::set_timeouts(&mut t, new)?;
            Ok(())
        }
    }
}
