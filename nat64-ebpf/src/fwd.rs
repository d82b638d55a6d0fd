//! Forwarding a translated packet: FIB lookup, then a redirect with the next hop's MACs
//! when route and neighbour are known. An unresolved neighbour: XDP hands the packet to
//! the kernel (XDP_PASS), which resolves it; TC redirects it through the kernel's
//! neighbour layer (`bpf_redirect_neigh`), which resolves it and queues the packet
//! meanwhile, without the packet passing the input route's martian check (its source may
//! be the gateway's own address).
//!
//! The one TTL/hop-limit decrement of the path is done by whoever forwards: us on
//! redirect, the kernel on pass. Callers therefore ask `lookup_*` first and decrement only
//! on `Next::Redirect`.
use aya_ebpf::{
    bindings::{bpf_fib_lookup as FibParams, xdp_action},
    helpers::{bpf_fib_lookup, bpf_redirect, bpf_redirect_neigh},
    macros::map,
    maps::PerCpuArray,
};
use nat64_common::{xlat, Counter};

use crate::{
    hook::Hook,
    l4::Kind,
    parse::{opaque, view},
    stats,
};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const BPF_FIB_LKUP_RET_SUCCESS: i64 = 0;
const BPF_FIB_LKUP_RET_FWD_DISABLED: i64 = 5;
const BPF_FIB_LKUP_RET_NO_NEIGH: i64 = 7;
const LOOPBACK_IFINDEX: u32 = 1;
const BPF_FIB_LKUP_RET_FRAG_NEEDED: i64 = 8;

pub enum Next {
    Redirect {
        ifindex: u32,
        smac: [u8; 6],
        dmac: [u8; 6],
        /// MTU of the route toward the next hop.
        mtu: u16,
    },
    /// TC: the next hop's MAC is not known; the kernel's neighbour layer resolves it.
    RedirectNeigh {
        ifindex: u32,
    },
    Pass,
    /// The slow path sends it (nat64-ctl, through the kernel's routing): we forward, so we
    /// decrement; the Ethernet header is not used.
    Slow,
    /// The packet (of the `tot_len` the lookup was given) exceeds the egress MTU `mtu`:
    /// the caller answers with a Packet Too Big / Fragmentation Needed, or calls
    /// [`Next::fragment_by_kernel`].
    TooBig {
        mtu: u16,
    },
}

impl Next {
    /// MTU toward the next hop, `u32::MAX` when the kernel takes the packet (unknown).
    #[inline(always)]
    pub fn egress_mtu(&self) -> u32 {
        match self {
            Next::Redirect { mtu, .. } | Next::TooBig { mtu } => u32::from(*mtu),
            Next::RedirectNeigh { .. } | Next::Pass | Next::Slow => u32::MAX,
        }
    }

    #[inline(always)]
    pub fn decrements(&self) -> bool {
        matches!(
            self,
            Next::Redirect { .. } | Next::RedirectNeigh { .. } | Next::Slow
        )
    }

    /// Ethernet header for the translated packet: the next hop's addresses on redirect,
    /// the received ones (`old`: destination, source) when the kernel takes over.
    #[inline(always)]
    pub fn eth_header(&self, old: &[u8; 12], ethertype: [u8; 2]) -> [u8; 14] {
        let mut eth = [0u8; 14];
        match self {
            Next::Redirect { smac, dmac, .. } => {
                eth[..6].copy_from_slice(dmac);
                eth[6..12].copy_from_slice(smac);
            }
            // The neighbour layer writes the addresses of RedirectNeigh.
            Next::RedirectNeigh { .. } | Next::Pass | Next::Slow | Next::TooBig { .. } => {
                eth[..12].copy_from_slice(old)
            }
        }
        eth[12] = ethertype[0];
        eth[13] = ethertype[1];
        eth
    }

    /// Final verdict (in XDP's numbering, which the TC entry maps); counts how the
    /// packet left.
    #[inline(always)]
    pub fn action(&self) -> u32 {
        match self {
            Next::Redirect { ifindex, .. } => {
                stats::count(Counter::FwdRedirect);
                // Flags 0: the helper cannot fail; its return value is the hook's own
                // redirect code.
                unsafe { bpf_redirect(*ifindex, 0) };
                xdp_action::XDP_REDIRECT
            }
            Next::RedirectNeigh { ifindex } => {
                stats::count(Counter::FwdRedirectNeighbour);
                unsafe { bpf_redirect_neigh(*ifindex, core::ptr::null_mut(), 0, 0) };
                xdp_action::XDP_REDIRECT
            }
            Next::Pass | Next::TooBig { .. } => xdp_action::XDP_PASS,
            Next::Slow => xdp_action::XDP_DROP,
        }
    }

    /// An oversized packet that may be fragmented (IPv4, DF=0) goes to the kernel, which
    /// fragments it on forwarding. (In place: moving the enum would copy the bytes the
    /// variant leaves undefined, which the verifier refuses.)
    #[inline(always)]
    pub fn fragment_by_kernel(&mut self) {
        if let Next::TooBig { .. } = self {
            stats::count(Counter::FwdPassFragment);
            *self = Next::Pass;
        }
    }
}

