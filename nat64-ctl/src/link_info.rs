//! What the kernel says about an instance's pinned links: which hook each one is (XDP in
//! driver, generic or offload mode, or a tcx link on ingress or egress), on which
//! interface, running which program. Read from the link itself (BPF_OBJ_GET_INFO_BY_FD;
//! aya's `LinkInfo` keeps the interface index to itself) and, for XDP's mode, from the
//! interface (rtnetlink): a pin's name is only what `attach` called it.
use std::{
    ffi::CString,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
};

use anyhow::{bail, Context, Result};

/// `enum bpf_cmd` (linux/bpf.h).
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// `enum bpf_link_type`.
const BPF_LINK_TYPE_XDP: u32 = 6;
const BPF_LINK_TYPE_TCX: u32 = 11;
/// `enum bpf_attach_type`: tcx's two hooks.
const BPF_TCX_INGRESS: u32 = 46;
const BPF_TCX_EGRESS: u32 = 47;
/// `union bpf_attr` is bigger than any command's part of it; the kernel wants the rest zero.
const BPF_ATTR_WORDS: usize = 16;

/// Where a link hooks the program in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    Xdp {
        ifindex: u32,
        mode: XdpMode,
    },
    Tcx {
        ifindex: u32,
        direction: Direction,
    },
    /// A link type nat64-ctl never makes (`enum bpf_link_type`).
    Other {
        link_type: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    Driver,
    Generic,
    Offload,
    /// The interface does not list the link's program (it went away meanwhile).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
    Unknown(u32),
}

impl Hook {
    /// `xdp`, `tc` or `link type N`.
    pub fn name(&self) -> String {
        match self {
            Hook::Xdp { .. } => "xdp".into(),
            Hook::Tcx { .. } => "tc".into(),
            Hook::Other { link_type } => format!("link type {link_type}"),
        }
    }

    /// `driver`, `generic`, `offload`, `tcx` (`unknown` when it cannot be told).
    pub fn mode(&self) -> &'static str {
        match self {
            Hook::Xdp { mode, .. } => match mode {
                XdpMode::Driver => "driver",
                XdpMode::Generic => "generic",
                XdpMode::Offload => "offload",
                XdpMode::Unknown => "unknown",
            },
            Hook::Tcx { .. } => "tcx",
            Hook::Other { .. } => "unknown",
        }
    }

    /// XDP sees received packets only.
    pub fn direction(&self) -> &'static str {
        match self {
            Hook::Xdp { .. } => "ingress",
            Hook::Tcx { direction, .. } => match direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
                Direction::Unknown(_) => "unknown",
            },
            Hook::Other { .. } => "unknown",
        }
    }

    pub fn ifindex(&self) -> Option<u32> {
        match self {
            Hook::Xdp { ifindex, .. } | Hook::Tcx { ifindex, .. } => Some(*ifindex),
            Hook::Other { .. } => None,
        }
    }
}

/// One pinned link as the kernel sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkDesc {
    /// File name of the pin in the instance directory.
    pub pin: String,
    pub link_id: u32,
    pub program_id: u32,
    pub hook: Hook,
    /// The interface's name; None when the index names no interface here, or one the pin
    /// is not named after (`link-eth6`, `tcx-eth4`): an interface index is only unique
    /// within a network namespace, and the link may be in another.
    pub interface: Option<String>,
}

/// The prefix of `struct bpf_link_info` nat64-ctl reads: the header and, for XDP and
/// tcx links, the interface (and tcx's attach type) at the start of the union.
#[repr(C)]
#[derive(Default)]
struct RawLinkInfo {
    link_type: u32,
    id: u32,
    prog_id: u32,
    /// The union is 8-byte aligned.
    _pad: u32,
    ifindex: u32,
    attach_type: u32,
}

fn bpf(cmd: libc::c_long, attr: &mut [u64; BPF_ATTR_WORDS]) -> std::io::Result<libc::c_long> {
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc)
}

