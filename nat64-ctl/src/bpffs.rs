//! bpffs handling: where a gateway instance pins the objects other invocations
//! (`nat64-ctl stats display`, …) open.
use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

pub const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// `/sys/fs/bpf/nat64/<instance>`: the instance's map pins (each named with its own
/// layout version, see `nat64_common::layout`) and its XDP links.
pub fn instance_dir(instance: &str) -> PathBuf {
    Path::new(BPFFS).join("nat64").join(instance)
}

/// Pin of `map` at this build's layout version: `<dir>/NAT64_CONFIG_v2`.
pub fn pin_path(dir: &Path, map: &str) -> PathBuf {
    let version = nat64_common::layout::layout(map)
        .unwrap_or_else(|| panic!("{map} is not a pinned map"))
        .version;
    pin_at(dir, map, version)
}

/// Pin of `map` at layout `version`.
pub fn pin_at(dir: &Path, map: &str, version: u32) -> PathBuf {
    dir.join(format!(
        "{map}{}{version}",
        nat64_common::layout::VERSION_SEP
    ))
}

pub fn validate_instance(instance: &str) -> Result<()> {
    if instance.is_empty()
        || instance.len() > 64
        || !instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("--instance {instance:?}: must be 1-64 characters of [A-Za-z0-9_-]");
    }
    Ok(())
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// Mounts bpffs on /sys/fs/bpf unless it is there already.
pub fn ensure_mounted() -> Result<()> {
    let path = Path::new(BPFFS);
    if is_bpffs(path) {
        return Ok(());
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {BPFFS}"))?;
    let target = CString::new(BPFFS).unwrap();
    let fstype = CString::new("bpf").unwrap();
    let data = CString::new("mode=0700").unwrap();
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mounting bpffs on {BPFFS}"));
    }
    tracing::info!("mounted bpffs on {BPFFS}");
    Ok(())
}
