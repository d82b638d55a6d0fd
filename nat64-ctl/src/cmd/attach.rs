//! `nat64-ctl attach`: load the gateway, attach it and run until a signal.
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nat64_common::maps::{CONFIG_F_SESSION_EVENTS, CONFIG_F_SLOW_PATH};
use nat64_common::timeouts::Timeouts;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use nat64_ctl::{
    bpffs, config, config_file, expiry,
    hook::{self, Hook},
    loader::{self, AttachMode, BpfLogLevel},
    manage, pool4, tables,
};
use tokio::{io::unix::AsyncFd, signal::unix::SignalKind};

use nat64_ctl::options::{Source, TimeoutOptions};

use super::require_root;

#[derive(clap::Args)]
pub struct Args {
    /// Interfaces to attach to (both the IPv6 and the IPv4 side).
    #[arg(required_unless_present = "config")]
    interfaces: Vec<String>,
    /// Kernel hook on each interface: XDP, TC ingress, or auto: XDP in driver mode on
    /// hardware NICs whose driver has native XDP, TC on veth and other virtual devices
    /// [default: auto].
    #[arg(long, value_enum)]
    hook: Option<Hook>,
    /// XDP attach mode, for --hook xdp [default: auto].
    #[arg(long, value_enum)]
    xdp_mode: Option<AttachMode>,
    /// Name of this gateway instance (pins live in /sys/fs/bpf/nat64/<instance>/)
    /// [default: default].
    #[arg(long)]
    instance: Option<String>,
    /// Level of the log lines the XDP program itself emits [default: warn].
    #[arg(long, value_enum)]
    bpf_log_level: Option<BpfLogLevel>,
    /// Log every session and binding created or deleted, one JSON line each, to FILE
    /// (appended) or `-` (standard output).
    #[arg(long, value_name = "FILE|-")]
    session_log: Option<String>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Remove the instance's earlier state first (pinned maps and links), instead of
    /// taking it over: every binding and session is lost.
    #[arg(long)]
    fresh: bool,
    /// Size of the session table: the most flows at once [default: 262144].
    #[arg(long, value_name = "N")]
    max_sessions: Option<u32>,
    /// Size of the binding table: the most IPv6 transport addresses with a pool4 one
    /// at once [default: 65536].
    #[arg(long, value_name = "N")]
    max_bindings: Option<u32>,
    /// Read every setting from a TOML file (keys named like the options; see README).
    /// Interfaces, --instance, --hook, --xdp-mode, --bpf-log-level and the table sizes given on
    /// the command line win over the file; the translation options cannot be mixed with it.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "pool6", "allow_nonglobal_ipv4", "pool4", "ports", "proto", "bib",
        "address_dependent_filtering", "udp_timeout", "tcp_est_timeout",
        "tcp_trans_timeout", "icmp_timeout", "allow_nonstandard_timeouts",
        "lowest_ipv6_mtu",
        "icmp_source6", "icmp_source4", "pool6791", "icmp_errors_rate",
        "icmp_errors_burst", "filtering_icmp",
    ])]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    xlat: XlatArgs,
}

