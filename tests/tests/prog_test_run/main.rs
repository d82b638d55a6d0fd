//! BPF_PROG_TEST_RUN fixtures: the real XDP object, loaded into the kernel, run against
//! frames built field by field (tests/src/packet.rs). Each row: input frame → expected XDP
//! action, exact output bytes, and exactly which counters moved.
//!
//! The program's FIB lookups need routes and neighbours: the test thread enters a
//! namespace (`Netns`, deleted on drop) with
//!   out6 2001:db8:6::1/64, neighbour 2001:db8:6::2 at MAC6_NEXT (permanent)
//!   out4 192.0.2.1/24,     neighbour 192.0.2.2 at MAC4_NEXT (permanent)
//!   198.51.100.0/24 and 2001:db8:7::/64 via next hops with no neighbour entry (→ XDP_PASS);
//!   198.51.100.77 and 2001:db8:8::5 via the known neighbours over 1300-byte routes,
//!   198.51.100.78 over a 1000-byte one.
use std::net::{Ipv4Addr, Ipv6Addr};

use aya::{
    maps::Array,
    programs::{SchedClassifier, TestRun, TestRunOptions},
};
use nat64_common::{
    frag::{FragEntry, FragKey, FRAG_TIMEOUT_NS, MAP_FRAGS},
    maps::{
        GatewayConfig, HeldSynKey, HeldSynTarget, SessionEntry, SessionEvent, SessionKey,
        SlowPathHeader, CONFIG_F_ADDRESS_DEPENDENT_FILTERING, CONFIG_F_ALLOW_NONGLOBAL,
        CONFIG_F_FILTERING_ICMP, CONFIG_F_SESSION_EVENTS, CONFIG_F_SLOW_PATH, EVENT_BIB_CREATED,
        EVENT_SESSION_CREATED, MAP_CONFIG, MAP_EVENTS, MAP_HELD_SYNS, MAP_SESSIONS, MAP_SLOW,
        PROTO_ICMP, PROTO_TCP, PROTO_UDP, SESSION_F_FROM_V4, SESSION_KIND_FLOW, SESSION_KIND_PEER,
        SLOW_FRAME_MAX, SLOW_KIND_FRAGMENT, SLOW_KIND_HELD_SYN, SLOW_KIND_HELD_SYN6,
    },
    Counter,
};
use nat64_ctl::{
    config::{self, Settings},
    loader::{self, TableSizes},
    pool4::{Pool4Group, Pool4Slots},
    stats,
    tables::Tables,
};
use nat64_tests::{lab_available, packet::*, Netns};

mod fuzz;
use fuzz::fuzz_loaded;

// The hooks every fixture group runs under, one test per hook (`translation::xdp`,
// `translation::tc`; a name filter such as `translation` runs both).
macro_rules! per_hook {
    ($group:path, $declared:expr) => {
        #[test]
        fn xdp() {
            super::run_group(super::Hook::Xdp, $group, $declared);
        }
        #[test]
        fn tc() {
            super::run_group(super::Hook::Tc, $group, $declared);
        }
    };
}

/// Where the program is attached, as BPF_PROG_TEST_RUN runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    /// The `nat64` XDP program, run on the frame as an xdp_buff.
    Xdp,
    /// The `nat64_tc` sched_cls program, run on the frame as skb data.
    Tc,
}

/// The TC program's name in the object (the XDP one is `nat64_ctl::XDP_PROGRAM`).
const TC_PROGRAM: &str = "nat64_tc";

/// What a row expects the program to do with the frame, whatever the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Drop,
    Redirect,
    /// Sent back out of the interface it came in on.
    Tx,
}

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;
const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;
const TC_ACT_REDIRECT: u32 = 7;

impl Verdict {
    /// The return code `hook` gives for this verdict. TC has no XDP_TX: sending back out of
    /// the ingress interface is a redirect there.
    fn code(self, hook: Hook) -> u32 {
        match (hook, self) {
            (Hook::Xdp, Verdict::Pass) => XDP_PASS,
            (Hook::Xdp, Verdict::Drop) => XDP_DROP,
            (Hook::Xdp, Verdict::Redirect) => XDP_REDIRECT,
            (Hook::Xdp, Verdict::Tx) => XDP_TX,
            (Hook::Tc, Verdict::Pass) => TC_ACT_OK,
            (Hook::Tc, Verdict::Drop) => TC_ACT_SHOT,
            (Hook::Tc, Verdict::Redirect | Verdict::Tx) => TC_ACT_REDIRECT,
        }
    }

    /// The verdict a return code of `hook` means, for messages (TC's redirect reads as
    /// `Redirect` whether a row meant a redirect or a send-back).
    fn of(hook: Hook, code: u32) -> Option<Verdict> {
        [Verdict::Pass, Verdict::Drop, Verdict::Redirect, Verdict::Tx]
            .into_iter()
            .find(|v| v.code(hook) == code)
    }
}

const MAC6_SELF: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
const MAC6_NEXT: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x02];
const MAC4_SELF: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];
const MAC4_NEXT: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x02];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const CLIENT6: &str = "2001:db8:6::2";
const SERVER4: &str = "192.0.2.2";
const SERVER4_IN_POOL6: &str = "64:ff9b::c000:202";
const POOL4: &str = "203.0.113.1";
/// The gateway's own addresses (out6, out4): the sources of the errors it originates.
const GATEWAY6: &str = "2001:db8:6::1";
const GATEWAY4: &str = "192.0.2.1";
/// How many static bindings `Harness::new_sized` configures.
const STATIC_BINDINGS: u32 = 6;

struct Harness {
    ebpf: aya::Ebpf,
    hook: Hook,
    stats: aya::maps::PerCpuArray<aya::maps::MapData, u64>,
    _ns: Netns,
    /// Counters some row expected and saw move.
    hit: std::collections::HashSet<Counter>,
    /// Drop reasons of rows this hook cannot run (see `runnable`).
    unrunnable: std::collections::HashSet<Counter>,
}

impl Harness {
    fn new(name: &str, hook: Hook) -> Option<Harness> {
        Self::new_sized(name, hook, TableSizes::default())
    }

    /// With binding tables of `bib_entries` each (the object's default otherwise).
    fn new_sized(name: &str, hook: Hook, sizes: TableSizes) -> Option<Harness> {
        if !lab_available(name) {
            return None;
        }
        nat64_tests::sweep_stale_namespaces();
        // The hook in the name: the tests of both hooks run at once.
        let ns = Netns::create(format!(
            "{}{}x{name}-{}",
            nat64_tests::NETNS_PREFIX,
            std::process::id(),
            format!("{hook:?}").to_lowercase()
        ))
        .unwrap();
        ns.sh(&format!(
            "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && \
             ip link add out6 address {} type veth peer name peer6 && \
             ip link add out4 address {} type veth peer name peer4 && \
             for d in out6 peer6 out4 peer4; do ip link set $d up; done && \
             ip -6 addr add 2001:db8:6::1/64 dev out6 nodad && ip addr add 192.0.2.1/24 dev out4 && \
             ip -6 neigh replace {CLIENT6} lladdr {} dev out6 nud permanent && \
             ip neigh replace {SERVER4} lladdr {} dev out4 nud permanent && \
             ip -6 neigh replace 2001:db8:6::3 lladdr {} dev out6 nud permanent && \
             ip route add 198.51.100.0/24 via 192.0.2.99 && \
             ip -6 route add 2001:db8:7::/64 via 2001:db8:6::99 && \
             ip route add 198.51.100.77/32 via {SERVER4} mtu lock 1300 && \
             ip -6 route add 2001:db8:8::5/128 via {CLIENT6} mtu lock 1300 && \
             ip route add 198.51.100.78/32 via {SERVER4} mtu lock 1000",
            mac(MAC6_SELF),
            mac(MAC4_SELF),
            mac(MAC6_NEXT),
            mac(MAC4_NEXT),
            mac(MAC6_NEXT),
        ))
        .unwrap();
        enter(&ns);

        let mut ebpf = loader::load_sized(loader::BpfLogLevel::Off, sizes)
            .expect("the kernel loads the XDP object");
        if hook == Hook::Tc {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(TC_PROGRAM)
                .unwrap_or_else(|| panic!("program {TC_PROGRAM:?} missing from the object"))
                .try_into()
                .expect("the TC program is a sched_cls program");
            prog.load().expect("the kernel loads the TC program");
        }
        let settings = Settings {
            pool6: config::parse_pool6("64:ff9b::/96").unwrap(),
            allow_nonglobal: true, // the fixtures use documentation addresses
            // One-port dynamic ranges make the dynamic binding's port predictable and let
            // a second flow find the pool exhausted; TCP has its own range, as
            // `--pool4 A --ports 6100-6100 --proto udp,icmp --pool4 A --ports 6200-6200
            // --proto tcp` would give it.
            pool4: Pool4Slots::from_groups(
                &[
                    Pool4Group::parse(&[POOL4.into()], Some("6100-6100"), Some("udp,icmp"))
                        .unwrap(),
                    Pool4Group::parse(&[POOL4.into()], Some("6200-6200"), Some("tcp")).unwrap(),
                ],
                "--pool4",
            )
            .unwrap(),
            secret: 0x5eed,
            static_bib: vec![
                format!("udp {POOL4}#6000 {CLIENT6}#5000").parse().unwrap(),
                format!("tcp {POOL4}#6001 {CLIENT6}#5001").parse().unwrap(),
                format!("icmp {POOL4}#7000 {CLIENT6}#1234").parse().unwrap(),
                // A service of a second client, published on pool4 (hairpinning target).
                format!("udp {POOL4}#6004 2001:db8:6::3#9000")
                    .parse()
                    .unwrap(),
                // A client behind a 1300-byte link.
                format!("udp {POOL4}#6003 2001:db8:8::5#5003")
                    .parse()
                    .unwrap(),
                // A client behind a next hop with no neighbour entry.
                format!("udp {POOL4}#6002 2001:db8:7::5#5002")
                    .parse()
                    .unwrap(),
            ],
            timeouts: nat64_common::timeouts::Timeouts::DEFAULT,
            address_dependent_filtering: false,
            lowest_ipv6_mtu: 1280,
            // The gateway's own addresses on the two links (see the namespace above).
            icmp: config::IcmpSettings {
                source6: Some(v6(GATEWAY6)),
                source4: Some(v4(GATEWAY4)),
                ..Default::default()
            },
        };
        config::apply(&mut Tables::from_ebpf(&ebpf).unwrap(), &settings).unwrap();
        let stats = stats::take(&mut ebpf).unwrap();
        Some(Harness {
            ebpf,
            hook,
            stats,
            _ns: ns,
            hit: Default::default(),
            unrunnable: Default::default(),
        })
    }

    fn set_allow_nonglobal(&mut self, allow: bool) {
        self.set_flag(CONFIG_F_ALLOW_NONGLOBAL, allow);
    }

    /// Everything on the session-log ring buffer, oldest first.
    fn events(&mut self) -> Vec<SessionEvent> {
        let mut ring =
            aya::maps::RingBuf::try_from(self.ebpf.map_mut(MAP_EVENTS).unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(item) = ring.next() {
            assert_eq!(item.len(), std::mem::size_of::<SessionEvent>());
            out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<SessionEvent>()) });
        }
        out
    }

    /// Everything queued for the slow path, oldest first: each record's header and frame.
    fn slow_records(&mut self) -> Vec<(SlowPathHeader, Vec<u8>)> {
        let mut ring = aya::maps::RingBuf::try_from(self.ebpf.map_mut(MAP_SLOW).unwrap()).unwrap();
        let hlen = std::mem::size_of::<SlowPathHeader>();
        let mut out = Vec::new();
        while let Some(item) = ring.next() {
            assert_eq!(item.len(), hlen + SLOW_FRAME_MAX, "records are fixed-size");
            let h: SlowPathHeader = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            out.push((h, item[hlen..hlen + h.len as usize].to_vec()));
        }
        out
    }

    /// Changes the configuration the program reads, as nat64-ctl would; returns what `f` does.
    fn update_config<T>(&mut self, f: impl FnOnce(&mut GatewayConfig) -> T) -> T {
        let mut cfg: Array<_, GatewayConfig> =
            Array::try_from(self.ebpf.map_mut(MAP_CONFIG).unwrap()).unwrap();
        let mut c = cfg.get(&0, 0).unwrap();
        let r = f(&mut c);
        cfg.set(0, c, 0).unwrap();
        r
    }

    fn set_flag(&mut self, flag: u32, on: bool) {
        let mut cfg: Array<_, GatewayConfig> =
            Array::try_from(self.ebpf.map_mut(MAP_CONFIG).unwrap()).unwrap();
        let mut c = cfg.get(&0, 0).unwrap();
        if on {
            c.flags |= flag;
        } else {
            c.flags &= !flag;
        }
        cfg.set(0, c, 0).unwrap();
    }

    /// The return code `verdict` has under this harness's hook.
    fn code(&self, verdict: Verdict) -> u32 {
        verdict.code(self.hook)
    }

    /// Runs the hook's program on `frame`: its return code and the frame it left.
    ///
    /// No ctx_in under either hook, so both see the frame arrive on the namespace's
    /// loopback device (XDP: the xdp_md's ingress_ifindex defaults to it; TC: the skb's
    /// device does) and the FIB lookups run in the namespace this thread entered. A row
    /// that needs another ingress device would pass an xdp_md or a __sk_buff with its
    /// ingress_ifindex / ifindex here.
    fn run(&mut self, frame: &[u8]) -> (u32, Vec<u8>) {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        };
        let res = match self.hook {
            Hook::Xdp => loader::xdp_program(&mut self.ebpf).unwrap().test_run(opts),
            Hook::Tc => {
                let prog: &mut SchedClassifier = self
                    .ebpf
                    .program_mut(TC_PROGRAM)
                    .unwrap()
                    .try_into()
                    .unwrap();
                prog.test_run(opts)
            }
        }
        .expect("BPF_PROG_TEST_RUN");
        out.truncate(res.data_size_out as usize);
        (res.return_value, out)
    }

    fn counters(&self) -> Vec<u64> {
        stats::read(&self.stats)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Records a held SYN from `remote`:`rport` to `addr4`:`port4`, as nat64-ctl does.
    fn hold_syn(&mut self, remote: &str, rport: u16, addr4: &str, port4: u16) {
        let mut map: aya::maps::HashMap<_, HeldSynKey, HeldSynTarget> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_HELD_SYNS).unwrap()).unwrap();
        let key = HeldSynKey {
            remote4: v4(remote).octets(),
            remote_port: rport,
            _pad: 0,
        };
        let target = HeldSynTarget {
            addr4: v4(addr4).octets(),
            port4,
            _pad: 0,
        };
        map.insert(key, target, 0).unwrap();
    }

    /// Sessions as the data plane left them.
    fn sessions(&mut self) -> Vec<(SessionKey, SessionEntry)> {
        let map: aya::maps::HashMap<_, SessionKey, SessionEntry> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_SESSIONS).unwrap()).unwrap();
        map.iter().map(|r| r.unwrap()).collect()
    }

    /// The fragment records, with their entries made `by_ns` older (as if that much
    /// time had passed since their first fragments).
    fn age_fragments(&mut self, by_ns: u64) -> Vec<(FragKey, FragEntry)> {
        let mut map: aya::maps::HashMap<_, FragKey, FragEntry> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_FRAGS).unwrap()).unwrap();
        let all: Vec<(FragKey, FragEntry)> = map.iter().map(|r| r.unwrap()).collect();
        for (k, e) in &all {
            let older = FragEntry {
                created_ns: e.created_ns - by_ns,
                ..*e
            };
            map.insert(k, older, 0).unwrap();
        }
        all
    }

    /// The sessions, made `by_ns` older (as if that much time had passed since their
    /// last packet); returns them as they are now.
    fn age_sessions(&mut self, by_ns: u64) -> Vec<(SessionKey, SessionEntry)> {
        let mut map: aya::maps::HashMap<_, SessionKey, SessionEntry> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_SESSIONS).unwrap()).unwrap();
        let all: Vec<(SessionKey, SessionEntry)> = map.iter().map(|r| r.unwrap()).collect();
        let mut aged = Vec::new();
        for (k, e) in &all {
            let older = SessionEntry {
                last_seen_ns: e.last_seen_ns - by_ns,
                ..*e
            };
            map.insert(k, older, 0).unwrap();
            aged.push((*k, older));
        }
        aged
    }

    fn clear_sessions(&mut self) {
        let keys: Vec<SessionKey> = self.sessions().into_iter().map(|(k, _)| k).collect();
        let mut map: aya::maps::HashMap<_, SessionKey, SessionEntry> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_SESSIONS).unwrap()).unwrap();
        for k in keys {
            map.remove(&k).unwrap();
        }
    }

    /// One row on its own: no session left over from earlier rows.
    fn check(&mut self, row: Row) {
        self.clear_sessions();
        self.check_keep(row);
    }

    /// One row of a sequence: the sessions earlier rows opened stay.
    fn check_keep(&mut self, row: Row) {
        if !runnable(self.hook, &row.frame) {
            eprintln!(
                "skip ({:?}): {} — BPF_PROG_TEST_RUN refuses to build an skb of a frame shorter than its IP header",
                self.hook, row.name
            );
            self.unrunnable
                .extend(row.counters.iter().copied().filter(|c| c.is_drop()));
            return;
        }
        let before = self.counters();
        let (action, out) = self.run(&row.frame);
        let moved = |after: &[u64]| -> Vec<&str> {
            Counter::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| after[*i] != before[*i])
                .map(|(_, c)| c.name())
                .collect()
        };
        assert_eq!(
            action,
            self.code(row.action),
            "{}: {:?} return code, {:?} ({:?} expected; counters moved: {:?})",
            row.name,
            self.hook,
            Verdict::of(self.hook, action),
            row.action,
            moved(&self.counters())
        );
        if let Some(expected) = &row.output {
            let expected = with_random_ipv4_id(expected, &out);
            assert_eq!(hex(&out), hex(&expected), "{}: output bytes", row.name);
        }
        let after = self.counters();
        self.hit.extend(row.counters.iter().copied());
        assert!(
            !row.counters.iter().any(|c| c.is_bytes()),
            "{}: rows list packet counters; the byte counters that follow them are implied",
            row.name
        );
        // Received bytes are the packet as it came in, translated bytes as it left.
        let len_in = ip_len(&row.frame);
        let len_out = ip_len(row.output.as_deref().unwrap_or(&out));
        for (i, &c) in Counter::ALL.iter().enumerate() {
            let delta = after[i] - before[i];
            let expected = if c.is_bytes() {
                let packets = Counter::ALL[i - 1];
                let n = row.counters.iter().filter(|&&x| x == packets).count() as u64;
                n * if packets.name().starts_with("rx_") {
                    len_in
                } else {
                    len_out
                }
            } else {
                // A counter listed n times must move by n.
                row.counters.iter().filter(|&&x| x == c).count() as u64
            };
            assert_eq!(
                delta,
                expected,
                "{}: counter {} moved by {delta}",
                row.name,
                c.name()
            );
        }
        eprintln!(
            "ok: {:<52} action {action}, {} bytes out",
            row.name,
            out.len()
        );
    }
}

