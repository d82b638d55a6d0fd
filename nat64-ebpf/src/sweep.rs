//! Session expiry in the kernel: one program, `nat64_sweep`, that nat64-ctl runs once a
//! pass with BPF_PROG_TEST_RUN. It walks the session table, then the IPv4-side BIB, then
//! (with port blocks on first use) the subscribers' blocks with `bpf_for_each_map_elem`,
//! deleting in place what has expired (sessions; peer records, dynamic bindings and port
//! blocks no live flow needs) and counting the rest for the census. The rules are
//! `nat64_common::sweep` and `timeouts::expired`.
//!
//! nat64-ctl loads it as a sleepable BPF_PROG_TYPE_SYSCALL program (aya 0.14 cannot, so it
//! sits in an `xdp` section that aya parses but nat64-ctl loads itself): a test run of that
//! type runs in process context, preemptible and with bottom halves on, so the data plane
//! on the same CPU never waits for a walk over millions of sessions. The pass's input and
//! totals are its context (`SweepState`), copied in and back out by the kernel.
use core::ffi::c_void;

use aya_ebpf::{
    helpers::bpf_for_each_map_elem,
    macros::map,
    maps::{HashMap, LruHashMap},
};
use nat64_common::{
    maps::{
        pool4_proto_index, Bib4Entry, Bib4Key, SessionEntry, SessionKey, SubscriberBlock,
        BIB_F_STATIC, SESSION_KIND_FLOW, SESSION_KIND_PEER,
    },
    sweep::{
        self, judge, Pool4Use, Pool4UseKey, Stamp, SubscriberMasks, SweepState,
        SWEEP_F_BLOCKS_ON_FIRST_USE, SWEEP_F_MARK_PEERS, SWEEP_F_WALK_ONLY,
    },
    timeouts::{self, Timeouts},
    Counter,
};

use crate::{
    blocks::{BLOCK_OWNERS, FREE_BLOCKS, SUBSCRIBER_BLOCKS},
    events,
    maps::{config, BIB4, BIB6, SESSIONS},
    stats,
};

/// The last pass that found a live flow of each dynamic binding. LRU: an entry whose
/// binding went some other way (`nat64-ctl bib remove`) is evicted in time instead of
/// filling the map; a live binding's entry is touched every pass. Sized with the BIB.
#[map(name = "NAT64_SWEEP_SEEN")]
static SWEEP_SEEN: LruHashMap<Bib4Key, u32> = LruHashMap::with_max_entries(65536, 0);

/// Bindings per pool4 address and protocol, for the census (1024 pool4 addresses × 3).
#[map(name = "NAT64_SWEEP_POOL4")]
static SWEEP_POOL4: HashMap<Pool4UseKey, Pool4Use> = HashMap::with_max_entries(3072, 0);

/// What the walks share: the pass's input and its totals so far (copied to the context at
/// the end: a callback sees only its caller's stack).
#[repr(C)]
struct Walk {
    state: SweepState,
    timeouts: Timeouts,
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "xdp")]
pub extern "C" fn nat64_sweep(ctx: *mut SweepState) -> i32 {
    let Some(cfg) = config() else { return 1 };
    let mut walk = Walk {
        state: unsafe { *ctx },
        timeouts: cfg.timeouts,
    };
    let w = &mut walk as *mut Walk as *mut c_void;
    unsafe {
        bpf_for_each_map_elem(
            &SESSIONS as *const _ as *mut c_void,
            sweep_session as *mut c_void,
            w,
            0,
        );
        bpf_for_each_map_elem(
            &BIB4 as *const _ as *mut c_void,
            sweep_binding as *mut c_void,
            w,
            0,
        );
        // Walked whatever the setting: blocks left from before a `config apply` turned
        // allocation on first use off go back too.
        bpf_for_each_map_elem(
            &SUBSCRIBER_BLOCKS as *const _ as *mut c_void,
            sweep_subscriber as *mut c_void,
            w,
            0,
        );
        *ctx = walk.state;
    }
    0
}

/// One session table entry: an expired flow is deleted; a live one is counted and
/// stamps its binding and (with filtering) its peer record; an idle peer record is deleted.
#[inline(never)]
extern "C" fn sweep_session(
    _map: *mut c_void,
    key: *mut SessionKey,
    value: *mut SessionEntry,
    walk: *mut Walk,
) -> i64 {
    let (k, e, walk) = unsafe { (*key, &mut *value, &mut *walk) };
    let state = &mut walk.state;
    let pass = state.pass;
    let mark_peers = state.flags & SWEEP_F_MARK_PEERS != 0;
    state.scanned += 1;
    if state.flags & SWEEP_F_WALK_ONLY != 0 {
        return 0;
    }
    if k.kind != SESSION_KIND_FLOW {
        state.peer_records += 1;
        if !mark_peers {
            // Kept as if a flow needed it now, so that it has its grace when marking
            // starts again.
            if e.sweep_stamp() != pass {
                e.set_sweep_stamp(pass);
            }
            return 0;
        }
        match judge(e.sweep_stamp(), pass) {
            Stamp::Keep => {}
            Stamp::Restamp(p) => e.set_sweep_stamp(p),
            Stamp::Expired => {
                if SESSIONS.remove(&k).is_ok() {
                    state.deleted_sessions += 1;
                    stats::count(Counter::SessionExpired);
                }
            }
        }
        return 0;
    }
    let binding = Bib4Key {
        addr4: k.addr4,
        port4: k.port4,
        proto: k.proto,
        _pad: 0,
    };
    if timeouts::expired(
        &walk.timeouts,
        k.proto,
        e.tcp_state,
        e.last_seen_ns,
        state.now_ns,
    ) {
        if SESSIONS.remove(&k).is_ok() {
            state.deleted_sessions += 1;
            stats::count(Counter::SessionExpired);
            events::session_deleted(&k, unsafe { BIB4.get(&binding) }, state.now_ns);
        }
        return 0;
    }
    if let Some(i) = pool4_proto_index(k.proto) {
        count(&mut state.live_sessions, i);
    }
    // Only bindings the BIB walk has met: a session whose binding is gone stamps nothing.
    if let Some(seen) = SWEEP_SEEN.get_ptr_mut(&binding) {
        unsafe {
            if *seen != pass {
                *seen = pass;
            }
        }
    }
    if mark_peers {
        let peer = SessionKey {
            remote_port: 0,
            kind: SESSION_KIND_PEER,
            ..k
        };
        if let Some(p) = SESSIONS.get_ptr_mut(&peer) {
            let p = unsafe { &mut *p };
            if p.sweep_stamp() != pass {
                p.set_sweep_stamp(pass);
            }
        }
    }
    0
}

