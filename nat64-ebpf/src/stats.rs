//! The per-CPU counter array shared with nat64-ctl.
use aya_ebpf::{bindings::xdp_action, macros::map, maps::PerCpuArray};
use nat64_common::Counter;

#[map(name = "NAT64_STATS")]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = STATS.get_ptr_mut(counter.index()) {
        // Per-CPU slot: no other CPU writes it, a plain add is enough.
        unsafe { *slot += 1 };
    }
}

#[inline(always)]
pub fn count_verdict(action: u32) {
    count(match action {
        xdp_action::XDP_PASS => Counter::VerdictPass,
        xdp_action::XDP_DROP => Counter::VerdictDrop,
        xdp_action::XDP_TX => Counter::VerdictTx,
        xdp_action::XDP_REDIRECT => Counter::VerdictRedirect,
        _ => Counter::VerdictAborted,
    });
}
