//! The expiry sweep's rules, run by the kernel: the real object's iterators over real maps,
//! each pass at a clock the test chooses. What they must delete and keep (RFC 6146 §3.5.x
//! lifetimes, the bindings' and peer records' grace pass) and the census they count.
use std::os::fd::AsFd;

use aya::{
    maps::{IterableMap, MapData, PerCpuArray},
    Ebpf,
};
use nat64_common::{
    maps::{
        binding_halves, Bib4Key, Bib6Entry, Bib6Key, BindingHalves, SessionEntry, SessionKey,
        BIB_F_STATIC, CONFIG_F_ADDRESS_DEPENDENT_FILTERING, PROTO_TCP, PROTO_UDP,
        SESSION_KIND_FLOW, SESSION_KIND_PEER,
    },
    tcp,
    timeouts::{Timeouts, NS_PER_S},
    Counter,
};
use nat64_ctl::{
    batch,
    expiry::{self, Sweeper, Swept},
    loader::{self, BpfLogLevel},
    stats,
    tables::Tables,
};
use nat64_tests::lab_available;

const S: u64 = NS_PER_S;
const POOL4: [u8; 4] = [203, 0, 113, 1];
const REMOTE: [u8; 4] = [192, 0, 2, 2];

/// A freshly loaded object (its own, empty maps) with the sweep program, the default
/// lifetimes but UDP's, which is `udp_s`.
struct Gateway {
    _ebpf: Ebpf,
    tables: Tables,
    sweeper: Sweeper,
    counters: PerCpuArray<MapData, u64>,
}

impl Gateway {
    fn new(udp_s: u32, filtering: bool) -> Gateway {
        let mut ebpf = loader::load(BpfLogLevel::Off).expect("the object loads");
        let mut tables = Tables::from_ebpf(&ebpf).unwrap();
        let mut cfg = tables.gateway_config().unwrap();
        cfg.timeouts = Timeouts {
            udp_s,
            ..Timeouts::DEFAULT
        };
        if filtering {
            cfg.flags |= CONFIG_F_ADDRESS_DEPENDENT_FILTERING;
        }
        tables.config.set(0, cfg, 0).unwrap();
        let sweeper = Sweeper::load(&ebpf).expect("the kernel takes the sweep program");
        let counters = stats::take(&mut ebpf).unwrap();
        Gateway {
            _ebpf: ebpf,
            tables,
            sweeper,
            counters,
        }
    }

    /// What the kernel has counted under `c` (the sweep counts its deletions itself).
    fn counted(&self, c: Counter) -> u64 {
        stats::read(&self.counters)
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, n)| n)
    }

    fn sessions(&mut self, s: &[(SessionKey, SessionEntry)]) {
        let (k, v): (Vec<_>, Vec<_>) = s.iter().copied().unzip();
        batch::update(self.tables.sessions.map().fd().as_fd(), &k, &v, 0).unwrap();
    }

    fn bindings(&mut self, b: &[BindingHalves]) {
        for (k6, v6, k4, v4) in b {
            self.tables.bib6.insert(k6, v6, 0).unwrap();
            self.tables.bib4.insert(k4, v4, 0).unwrap();
        }
    }

    /// A pass at `now`: what the session table and the BIB hold after it.
    fn pass(&mut self, now: u64) -> (Swept, Vec<SessionKey>, Vec<Bib4Key>) {
        let swept = expiry::sweep(&mut self.tables, &mut self.sweeper, now).unwrap();
        let mut left: Vec<SessionKey> = self
            .tables
            .read_sessions()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        left.sort_by_key(|k| (k.port4, k.remote4, k.kind));
        let mut bib: Vec<Bib4Key> = self
            .tables
            .read_bib4()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        bib.sort_by_key(|k| k.port4);
        let bib6 =
            batch::read_all::<Bib6Key, Bib6Entry>(self.tables.bib6.map().fd().as_fd(), 64).unwrap();
        assert_eq!(
            bib6.len(),
            bib.len(),
            "both halves of each binding go together"
        );
        (swept, left, bib)
    }
}

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