/// One binding, after the sessions: a dynamic binding no live flow stamped in this pass or
/// the one before is deleted, both halves; the rest are counted.
#[inline(never)]
extern "C" fn sweep_binding(
    _map: *mut c_void,
    key: *mut Bib4Key,
    value: *mut Bib4Entry,
    walk: *mut Walk,
) -> i64 {
    let (k, e, walk) = unsafe { (*key, *value, &mut *walk) };
    let state = &mut walk.state;
    let pass = state.pass;
    let Some(i) = pool4_proto_index(k.proto) else {
        return 0;
    };
    if state.flags & SWEEP_F_WALK_ONLY != 0 {
        return 0;
    }
    if e.flags & BIB_F_STATIC != 0 {
        count(&mut state.static_bindings, i);
    } else {
        let stamp = SWEEP_SEEN.get_ptr_mut(&k).map_or(0, |s| unsafe { *s });
        match judge(stamp, pass) {
            Stamp::Keep => {}
            Stamp::Restamp(p) => {
                let _ = SWEEP_SEEN.insert(&k, &p, 0);
            }
            Stamp::Expired => {
                // The IPv6 side first, so that the pool4 port is not handed out again
                // while the IPv6 side still points at it.
                let _ = BIB6.remove(&sweep::bib6_key(&k, e.addr6, e.port6));
                if BIB4.remove(&k).is_ok() {
                    state.deleted_bindings += 1;
                    stats::count(Counter::BibExpired);
                    events::binding_deleted(&k, &e, state.now_ns);
                }
                let _ = SWEEP_SEEN.remove(&k);
                return 0;
            }
        }
        count(&mut state.dynamic_bindings, i);
        if state.flags & SWEEP_F_BLOCKS_ON_FIRST_USE != 0 {
            stamp_subscriber(&state.subscribers, &e.addr6, pass);
        }
    }
    let use_key = Pool4UseKey {
        addr4: k.addr4,
        proto_index: i as u32,
    };
    match SWEEP_POOL4.get_ptr_mut(&use_key) {
        Some(u) => {
            let u = unsafe { &mut *u };
            if u.pass != pass {
                u.pass = pass;
                u.bindings = 0;
            }
            u.bindings += 1;
        }
        None => {
            let _ = SWEEP_POOL4.insert(
                &use_key,
                &Pool4Use {
                    pass,
                    _pad: 0,
                    bindings: 1,
                },
                0,
            );
        }
    }
    0
}

/// `counts[i] += 1` with the index the verifier can see bounded.
#[inline(always)]
fn count(counts: &mut [u64; 3], i: usize) {
    match i {
        0 => counts[0] += 1,
        1 => counts[1] += 1,
        _ => counts[2] += 1,
    }
}

/// A live binding keeps its subscriber's port block.
#[inline(never)]
fn stamp_subscriber(masks: &SubscriberMasks, addr6: &[u8; 16], pass: u32) {
    let Some(prefix) = masks.subscriber(addr6) else {
        return;
    };
    if let Some(s) = SUBSCRIBER_BLOCKS.get_ptr_mut(&prefix) {
        unsafe {
            if (*s).stamp != pass {
                (*s).stamp = pass;
            }
        }
    }
}

/// One subscriber's port block, after the bindings: a block no binding stamped in this
/// pass or the one before goes back to the free list (the subscriber first, so that its
/// next binding takes a block anew rather than this one).
#[inline(never)]
extern "C" fn sweep_subscriber(
    _map: *mut c_void,
    key: *mut [u8; 16],
    value: *mut SubscriberBlock,
    walk: *mut Walk,
) -> i64 {
    let (prefix, s, walk) = unsafe { (*key, &mut *value, &mut *walk) };
    let state = &mut walk.state;
    if state.flags & SWEEP_F_WALK_ONLY != 0 {
        return 0;
    }
    // With allocation on first use off, nothing stamps: every block left goes.
    let judged = if state.flags & SWEEP_F_BLOCKS_ON_FIRST_USE != 0 {
        judge(s.stamp, state.pass)
    } else {
        Stamp::Expired
    };
    match judged {
        Stamp::Keep => {}
        Stamp::Restamp(p) => s.stamp = p,
        Stamp::Expired => {
            let b = s.block;
            if SUBSCRIBER_BLOCKS.remove(&prefix).is_ok() {
                let _ = BLOCK_OWNERS.remove(&b);
                let _ = FREE_BLOCKS.push(&b, 0);
                state.released_blocks += 1;
                stats::count(Counter::BlockReleased);
                let len = state.subscribers.subscriber_len as u8;
                events::block_released(&prefix, len, b, state.now_ns);
            }
            return 0;
        }
    }
    state.assigned_blocks += 1;
    0
}
