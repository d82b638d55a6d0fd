//! nat64-ctl: loads the nat64 XDP gateway, attaches it and reports on it. Each subcommand
//! lives in its own module under `cmd/`; this file parses and dispatches.
use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "nat64-ctl",
    version = nat64_ctl::VERSION,
    about = "Stateful NAT64 gateway (XDP) control plane"
)]
struct Cli {
    /// Log line format on standard error (`RUST_LOG` filters, e.g. `info,xdp=debug`).
    #[arg(long, value_enum, global = true, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    /// One JSON object per line, for journald/Loki/Elasticsearch pipelines.
    Json,
}

// Parsed once per run: the size of the attach variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Load the gateway, attach it (XDP or TC) to the interfaces and run until SIGINT/SIGTERM.
    Attach(cmd::attach::Args),
    /// Stop the data plane of an instance nat64-ctl no longer manages: detach it from its
    /// interfaces and free its maps (every binding and session).
    Detach(cmd::detach::Args),
    /// Print a shell completion script (e.g. `nat64-ctl completions bash >
    /// /etc/bash_completion.d/nat64-ctl`).
    Completions(cmd::completions::Args),
    /// Print the man page (roff), e.g. `nat64-ctl man > /usr/share/man/man8/nat64-ctl.8`;
    /// with a subcommand, that subcommand's page (nat64-ctl-attach.8, ...).
    Man(cmd::man::Args),
    /// One screen on each gateway instance: manager, interfaces, pool4, tables, drops.
    ///
    /// For each instance: whether its nat64-ctl runs, each interface with its hook and mode,
    /// pool4 usage per address and protocol, sessions and bindings per protocol, the last
    /// expiry pass, drops in the last minute by reason, and whether the data plane runs
    /// this binary's eBPF object. Exit status 0 when every instance shown has its nat64-ctl
    /// running, 3 when one has none (its pinned data plane still translates, but nothing
    /// expires sessions), 1 on error (e.g. no such instance).
    Status(cmd::status::Args),
    /// Configuration of a running gateway.
    Config(cmd::config::Args),
    /// Statistics of a running gateway.
    Stats(cmd::stats::Args),
    /// Binding table (BIB) of a running gateway.
    Bib(cmd::bib::Args),
    /// Session table of a running gateway.
    Session(cmd::session::Args),
    /// Pool4 addresses of a running gateway.
    Pool4(cmd::pool4::Args),
    /// Port blocks (RFC 7422) of a running gateway, and who had a pool4 address and port.
    Blocks(cmd::blocks::Args),
    /// Session lifetimes of a running gateway.
    Timeouts(cmd::timeouts::Args),
}

fn main() {
    // The matches are kept beside the parsed command: which --pool4 a --ports belongs to
    // is a matter of position.
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let json = cli.log_format == LogFormat::Json;
    if let Err(e) = rt.block_on(run(cli, &matches)) {
        if json {
            // Printed whatever RUST_LOG filters: the reason for a failed run is never lost.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i128)
                .unwrap_or(0);
            eprintln!(
                "{}",
                serde_json::json!({
                    "timestamp": nat64_ctl::session_log::rfc3339(now),
                    "level": "ERROR",
                    "fields": { "message": format!("nat64-ctl: error: {e:#}") },
                    "target": "nat64_ctl",
                })
            );
        } else {
            eprintln!("nat64-ctl: error: {e:#}");
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<()> {
    match cli.command {
        Cmd::Attach(args) => cmd::attach::run(args, matches).await,
        Cmd::Detach(args) => cmd::detach::run(args),
        Cmd::Completions(args) => cmd::completions::run(args),
        Cmd::Man(args) => cmd::man::run(args),
        Cmd::Status(args) => cmd::status::run(args),
        Cmd::Config(args) => cmd::config::run(args),
        Cmd::Stats(args) => cmd::stats::run(args),
        Cmd::Bib(args) => cmd::bib::run(args),
        Cmd::Session(args) => cmd::session::run(args),
        Cmd::Pool4(args) => cmd::pool4::run(args),
        Cmd::Blocks(args) => cmd::blocks::run(args),
        Cmd::Timeouts(args) => cmd::timeouts::run(args),
    }
}
