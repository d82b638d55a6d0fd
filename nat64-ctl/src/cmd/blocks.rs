//! `nat64-ctl blocks`: the port blocks (RFC 7422) of a running gateway, and who had a
//! pool4 address and port.
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use nat64_common::{block, maps::POOL4_PROTOS};
use nat64_ctl::{
    session_log,
    wire::{proto_name, Proto},
};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BlocksCmd,
}

#[derive(Subcommand)]
enum BlocksCmd {
    /// Print the port-block settings and every subscriber's blocks, or the answer to one
    /// question: --for ADDR6 (that subscriber's blocks) or --owner ADDR4:PORT (whose block
    /// holds that port).
    Display {
        /// Any address of the subscriber.
        #[arg(long = "for", value_name = "ADDR6", conflicts_with = "owner")]
        for_addr: Option<Ipv6Addr>,
        /// A pool4 address and port (or ICMP identifier) seen on the IPv4 side.
        #[arg(long, value_name = "ADDR4:PORT")]
        owner: Option<std::net::SocketAddrV4>,
        /// Only this protocol's blocks [default: all].
        #[arg(long, value_name = "PROTO")]
        proto: Option<Proto>,
        /// With --owner: answer from this session log's block lines instead of the running
        /// gateway (needs --at).
        #[arg(long, value_name = "FILE", requires_all = ["owner", "at"])]
        log: Option<std::path::PathBuf>,
        /// With --log: the moment asked about, as the log writes it
        /// (e.g. 2026-12-04T10:31:07.250Z).
        #[arg(long, value_name = "TIME", requires = "log")]
        at: Option<String>,
        #[arg(long, default_value = "default")]
        instance: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        BlocksCmd::Display {
            for_addr,
            owner,
            proto,
            log,
            at,
            instance,
        } => {
            let protos: Vec<usize> = match proto {
                Some(p) => vec![nat64_common::maps::pool4_proto_index(p.number())
                    .context("that protocol has no pool4")?],
                None => (0..POOL4_PROTOS.len()).collect(),
            };
            if let (Some(path), Some(at), Some(owner)) = (&log, &at, owner) {
                return from_log(path, at, owner, &protos);
            }
            let t = super::tables(&instance)?;
            let Some((b, pool4)) = t.port_blocks()? else {
                bail!(
                    "gateway instance {instance:?} has no port blocks (attach --port-block-size)"
                );
            };
            if b.is_dynamic() {
                return on_first_use(&t, &b, &pool4, &protos, for_addr, owner);
            }
            if let Some(a) = for_addr {
                let mut any = false;
                for &p in &protos {
                    if let Some((k, s)) = b.block_for(&pool4, p, a) {
                        println!("{a} {}", block_line(&b, p, k, &s));
                        any = true;
                    }
                }
                if !any {
                    bail!(
                        "{a} is outside the subscribers {} : it has no block",
                        b.subscribers
                    );
                }
                return Ok(());
            }
            if let Some(o) = owner {
                let mut any = false;
                for &p in &protos {
                    if let Some((k, prefix)) = b.owner(&pool4, p, *o.ip(), o.port()) {
                        println!(
                            "{o} {} subscriber {k} {prefix}",
                            proto_name(POOL4_PROTOS[p])
                        );
                        any = true;
                    }
                }
                if !any {
                    bail!("{o} lies in no subscriber's block");
                }
                return Ok(());
            }
            println!(
                "port blocks: {} ports per subscriber and protocol; subscribers: the /{}s of {} ({}), numbered in address order (RFC 7422, sequential)",
                b.size,
                b.subscriber_len,
                b.subscribers,
                b.subscriber_count()
            );
            for &p in &protos {
                for k in 0..b.subscriber_count() {
                    if let Some(s) = block::nth_block(&pool4.0[p], b.size.into(), k) {
                        println!("{}", block_line(&b, p, k, &s));
                    }
                }
            }
            Ok(())
        }
    }
}

