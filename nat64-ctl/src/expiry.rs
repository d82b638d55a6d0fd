//! Session expiry (RFC 6146 §3.5): the data plane stamps sessions, this sweeps them.
//!
//! Each sweep reads the session table once, deletes the sessions idle past their lifetime,
//! address-dependent filtering's peer records with no flow left, and dynamic bindings that
//! have had no session for two sweeps in a row (the grace covers a binding the data plane
//! has just created and is about to give its first session). Static bindings stay.
//! Deciding is pure ([`Sweeper::plan`]) so it is tested with an injected clock; applying
//! the plan is a handful of map deletions.
use std::{
    collections::HashSet,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Result;
use nat64_common::{
    maps::{
        Bib4Entry, Bib4Key, Bib6Key, SessionEntry, SessionKey, BIB_F_STATIC, SESSION_KIND_FLOW,
    },
    timeouts::{self, Timeouts},
};

use crate::tables::Tables;

/// What one sweep deletes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub sessions: Vec<SessionKey>,
    /// Both halves of each binding: the IPv6 side goes first so that the pool4 port is not
    /// handed out again while the IPv6 side still points at it.
    pub bindings: Vec<(Bib6Key, Bib4Key)>,
}

/// (pool4 address, port, protocol): the binding a session belongs to.
type BindingId = ([u8; 4], u16, u8);

#[derive(Debug, Default)]
pub struct Sweeper {
    /// Dynamic bindings that had no session at the last sweep.
    idle_bindings: HashSet<BindingId>,
}

impl Sweeper {
    /// Decides a sweep at `now_ns` (CLOCK_MONOTONIC, the data plane's clock).
    pub fn plan(
        &mut self,
        sessions: &[(SessionKey, SessionEntry)],
        bindings: &[(Bib4Key, Bib4Entry)],
        t: &Timeouts,
        now_ns: u64,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut live_bindings: HashSet<BindingId> = HashSet::new();
        let mut live_peers: HashSet<([u8; 4], u16, u8, [u8; 4])> = HashSet::new();
        for (k, e) in sessions {
            if k.kind != SESSION_KIND_FLOW {
                continue;
            }
            if timeouts::expired(t, k.proto, e.tcp_state, e.last_seen_ns, now_ns) {
                plan.sessions.push(*k);
            } else {
                live_bindings.insert((k.addr4, k.port4, k.proto));
                live_peers.insert((k.addr4, k.port4, k.proto, k.remote4));
            }
        }
        for (k, _) in sessions {
            if k.kind != SESSION_KIND_FLOW
                && !live_peers.contains(&(k.addr4, k.port4, k.proto, k.remote4))
            {
                plan.sessions.push(*k);
            }
        }
        let mut idle = HashSet::new();
        for (k, e) in bindings {
            let id = (k.addr4, k.port4, k.proto);
            if e.flags & BIB_F_STATIC != 0 || live_bindings.contains(&id) {
                continue;
            }
            if self.idle_bindings.contains(&id) {
                plan.bindings.push((
                    Bib6Key {
                        addr6: e.addr6,
                        port6: e.port6,
                        proto: k.proto,
                        _pad: 0,
                    },
                    *k,
                ));
            } else {
                idle.insert(id);
            }
        }
        self.idle_bindings = idle;
        plan
    }
}

/// CLOCK_MONOTONIC in nanoseconds: what `bpf_ktime_get_ns` returns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * timeouts::NS_PER_S + ts.tv_nsec as u64
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: usize,
    pub bindings: usize,
}

/// One sweep over the tables at `now_ns`.
pub fn sweep(tables: &mut Tables, sweeper: &mut Sweeper, now_ns: u64) -> Result<Swept> {
    let t = tables.gateway_config()?.timeouts;
    let sessions = tables.read_sessions()?;
    let bindings = tables.read_bib4()?;
    let plan = sweeper.plan(&sessions, &bindings, &t, now_ns);
    // Deletions race with nothing that matters: a key already gone is fine.
    for k in &plan.sessions {
        let _ = tables.sessions.remove(k);
    }
    for (k6, k4) in &plan.bindings {
        let _ = tables.bib6.remove(k6);
        let _ = tables.bib4.remove(k4);
    }
    Ok(Swept {
        sessions: plan.sessions.len(),
        bindings: plan.bindings.len(),
    })
}