/// What to translate and how.
#[derive(clap::Args)]
pub struct XlatArgs {
    /// RFC 6052 prefix that IPv4 addresses are embedded in (/32, /40, /48, /56, /64 or /96).
    #[arg(long, default_value = config::DEFAULT_POOL6)]
    pool6: String,
    /// Translate non-global IPv4 addresses (RFC 1918, documentation ranges, ...) under the
    /// well-known prefix 64:ff9b::/96, which RFC 6052 §3.1 forbids.
    #[arg(long)]
    allow_nonglobal_ipv4: bool,
    /// IPv4 address, or ADDR/LEN block, owned by the gateway for translated flows
    /// (repeatable). `--ports` and `--proto` after it apply to it alone.
    #[arg(long = "pool4")]
    pool4: Vec<String>,
    /// Port range (and ICMP identifier range) dynamic bindings take from the --pool4
    /// before it [default: 61001-65535].
    #[arg(long, value_name = "FIRST-LAST")]
    ports: Vec<String>,
    /// Protocols the --pool4 before it serves, e.g. tcp,udp [default: tcp,udp,icmp].
    #[arg(long, value_name = "PROTOS")]
    proto: Vec<String>,
    /// Static binding `PROTO IPV4#PORT IPV6#PORT` (repeatable), e.g.
    /// "udp 203.0.113.1#5000 2001:db8::5#5000".
    #[arg(long = "bib")]
    bib: Vec<String>,
    /// Address-dependent filtering: an IPv4 host may reach a dynamic binding only after
    /// its IPv6 owner has sent to that host (default: endpoint-independent filtering).
    #[arg(long)]
    address_dependent_filtering: bool,
    /// An IPv4 packet without DF whose translation is larger than this goes out as IPv6
    /// fragments of at most this size (RFC 7915 §4): the smallest MTU of the IPv6 paths.
    #[arg(long, value_name = "BYTES", default_value_t = nat64_common::maps::LOWEST_IPV6_MTU_DEFAULT)]
    lowest_ipv6_mtu: u32,
    /// Source of the ICMPv6 errors the gateway sends (Time Exceeded, Packet Too Big,
    /// address unreachable) [default: the first global IPv6 address of the interfaces].
    #[arg(long, value_name = "ADDR")]
    icmp_source6: Option<String>,
    /// Source of the ICMPv4 errors the gateway sends (Time Exceeded, Fragmentation Needed,
    /// administratively prohibited) [default: the interfaces' first IPv4 address outside
    /// private space].
    #[arg(long, value_name = "ADDR")]
    icmp_source4: Option<String>,
    /// RFC 6791 pool: IPv4 sources (ADDR or ADDR/LEN) for translated ICMPv6 errors from
    /// IPv6 routers with no IPv4-embedded address [default: the --icmp-source4 address].
    #[arg(long, value_name = "PREFIX")]
    pool6791: Option<String>,
    /// ICMP errors the gateway may send per second, per CPU (token bucket, RFC 4443 §2.4 f);
    /// 0 sends none [default: 1000].
    #[arg(long, value_name = "N")]
    icmp_errors_rate: Option<u32>,
    /// Token bucket size: errors that may go out at once [default: 50].
    #[arg(long, value_name = "N")]
    icmp_errors_burst: Option<u32>,
    /// Answer IPv4 packets that address-dependent filtering drops with ICMP Destination
    /// Unreachable, administratively prohibited (default: drop silently).
    #[arg(long)]
    filtering_icmp: bool,
    #[command(flatten)]
    timeouts: TimeoutOptions,
}

impl XlatArgs {
    /// `m`: the attach subcommand's matches, for where each --pool4/--ports/--proto stood.
    fn settings(&self, m: &clap::ArgMatches) -> Result<config::Settings> {
        let at = |id: &str, values: &[String]| -> Vec<(usize, String)> {
            m.indices_of(id)
                .map(|ix| ix.zip(values.iter().cloned()).collect())
                .unwrap_or_default()
        };
        let groups = pool4::groups_from_args(
            &at("pool4", &self.pool4),
            &at("ports", &self.ports),
            &at("proto", &self.proto),
        )?;
        let s = config::Settings {
            pool6: config::parse_pool6(&self.pool6)?,
            allow_nonglobal: self.allow_nonglobal_ipv4,
            pool4: pool4::Pool4Slots::from_groups(&groups, "--pool4")?,
            secret: config::random_secret()?,
            static_bib: self
                .bib
                .iter()
                .map(|b| b.parse().map_err(|e| anyhow::anyhow!("--bib: {e:#}")))
                .collect::<Result<_>>()?,
            timeouts: self
                .timeouts
                .apply(Timeouts::DEFAULT, Source::CommandLine)?,
            address_dependent_filtering: self.address_dependent_filtering,
            lowest_ipv6_mtu: self.lowest_ipv6_mtu,
            icmp: config::IcmpSettings::from_options(
                config::IcmpOptions {
                    source6: self.icmp_source6.as_deref(),
                    source4: self.icmp_source4.as_deref(),
                    pool6791: self.pool6791.as_deref(),
                    rate: self.icmp_errors_rate,
                    burst: self.icmp_errors_burst,
                    filtering_icmp: self.filtering_icmp,
                },
                "--",
            )?,
        };
        s.validate()?;
        Ok(s)
    }
}