/// A pinned object's fd (BPF_OBJ_GET).
fn obj_get(path: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{}: invalid path", path.display()))?;
    let mut attr = [0u64; BPF_ATTR_WORDS];
    attr[0] = c.as_ptr() as u64; // pathname; bpf_fd and file_flags stay 0
    let fd = bpf(BPF_OBJ_GET, &mut attr).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the kernel just handed us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_GET_INFO_BY_FD on a link.
fn link_info(fd: &OwnedFd) -> std::io::Result<RawLinkInfo> {
    let mut info = RawLinkInfo::default();
    let mut attr = [0u64; BPF_ATTR_WORDS];
    // { __u32 bpf_fd; __u32 info_len; __aligned_u64 info; }
    attr[0] = fd.as_raw_fd() as u32 as u64 | ((std::mem::size_of::<RawLinkInfo>() as u64) << 32);
    attr[1] = &mut info as *mut RawLinkInfo as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

fn if_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    Some(
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Describes the link pinned at `path`; an error if it is not a link.
pub fn describe(path: &Path) -> Result<LinkDesc> {
    let fd = obj_get(path)?;
    let raw = link_info(&fd).with_context(|| format!("{} is not a BPF link", path.display()))?;
    let hook = match raw.link_type {
        BPF_LINK_TYPE_XDP => Hook::Xdp {
            ifindex: raw.ifindex,
            mode: xdp_mode(raw.ifindex, raw.prog_id).unwrap_or(XdpMode::Unknown),
        },
        BPF_LINK_TYPE_TCX => Hook::Tcx {
            ifindex: raw.ifindex,
            direction: match raw.attach_type {
                BPF_TCX_INGRESS => Direction::Ingress,
                BPF_TCX_EGRESS => Direction::Egress,
                t => Direction::Unknown(t),
            },
        },
        t => Hook::Other { link_type: t },
    };
    let pin = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(LinkDesc {
        link_id: raw.id,
        program_id: raw.prog_id,
        interface: hook
            .ifindex()
            .and_then(if_name)
            .filter(|name| named_after(&pin, name)),
        hook,
        pin,
    })
}

/// Whether `pin` is `<kind>-<iface>`.
fn named_after(pin: &str, iface: &str) -> bool {
    pin.strip_suffix(iface)
        .is_some_and(|kind| kind.ends_with('-'))
}

/// Every link pinned in the instance directory, whatever its pin is named: each file that
/// is not a map pin. Sorted by pin name.
pub fn pinned(dir: &Path) -> Vec<(String, Result<LinkDesc>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Result<LinkDesc>)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            nat64_common::layout::parse_pin(&name)
                .is_none()
                .then(|| (name, describe(&e.path())))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// rtnetlink: `IFLA_XDP` and what is nested in it (linux/if_link.h).
const IFLA_XDP: u16 = 43;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
/// `IFLA_EXT_MASK` with `RTEXT_FILTER_SKIP_STATS`: the answer without the counters.
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// Attribute type bits that are flags, not the type.
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTA_HDRLEN: usize = 4;

/// Which XDP slot of the interface runs `prog_id`.
fn xdp_mode(ifindex: u32, prog_id: u32) -> Result<XdpMode> {
    let ids = xdp_prog_ids(ifindex)?;
    Ok(mode_of(&ids, prog_id))
}

/// Program IDs in the driver, generic and offload slots (0: none).
#[derive(Debug, Default, PartialEq, Eq)]
struct XdpIds {
    driver: u32,
    generic: u32,
    offload: u32,
}

fn mode_of(ids: &XdpIds, prog_id: u32) -> XdpMode {
    match prog_id {
        0 => XdpMode::Unknown,
        p if p == ids.driver => XdpMode::Driver,
        p if p == ids.generic => XdpMode::Generic,
        p if p == ids.offload => XdpMode::Offload,
        _ => XdpMode::Unknown,
    }
}

fn xdp_prog_ids(ifindex: u32) -> Result<XdpIds> {
    let sock = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if sock < 0 {
        return Err(std::io::Error::last_os_error()).context("opening a netlink socket");
    }
    // SAFETY: just created.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let req = getlink_request(ifindex);
    let sent = unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(std::io::Error::last_os_error()).context("sending RTM_GETLINK");
    }
    let mut buf = vec![0u8; 64 * 1024];
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("reading RTM_GETLINK's answer");
    }
    parse_getlink(&buf[..n as usize])
}

fn getlink_request(ifindex: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + IFINFOMSG_LEN + RTA_HDRLEN + 4;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
                                              // struct ifinfomsg { u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change }
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&((RTA_HDRLEN + 4) as u16).to_ne_bytes());
    m.extend_from_slice(&IFLA_EXT_MASK.to_ne_bytes());
    m.extend_from_slice(&RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
    m
}

/// The attributes in `b`: (type, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> + '_ {
    std::iter::from_fn(move || {
        if b.len() < RTA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < RTA_HDRLEN || len > b.len() {
            return None;
        }
        let payload = &b[RTA_HDRLEN..len];
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

fn parse_getlink(msg: &[u8]) -> Result<XdpIds> {
    if msg.len() < NLMSG_HDRLEN {
        bail!("short netlink answer");
    }
    let len = (u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize).min(msg.len());
    let ty = u16::from_ne_bytes([msg[4], msg[5]]);
    if ty == libc::NLMSG_ERROR as u16 {
        let errno = msg
            .get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
            .map(|e| i32::from_ne_bytes(e.try_into().unwrap()))
            .unwrap_or(0);
        return Err(std::io::Error::from_raw_os_error(-errno)).context("RTM_GETLINK");
    }
    if ty != libc::RTM_NEWLINK {
        bail!("unexpected netlink message type {ty}");
    }
    let mut ids = XdpIds::default();
    let body = msg.get(NLMSG_HDRLEN + IFINFOMSG_LEN..len).unwrap_or(&[]);
    for (t, payload) in attrs(body) {
        if t != IFLA_XDP {
            continue;
        }
        for (t, v) in attrs(payload) {
            let Ok(v) = <[u8; 4]>::try_from(v).map(u32::from_ne_bytes) else {
                continue;
            };
            match t {
                IFLA_XDP_DRV_PROG_ID => ids.driver = v,
                IFLA_XDP_SKB_PROG_ID => ids.generic = v,
                IFLA_XDP_HW_PROG_ID => ids.offload = v,
                _ => {}
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = ((RTA_HDRLEN + payload.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(payload);
        while !a.len().is_multiple_of(4) {
            a.push(0);
        }
        a
    }

    fn newlink(attrs: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = attrs.concat();
        let len = NLMSG_HDRLEN + IFINFOMSG_LEN + body.len();
        let mut m = (len as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0; IFINFOMSG_LEN]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn xdp_slots_are_read_from_the_nested_attribute() {
        // IFLA_IFNAME "eth4" (odd length: padded), then IFLA_XDP (nested flag set) with
        // IFLA_XDP_ATTACHED (a u8: skipped) and the generic slot's program.
        let xdp = [
            attr(2, &[2]),
            attr(IFLA_XDP_SKB_PROG_ID, &42u32.to_ne_bytes()),
        ]
        .concat();
        let m = newlink(&[attr(3, b"eth4\0"), attr(IFLA_XDP | 0x8000, &xdp)]);
        let ids = parse_getlink(&m).unwrap();
        assert_eq!(
            ids,
            XdpIds {
                generic: 42,
                ..XdpIds::default()
            }
        );
        assert_eq!(mode_of(&ids, 42), XdpMode::Generic);
        assert_eq!(mode_of(&ids, 43), XdpMode::Unknown);
        assert_eq!(mode_of(&ids, 0), XdpMode::Unknown, "0 is no program");
        let both = XdpIds {
            driver: 7,
            generic: 9,
            offload: 0,
        };
        assert_eq!(mode_of(&both, 7), XdpMode::Driver);
    }

    #[test]
    fn an_interface_name_counts_only_when_the_pin_is_named_after_it() {
        assert!(named_after("link-eth6", "eth6"));
        assert!(named_after("tcx-eth4", "eth4"));
        assert!(!named_after("link-eth6", "th6"));
        assert!(
            !named_after("link-eth6", "ifb0"),
            "the index is another namespace's"
        );
    }

    #[test]
    fn a_netlink_error_is_an_error() {
        let mut m = ((NLMSG_HDRLEN + 4) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&(-libc::ENODEV).to_ne_bytes());
        let e = format!("{:#}", parse_getlink(&m).unwrap_err());
        assert!(e.contains("RTM_GETLINK"), "{e}");
    }

    #[test]
    fn a_missing_pin_is_an_error_naming_it() {
        let e = describe(Path::new("/nonexistent/link-eth0")).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/link-eth0"), "{e:#}");
    }
}
