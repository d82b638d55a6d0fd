//! Session expiry (RFC 6146 §3.5): the data plane stamps sessions, this sweeps them.
//!
//! A pass walks the session table in chunks read with batch syscalls ([`crate::batch`]):
//! each chunk's sessions idle past their lifetime are deleted at once, and the chunk's
//! live flows mark their binding and their IPv4 peer as in use. At the end of the pass,
//! dynamic bindings and address-dependent filtering's peer records that had no live flow
//! in this pass nor the one before are deleted. Two passes, because a chunked pass is not
//! a snapshot: a flow created behind the walk is only seen by the next pass (the same grace
//! covers a binding the data plane has just created for its first session). Static
//! bindings stay.
//!
//! Memory and pauses stay bounded at millions of sessions: one chunk is held at a time,
//! and the sweeper yields between chunks (see [`spawn`]). Deciding is pure
//! ([`Sweeper::chunk`], [`Sweeper::end_pass`]) so it is tested with an injected clock.
use std::{
    collections::HashSet,
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use aya::maps::IterableMap;
use nat64_common::{
    maps::{
        pool4_proto_index, Bib4Entry, Bib4Key, Bib6Key, SessionEntry, SessionKey, BIB_F_STATIC,
        CONFIG_F_ADDRESS_DEPENDENT_FILTERING, SESSION_KIND_FLOW,
    },
    timeouts::{self, Timeouts},
    Counter,
};

// Where other modules (and the benchmarks) have always found them.
use crate::{
    batch,
    census::{Census, SharedCensus},
    session_log::{ipv6_of, Kind, Record, SessionLog},
    tables::Tables,
};
pub use crate::{census::Swept, clock::monotonic_ns};

/// Sessions read per batch syscall, and the most the sweeper holds at a time.
pub const CHUNK: u32 = 8192;

/// What one pass deletes at its end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub sessions: Vec<SessionKey>,
    /// Both halves of each binding: the IPv6 side goes first so that the pool4 port is not
    /// handed out again while the IPv6 side still points at it.
    pub bindings: Vec<(Bib6Key, Bib4Key)>,
}

/// (pool4 address, port, protocol): the binding a session belongs to.
type BindingId = ([u8; 4], u16, u8);
/// A binding and an IPv4 peer: what a peer record stands for.
type PeerId = ([u8; 4], u16, u8, [u8; 4]);

fn peer_id(k: &SessionKey) -> PeerId {
    (k.addr4, k.port4, k.proto, k.remote4)
}

#[derive(Debug, Default)]
pub struct Sweeper {
    /// The last finished pass's census.
    pub census: Census,
    /// Live flows per protocol in this pass so far.
    live_sessions: [u64; 3],
    /// Dynamic bindings with no live flow in the last finished pass.
    idle_bindings: HashSet<BindingId>,
    /// Peer records with no live flow in the last finished pass.
    idle_peers: HashSet<PeerId>,
    /// This pass so far.
    live_bindings: HashSet<BindingId>,
    live_peers: HashSet<PeerId>,
    peer_records: Vec<SessionKey>,
    /// This pass need not note which peers live flows have: address-dependent filtering is
    /// off and the last pass found no peer records (the default case). Saves a hash insert
    /// per live flow; any peer record met anyway is kept for this pass.
    pub skip_peers: bool,
    /// The last finished pass found peer records.
    saw_peers: bool,
}

impl Sweeper {
    /// One chunk of a pass at `now_ns` (CLOCK_MONOTONIC, the data plane's clock): the
    /// flows to delete now. Live flows and peer records are remembered for the pass's end.
    pub fn chunk(
        &mut self,
        sessions: &[(SessionKey, SessionEntry)],
        t: &Timeouts,
        now_ns: u64,
    ) -> Vec<SessionKey> {
        let mut expired = Vec::new();
        for (k, e) in sessions {
            if k.kind != SESSION_KIND_FLOW {
                self.peer_records.push(*k);
            } else if timeouts::expired(t, k.proto, e.tcp_state, e.last_seen_ns, now_ns) {
                expired.push(*k);
            } else {
                self.live_bindings.insert((k.addr4, k.port4, k.proto));
                if !self.skip_peers {
                    self.live_peers.insert(peer_id(k));
                }
                if let Some(i) = pool4_proto_index(k.proto) {
                    self.live_sessions[i] += 1;
                }
            }
        }
        expired
    }