/// How often idle sessions are looked for. With the one-second refresh granularity a
/// session dies between its lifetime and two seconds after.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// `matches`: the whole command line's, for where each --pool4/--ports/--proto stood.
pub async fn run(args: Args, matches: &clap::ArgMatches) -> Result<()> {
    let Args {
        interfaces,
        hook,
        xdp_mode,
        instance,
        bpf_log_level,
        max_sessions,
        max_bindings,
        metrics_listen,
        session_log,
        fresh,
        xlat,
        config,
    } = args;
    let file = config
        .as_deref()
        .map(config_file::ConfigFile::read)
        .transpose()?;
    let (settings, file) = match (file, &config) {
        (Some(f), Some(path)) => (
            f.settings()
                .map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?,
            f,
        ),
        _ => (
            xlat.settings(
                matches
                    .subcommand_matches("attach")
                    .context("attach's matches")?,
            )?,
            config_file::ConfigFile::default(),
        ),
    };
    let interfaces = if interfaces.is_empty() {
        file.interfaces.clone()
    } else {
        interfaces
    };
    if interfaces.is_empty() {
        bail!("attach: no interfaces (give them on the command line or as `interfaces` in the config file)");
    }
    let path = config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let xdp_mode = match (xdp_mode, file.xdp_mode.clone()) {
        (Some(m), _) => m,
        (None, Some(s)) => clap::ValueEnum::from_str(&s, true).map_err(|_| {
            anyhow::anyhow!("config {path}: xdp-mode {s:?}: expected auto, driver or generic")
        })?,
        (None, None) => AttachMode::Auto,
    };
    let hook = match (hook, file.hook.clone()) {
        (Some(h), _) => h,
        (None, Some(s)) => clap::ValueEnum::from_str(&s, true)
            .map_err(|_| anyhow::anyhow!("config {path}: hook {s:?}: expected auto, xdp or tc"))?,
        (None, None) => Hook::Auto,
    };
    check_xdp_mode(hook, xdp_mode)?;
    let bpf_log_level = match (bpf_log_level, file.bpf_log_level.clone()) {
        (Some(l), _) => l,
        (None, Some(s)) => clap::ValueEnum::from_str(&s, true).map_err(|_| {
            anyhow::anyhow!("config {path}: bpf-log-level {s:?}: expected off, error, warn, info, debug or trace")
        })?,
        (None, None) => BpfLogLevel::Warn,
    };
    let instance = instance
        .or(file.instance.clone())
        .unwrap_or_else(|| "default".into());
    let sizes = loader::TableSizes {
        sessions: max_sessions.or(file.max_sessions),
        bib: max_bindings.or(file.max_bindings),
    };
    for (flag, n) in [
        ("--max-sessions", sizes.sessions),
        ("--max-bindings", sizes.bib),
    ] {
        if n == Some(0) {
            bail!("{flag} 0: a table needs at least one entry");
        }
    }
    attach(
        interfaces,
        hook,
        xdp_mode,
        instance,
        bpf_log_level,
        sizes,
        fresh,
        settings,
        config,
        match metrics_listen.or(file
            .metrics_listen
            .clone()
            .map(|a| a.parse())
            .transpose()
            .map_err(|e| anyhow::anyhow!("config {path}: metrics-listen: {e}"))?)
        {
            Some(addr) => Some(nat64_ctl::metrics::bind(addr).await?),
            None => None,
        },
        session_log
            .or(file.session_log.clone())
            .map(|t| nat64_ctl::session_log::SessionLog::open(&t).map(Arc::new))
            .transpose()?,
    )
    .await
}

