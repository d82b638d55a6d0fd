//! The two hooks one translation runs at: XDP (a frame in the driver's buffer, before
//! any skb exists) and TC ingress (the skb the kernel built). Everything above this
//! module is written once, generic over [`Hook`]; only what the two program types do
//! differently lives here: how the frame grows or shrinks, how a transport checksum is
//! updated, how the packet is forwarded when its next hop's MAC is unknown.
//!
//! Why TC at all: on veth and other virtual devices the skb already exists (XDP there
//! copies it), senders leave CHECKSUM_PARTIAL and GSO packets that XDP cannot tell from
//! complete ones, and XDP_REDIRECT into a veth bypasses the qdisc (a full ring drops).
//! The kernel's skb helpers handle all three.
use aya_ebpf::{
    bindings::{
        bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO, BPF_F_MARK_MANGLED_0,
        BPF_F_PSEUDO_HDR,
    },
    helpers::{
        bpf_l4_csum_replace, bpf_loop, bpf_skb_adjust_room, bpf_skb_change_proto,
        bpf_skb_change_tail, bpf_skb_load_bytes, bpf_skb_pull_data, bpf_xdp_adjust_head,
        bpf_xdp_adjust_tail, bpf_xdp_load_bytes,
    },
    programs::{TcContext, XdpContext},
    EbpfContext,
};
use nat64_common::csum;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86DD;
/// IPv6 header length minus IPv4 header length: what `bpf_skb_change_proto` adds or
/// removes right behind the Ethernet header.
const CHANGE_PROTO_DELTA: i32 = 20;
/// Bytes made linear (directly readable) of a GSO skb: every header the data plane reads
/// (Ethernet, IPv6 with `parse::MAX_L3_OFFSET` of extension headers, TCP with options).
const GSO_PULL: u32 = 320;
/// A non-GSO skb up to this length is made linear whole: checksums computed in full
/// (`sum`) and ICMP errors read the payload directly.
const LINEAR_MAX: u32 = 1600;

/// Which family the packet has once resized (the Ethernet type `resize` switches to).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Unchanged (an ICMP error the gateway originates about a packet of that family).
    Same,
    V4,
    V6,
}

pub trait Hook: Sized + EbpfContext {
    /// The skb hook (TC); XDP otherwise.
    const TC: bool;
    /// Runs `sum`'s `bpf_loop` with this context type's callback. The callback is named
    /// here, not passed as a generic function or a constant: for those the object's
    /// callback address reaches aya without the BTF func_info the kernel demands.
    fn sum_loop(n: u32, cb_ctx: *mut core::ffi::c_void) -> i64;
    #[inline(always)]
    fn is_tc(&self) -> bool {
        Self::TC
    }
    fn data(&self) -> usize;
    fn data_end(&self) -> usize;
    /// Packet length: the frame (XDP), the whole skb including its paged part (TC).
    fn len(&self) -> usize;
    /// One volatile load of the context (see `parse::pin`).
    fn pin(&self);
    fn raw(&self) -> *mut core::ffi::c_void;
    /// The context for `raw` (a `bpf_loop` callback gets its own copy).
    fn from_raw(raw: *mut core::ffi::c_void) -> Self;
    fn ingress_ifindex(&self) -> u32;
    /// Removes `delta` bytes in front of the network header (adds `-delta` when negative)
    /// and makes the packet of family `to`. The bytes behind the removed (or added) ones
    /// keep their offset from the end of the frame: the Ethernet header is rewritten after
    /// every resize, so XDP moving the frame start and TC removing bytes behind the MAC
    /// header leave the same layout. Invalidates every packet pointer.
    fn resize(&self, delta: i32, to: Family) -> Result<(), ()>;
    /// Cuts the packet to `len` bytes (only ever shortens).
    fn truncate(&self, len: usize) -> Result<(), ()>;
    /// Copies `len` bytes from `off` (paged data included) to `dst`.
    fn load_bytes(&self, off: u32, dst: *mut core::ffi::c_void, len: u32) -> i64;
    /// A GSO packet (TSO/GRO): several packets' worth behind one header; its segments are
    /// cut to size on egress, so its total length says nothing about the MTU.
    fn gso(&self) -> bool;
    /// A GSO packet's segment size (its payload per segment); 0 otherwise.
    fn gso_size(&self) -> u32;
    /// Updates the transport checksum at `csum_off` of the packet's own (outer) transport
    /// header: the pseudo-header fields summing to `pseudo.0` became fields summing to
    /// `pseudo.1`, and fields the checksum covers changed from `covered.0` to `covered.1`
    /// (already written). `udp`: a result of 0 is sent as 0xffff, and a 0 (no checksum)
    /// stays 0. Invalidates every packet pointer.
    fn l4_csum(
        &self,
        csum_off: usize,
        pseudo: (u32, u32),
        covered: (u32, u32),
        udp: bool,
    ) -> Result<(), ()>;
}