    /// Ends the pass: peer records and dynamic bindings without a live flow in this pass
    /// and the one before.
    pub fn end_pass(&mut self, bindings: &[(Bib4Key, Bib4Entry)]) -> Plan {
        let mut plan = Plan::default();
        let mut idle_peers = HashSet::new();
        self.saw_peers = !self.peer_records.is_empty();
        for k in std::mem::take(&mut self.peer_records) {
            let id = peer_id(&k);
            // Without the live peers noted, nothing tells an idle record from a live one.
            if self.skip_peers || self.live_peers.contains(&id) {
                continue;
            }
            if self.idle_peers.contains(&id) {
                plan.sessions.push(k);
            } else {
                idle_peers.insert(id);
            }
        }
        let mut idle_bindings = HashSet::new();
        let mut census = Census {
            sessions: std::mem::take(&mut self.live_sessions),
            ..Census::default()
        };
        for (k, e) in bindings {
            let id = (k.addr4, k.port4, k.proto);
            let stays = e.flags & BIB_F_STATIC != 0
                || self.live_bindings.contains(&id)
                || !self.idle_bindings.contains(&id);
            if let (true, Some(i)) = (stays, pool4_proto_index(k.proto)) {
                if e.flags & BIB_F_STATIC != 0 {
                    census.static_bindings[i] += 1;
                } else {
                    census.dynamic_bindings[i] += 1;
                }
                *census.pool4_used.entry((k.addr4, i)).or_default() += 1;
            }
            if e.flags & BIB_F_STATIC != 0 || self.live_bindings.contains(&id) {
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
                idle_bindings.insert(id);
            }
        }
        self.idle_peers = idle_peers;
        self.idle_bindings = idle_bindings;
        self.census = census;
        self.live_peers.clear();
        self.live_bindings.clear();
        plan
    }

    /// A whole pass over a table read at once: [`Sweeper::chunk`] then
    /// [`Sweeper::end_pass`], everything they delete.
    pub fn plan(
        &mut self,
        sessions: &[(SessionKey, SessionEntry)],
        bindings: &[(Bib4Key, Bib4Entry)],
        t: &Timeouts,
        now_ns: u64,
    ) -> Plan {
        let mut expired = self.chunk(sessions, t, now_ns);
        let mut plan = self.end_pass(bindings);
        expired.append(&mut plan.sessions);
        plan.sessions = expired;
        plan
    }
}

/// One pass over the tables. `now` is read for every chunk (a pass over millions of
/// sessions takes a while); `pause` is called after each chunk with the time the chunk took,
/// so that the caller can yield the CPU in proportion.
pub fn pass(
    tables: &mut Tables,
    sweeper: &mut Sweeper,
    now: &mut dyn FnMut() -> u64,
    pause: &mut dyn FnMut(Duration),
    log: Option<&SessionLog>,
) -> Result<Swept> {
    let cfg = tables.gateway_config()?;
    let t = cfg.timeouts;
    sweeper.skip_peers =
        cfg.flags & CONFIG_F_ADDRESS_DEPENDENT_FILTERING == 0 && !sweeper.saw_peers;
    let fd = tables.sessions.map().fd().as_fd();
    let mut swept = Swept::default();
    let mut cursor = batch::Cursor::default();
    let mut part = Vec::new();
    while !cursor.done() {
        let started = Instant::now();
        batch::lookup(fd, &mut cursor, &mut part, CHUNK).context("reading sessions")?;
        swept.scanned += part.len();
        let at = now();
        let expired = sweeper.chunk(&part, &t, at);
        if let Some(log) = log {
            let records: Vec<Record> = expired
                .iter()
                .map(|k| Record {
                    kind: Kind::SessionDeleted,
                    time_ns: at,
                    proto: k.proto,
                    ipv6: ipv6_of(
                        tables,
                        &Bib4Key {
                            addr4: k.addr4,
                            port4: k.port4,
                            proto: k.proto,
                            _pad: 0,
                        },
                    ),
                    pool4: (Ipv4Addr::from(k.addr4), k.port4),
                    peer: Some((Ipv4Addr::from(k.remote4), k.remote_port)),
                })
                .collect();
            log.write(&records);
        }
        // Deletions race with nothing that matters: a key already gone is skipped.
        swept.sessions += batch::delete(fd, &expired).context("deleting sessions")?;
        pause(started.elapsed());
    }
    let bindings = tables.read_bib4()?;
    let plan = sweeper.end_pass(&bindings);
    swept.sessions += batch::delete(fd, &plan.sessions).context("deleting peer records")?;
    if let Some(log) = log {
        let at = now();
        let records: Vec<Record> = plan
            .bindings
            .iter()
            .map(|(k6, k4)| Record {
                kind: Kind::BibDeleted,
                time_ns: at,
                proto: k4.proto,
                ipv6: Some((Ipv6Addr::from(k6.addr6), k6.port6)),
                pool4: (Ipv4Addr::from(k4.addr4), k4.port4),
                peer: None,
            })
            .collect();
        log.write(&records);
    }
    let (k6, k4): (Vec<Bib6Key>, Vec<Bib4Key>) = plan.bindings.iter().copied().unzip();
    batch::delete(tables.bib6.map().fd().as_fd(), &k6).context("deleting bindings")?;
    swept.bindings =
        batch::delete(tables.bib4.map().fd().as_fd(), &k4).context("deleting bindings")?;
    Ok(swept)
}

/// One pass at `now_ns`, without pauses.
pub fn sweep(tables: &mut Tables, sweeper: &mut Sweeper, now_ns: u64) -> Result<Swept> {
    pass(tables, sweeper, &mut || now_ns, &mut |_| {}, None)
}

