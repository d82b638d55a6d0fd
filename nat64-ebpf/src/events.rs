//! The session log's source (`nat64-ctl attach --session-log`): a record on a ring buffer
//! for every session and dynamic binding the data plane creates and the sweep deletes. Only when the log is on
//! (`CONFIG_F_SESSION_EVENTS`); a full ring buffer loses the record and counts it, the
//! packet never waits.
use aya_ebpf::{macros::map, maps::RingBuf};
use nat64_common::{
    maps::{
        Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, SessionEvent, SessionKey, CONFIG_F_SESSION_EVENTS,
        EVENT_BIB_CREATED, EVENT_BIB_DELETED, EVENT_BLOCK_ASSIGNED, EVENT_BLOCK_RELEASED,
        EVENT_SESSION_CREATED, EVENT_SESSION_DELETED,
    },
    Counter,
};

use crate::{maps::CONFIG, stats};

/// 1 MiB: some 26,000 records, a burst of new flows nat64-ctl drains within milliseconds.
#[map(name = "NAT64_EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

#[inline(always)]
fn enabled() -> bool {
    CONFIG
        .get(0)
        .is_some_and(|c| c.flags & CONFIG_F_SESSION_EVENTS != 0)
}

/// Writes the record in the ring buffer's own memory: nothing of it on the stack.
#[inline(always)]
fn emit(fill: impl FnOnce(&mut SessionEvent)) {
    let Some(mut entry) = EVENTS.reserve::<SessionEvent>(0) else {
        stats::count(Counter::EventsLost);
        return;
    };
    // SAFETY: the reservation is sizeof(SessionEvent) bytes; every field is written below
    // before the record is submitted.
    let ev = unsafe { &mut *entry.as_mut_ptr() };
    fill(ev);
    entry.submit(0);
}

#[inline(never)]
pub fn session_created(key: &SessionKey, now: u64) {
    if !enabled() {
        return;
    }
    emit(|ev| {
        ev.time_ns = now;
        ev.addr6 = [0; 16];
        ev.port6 = 0;
        ev.port4 = key.port4;
        ev.remote_port = key.remote_port;
        ev.proto = key.proto;
        ev.kind = EVENT_SESSION_CREATED;
        ev.addr4 = key.addr4;
        ev.remote4 = key.remote4;
    });
}

#[inline(never)]
pub fn binding_created(key: &Bib6Key, entry: &Bib6Entry) {
    if !enabled() {
        return;
    }
    let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    emit(|ev| {
        ev.time_ns = now;
        ev.addr6 = key.addr6;
        ev.port6 = key.port6;
        ev.port4 = entry.port4;
        ev.remote_port = 0;
        ev.proto = key.proto;
        ev.kind = EVENT_BIB_CREATED;
        ev.addr4 = entry.addr4;
        ev.remote4 = [0; 4];
    });
}

/// The sweep deleted an expired session; `binding` (if it still exists) names its IPv6 end,
/// which the log could no longer look up once the binding goes too. Written out beside
/// `session_created` rather than through a shared helper: with one, the data plane's
/// `session_created` frame grew and the XDP call chain passed 512 bytes of stack.
#[inline(never)]
pub fn session_deleted(key: &SessionKey, binding: Option<&Bib4Entry>, now: u64) {
    if !enabled() {
        return;
    }
    let (addr6, port6) = binding.map_or(([0; 16], 0), |b| (b.addr6, b.port6));
    emit(|ev| {
        ev.time_ns = now;
        ev.addr6 = addr6;
        ev.port6 = port6;
        ev.port4 = key.port4;
        ev.remote_port = key.remote_port;
        ev.proto = key.proto;
        ev.kind = EVENT_SESSION_DELETED;
        ev.addr4 = key.addr4;
        ev.remote4 = key.remote4;
    });
}

/// The sweep deleted a dynamic binding.
#[inline(never)]
pub fn binding_deleted(key: &Bib4Key, entry: &Bib4Entry, now: u64) {
    if !enabled() {
        return;
    }
    emit(|ev| {
        ev.time_ns = now;
        ev.addr6 = entry.addr6;
        ev.port6 = entry.port6;
        ev.port4 = key.port4;
        ev.remote_port = 0;
        ev.proto = key.proto;
        ev.kind = EVENT_BIB_DELETED;
        ev.addr4 = key.addr4;
        ev.remote4 = [0; 4];
    });
}

/// A subscriber took a free port block (`assigned`) or the sweep gave its block back.
#[inline(always)]
fn block_event(kind: u8, prefix: &[u8; 16], prefix_len: u8, block: u32, now: u64) {
    if !enabled() {
        return;
    }
    emit(|ev| {
        ev.time_ns = now;
        ev.addr6 = *prefix;
        ev.port6 = prefix_len.into();
        ev.port4 = 0;
        ev.remote_port = 0;
        ev.proto = 0;
        ev.kind = kind;
        ev.addr4 = [0; 4];
        ev.remote4 = block.to_be_bytes();
    });
}

#[inline(always)]
pub fn block_assigned(prefix: &[u8; 16], prefix_len: u8, block: u32, now: u64) {
    block_event(EVENT_BLOCK_ASSIGNED, prefix, prefix_len, block, now);
}

#[inline(always)]
pub fn block_released(prefix: &[u8; 16], prefix_len: u8, block: u32, now: u64) {
    block_event(EVENT_BLOCK_RELEASED, prefix, prefix_len, block, now);
}