impl Hook for XdpContext {
    const TC: bool = false;
    #[inline(always)]
    fn sum_loop(n: u32, cb_ctx: *mut core::ffi::c_void) -> i64 {
        unsafe { bpf_loop(n, crate::sum::step_xdp as *mut core::ffi::c_void, cb_ctx, 0) }
    }
    #[inline(always)]
    fn data(&self) -> usize {
        XdpContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        XdpContext::data_end(self)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        XdpContext::data_end(self) - XdpContext::data(self)
    }
    #[inline(always)]
    fn pin(&self) {
        unsafe { core::ptr::read_volatile(&(*self.ctx).data) };
    }
    #[inline(always)]
    fn raw(&self) -> *mut core::ffi::c_void {
        self.as_ptr()
    }
    #[inline(always)]
    fn from_raw(raw: *mut core::ffi::c_void) -> Self {
        XdpContext::new(raw as *mut _)
    }
    #[inline(always)]
    fn ingress_ifindex(&self) -> u32 {
        XdpContext::ingress_ifindex(self) as u32
    }
    #[inline(always)]
    fn resize(&self, delta: i32, _to: Family) -> Result<(), ()> {
        match unsafe { bpf_xdp_adjust_head(self.ctx, delta) } {
            0 => Ok(()),
            _ => Err(()),
        }
    }
    #[inline(always)]
    fn truncate(&self, len: usize) -> Result<(), ()> {
        let cur = Hook::len(self);
        if cur > len && unsafe { bpf_xdp_adjust_tail(self.ctx, -((cur - len) as i32)) } != 0 {
            return Err(());
        }
        Ok(())
    }
    #[inline(always)]
    fn load_bytes(&self, off: u32, dst: *mut core::ffi::c_void, len: u32) -> i64 {
        unsafe { bpf_xdp_load_bytes(self.ctx, off, dst, len) }
    }
    #[inline(always)]
    fn gso(&self) -> bool {
        false
    }
    #[inline(always)]
    fn gso_size(&self) -> u32 {
        0
    }
    #[inline(always)]
    fn l4_csum(
        &self,
        _csum_off: usize,
        _pseudo: (u32, u32),
        _covered: (u32, u32),
        _udp: bool,
    ) -> Result<(), ()> {
        // XDP frames are complete: `l4::rewrite` updates the field in place.
        Ok(())
    }
}

