//! Loading the embedded object and attaching it.
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use aya::{
    programs::{Xdp, XdpMode},
    Ebpf, EbpfLoader,
};

use crate::{EBPF_OBJECT, XDP_PROGRAM};

/// Log level of the kernel-side aya-log statements (0 = off … 5 = trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BpfLogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Loads the object and the XDP program into the kernel (verifier included) without
/// attaching it anywhere.
pub fn load(log_level: BpfLogLevel) -> Result<Ebpf> {
    load_sized(log_level, TableSizes::default())
}

/// Entries of the state tables, where not the object's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableSizes {
    /// Bindings, in each direction.
    pub bib: Option<u32>,
    pub sessions: Option<u32>,
    /// Entries of the port-block table (`nat64_common::block::table_entries`).
    pub blocks: Option<u32>,
    /// Blocks per protocol of port blocks on first use: the free list's and the
    /// owner tables' entries.
    pub first_use_blocks: Option<u32>,
}

/// [`load`] with the state tables sized as given.
pub fn load_sized(log_level: BpfLogLevel, sizes: TableSizes) -> Result<Ebpf> {
    load_inner(log_level, sizes, None)
}

/// [`load_sized`] with every shared map pinned in `dir`: maps already pinned there (by an
/// earlier nat64-ctl) are taken over with their contents, and their sizes; the others
/// are created and pinned.
pub fn load_pinned(log_level: BpfLogLevel, sizes: TableSizes, dir: &Path) -> Result<Ebpf> {
    load_inner(log_level, sizes, Some(dir))
}

fn load_inner(log_level: BpfLogLevel, sizes: TableSizes, pin_dir: Option<&Path>) -> Result<Ebpf> {
    let level = log_level as u8;
    let mut loader = EbpfLoader::new();
    if let Some(dir) = pin_dir {
        // Every map with state worth keeping, the in-flight datagrams' first fragments
        // included, so that a restart loses none.
        for layout in &nat64_common::layout::LAYOUTS {
            loader.map_pin_path(layout.map, crate::bpffs::pin_path(dir, layout.map));
        }
    }
    loader.override_global(aya_log::LEVEL, &level, true);
    if let Some(n) = sizes.bib {
        loader
            .map_max_entries(nat64_common::maps::MAP_BIB4, n)
            .map_max_entries(nat64_common::maps::MAP_BIB6, n);
    }
    // The sweep's stamps, one per binding, never pinned: sized like the BIB this load will
    // use, the pinned one's when it is taken over (an LRU smaller than the BIB would evict
    // stamps before the walk reads them, and their bindings would never expire).
    let pinned_bib = pin_dir.and_then(|dir| {
        let pin = crate::bpffs::pin_path(dir, nat64_common::maps::MAP_BIB4);
        aya::maps::MapData::from_pin(pin)
            .ok()
            .and_then(|m| m.info().ok())
            .map(|i| i.max_entries())
    });
    if let Some(n) = pinned_bib.or(sizes.bib) {
        loader.map_max_entries(nat64_common::maps::MAP_SWEEP_SEEN, n);
    }
    if let Some(n) = sizes.blocks {
        loader.map_max_entries(nat64_common::maps::MAP_BLOCKS, n);
    }
    if let Some(n) = sizes.first_use_blocks {
        loader
            .map_max_entries(nat64_common::maps::MAP_SUBSCRIBER_BLOCKS, n)
            .map_max_entries(nat64_common::maps::MAP_BLOCK_OWNERS, n)
            .map_max_entries(nat64_common::maps::MAP_FREE_BLOCKS, n);
    }
    if let Some(n) = sizes.sessions {
        loader.map_max_entries(nat64_common::maps::MAP_SESSIONS, n);
    }
    let mut ebpf = loader
        .load(EBPF_OBJECT)
        .map_err(|e| {
            let sized = match (sizes.sessions, sizes.bib) {
                (None, None) => String::new(),
                (s, b) => format!(
                    " (tables sized --max-sessions {} --max-bindings {}: too big for the memory the kernel will lock?)",
                    s.map_or("default".into(), |n| n.to_string()),
                    b.map_or("default".into(), |n| n.to_string())
                ),
            };
            anyhow!("the kernel refused the eBPF object: {e}{sized}")
        })?;
    let prog: &mut Xdp = xdp_program(&mut ebpf)?;
    if let Err(e) = verify(|| prog.load()) {
        // The verifier log is long; keep it out of the one-line error.
        tracing::debug!("verifier: {e:?}");
        bail!("the kernel refused the XDP program: {e} (RUST_LOG=debug shows the verifier log)");
    }
    Ok(ebpf)
}

/// Runs a program load, again when the verifier was interrupted: it gives up with EAGAIN
/// when a signal arrives for the process during its walk (close to a second for these
/// programs), and the kernel's answer to that is to try again.
pub fn verify(
    mut load: impl FnMut() -> Result<(), aya::programs::ProgramError>,
) -> Result<(), aya::programs::ProgramError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match load() {
            Err(aya::programs::ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EAGAIN) && attempt < ATTEMPTS =>
            {
                tracing::debug!("the verifier was interrupted (EAGAIN); loading again");
                attempt += 1;
            }
            r => return r,
        }
    }
}

pub fn xdp_program(ebpf: &mut Ebpf) -> Result<&mut Xdp> {
    ebpf.program_mut(XDP_PROGRAM)
        .ok_or_else(|| anyhow!("XDP program {XDP_PROGRAM:?} missing from the object"))?
        .try_into()
        .context("program has the wrong type")
}

/// `--xdp-mode`
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// Driver (native) mode where the driver supports it, generic otherwise.
    Auto,
    /// Native XDP in the driver; fail if the driver does not support it.
    Driver,
    /// Generic (skb) XDP; works everywhere, slower.
    Generic,
}

/// Resolves an interface name to its index, or a clear error.
pub fn ifindex(name: &str) -> Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| anyhow!("interface {name:?}: invalid name"))?;
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => bail!("interface {name:?} does not exist"),
        i => Ok(i),
    }
}

/// Attaches to one interface; returns the mode actually used.
pub fn attach(
    prog: &mut Xdp,
    iface: &str,
    mode: AttachMode,
) -> Result<(aya::programs::xdp::XdpLinkId, &'static str)> {
    let idx = ifindex(iface)?;
    let try_mode = |prog: &mut Xdp, m: XdpMode| prog.attach_to_if_index(idx, m);
    match mode {
        AttachMode::Driver => try_mode(prog, XdpMode::Driver)
            .map(|l| (l, "driver"))
            .with_context(|| format!("attaching XDP in driver mode to {iface}")),
        AttachMode::Generic => try_mode(prog, XdpMode::Skb)
            .map(|l| (l, "generic"))
            .with_context(|| format!("attaching XDP in generic mode to {iface}")),
        AttachMode::Auto => match try_mode(prog, XdpMode::Driver) {
            Ok(l) => Ok((l, "driver")),
            Err(e) => {
                tracing::warn!(
                    "{iface}: driver-mode XDP refused ({e}); falling back to generic mode"
                );
                try_mode(prog, XdpMode::Skb)
                    .map(|l| (l, "generic"))
                    .with_context(|| format!("attaching XDP to {iface}"))
            }
        },
    }
}
