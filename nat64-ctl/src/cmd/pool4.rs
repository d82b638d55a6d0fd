//! `nat64-ctl pool4`.
use anyhow::Result;
use clap::Subcommand;
use nat64_ctl::{config, manage, pool4};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Pool4Cmd,
}

#[derive(Subcommand)]
enum Pool4Cmd {
    /// Print each pool4 address, protocol and port range, and how many ports are bound.
    Display {
        #[arg(long, default_value = "default")]
        instance: String,
    },
    /// Add addresses (ADDR or ADDR/LEN) to pool4.
    Add {
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Port range (and ICMP identifier range) for dynamic bindings [default: 61001-65535].
        #[arg(long, value_name = "FIRST-LAST")]
        ports: Option<String>,
        /// Protocols the addresses serve, e.g. tcp,udp [default: tcp,udp,icmp].
        #[arg(long, value_name = "PROTOS")]
        proto: Option<String>,
        #[arg(long, default_value = "default")]
        instance: String,
    },
    /// Remove addresses from pool4 (for the given protocols, default all), with every
    /// binding and session they had on those protocols.
    Remove {
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Protocols to take the addresses out of, e.g. udp [default: tcp,udp,icmp].
        #[arg(long, value_name = "PROTOS")]
        proto: Option<String>,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Pool4Cmd::Display { instance } => {
            let t = super::tables(&instance)?;
            print!("{}", manage::render_pool4(&manage::pool4_usage(&t)?));
            Ok(())
        }
        Pool4Cmd::Add {
            addresses,
            ports,
            proto,
            instance,
        } => {
            let group = pool4::Pool4Group::parse(&addresses, ports.as_deref(), proto.as_deref())
                .map_err(|e| anyhow::anyhow!("pool4 add: {e:#}"))?;
            let mut t = super::tables(&instance)?;
            no_port_blocks(&t, "pool4 add")?;
            manage::pool4_add(&mut t, &group)?;
            println!("added {} pool4 addresses", group.addrs.len());
            Ok(())
        }
        Pool4Cmd::Remove {
            addresses,
            proto,
            instance,
        } => {
            let bad = |e: anyhow::Error| anyhow::anyhow!("pool4 remove: {e:#}");
            let addrs = config::parse_pool4(&addresses).map_err(bad)?;
            let protos = match proto {
                Some(p) => pool4::parse_protos(&p).map_err(bad)?,
                None => nat64_common::maps::POOL4_PROTOS.to_vec(),
            };
            let mut t = super::tables(&instance)?;
            no_port_blocks(&t, "pool4 remove")?;
            let r = manage::pool4_remove(&mut t, &addrs, &protos)?;
            println!(
                "removed {} pool4 addresses, {} bindings and {} sessions",
                r.addresses, r.bindings, r.sessions
            );
            Ok(())
        }
    }
}

/// With port blocks on, every subscriber's block is cut from pool4 in order: a change here
/// would move blocks under live bindings. The settings file renumbers them as a whole.
fn no_port_blocks(t: &nat64_ctl::tables::Tables, what: &str) -> Result<()> {
    if t.port_blocks()?.is_some() {
        anyhow::bail!(
            "{what}: the gateway runs with port blocks, which pool4 changes would renumber; \
             change pool4 in the settings and `nat64-ctl config apply` them"
        );
    }
    Ok(())
}