impl Hook for TcContext {
    const TC: bool = true;
    #[inline(always)]
    fn sum_loop(n: u32, cb_ctx: *mut core::ffi::c_void) -> i64 {
        unsafe { bpf_loop(n, crate::sum::step_tc as *mut core::ffi::c_void, cb_ctx, 0) }
    }
    #[inline(always)]
    fn data(&self) -> usize {
        TcContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        TcContext::data_end(self)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        TcContext::len(self) as usize
    }
    #[inline(always)]
    fn pin(&self) {
        unsafe { core::ptr::read_volatile(&(*self.skb.skb).data) };
    }
    #[inline(always)]
    fn raw(&self) -> *mut core::ffi::c_void {
        self.as_ptr()
    }
    #[inline(always)]
    fn from_raw(raw: *mut core::ffi::c_void) -> Self {
        TcContext::new(raw as *mut _)
    }
    #[inline(always)]
    fn ingress_ifindex(&self) -> u32 {
        // At TC ingress the device the skb is on is the one it came in by (skb_iif is
        // not set for BPF_PROG_TEST_RUN's skbs, ifindex is).
        unsafe { (*self.skb.skb).ifindex }
    }
    #[inline(always)]
    fn resize(&self, delta: i32, to: Family) -> Result<(), ()> {
        let skb = self.skb.skb;
        // bpf_skb_change_proto moves 20 bytes behind the MAC header and, for a GSO
        // packet, turns TCPv4 segmentation into TCPv6 (or back); the rest of the change
        // is room removed (or added) at the same place, the segment size kept.
        let rest = match to {
            Family::Same => delta,
            Family::V4 => {
                if unsafe { bpf_skb_change_proto(skb, ETH_P_IP.to_be(), 0) } != 0 {
                    return Err(());
                }
                delta - CHANGE_PROTO_DELTA
            }
            Family::V6 => {
                if unsafe { bpf_skb_change_proto(skb, ETH_P_IPV6.to_be(), 0) } != 0 {
                    return Err(());
                }
                delta + CHANGE_PROTO_DELTA
            }
        };
        if rest != 0
            && unsafe {
                bpf_skb_adjust_room(
                    skb,
                    -rest,
                    BPF_ADJ_ROOM_MAC,
                    u64::from(BPF_F_ADJ_ROOM_FIXED_GSO),
                )
            } != 0
        {
            return Err(());
        }
        Ok(())
    }
    #[inline(always)]
    fn truncate(&self, len: usize) -> Result<(), ()> {
        if Hook::len(self) > len && unsafe { bpf_skb_change_tail(self.skb.skb, len as u32, 0) } != 0
        {
            return Err(());
        }
        Ok(())
    }
    #[inline(always)]
    fn load_bytes(&self, off: u32, dst: *mut core::ffi::c_void, len: u32) -> i64 {
        unsafe { bpf_skb_load_bytes(self.skb.skb as *const _, off, dst, len) }
    }
    #[inline(always)]
    fn gso(&self) -> bool {
        unsafe { (*self.skb.skb).gso_size != 0 }
    }
    #[inline(always)]
    fn gso_size(&self) -> u32 {
        unsafe { (*self.skb.skb).gso_size }
    }
    #[inline(always)]
    fn l4_csum(
        &self,
        csum_off: usize,
        pseudo: (u32, u32),
        covered: (u32, u32),
        udp: bool,
    ) -> Result<(), ()> {
        // The kernel's helper knows the skb's checksum state: a CHECKSUM_PARTIAL field
        // holds only the pseudo-header sum (the sender's NIC, or the kernel on egress,
        // adds the rest), so it takes the pseudo-header change only; a complete one takes
        // both; CHECKSUM_COMPLETE's packet sum follows.
        let mangled = if udp {
            u64::from(BPF_F_MARK_MANGLED_0)
        } else {
            0
        };
        // Two plain calls, no loop over an array: the call chain's 512-byte stack.
        if pseudo.0 != pseudo.1
            && csum_replace(
                self,
                csum_off,
                wsum_diff(pseudo.0, pseudo.1),
                u64::from(BPF_F_PSEUDO_HDR) | mangled,
            ) != 0
        {
            return Err(());
        }
        if covered.0 != covered.1
            && csum_replace(self, csum_off, wsum_diff(covered.0, covered.1), mangled) != 0
        {
            return Err(());
        }
        Ok(())
    }
}

#[inline(always)]
fn csum_replace(ctx: &TcContext, csum_off: usize, diff: u32, flags: u64) -> i64 {
    unsafe { bpf_l4_csum_replace(ctx.skb.skb, csum_off as u32, 0, u64::from(diff), flags) }
}

/// `add - remove` as the kernel's 32-bit one's-complement `__wsum`. Our sums are of
/// big-endian 16-bit words; the kernel sums the bytes as they lie in memory, which on
/// this little-endian target is the same sum byte-swapped.
#[inline(always)]
fn wsum_diff(remove: u32, add: u32) -> u32 {
    let r = csum::fold(remove);
    let a = csum::fold(add);
    let d = csum::fold(u32::from(a) + u32::from(!r));
    u32::from(d.swap_bytes())
}

/// Makes the headers (all of a packet up to `LINEAR_MAX` bytes) directly readable: the
/// data plane reads packets through `data`..`data_end`, which in an skb covers only its
/// linear part. Called once on entry to the TC program.
#[inline(always)]
pub fn pull(ctx: &TcContext) {
    let len = ctx.len();
    let want = if Hook::gso(ctx) || len > LINEAR_MAX {
        len.min(GSO_PULL)
    } else {
        len
    };
    if ctx.data_end() - ctx.data() < want as usize {
        // On failure the reads past the linear part fail and count as truncated.
        let _ = unsafe { bpf_skb_pull_data(ctx.skb.skb, want) };
    }
}