/// Sets or clears a `CONFIG_F_*` bit that the running nat64-ctl owns (not the settings).
fn set_config_flag(dir: &std::path::Path, flag: u32, on: bool) -> Result<()> {
    tables::Tables::open(dir)?.set_config_flag(flag, on)
}

#[allow(clippy::too_many_arguments)]
async fn attach(
    interfaces: Vec<String>,
    hook: Hook,
    mode: AttachMode,
    instance: String,
    log_level: BpfLogLevel,
    sizes: loader::TableSizes,
    fresh: bool,
    settings: config::Settings,
    config_path: Option<std::path::PathBuf>,
    metrics: Option<tokio::net::TcpListener>,
    session_log: Option<Arc<nat64_ctl::session_log::SessionLog>>,
) -> Result<()> {
    bpffs::validate_instance(&instance)?;
    // Check everything the operator typed before touching the kernel.
    for iface in &interfaces {
        loader::ifindex(iface)?;
    }
    require_root()?;
    let mut settings = settings;
    settings.icmp.resolve(&interfaces)?;
    let taken = nat64_ctl::local::default_pool4(&mut settings.pool4, &interfaces)?;
    if !taken.is_empty() {
        tracing::info!(
            "no --pool4 given: pool4 is the interfaces' own IPv4 addresses {taken:?}, ports {} \
             for tcp, udp and icmp; the router's own services on them stay reachable",
            config::DEFAULT_PORTS
        );
    }
    nat64_ctl::local::check(&settings.pool4)?;
    bpffs::ensure_mounted()?;
    let _lock = nat64_ctl::instance::lock(&instance)?;
    if fresh {
        let r = nat64_ctl::instance::remove_state(&instance)?;
        if r.pins > 0 {
            tracing::info!(
                "--fresh: removed the earlier state ({} pins, links on {:?})",
                r.pins,
                r.links
            );
        }
    }
    let dir = bpffs::instance_dir(&instance);
    nat64_ctl::upgrade::adopt_legacy_dir(&dir)?;
    if let Some(other) = nat64_ctl::instance::foreign_layouts(&instance).first() {
        bail!(
            "gateway instance {instance:?} has state pinned by an incompatible nat64-ctl at {} \
             (this one migrates layout {} and later); `nat64-ctl attach --fresh` or \
             `nat64-ctl detach` removes it (its flows are lost)",
            other.display(),
            nat64_common::layout::LEGACY_DIR
        );
    }
    let adopting = nat64_ctl::instance::has_state(&dir);
    // Refuses a map this build cannot read before the kernel is touched.
    let upgrade = nat64_ctl::upgrade::prepare(&dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut ebpf = loader::load_pinned(log_level, sizes, &dir)?;
    upgrade.copy()?;
    let logger = match aya_log::EbpfLogger::init_with_logger(&mut ebpf, KernelLog) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("kernel-side logging unavailable: {e}");
            None
        }
    };
    // Configure before attaching: the first packet must already see the settings.
    let mut t = tables::Tables::open(&dir)?;
    let f = manage::apply_settings(&mut t, &settings)?;
    if adopting {
        tracing::info!(
            "took over the running data plane's state from {} (sessions and bindings kept; \
             dropped what the settings no longer have: {} pool4 addresses, {} static and {} \
             dynamic bindings, {} sessions)",
            dir.display(),
            f.addresses,
            f.static_bindings,
            f.bindings,
            f.sessions
        );
        use aya::maps::IterableMap;
        let have = t.sessions.map().info()?.max_entries();
        if sizes.sessions.is_some_and(|n| n != have) {
            tracing::warn!("the session table keeps its size of {have} entries; --fresh resizes it (its flows are lost)");
        }
    }
    // Before the first packet: translated packets XDP hands to the kernel may carry the
    // gateway's own address as their source.
    nat64_ctl::local::accept_local(&interfaces)?;
    let clsact_before = nat64_ctl::instance::clsact_ifaces(&instance);
    let mut clsact = Vec::new();
    for iface in &interfaces {
        let used = attach_iface(&mut ebpf, iface, hook, mode, &dir)?;
        // The interface's link of the other hook, from a run with another --hook, goes
        // now that the new one is in place (a packet meets one program or the other).
        let xdp_pin = nat64_ctl::instance::link_pin(&dir, iface);
        let tc_pin = nat64_ctl::instance::tc_link_pin(&dir, iface);
        if used != Used::Xdp && xdp_pin.exists() {
            std::fs::remove_file(&xdp_pin)?;
            tracing::info!("detached XDP from {iface}, now on TC");
        }
        if used != Used::Tcx && tc_pin.exists() {
            std::fs::remove_file(&tc_pin)?;
            tracing::info!("detached TC (tcx) from {iface}, now on XDP");
        }
        if used == Used::Clsact {
            clsact.push(iface.clone());
            // Written down at once: a later interface's failure must not leave a filter
            // that `detach` cannot find.
            let mut known = clsact_before.clone();
            known.extend(
                clsact
                    .iter()
                    .filter(|i| !clsact_before.contains(i))
                    .cloned(),
            );
            nat64_ctl::instance::set_clsact_ifaces(&instance, &known)?;
        } else if clsact_before.contains(iface) && hook::detach_clsact(iface) {
            tracing::info!("detached TC (clsact) from {iface}");
        }
    }
    // What `status` compares with its own object: the program(s) the links now run. (Not
    // knowing only leaves status unsure; the links are set.)
    let dataplane = nat64_ctl::run_state::Dataplane {
        ebpf_sha256: nat64_ctl::EBPF_OBJECT_SHA256.to_string(),
        // Both hooks' programs, as far as this run loaded them (an unloaded one has no info).
        programs: ebpf
            .programs()
            .filter_map(|(_, p)| p.info().ok())
            .map(|info| nat64_ctl::run_state::Program::of(&info))
            .collect(),
    };
    // The new program and its maps are on the links: the old maps are done with.
    upgrade.commit();
    for iface in nat64_ctl::instance::pinned_links(&dir) {
        if !interfaces.contains(&iface) {
            std::fs::remove_file(nat64_ctl::instance::link_pin(&dir, &iface))?;
            tracing::info!("detached XDP from {iface}, no longer among the interfaces");
        }
    }
    for iface in nat64_ctl::instance::pinned_tc_links(&dir) {
        if !interfaces.contains(&iface) {
            std::fs::remove_file(nat64_ctl::instance::tc_link_pin(&dir, &iface))?;
            tracing::info!("detached TC (tcx) from {iface}, no longer among the interfaces");
        }
    }
    for iface in &clsact_before {
        if !interfaces.contains(iface) && hook::detach_clsact(iface) {
            tracing::info!("detached TC (clsact) from {iface}, no longer among the interfaces");
        }
    }
    nat64_ctl::instance::set_clsact_ifaces(&instance, &clsact)?;
    let stop_sweeper = Arc::new(AtomicBool::new(false));
    let census = nat64_ctl::census::SharedCensus::default();
    if let Some(log) = &session_log {
        let ring = aya::maps::RingBuf::try_from(
            ebpf.take_map(nat64_common::maps::MAP_EVENTS)
                .context("the session-log ring buffer is missing from the object")?,
        )?;
        tokio::spawn(nat64_ctl::session_log::forward(
            ring,
            tables::Tables::open(&dir)?,
            log.clone(),
        ));
    }
    set_config_flag(&dir, CONFIG_F_SESSION_EVENTS, session_log.is_some())?;
    let slow_ring = aya::maps::RingBuf::try_from(
        ebpf.take_map(nat64_common::maps::MAP_SLOW)
            .context("the slow-path ring buffer is missing from the object")?,
    )?;
    // The reader sets CONFIG_F_SLOW_PATH itself once it drains the ring, and clears it
    // if it stops.
    let (slow_ready, ready) = tokio::sync::oneshot::channel();
    let slow = tokio::spawn(nat64_ctl::slow_path::run(
        slow_ring,
        dir.clone(),
        slow_ready,
    ));
    // "running" below means the slow path is on too (a failed reader has said why).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), ready).await;
    // Not being able to tell `status` is no reason to stop translating.
    let record = nat64_ctl::run_state::Recorder::start(&instance, dataplane)
        .map_err(|e| tracing::warn!("`nat64-ctl status` will lack the manager's state: {e:#}"))
        .ok();
    let sweeper = expiry::spawn(
        &dir,
        SWEEP_INTERVAL,
        stop_sweeper.clone(),
        census.clone(),
        session_log.clone(),
        record,
    )?;
    if let Some(listener) = metrics {
        tracing::info!(
            "serving metrics at http://{}/metrics",
            listener.local_addr()?
        );
        tokio::spawn(nat64_ctl::metrics::serve(listener, dir.clone(), census));
    }

    if let Some(logger) = logger {
        tokio::spawn(forward_kernel_logs(logger));
    }

    tracing::info!("gateway instance {instance:?} running; SIGINT or SIGTERM stops nat64-ctl (the data plane keeps running until `nat64-ctl detach`)");
    let mut term = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let mut hup = tokio::signal::unix::signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match &config_path {
                Some(path) => match super::config::apply_file(path, &dir) {
                    Ok(summary) => tracing::info!("SIGHUP: applied {}: {summary}", path.display()),
                    Err(e) => tracing::error!("SIGHUP: {e:#}; nothing changed"),
                },
                None => tracing::warn!("SIGHUP: started without --config, nothing to re-read"),
            },
        }
    }
    tracing::info!(
        "signal received: stopping; the data plane keeps translating from its pinned state"
    );
    // Give the log reader a last chance so that lines emitted just before exit show up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_sweeper.store(true, Ordering::Relaxed);
    let _ = sweeper.join();
    // Nobody reads the ring buffers any more: the data plane drops what it would queue.
    set_config_flag(&dir, CONFIG_F_SESSION_EVENTS | CONFIG_F_SLOW_PATH, false)?;
    slow.abort();
    drop(ebpf); // the pins keep the links and maps
    Ok(())
}