fn binding(port4: u16, flags: u16) -> BindingHalves {
    let mut addr6 = [0x20, 1, 0xd, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    addr6[14..].copy_from_slice(&port4.to_be_bytes());
    binding_halves((addr6, port4 + 1), (POOL4, port4), PROTO_UDP, flags)
}

#[test]
fn idle_sessions_expire_by_protocol_and_state() {
    if !lab_available("idle_sessions_expire_by_protocol_and_state") {
        return;
    }
    let mut g = Gateway::new(300, false);
    let udp = skey(61001, REMOTE, 53, PROTO_UDP, SESSION_KIND_FLOW);
    let est = skey(61002, REMOTE, 80, PROTO_TCP, SESSION_KIND_FLOW);
    let closing = skey(61003, REMOTE, 80, PROTO_TCP, SESSION_KIND_FLOW);
    g.sessions(&[
        (udp, entry(0, 0)),
        (est, entry(0, tcp::TCP_ESTABLISHED)),
        (closing, entry(0, tcp::TCP_V4_FIN_V6_FIN_RCV)),
    ]);
    // Nothing at 4 minutes; the both-FIN session just after 4 min (+1 s grace); UDP after
    // 5 min; established after 2 h 4 min.
    let (swept, left, _) = g.pass(240 * S);
    assert_eq!((swept.scanned, swept.sessions), (3, 0));
    assert_eq!(left, [udp, est, closing]);
    assert_eq!(
        g.sweeper.census.sessions,
        [2, 1, 0],
        "live flows per protocol"
    );
    assert_eq!(g.pass(242 * S).1, [udp, est]);
    assert_eq!(g.pass(302 * S).1, [est]);
    let (swept, left, _) = g.pass(7442 * S);
    assert_eq!((swept.scanned, swept.sessions, left.len()), (1, 1, 0));
    assert_eq!(g.sweeper.census.sessions, [0, 0, 0]);
    assert_eq!(g.counted(Counter::SessionExpired), 3);
    assert_eq!(g.counted(Counter::BibExpired), 0);
}

#[test]
fn dynamic_bindings_go_with_their_last_session_after_a_grace_pass() {
    if !lab_available("dynamic_bindings_go_with_their_last_session_after_a_grace_pass") {
        return;
    }
    let mut g = Gateway::new(10, false);
    let s1 = skey(61001, REMOTE, 53, PROTO_UDP, SESSION_KIND_FLOW);
    let s2 = skey(61001, REMOTE, 54, PROTO_UDP, SESSION_KIND_FLOW);
    g.sessions(&[(s1, entry(0, 0)), (s2, entry(20 * S, 0))]);
    let dynamic = binding(61001, 0);
    let stat = binding(2000, BIB_F_STATIC);
    let fresh = binding(61005, 0);
    g.bindings(&[dynamic, stat, fresh]);

    // s1 expires, s2 keeps the binding; the session-less fresh binding gets its grace.
    let (swept, left, bib) = g.pass(25 * S);
    assert_eq!((swept.sessions, swept.bindings), (1, 0));
    assert_eq!(left, [s2]);
    assert_eq!(bib, [stat.2, dynamic.2, fresh.2]);
    let c = &g.sweeper.census;
    assert_eq!(c.sessions, [0, 1, 0]);
    assert_eq!(c.dynamic_bindings, [0, 2, 0]);
    assert_eq!(c.static_bindings, [0, 1, 0]);
    assert_eq!(c.pool4_used[&(POOL4, 1)], 3);
    // Still no session for `fresh` a pass later: it goes. Static stays.
    let (swept, _, bib) = g.pass(26 * S);
    assert_eq!(swept.bindings, 1);
    assert_eq!(bib, [stat.2, dynamic.2]);
    assert_eq!(
        g.sweeper.census.dynamic_bindings,
        [0, 1, 0],
        "the deleted one is not counted"
    );
    assert_eq!(g.sweeper.census.pool4_used[&(POOL4, 1)], 2);
    // s2 expires: its binding waits one pass, then goes too.
    let (swept, left, bib) = g.pass(40 * S);
    assert_eq!((swept.sessions, swept.bindings, left.len()), (1, 0, 0));
    assert_eq!(bib, [stat.2, dynamic.2]);
    let (swept, _, bib) = g.pass(41 * S);
    assert_eq!(swept.bindings, 1);
    assert_eq!(bib, [stat.2]);
    assert_eq!(g.counted(Counter::SessionExpired), 2);
    assert_eq!(g.counted(Counter::BibExpired), 2);

    // A binding that regains a session in between is spared.
    let mut g = Gateway::new(10, false);
    g.bindings(&[fresh]);
    assert_eq!(g.pass(0).2, [fresh.2]);
    let s = skey(61005, REMOTE, 1, PROTO_UDP, SESSION_KIND_FLOW);
    g.sessions(&[(s, entry(0, 0))]);
    assert_eq!(g.pass(S).2, [fresh.2]);
    assert_eq!(g.pass(2 * S).2, [fresh.2]);
}

#[test]
fn peer_records_live_as_long_as_a_flow_to_that_address() {
    if !lab_available("peer_records_live_as_long_as_a_flow_to_that_address") {
        return;
    }
    let mut g = Gateway::new(10, true);
    let a = [192, 0, 2, 2];
    let b = [192, 0, 2, 3];
    let flow_a = skey(61001, a, 53, PROTO_UDP, SESSION_KIND_FLOW);
    let peer_a = skey(61001, a, 0, PROTO_UDP, SESSION_KIND_PEER);
    let peer_b = skey(61001, b, 0, PROTO_UDP, SESSION_KIND_PEER);
    g.sessions(&[
        (flow_a, entry(0, 0)),
        (peer_a, entry(0, 0)),
        (peer_b, entry(0, 0)),
    ]);
    // peer_b has no flow: spared one pass (a flow may exist behind the walk), then gone.
    assert_eq!(g.pass(5 * S).1, [flow_a, peer_a, peer_b]);
    assert_eq!(g.pass(6 * S).1, [flow_a, peer_a]);
    // flow_a expires; its peer record follows a pass later.
    assert_eq!(g.pass(12 * S).1, [peer_a]);
    let (swept, left, _) = g.pass(13 * S);
    assert_eq!((swept.sessions, left.len()), (1, 0));
    assert_eq!(
        g.counted(Counter::SessionExpired),
        3,
        "a flow and two peer records"
    );
}

#[test]
fn peer_records_left_from_filtering_go_two_passes_after_they_are_met() {
    if !lab_available("peer_records_left_from_filtering_go_two_passes_after_they_are_met") {
        return;
    }
    // Filtering off: the first pass does not look for peers (the default case costs no
    // lookup per flow), meets one, and the next passes treat it as above.
    let mut g = Gateway::new(10, false);
    let peer = skey(61001, [192, 0, 2, 3], 0, PROTO_UDP, SESSION_KIND_PEER);
    g.sessions(&[(peer, entry(0, 0))]);
    assert_eq!(g.pass(5 * S).1, [peer]);
    assert_eq!(g.pass(6 * S).1, [peer]);
    assert_eq!(g.pass(7 * S).1, []);
}

/// Port blocks on first use: a subscriber's block stays while any binding of its prefix
/// does, and goes back to the free list two passes after the last one went (the same grace
/// a binding gets); one never used by a binding goes after its grace pass.
#[test]
fn port_blocks_on_first_use_go_back_after_the_subscribers_last_binding() {
    if !lab_available("port_blocks_on_first_use_go_back_after_the_subscribers_last_binding") {
        return;
    }
    let mut g = Gateway::new(10, false);
    let cfg = nat64_common::block::PortBlockConfig {
        range6: "2001:db8::".parse::<std::net::Ipv6Addr>().unwrap().octets(),
        range_len: 32,
        subscriber_len: 64,
        allocation: nat64_common::block::ALLOCATION_DYNAMIC,
        block_size: 1,
        subscribers: 2,
        ..Default::default()
    };
    g.tables.block_config.set(0, cfg, 0).unwrap();
    // `binding` puts its host in 2001:db8:6::/64; 2001:db8:7::/64 holds a block no binding
    // of it ever used.
    let busy: [u8; 16] = "2001:db8:6::"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let idle: [u8; 16] = "2001:db8:7::"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    {
        let f = g.tables.first_use.as_mut().unwrap();
        for (prefix, block) in [(busy, 1u32), (idle, 0)] {
            let held = nat64_common::maps::SubscriberBlock {
                block,
                stamp: 0,
                assigned_ns: 1,
            };
            f.subscribers.insert(prefix, held, 0).unwrap();
            f.owners.insert(block, prefix, 0).unwrap();
        }
    }
    let b = binding(61001, 0);
    g.bindings(&[b]);
    let s = skey(61001, REMOTE, 53, PROTO_UDP, SESSION_KIND_FLOW);
    g.sessions(&[(s, entry(0, 0))]);
    let held = |g: &mut Gateway| {
        let f = g.tables.first_use.as_mut().unwrap();
        let mut subs: Vec<([u8; 16], u32)> =
            f.held().into_iter().map(|(k, v)| (k, v.block)).collect();
        subs.sort();
        let mut owners: Vec<(u32, [u8; 16])> = f.owners.iter().map(|r| r.unwrap()).collect();
        owners.sort();
        let mut free = Vec::new();
        while let Ok(b) = f.free.pop(0) {
            free.push(b);
        }
        for b in &free {
            f.free.push(b, 0).unwrap();
        }
        (subs, owners, free)
    };

    g.pass(S);
    assert_eq!(
        held(&mut g),
        (
            vec![(busy, 1), (idle, 0)],
            vec![(0, idle), (1, busy)],
            vec![]
        ),
        "both kept through their grace pass"
    );
    g.pass(2 * S);
    assert_eq!(
        held(&mut g),
        (vec![(busy, 1)], vec![(1, busy)], vec![0]),
        "the block no binding used is back on the list"
    );
    assert_eq!(g.counted(Counter::BlockReleased), 1);
    // The session expires (its 10 s are long over), then its binding after its grace pass,
    // then the block after its own.
    let (swept, left, _) = g.pass(25 * S);
    assert_eq!((swept.sessions, left.len()), (1, 0));
    assert_eq!(held(&mut g).0, [(busy, 1)]);
    let (swept, _, bib) = g.pass(26 * S);
    assert_eq!((swept.bindings, bib.len()), (1, 0));
    assert_eq!(
        held(&mut g).0,
        [(busy, 1)],
        "kept a pass after its last binding"
    );
    g.pass(27 * S);
    assert_eq!(held(&mut g), (vec![], vec![], vec![0, 1]));
    assert_eq!(g.counted(Counter::BlockReleased), 2);
}