/// Sweeps every `interval` on its own thread until `stop` is set. Userspace work only:
/// the data plane never waits for it.
pub fn spawn(
    dir: &Path,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut tables = Tables::open(dir)?;
    Ok(std::thread::Builder::new()
        .name("nat64-expiry".into())
        .spawn(move || {
            let mut sweeper = Sweeper::default();
            while !stop.load(Ordering::Relaxed) {
                match sweep(&mut tables, &mut sweeper, monotonic_ns()) {
                    Ok(s) if s != Swept::default() => tracing::debug!(
                        "expired {} sessions and {} dynamic bindings",
                        s.sessions,
                        s.bindings
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("session sweep: {e:#}"),
                }
                std::thread::sleep(interval);
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::{
        maps::{PROTO_TCP, PROTO_UDP, SESSION_KIND_PEER},
        tcp,
    };

    const S: u64 = timeouts::NS_PER_S;
    const POOL4: [u8; 4] = [203, 0, 113, 1];

    fn skey(port4: u16, remote4: [u8; 4], remote_port: u16, proto: u8, kind: u8) -> SessionKey {
        SessionKey {
            addr4: POOL4,
            remote4,
            port4,
            remote_port,
            proto,
            kind,
            _pad: [0; 2],
        }
    }
    fn entry(last_seen_ns: u64, tcp_state: u8) -> SessionEntry {
        SessionEntry {
            last_seen_ns,
            tcp_state,
            flags: 0,
            _pad: [0; 6],
        }
    }
    fn binding(port4: u16, proto: u8, flags: u16) -> (Bib4Key, Bib4Entry) {
        (
            Bib4Key {
                addr4: POOL4,
                port4,
                proto,
                _pad: 0,
            },
            Bib4Entry {
                addr6: [0x20, 1, 0xd, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                port6: port4 + 1,
                flags,
            },
        )
    }

    #[test]
    fn idle_sessions_expire_by_protocol_and_state() {
        let t = Timeouts::DEFAULT;
        let remote = [192, 0, 2, 2];
        let udp = skey(61001, remote, 53, PROTO_UDP, SESSION_KIND_FLOW);
        let est = skey(61002, remote, 80, PROTO_TCP, SESSION_KIND_FLOW);
        let closing = skey(61003, remote, 80, PROTO_TCP, SESSION_KIND_FLOW);
        let sessions = [
            (udp, entry(0, 0)),
            (est, entry(0, tcp::TCP_ESTABLISHED)),
            (closing, entry(0, tcp::TCP_V4_FIN_V6_FIN_RCV)),
        ];
        let mut sw = Sweeper::default();
        // Nothing at 4 minutes; the both-FIN session just after 4 min (+1 s grace);
        // UDP after 5 min; established after 2 h 4 min.
        assert_eq!(sw.plan(&sessions, &[], &t, 240 * S).sessions, []);
        assert_eq!(sw.plan(&sessions, &[], &t, 242 * S).sessions, [closing]);
        assert_eq!(
            sw.plan(&sessions, &[], &t, 302 * S).sessions,
            [udp, closing]
        );
        assert_eq!(
            sw.plan(&sessions, &[], &t, 7442 * S).sessions,
            [udp, est, closing]
        );
    }

    #[test]
    fn dynamic_bindings_go_with_their_last_session_after_a_grace_sweep() {
        let t = Timeouts {
            udp_s: 10,
            ..Timeouts::DEFAULT
        };
        let remote = [192, 0, 2, 2];
        let s1 = skey(61001, remote, 53, PROTO_UDP, SESSION_KIND_FLOW);
        let s2 = skey(61001, remote, 54, PROTO_UDP, SESSION_KIND_FLOW);
        let sessions = [(s1, entry(0, 0)), (s2, entry(20 * S, 0))];
        let dynamic = binding(61001, PROTO_UDP, 0);
        let stat = binding(2000, PROTO_UDP, BIB_F_STATIC);
        let fresh = binding(61005, PROTO_UDP, 0);
        let bindings = [dynamic, stat, fresh];
        let mut sw = Sweeper::default();

        // s1 expires, s2 keeps the binding; the session-less fresh binding gets its grace.
        let p = sw.plan(&sessions, &bindings, &t, 25 * S);
        assert_eq!(p.sessions, [s1]);
        assert_eq!(p.bindings, []);
        // Still no session for `fresh` a sweep later: it goes. Static stays.
        let p = sw.plan(&sessions[1..], &bindings, &t, 26 * S);
        assert_eq!(p.sessions, []);
        let fresh6 = Bib6Key {
            addr6: fresh.1.addr6,
            port6: fresh.1.port6,
            proto: PROTO_UDP,
            _pad: 0,
        };
        assert_eq!(p.bindings, [(fresh6, fresh.0)]);
        // s2 expires: its binding waits one sweep, then goes too.
        let p = sw.plan(&sessions[1..], &bindings[..2], &t, 40 * S);
        assert_eq!((p.sessions, p.bindings), (vec![s2], vec![]));
        let p = sw.plan(&[], &bindings[..2], &t, 41 * S);
        assert_eq!(p.bindings.len(), 1);
        assert_eq!(p.bindings[0].1, dynamic.0);
        // A binding that regains a session in between is spared.
        let mut sw = Sweeper::default();
        assert_eq!(sw.plan(&[], &[fresh], &t, 0).bindings, []);
        let s = skey(61005, remote, 1, PROTO_UDP, SESSION_KIND_FLOW);
        assert_eq!(sw.plan(&[(s, entry(0, 0))], &[fresh], &t, S).bindings, []);
        assert_eq!(
            sw.plan(&[(s, entry(0, 0))], &[fresh], &t, 2 * S).bindings,
            []
        );
    }

    #[test]
    fn peer_records_live_as_long_as_a_flow_to_that_address() {
        let t = Timeouts {
            udp_s: 10,
            ..Timeouts::DEFAULT
        };
        let a = [192, 0, 2, 2];
        let b = [192, 0, 2, 3];
        let flow_a = skey(61001, a, 53, PROTO_UDP, SESSION_KIND_FLOW);
        let peer_a = skey(61001, a, 0, PROTO_UDP, SESSION_KIND_PEER);
        let peer_b = skey(61001, b, 0, PROTO_UDP, SESSION_KIND_PEER);
        let sessions = [
            (flow_a, entry(0, 0)),
            (peer_a, entry(0, 0)),
            (peer_b, entry(0, 0)),
        ];
        let mut sw = Sweeper::default();
        assert_eq!(sw.plan(&sessions, &[], &t, 5 * S).sessions, [peer_b]);
        assert_eq!(
            sw.plan(&sessions, &[], &t, 12 * S).sessions,
            [flow_a, peer_a, peer_b]
        );
    }

    #[test]
    fn the_clock_source_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