/// `--xdp-mode` says how to attach XDP: refused where the hook attaches it otherwise or
/// not at all, rather than ignored.
fn check_xdp_mode(hook: Hook, mode: AttachMode) -> Result<()> {
    match (hook, mode) {
        (Hook::Tc, AttachMode::Driver | AttachMode::Generic) => bail!(
            "--xdp-mode {}: needs --hook xdp (--hook tc attaches no XDP program)",
            mode_name(mode)
        ),
        (Hook::Auto, AttachMode::Generic) => bail!(
            "--xdp-mode generic: needs --hook xdp (--hook auto attaches XDP in driver mode only, TC elsewhere)"
        ),
        _ => Ok(()),
    }
}

fn mode_name(mode: AttachMode) -> &'static str {
    match mode {
        AttachMode::Auto => "auto",
        AttachMode::Driver => "driver",
        AttachMode::Generic => "generic",
    }
}

/// The hook the data plane went onto an interface with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Used {
    Xdp,
    Tcx,
    Clsact,
}

/// Puts the data plane on `iface` with the hook `hook` picks for it, replacing the program
/// on the interface's pinned link of that hook if there is one (restarts keep every flow),
/// and logs which hook and why.
fn attach_iface(
    ebpf: &mut aya::Ebpf,
    iface: &str,
    hook: Hook,
    mode: AttachMode,
    dir: &std::path::Path,
) -> Result<Used> {
    let why = match hook {
        Hook::Xdp => return attach_xdp(ebpf, iface, mode, dir, "--hook xdp"),
        Hook::Tc => "--hook tc".to_string(),
        Hook::Auto => match hook::device(iface)? {
            hook::Device::Virtual { why } => why,
            hook::Device::Hardware { driver } => {
                match attach_xdp(ebpf, iface, AttachMode::Driver, dir, "hardware device") {
                    Ok(used) => return Ok(used),
                    Err(e) => {
                        tracing::warn!(
                            "{iface}: driver {driver} refused native XDP ({e:#}); using TC"
                        );
                        format!("driver {driver} has no native XDP")
                    }
                }
            }
        },
    };
    let prog = hook::tc_program(ebpf)?;
    let pin = nat64_ctl::instance::tc_link_pin(dir, iface);
    let (how, replaced) = hook::attach_tc(prog, iface, &pin)?;
    let (used, kind) = match how {
        hook::TcAttached::Tcx => (Used::Tcx, "tcx"),
        hook::TcAttached::Clsact => (Used::Clsact, "clsact"),
    };
    if replaced {
        tracing::info!("replaced the program on {iface}'s TC link ({kind}): {why}");
    } else {
        tracing::info!("attached TC ({kind}) to {iface}: {why}");
    }
    Ok(used)
}

