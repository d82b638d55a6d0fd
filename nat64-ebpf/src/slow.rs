//! The slow path's queue. XDP turns one packet into one packet; what needs more (an IPv4
//! packet with DF=0 that must become several IPv6 fragments) or must wait (an IPv4 SYN
//! held for a simultaneous open) is copied whole onto a ring buffer that nat64-ctl drains,
//! and the original is dropped here. Only while nat64-ctl says it reads the ring
//! (`CONFIG_F_SLOW_PATH`): a ring nobody drains would only lose packets later.
use aya_ebpf::{
    bindings::{xdp_action, BPF_RB_AVAIL_DATA},
    macros::map,
    maps::RingBuf,
};
use nat64_common::{
    maps::{GatewayConfig, SlowPathRecord, CONFIG_F_SLOW_PATH, SLOW_FRAME_MAX},
    tcp, Counter,
};

use crate::{
    hook::Hook,
    parse::{frame_len, opaque},
};

/// 16 MiB: some 1,800 records of the largest size, many more of typical ones… records
/// are fixed-size for the verifier, so 1,800 packets queued at once is the bound.
#[map(name = "NAT64_SLOW")]
static SLOW: RingBuf = RingBuf::with_byte_size(16 << 20, 0);

/// Half the ring waiting unread: nat64-ctl is gone (killed before it could clear the
/// flag) or far behind. Queue no more; the packets take the no-slow-path way meanwhile.
const BACKLOG_MAX: u64 = 8 << 20;

#[inline(always)]
pub fn enabled(cfg: &GatewayConfig) -> bool {
    cfg.flags & CONFIG_F_SLOW_PATH != 0 && SLOW.query(u64::from(BPF_RB_AVAIL_DATA)) < BACKLOG_MAX
}

/// Whether an unsolicited TCP segment is held for a simultaneous open (RFC 6146
/// §3.5.2.2, and §3.8 for a hairpinned one) rather than dropped: a whole SYN (no ACK, no
/// RST) while nat64-ctl drains the queue. The one rule both directions use.
#[inline(always)]
pub fn may_hold(tcp: bool, tcp_flags: u8, whole: bool) -> bool {
    let syn_only = tcp_flags & (tcp::SYN | tcp::ACK | tcp::RST) == tcp::SYN;
    tcp && syn_only && whole && crate::maps::config().is_some_and(enabled)
}

/// Queues the frame as it is now (`kind`: `SLOW_KIND_*`) and returns XDP_DROP for the
/// original; the caller counts what it queued.
#[inline(never)]
pub fn punt(ctx: &impl Hook, kind: u32, mtu: u32, ident: u32) -> Result<u32, Counter> {
    crate::parse::pin(ctx);
    let len = opaque(frame_len(ctx));
    if len > SLOW_FRAME_MAX {
        return Err(Counter::DropSlowPathTooBig);
    }
    if len == 0 {
        return Err(Counter::DropTruncatedEth);
    }
    let Some(mut entry) = SLOW.reserve::<SlowPathRecord>(0) else {
        return Err(Counter::DropSlowPathFull);
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: the reservation is one SlowPathRecord; the header is written in full, and
    // the kernel copies `len ≤ SLOW_FRAME_MAX` bytes of frame after it.
    let rc = unsafe {
        (*rec).header.kind = kind;
        (*rec).header.len = len as u32;
        (*rec).header.mtu = mtu;
        (*rec).header.ident = ident;
        (*rec).header.time_ns = aya_ebpf::helpers::bpf_ktime_get_ns();
        ctx.load_bytes(
            0,
            (*rec).frame.as_mut_ptr() as *mut core::ffi::c_void,
            len as u32,
        )
    };
    if rc != 0 {
        entry.discard(0);
        return Err(Counter::DropInternal);
    }
    entry.submit(0);
    Ok(xdp_action::XDP_DROP)
}
