//! Which kernel hook carries the data plane on each interface, and attaching the TC one.
//!
//! XDP runs before the kernel builds an skb, which is what a real NIC's driver is fast at;
//! on veth and other virtual devices the skb already exists, its checksum may be partial
//! (left for an offload that never comes) and it may be a GSO super-packet, which the TC
//! hook and its helpers handle and XDP cannot. `--hook auto` therefore asks the driver
//! (ETHTOOL_GDRVINFO, answered in the caller's network namespace, unlike /sys/class/net,
//! which shows the namespace sysfs was mounted in): a device with a hardware bus address and
//! a driver that is not a paravirtual one gets XDP in driver mode, everything else TC.
use std::{ffi::CStr, os::fd::AsRawFd};

use anyhow::{anyhow, Context, Result};
use aya::programs::{
    links::{FdLink, PinnedLink},
    tc::{NlOptions, SchedClassifierLink, TcAttachOptions},
    LinkOrder, SchedClassifier, TcAttachType,
};

/// `--hook`
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Hook {
    /// XDP (driver mode) on hardware NICs whose driver has native XDP, TC on veth and
    /// other virtual or paravirtual devices.
    Auto,
    /// XDP everywhere (see --xdp-mode).
    Xdp,
    /// TC ingress everywhere (tcx links on Linux 6.6+, a clsact filter otherwise).
    Tc,
}

/// What `auto` found out about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// Backed by hardware: worth trying driver-mode XDP on.
    Hardware { driver: String },
    /// Why it is not (for the log line).
    Virtual { why: String },
}

/// Drivers of devices that have a bus address but are virtual all the same: the
/// hypervisor's side hands them skbs whose checksums may be partial, which is TC's job.
const PARAVIRTUAL_DRIVERS: &[&str] = &["virtio_net", "hv_netvsc", "vif", "vmxnet3", "tun"];

/// Bus addresses drivers of software devices report instead of none.
const NO_BUS: &[&str] = &["", "N/A", "tun"];

/// `SIOCETHTOOL`, `ETHTOOL_GDRVINFO` (linux/sockios.h, linux/ethtool.h).
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x3;

/// `struct ethtool_drvinfo`
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

fn c_field(b: &[u8]) -> String {
    CStr::from_bytes_until_nul(b)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The driver name and bus address of `iface`, as `ethtool -i` shows them; None when the
/// device answers no driver information (software devices without a parent device).
pub fn driver_info(iface: &str) -> Result<Option<(String, String)>> {
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for ETHTOOL_GDRVINFO");
    }
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    // SAFETY: plain data, all-zero is a valid value.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        anyhow::bail!("interface {iface:?}: name too long");
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: `req` points at `info`, which outlives the call and is the size the kernel
    // writes for this command.
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
            return Ok(None);
        }
        return Err(e).with_context(|| format!("{iface}: ETHTOOL_GDRVINFO"));
    }
    Ok(Some((c_field(&info.driver), c_field(&info.bus_info))))
}

/// Classifies a driver's answer (see the module's doc).
pub fn classify(info: Option<(String, String)>) -> Device {
    match info {
        None => Device::Virtual {
            why: "virtual device (no driver information)".into(),
        },
        Some((driver, _)) if PARAVIRTUAL_DRIVERS.contains(&driver.as_str()) => Device::Virtual {
            why: format!("paravirtual device (driver {driver})"),
        },
        Some((driver, bus)) if NO_BUS.contains(&bus.as_str()) => Device::Virtual {
            why: format!("virtual device (driver {driver})"),
        },
        Some((driver, _)) => Device::Hardware { driver },
    }
}

pub fn device(iface: &str) -> Result<Device> {
    Ok(classify(driver_info(iface)?))
}

/// The TC program, loaded into the kernel if it is not yet (only an instance with a TC
/// interface pays for its verification).
pub fn tc_program(ebpf: &mut aya::Ebpf) -> Result<&mut SchedClassifier> {
    let prog: &mut SchedClassifier = ebpf
        .program_mut(crate::TC_PROGRAM)
        .ok_or_else(|| anyhow!("TC program {:?} missing from the object", crate::TC_PROGRAM))?
        .try_into()
        .context("TC program has the wrong type")?;
    if prog.fd().is_err() {
        if let Err(e) = crate::loader::verify(|| prog.load()) {
            tracing::debug!("verifier: {e:?}");
            anyhow::bail!(
                "the kernel refused the TC program: {e} (RUST_LOG=debug shows the verifier log)"
            );
        }
    }
    Ok(prog)
}

/// The fixed priority and handle of the clsact filter (kernels without tcx): fixed so that
/// the next `attach` replaces it in place and `detach` finds it without any other record.
const CLSACT_PRIORITY: u16 = 0xc64;
const CLSACT_HANDLE: u32 = 0x64;