/// Whether `hook`'s BPF_PROG_TEST_RUN takes `frame`: for sched_cls the kernel builds an
/// skb and refuses (EINVAL) an IP frame shorter than its fixed IP header. Such frames
/// reach TC in real life too; their rows run under XDP.
fn runnable(hook: Hook, frame: &[u8]) -> bool {
    const ETH_HLEN: usize = 14;
    let l3_min = match frame.get(12..14) {
        Some([0x86, 0xdd]) => 40,
        Some([0x08, 0x00]) => 20,
        _ => 0,
    };
    hook == Hook::Xdp || frame.len() >= ETH_HLEN + l3_min
}

/// Moves this test's thread into the namespace, so the program's FIB lookups see it.
fn enter(ns: &Netns) {
    let f = std::fs::File::open(format!("/run/netns/{}", ns.name)).unwrap();
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Length of the IP packet in an Ethernet frame, as its header states it.
fn ip_len(frame: &[u8]) -> u64 {
    let be16 = |at: usize| u64::from(u16::from_be_bytes([frame[at], frame[at + 1]]));
    match be16(12) {
        0x86dd => 40 + be16(14 + 4),
        0x0800 => be16(14 + 2),
        _ => 0,
    }
}

fn hex(b: &[u8]) -> String {
    b.chunks(16)
        .map(|c| {
            c.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Row {
    name: &'static str,
    frame: Vec<u8>,
    action: Verdict,
    /// Exact expected frame; None for drops (their bytes do not leave the host).
    output: Option<Vec<u8>>,
    counters: &'static [Counter],
}

use Counter::*;

/// Translated small packets (DF=0) get Identifications that differ from packet to packet,
/// not a constant: four equal ones in a row would be a 1 in 2^48 chance.
fn random_ipv4_ids(h: &mut Harness) {
    let frame = from_client6(udp_to_pool6_hop(64, b"ids"));
    let ids: Vec<[u8; 2]> = (0..4)
        .map(|_| {
            let (action, out) = h.run(&frame);
            assert_eq!(action, h.code(Verdict::Redirect));
            assert_eq!(out[20] & 0x40, 0, "DF=0 for a small packet");
            [out[18], out[19]]
        })
        .collect();
    assert!(ids.iter().any(|id| *id != ids[0]), "ids {ids:?}");
    h.clear_sessions();
}

/// A translated whole IPv4 packet with DF=0 carries a random Identification: where the
/// expected frame leaves it 0, take the one the program chose (and redo the header
/// checksum). Every other byte is still compared. `random_ipv4_ids` checks the IDs differ.
fn with_random_ipv4_id(expected: &[u8], out: &[u8]) -> Vec<u8> {
    let mut e = expected.to_vec();
    let whole_df0 = |f: &[u8]| f.len() >= 34 && f[12..14] == [8, 0] && f[20..22] == [0, 0];
    if whole_df0(&e) && whole_df0(out) && e[18..20] == [0, 0] {
        e[18..20].copy_from_slice(&out[18..20]);
        e[24..26].copy_from_slice(&[0, 0]);
        let c = inet_checksum(&[&e[14..34]]);
        e[24..26].copy_from_slice(&c.to_be_bytes());
    }
    e
}

/// Frame as it arrives from client6 at the gateway.
fn from_client6(ip: Vec<u8>) -> Vec<u8> {
    with_macs(ethernet(0x86dd, &ip), MAC6_SELF, MAC6_NEXT)
}
/// Frame as it arrives from server4 at the gateway.
fn from_server4(ip: Vec<u8>) -> Vec<u8> {
    with_macs(ethernet(0x0800, &ip), MAC4_SELF, MAC4_NEXT)
}
/// Frame as the gateway must send it to server4.
fn to_server4(ip: Vec<u8>) -> Vec<u8> {
    with_macs(ethernet(0x0800, &ip), MAC4_NEXT, MAC4_SELF)
}
/// Frame as the gateway must send it to client6.
fn to_client6(ip: Vec<u8>) -> Vec<u8> {
    with_macs(ethernet(0x86dd, &ip), MAC6_NEXT, MAC6_SELF)
}

fn udp6(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    udp(
        sport,
        dport,
        payload,
        &pseudo_v6(v6(src), v6(dst), PROTO_UDP, 8 + payload.len()),
    )
}
fn udp4(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    udp(
        sport,
        dport,
        payload,
        &pseudo_v4(v4(src), v4(dst), PROTO_UDP, 8 + payload.len()),
    )
}
fn tcp6(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    tcp(
        sport,
        dport,
        0x01020304,
        0x02,
        payload,
        &pseudo_v6(v6(src), v6(dst), PROTO_TCP, 20 + payload.len()),
    )
}
fn tcp4(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    tcp(
        sport,
        dport,
        0x01020304,
        0x02,
        payload,
        &pseudo_v4(v4(src), v4(dst), PROTO_TCP, 20 + payload.len()),
    )
}
fn ip6(src: &str, dst: &str, nh: u8, hop: u8, l4: &[u8]) -> Vec<u8> {
    ipv6(v6(src), v6(dst), nh, hop, 0, l4)
}
fn ip4(src: &str, dst: &str, proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    ipv4(v4(src), v4(dst), proto, ttl, 0, 0, 0, l4)
}

/// IPv6 packet with extension headers inserted between the fixed header and `l4`.
/// `exts` are (type, body) with body already padded to 8n-2 bytes.
fn ip6_with_ext(
    src: &str,
    dst: &str,
    exts: &[(u8, Vec<u8>)],
    upper: u8,
    hop: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, (_, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map(|e| e.0).unwrap_or(upper);
        assert_eq!((body.len() + 2) % 8, 0);
        payload.push(next);
        payload.push(((body.len() + 2) / 8 - 1) as u8);
        payload.extend_from_slice(body);
    }
    payload.extend_from_slice(l4);
    ipv6(
        v6(src),
        v6(dst),
        exts.first().map(|e| e.0).unwrap_or(upper),
        hop,
        0,
        &payload,
    )
}

const PADN6: [u8; 6] = [1, 4, 0, 0, 0, 0];

/// Drop reasons no fixture can reach: test_run refuses frames shorter than an Ethernet
/// header, and the others need the kernel to fail (resizing, a per-CPU slot).
/// DropSlowPathTooBig needs a linear frame over 9216 bytes, more than test_run builds;
/// DropSlowPathFull a ring filled by other CPUs in the instant between the backlog check
/// (queuing stops at half the ring) and the reservation.
const UNREACHABLE_IN_FIXTURES: &[Counter] = &[
    DropTruncatedEth,
    DropAdjustFailed,
    DropInternal,
    DropSlowPathTooBig,
    DropSlowPathFull,
];

/// Each group of rows, with the drop reasons its rows prove: a test per group and hook
/// (`<group>::xdp`, …) runs the group on a harness of its own and checks that the reasons
/// its rows saw are exactly the ones listed here; `every_drop_reason_has_a_row` checks
/// that this table names every reason. Neither needs another test to have run.
macro_rules! fixture_groups {
    ($($group:ident [$($drop:ident),* $(,)?]),+ $(,)?) => {
        static GROUPS: &[(&str, &[Counter])] = &[$((stringify!($group), &[$($drop),*])),+];
        $(
            mod $group {
                per_hook!(super::$group, &[$(super::Counter::$drop),*]);
            }
        )+
    };
}

/// Runs `group` under `hook` and checks the drop reasons it proved against `declared`.
fn run_group(hook: Hook, group: fn(Hook) -> Option<Harness>, declared: &[Counter]) {
    let Some(h) = group(hook) else {
        return;
    };
    let mut seen: Vec<Counter> = h.hit.iter().copied().filter(|c| c.is_drop()).collect();
    seen.sort_by_key(|c| c.name());
    let mut declared = declared.to_vec();
    // A reason only unrunnable rows prove is proved under the other hook.
    declared.retain(|c| seen.contains(c) || !h.unrunnable.contains(c));
    declared.sort_by_key(|c| c.name());
    assert_eq!(
        seen, declared,
        "the drop reasons this group's rows expect differ from its GROUPS entry"
    );
}

fixture_groups! {
    translation [
        DropIpv6SourceInPool6,
        DropMartianIpv4Source,
        DropBadTcpHeader,
        DropBadIpv4Checksum,
        DropBadIpv4Header,
        DropBadIpv4Options,
        DropBadLength,
        DropExtHeaderChainTooLong,
        DropExtHeaderUnknown,
        DropIcmp4Unsupported,
        DropIcmp6Unsupported,
        DropIpv4SourceRoute,
        DropNoBib4,
        DropNoBib6,
        DropNoSession,
        DropNonGlobalIpv4,
        DropPool4Empty,
        DropPool4Exhausted,
        DropRoutingHeader,
        DropTruncatedIpv4,
        DropTruncatedIpv6,
        DropTruncatedL4,
        DropUdpZeroChecksumTooLong,
        DropUnsupportedProto,
    ],
    icmp_errors [
        DropIcmpBadChecksum,
        DropIcmpErrorInError,
        DropIcmpInnerUntranslatable,
        DropIcmpPointerUnmappable,
        DropIcmp4Unsupported,
        DropNoBib4,
        DropNoBib6,
    ],
    originated_errors [DropHopLimit, DropIcmpUnmappableSource, DropTooBig],
    ipv4_ids [],
    slow_path [DropNoBib4],
    fragments [
        DropFragmentHairpin,
        DropFragmentIcmp,
        DropFragmentMalformed,
        DropFragmentOutOfOrder,
        DropFragmentUdpZeroChecksum,
    ],
    session_log [],
    mutated_frames [],
    bib_full [DropBibFull],
    session_table [DropFiltered, DropNoSession, DropSessionTableFull],
}

fn default_harness(group: &str, hook: Hook, rows: fn(&mut Harness)) -> Option<Harness> {
    let mut h = Harness::new(group, hook)?;
    rows(&mut h);
    Some(h)
}
fn translation(hook: Hook) -> Option<Harness> {
    default_harness("translation", hook, translation_fixtures)
}
fn icmp_errors(hook: Hook) -> Option<Harness> {
    default_harness("icmperr", hook, icmp_error_fixtures)
}
fn originated_errors(hook: Hook) -> Option<Harness> {
    default_harness("origerr", hook, originated_error_fixtures)
}
fn ipv4_ids(hook: Hook) -> Option<Harness> {
    default_harness("ids", hook, random_ipv4_ids)
}
fn slow_path(hook: Hook) -> Option<Harness> {
    default_harness("slow", hook, slow_path_fixtures)
}
fn fragments(hook: Hook) -> Option<Harness> {
    default_harness("frags", hook, fragment_fixtures)
}
fn mutated_frames(hook: Hook) -> Option<Harness> {
    default_harness("fuzz", hook, fuzz_loaded)
}
fn session_log(hook: Hook) -> Option<Harness> {
    default_harness("evlog", hook, session_log_overflow)
}
fn session_table(hook: Hook) -> Option<Harness> {
    let mut s = Harness::new_sized(
        "sessions",
        hook,
        TableSizes {
            bib: None,
            sessions: Some(3),
        },
    )?;
    session_fixtures(&mut s);
    Some(s)
}
fn bib_full(hook: Hook) -> Option<Harness> {
    // Tables sized to the static bindings alone: a new flow finds them full.
    let mut full = Harness::new_sized(
        "bibfull",
        hook,
        TableSizes {
            bib: Some(STATIC_BINDINGS),
            sessions: None,
        },
    )?;
    let p = b"table full";
    let refused = ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 7002, 53, p),
    );
    full.check(Row {
        name: "a new flow when the binding table is full → admin prohibited",
        frame: from_client6(refused.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, 1, 3, [0; 4], &refused)),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropBibFull,
            IcmpSentAddressUnreachable6,
            VerdictTx,
        ],
    });
    full.check(Row {
        name: "static bindings go on when the table is full",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6000, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    Some(full)
}

#[test]
fn every_drop_reason_has_a_row() {
    let missing: Vec<&str> = Counter::ALL
        .iter()
        .filter(|c| {
            c.is_drop()
                && !UNREACHABLE_IN_FIXTURES.contains(c)
                && !Counter::USERSPACE.contains(c)
                && !GROUPS.iter().any(|(_, drops)| drops.contains(c))
        })
        .map(|c| c.name())
        .collect();
    assert!(
        missing.is_empty(),
        "drop reasons without a fixture row: {missing:?}"
    );
}

fn translation_fixtures(h: &mut Harness) {
    let p = b"fixture payload";

    // ---- IPv6 → IPv4 ------------------------------------------------------------------
    h.check(Row {
        name: "udp 6to4 redirect",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6000, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    h.check(Row {
        name: "tcp 6to4 redirect",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6(CLIENT6, SERVER4_IN_POOL6, 5001, 80, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4(POOL4, SERVER4, 6001, 80, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    h.check(Row {
        name: "icmpv6 echo request → icmpv4 echo request",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_ICMPV6,
            64,
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                128,
                0,
                echo_rest(1234, 9),
                p,
            ),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_ICMP,
            63,
            &icmp4(8, 0, echo_rest(7000, 9), p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Icmp,
            Xlat6to4Icmp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        // A wrong checksum stays wrong by the same amount: never "fixed".
        let mut frame = from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        ));
        skew_u16(&mut frame, 14 + 40 + 6, 0x1234);
        let mut out = to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6000, 53, p),
        ));
        skew_u16(&mut out, 14 + 20 + 6, 0x1234);
        h.check(Row {
            name: "udp 6to4 wrong checksum stays wrong",
            frame,
            action: Verdict::Redirect,
            output: Some(out),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                Xlat6to4Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    {
        // DF is set only when the IPv4 packet exceeds 1260 bytes (RFC 7915 §5.1).
        let big = vec![0xabu8; 1300];
        let mut expect = ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6000, 53, &big),
        );
        set_df(&mut expect);
        h.check(Row {
            name: "udp 6to4 1328-byte packet gets DF",
            frame: from_client6(ip6(
                CLIENT6,
                SERVER4_IN_POOL6,
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &big),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(expect)),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                Xlat6to4Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    h.check(Row {
        name: "6to4 traffic class → TOS",
        frame: from_client6(ipv6(
            v6(CLIENT6),
            v6(SERVER4_IN_POOL6),
            PROTO_UDP,
            64,
            0xb8,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ipv4(
            v4(POOL4),
            v4(SERVER4),
            PROTO_UDP,
            63,
            0xb8,
            0,
            0,
            &udp4(POOL4, SERVER4, 6000, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    for (name, exts) in [
        ("hop-by-hop options skipped", vec![(0u8, PADN6.to_vec())]),
        (
            "destination options + routing (segments left 0) skipped",
            vec![(60u8, PADN6.to_vec()), (43u8, vec![0, 0, 0, 0, 0, 0])],
        ),
    ] {
        h.check(Row {
            name,
            frame: from_client6(ip6_with_ext(
                CLIENT6,
                SERVER4_IN_POOL6,
                &exts,
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(ip4(
                POOL4,
                SERVER4,
                PROTO_UDP,
                63,
                &udp4(POOL4, SERVER4, 6000, 53, p),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                Xlat6to4Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    {
        // No neighbour for the next hop. XDP: the kernel forwards, and decrements, itself.
        // TC: the kernel's neighbour layer takes the packet (we forward, we decrement; it
        // writes the MACs once resolved).
        let dst4 = "198.51.100.7";
        let dst6 = "64:ff9b::c633:6407";
        let frame = from_client6(ip6(
            CLIENT6,
            dst6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, dst6, 5000, 53, p),
        ));
        let ttl = if h.hook == Hook::Tc { 63 } else { 64 };
        let out = with_macs(
            ethernet(
                0x0800,
                &ip4(POOL4, dst4, PROTO_UDP, ttl, &udp4(POOL4, dst4, 6000, 53, p)),
            ),
            MAC6_SELF,
            MAC6_NEXT,
        );
        if h.hook == Hook::Tc {
            h.check(Row {
                name: "udp 6to4 next hop unresolved → neighbour layer, TTL decremented",
                frame,
                action: Verdict::Redirect,
                output: Some(out),
                counters: &[
                    RxIpv6,
                    Rx6to4Udp,
                    Xlat6to4Udp,
                    SessionCreated,
                    FwdRedirectNeighbour,
                    VerdictRedirect,
                ],
            });
        } else {
            h.check(Row {
                name: "udp 6to4 next hop unresolved → pass, TTL kept",
                frame,
                action: Verdict::Pass,
                output: Some(out),
                counters: &[
                    RxIpv6,
                    Rx6to4Udp,
                    Xlat6to4Udp,
                    SessionCreated,
                    FwdPassNoNeighbour,
                    VerdictPass,
                ],
            });
        }
    }

    // ---- IPv4 → IPv6 ------------------------------------------------------------------
    h.check(Row {
        name: "udp 4to6 redirect",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 53, 6000, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, p),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        let mut l4 = udp4(SERVER4, POOL4, 53, 6000, p);
        l4[6] = 0;
        l4[7] = 0;
        h.check(Row {
            name: "udp 4to6 zero checksum computed",
            frame: from_server4(ip4(SERVER4, POOL4, PROTO_UDP, 64, &l4)),
            action: Verdict::Redirect,
            output: Some(to_client6(ip6(
                SERVER4_IN_POOL6,
                CLIENT6,
                PROTO_UDP,
                63,
                &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, p),
            ))),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                Xlat4to6Udp,
                SessionCreated,
                UdpZeroChecksumComputed,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    h.check(Row {
        name: "tcp 4to6 redirect",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_TCP,
            64,
            &tcp4(SERVER4, POOL4, 80, 6001, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_TCP,
            63,
            &tcp6(SERVER4_IN_POOL6, CLIENT6, 80, 5001, p),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Tcp,
            Xlat4to6Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    // An echo reply may only follow its request: no session, no translation.
    let reply = from_server4(ip4(
        SERVER4,
        POOL4,
        PROTO_ICMP,
        64,
        &icmp4(0, 0, echo_rest(7000, 9), p),
    ));
    h.check(Row {
        name: "icmpv4 echo reply without a session",
        frame: reply.clone(),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Icmp, DropNoSession, VerdictDrop],
    });
    let request = from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_ICMPV6,
        64,
        &icmp6(
            v6(CLIENT6),
            v6(SERVER4_IN_POOL6),
            128,
            0,
            echo_rest(1234, 9),
            p,
        ),
    ));
    assert_eq!(
        h.run(&request).0,
        h.code(Verdict::Redirect),
        "the echo request opens the session"
    );
    h.check_keep(Row {
        name: "icmpv4 echo reply → icmpv6 echo reply",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_ICMP,
            64,
            &icmp4(0, 0, echo_rest(7000, 9), p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_ICMPV6,
            63,
            &icmp6(
                v6(SERVER4_IN_POOL6),
                v6(CLIENT6),
                129,
                0,
                echo_rest(1234, 9),
                p,
            ),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Icmp,
            Xlat4to6Icmp,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        let l4 = udp4(SERVER4, POOL4, 53, 6000, p);
        let frame = from_server4(ipv4_with_options(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &[1, 1, 1, 0],
            &l4,
        ));
        let out = to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, p),
        ));
        h.check(Row {
            name: "ipv4 options (NOP, EOL) are not translated",
            frame,
            action: Verdict::Redirect,
            output: Some(out),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                Xlat4to6Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }

    {
        // No neighbour for the IPv6 next hop: as in 6→4 (XDP passes, TC redirects to the
        // neighbour layer).
        let frame = from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 53, 6002, p),
        ));
        let l4 = udp6(SERVER4_IN_POOL6, "2001:db8:7::5", 53, 5002, p);
        let hops = if h.hook == Hook::Tc { 63 } else { 64 };
        let out = with_macs(
            ethernet(
                0x86dd,
                &ip6(SERVER4_IN_POOL6, "2001:db8:7::5", PROTO_UDP, hops, &l4),
            ),
            MAC4_SELF,
            MAC4_NEXT,
        );
        if h.hook == Hook::Tc {
            h.check(Row {
                name: "udp 4to6 next hop unresolved → neighbour layer, hop limit decremented",
                frame,
                action: Verdict::Redirect,
                output: Some(out),
                counters: &[
                    RxIpv4,
                    Rx4to6Udp,
                    Xlat4to6Udp,
                    SessionCreated,
                    FwdRedirectNeighbour,
                    VerdictRedirect,
                ],
            });
        } else {
            h.check(Row {
                name: "udp 4to6 next hop unresolved → pass, hop limit kept",
                frame,
                action: Verdict::Pass,
                output: Some(out),
                counters: &[
                    RxIpv4,
                    Rx4to6Udp,
                    Xlat4to6Udp,
                    SessionCreated,
                    FwdPassNoNeighbour,
                    VerdictPass,
                ],
            });
        }
    }

    // ---- Dynamic bindings (the dynamic range here is the single port 6100) ---------------
    h.check(Row {
        name: "udp from a new source gets a dynamic binding",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 7000, 53, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6100, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            BibCreated,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        // Endpoint-independent mapping: another destination, the same pool4 port.
        let (far4, far6) = ("198.51.100.77", "64:ff9b::c633:644d");
        h.check(Row {
            name: "same source to another destination reuses its binding",
            frame: from_client6(ip6(
                CLIENT6,
                far6,
                PROTO_UDP,
                64,
                &udp6(CLIENT6, far6, 7000, 53, p),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(ip4(
                POOL4,
                far4,
                PROTO_UDP,
                63,
                &udp4(POOL4, far4, 6100, 53, p),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                Xlat6to4Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    h.check(Row {
        name: "reply to the dynamic binding reaches the client",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 53, 6100, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 7000, p),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        // Endpoint-independent filtering, the default: a host the client never sent to
        // reaches its dynamic binding as well (RFC 6146 §3.5.1, RFC 4787 REQ-8).
        let (other4, other6) = ("198.51.100.9", "64:ff9b::c633:6409");
        h.check(Row {
            name: "eif: a host the client never contacted reaches its dynamic binding",
            frame: from_server4(ip4(
                other4,
                POOL4,
                PROTO_UDP,
                64,
                &udp4(other4, POOL4, 4444, 6100, p),
            )),
            action: Verdict::Redirect,
            output: Some(to_client6(ip6(
                other6,
                CLIENT6,
                PROTO_UDP,
                63,
                &udp6(other6, CLIENT6, 4444, 7000, p),
            ))),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                Xlat4to6Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    h.check(Row {
        name: "tcp from a new source gets a port from tcp's own range",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 7000, 80, nat64_common::tcp::SYN),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6200, 80, nat64_common::tcp::SYN),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            BibCreated,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        // Endpoint-independent mapping holds for TCP too (RFC 5382 REQ-1): the same source
        // to another destination leaves from the same pool4 port.
        let (far4, far6) = ("198.51.100.77", "64:ff9b::c633:644d");
        h.check(Row {
            name: "tcp: same source to another destination reuses its binding",
            frame: from_client6(ip6(
                CLIENT6,
                far6,
                PROTO_TCP,
                64,
                &tcp6_flags(CLIENT6, far6, 7000, 80, nat64_common::tcp::SYN),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(ip4(
                POOL4,
                far4,
                PROTO_TCP,
                63,
                &tcp4_flags(POOL4, far4, 6200, 80, nat64_common::tcp::SYN),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Tcp,
                Xlat6to4Tcp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    {
        // Every candidate is the one taken port: refused, counted, nothing evicted.
        let mut counters = vec![
            RxIpv6,
            Rx6to4Udp,
            DropPool4Exhausted,
            IcmpSentAddressUnreachable6,
            VerdictTx,
        ];
        counters.extend(std::iter::repeat_n(
            PortAllocRetries,
            nat64_common::port::MAX_PROBES as usize,
        ));
        let refused = ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 7001, 53, p),
        );
        h.check(Row {
            name: "a second new source finds the pool exhausted → admin prohibited",
            frame: from_client6(refused.clone()),
            action: Verdict::Tx,
            output: Some(originated6(CLIENT6, 1, 3, [0; 4], &refused)),
            counters: Box::leak(counters.into_boxed_slice()),
        });
        h.check(Row {
            name: "the established binding still works after exhaustion",
            frame: from_client6(ip6(
                CLIENT6,
                SERVER4_IN_POOL6,
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 7000, 53, p),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(ip4(
                POOL4,
                SERVER4,
                PROTO_UDP,
                63,
                &udp4(POOL4, SERVER4, 6100, 53, p),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                Xlat6to4Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
        // No pool4 address lends ICMP identifiers (as if every `--pool4` group had
        // `--proto tcp,udp`): a new ping is refused under its own reason, not as if it
        // were an echo reply without a binding.
        let slots = h.update_config(|c| std::mem::replace(&mut c.pool4_slots[2], 0));
        let ping = ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_ICMPV6,
            64,
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                128,
                0,
                echo_rest(4321, 1),
                p,
            ),
        );
        h.check(Row {
            name: "a new ping when no pool4 address serves icmp → admin prohibited",
            frame: from_client6(ping.clone()),
            action: Verdict::Tx,
            output: Some(originated6(CLIENT6, 1, 3, [0; 4], &ping)),
            counters: &[
                RxIpv6,
                Rx6to4Icmp,
                DropPool4Empty,
                IcmpSentAddressUnreachable6,
                VerdictTx,
            ],
        });
        h.update_config(|c| c.pool4_slots[2] = slots);
    }

    {
        // Hairpinning: client6 addresses the second client's public transport address; it
        // comes back as IPv6 from client6's own public transport address under pool6.
        let pool4_in_pool6 = "64:ff9b::cb00:7101";
        let peer = "2001:db8:6::3";
        h.check(Row {
            name: "hairpin: client to another client's pool4 address",
            frame: from_client6(ip6(
                CLIENT6,
                pool4_in_pool6,
                PROTO_UDP,
                64,
                &udp6(CLIENT6, pool4_in_pool6, 5000, 6004, p),
            )),
            action: Verdict::Redirect,
            output: Some(to_client6(ip6(
                pool4_in_pool6,
                peer,
                PROTO_UDP,
                63,
                &udp6(pool4_in_pool6, peer, 6000, 9000, p),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                XlatHairpin,
                SessionCreated,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
        // TCP takes the same path (RFC 5382 REQ-7): client6's dynamic TCP binding
        // (7000 → 6200) opens a connection to its own static service on pool4 port 6001.
        h.check(Row {
            name: "tcp hairpin: a client's SYN to a pool4 service of its own",
            frame: from_client6(ip6(
                CLIENT6,
                pool4_in_pool6,
                PROTO_TCP,
                64,
                &tcp6_flags(CLIENT6, pool4_in_pool6, 7000, 6001, nat64_common::tcp::SYN),
            )),
            action: Verdict::Redirect,
            output: Some(to_client6(ip6(
                pool4_in_pool6,
                CLIENT6,
                PROTO_TCP,
                63,
                &tcp6_flags(pool4_in_pool6, CLIENT6, 6200, 5001, nat64_common::tcp::SYN),
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Tcp,
                XlatHairpin,
                SessionCreated,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }

    // ---- Not ours ---------------------------------------------------------------------
    let not_ours6 = from_client6(ip6(
        CLIENT6,
        "2001:db8:6::1",
        PROTO_UDP,
        64,
        &udp6(CLIENT6, "2001:db8:6::1", 5000, 53, p),
    ));
    h.check(Row {
        name: "ipv6 not to pool6 passes untouched",
        output: Some(not_ours6.clone()),
        frame: not_ours6,
        action: Verdict::Pass,
        counters: &[RxIpv6, PassNotOurs6, VerdictPass],
    });
    let not_ours4 = from_server4(ip4(
        SERVER4,
        "192.0.2.1",
        PROTO_UDP,
        64,
        &udp4(SERVER4, "192.0.2.1", 53, 6000, p),
    ));
    h.check(Row {
        name: "ipv4 not to pool4 passes untouched",
        output: Some(not_ours4.clone()),
        frame: not_ours4,
        action: Verdict::Pass,
        counters: &[RxIpv4, PassNotOurs4, VerdictPass],
    });
    let arp = ethernet(0x0806, &[0u8; 28]);
    h.check(Row {
        name: "arp passes untouched",
        output: Some(arp.clone()),
        frame: arp,
        action: Verdict::Pass,
        counters: &[RxOther, VerdictPass],
    });

    // ---- Drops: each reason its own counter ---------------------------------------------
    let udp_to_pool6 = |hop: u8| {
        from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            hop,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        ))
    };
    let drops: Vec<(&'static str, Vec<u8>, &[Counter], Counter)> = vec![
        (
            "tcp without SYN from a source with no binding",
            from_client6(ip6(
                CLIENT6,
                SERVER4_IN_POOL6,
                PROTO_TCP,
                64,
                &tcp(
                    5999,
                    80,
                    1,
                    0x10,
                    p,
                    &pseudo_v6(v6(CLIENT6), v6(SERVER4_IN_POOL6), PROTO_TCP, 20 + p.len()),
                ),
            )),
            &[RxIpv6, Rx6to4Tcp],
            DropNoBib6,
        ),
        (
            "no binding for the pool4 port",
            from_server4(ip4(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                &udp4(SERVER4, POOL4, 53, 6999, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropNoBib4,
        ),
        (
            "truncated ipv6 header",
            from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_UDP, 64, &[])[..30].to_vec()),
            &[RxIpv6],
            DropTruncatedIpv6,
        ),
        (
            "ipv6 payload length beyond the frame",
            {
                let mut f = udp_to_pool6(64);
                f[14 + 5] += 8;
                f
            },
            &[RxIpv6],
            DropBadLength,
        ),
        (
            "truncated udp header",
            from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_UDP, 64, &[0, 1, 0, 2])),
            &[RxIpv6, Rx6to4Udp],
            DropTruncatedL4,
        ),
        (
            "truncated tcp header",
            from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_TCP, 64, &[0u8; 12])),
            &[RxIpv6, Rx6to4Tcp],
            DropTruncatedL4,
        ),
        (
            // The same check (xlat::check_transport) in both directions.
            "tcp 6to4 data offset past the segment",
            from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_TCP, 64, &{
                let mut t = tcp6(CLIENT6, SERVER4_IN_POOL6, 5000, 80, &[]);
                t[12] = 0x60; // 24 bytes of header in a 20-byte segment
                t
            })),
            &[RxIpv6, Rx6to4Tcp],
            DropBadTcpHeader,
        ),
        (
            "tcp 4to6 data offset past the segment",
            from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &{
                let mut t = tcp4(SERVER4, POOL4, 80, 6001, &[]);
                t[12] = 0x60;
                t
            })),
            &[RxIpv4, Rx4to6Tcp],
            DropBadTcpHeader,
        ),
        (
            // RFC 6146 §3.5: translating it would loop. Dropped before anything answers
            // it: its hop limit of 1 would otherwise earn a Time Exceeded.
            "ipv6 source inside pool6",
            from_client6(ip6(
                "64:ff9b::c000:203",
                SERVER4_IN_POOL6,
                PROTO_UDP,
                1,
                &udp6("64:ff9b::c000:203", SERVER4_IN_POOL6, 5000, 53, p),
            )),
            &[RxIpv6, Rx6to4Udp],
            DropIpv6SourceInPool6,
        ),
        (
            // RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (this harness sets it).
            "udp 4to6 from a loopback source refused",
            from_server4(ip4(
                "127.0.0.1",
                POOL4,
                PROTO_UDP,
                64,
                &udp4("127.0.0.1", POOL4, 53, 6000, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropMartianIpv4Source,
        ),
        (
            // RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (this harness sets it).
            "udp 4to6 from a this-network source refused",
            from_server4(ip4(
                "0.1.2.3",
                POOL4,
                PROTO_UDP,
                64,
                &udp4("0.1.2.3", POOL4, 53, 6000, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropMartianIpv4Source,
        ),
        (
            // RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (this harness sets it).
            "udp 4to6 from a multicast source refused",
            from_server4(ip4(
                "224.0.0.9",
                POOL4,
                PROTO_UDP,
                64,
                &udp4("224.0.0.9", POOL4, 53, 6000, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropMartianIpv4Source,
        ),
        (
            // RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (this harness sets it).
            "udp 4to6 from a class-e source refused",
            from_server4(ip4(
                "240.1.2.3",
                POOL4,
                PROTO_UDP,
                64,
                &udp4("240.1.2.3", POOL4, 53, 6000, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropMartianIpv4Source,
        ),
        (
            // RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (this harness sets it).
            "udp 4to6 from a limited broadcast source refused",
            from_server4(ip4(
                "255.255.255.255",
                POOL4,
                PROTO_UDP,
                64,
                &udp4("255.255.255.255", POOL4, 53, 6000, p),
            )),
            &[RxIpv4, Rx4to6Udp],
            DropMartianIpv4Source,
        ),
        (
            "tcp 4to6 data offset below five words",
            from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &{
                let mut t = tcp4(SERVER4, POOL4, 80, 6001, &[]);
                t[12] = 0x40;
                t
            })),
            &[RxIpv4, Rx4to6Tcp],
            DropBadTcpHeader,
        ),
        (
            // Ethernet padding behind the IP packet is not the rest of a TCP header.
            "tcp header cut short by the ipv4 length, the frame padded",
            {
                let mut f = from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &[0u8; 12]));
                f.extend_from_slice(&[0u8; 16]);
                f
            },
            &[RxIpv4, Rx4to6Tcp],
            DropTruncatedL4,
        ),
        (
            "unknown extension header",
            from_client6(ip6_with_ext(
                CLIENT6,
                SERVER4_IN_POOL6,
                &[(253, PADN6.to_vec())],
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
            )),
            &[RxIpv6],
            DropExtHeaderUnknown,
        ),
        (
            "extension header chain too long",
            from_client6(ip6_with_ext(
                CLIENT6,
                SERVER4_IN_POOL6,
                &vec![(60, PADN6.to_vec()); 5],
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
            )),
            &[RxIpv6],
            DropExtHeaderChainTooLong,
        ),
        (
            "routing header with segments left",
            from_client6(ip6_with_ext(
                CLIENT6,
                SERVER4_IN_POOL6,
                &[(43, vec![0, 1, 0, 0, 0, 0])],
                PROTO_UDP,
                64,
                &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
            )),
            &[RxIpv6],
            DropRoutingHeader,
        ),
        (
            "sctp to pool6",
            from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, 132, 64, &[0u8; 16])),
            &[RxIpv6],
            DropUnsupportedProto,
        ),
        (
            "sctp to pool4",
            from_server4(ip4(SERVER4, POOL4, 132, 64, &[0u8; 16])),
            &[RxIpv4],
            DropUnsupportedProto,
        ),
        (
            "icmpv6 neighbour solicitation to pool6",
            from_client6(ip6(
                CLIENT6,
                SERVER4_IN_POOL6,
                PROTO_ICMPV6,
                64,
                &icmp6(v6(CLIENT6), v6(SERVER4_IN_POOL6), 135, 0, [0; 4], &[0; 16]),
            )),
            &[RxIpv6, Rx6to4Icmp],
            DropIcmp6Unsupported,
        ),
        (
            "icmpv4 timestamp to pool4",
            from_server4(ip4(
                SERVER4,
                POOL4,
                PROTO_ICMP,
                64,
                &icmp4(13, 0, echo_rest(7000, 1), &[0; 12]),
            )),
            &[RxIpv4, Rx4to6Icmp],
            DropIcmp4Unsupported,
        ),
        (
            "ipv4 source route option",
            from_server4(ipv4_with_options(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                &[131, 7, 4, 192, 0, 2, 9, 0],
                &udp4(SERVER4, POOL4, 53, 6000, p),
            )),
            &[RxIpv4],
            DropIpv4SourceRoute,
        ),
        (
            "ipv4 ihl below 5",
            {
                let mut f = from_server4(ip4(
                    SERVER4,
                    POOL4,
                    PROTO_UDP,
                    64,
                    &udp4(SERVER4, POOL4, 53, 6000, p),
                ));
                f[14] = 0x44;
                f
            },
            &[RxIpv4],
            DropBadIpv4Header,
        ),
        (
            "ipv4 total length beyond the frame",
            {
                let mut f = from_server4(ip4(
                    SERVER4,
                    POOL4,
                    PROTO_UDP,
                    64,
                    &udp4(SERVER4, POOL4, 53, 6000, p),
                ));
                f[14 + 3] += 40;
                f
            },
            &[RxIpv4],
            DropBadLength,
        ),
        (
            "ipv4 header checksum wrong",
            {
                let mut f = from_server4(ip4(
                    SERVER4,
                    POOL4,
                    PROTO_UDP,
                    64,
                    &udp4(SERVER4, POOL4, 53, 6000, p),
                ));
                f[14 + 10] ^= 0x40;
                f
            },
            &[RxIpv4],
            DropBadIpv4Checksum,
        ),
        (
            "ipv4 option with length 0",
            from_server4(ipv4_with_options(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                &[7, 0, 0, 0],
                &udp4(SERVER4, POOL4, 53, 6000, p),
            )),
            &[RxIpv4],
            DropBadIpv4Options,
        ),
        (
            "udp without checksum too long to checksum in XDP",
            {
                let mut l4 = udp4(SERVER4, POOL4, 53, 6000, &[7u8; 1500]);
                l4[6] = 0;
                l4[7] = 0;
                from_server4(ip4(SERVER4, POOL4, PROTO_UDP, 64, &l4))
            },
            &[RxIpv4, Rx4to6Udp],
            DropUdpZeroChecksumTooLong,
        ),
        (
            "truncated ipv4 header",
            {
                let mut f = from_server4(ip4(SERVER4, POOL4, PROTO_UDP, 64, &[]));
                f.truncate(14 + 16);
                f
            },
            &[RxIpv4],
            DropTruncatedIpv4,
        ),
    ];
    for (name, frame, rx, reason) in drops {
        let counters: &'static [Counter] =
            Box::leak([rx, &[reason, VerdictDrop]].concat().into_boxed_slice());
        h.check(Row {
            name,
            frame,
            action: Verdict::Drop,
            output: None,
            counters,
        });
    }

    // RFC 6052 §3.1: non-global IPv4 under the well-known prefix, unless overridden.
    h.set_allow_nonglobal(false);
    h.check(Row {
        name: "non-global ipv4 under 64:ff9b::/96 refused",
        frame: udp_to_pool6(64),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Udp, DropNonGlobalIpv4, VerdictDrop],
    });
    h.check(Row {
        name: "non-global ipv4 source under 64:ff9b::/96 refused",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 53, 6000, p),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Udp, DropNonGlobalIpv4, VerdictDrop],
    });
}

// ---- The slow path: what XDP queues for nat64-ctl ------------------------------------

fn slow_path_fixtures(h: &mut Harness) {
    let payload: Vec<u8> = (0..1300u32).map(|i| (i * 13 + 1) as u8).collect();
    // 20 + 8 + 1300 = 1328 bytes of IPv4, 1348 once translated: over lowest-ipv6-mtu
    // (1280), under the 1500-byte link.
    let big4 = |flags: u16| {
        ipv4(
            v4(SERVER4),
            v4(POOL4),
            PROTO_UDP,
            64,
            0,
            0x4242,
            flags,
            &udp4(SERVER4, POOL4, 53, 6000, &payload),
        )
    };
    let big6 = ip6(
        SERVER4_IN_POOL6,
        CLIENT6,
        PROTO_UDP,
        63,
        &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, &payload),
    );
    assert!(h.slow_records().is_empty());

    // Without nat64-ctl's slow path running, nothing is queued: unsolicited SYNs are
    // dropped and DF=0 packets go out whole (as on a link that carries them), like DF=1
    // packets under the link MTU always do.
    let syn = from_server4(ip4(
        SERVER4,
        POOL4,
        PROTO_TCP,
        64,
        &tcp4(SERVER4, POOL4, 80, 6999, b""),
    ));
    h.set_flag(CONFIG_F_SLOW_PATH, false);
    h.check(Row {
        name: "unsolicited SYN, no slow path: dropped",
        frame: syn.clone(),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Tcp, DropNoBib4, VerdictDrop],
    });
    let mut df = big4(0);
    set_df(&mut df);
    for (name, frame, slow_path) in [
        (
            "DF=0 over lowest-ipv6-mtu, no slow path: sent whole",
            big4(0),
            false,
        ),
        (
            "DF=1 over lowest-ipv6-mtu, under the link MTU: sent whole",
            df,
            true,
        ),
    ] {
        h.set_flag(CONFIG_F_SLOW_PATH, slow_path);
        h.check(Row {
            name,
            frame: from_server4(frame),
            action: Verdict::Redirect,
            output: Some(to_client6(big6.clone())),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                Xlat4to6Udp,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    assert!(h.slow_records().is_empty());

    h.check(Row {
        name: "DF=0 over lowest-ipv6-mtu: translated, queued to be fragmented",
        frame: from_server4(big4(0)),
        action: Verdict::Drop,
        output: None,
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            SlowPathFragment,
            VerdictDrop,
        ],
    });
    let q = h.slow_records();
    assert_eq!(q.len(), 1);
    let (hdr, frame) = &q[0];
    assert_eq!(
        (hdr.kind, hdr.len as usize, hdr.mtu, hdr.ident),
        (SLOW_KIND_FRAGMENT, 14 + big6.len(), 1280, 0x4242),
        "record header"
    );
    // The translated packet (hop limit decremented: the slow path forwards it); the
    // Ethernet header is not used.
    assert_eq!(
        hex(frame),
        hex(&with_macs(ethernet(0x86dd, &big6), MAC4_SELF, MAC4_NEXT)),
        "queued frame"
    );

    h.check(Row {
        name: "unsolicited SYN: queued to be held (simultaneous open)",
        frame: syn.clone(),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Tcp, SlowPathHeldSyn, VerdictDrop],
    });
    let q = h.slow_records();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].0.kind, q[0].0.len as usize),
        (SLOW_KIND_HELD_SYN, syn.len())
    );
    assert_eq!(hex(&q[0].1), hex(&syn), "the SYN is queued as it came");
    assert!(h.sessions().is_empty(), "a held SYN creates no state");

    let mut synack4 = tcp4(SERVER4, POOL4, 80, 6999, b"");
    synack4[13] = 0x12;
    let c = inet_checksum(&[&pseudo_v4(v4(SERVER4), v4(POOL4), PROTO_TCP, 20), &{
        let mut t = synack4.clone();
        t[16] = 0;
        t[17] = 0;
        t
    }]);
    synack4[16..18].copy_from_slice(&c.to_be_bytes());
    // RFC 6146 §3.5.2.2 applied to §3.8: an IPv6 SYN hairpinned to a pool4 port with no
    // binding is held like an IPv4 one, with its sender's binding (the static
    // CLIENT6#5001 ↔ POOL4#6001) in the record; no session is made.
    let pool4_in_pool6 = "64:ff9b::cb00:7101";
    let syn6 = from_client6(ip6(
        CLIENT6,
        pool4_in_pool6,
        PROTO_TCP,
        64,
        &tcp6_flags(CLIENT6, pool4_in_pool6, 5001, 6998, 0x02),
    ));
    h.check(Row {
        name: "hairpinned SYN to an unbound pool4 port: queued to be held",
        frame: syn6.clone(),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Tcp, SlowPathHeldSyn, VerdictDrop],
    });
    let q = h.slow_records();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].0.kind, q[0].0.len as usize, q[0].0.mtu, q[0].0.ident),
        (
            SLOW_KIND_HELD_SYN6,
            syn6.len(),
            u32::from_ne_bytes(v4(POOL4).octets()),
            6001
        ),
        "record header: the sender's binding"
    );
    assert_eq!(hex(&q[0].1), hex(&syn6), "the SYN is queued as it came");
    assert!(h.sessions().is_empty(), "a held SYN creates no state");

    h.check(Row {
        name: "unsolicited SYN+ACK is not held",
        frame: from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &synack4)),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Tcp, DropNoBib4, VerdictDrop],
    });
    assert!(h.slow_records().is_empty());

    // Nobody drains the ring here, as when nat64-ctl was killed without clearing the
    // flag: once half of the ring waits unread the data plane stops queuing, and the SYNs
    // are dropped as without a slow path, never waited for.
    let before = h.counters();
    let mut queued = 0u64;
    while h.counters()[DropNoBib4.index() as usize] == before[DropNoBib4.index() as usize] {
        let (action, _) = h.run(&syn);
        assert_eq!(action, h.code(Verdict::Drop));
        queued += 1;
        assert!(queued < 10_000, "the slow path never stopped queuing");
    }
    let after = h.counters();
    let moved = |c: Counter| after[c.index() as usize] - before[c.index() as usize];
    assert_eq!(moved(SlowPathHeldSyn), queued - 1);
    assert_eq!(moved(DropSlowPathFull), 0);
    let record = (std::mem::size_of::<SlowPathHeader>() + SLOW_FRAME_MAX + 8) as u64;
    assert_eq!(
        queued - 1,
        (8 << 20) / record + 1,
        "records queued until 8 MiB, half the ring, wait unread"
    );
    let drained = h.slow_records().len() as u64;
    assert_eq!(drained, queued - 1);
    // Drained, it queues again.
    let (action, _) = h.run(&syn);
    assert_eq!(action, h.code(Verdict::Drop));
    assert_eq!(h.slow_records().len(), 1);
    eprintln!("ok: the slow path queued {drained} records unread, then stopped queuing");
    h.set_flag(CONFIG_F_SLOW_PATH, false);

    // RFC 6146 §3.5.2.2, the simultaneous open that meets: nat64-ctl holds server4's SYN
    // from :8080 to POOL4:6300 and records where it went (NAT64_HELD_SYNS, written here as
    // it would); the IPv6 host's SYN to server4:8080 gets a binding on that very port, so
    // the two SYNs meet. (nat64-ctl records only ports pool4 lends TCP; the data plane
    // takes what it is given, which lets this row tell the held port from a drawn one.)
    h.hold_syn(SERVER4, 8080, POOL4, 6300);
    h.check(Row {
        name: "tcp syn to a held syn's source takes its pool4 port",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5077, 8080, 0x02),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6300, 8080, 0x02),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            BibCreated,
            HeldSynMet,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    // Taken meanwhile (the binding above holds POOL4:6300): an ordinary port is drawn.
    h.hold_syn(SERVER4, 8081, POOL4, 6300);
    h.check(Row {
        name: "tcp syn to a held syn's source whose port is taken draws another",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5078, 8081, 0x02),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6200, 8081, 0x02),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            PortAllocRetries,
            BibCreated,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
}

/// The session log's ring buffer fills when nat64-ctl does not drain it: records are then
/// lost and counted (`events_lost`), and the packets still go through.
fn session_log_overflow(h: &mut Harness) {
    h.clear_sessions();
    h.set_flag(CONFIG_F_SESSION_EVENTS, true);
    let mut frame = from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 1, b"log"),
    ));
    let lost = |h: &Harness| h.counters()[EventsLost.index() as usize];
    let before = lost(h);
    // Each destination port is a new session on the static binding: one record each.
    let mut sent = 0u32;
    while lost(h) == before {
        sent += 1;
        assert!(sent < 60_000, "the 1 MiB session-log ring never filled");
        frame[14 + 40 + 2..14 + 40 + 4].copy_from_slice(&(sent as u16).to_be_bytes());
        let (action, _) = h.run(&frame);
        assert_eq!(
            action,
            h.code(Verdict::Redirect),
            "a full log never holds a packet back"
        );
    }
    let logged = h.events().len() as u32;
    assert_eq!(
        logged,
        sent - 1,
        "every session until the ring was full was logged"
    );
    assert_eq!(lost(h) - before, 1);
    assert_eq!(h.sessions().len() as u32, sent);
    eprintln!("ok: the session-log ring held {logged} records, then lost and counted one");
    h.set_flag(CONFIG_F_SESSION_EVENTS, false);
    h.clear_sessions();
}

fn set_df(ip4: &mut [u8]) {
    ip4[6] |= 0x40;
    ip4[10] = 0;
    ip4[11] = 0;
    let c = inet_checksum(&[&ip4[..20]]);
    ip4[10..12].copy_from_slice(&c.to_be_bytes());
}

/// IPv4 header with `opts` (padded by the caller to a multiple of 4) + payload.
fn ipv4_with_options(src: &str, dst: &str, proto: u8, ttl: u8, opts: &[u8], l4: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut h = ip4(src, dst, proto, ttl, &[]);
    h[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let total = (20 + opts.len() + l4.len()) as u16;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(opts);
    h[10] = 0;
    h[11] = 0;
    let c = inet_checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

// ---- ICMP errors: the error and the packet it quotes are both translated -------------

/// What client6 received from server4 (translated 4→6), as quoted in client6's errors.
fn quoted_from_server(payload: &[u8]) -> Vec<u8> {
    ip6(
        SERVER4_IN_POOL6,
        CLIENT6,
        PROTO_UDP,
        63,
        &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, payload),
    )
}
/// The same packet as server4 sent it.
fn quoted_from_server_v4(payload: &[u8]) -> Vec<u8> {
    ip4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        63,
        &udp4(SERVER4, POOL4, 53, 6000, payload),
    )
}
/// What server4 received from client6 (translated 6→4), as quoted in server4's errors.
fn quoted_from_client_v4(payload: &[u8]) -> Vec<u8> {
    ip4(
        POOL4,
        SERVER4,
        PROTO_UDP,
        63,
        &udp4(POOL4, SERVER4, 6000, 53, payload),
    )
}
/// The same packet as client6 sent it.
fn quoted_from_client(payload: &[u8]) -> Vec<u8> {
    ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        63,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, payload),
    )
}

/// ICMPv6 error sent by `src` (client6 itself unless said otherwise) to server4's pool6 address.
fn error6_from(src: &str, ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    from_client6(ip6(
        src,
        SERVER4_IN_POOL6,
        PROTO_ICMPV6,
        64,
        &icmp6(v6(src), v6(SERVER4_IN_POOL6), ty, code, rest, quoted),
    ))
}
fn error4_to_server(ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    to_server4(ip4(
        POOL4,
        SERVER4,
        PROTO_ICMP,
        63,
        &icmp4(ty, code, rest, quoted),
    ))
}
fn error4_from_server(ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    from_server4(ip4(
        SERVER4,
        POOL4,
        PROTO_ICMP,
        64,
        &icmp4(ty, code, rest, quoted),
    ))
}
fn error6_to_client(ty: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    to_client6(ip6(
        SERVER4_IN_POOL6,
        CLIENT6,
        PROTO_ICMPV6,
        63,
        &icmp6(v6(SERVER4_IN_POOL6), v6(CLIENT6), ty, code, rest, quoted),
    ))
}

fn icmp_error_fixtures(h: &mut Harness) {
    h.set_allow_nonglobal(true);
    let p = b"quoted payload";
    let e64 = &[
        RxIpv6,
        Rx6to4Icmp,
        Xlat6to4IcmpError,
        FwdRedirect,
        VerdictRedirect,
    ][..];
    let e46 = &[
        RxIpv4,
        Rx4to6Icmp,
        Xlat4to6IcmpError,
        FwdRedirect,
        VerdictRedirect,
    ][..];

    // IPv6 → IPv4: (ICMPv6 type, code, bytes 4-7) → (ICMPv4 type, code, bytes 4-7).
    for (name, t6, c6, r6, t4, c4, r4) in [
        ("port unreachable 1/4 → 3/3", 1, 4, [0; 4], 3, 3, [0; 4]),
        (
            "no route 1/0 → host unreachable 3/1",
            1,
            0,
            [0; 4],
            3,
            1,
            [0; 4],
        ),
        ("admin prohibited 1/1 → 3/10", 1, 1, [0; 4], 3, 10, [0; 4]),
        (
            "packet too big 1400 → frag needed 1380",
            2,
            0,
            1400u32.to_be_bytes(),
            3,
            4,
            [0, 0, 0x05, 0x64],
        ),
        ("time exceeded 3/0 → 11/0", 3, 0, [0; 4], 11, 0, [0; 4]),
        (
            "parameter problem pointer 7 → 12/0 pointer 8",
            4,
            0,
            [0, 0, 0, 7],
            12,
            0,
            [8, 0, 0, 0],
        ),
        (
            "unrecognized next header 4/1 → protocol unreachable 3/2",
            4,
            1,
            [0, 0, 0, 6],
            3,
            2,
            [0; 4],
        ),
    ] {
        let name: &'static str = Box::leak(format!("icmpv6 error {name}").into_boxed_str());
        h.check(Row {
            name,
            frame: error6_from(CLIENT6, t6, c6, r6, &quoted_from_server(p)),
            action: Verdict::Redirect,
            output: Some(error4_to_server(t4, c4, r4, &quoted_from_server_v4(p))),
            counters: e64,
        });
    }
    {
        // Quoting an echo request server4 sent through the static icmp binding.
        let q6 = ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_ICMPV6,
            63,
            &icmp6(
                v6(SERVER4_IN_POOL6),
                v6(CLIENT6),
                128,
                0,
                echo_rest(1234, 1),
                p,
            ),
        );
        let q4 = ip4(
            SERVER4,
            POOL4,
            PROTO_ICMP,
            63,
            &icmp4(8, 0, echo_rest(7000, 1), p),
        );
        h.check(Row {
            name: "icmpv6 error quoting an echo request",
            frame: error6_from(CLIENT6, 1, 4, [0; 4], &q6),
            action: Verdict::Redirect,
            output: Some(error4_to_server(3, 3, [0; 4], &q4)),
            counters: e64,
        });
    }
    // An ICMPv6 error in an atomic fragment is the whole message: translated like the
    // unfragmented one (RFC 7915 §5.1.1; senders still emit them, RFC 8021 §4).
    h.check(Row {
        name: "icmpv6 error in an atomic fragment",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_ICMPV6, 0, false, 0x0bad_cafe),
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                1,
                4,
                [0; 4],
                &quoted_from_server(p),
            ),
        )),
        action: Verdict::Redirect,
        output: Some(error4_to_server(3, 3, [0; 4], &quoted_from_server_v4(p))),
        counters: e64,
    });
    {
        // RFC 6146 §3.8: the peer (static udp POOL4#6004 ↔ 2001:db8:6::3#9000) got a packet
        // hairpinned from client6 (POOL4#6000 ↔ CLIENT6#5000) and answers it with an error:
        // it reaches client6 through both bindings, from pool6 + the peer's pool4 address,
        // quoting the packet as client6 sent it. A Packet Too Big below 1280 is raised to
        // 1280, as the 6→4→6 pair would.
        let pool4_in_pool6 = "64:ff9b::cb00:7101";
        let peer = "2001:db8:6::3";
        let got = ip6(
            pool4_in_pool6,
            peer,
            PROTO_UDP,
            63,
            &udp6(pool4_in_pool6, peer, 6000, 9000, p),
        );
        let sent = ip6(
            CLIENT6,
            pool4_in_pool6,
            PROTO_UDP,
            63,
            &udp6(CLIENT6, pool4_in_pool6, 5000, 6004, p),
        );
        for (name, ty, code, rest, rest_out) in [
            ("port unreachable", 1u8, 4u8, [0u8; 4], [0u8; 4]),
            (
                "packet too big 1200",
                2,
                0,
                1200u32.to_be_bytes(),
                1280u32.to_be_bytes(),
            ),
            (
                "packet too big 1400",
                2,
                0,
                1400u32.to_be_bytes(),
                1400u32.to_be_bytes(),
            ),
        ] {
            let name: &'static str = Box::leak(
                format!("hairpinned icmpv6 error to its sender: {name}").into_boxed_str(),
            );
            h.check(Row {
                name,
                frame: from_client6(ip6(
                    peer,
                    pool4_in_pool6,
                    PROTO_ICMPV6,
                    64,
                    &icmp6(v6(peer), v6(pool4_in_pool6), ty, code, rest, &got),
                )),
                action: Verdict::Redirect,
                output: Some(to_client6(ip6(
                    pool4_in_pool6,
                    CLIENT6,
                    PROTO_ICMPV6,
                    63,
                    &icmp6(v6(pool4_in_pool6), v6(CLIENT6), ty, code, rest_out, &sent),
                ))),
                counters: &[
                    RxIpv6,
                    Rx6to4Icmp,
                    XlatHairpinIcmpError,
                    FwdRedirect,
                    VerdictRedirect,
                ],
            });
        }
    }
    {
        // 1200 bytes quoted: the IPv4 error is cut to 576 bytes.
        let big = vec![0x5au8; 1200];
        let q4 = quoted_from_server_v4(&big);
        h.check(Row {
            name: "icmpv6 error truncated to 576 bytes",
            frame: error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(&big)),
            action: Verdict::Redirect,
            output: Some(error4_to_server(3, 3, [0; 4], &q4[..576 - 20 - 8])),
            counters: e64,
        });
    }

    {
        // Toward a 1300-byte IPv4 link the MTU is clamped: min(1400 - 20, 1300).
        let (far4, far6) = ("198.51.100.77", "64:ff9b::c633:644d");
        let q6 = ip6(
            far6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(far6, CLIENT6, 53, 5000, p),
        );
        let q4 = ip4(far4, POOL4, PROTO_UDP, 63, &udp4(far4, POOL4, 53, 6000, p));
        h.check(Row {
            name: "packet too big 1400 toward a 1300-byte link → frag needed 1300",
            frame: from_client6(ip6(
                CLIENT6,
                far6,
                PROTO_ICMPV6,
                64,
                &icmp6(v6(CLIENT6), v6(far6), 2, 0, 1400u32.to_be_bytes(), &q6),
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(ip4(
                POOL4,
                far4,
                PROTO_ICMP,
                63,
                &icmp4(3, 4, [0, 0, 0x05, 0x14], &q4),
            ))),
            counters: e64,
        });
    }
    {
        // Toward a 1300-byte IPv6 link: min(1400 + 20, 1300).
        let client = "2001:db8:8::5";
        let q4 = ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6003, 53, p),
        );
        let q6 = ip6(
            client,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            63,
            &udp6(client, SERVER4_IN_POOL6, 5003, 53, p),
        );
        let out = ip6(
            SERVER4_IN_POOL6,
            client,
            PROTO_ICMPV6,
            63,
            &icmp6(
                v6(SERVER4_IN_POOL6),
                v6(client),
                2,
                0,
                1300u32.to_be_bytes(),
                &q6,
            ),
        );
        h.check(Row {
            name: "frag needed 1400 toward a 1300-byte link → packet too big 1300",
            frame: error4_from_server(3, 4, [0, 0, 0x05, 0x78], &q4),
            action: Verdict::Redirect,
            output: Some(to_client6(out)),
            counters: e46,
        });
    }

    // IPv4 → IPv6.
    for (name, t4, c4, r4, t6, c6, r6) in [
        ("port unreachable 3/3 → 1/4", 3, 3, [0; 4], 1, 4, [0; 4]),
        ("host unreachable 3/1 → 1/0", 3, 1, [0; 4], 1, 0, [0; 4]),
        ("admin prohibited 3/13 → 1/1", 3, 13, [0; 4], 1, 1, [0; 4]),
        (
            "frag needed 1000 → packet too big 1020",
            3,
            4,
            [0, 0, 0x03, 0xe8],
            2,
            0,
            1020u32.to_be_bytes(),
        ),
        ("time exceeded 11/1 → 3/1", 11, 1, [0; 4], 3, 1, [0; 4]),
        (
            "protocol unreachable 3/2 → parameter problem 4/1 pointer 6",
            3,
            2,
            [0; 4],
            4,
            1,
            [0, 0, 0, 6],
        ),
        (
            "parameter problem pointer 8 → 4/0 pointer 7",
            12,
            0,
            [8, 0, 0, 0],
            4,
            0,
            [0, 0, 0, 7],
        ),
    ] {
        let name: &'static str = Box::leak(format!("icmpv4 error {name}").into_boxed_str());
        h.check(Row {
            name,
            frame: error4_from_server(t4, c4, r4, &quoted_from_client_v4(p)),
            action: Verdict::Redirect,
            output: Some(error6_to_client(t6, c6, r6, &quoted_from_client(p))),
            counters: e46,
        });
    }
    {
        let q4 = ip4(
            POOL4,
            SERVER4,
            PROTO_ICMP,
            63,
            &icmp4(8, 0, echo_rest(7000, 1), p),
        );
        let q6 = ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_ICMPV6,
            63,
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                128,
                0,
                echo_rest(1234, 1),
                p,
            ),
        );
        h.check(Row {
            name: "icmpv4 error quoting an echo request",
            frame: error4_from_server(3, 1, [0; 4], &q4),
            action: Verdict::Redirect,
            output: Some(error6_to_client(1, 0, [0; 4], &q6)),
            counters: e46,
        });
    }
    {
        // 1400 bytes quoted: the IPv6 error is cut to 1280 bytes.
        let big = vec![0xa5u8; 1400];
        let q6 = quoted_from_client(&big);
        h.check(Row {
            name: "icmpv4 error truncated to 1280 bytes",
            frame: error4_from_server(3, 3, [0; 4], &quoted_from_client_v4(&big)),
            action: Verdict::Redirect,
            output: Some(error6_to_client(1, 4, [0; 4], &q6[..1280 - 40 - 8])),
            counters: e46,
        });
    }

    // Errors that must be dropped, each under its own reason.
    let quoted_error6 = ip6(
        SERVER4_IN_POOL6,
        CLIENT6,
        PROTO_ICMPV6,
        63,
        &icmp6(v6(SERVER4_IN_POOL6), v6(CLIENT6), 1, 4, [0; 4], &[0; 48]),
    );
    let quoted_error4 = ip4(
        POOL4,
        SERVER4,
        PROTO_ICMP,
        63,
        &icmp4(3, 3, [0; 4], &[0; 28]),
    );
    let drops: Vec<(&'static str, Vec<u8>, &[Counter], Counter)> = vec![
        (
            "icmpv6 error quoting an icmpv6 error",
            error6_from(CLIENT6, 1, 4, [0; 4], &quoted_error6),
            &[RxIpv6, Rx6to4Icmp],
            DropIcmpErrorInError,
        ),
        (
            "icmpv4 error quoting an icmpv4 error",
            error4_from_server(3, 3, [0; 4], &quoted_error4),
            &[RxIpv4, Rx4to6Icmp],
            DropIcmpErrorInError,
        ),
        (
            "icmpv6 error with a wrong checksum",
            {
                let mut f = error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(p));
                skew_u16(&mut f, 14 + 40 + 2, 1);
                f
            },
            &[RxIpv6, Rx6to4Icmp],
            DropIcmpBadChecksum,
        ),
        (
            "icmpv4 error with a wrong checksum",
            {
                let mut f = error4_from_server(3, 3, [0; 4], &quoted_from_client_v4(p));
                skew_u16(&mut f, 14 + 20 + 2, 1);
                f
            },
            &[RxIpv4, Rx4to6Icmp],
            DropIcmpBadChecksum,
        ),
        (
            "parameter problem pointing at the flow label",
            error6_from(CLIENT6, 4, 0, [0, 0, 0, 2], &quoted_from_server(p)),
            &[RxIpv6, Rx6to4Icmp],
            DropIcmpPointerUnmappable,
        ),
        (
            "parameter problem pointing at the IPv4 checksum",
            error4_from_server(12, 0, [10, 0, 0, 0], &quoted_from_client_v4(p)),
            &[RxIpv4, Rx4to6Icmp],
            DropIcmpPointerUnmappable,
        ),
        (
            "icmpv6 error quoting too little",
            error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(p)[..44]),
            &[RxIpv6, Rx6to4Icmp],
            DropIcmpInnerUntranslatable,
        ),
        (
            "icmpv4 error about an unbound port",
            error4_from_server(
                3,
                3,
                [0; 4],
                &ip4(
                    POOL4,
                    SERVER4,
                    PROTO_UDP,
                    63,
                    &udp4(POOL4, SERVER4, 6999, 53, p),
                ),
            ),
            &[RxIpv4, Rx4to6Icmp],
            DropNoBib4,
        ),
        (
            "icmpv6 error about an unbound port",
            error6_from(
                CLIENT6,
                1,
                4,
                [0; 4],
                &ip6(
                    SERVER4_IN_POOL6,
                    CLIENT6,
                    PROTO_UDP,
                    63,
                    &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5999, p),
                ),
            ),
            &[RxIpv6, Rx6to4Icmp],
            DropNoBib6,
        ),
        (
            "icmpv4 source quench",
            error4_from_server(4, 0, [0; 4], &quoted_from_client_v4(p)),
            &[RxIpv4, Rx4to6Icmp],
            DropIcmp4Unsupported,
        ),
    ];
    for (name, frame, rx, reason) in drops {
        let counters: &'static [Counter] =
            Box::leak([rx, &[reason, VerdictDrop]].concat().into_boxed_slice());
        h.check(Row {
            name,
            frame,
            action: Verdict::Drop,
            output: None,
            counters,
        });
    }

    // A quoted IPv4 header with options: they are skipped to find the transport header
    // (RFC 5508 REQ-3b) and, like any options, not translated (RFC 7915 §4.3).
    h.check(Row {
        name: "icmpv4 error quoting a header with options",
        frame: error4_from_server(
            3,
            3,
            [0; 4],
            &ipv4_with_options(
                POOL4,
                SERVER4,
                PROTO_UDP,
                63,
                &[1, 1, 1, 0],
                &udp4(POOL4, SERVER4, 6000, 53, p),
            ),
        ),
        action: Verdict::Redirect,
        output: Some(error6_to_client(1, 4, [0; 4], &quoted_from_client(p))),
        counters: e46,
    });
    // An ICMP error neither refreshes nor ends the session of the flow it quotes (RFC 5508
    // REQ-6, RFC 4787 REQ-12): the flow's session, made 10 s older, is still there with the
    // same entry after an error about it from each side.
    h.check(Row {
        name: "the flow the next errors quote opens its session",
        frame: from_client6(quoted_from_client(p)),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            62,
            &udp4(POOL4, SERVER4, 6000, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let aged = h.age_sessions(10_000_000_000);
    assert_eq!(aged.len(), 1, "one session: {aged:?}");
    h.check_keep(Row {
        name: "icmpv4 error about a flow leaves its session as it was",
        frame: error4_from_server(3, 3, [0; 4], &quoted_from_client_v4(p)),
        action: Verdict::Redirect,
        output: Some(error6_to_client(1, 4, [0; 4], &quoted_from_client(p))),
        counters: e46,
    });
    h.check_keep(Row {
        name: "icmpv6 error about a flow leaves its session as it was",
        frame: error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(p)),
        action: Verdict::Redirect,
        output: Some(error4_to_server(3, 3, [0; 4], &quoted_from_server_v4(p))),
        counters: e64,
    });
    let entry = |v: &[(SessionKey, SessionEntry)]| -> Vec<(SessionKey, u64, u8, u8)> {
        v.iter()
            .map(|(k, e)| (*k, e.last_seen_ns, e.tcp_state, e.flags))
            .collect()
    };
    assert_eq!(
        entry(&h.sessions()),
        entry(&aged),
        "the ICMP errors changed the session of the flow they quote"
    );
    // The same for a query (RFC 5508 REQ-6 speaks of ICMP query sessions).
    let q6 = ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_ICMPV6,
        63,
        &icmp6(
            v6(CLIENT6),
            v6(SERVER4_IN_POOL6),
            128,
            0,
            echo_rest(1234, 1),
            p,
        ),
    );
    let q4 = ip4(
        POOL4,
        SERVER4,
        PROTO_ICMP,
        63,
        &icmp4(8, 0, echo_rest(7000, 1), p),
    );
    h.check(Row {
        name: "the echo request the next error quotes opens its session",
        frame: from_client6(q6.clone()),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_ICMP,
            62,
            &icmp4(8, 0, echo_rest(7000, 1), p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Icmp,
            Xlat6to4Icmp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let aged = h.age_sessions(10_000_000_000);
    assert_eq!(aged.len(), 1, "one session: {aged:?}");
    h.check_keep(Row {
        name: "icmpv4 error about an echo request leaves its session as it was",
        frame: error4_from_server(3, 1, [0; 4], &q4),
        action: Verdict::Redirect,
        output: Some(error6_to_client(1, 0, [0; 4], &q6)),
        counters: e46,
    });
    assert_eq!(
        entry(&h.sessions()),
        entry(&aged),
        "the ICMP error changed the session of the query it quotes"
    );
    // And for a TCP connection (RFC 5382 REQ-9): neither its state nor its timer move.
    let syn = nat64_common::tcp::SYN;
    h.check(Row {
        name: "the tcp syn the next error quotes opens its session",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5001, 80, syn),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6001, 80, syn),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let aged = h.age_sessions(10_000_000_000);
    assert_eq!(aged.len(), 1, "one session: {aged:?}");
    h.check_keep(Row {
        name: "icmpv4 error about a tcp syn leaves its session as it was",
        frame: error4_from_server(
            3,
            3,
            [0; 4],
            &ip4(
                POOL4,
                SERVER4,
                PROTO_TCP,
                63,
                &tcp4_flags(POOL4, SERVER4, 6001, 80, syn),
            ),
        ),
        action: Verdict::Redirect,
        output: Some(error6_to_client(
            1,
            4,
            [0; 4],
            &ip6(
                CLIENT6,
                SERVER4_IN_POOL6,
                PROTO_TCP,
                63,
                &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5001, 80, syn),
            ),
        )),
        counters: e46,
    });
    assert_eq!(
        entry(&h.sessions()),
        entry(&aged),
        "the ICMP error changed the session of the connection it quotes"
    );
    h.clear_sessions();
}

fn tcp6_flags(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    tcp(
        sport,
        dport,
        0x01020304,
        flags,
        b"",
        &pseudo_v6(v6(src), v6(dst), PROTO_TCP, 20),
    )
}
fn tcp4_flags(src: &str, dst: &str, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    tcp(
        sport,
        dport,
        0x01020304,
        flags,
        b"",
        &pseudo_v4(v4(src), v4(dst), PROTO_TCP, 20),
    )
}

/// Sessions (RFC 6146 §3.5): what opens one, what the map holds afterwards, filtering, and
/// a full table. The harness's session table holds three entries.
fn session_fixtures(h: &mut Harness) {
    use nat64_common::tcp::{ACK, SYN, TCP_ESTABLISHED, TCP_V6_INIT};
    let p = b"session";
    const OTHER4: &str = "198.51.100.9";
    const OTHER4_IN_POOL6: &str = "64:ff9b::c633:6409";

    // TCP: the state machine runs in the map.
    let syn6 = from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_TCP,
        64,
        &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5001, 80, SYN),
    ));
    h.check(Row {
        name: "tcp syn from ipv6 opens a session",
        frame: syn6,
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6001, 80, SYN),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let key = SessionKey {
        addr4: v4(POOL4).octets(),
        remote4: v4(SERVER4).octets(),
        port4: 6001,
        remote_port: 80,
        proto: PROTO_TCP,
        kind: SESSION_KIND_FLOW,
        _pad: [0; 2],
    };
    let state = |h: &mut Harness| -> Vec<(SessionKey, u8, u8)> {
        h.sessions()
            .into_iter()
            .map(|(k, e)| (k, e.tcp_state, e.flags))
            .collect()
    };
    assert_eq!(state(h), [(key, TCP_V6_INIT, 0)]);
    h.check_keep(Row {
        name: "tcp syn-ack from ipv4 establishes it",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_TCP,
            64,
            &tcp4_flags(SERVER4, POOL4, 80, 6001, SYN | ACK),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_TCP,
            63,
            &tcp6_flags(SERVER4_IN_POOL6, CLIENT6, 80, 5001, SYN | ACK),
        ))),
        counters: &[RxIpv4, Rx4to6Tcp, Xlat4to6Tcp, FwdRedirect, VerdictRedirect],
    });
    assert_eq!(state(h), [(key, TCP_ESTABLISHED, 0)]);
    let last_seen = h.sessions()[0].1.last_seen_ns;
    assert!(last_seen > 0, "the session carries the kernel's clock");
    h.check(Row {
        name: "tcp without syn and without a session",
        frame: from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 5001, 80, ACK),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Tcp, DropNoSession, VerdictDrop],
    });
    h.check(Row {
        name: "tcp syn from ipv4 to a static binding opens a session",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_TCP,
            64,
            &tcp4_flags(SERVER4, POOL4, 80, 6001, SYN),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_TCP,
            63,
            &tcp6_flags(SERVER4_IN_POOL6, CLIENT6, 80, 5001, SYN),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Tcp,
            Xlat4to6Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    assert_eq!(
        state(h),
        [(key, nat64_common::tcp::TCP_V4_INIT, SESSION_F_FROM_V4)]
    );

    // Address-dependent filtering: a dynamic binding answers only the addresses its IPv6
    // host has sent to; static bindings stay open to all.
    h.clear_sessions();
    h.set_flag(CONFIG_F_ADDRESS_DEPENDENT_FILTERING, true);
    let out6 = from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 40000, 53, p),
    ));
    h.check_keep(Row {
        name: "adf: an ipv6 flow records its peer",
        frame: out6.clone(),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6100, 53, p),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            BibCreated,
            Xlat6to4Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let mut kinds: Vec<(u8, u16)> = h
        .sessions()
        .iter()
        .map(|(k, _)| (k.kind, k.remote_port))
        .collect();
    kinds.sort();
    assert_eq!(kinds, [(SESSION_KIND_FLOW, 53), (SESSION_KIND_PEER, 0)]);
    h.check_keep(Row {
        name: "adf: another ipv4 address is filtered",
        frame: from_server4(ip4(
            OTHER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(OTHER4, POOL4, 53, 6100, p),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Udp, DropFiltered, VerdictDrop],
    });
    {
        // With --filtering-icmp the drop is answered (RFC 6146 §3.5.2.2).
        let filtered = ip4(
            OTHER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(OTHER4, POOL4, 53, 6100, p),
        );
        h.set_flag(CONFIG_F_FILTERING_ICMP, true);
        h.check_keep(Row {
            name: "adf with --filtering-icmp: admin prohibited 3/13",
            frame: from_server4(filtered.clone()),
            action: Verdict::Tx,
            output: Some(originated4(OTHER4, 3, 13, [0; 4], &filtered)),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                DropFiltered,
                IcmpSentAdminProhibited4,
                VerdictTx,
            ],
        });
        h.set_flag(CONFIG_F_FILTERING_ICMP, false);
    }
    h.check_keep(Row {
        name: "adf: the same address from another port passes",
        frame: from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 5353, 6100, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            SERVER4_IN_POOL6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(SERVER4_IN_POOL6, CLIENT6, 5353, 40000, p),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    // The table (three entries) is now full.
    h.check_keep(Row {
        name: "a new flow when the session table is full",
        frame: from_server4(ip4(
            OTHER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(OTHER4, POOL4, 53, 6000, p),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Udp, DropSessionTableFull, VerdictDrop],
    });
    h.check_keep(Row {
        name: "existing flows go on when the session table is full",
        frame: out6,
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            &udp4(POOL4, SERVER4, 6100, 53, p),
        ))),
        counters: &[RxIpv6, Rx6to4Udp, Xlat6to4Udp, FwdRedirect, VerdictRedirect],
    });
    h.clear_sessions();
    h.check_keep(Row {
        name: "adf: a static binding is open to any address",
        frame: from_server4(ip4(
            OTHER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(OTHER4, POOL4, 53, 6000, p),
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(ip6(
            OTHER4_IN_POOL6,
            CLIENT6,
            PROTO_UDP,
            63,
            &udp6(OTHER4_IN_POOL6, CLIENT6, 53, 5000, p),
        ))),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });

    // The session log: with the flag on, a new binding and its session each leave a
    // record on the ring buffer; with it off, nothing.
    h.clear_sessions();
    h.set_flag(CONFIG_F_SESSION_EVENTS, true);
    let syn = |sport| {
        from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, sport, 80, SYN),
        ))
    };
    h.check_keep(Row {
        name: "session log: a new binding and session are recorded",
        frame: syn(7000),
        action: Verdict::Redirect,
        output: Some(to_server4(ip4(
            POOL4,
            SERVER4,
            PROTO_TCP,
            63,
            &tcp4_flags(POOL4, SERVER4, 6200, 80, SYN),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Tcp,
            BibCreated,
            Xlat6to4Tcp,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let (bib, sess) = (events[0], events[1]);
    assert!(bib.time_ns > 0 && sess.time_ns >= bib.time_ns);
    assert_eq!(
        (bib.kind, bib.proto, bib.addr6, bib.port6, bib.addr4, bib.port4),
        (
            EVENT_BIB_CREATED,
            PROTO_TCP,
            v6(CLIENT6).octets(),
            7000,
            v4(POOL4).octets(),
            6200
        )
    );
    assert_eq!(
        (
            sess.kind,
            sess.proto,
            sess.addr4,
            sess.port4,
            sess.remote4,
            sess.remote_port
        ),
        (
            EVENT_SESSION_CREATED,
            PROTO_TCP,
            v4(POOL4).octets(),
            6200,
            v4(SERVER4).octets(),
            80
        )
    );
    h.clear_sessions();
    h.set_flag(CONFIG_F_SESSION_EVENTS, false);
    let mut quiet = syn(7000);
    quiet[14 + 40 + 2..14 + 40 + 4].copy_from_slice(&81u16.to_be_bytes());
    let (action, _) = h.run(&quiet);
    assert_eq!(action, h.code(Verdict::Redirect));
    assert_eq!(h.events(), [], "no records while the log is off");
    // (ADF is still on.) A fresh table: the three-entry one is full by now.
    h.clear_sessions();
    {
        // Under ADF a TCP SYN to an existing binding from a peer its host has not
        // contacted may be half of a simultaneous open (hole punching): with the slow
        // path on it is held for 6 s like one to no binding (RFC 6146 §3.5.2.2).
        let syn6 = from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            // The TCP binding of port 7000 above (the range has no other port left).
            &tcp6_flags(CLIENT6, SERVER4_IN_POOL6, 7000, 80, nat64_common::tcp::SYN),
        ));
        let (action, out) = h.run(&syn6);
        assert_eq!(action, h.code(Verdict::Redirect));
        let port4 = u16::from_be_bytes([out[34], out[35]]);
        let syn4 = ip4(
            OTHER4,
            POOL4,
            PROTO_TCP,
            64,
            &tcp4_flags(OTHER4, POOL4, 80, port4, nat64_common::tcp::SYN),
        );
        h.set_flag(CONFIG_F_SLOW_PATH, true);
        let sessions = h.sessions().len();
        h.check_keep(Row {
            name: "adf: a syn to a binding from a peer not contacted is held",
            frame: from_server4(syn4.clone()),
            action: Verdict::Drop,
            output: None,
            counters: &[RxIpv4, Rx4to6Tcp, SlowPathHeldSyn, VerdictDrop],
        });
        assert_eq!(h.sessions().len(), sessions, "a held SYN creates no state");
        let held = h.slow_records();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0.kind, SLOW_KIND_HELD_SYN);
        assert_eq!(held[0].1[14..], syn4[..], "the SYN as received");
        h.set_flag(CONFIG_F_SLOW_PATH, false);
        h.check_keep(Row {
            name: "adf: without the slow path that syn is filtered",
            frame: from_server4(syn4),
            action: Verdict::Drop,
            output: None,
            counters: &[RxIpv4, Rx4to6Tcp, DropFiltered, VerdictDrop],
        });
    }
    h.clear_sessions();
}

/// IPv6 Fragment header (RFC 8200 §4.5), built here from its fields.
fn frag_hdr(nh: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut f = vec![nh, 0];
    f.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f
}

/// An IPv6 fragment: fixed header (Next Header 44), Fragment header, `data`.
fn frag6(src: &str, dst: &str, hop: u8, fh: Vec<u8>, data: &[u8]) -> Vec<u8> {
    ipv6(v6(src), v6(dst), 44, hop, 0, &[fh, data.to_vec()].concat())
}

/// An IPv4 fragment: `flags_offset` is the Flags/Fragment Offset word.
fn frag4(
    src: &str,
    dst: &str,
    proto: u8,
    ttl: u8,
    id: u16,
    flags_offset: u16,
    data: &[u8],
) -> Vec<u8> {
    ipv4(v4(src), v4(dst), proto, ttl, 0, id, flags_offset, data)
}

const MF: u16 = 0x2000;

/// RFC 7915 §4.1 and §5.1.1. One UDP datagram, built whole with its checksum and then cut
/// into three fragments at 8-byte boundaries (24 and 40 bytes): the first fragment opens
/// the session and carries the translated UDP header, the later ones follow it.
fn fragment_fixtures(h: &mut Harness) {
    let payload: Vec<u8> = (0..60u8).collect();
    let cuts = [0usize, 24, 40, 68];
    let redirected6 = &[
        RxIpv6,
        Rx6to4Udp,
        Xlat6to4Udp,
        Frag6to4,
        FwdRedirect,
        VerdictRedirect,
    ];
    let redirected4 = &[
        RxIpv4,
        Rx4to6Udp,
        Xlat4to6Udp,
        Frag4to6,
        FwdRedirect,
        VerdictRedirect,
    ];

    // ---- IPv6 → IPv4 ------------------------------------------------------------------
    let whole6 = udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &payload);
    let whole4 = udp4(POOL4, SERVER4, 6000, 53, &payload);
    assert_eq!(whole6.len(), 68);
    let id6 = 0x1234_5678;
    for i in 0..3 {
        let (a, b) = (cuts[i], cuts[i + 1]);
        let more = i < 2;
        let offset = (a / 8) as u16;
        let row = Row {
            name: [
                "udp 6to4 first fragment",
                "udp 6to4 middle fragment",
                "udp 6to4 last fragment",
            ][i],
            frame: from_client6(frag6(
                CLIENT6,
                SERVER4_IN_POOL6,
                64,
                frag_hdr(PROTO_UDP, offset, more, id6),
                &whole6[a..b],
            )),
            action: Verdict::Redirect,
            // ID: the low 16 bits; MF and offset carried over; DF 0.
            output: Some(to_server4(frag4(
                POOL4,
                SERVER4,
                PROTO_UDP,
                63,
                0x5678,
                if more { MF } else { 0 } | offset,
                &whole4[a..b],
            ))),
            counters: if i == 0 {
                &[
                    RxIpv6,
                    Rx6to4Udp,
                    Xlat6to4Udp,
                    Frag6to4,
                    SessionCreated,
                    FwdRedirect,
                    VerdictRedirect,
                ]
            } else {
                redirected6
            },
        };
        if i == 0 {
            h.check(row);
        } else {
            h.check_keep(row);
        }
    }
    // Later fragments refresh nothing: the one session is the first fragment's.
    assert_eq!(h.sessions().len(), 1);
    h.check_keep(Row {
        name: "udp 6to4 later fragment without its first",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_UDP, 3, false, id6 + 1),
            &whole6[24..],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Udp, DropFragmentOutOfOrder, VerdictDrop],
    });
    h.check(Row {
        name: "udp 6to4 atomic fragment",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_UDP, 0, false, 0xabcd_0102),
            &whole6,
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(frag4(
            POOL4, SERVER4, PROTO_UDP, 63, 0x0102, 0, &whole4,
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            Frag6to4,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    // The whole datagram is there: ICMP in an atomic fragment translates (the fragment's
    // identification carried over, RFC 7915 §5.1.1), echo and errors alike.
    h.check(Row {
        name: "icmpv6 echo request in an atomic fragment",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_ICMPV6, 0, false, 0xabcd_0103),
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                128,
                0,
                echo_rest(1234, 9),
                b"atomic",
            ),
        )),
        action: Verdict::Redirect,
        output: Some(to_server4(frag4(
            POOL4,
            SERVER4,
            PROTO_ICMP,
            63,
            0x0103,
            0,
            &icmp4(8, 0, echo_rest(7000, 9), b"atomic"),
        ))),
        counters: &[
            RxIpv6,
            Rx6to4Icmp,
            Xlat6to4Icmp,
            Frag6to4,
            SessionCreated,
            FwdRedirect,
            VerdictRedirect,
        ],
    });
    {
        // TCP: the first fragment's header gets the binding's port and the checksum update.
        let t6 = tcp6(CLIENT6, SERVER4_IN_POOL6, 5001, 80, &payload);
        let t4 = tcp4(POOL4, SERVER4, 6001, 80, &payload);
        h.check(Row {
            name: "tcp 6to4 first fragment",
            frame: from_client6(frag6(
                CLIENT6,
                SERVER4_IN_POOL6,
                64,
                frag_hdr(PROTO_TCP, 0, true, 77),
                &t6[..40],
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(frag4(
                POOL4,
                SERVER4,
                PROTO_TCP,
                63,
                77,
                MF,
                &t4[..40],
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Tcp,
                Xlat6to4Tcp,
                Frag6to4,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
        h.check_keep(Row {
            name: "tcp 6to4 last fragment",
            frame: from_client6(frag6(
                CLIENT6,
                SERVER4_IN_POOL6,
                64,
                frag_hdr(PROTO_TCP, 5, false, 77),
                &t6[40..],
            )),
            action: Verdict::Redirect,
            output: Some(to_server4(frag4(
                POOL4,
                SERVER4,
                PROTO_TCP,
                63,
                77,
                5,
                &t4[40..],
            ))),
            counters: &[
                RxIpv6,
                Rx6to4Tcp,
                Xlat6to4Tcp,
                Frag6to4,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
    }
    let echo6 = icmp6(
        v6(CLIENT6),
        v6(SERVER4_IN_POOL6),
        128,
        0,
        echo_rest(1234, 1),
        &payload,
    );
    h.check(Row {
        name: "icmpv6 echo first fragment",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_ICMPV6, 0, true, 9),
            &echo6[..24],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Icmp, DropFragmentIcmp, VerdictDrop],
    });
    h.check(Row {
        name: "icmpv6 echo later fragment",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_ICMPV6, 3, false, 9),
            &echo6[24..],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Icmp, DropFragmentIcmp, VerdictDrop],
    });
    // From a source with no binding: refused before it could claim one (no bib_created).
    h.check(Row {
        name: "udp first fragment to a pool4 address (hairpin)",
        frame: from_client6(frag6(
            CLIENT6,
            "64:ff9b::cb00:7101",
            64,
            frag_hdr(PROTO_UDP, 0, true, 10),
            &udp6(CLIENT6, "64:ff9b::cb00:7101", 7100, 6004, &payload)[..24],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Udp, DropFragmentHairpin, VerdictDrop],
    });
    h.check(Row {
        name: "fragment with a destination options header after it",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(60, 0, true, 11),
            &[&[PROTO_UDP, 0][..], &PADN6, &whole6[..16]].concat(),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, DropFragmentMalformed, VerdictDrop],
    });
    h.check(Row {
        name: "two fragment headers",
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(44, 0, false, 12),
            &[frag_hdr(PROTO_UDP, 0, true, 12), whole6[..24].to_vec()].concat(),
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, DropFragmentMalformed, VerdictDrop],
    });

    // ---- IPv4 → IPv6 ------------------------------------------------------------------
    let whole4 = udp4(SERVER4, POOL4, 53, 6000, &payload);
    let whole6 = udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, &payload);
    for i in 0..3 {
        let (a, b) = (cuts[i], cuts[i + 1]);
        let more = i < 2;
        let offset = (a / 8) as u16;
        let row = Row {
            name: [
                "udp 4to6 first fragment",
                "udp 4to6 middle fragment",
                "udp 4to6 last fragment",
            ][i],
            frame: from_server4(frag4(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                0xbeef,
                if more { MF } else { 0 } | offset,
                &whole4[a..b],
            )),
            action: Verdict::Redirect,
            // A Fragment header: ID 0x0000beef, offset and M carried over.
            output: Some(to_client6(frag6(
                SERVER4_IN_POOL6,
                CLIENT6,
                63,
                frag_hdr(PROTO_UDP, offset, more, 0xbeef),
                &whole6[a..b],
            ))),
            counters: if i == 0 {
                &[
                    RxIpv4,
                    Rx4to6Udp,
                    Xlat4to6Udp,
                    Frag4to6,
                    SessionCreated,
                    FwdRedirect,
                    VerdictRedirect,
                ]
            } else {
                redirected4
            },
        };
        if i == 0 {
            h.check(row);
        } else {
            h.check_keep(row);
        }
    }
    assert_eq!(h.sessions().len(), 1);
    h.check_keep(Row {
        name: "udp 4to6 later fragment without its first",
        frame: from_server4(frag4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            0xbef0,
            3,
            &whole4[24..],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Udp, DropFragmentOutOfOrder, VerdictDrop],
    });
    {
        let mut zero = whole4.clone();
        zero[6] = 0;
        zero[7] = 0;
        h.check(Row {
            name: "udp 4to6 first fragment without checksum",
            frame: from_server4(frag4(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                0xbef1,
                MF,
                &zero[..24],
            )),
            action: Verdict::Drop,
            output: None,
            counters: &[RxIpv4, Rx4to6Udp, DropFragmentUdpZeroChecksum, VerdictDrop],
        });
        h.check_keep(Row {
            name: "udp 4to6 later fragment of a refused first",
            frame: from_server4(frag4(SERVER4, POOL4, PROTO_UDP, 64, 0xbef1, 3, &zero[24..])),
            action: Verdict::Drop,
            output: None,
            counters: &[RxIpv4, Rx4to6Udp, DropFragmentOutOfOrder, VerdictDrop],
        });
        assert!(
            h.sessions().is_empty(),
            "a refused first fragment opens nothing"
        );
    }
    {
        // A record serves its datagram's later fragments for FRAG_TIMEOUT_NS, no longer.
        h.check(Row {
            name: "udp 4to6 first fragment, record to age",
            frame: from_server4(frag4(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                0xbef4,
                MF,
                &whole4[..24],
            )),
            action: Verdict::Redirect,
            output: Some(to_client6(frag6(
                SERVER4_IN_POOL6,
                CLIENT6,
                63,
                frag_hdr(PROTO_UDP, 0, true, 0xbef4),
                &whole6[..24],
            ))),
            counters: &[
                RxIpv4,
                Rx4to6Udp,
                Xlat4to6Udp,
                Frag4to6,
                SessionCreated,
                FwdRedirect,
                VerdictRedirect,
            ],
        });
        let records = h.age_fragments(FRAG_TIMEOUT_NS + 1);
        let key = FragKey::v4(v4(SERVER4).octets(), v4(POOL4).octets(), 0xbef4, PROTO_UDP);
        let (_, e) = records
            .iter()
            .find(|(k, _)| *k == key)
            .expect("the first fragment's record");
        assert_eq!(
            (e.src, e.dst),
            (v6(SERVER4_IN_POOL6).octets(), v6(CLIENT6).octets())
        );
        h.check_keep(Row {
            name: "udp 4to6 later fragment after its record aged out",
            frame: from_server4(frag4(
                SERVER4,
                POOL4,
                PROTO_UDP,
                64,
                0xbef4,
                3,
                &whole4[24..],
            )),
            action: Verdict::Drop,
            output: None,
            counters: &[RxIpv4, Rx4to6Udp, DropFragmentOutOfOrder, VerdictDrop],
        });
    }
    let echo4 = icmp4(8, 0, echo_rest(7000, 1), &payload);
    h.check(Row {
        name: "icmpv4 echo first fragment",
        frame: from_server4(frag4(
            SERVER4,
            POOL4,
            PROTO_ICMP,
            64,
            0xbef2,
            MF,
            &echo4[..24],
        )),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv4, Rx4to6Icmp, DropFragmentIcmp, VerdictDrop],
    });
}

// ---- ICMP errors the gateway originates ------------------------------------------------

/// The ICMPv6 error the gateway sends back (XDP_TX) to `to` about `orig`, an IPv6 packet
/// as it arrived: from the gateway's own address, hop limit 64, quoting as much of `orig`
/// as fits 1280 bytes.
fn originated6(to: &str, ty: u8, code: u8, rest: [u8; 4], orig: &[u8]) -> Vec<u8> {
    let q = &orig[..orig.len().min(1280 - 40 - 8)];
    to_client6(ip6(
        GATEWAY6,
        to,
        PROTO_ICMPV6,
        64,
        &icmp6(v6(GATEWAY6), v6(to), ty, code, rest, q),
    ))
}

/// The ICMPv4 error the gateway sends back (XDP_TX) to `to` about `orig`, an IPv4 packet
/// as it arrived: quoting as much of it as fits 576 bytes.
fn originated4(to: &str, ty: u8, code: u8, rest: [u8; 4], orig: &[u8]) -> Vec<u8> {
    let q = &orig[..orig.len().min(576 - 20 - 8)];
    to_server4(ip4(GATEWAY4, to, PROTO_ICMP, 64, &icmp4(ty, code, rest, q)))
}

/// Refills the rate limiter's buckets (every CPU's), as a long pause would.
fn refill_buckets(h: &mut Harness) {
    use nat64_common::origin::TokenBucket;
    let mut map: aya::maps::PerCpuArray<_, TokenBucket> =
        aya::maps::PerCpuArray::try_from(h.ebpf.map_mut("NAT64_ICMP_BUCKET").unwrap()).unwrap();
    let n = aya::util::nr_cpus().unwrap();
    map.set(
        0,
        aya::maps::PerCpuValues::try_from(vec![TokenBucket::default(); n]).unwrap(),
        0,
    )
    .unwrap();
}

/// RFC 6791 source choice, written out independently of nat64-common: FNV-1a of the
/// IPv6 source, host part in 1 ..= 2^(32-len) - 2.
fn expected_6791(prefix: Ipv4Addr, len: u32, src: Ipv6Addr) -> Ipv4Addr {
    let mut h: u32 = 0x811c9dc5;
    for b in src.octets() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16777619);
    }
    let size = 1u64 << (32 - len);
    let host = (u64::from(h) % (size - 2)) as u32 + 1;
    Ipv4Addr::from(u32::from(prefix) | host)
}

fn originated_error_fixtures(h: &mut Harness) {
    h.set_allow_nonglobal(true);
    refill_buckets(h);
    let p = b"originated";
    let udp_to_server = |hop: u8, payload: &[u8], dst6: &str| {
        ip6(
            CLIENT6,
            dst6,
            PROTO_UDP,
            hop,
            &udp6(CLIENT6, dst6, 5000, 53, payload),
        )
    };

    // Time Exceeded, both ways, from the gateway's own addresses (traceroute shows it).
    let late6 = udp_to_pool6_hop(1, p);
    h.check(Row {
        name: "hop limit 1 → icmpv6 time exceeded from the gateway",
        frame: from_client6(late6.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, 3, 0, [0; 4], &late6)),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropHopLimit,
            IcmpSentTimeExceeded6,
            VerdictTx,
        ],
    });
    let late4 = ip4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        1,
        &udp4(SERVER4, POOL4, 53, 6000, p),
    );
    h.check(Row {
        name: "ttl 1 → icmpv4 time exceeded from the gateway",
        frame: from_server4(late4.clone()),
        action: Verdict::Tx,
        output: Some(originated4(SERVER4, 11, 0, [0; 4], &late4)),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            DropHopLimit,
            IcmpSentTimeExceeded4,
            VerdictTx,
        ],
    });
    // A long packet is quoted up to the size limit: 1280 bytes in all for ICMPv6.
    let long6 = udp_to_pool6_hop(1, &[0xa5; 1400]);
    h.check(Row {
        name: "time exceeded quoting a 1448-byte packet is cut to 1280 bytes",
        frame: from_client6(long6.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, 3, 0, [0; 4], &long6[..1232])),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropHopLimit,
            IcmpSentTimeExceeded6,
            VerdictTx,
        ],
    });
    // ... and 576 for ICMPv4.
    let long4 = ip4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        1,
        &udp4(SERVER4, POOL4, 53, 6000, &[0xa5; 1000]),
    );
    h.check(Row {
        name: "time exceeded quoting a 1028-byte packet is cut to 576 bytes",
        frame: from_server4(long4.clone()),
        action: Verdict::Tx,
        output: Some(originated4(SERVER4, 11, 0, [0; 4], &long4[..548])),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            DropHopLimit,
            IcmpSentTimeExceeded4,
            VerdictTx,
        ],
    });

    // Packet Too Big: 1348 bytes of IPv6 are 1328 of IPv4 (DF=1), over the 1300-byte
    // route to 198.51.100.77: MTU 1300 + 20. No session is opened for it.
    let far6 = "64:ff9b::c633:644d";
    let big6 = udp_to_server(64, &[0x3c; 1300], far6);
    h.check(Row {
        name: "ipv6 packet too big for the ipv4 link → packet too big 1320",
        frame: from_client6(big6.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, 2, 0, 1320u32.to_be_bytes(), &big6)),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropTooBig,
            IcmpSentPacketTooBig,
            VerdictTx,
        ],
    });
    assert!(h.sessions().is_empty(), "a refused packet opens no session");
    // Over the 1000-byte route the MTU would be 1020: raised to IPv6's minimum 1280.
    let far6_small = "64:ff9b::c633:644e";
    let big6 = udp_to_server(64, &[0x3c; 1300], far6_small);
    h.check(Row {
        name: "packet too big toward a 1000-byte ipv4 link announces 1280",
        frame: from_client6(big6.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, 2, 0, 1280u32.to_be_bytes(), &big6)),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropTooBig,
            IcmpSentPacketTooBig,
            VerdictTx,
        ],
    });
    // 1148 bytes of IPv6 are 1128 of IPv4 (≤ 1260: DF=0): translated and handed to the
    // kernel, which fragments it for the 1000-byte route.
    let payload = [0x3c; 1100];
    let mid6 = udp_to_server(64, &payload, far6_small);
    let far4 = "198.51.100.78";
    h.check(Row {
        name: "df=0 over the 1000-byte link → translated, the kernel fragments",
        frame: from_client6(mid6),
        action: Verdict::Pass,
        output: Some(with_macs(
            ethernet(
                0x0800,
                &ip4(
                    POOL4,
                    far4,
                    PROTO_UDP,
                    64,
                    &udp4(POOL4, far4, 6000, 53, &payload),
                ),
            ),
            MAC6_SELF,
            MAC6_NEXT,
        )),
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            FwdPassFragment,
            VerdictPass,
        ],
    });

    // Fragmentation Needed: 1288 bytes of IPv4 with DF=1 are 1308 of IPv6, over the
    // 1300-byte route to 2001:db8:8::5 (static binding 6003): MTU 1300 - 20.
    let mut big4 = ip4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        64,
        &udp4(SERVER4, POOL4, 53, 6003, &[0xc3; 1260]),
    );
    set_df(&mut big4);
    h.check(Row {
        name: "df=1 ipv4 packet too big for the ipv6 link → frag needed 1280",
        frame: from_server4(big4.clone()),
        action: Verdict::Tx,
        output: Some(originated4(SERVER4, 3, 4, [0, 0, 0x05, 0x00], &big4)),
        counters: &[RxIpv4, Rx4to6Udp, DropTooBig, IcmpSentFragNeeded, VerdictTx],
    });

    // No error about a packet whose source is not a unicast host (RFC 4443 §2.4 e,
    // RFC 1812 §4.3.2.7), nor about a frame sent to a link-layer group address.
    let from6 = |src: &str| {
        from_client6(ip6(
            src,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            1,
            &udp6(src, SERVER4_IN_POOL6, 5000, 53, p),
        ))
    };
    let from4 = |src: &str| {
        from_server4(ip4(
            src,
            POOL4,
            PROTO_UDP,
            1,
            &udp4(src, POOL4, 53, 6000, p),
        ))
    };
    let mut bcast = from_server4(late4.clone());
    bcast[..6].copy_from_slice(&[0xff; 6]);
    let rx6: &'static [Counter] = &[RxIpv6, Rx6to4Udp, DropHopLimit, VerdictDrop];
    let rx4: &'static [Counter] = &[RxIpv4, Rx4to6Udp, DropHopLimit, VerdictDrop];
    for (name, frame, counters) in [
        (
            "hop limit 1 from a multicast source: dropped, no error",
            from6("ff02::1"),
            rx6,
        ),
        ("hop limit 1 from ::1: dropped, no error", from6("::1"), rx6),
        (
            "ttl 1 from 127.0.0.1: dropped, no error",
            from4("127.0.0.1"),
            rx4,
        ),
        (
            "ttl 1 from 0.0.0.0: dropped, no error",
            from4("0.0.0.0"),
            rx4,
        ),
        (
            "ttl 1 in a link-layer broadcast frame: dropped, no error",
            bcast,
            rx4,
        ),
    ] {
        h.check(Row {
            name,
            frame,
            action: Verdict::Drop,
            output: None,
            counters,
        });
    }
    // A first fragment with DF=1 over the 1300-byte route: a fragment may be split
    // further (and no Fragmentation Needed would fit it), so no error; without the slow
    // path the kernel gets it.
    let payload = [0xc4; 1264];
    let whole4 = udp4(SERVER4, POOL4, 53, 6003, &payload);
    let whole6 = udp6(SERVER4_IN_POOL6, "2001:db8:8::5", 53, 5003, &payload);
    let mut first = frag4(SERVER4, POOL4, PROTO_UDP, 64, 0x0df1, MF, &whole4[..1272]);
    set_df(&mut first);
    h.check(Row {
        name: "df=1 first fragment too big for the ipv6 link: no error, to the kernel",
        frame: from_server4(first),
        action: Verdict::Pass,
        output: Some(with_macs(
            ethernet(
                0x86dd,
                &frag6(
                    SERVER4_IN_POOL6,
                    "2001:db8:8::5",
                    64,
                    frag_hdr(PROTO_UDP, 0, true, 0x0df1),
                    &whole6[..1272],
                ),
            ),
            MAC4_SELF,
            MAC4_NEXT,
        )),
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            Frag4to6,
            SessionCreated,
            FwdPassTooBig,
            VerdictPass,
        ],
    });

    // Rate limit: a burst of 2, then the bucket is empty (1 token a second).
    h.update_config(|c| {
        c.icmp_rate = 1;
        c.icmp_burst = 2;
    });
    refill_buckets(h);
    for i in 0..2 {
        let name: &'static str =
            Box::leak(format!("rate limit: error {} of the burst", i + 1).into_boxed_str());
        h.check(Row {
            name,
            frame: from_client6(late6.clone()),
            action: Verdict::Tx,
            output: Some(originated6(CLIENT6, 3, 0, [0; 4], &late6)),
            counters: &[
                RxIpv6,
                Rx6to4Udp,
                DropHopLimit,
                IcmpSentTimeExceeded6,
                VerdictTx,
            ],
        });
    }
    h.check(Row {
        name: "rate limit: past the burst the packet is dropped, counted",
        frame: from_client6(late6.clone()),
        action: Verdict::Drop,
        output: None,
        counters: &[
            RxIpv6,
            Rx6to4Udp,
            DropHopLimit,
            IcmpErrorsRateLimited,
            VerdictDrop,
        ],
    });
    // Rate 0: no errors at all.
    h.update_config(|c| c.icmp_rate = 0);
    refill_buckets(h);
    h.check(Row {
        name: "rate 0: errors disabled",
        frame: from_server4(late4.clone()),
        action: Verdict::Drop,
        output: None,
        counters: &[
            RxIpv4,
            Rx4to6Udp,
            DropHopLimit,
            IcmpErrorsRateLimited,
            VerdictDrop,
        ],
    });
    h.update_config(|c| {
        c.icmp_rate = config::DEFAULT_ICMP_RATE;
        c.icmp_burst = config::DEFAULT_ICMP_BURST;
    });
    // No source address configured: no errors either, and nothing is rate-limited.
    let src6 = h.update_config(|c| std::mem::take(&mut c.icmp_src6));
    h.check(Row {
        name: "no icmp source6: hop limit 1 silently dropped",
        frame: from_client6(late6.clone()),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Udp, DropHopLimit, VerdictDrop],
    });
    h.update_config(|c| c.icmp_src6 = src6);

    // RFC 6791: an ICMPv6 error from a router with no IPv4 form.
    let router = "2001:db8:6::99";
    let e64 = &[
        RxIpv6,
        Rx6to4Icmp,
        IcmpRfc6791Source,
        Xlat6to4IcmpError,
        FwdRedirect,
        VerdictRedirect,
    ][..];
    let translated_from = |src4: Ipv4Addr| {
        to_server4(ipv4(
            src4,
            v4(SERVER4),
            PROTO_ICMP,
            63,
            0,
            0,
            0,
            &icmp4(11, 0, [0; 4], &quoted_from_server_v4(p)),
        ))
    };
    h.check(Row {
        name: "rfc 6791: default pool is the gateway's ipv4 address",
        frame: error6_from(router, 3, 0, [0; 4], &quoted_from_server(p)),
        action: Verdict::Redirect,
        output: Some(translated_from(v4(GATEWAY4))),
        counters: e64,
    });
    let old = h.update_config(|c| {
        let old = (c.pool6791, c.pool6791_len);
        (c.pool6791, c.pool6791_len) = ([198, 51, 100, 0], 24);
        old
    });
    let chosen = expected_6791(v4("198.51.100.0"), 24, v6(router));
    h.check(Row {
        name: "rfc 6791: a /24 pool, address chosen by hash of the router",
        frame: error6_from(router, 3, 0, [0; 4], &quoted_from_server(p)),
        action: Verdict::Redirect,
        output: Some(translated_from(chosen)),
        counters: e64,
    });
    h.update_config(|c| c.pool6791_len = 0);
    h.check(Row {
        name: "icmpv6 error from a router without an IPv4 form, no pool6791",
        frame: error6_from(router, 3, 0, [0; 4], &quoted_from_server(p)),
        action: Verdict::Drop,
        output: None,
        counters: &[RxIpv6, Rx6to4Icmp, DropIcmpUnmappableSource, VerdictDrop],
    });
    h.update_config(|c| (c.pool6791, c.pool6791_len) = old);

    // Translated Fragmentation Needed from a pre-RFC 1191 router (MTU 0): the plateau
    // below the quoted datagram's Total Length (1000 → 508) + 20.
    let q4 = ip4(
        POOL4,
        SERVER4,
        PROTO_UDP,
        63,
        &udp4(POOL4, SERVER4, 6000, 53, &[0x11; 972]),
    );
    let q6 = ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        63,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &[0x11; 972]),
    );
    let e46 = &[
        RxIpv4,
        Rx4to6Icmp,
        Xlat4to6IcmpError,
        FwdRedirect,
        VerdictRedirect,
    ][..];
    h.check(Row {
        name: "frag needed mtu 0 (quoting 1000 bytes) → packet too big 528 (plateau 508)",
        frame: error4_from_server(3, 4, [0; 4], &q4[..28 + 64]),
        action: Verdict::Redirect,
        output: Some(error6_to_client(2, 0, 528u32.to_be_bytes(), &q6[..48 + 64])),
        counters: e46,
    });
    // Quoting 1500 bytes: plateau 1492 + 20 = 1512, capped by the 1500-byte IPv6 link.
    let q4 = ip4(
        POOL4,
        SERVER4,
        PROTO_UDP,
        63,
        &udp4(POOL4, SERVER4, 6000, 53, &[0x22; 1472]),
    );
    let q6 = ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        63,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &[0x22; 1472]),
    );
    h.check(Row {
        name: "frag needed mtu 0 (quoting 1500 bytes) → plateau 1492 + 20, capped at 1500",
        frame: error4_from_server(3, 4, [0; 4], &q4[..28 + 64]),
        action: Verdict::Redirect,
        output: Some(error6_to_client(
            2,
            0,
            1500u32.to_be_bytes(),
            &q6[..48 + 64],
        )),
        counters: e46,
    });
}

/// UDP from client6's static binding (5000) to server4 under pool6, with hop limit `hop`.
fn udp_to_pool6_hop(hop: u8, payload: &[u8]) -> Vec<u8> {
    ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        hop,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, payload),
    )
}

