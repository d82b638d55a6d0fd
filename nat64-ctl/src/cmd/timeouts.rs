//! `nat64-ctl timeouts`, and the timeout options `attach` shares.
use anyhow::{bail, Result};
use clap::Subcommand;
use nat64_common::timeouts::Timeouts;
use nat64_ctl::{config, manage};

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
        timeouts: TimeoutArgs,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

/// Session lifetimes, in seconds (RFC 6146 defaults when not given).
#[derive(clap::Args, Default)]
pub struct TimeoutArgs {
    /// UDP session lifetime (default 300, RFC minimum 120).
    #[arg(long, value_name = "SECS")]
    udp_timeout: Option<u32>,
    /// TCP established session lifetime (default and RFC minimum 7440).
    #[arg(long, value_name = "SECS")]
    tcp_est_timeout: Option<u32>,
    /// TCP transitory (opening, closing, reset) session lifetime (default and minimum 240).
    #[arg(long, value_name = "SECS")]
    tcp_trans_timeout: Option<u32>,
    /// ICMP query session lifetime (default and minimum 60).
    #[arg(long, value_name = "SECS")]
    icmp_timeout: Option<u32>,
    /// Accept lifetimes below the RFC minimums (tests, or operators who know why).
    #[arg(long)]
    allow_nonstandard_timeouts: bool,
}

impl TimeoutArgs {
    fn is_empty(&self) -> bool {
        self.udp_timeout.is_none()
            && self.tcp_est_timeout.is_none()
            && self.tcp_trans_timeout.is_none()
            && self.icmp_timeout.is_none()
    }

    /// `base` with the given values replaced, validated.
    pub fn apply(&self, base: Timeouts) -> Result<Timeouts> {
        let t = Timeouts {
            udp_s: self.udp_timeout.unwrap_or(base.udp_s),
            tcp_est_s: self.tcp_est_timeout.unwrap_or(base.tcp_est_s),
            tcp_trans_s: self.tcp_trans_timeout.unwrap_or(base.tcp_trans_s),
            icmp_s: self.icmp_timeout.unwrap_or(base.icmp_s),
        };
        config::validate_timeouts(&t, self.allow_nonstandard_timeouts)?;
        Ok(t)
    }
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
            let new = timeouts.apply(t.gateway_config()?.timeouts)?;
            manage::set_timeouts(&mut t, new)?;
            Ok(())
        }
    }
}