/// XDP onto `iface`, or the program replaced on its pinned XDP link.
fn attach_xdp(
    ebpf: &mut aya::Ebpf,
    iface: &str,
    mode: AttachMode,
    dir: &std::path::Path,
    why: &str,
) -> Result<Used> {
    let prog = loader::xdp_program(ebpf)?;
    let pin = nat64_ctl::instance::link_pin(dir, iface);
    if pin.exists() {
        // The running program is replaced in one step: no packet sees no program.
        let link = aya::programs::links::PinnedLink::from_pin(&pin)
            .with_context(|| format!("opening {}", pin.display()))?;
        let link = aya::programs::xdp::XdpLink::try_from(aya::programs::links::FdLink::from(link))
            .with_context(|| format!("{} is not an XDP link", pin.display()))?;
        prog.attach_to_link(link)
            .with_context(|| format!("replacing the program on {iface}'s link"))?;
        tracing::info!("replaced the program on {iface}'s XDP link: {why}");
    } else {
        let (id, used) = loader::attach(prog, iface, mode)?;
        let link = prog.take_link(id)?;
        let link = aya::programs::links::FdLink::try_from(link).with_context(|| {
            format!("{iface}: the kernel attached XDP without a BPF link (Linux 5.9+ is needed to outlive nat64-ctl)")
        })?;
        link.pin(&pin)
            .with_context(|| format!("pinning {}", pin.display()))?;
        tracing::info!("attached XDP to {iface} ({used} mode): {why}");
    }
    Ok(Used::Xdp)
}

/// Lines the XDP program logs. `--bpf-log-level` already decided in the kernel which lines
/// exist, so each one is shown (at INFO, target `xdp`, its own level as a field) rather
/// than filtered a second time by `RUST_LOG`.
struct KernelLog;

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        tracing::info!(target: "xdp", level = %record.level(), "{}", record.args());
    }

    fn flush(&self) {}
}

/// aya-log records arrive on a ring buffer, read whenever it becomes readable.
async fn forward_kernel_logs<T: log::Log>(logger: aya_log::EbpfLogger<T>) {
    // SAFETY: the logger owns its ring-buffer fd for its whole life and always returns the
    // same one; the AsyncFd owns the logger, so the fd outlives the registration.
    let Ok(mut fd) =
        (unsafe { AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE) })
    else {
        return;
    };
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
