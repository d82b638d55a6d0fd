//! `nat64-ctl attach`: load the gateway, attach it and run until a signal.
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nat64_common::maps::{CONFIG_F_SESSION_EVENTS, CONFIG_F_SLOW_PATH};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use nat64_ctl::{
    bpffs, config, expiry,
    hook::{self, Hook},
    loader::{self, AttachMode, BpfLogLevel},
    manage, tables,
};
use tokio::{io::unix::AsyncFd, signal::unix::SignalKind};

use nat64_ctl::options::{AttachOptions, Source};

use super::require_root;

#[derive(clap::Args)]
pub struct Args {
    // One definition of every setting, shared with the config file.
    #[command(flatten)]
    options: AttachOptions,
}

/// How often idle sessions are looked for. With the one-second refresh granularity a
/// session dies between its lifetime and two seconds after.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// `matches`: the whole command line's, for where each --pool4/--ports/--proto stood.
pub async fn run(args: Args, matches: &clap::ArgMatches) -> Result<()> {
    let AttachOptions {
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
        config,
        ..
    } = &args.options;
    let file = config.as_deref().map(AttachOptions::read).transpose()?;
    // The translation settings come from the file or from the command line (clap refuses
    // a mix); the rest may come from both, the command line winning.
    let settings = match (&file, config) {
        (Some(f), Some(path)) => f
            .settings()
            .map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?,
        _ => args.options.settings_from(
            Source::CommandLine,
            Some(
                matches
                    .subcommand_matches("attach")
                    .context("attach's matches")?,
            ),
        )?,
    };
    let file = file.as_ref();
    let interfaces = match (interfaces.is_empty(), file) {
        (true, Some(f)) => f.interfaces.clone(),
        _ => interfaces.clone(),
    };
    if interfaces.is_empty() {
        bail!("attach: no interfaces (give them on the command line or as `interfaces` in the config file)");
    }
    let xdp_mode = xdp_mode
        .or(file.and_then(|f| f.xdp_mode))
        .unwrap_or(AttachMode::Auto);
    let hook = hook.or(file.and_then(|f| f.hook)).unwrap_or(Hook::Auto);
    check_xdp_mode(hook, xdp_mode)?;
    let bpf_log_level = bpf_log_level
        .or(file.and_then(|f| f.bpf_log_level))
        .unwrap_or(BpfLogLevel::Warn);
    let instance = instance
        .clone()
        .or(file.and_then(|f| f.instance.clone()))
        .unwrap_or_else(|| "default".into());
    let sizes = loader::TableSizes {
        sessions: max_sessions.or(file.and_then(|f| f.max_sessions)),
        bib: max_bindings.or(file.and_then(|f| f.max_bindings)),
        blocks: settings
            .port_blocks
            .map(|b| b.table_entries(&settings.pool4)),
        first_use_blocks: settings
            .port_blocks
            .filter(|b| b.is_dynamic())
            .map(|b| b.blocks_per_protocol(&settings.pool4)),
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
        *fresh,
        settings,
        config.clone(),
        match metrics_listen.or(file.and_then(|f| f.metrics_listen)) {
            Some(addr) => Some(nat64_ctl::metrics::bind(addr).await?),
            None => None,
        },
        session_log
            .clone()
            .or(file.and_then(|f| f.session_log.clone()))
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
    // Before any map is taken out of the object: the sweep program is relocated against
    // all of them.
    let sweeper = expiry::Sweeper::load(&ebpf)?;
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
        sweeper,
        &dir,
        SWEEP_INTERVAL,
        stop_sweeper.clone(),
        census.clone(),
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