/// How the TC program went onto an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcAttached {
    /// A tcx BPF link (Linux 6.6+), pinned at the given path.
    Tcx,
    /// A clsact filter: the kernel keeps it until it is deleted; no pin.
    Clsact,
}

/// Attaches the TC program to `iface`'s ingress, or replaces the program on the link pinned
/// at `pin` (restarts keep their flows: no packet sees no program). A kernel that refuses
/// tcx gets a clsact filter instead, with a warning.
pub fn attach_tc(
    prog: &mut SchedClassifier,
    iface: &str,
    pin: &std::path::Path,
) -> Result<(TcAttached, bool)> {
    if pin.exists() {
        let link =
            PinnedLink::from_pin(pin).with_context(|| format!("opening {}", pin.display()))?;
        let link = SchedClassifierLink::try_from(FdLink::from(link))
            .with_context(|| format!("{} is not a tcx link", pin.display()))?;
        prog.attach_to_link(link)
            .with_context(|| format!("replacing the program on {iface}'s tcx link"))?;
        return Ok((TcAttached::Tcx, true));
    }
    match prog.attach_with_options(
        iface,
        TcAttachType::Ingress,
        TcAttachOptions::TcxOrder(LinkOrder::default()),
    ) {
        Ok(id) => {
            let link = prog.take_link(id)?;
            let link = FdLink::try_from(link)
                .with_context(|| format!("{iface}: the tcx attachment is not a BPF link"))?;
            link.pin(pin)
                .with_context(|| format!("pinning {}", pin.display()))?;
            Ok((TcAttached::Tcx, false))
        }
        Err(e) => {
            tracing::warn!("{iface}: tcx refused ({e}; Linux 6.6+ has it); using a clsact filter");
            attach_clsact(prog, iface)
        }
    }
}

/// The TC program as a clsact filter at `iface`'s ingress (what `attach` falls back to
/// where tcx is refused), replacing the filter an earlier run put there; whether it
/// replaced one.
pub fn attach_clsact(prog: &mut SchedClassifier, iface: &str) -> Result<(TcAttached, bool)> {
    // EEXIST: the qdisc is there already (ours from an earlier run, or tc's).
    if let Err(e) = aya::programs::tc::qdisc_add_clsact(iface) {
        tracing::debug!("{iface}: adding the clsact qdisc: {e} (already there?)");
    }
    let existing = SchedClassifierLink::attached(
        iface,
        TcAttachType::Ingress,
        CLSACT_PRIORITY,
        CLSACT_HANDLE.into(),
        None,
    )
    .with_context(|| format!("{iface}: the clsact filter"))?;
    let (id, replaced) = match prog.attach_to_link(existing) {
        Ok(id) => (id, true),
        Err(_) => {
            let id = prog
                .attach_with_options(
                    iface,
                    TcAttachType::Ingress,
                    TcAttachOptions::Netlink(NlOptions {
                        priority: CLSACT_PRIORITY,
                        handle: CLSACT_HANDLE.into(),
                        ..Default::default()
                    }),
                )
                .with_context(|| format!("attaching the TC program to {iface} (clsact)"))?;
            (id, false)
        }
    };
    // A clsact filter lives on in the kernel by itself; aya would delete it when the link
    // is dropped, so the link is let go of without its drop.
    std::mem::forget(prog.take_link(id)?);
    Ok((TcAttached::Clsact, replaced))
}

/// Deletes the clsact filter `attach` put on `iface`, if there is one; whether there was.
pub fn detach_clsact(iface: &str) -> bool {
    let Ok(link) = SchedClassifierLink::attached(
        iface,
        TcAttachType::Ingress,
        CLSACT_PRIORITY,
        CLSACT_HANDLE.into(),
        None,
    ) else {
        return false;
    };
    aya::programs::Link::detach(link).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(d: &str, b: &str) -> Option<(String, String)> {
        Some((d.into(), b.into()))
    }

    #[test]
    fn hardware_needs_a_bus_address_and_a_driver_that_is_not_paravirtual() {
        assert_eq!(
            classify(info("ixgbe", "0000:03:00.0")),
            Device::Hardware {
                driver: "ixgbe".into()
            }
        );
        for (d, b) in [
            ("veth", ""),
            ("bridge", "N/A"),
            ("virtio_net", "0000:00:03.0"),
            ("tun", "tun"),
        ] {
            assert!(
                matches!(classify(info(d, b)), Device::Virtual { .. }),
                "{d} {b}"
            );
        }
        assert!(matches!(classify(None), Device::Virtual { .. }));
    }
}