/// The length of each packet a GSO packet (TC: TSO, GRO, UDP GSO) becomes on egress: the
/// translated IP header (`l3_len`) plus the transport header at `l4_off` (TCP's data
/// offset; UDP's 8 bytes) plus the segment size. `None` for a packet that is not GSO (its
/// own length is what leaves). What the lookups hold against the route's MTU: a segment
/// too big is answered as a whole packet too big would be (Packet Too Big / Fragmentation
/// Needed, from the packet as received).
#[inline(always)]
pub fn segment_len(ctx: &impl Hook, l4_off: usize, l3_len: u32, kind: Kind) -> Option<u32> {
    if !ctx.gso() {
        return None;
    }
    let l4_len = match kind {
        // The whole header in one view at a masked offset (see l4.rs: an offset computed
        // into the read escapes the verifier's range tracking).
        Kind::Tcp => {
            let h = view::<[u8; 20]>(ctx, opaque(l4_off & 0x1ff))?;
            u32::from(h[xlat::TCP_DOFF_BYTE] >> 4) * 4
        }
        _ => 8,
    };
    Some(l3_len + l4_len + ctx.gso_size())
}

/// The lookup parameters live in a per-CPU map slot, not on the 512-byte BPF stack, which
/// the translation paths already fill.
#[map(name = "NAT64_FIB_SCRATCH")]
static FIB_SCRATCH: PerCpuArray<FibParams> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn params(ctx: &impl Hook, family: u8, proto: u8, tot_len: u16) -> Option<&'static mut FibParams> {
    let p = unsafe { &mut *FIB_SCRATCH.get_ptr_mut(0)? };
    *p = unsafe { core::mem::zeroed() };
    p.family = family;
    p.l4_protocol = proto;
    // The length of each packet that leaves: for a GSO packet one segment's
    // (`segment_len`), which the kernel holds against the route's MTU (a locked route
    // MTU, a path MTU learnt from a Packet Too Big) as it does a whole packet's. Left 0,
    // the kernel would check the skb against its egress device's MTU only.
    p.__bindgen_anon_1.tot_len = tot_len;
    p.ifindex = ctx.ingress_ifindex() as u32;
    Some(p)
}

#[inline(always)]
fn finish(ctx: &impl Hook, p: Option<&mut FibParams>) -> Next {
    let Some(p) = p else { return Next::Pass };
    let lookup = |p: &mut FibParams| unsafe {
        bpf_fib_lookup(
            ctx.raw(),
            p as *mut FibParams,
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    let mut rc = lookup(p);
    if rc == BPF_FIB_LKUP_RET_FWD_DISABLED {
        // The lookup stands in for the ingress interface, which may not have the other
        // family at all: an IPv4 link with an MTU below 1280 has no IPv6 (the kernel
        // removes it). The translator is the packet's ingress into that family: look up
        // as if it came in on the loopback (checked before anything is written).
        p.ifindex = LOOPBACK_IFINDEX;
        rc = lookup(p);
    }
    match rc {
        BPF_FIB_LKUP_RET_SUCCESS => Next::Redirect {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
            mtu: unsafe { p.__bindgen_anon_1.mtu_result },
        },
        // Checked before the neighbour: the route's MTU is smaller than tot_len.
        BPF_FIB_LKUP_RET_FRAG_NEEDED => Next::TooBig {
            mtu: unsafe { p.__bindgen_anon_1.mtu_result },
        },
        BPF_FIB_LKUP_RET_NO_NEIGH if ctx.is_tc() => Next::RedirectNeigh { ifindex: p.ifindex },
        BPF_FIB_LKUP_RET_NO_NEIGH => {
            stats::count(Counter::FwdPassNoNeighbour);
            Next::Pass
        }
        _ => {
            // No route, forwarding disabled, blackhole…: the kernel knows what to answer.
            stats::count(Counter::FwdPassNoRoute);
            Next::Pass
        }
    }
}

#[inline(always)]
pub fn lookup_v4(
    ctx: &impl Hook,
    src: [u8; 4],
    dst: [u8; 4],
    tos: u8,
    proto: u8,
    tot_len: u16,
) -> Next {
    let mut p = params(ctx, AF_INET, proto, tot_len);
    if let Some(p) = p.as_deref_mut() {
        p.__bindgen_anon_2.tos = tos;
        p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
        p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
    }
    finish(ctx, p)
}

#[inline(always)]
pub fn lookup_v6(ctx: &impl Hook, src: &[u8; 16], dst: &[u8; 16], proto: u8, tot_len: u16) -> Next {
    let mut p = params(ctx, AF_INET6, proto, tot_len);
    if let Some(p) = p.as_deref_mut() {
        p.__bindgen_anon_3.ipv6_src = words(src);
        p.__bindgen_anon_4.ipv6_dst = words(dst);
    }
    finish(ctx, p)
}

#[inline(always)]
fn words(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}
