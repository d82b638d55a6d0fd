//! Sessions (RFC 6146 §3.5): every translated packet finds or opens the session of its
//! flow and keeps it alive; nat64-ctl expires idle ones. The decisions come from
//! `nat64_common::session`; this file only looks up and writes.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use nat64_common::{
    maps::{SessionKey, SESSION_KIND_PEER},
    session::{self, Seen},
    Counter,
};

use crate::{events, maps::SESSIONS, stats};

const EEXIST: i32 = -17;

/// A translated packet as its session sees it.
pub struct Track {
    pub key: SessionKey,
    pub tcp_flags: u8,
    pub from_v6: u8,
    /// UDP, an ICMP echo request, a TCP SYN.
    pub opens: u8,
    /// Address-dependent filtering applies: an IPv6-side packet records its peer, an
    /// IPv4-side packet may open a session only from a recorded peer.
    pub filter: u8,
}

/// Finds or opens the session; refuses packets that may not open one.
#[inline(always)]
pub fn track(t: &Track) -> Result<(), Counter> {
    let seen = Seen {
        proto: t.key.proto,
        from_v6: t.from_v6 != 0,
        tcp_flags: t.tcp_flags,
        opens: t.opens != 0,
    };
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(entry) = SESSIONS.get_ptr_mut(&t.key) {
        // SAFETY: a hash map value stays valid for the program's run; a concurrent writer
        // can at worst interleave a state or timestamp update, both of which heal with the
        // next packet.
        let entry = unsafe { &mut *entry };
        if let Some(next) = session::update(entry, &seen, now) {
            entry.tcp_state = next.tcp_state;
            entry.last_seen_ns = next.last_seen_ns;
        }
        return Ok(());
    }
    let entry = session::open(&seen, now).ok_or(Counter::DropNoSession)?;
    let peer = SessionKey {
        remote_port: 0,
        kind: SESSION_KIND_PEER,
        ..t.key
    };
    if t.filter != 0 && !seen.from_v6 && unsafe { SESSIONS.get(&peer) }.is_none() {
        return Err(Counter::DropFiltered);
    }
    match SESSIONS.insert(&t.key, &entry, BPF_NOEXIST as u64) {
        Ok(()) => {
            stats::count(Counter::SessionCreated);
            events::session_created(&t.key, now);
        }
        // Another CPU opened it a moment ago.
        Err(EEXIST) => {}
        Err(_) => return Err(Counter::DropSessionTableFull),
    }
    if t.filter != 0 && seen.from_v6 {
        // Best effort: should the table be full, the filter forgets this peer and its
        // replies still pass through the session just created.
        let _ = SESSIONS.insert(&peer, &entry, 0);
    }
    Ok(())
}
