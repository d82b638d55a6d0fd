//! A gateway instance outlives the nat64-ctl process that manages it.
//!
//! Its maps and its XDP and tcx links are pinned under `/sys/fs/bpf/nat64/<instance>/` (each map
//! with its layout version in its name), so the data plane keeps translating (with every
//! binding and session) while nat64-ctl is stopped, killed, restarted or upgraded. The next `attach` takes the pinned maps over
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

use crate::bpffs;

/// Where the locks (and `crate::run_state`'s files) live: tmpfs, gone at reboot with the pins.
pub const LOCK_DIR: &str = "/run/nat64";

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

/// The process managing the instance: the holder of its lock, as the kernel lists it in
/// /proc/locks (a pid written in the file could be stale or reused). Looking does not take
/// the lock, so it never makes a starting `attach` fail.
pub fn manager(instance: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(Path::new(LOCK_DIR).join(format!("{instance}.lock"))).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    flock_holder(&locks, meta.dev(), meta.ino())
}

/// The pid holding a `flock` on the file (device `dev`, inode `ino`) in /proc/locks text:
/// lines like `1: FLOCK  ADVISORY  WRITE 5308 fe:00:10011472 0 EOF`, the device as hex
/// major:minor. Blocked waiters (`-> ...`) hold nothing.
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 6 && f[1] == "FLOCK" && f[5] == want)
            .then(|| f[4].parse().ok())
            .flatten()
    })
}

/// Whether the instance has pinned state (a running data plane, managed or not, of this
/// build's layouts or older ones).
pub fn has_state(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| nat64_common::layout::parse_pin(n).is_some())
    })
}

/// Removes the lock file of an instance that has just been detached (the caller holds
/// the lock, so no manager is using it).
pub fn remove_lock(instance: &str) {
    let _ = std::fs::remove_file(Path::new(LOCK_DIR).join(format!("{instance}.lock")));
}

/// Pin of the XDP link on `iface`.
pub fn link_pin(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("{XDP_LINK_PREFIX}{iface}"))
}

/// Pin of the tcx link (TC ingress) on `iface`: its own name, so that an `attach` that
/// moves an interface from one hook to the other finds the old link and removes it.
pub fn tc_link_pin(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("{TC_LINK_PREFIX}{iface}"))
}

const XDP_LINK_PREFIX: &str = "link-";
const TC_LINK_PREFIX: &str = "tcx-";

/// Interfaces with a pinned XDP link.
pub fn pinned_links(dir: &Path) -> Vec<String> {
    pinned_with_prefix(dir, XDP_LINK_PREFIX)
}

/// Interfaces with a pinned tcx link.
pub fn pinned_tc_links(dir: &Path) -> Vec<String> {
    pinned_with_prefix(dir, TC_LINK_PREFIX)
}

fn pinned_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .map(String::from)
        })
        .collect();
    out.sort();
    out
}

/// Where the interfaces with a clsact filter of the instance are written down (kernels
/// without tcx): a clsact filter cannot be pinned, and bpffs holds no plain files. Under
/// /run, which goes at a reboot as the filters do.
fn clsact_record(instance: &str) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{instance}.clsact"))
}

/// Interfaces the instance has a clsact filter on.
pub fn clsact_ifaces(instance: &str) -> Vec<String> {
    std::fs::read_to_string(clsact_record(instance))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Records the interfaces the instance has a clsact filter on (none: the record goes).
pub fn set_clsact_ifaces(instance: &str, ifaces: &[String]) -> Result<()> {
    let path = clsact_record(instance);
    if ifaces.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
    let mut text = ifaces.join("\n");
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Pin directories under the instance: state a nat64-ctl from before per-map layout
/// versions left, in a layout this one cannot read (the last such layout, `v3`, is
/// adopted by `upgrade::adopt_legacy_dir` before this is asked).
pub fn foreign_layouts(instance: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(bpffs::instance_dir(instance)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// What `remove_state` took away.
#[derive(Debug, Default)]
pub struct Removed {
    pub links: Vec<String>,
    pub pins: usize,
}

/// Removes every pin of the instance (all layouts): links first (XDP and tcx, and the
/// clsact filters), which detaches the data plane from the interfaces, then the maps,
/// which the kernel frees with their last user.
pub fn remove_state(instance: &str) -> Result<Removed> {
    let dir = bpffs::instance_dir(instance);
    let xdp = pinned_links(&dir);
    let tc = pinned_tc_links(&dir);
    let clsact = clsact_ifaces(instance);
    let mut removed = Removed::default();
    for iface in &clsact {
        if crate::hook::detach_clsact(iface) {
            removed.links.push(iface.clone());
        }
    }
    set_clsact_ifaces(instance, &[])?;
    if !dir.exists() {
        return Ok(removed);
    }
    for (iface, p) in xdp
        .iter()
        .map(|i| (i, link_pin(&dir, i)))
        .chain(tc.iter().map(|i| (i, tc_link_pin(&dir, i))))
    {
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        removed.pins += 1;
        if !removed.links.contains(iface) {
            removed.links.push(iface.clone());
        }
    }
    removed.links.sort();
    for legacy in foreign_layouts(instance) {
        removed.pins += remove_pins(&legacy)?;
        std::fs::remove_dir(&legacy).with_context(|| format!("removing {}", legacy.display()))?;
    }
    removed.pins += remove_pins(&dir)?;
    std::fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(removed)
}

/// Removes the pins (files) directly in `dir`; returns how many.
fn remove_pins(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for pin in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let pin = pin?.path();
        if pin.is_dir() {
            continue;
        }
        std::fs::remove_file(&pin).with_context(|| format!("removing {}", pin.display()))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holder_is_read_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 5308 fe:00:10011472 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 6000 00:1a:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4879 00:1a:77 0 EOF\n\
                     3: POSIX  ADVISORY  WRITE 99 00:1a:78 0 EOF\n";
        let dev = libc::makedev(0, 0x1a);
        assert_eq!(flock_holder(locks, dev, 77), Some(4879));
        assert_eq!(flock_holder(locks, dev, 78), None, "not a flock");
        assert_eq!(flock_holder(locks, dev, 7), None);
        assert_eq!(
            flock_holder(locks, libc::makedev(0xfe, 0), 10011472),
            Some(5308)
        );
    }

    #[test]
    fn this_process_is_seen_holding_a_lock() {
        use std::os::unix::fs::MetadataExt;
        let path = std::env::temp_dir().join(format!("nat64-lock-test-{}", std::process::id()));
        let f = File::create(&path).unwrap();
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        let meta = f.metadata().unwrap();
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        assert_eq!(
            flock_holder(&locks, meta.dev(), meta.ino()),
            Some(std::process::id())
        );
        drop(f);
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        assert_eq!(flock_holder(&locks, meta.dev(), meta.ino()), None);
        let _ = std::fs::remove_file(&path);
    }
}