/// Sweeps on its own thread until `stop` is set: a pass every `interval`, or back to back
/// when a pass takes longer. Between chunks it sleeps as long as the chunk took, so that it
/// never takes more than half a CPU however big the table. Userspace work only: the data
/// plane never waits for it.
pub fn spawn(
    dir: &Path,
    interval: Duration,
    stop: Arc<AtomicBool>,
    census: SharedCensus,
    log: Option<Arc<SessionLog>>,
    mut record: Option<crate::run_state::Recorder>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut tables = Tables::open(dir)?;
    let mut counters =
        crate::stats::open_pinned(&crate::bpffs::pin_path(dir, crate::stats::STATS_MAP))?;
    Ok(std::thread::Builder::new()
        .name("nat64-expiry".into())
        .spawn(move || {
            let mut sweeper = Sweeper::default();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = pass(
                    &mut tables,
                    &mut sweeper,
                    &mut monotonic_ns,
                    &mut |took| std::thread::sleep(took),
                    log.as_deref(),
                );
                match &result {
                    Ok(s) if s.sessions + s.bindings > 0 => tracing::debug!(
                        "expired {} sessions and {} dynamic bindings of {} sessions in {:?}",
                        s.sessions,
                        s.bindings,
                        s.scanned,
                        started.elapsed()
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("session sweep: {e:#}"),
                }
                if let Ok(s) = &result {
                    for (c, n) in [
                        (Counter::SessionExpired, s.sessions),
                        (Counter::BibExpired, s.bindings),
                    ] {
                        if let Err(e) = crate::stats::add_userspace(&mut counters, c, n as u64) {
                            tracing::warn!("counting expiry: {e:#}");
                        }
                    }
                }
                if let Ok(mut c) = census.lock() {
                    *c = (sweeper.census.clone(), started.elapsed());
                }
                if let (Some(r), Ok(s)) = (record.as_mut(), &result) {
                    if let Err(e) = r.pass_done(s, started.elapsed(), &counters) {
                        tracing::warn!("recording the expiry pass: {e:#}");
                    }
                }
                if let Some(rest) = interval.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
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
        assert_eq!(sw.census.sessions, [0, 1, 0]);
        assert_eq!(sw.census.dynamic_bindings, [0, 2, 0]);
        assert_eq!(sw.census.static_bindings, [0, 1, 0]);
        assert_eq!(sw.census.pool4_used[&(POOL4, 1)], 3);
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
        assert_eq!(
            sw.census.dynamic_bindings,
            [0, 1, 0],
            "the deleted one is not counted"
        );
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
        // peer_b has no flow: spared one pass (a flow may exist behind the walk), then gone.
        assert_eq!(sw.plan(&sessions, &[], &t, 5 * S).sessions, []);
        assert_eq!(sw.plan(&sessions, &[], &t, 6 * S).sessions, [peer_b]);
        // flow_a expires; its peer record follows a pass later.
        let left = [(flow_a, entry(0, 0)), (peer_a, entry(0, 0))];
        assert_eq!(sw.plan(&left, &[], &t, 12 * S).sessions, [flow_a]);
        assert_eq!(sw.plan(&left[1..], &[], &t, 13 * S).sessions, [peer_a]);
    }

    #[test]
    fn a_pass_that_skips_peers_deletes_no_peer_record_and_says_it_saw_some() {
        let t = Timeouts {
            udp_s: 10,
            ..Timeouts::DEFAULT
        };
        let peer = skey(61001, [192, 0, 2, 3], 0, PROTO_UDP, SESSION_KIND_PEER);
        let mut sw = Sweeper {
            skip_peers: true,
            ..Sweeper::default()
        };
        for now in [5 * S, 6 * S, 7 * S] {
            assert_eq!(sw.plan(&[(peer, entry(0, 0))], &[], &t, now).sessions, []);
        }
        assert!(sw.saw_peers, "the next pass notes live peers again");
        sw.skip_peers = false;
        assert_eq!(sw.plan(&[(peer, entry(0, 0))], &[], &t, 8 * S).sessions, []);
        assert_eq!(
            sw.plan(&[(peer, entry(0, 0))], &[], &t, 9 * S).sessions,
            [peer]
        );
    }

    #[test]
    fn a_flow_created_behind_the_walk_keeps_its_binding_and_peer() {
        let t = Timeouts::DEFAULT;
        let remote = [192, 0, 2, 2];
        let flow = skey(61001, remote, 53, PROTO_UDP, SESSION_KIND_FLOW);
        let peer = skey(61001, remote, 0, PROTO_UDP, SESSION_KIND_PEER);
        let b = binding(61001, PROTO_UDP, 0);
        let mut sw = Sweeper::default();
        // Pass 1: the flow's bucket was read before the flow existed; its peer record's
        // bucket after.
        assert_eq!(sw.chunk(&[], &t, S), []);
        assert_eq!(sw.chunk(&[(peer, entry(S, 0))], &t, S), []);
        assert_eq!(sw.end_pass(&[b]), Plan::default());
        // Pass 2 sees the flow: nothing goes.
        assert_eq!(
            sw.chunk(&[(flow, entry(S, 0)), (peer, entry(S, 0))], &t, 2 * S),
            []
        );
        assert_eq!(sw.end_pass(&[b]), Plan::default());
    }

    #[test]
    fn the_clock_source_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