/// Port blocks on first use: the blocks held now (from the running gateway's tables), one
/// subscriber's, or the holder of one pool4 port.
fn on_first_use(
    t: &nat64_ctl::tables::Tables,
    b: &nat64_ctl::blocks::PortBlocks,
    pool4: &nat64_ctl::pool4::Pool4Slots,
    protos: &[usize],
    for_addr: Option<Ipv6Addr>,
    owner: Option<std::net::SocketAddrV4>,
) -> Result<()> {
    let Some(f) = t.first_use.as_ref() else {
        bail!("the gateway has no tables of port blocks on first use (attached by an older nat64-ctl)");
    };
    let mut held: Vec<(u32, ipnet::Ipv6Net)> = f
        .held()
        .into_iter()
        .filter_map(|(prefix, sb)| {
            let net = ipnet::Ipv6Net::new(Ipv6Addr::from(prefix), b.subscriber_len).ok()?;
            Some((sb.block, net))
        })
        .collect();
    held.sort();
    let lines = |k: u32, net: ipnet::Ipv6Net| -> Vec<String> {
        protos
            .iter()
            .filter_map(|&p| {
                let s = block::nth_block(&pool4.0[p], b.size.into(), k)?;
                Some(format!(
                    "{} block {k} {net}: {}:{}-{}",
                    proto_name(POOL4_PROTOS[p]),
                    Ipv4Addr::from(s.addr4),
                    s.port_lo,
                    s.port_hi
                ))
            })
            .collect()
    };
    if let Some(a) = for_addr {
        let Some(net) = b.subscriber_of(a) else {
            bail!(
                "{a} is outside the subscribers {}: it takes no block",
                b.subscribers
            );
        };
        let Some(&(k, _)) = held.iter().find(|(_, n)| *n == net) else {
            bail!("{a}: its subscriber {net} holds no block now (it takes one with its next flow)");
        };
        for l in lines(k, net) {
            println!("{a} {l}");
        }
        return Ok(());
    }
    if let Some(o) = owner {
        let mut any = false;
        for &p in protos {
            let Some(k) = b.block_number(pool4, p, *o.ip(), o.port()) else {
                continue;
            };
            if let Some(&(_, net)) = held.iter().find(|(h, _)| *h == k) {
                println!("{o} {} block {k} {net}", proto_name(POOL4_PROTOS[p]));
                any = true;
            }
        }
        if !any {
            bail!("{o} lies in no block held now (for an earlier moment: --log FILE --at TIME)");
        }
        return Ok(());
    }
    println!(
        "port blocks: {} ports per block and protocol, handed out on first use to the /{}s of {}; {} of {} blocks held",
        b.size,
        b.subscriber_len,
        b.subscribers,
        held.len(),
        b.blocks_per_protocol(pool4)
    );
    for (k, net) in held {
        for l in lines(k, net) {
            println!("{l}");
        }
    }
    Ok(())
}

/// `PROTO subscriber K PREFIX: ADDR:FIRST-LAST`, one subscriber's block.
fn block_line(
    b: &nat64_ctl::blocks::PortBlocks,
    p: usize,
    k: u32,
    s: &nat64_common::maps::Pool4Slot,
) -> String {
    format!(
        "{} subscriber {k} {}: {}:{}-{}",
        proto_name(POOL4_PROTOS[p]),
        b.prefix(k),
        Ipv4Addr::from(s.addr4),
        s.port_lo,
        s.port_hi
    )
}

/// Who held `owner` at `at`, from the log's `block_assigned` / `block_released` lines:
/// the last assignment of a block holding it at or before `at`, unless released since.
fn from_log(
    path: &std::path::Path,
    at: &str,
    owner: std::net::SocketAddrV4,
    protos: &[usize],
) -> Result<()> {
    // RFC 3339 UTC with milliseconds, as the log writes it, orders as text.
    if session_log::parse_rfc3339(at).is_none() {
        bail!("--at {at:?}: not a time like 2026-12-04T10:31:07.250Z");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--log {}: cannot read it", path.display()))?;
    let names: Vec<&str> = protos
        .iter()
        .map(|&p| proto_name(POOL4_PROTOS[p]))
        .collect();
    let mut holder: Vec<(String, Option<String>)> = vec![(String::new(), None); protos.len()];
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let port = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        let event = field("event");
        if event != "block_assigned" && event != "block_released" {
            continue;
        }
        let time = field("time");
        if session_log::parse_rfc3339(time).is_none_or(|t| Some(t) > session_log::parse_rfc3339(at))
        {
            continue;
        }
        let Some(i) = names.iter().position(|n| *n == field("proto")) else {
            continue;
        };
        let inside = field("pool4") == owner.ip().to_string()
            && (port("port4")..=port("port4_last")).contains(&u64::from(owner.port()));
        if !inside {
            continue;
        }
        holder[i] = (
            time.to_string(),
            (event == "block_assigned").then(|| field("subscriber").to_string()),
        );
    }
    let mut any = false;
    for (i, (since, who)) in holder.iter().enumerate() {
        if let Some(who) = who {
            println!("{owner} {} {who} (block assigned {since})", names[i]);
            any = true;
        }
    }
    if !any {
        bail!(
            "{owner}: no block holding it was assigned at {at} in {}",
            path.display()
        );
    }
    Ok(())
}
