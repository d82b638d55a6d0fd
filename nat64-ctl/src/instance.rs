//! A gateway instance outlives the nat64-ctl process that manages it.
//!
//! Its maps and its XDP links are pinned under `/sys/fs/bpf/nat64/<instance>/<layout>/`,
//! so the data plane keeps translating (with every binding and session) while nat64-ctl
//! is stopped, killed, restarted or upgraded. The next `attach` takes the pinned maps over
//! and swaps its program into the existing links atomically (BPF_LINK_UPDATE): no packet
//! meets a missing program and no established flow loses its state. `detach` removes it
//! all. One process at a time manages an instance: it holds an exclusive `flock` on
//! `/run/nat64/<instance>.lock`, which the kernel releases however the process ends.
use std::{
    fs::File,
    io::{Read, Seek, Write},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::{bpffs, stats};

const LOCK_DIR: &str = "/run/nat64";

/// Held for as long as this process manages the instance.
pub struct Lock {
    _file: File,
}

/// Takes the instance's lock, or says which process holds it.
pub fn lock(instance: &str) -> Result<Lock> {
    std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
    let path = Path::new(LOCK_DIR).join(format!("{instance}.lock"));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        bail!(
            "gateway instance {instance:?} is managed by another nat64-ctl (pid {}, holding {}); stop it first",
            pid.trim(),
            path.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(Lock { _file: file })
}

/// Whether the instance has pinned state (a running data plane, managed or not).
pub fn has_state(dir: &Path) -> bool {
    dir.join(stats::STATS_MAP).exists()
}

/// The pinned counter array must have one slot per counter this build knows: a map from a
/// build with fewer would leave the new counters uncounted and shift every name. (The
/// other maps' shapes are fixed by the layout version.)
pub fn check_counters(dir: &Path) -> Result<()> {
    let path = dir.join(stats::STATS_MAP);
    let have = aya::maps::MapData::from_pin(&path)
        .with_context(|| format!("opening {}", path.display()))?
        .info()
        .context("reading the pinned counters' map info")?
        .max_entries();
    if have != nat64_common::Counter::COUNT {
        bail!(
            "{} has {have} counters but this nat64-ctl has {}: it was pinned by another \
             version; `nat64-ctl attach --fresh` or `nat64-ctl detach` removes it (its flows \
             are lost)",
            path.display(),
            nat64_common::Counter::COUNT
        );
    }
    Ok(())
}

/// Removes the lock file of an instance that has just been detached (the caller holds
/// the lock, so no manager is using it).
pub fn remove_lock(instance: &str) {
    let _ = std::fs::remove_file(Path::new(LOCK_DIR).join(format!("{instance}.lock")));
}

/// Pin of the XDP link on `iface`.
pub fn link_pin(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("link-{iface}"))
}

/// Interfaces with a pinned link.
pub fn pinned_links(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("link-"))
                .map(String::from)
        })
        .collect();
    out.sort();
    out
}

/// Pin directories of other layout versions: state an incompatible nat64-ctl left.
pub fn foreign_layouts(instance: &str) -> Vec<PathBuf> {
    let ours = bpffs::instance_dir(instance);
    let Some(parent) = ours.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| *p != ours)
        .collect()
}

/// What `remove_state` took away.
#[derive(Debug, Default)]
pub struct Removed {
    pub links: Vec<String>,
    pub pins: usize,
}

/// Removes every pin of the instance (all layouts): links first, which detaches XDP
/// from the interfaces, then the maps, which the kernel frees with their last user.
pub fn remove_state(instance: &str) -> Result<Removed> {
    let dir = bpffs::instance_dir(instance);
    let mut removed = Removed {
        links: pinned_links(&dir),
        pins: 0,
    };
    for iface in &removed.links {
        let p = link_pin(&dir, iface);
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        removed.pins += 1;
    }
    let Some(root) = dir.parent() else {
        return Ok(removed);
    };
    if !root.exists() {
        return Ok(removed);
    }
    for layout in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let layout = layout?.path();
        if layout.is_dir() {
            for pin in std::fs::read_dir(&layout)? {
                let pin = pin?.path();
                std::fs::remove_file(&pin)
                    .with_context(|| format!("removing {}", pin.display()))?;
                removed.pins += 1;
            }
            std::fs::remove_dir(&layout)
                .with_context(|| format!("removing {}", layout.display()))?;
        }
    }
    std::fs::remove_dir(root).with_context(|| format!("removing {}", root.display()))?;
    Ok(removed)
}
