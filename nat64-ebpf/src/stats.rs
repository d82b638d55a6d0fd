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

/// One packet of `len` bytes: `counter` and the byte counter in the next slot (every
/// counter passed here has one: `Counter::bytes_twin`, tested in nat64-common). Two
/// per-CPU slot adds, no atomics: cheap enough for every translated packet.
#[inline(always)]
pub fn count_bytes(counter: Counter, len: usize) {
    count(counter);
    if let Some(slot) = STATS.get_ptr_mut(counter.index() + 1) {
        unsafe { *slot += len as u64 };
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
