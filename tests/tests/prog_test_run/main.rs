//! BPF_PROG_TEST_RUN fixtures: the real XDP object, loaded into the kernel, run against
//! frames built field by field (tests/src/packet.rs). Each row of the table (`fixtures!`
//! below): input frame → expected verdict, exact output bytes, and exactly which counters
//! moved. Every row is a test per hook, `<row>::xdp` and `<row>::tc`, on a harness that is
//! as configured when the test starts (fresh, or reused and put back: `Harness::reset`):
//! what a row needs from before (flags, held SYNs, the rows whose bindings or sessions it
//! continues) it names itself, so `cargo test --test prog_test_run udp_6to4_redirect` runs
//! that row alone.
//!
//! The program's FIB lookups need routes and neighbours: the test thread enters a
//! namespace (created with a name, held open by the harness and its name deleted once it is
//! set up) with
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
        SlowPathHeader, SubscriberBlock, CONFIG_F_ADDRESS_DEPENDENT_FILTERING,
        CONFIG_F_ALLOW_NONGLOBAL, CONFIG_F_FILTERING_ICMP, CONFIG_F_SESSION_EVENTS,
        CONFIG_F_SLOW_PATH, EVENT_BIB_CREATED, EVENT_BLOCK_ASSIGNED, EVENT_SESSION_CREATED,
        MAP_BLOCKS, MAP_BLOCK_CONFIG, MAP_BLOCK_OWNERS, MAP_CONFIG, MAP_EVENTS, MAP_FREE_BLOCKS,
        MAP_HELD_SYNS, MAP_SESSIONS, MAP_SLOW, MAP_SUBSCRIBER_BLOCKS, PROTO_ICMP, PROTO_TCP,
        PROTO_UDP, SESSION_F_FROM_V4, SESSION_KIND_FLOW, SESSION_KIND_PEER, SLOW_FRAME_MAX,
        SLOW_KIND_FRAGMENT, SLOW_KIND_HELD_SYN, SLOW_KIND_HELD_SYN6,
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
    /// The namespace the harness's threads enter (held open: its name is gone once it is
    /// set up, so nothing is left behind when the process ends).
    netns: std::fs::File,
    /// The sessions as `age_sessions` last left them, for a row's `verify` to compare with.
    aged: Vec<(SessionKey, SessionEntry)>,
    /// The table sizes it was loaded with.
    sizes: (Option<u32>, Option<u32>),
    /// Every map as configured, before any frame ran: what `reset` puts back.
    configured: Vec<(String, MapBytes)>,
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
        let netns = std::fs::File::open(format!("/run/netns/{}", ns.name)).unwrap();
        enter(&netns);

        let mut ebpf = loader::load_sized(loader::BpfLogLevel::Off, sizes)
            .expect("the kernel loads the XDP object");
        if hook == Hook::Tc {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(TC_PROGRAM)
                .unwrap_or_else(|| panic!("program {TC_PROGRAM:?} missing from the object"))
                .try_into()
                .expect("the TC program is a sched_cls program");
            loader::verify(|| prog.load()).expect("the kernel loads the TC program");
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
            port_blocks: None,
        };
        config::apply(&mut Tables::from_ebpf(&ebpf).unwrap(), &settings).unwrap();
        let stats = stats::take(&mut ebpf).unwrap();
        let configured = map_images(&ebpf);
        Some(Harness {
            ebpf,
            hook,
            stats,
            netns,
            aged: Vec::new(),
            sizes: (sizes.bib, sizes.sessions),
            configured,
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

    /// Turns port blocks on as nat64-ctl would: /`sub_len` subscribers of `range`/`len`,
    /// and `blocks` written at their `NAT64_BLOCKS` indices (POOL4 ports, one each: the
    /// port a binding gets names the block it came from).
    fn port_blocks(&mut self, range: &str, len: u8, sub_len: u8, blocks: &[(u32, u16)]) {
        let cfg = nat64_common::block::PortBlockConfig {
            range6: v6(range).octets(),
            range_len: len,
            subscriber_len: sub_len,
            block_size: 1,
            subscribers: 1 << (sub_len - len),
            ..Default::default()
        };
        self.write_blocks(cfg, blocks);
    }

    fn write_blocks(&mut self, cfg: nat64_common::block::PortBlockConfig, blocks: &[(u32, u16)]) {
        let mut table: Array<_, nat64_common::maps::Pool4Slot> =
            Array::try_from(self.ebpf.map_mut(MAP_BLOCKS).unwrap()).unwrap();
        for &(i, port) in blocks {
            let slot = nat64_common::maps::Pool4Slot {
                addr4: v4(POOL4).octets(),
                port_lo: port,
                port_hi: port,
            };
            table.set(i, slot, 0).unwrap();
        }
        let mut c: Array<_, nat64_common::block::PortBlockConfig> =
            Array::try_from(self.ebpf.map_mut(MAP_BLOCK_CONFIG).unwrap()).unwrap();
        c.set(0, cfg, 0).unwrap();
    }

    /// Turns port blocks on first use on as nat64-ctl would: /`sub_len` subscribers of
    /// `range`/`len`, one block per protocol (the default table's three entries: TCP's,
    /// UDP's and ICMP's block 0 at ports 6240, 6140, 6300), and `free` queued as the free
    /// block numbers.
    fn blocks_on_first_use(&mut self, range: &str, len: u8, sub_len: u8, free: &[u32]) {
        let cfg = nat64_common::block::PortBlockConfig {
            range6: v6(range).octets(),
            range_len: len,
            subscriber_len: sub_len,
            allocation: nat64_common::block::ALLOCATION_DYNAMIC,
            block_size: 1,
            subscribers: 1,
            ..Default::default()
        };
        self.write_blocks(cfg, &[(0, 6240), (1, 6140), (2, 6300)]);
        let mut q: aya::maps::Queue<_, u32> =
            aya::maps::Queue::try_from(self.ebpf.map_mut(MAP_FREE_BLOCKS).unwrap()).unwrap();
        for b in free {
            q.push(b, 0).unwrap();
        }
    }

    /// Gives block `block` to the subscriber `prefix`, as the data plane does on first use.
    fn give_block(&mut self, prefix: &str, block: u32) {
        let prefix = v6(prefix).octets();
        let mut owners: aya::maps::HashMap<_, u32, [u8; 16]> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_BLOCK_OWNERS).unwrap()).unwrap();
        owners.insert(block, prefix, 0).unwrap();
        let mut subs: aya::maps::HashMap<_, [u8; 16], SubscriberBlock> =
            aya::maps::HashMap::try_from(self.ebpf.map_mut(MAP_SUBSCRIBER_BLOCKS).unwrap())
                .unwrap();
        let entry = SubscriberBlock {
            block,
            stamp: 7,
            assigned_ns: 1,
        };
        subs.insert(prefix, entry, 0).unwrap();
    }

    /// Port blocks on first use: (subscriber prefix → block, block → subscriber prefix,
    /// the free block numbers in queue order).
    fn block_tables(&mut self) -> BlockTables {
        let subs: aya::maps::HashMap<_, [u8; 16], SubscriberBlock> =
            aya::maps::HashMap::try_from(self.ebpf.map(MAP_SUBSCRIBER_BLOCKS).unwrap()).unwrap();
        let mut by_subscriber: Vec<_> = subs
            .iter()
            .map(|r| r.unwrap())
            .map(|(k, v)| (Ipv6Addr::from(k), v.block))
            .collect();
        by_subscriber.sort();
        let owners: aya::maps::HashMap<_, u32, [u8; 16]> =
            aya::maps::HashMap::try_from(self.ebpf.map(MAP_BLOCK_OWNERS).unwrap()).unwrap();
        let mut by_block: Vec<_> = owners
            .iter()
            .map(|r| r.unwrap())
            .map(|(k, v)| (k, Ipv6Addr::from(v)))
            .collect();
        by_block.sort();
        let mut q: aya::maps::Queue<_, u32> =
            aya::maps::Queue::try_from(self.ebpf.map_mut(MAP_FREE_BLOCKS).unwrap()).unwrap();
        let mut free = Vec::new();
        while let Ok(b) = q.pop(0) {
            free.push(b);
        }
        for b in &free {
            q.push(b, 0).unwrap();
        }
        (by_subscriber, by_block, free)
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
        self.aged.clone_from(&aged);
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
fn enter(netns: &std::fs::File) {
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(netns), libc::CLONE_NEWNET) };
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

use Counter::*;

/// What [`Harness::block_tables`] reads.
type BlockTables = (Vec<(Ipv6Addr, u32)>, Vec<(u32, Ipv6Addr)>, Vec<u32>);

/// One row of the fixture table: a frame, what the program must do with it, and what the
/// row needs from before it and checks after it. Its name is the table's key.
struct Fixture {
    /// What the row shows, for messages.
    what: &'static str,
    /// The harness's table sizes (the object's defaults unless a row needs a full table).
    sizes: TableSizes,
    /// Rows run first on the same harness, each as its own test runs it (their `after`,
    /// setup, check and verify): the bindings and sessions this row continues.
    after: &'static [&'static str],
    /// Whether the sessions the `after` rows left stay; otherwise they are cleared before
    /// the row runs (the bindings stay).
    keep_sessions: bool,
    /// State the row needs that no frame makes: configuration flags, held SYNs, aged
    /// entries. Runs after the `after` rows.
    setup: fn(&mut Harness),
    frame: Vec<u8>,
    action: Verdict,
    /// Exact expected frame; None for drops (their bytes do not leave the host).
    output: Option<Vec<u8>>,
    /// Packet counters that move, each as often as it is listed (the byte counters that
    /// follow them are implied); every other counter stays.
    counters: Vec<Counter>,
    /// Assertions on the state the row left (sessions, rings).
    verify: fn(&mut Harness),
}

fn no_state(_: &mut Harness) {}

/// The fields a row leaves as they are: `..ROW` after the ones it sets.
const ROW: Fixture = Fixture {
    what: "",
    sizes: TableSizes {
        bib: None,
        sessions: None,
        blocks: None,
        first_use_blocks: None,
    },
    after: &[],
    keep_sessions: false,
    setup: no_state,
    frame: Vec::new(),
    action: Verdict::Drop,
    output: None,
    counters: Vec::new(),
    verify: no_state,
};

/// A three-entry session table (the session rows fill it).
const SMALL_SESSION_TABLE: TableSizes = TableSizes {
    bib: None,
    sessions: Some(3),
    blocks: None,
    first_use_blocks: None,
};
/// Binding tables sized to the static bindings alone: a new flow finds them full.
const STATIC_BIB_ONLY: TableSizes = TableSizes {
    bib: Some(STATIC_BINDINGS),
    sessions: None,
    blocks: None,
    first_use_blocks: None,
};

/// A dropped frame: `rx` (the receive counters) and `reason` move, and the drop verdict.
fn dropped(what: &'static str, frame: Vec<u8>, rx: &[Counter], reason: Counter) -> Fixture {
    Fixture {
        what,
        frame,
        counters: [rx, &[reason, VerdictDrop]].concat(),
        ..ROW
    }
}

/// A frame that is not the gateway's: passed, byte for byte.
fn untouched(what: &'static str, frame: Vec<u8>, counters: &[Counter]) -> Fixture {
    Fixture {
        what,
        output: Some(frame.clone()),
        frame,
        action: Verdict::Pass,
        counters: counters.to_vec(),
        ..ROW
    }
}

/// A row translated and redirected: `frame` → `output`.
fn redirected(
    what: &'static str,
    frame: Vec<u8>,
    output: Vec<u8>,
    counters: &[Counter],
) -> Fixture {
    Fixture {
        what,
        frame,
        action: Verdict::Redirect,
        output: Some(output),
        counters: counters.to_vec(),
        ..ROW
    }
}

/// Counters of a first packet translated on a binding that exists, opening a session.
const UDP64_NEW_SESSION: &[Counter] = &[
    RxIpv6,
    Rx6to4Udp,
    Xlat6to4Udp,
    SessionCreated,
    FwdRedirect,
    VerdictRedirect,
];
const TCP64_NEW_SESSION: &[Counter] = &[
    RxIpv6,
    Rx6to4Tcp,
    Xlat6to4Tcp,
    SessionCreated,
    FwdRedirect,
    VerdictRedirect,
];
const ICMP64_NEW_SESSION: &[Counter] = &[
    RxIpv6,
    Rx6to4Icmp,
    Xlat6to4Icmp,
    SessionCreated,
    FwdRedirect,
    VerdictRedirect,
];
const UDP46_NEW_SESSION: &[Counter] = &[
    RxIpv4,
    Rx4to6Udp,
    Xlat4to6Udp,
    SessionCreated,
    FwdRedirect,
    VerdictRedirect,
];
const TCP46_NEW_SESSION: &[Counter] = &[
    RxIpv4,
    Rx4to6Tcp,
    Xlat4to6Tcp,
    SessionCreated,
    FwdRedirect,
    VerdictRedirect,
];
/// Counters of an ICMP error translated with the packet it quotes.
const ERROR64: &[Counter] = &[
    RxIpv6,
    Rx6to4Icmp,
    Xlat6to4IcmpError,
    FwdRedirect,
    VerdictRedirect,
];
const ERROR46: &[Counter] = &[
    RxIpv4,
    Rx4to6Icmp,
    Xlat4to6IcmpError,
    FwdRedirect,
    VerdictRedirect,
];

/// Runs the row `name` of the table under `hook` on a harness no other test touched.
fn run_fixture(hook: Hook, name: &str) {
    let table = fixture_table(hook);
    let fixture = find(&table, name);
    if !runnable(hook, &fixture.frame) {
        eprintln!(
            "skip ({hook:?}): {name} ({}) — BPF_PROG_TEST_RUN refuses to build an skb of a frame shorter than its IP header",
            fixture.what
        );
        return;
    }
    let Some(mut h) = Pooled::take(hook, fixture.sizes) else {
        return;
    };
    play(&mut h, &table, name);
}

fn find<'t>(table: &'t [(&'static str, Fixture)], name: &str) -> &'t Fixture {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no fixture row {name}"))
}

/// The row `name` with what it names before it: its `after` rows, its setup, the row,
/// its verify.
fn play(h: &mut Harness, table: &[(&'static str, Fixture)], name: &str) {
    let fixture = find(table, name);
    for earlier in fixture.after {
        let sizes = find(table, earlier).sizes;
        assert_eq!(
            (sizes.bib, sizes.sessions),
            (fixture.sizes.bib, fixture.sizes.sessions),
            "{name} runs after {earlier}: their table sizes must agree"
        );
        play(h, table, earlier);
    }
    (fixture.setup)(h);
    if !fixture.keep_sessions {
        h.clear_sessions();
    }
    check(h, name, fixture);
    (fixture.verify)(h);
}

/// Runs the row's frame and checks the verdict, the output bytes and every counter.
fn check(h: &mut Harness, name: &str, row: &Fixture) {
    let before = h.counters();
    let (action, out) = h.run(&row.frame);
    let moved = |after: &[u64]| -> Vec<&str> {
        Counter::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| after[*i] != before[*i])
            .map(|(_, c)| c.name())
            .collect()
    };
    let what = format!("{name} ({})", row.what);
    assert_eq!(
        action,
        h.code(row.action),
        "{what}: {:?} return code, {:?} ({:?} expected; counters moved: {:?})",
        h.hook,
        Verdict::of(h.hook, action),
        row.action,
        moved(&h.counters())
    );
    if let Some(expected) = &row.output {
        let expected = with_random_ipv4_id(expected, &out);
        assert_eq!(hex(&out), hex(&expected), "{what}: output bytes");
    }
    let after = h.counters();
    assert!(
        !row.counters.iter().any(|c| c.is_bytes()),
        "{what}: rows list packet counters; the byte counters that follow them are implied"
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
            "{what}: counter {} moved by {delta}",
            c.name()
        );
    }
    eprintln!(
        "ok: {:<52} action {action}, {} bytes out",
        row.what,
        out.len()
    );
}

/// Each row of the table as a test per hook (`<row>::xdp`, `<row>::tc`; a name filter such
/// as `udp_6to4_redirect` runs both), and `fixture_table(hook)`, the rows by name as `hook`
/// expects them (a few rows differ between the hooks).
macro_rules! fixtures {
    ($hook:ident; $($name:ident => $fixture:expr;)+) => {
        fn fixture_table($hook: Hook) -> Vec<(&'static str, Fixture)> {
            vec![$((stringify!($name), $fixture)),+]
        }
        $(
            mod $name {
                #[test]
                fn xdp() {
                    super::run_fixture(super::Hook::Xdp, stringify!($name));
                }
                #[test]
                fn tc() {
                    super::run_fixture(super::Hook::Tc, stringify!($name));
                }
            }
        )+
    };
}

/// Tests that are not one frame but a procedure on a harness of their own (a loop that
/// fills a ring, random fields over several runs, the fuzz), a test per hook each.
macro_rules! procedures {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn xdp() {
                    super::run_procedure(super::Hook::Xdp, stringify!($name), super::$name);
                }
                #[test]
                fn tc() {
                    super::run_procedure(super::Hook::Tc, stringify!($name), super::$name);
                }
            }
        )+
    };
}

fn run_procedure(hook: Hook, name: &str, procedure: fn(&mut Harness)) {
    if let Some(mut h) = Harness::new(name, hook) {
        procedure(&mut h);
    }
}

procedures!(
    random_ipv4_ids,
    slow_path_stops_queuing_at_half_the_ring,
    session_log_overflow,
    mutated_frames,
    a_reset_puts_back_what_rows_changed,
);

/// `Harness::reset` is not vacuous: rows that leave a dynamic binding, a session, a held
/// SYN, a fragment record, an emptied rate limiter and flags change the maps, and the reset
/// puts every map back as configured (which it checks itself, byte for byte).
fn a_reset_puts_back_what_rows_changed(h: &mut Harness) {
    let table = fixture_table(h.hook);
    // Each row clears the sessions before it runs: the last one's session stays.
    for row in [
        "rate_limit_past_the_burst_the_packet_is_dropped_counted",
        "tcp_syn_to_a_held_syns_source_takes_its_pool4_port",
        "udp_from_a_new_source_gets_a_dynamic_binding",
        "udp_4to6_first_fragment",
    ] {
        play(h, &table, row);
    }
    h.set_allow_nonglobal(false);
    h.set_flag(CONFIG_F_SESSION_EVENTS, true);
    let changed: Vec<String> = map_images(&h.ebpf)
        .into_iter()
        .zip(&h.configured)
        .filter(|((_, now), (_, then))| now != then)
        .map(|((name, _), _)| name)
        .collect();
    for map in [
        "NAT64_BIB6",
        "NAT64_BIB4",
        "NAT64_SESSIONS",
        "NAT64_HELD_SYNS",
        "NAT64_FRAGS",
        "NAT64_CONFIG",
        "NAT64_ICMP_BUCKET",
    ] {
        assert!(
            changed.iter().any(|c| c == map),
            "{map} unchanged: {changed:?}"
        );
    }
    h.reset();
    // The harness is as new: a row that needs a fresh binding table gets one.
    play(h, &table, "udp_from_a_new_source_gets_a_dynamic_binding");
}

fn mutated_frames(h: &mut Harness) {
    fuzz_loaded(h);
}

/// Every row's input frame, under either hook (the rows' frames do not differ by hook):
/// seeds for the loaded-program fuzz.
pub(crate) fn fixture_frames() -> Vec<Vec<u8>> {
    fixture_table(Hook::Xdp)
        .into_iter()
        .map(|(_, f)| f.frame)
        .collect()
}

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

/// Every drop reason is expected by some row of the table that XDP runs (every row runs
/// under XDP; TC refuses a few short frames, see `runnable`). Each row's test checks that
/// the counters it lists move, so a passing table proves each reason it names.
#[test]
fn every_drop_reason_has_a_row() {
    let table = fixture_table(Hook::Xdp);
    let proved = |c: &Counter| {
        table
            .iter()
            .any(|(_, f)| runnable(Hook::Xdp, &f.frame) && f.counters.contains(c))
    };
    let missing: Vec<&str> = Counter::ALL
        .iter()
        .filter(|c| {
            c.is_drop()
                && !UNREACHABLE_IN_FIXTURES.contains(c)
                && !Counter::USERSPACE.contains(c)
                && !proved(c)
        })
        .map(|c| c.name())
        .collect();
    assert!(
        missing.is_empty(),
        "drop reasons without a fixture row: {missing:?}"
    );
}

/// The rows each row names as coming before it exist, and no chain of them loops.
#[test]
fn every_row_named_before_a_row_exists() {
    for hook in [Hook::Xdp, Hook::Tc] {
        let table = fixture_table(hook);
        for (name, _) in &table {
            let mut chain = vec![*name];
            let mut todo = vec![(*name, 0usize)];
            while let Some((n, depth)) = todo.pop() {
                assert!(
                    depth < table.len(),
                    "{name}: its `after` rows loop ({chain:?})"
                );
                for earlier in find(&table, n).after {
                    chain.push(earlier);
                    todo.push((earlier, depth + 1));
                }
            }
        }
    }
}

// ---- Reusing a harness: every map put back as configured ----------------------------------

/// A map's entries as bytes, key → value (a per-CPU value: every CPU's, one after another).
type MapBytes = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

/// The `bpf_attr` of the map element commands (BPF_MAP_*_ELEM, BPF_MAP_GET_NEXT_KEY).
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// The value, or for BPF_MAP_GET_NEXT_KEY the next key.
    value: u64,
    flags: u64,
}
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;

/// One map element command on `fd`; a null `key` asks GET_NEXT_KEY for the first key.
fn try_map_elem(cmd: libc::c_long, fd: i32, key: *const u8, value: *mut u8) -> std::io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd as u32,
        _pad: 0,
        key: key as u64,
        value: value as u64,
        flags: 0, // BPF_ANY for updates
    };
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            &mut attr as *mut MapElemAttr,
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// How `reset` treats a map of the object.
enum MapRole {
    /// Put back entry by entry: entries added since are deleted, changed ones rewritten.
    Table {
        fd: i32,
        key_size: usize,
        value_len: usize,
        deletable: bool,
    },
    /// Drained (`Harness::events`, `Harness::slow_records`).
    Ring,
    /// A FIFO queue (the free port blocks): emptied and refilled in the configured order.
    Queue { fd: i32, value_len: usize },
}

/// Every map of the loaded object (the statistics map is taken out by `stats::take`: rows
/// compare its counters before and after). A kind of map the reset does not know fails
/// here, so no state can outlive a row unseen.
fn map_roles(ebpf: &aya::Ebpf) -> Vec<(String, MapRole)> {
    use aya::maps::Map;
    let cpus = aya::util::nr_cpus().unwrap();
    ebpf.maps()
        .map(|(name, map)| {
            let (data, per_cpu, deletable) = match map {
                Map::HashMap(d) | Map::LruHashMap(d) => (d, false, true),
                Map::Array(d) => (d, false, false),
                Map::PerCpuArray(d) => (d, true, false),
                Map::RingBuf(_) => return (name.to_string(), MapRole::Ring),
                Map::Queue(d) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(d.fd()));
                    let value_len = d.info().unwrap().value_size() as usize;
                    return (name.to_string(), MapRole::Queue { fd, value_len });
                }
                _ => panic!(
                    "map {name}: the harness reset does not know how to put this kind of map back"
                ),
            };
            let info = data.info().unwrap();
            let value_len = if per_cpu {
                (info.value_size() as usize).div_ceil(8) * 8 * cpus
            } else {
                info.value_size() as usize
            };
            let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(data.fd()));
            let role = MapRole::Table {
                fd,
                key_size: info.key_size() as usize,
                value_len,
                deletable,
            };
            (name.to_string(), role)
        })
        .collect()
}

/// The entries of a map, read through its file descriptor.
fn map_entries(fd: i32, key_size: usize, value_len: usize) -> MapBytes {
    let mut keys = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        let mut next = vec![0u8; key_size];
        let at = key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
        match try_map_elem(BPF_MAP_GET_NEXT_KEY, fd, at, next.as_mut_ptr()) {
            Ok(()) => {
                keys.push(next.clone());
                key = Some(next);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => panic!("BPF_MAP_GET_NEXT_KEY: {e}"),
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            let mut v = vec![0u8; value_len];
            // An entry deleted meanwhile (LRU eviction) is simply not there.
            try_map_elem(BPF_MAP_LOOKUP_ELEM, fd, k.as_ptr(), v.as_mut_ptr())
                .ok()
                .map(|()| (k, v))
        })
        .collect()
}

/// A queue's values, head first, taken out of it.
fn queue_drain(fd: i32, value_len: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut v = vec![0u8; value_len];
        match try_map_elem(
            BPF_MAP_LOOKUP_AND_DELETE_ELEM,
            fd,
            std::ptr::null(),
            v.as_mut_ptr(),
        ) {
            Ok(()) => out.push(v),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return out,
            Err(e) => panic!("queue pop: {e}"),
        }
    }
}

fn queue_fill(fd: i32, values: &[Vec<u8>]) {
    for v in values {
        try_map_elem(
            BPF_MAP_UPDATE_ELEM,
            fd,
            std::ptr::null(),
            v.as_ptr() as *mut u8,
        )
        .unwrap_or_else(|e| panic!("queue push: {e}"));
    }
}

/// A queue's values as a table (position → value), left in the queue as they were.
fn queue_image(fd: i32, value_len: usize) -> MapBytes {
    let values = queue_drain(fd, value_len);
    queue_fill(fd, &values);
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| ((i as u32).to_be_bytes().to_vec(), v))
        .collect()
}

/// Every table map's entries, by name.
fn map_images(ebpf: &aya::Ebpf) -> Vec<(String, MapBytes)> {
    map_roles(ebpf)
        .into_iter()
        .filter_map(|(name, role)| match role {
            MapRole::Table {
                fd,
                key_size,
                value_len,
                ..
            } => Some((name, map_entries(fd, key_size, value_len))),
            MapRole::Queue { fd, value_len } => Some((name, queue_image(fd, value_len))),
            MapRole::Ring => None,
        })
        .collect()
}

impl Harness {
    /// Puts the harness back as `new_sized` left it: every map as configured (bindings,
    /// sessions, held SYNs, fragment records, configuration, the rate limiter's buckets,
    /// the program's scratch space), the rings drained, nothing aged. Then reads every map
    /// again and checks it is what it was, byte for byte.
    fn reset(&mut self) {
        self.events();
        self.slow_records();
        self.aged.clear();
        for (name, role) in map_roles(&self.ebpf) {
            let configured = &self
                .configured
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c);
            let (fd, key_size, value_len, deletable) = match role {
                MapRole::Table {
                    fd,
                    key_size,
                    value_len,
                    deletable,
                } => (fd, key_size, value_len, deletable),
                MapRole::Queue { fd, value_len } => {
                    queue_drain(fd, value_len);
                    if let Some(c) = configured {
                        queue_fill(fd, &c.values().cloned().collect::<Vec<_>>());
                    }
                    continue;
                }
                MapRole::Ring => continue,
            };
            let configured = configured
                .unwrap_or_else(|| panic!("map {name} appeared after the harness was configured"));
            let now = map_entries(fd, key_size, value_len);
            for key in now.keys().filter(|k| !configured.contains_key(*k)) {
                assert!(
                    deletable,
                    "map {name}: an entry that cannot be deleted appeared"
                );
                try_map_elem(BPF_MAP_DELETE_ELEM, fd, key.as_ptr(), std::ptr::null_mut())
                    .unwrap_or_else(|e| panic!("map {name}: delete: {e}"));
            }
            for (key, value) in configured {
                if now.get(key) != Some(value) {
                    try_map_elem(
                        BPF_MAP_UPDATE_ELEM,
                        fd,
                        key.as_ptr(),
                        value.as_ptr() as *mut u8,
                    )
                    .unwrap_or_else(|e| panic!("map {name}: update: {e}"));
                }
            }
        }
        assert!(
            map_images(&self.ebpf) == self.configured,
            "the reset left some map other than as configured"
        );
        assert!(self.events().is_empty() && self.slow_records().is_empty());
    }
}

/// Harnesses whose rows have finished, for the next row test of the same hook and table
/// sizes: loading the object takes the kernel about a second (and loading one per row,
/// hundreds in a few minutes, runs the kernel out of room for the programs: EAGAIN).
static IDLE_HARNESSES: std::sync::Mutex<Vec<Harness>> = std::sync::Mutex::new(Vec::new());

/// A harness for one row test, reset; back to the idle ones when the test passes (one
/// whose test failed is dropped with whatever it holds).
struct Pooled(Option<Harness>);

impl Pooled {
    fn take(hook: Hook, sizes: TableSizes) -> Option<Pooled> {
        let key = (sizes.bib, sizes.sessions);
        let idle = {
            let mut idle = IDLE_HARNESSES.lock().unwrap_or_else(|e| e.into_inner());
            let at = idle.iter().position(|h| h.hook == hook && h.sizes == key);
            at.map(|i| idle.swap_remove(i))
        };
        let h = match idle {
            Some(mut h) => {
                enter(&h.netns);
                h.reset();
                h
            }
            None => {
                let n = HARNESSES_MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Harness::new_sized(&format!("rows{n}"), hook, sizes)?
            }
        };
        Some(Pooled(Some(h)))
    }
}

static HARNESSES_MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl std::ops::Deref for Pooled {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        self.0.as_ref().unwrap()
    }
}
impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Harness {
        self.0.as_mut().unwrap()
    }
}
impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            if !std::thread::panicking() {
                IDLE_HARNESSES
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(h);
            }
        }
    }
}

// ---- Builders: each address once ---------------------------------------------------------

const ETH_HLEN: usize = 14;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
/// Offsets inside the UDP and TCP headers.
const UDP_CHECKSUM_AT: usize = 6;
const TCP_DPORT_AT: usize = 2;
const TCP_DATA_OFFSET_AT: usize = 12;
const PROTO_SCTP: u8 = 132;

/// Payloads of the groups of rows (each group's rows quote and compare their own).
const P: &[u8] = b"fixture payload";
const QUOTED: &[u8] = b"quoted payload";
const ORIGINATED: &[u8] = b"originated";
const SESSION: &[u8] = b"session";

/// Server4's neighbours behind the 1300-byte and 1000-byte routes, and under pool6.
const FAR4: &str = "198.51.100.77";
const FAR6: &str = "64:ff9b::c633:644d";
const FAR4_SMALL: &str = "198.51.100.78";
const FAR6_SMALL: &str = "64:ff9b::c633:644e";
/// An IPv4 host client6 never sent to, and under pool6.
const OTHER4: &str = "198.51.100.9";
const OTHER4_IN_POOL6: &str = "64:ff9b::c633:6409";
/// Pool4's address under pool6 (hairpinning), and the second client that serves on it.
const POOL4_IN_POOL6: &str = "64:ff9b::cb00:7101";
const PEER6: &str = "2001:db8:6::3";
/// A client behind a 1300-byte link.
const CLIENT6_FAR: &str = "2001:db8:8::5";
/// A router on client6's link with no IPv4 form (RFC 6791 rows).
const ROUTER6: &str = "2001:db8:6::99";

/// An IPv6 UDP packet.
fn udp6_packet(src: &str, dst: &str, hop: u8, sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    ip6(src, dst, PROTO_UDP, hop, &udp6(src, dst, sport, dport, p))
}
/// An IPv4 UDP packet.
fn udp4_packet(src: &str, dst: &str, ttl: u8, sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    ip4(src, dst, PROTO_UDP, ttl, &udp4(src, dst, sport, dport, p))
}
/// An IPv6 TCP SYN carrying `p`.
fn tcp6_packet(src: &str, dst: &str, hop: u8, sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    ip6(src, dst, PROTO_TCP, hop, &tcp6(src, dst, sport, dport, p))
}
/// An IPv4 TCP SYN carrying `p`.
fn tcp4_packet(src: &str, dst: &str, ttl: u8, sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    ip4(src, dst, PROTO_TCP, ttl, &tcp4(src, dst, sport, dport, p))
}
/// An IPv6 TCP segment without payload, with `flags`.
fn tcp6_bare(src: &str, dst: &str, hop: u8, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    ip6(
        src,
        dst,
        PROTO_TCP,
        hop,
        &tcp6_flags(src, dst, sport, dport, flags),
    )
}
/// An IPv4 TCP segment without payload, with `flags`.
fn tcp4_bare(src: &str, dst: &str, ttl: u8, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    ip4(
        src,
        dst,
        PROTO_TCP,
        ttl,
        &tcp4_flags(src, dst, sport, dport, flags),
    )
}
/// An ICMPv6 echo message (`ty` 128 request, 129 reply).
fn echo6_packet(src: &str, dst: &str, hop: u8, ty: u8, id: u16, seq: u16, p: &[u8]) -> Vec<u8> {
    icmp6_packet(src, dst, hop, ty, 0, echo_rest(id, seq), p)
}
/// An ICMPv4 echo message (`ty` 8 request, 0 reply).
fn echo4_packet(src: &str, dst: &str, ttl: u8, ty: u8, id: u16, seq: u16, p: &[u8]) -> Vec<u8> {
    ip4(
        src,
        dst,
        PROTO_ICMP,
        ttl,
        &icmp4(ty, 0, echo_rest(id, seq), p),
    )
}
/// An ICMPv6 message.
fn icmp6_packet(
    src: &str,
    dst: &str,
    hop: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    ip6(
        src,
        dst,
        PROTO_ICMPV6,
        hop,
        &icmp6(v6(src), v6(dst), ty, code, rest, body),
    )
}

/// UDP from client6 to server4 under pool6, as it arrives.
fn udp_from_client(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    from_client6(udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, sport, dport, p))
}
/// UDP from pool4 to server4, as the gateway sends it.
fn udp_to_server(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    to_server4(udp4_packet(POOL4, SERVER4, 63, sport, dport, p))
}
/// UDP from server4 to pool4, as it arrives.
fn udp_from_server(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    udp_from_v4(SERVER4, sport, dport, p)
}
/// UDP from the IPv4 host `src` to pool4, as it arrives.
fn udp_from_v4(src: &str, sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    from_server4(udp4_packet(src, POOL4, 64, sport, dport, p))
}
/// UDP from server4 under pool6 to client6, as the gateway sends it.
fn udp_to_client(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    to_client6(udp6_packet(SERVER4_IN_POOL6, CLIENT6, 63, sport, dport, p))
}
/// UDP from client6 to server4 under pool6 with extension headers, as it arrives.
fn udp_from_client_with_ext(exts: &[(u8, Vec<u8>)], sport: u16, dport: u16) -> Vec<u8> {
    from_client6(ip6_with_ext(
        CLIENT6,
        SERVER4_IN_POOL6,
        exts,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, sport, dport, P),
    ))
}
/// UDP from server4 to pool4 with IPv4 options, as it arrives.
fn udp_from_server_with_options(opts: &[u8], sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    from_server4(ipv4_with_options(
        SERVER4,
        POOL4,
        PROTO_UDP,
        64,
        opts,
        &udp4(SERVER4, POOL4, sport, dport, p),
    ))
}
/// UDP from server4 to pool4 with checksum 0 (none), as it arrives.
fn udp_from_server_without_checksum(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    let mut l4 = udp4(SERVER4, POOL4, sport, dport, p);
    l4[UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2].copy_from_slice(&[0, 0]);
    from_server4(ip4(SERVER4, POOL4, PROTO_UDP, 64, &l4))
}
fn tcp_from_client(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    from_client6(tcp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, sport, dport, p))
}
fn tcp_to_server(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    to_server4(tcp4_packet(POOL4, SERVER4, 63, sport, dport, p))
}
fn tcp_from_server(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    from_server4(tcp4_packet(SERVER4, POOL4, 64, sport, dport, p))
}
fn tcp_to_client(sport: u16, dport: u16, p: &[u8]) -> Vec<u8> {
    to_client6(tcp6_packet(SERVER4_IN_POOL6, CLIENT6, 63, sport, dport, p))
}
/// A bare TCP segment with `flags` from client6 to server4 under pool6, as it arrives.
fn segment_from_client(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    from_client6(tcp6_bare(
        CLIENT6,
        SERVER4_IN_POOL6,
        64,
        sport,
        dport,
        flags,
    ))
}
fn segment_to_server(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    to_server4(tcp4_bare(POOL4, SERVER4, 63, sport, dport, flags))
}
fn segment_from_server(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    from_server4(tcp4_bare(SERVER4, POOL4, 64, sport, dport, flags))
}
fn segment_to_client(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    to_client6(tcp6_bare(
        SERVER4_IN_POOL6,
        CLIENT6,
        63,
        sport,
        dport,
        flags,
    ))
}

/// `frame` with the byte at `at` replaced.
fn with_byte(mut frame: Vec<u8>, at: usize, byte: u8) -> Vec<u8> {
    frame[at] = byte;
    frame
}
/// `frame` with the 16-bit field at `at` moved by `delta` (a checksum made wrong).
fn skewed(mut frame: Vec<u8>, at: usize, delta: u16) -> Vec<u8> {
    skew_u16(&mut frame, at, delta);
    frame
}
/// An IPv4 packet with DF set (and its header checksum redone).
fn with_df(mut ip4: Vec<u8>) -> Vec<u8> {
    set_df(&mut ip4);
    ip4
}

/// The gateway's Time Exceeded, Packet Too Big or Unreachable back to client6 about
/// `packet`, which client6 sent.
fn answered6(
    what: &'static str,
    packet: Vec<u8>,
    error: (u8, u8, [u8; 4]),
    counters: &[Counter],
) -> Fixture {
    let (ty, code, rest) = error;
    Fixture {
        what,
        frame: from_client6(packet.clone()),
        action: Verdict::Tx,
        output: Some(originated6(CLIENT6, ty, code, rest, &packet)),
        counters: counters.to_vec(),
        ..ROW
    }
}
/// The same back to server4 about `packet`, which server4 sent.
fn answered4(
    what: &'static str,
    packet: Vec<u8>,
    error: (u8, u8, [u8; 4]),
    counters: &[Counter],
) -> Fixture {
    let (ty, code, rest) = error;
    Fixture {
        what,
        frame: from_server4(packet.clone()),
        action: Verdict::Tx,
        output: Some(originated4(SERVER4, ty, code, rest, &packet)),
        counters: counters.to_vec(),
        ..ROW
    }
}

/// An ICMPv6 error from client6 about a packet server4 sent, translated: (type, code,
/// bytes 4-7) in and out.
fn error_64(what: &'static str, error6: (u8, u8, [u8; 4]), error4: (u8, u8, [u8; 4])) -> Fixture {
    let ((t6, c6, r6), (t4, c4, r4)) = (error6, error4);
    redirected(
        what,
        error6_from(CLIENT6, t6, c6, r6, &quoted_from_server(QUOTED)),
        error4_to_server(t4, c4, r4, &quoted_from_server_v4(QUOTED)),
        ERROR64,
    )
}
/// An ICMPv4 error from server4 about a packet client6 sent, translated.
fn error_46(what: &'static str, error4: (u8, u8, [u8; 4]), error6: (u8, u8, [u8; 4])) -> Fixture {
    let ((t4, c4, r4), (t6, c6, r6)) = (error4, error6);
    redirected(
        what,
        error4_from_server(t4, c4, r4, &quoted_from_client_v4(QUOTED)),
        error6_to_client(t6, c6, r6, &quoted_from_client(QUOTED)),
        ERROR46,
    )
}

/// RFC 6146 §3.8: the peer (static udp POOL4#6004 ↔ PEER6#9000) got a packet hairpinned
/// from client6 (POOL4#6000 ↔ CLIENT6#5000) and answers it with an error: it reaches
/// client6 through both bindings, from pool6 + the peer's pool4 address, quoting the packet
/// as client6 sent it.
fn hairpinned_error(what: &'static str, error: (u8, u8, [u8; 4]), rest_out: [u8; 4]) -> Fixture {
    let (ty, code, rest) = error;
    let got = udp6_packet(POOL4_IN_POOL6, PEER6, 63, 6000, 9000, QUOTED);
    let sent = udp6_packet(CLIENT6, POOL4_IN_POOL6, 63, 5000, 6004, QUOTED);
    redirected(
        what,
        from_client6(icmp6_packet(
            PEER6,
            POOL4_IN_POOL6,
            64,
            ty,
            code,
            rest,
            &got,
        )),
        to_client6(icmp6_packet(
            POOL4_IN_POOL6,
            CLIENT6,
            63,
            ty,
            code,
            rest_out,
            &sent,
        )),
        &[
            RxIpv6,
            Rx6to4Icmp,
            XlatHairpinIcmpError,
            FwdRedirect,
            VerdictRedirect,
        ],
    )
}

/// An ICMPv6 error from the router, translated from the IPv4 source `src4`.
fn error_from_router_translated(src4: Ipv4Addr) -> Vec<u8> {
    to_server4(ipv4(
        src4,
        v4(SERVER4),
        PROTO_ICMP,
        63,
        0,
        0,
        0,
        &icmp4(11, 0, [0; 4], &quoted_from_server_v4(ORIGINATED)),
    ))
}
const ROUTER_ERROR64: &[Counter] = &[
    RxIpv6,
    Rx6to4Icmp,
    IcmpRfc6791Source,
    Xlat6to4IcmpError,
    FwdRedirect,
    VerdictRedirect,
];

/// The slow-path rows' datagram: 20 + 8 + 1300 = 1328 bytes of IPv4, 1348 once
/// translated: over lowest-ipv6-mtu (1280), under the 1500-byte link.
fn slow_payload() -> Vec<u8> {
    (0..1300u32).map(|i| (i * 13 + 1) as u8).collect()
}
fn slow_big4(flags: u16) -> Vec<u8> {
    ipv4(
        v4(SERVER4),
        v4(POOL4),
        PROTO_UDP,
        64,
        0,
        0x4242,
        flags,
        &udp4(SERVER4, POOL4, 53, 6000, &slow_payload()),
    )
}
fn slow_big6() -> Vec<u8> {
    udp6_packet(SERVER4_IN_POOL6, CLIENT6, 63, 53, 5000, &slow_payload())
}
/// A SYN from server4 to a pool4 port with no binding.
fn unsolicited_syn() -> Vec<u8> {
    tcp_from_server(80, 6999, b"")
}
/// Port blocks: two /64 subscribers of 2001:db8:6::/63; the default table has three entries, so TCP's
/// blocks (indices 0 and 1) exist for both, UDP's (2, 3) for the first alone.
fn two_subscribers(h: &mut Harness) {
    h.port_blocks("2001:db8:6::", 63, 64, &[(0, 6240), (1, 6250), (2, 6140)]);
}
fn slow_path_on(h: &mut Harness) {
    h.set_flag(CONFIG_F_SLOW_PATH, true);
}
fn slow_path_off(h: &mut Harness) {
    h.set_flag(CONFIG_F_SLOW_PATH, false);
}
fn nothing_queued(h: &mut Harness) {
    assert_eq!(
        h.slow_records().len(),
        0,
        "nothing queued for the slow path"
    );
}
fn adf_on(h: &mut Harness) {
    h.set_flag(CONFIG_F_ADDRESS_DEPENDENT_FILTERING, true);
}

/// The fragment rows' datagram: cut into three fragments at 8-byte boundaries (24 and 40
/// bytes), the first fragment opens the session and carries the translated UDP header, the
/// later ones follow it.
fn frag_payload() -> Vec<u8> {
    (0..60u8).collect()
}
const FRAG_CUTS: [usize; 4] = [0, 24, 40, 68];
const FRAG_ID6: u32 = 0x1234_5678;
const FRAG_ID4: u16 = 0xbeef;

/// Fragment `i` (0, 1, 2) of the UDP datagram from client6, translated.
fn udp_fragment_64(i: usize) -> Fixture {
    let whole6 = udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &frag_payload());
    let whole4 = udp4(POOL4, SERVER4, 6000, 53, &frag_payload());
    assert_eq!(whole6.len(), 68);
    let (a, b) = (FRAG_CUTS[i], FRAG_CUTS[i + 1]);
    let more = i < 2;
    let offset = (a / 8) as u16;
    let mut counters = vec![
        RxIpv6,
        Rx6to4Udp,
        Xlat6to4Udp,
        Frag6to4,
        FwdRedirect,
        VerdictRedirect,
    ];
    if i == 0 {
        counters.push(SessionCreated);
    }
    Fixture {
        frame: from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_UDP, offset, more, FRAG_ID6),
            &whole6[a..b],
        )),
        action: Verdict::Redirect,
        // ID: the low 16 bits; MF and offset carried over; DF 0.
        output: Some(to_server4(frag4(
            POOL4,
            SERVER4,
            PROTO_UDP,
            63,
            FRAG_ID6 as u16,
            if more { MF } else { 0 } | offset,
            &whole4[a..b],
        ))),
        counters,
        ..ROW
    }
}
/// Fragment `i` of the UDP datagram from server4, translated: a Fragment header with ID
/// 0x0000beef, offset and M carried over.
fn udp_fragment_46(i: usize) -> Fixture {
    let whole4 = udp4(SERVER4, POOL4, 53, 6000, &frag_payload());
    let whole6 = udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, &frag_payload());
    let (a, b) = (FRAG_CUTS[i], FRAG_CUTS[i + 1]);
    let more = i < 2;
    let offset = (a / 8) as u16;
    let mut counters = vec![
        RxIpv4,
        Rx4to6Udp,
        Xlat4to6Udp,
        Frag4to6,
        FwdRedirect,
        VerdictRedirect,
    ];
    if i == 0 {
        counters.push(SessionCreated);
    }
    Fixture {
        frame: from_server4(frag4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            FRAG_ID4,
            if more { MF } else { 0 } | offset,
            &whole4[a..b],
        )),
        action: Verdict::Redirect,
        output: Some(to_client6(frag6(
            SERVER4_IN_POOL6,
            CLIENT6,
            63,
            frag_hdr(PROTO_UDP, offset, more, u32::from(FRAG_ID4)),
            &whole6[a..b],
        ))),
        counters,
        ..ROW
    }
}
/// An IPv4 fragment of the datagram from server4 (`data` from the whole UDP datagram).
fn fragment_from_server(proto: u8, id: u16, flags_offset: u16, data: &[u8]) -> Vec<u8> {
    from_server4(frag4(SERVER4, POOL4, proto, 64, id, flags_offset, data))
}
/// An IPv6 fragment from client6 to server4 under pool6.
fn fragment_from_client(fh: Vec<u8>, data: &[u8]) -> Vec<u8> {
    from_client6(frag6(CLIENT6, SERVER4_IN_POOL6, 64, fh, data))
}

/// Ages the one session a row opened by 10 s (`Harness::aged` keeps it as aged).
fn age_the_session(h: &mut Harness) {
    let aged = h.age_sessions(10_000_000_000);
    assert_eq!(aged.len(), 1, "one session: {aged:?}");
}
/// The sessions are as `age_the_session` left them: an ICMP error neither refreshes nor
/// ends the session of the flow it quotes.
fn session_as_aged(h: &mut Harness) {
    let entry = |v: &[(SessionKey, SessionEntry)]| -> Vec<(SessionKey, u64, u8, u8)> {
        v.iter()
            .map(|(k, e)| (*k, e.last_seen_ns, e.tcp_state, e.flags))
            .collect()
    };
    assert_eq!(
        entry(&h.sessions()),
        entry(&h.aged),
        "the ICMP error changed the session of the flow it quotes"
    );
}
fn one_session(h: &mut Harness) {
    assert_eq!(h.sessions().len(), 1, "one session");
}
fn no_session(h: &mut Harness) {
    assert!(h.sessions().is_empty(), "no session opened");
}

/// The session the session rows open: static TCP POOL4#6001 ↔ server4:80.
fn tcp_session_state(h: &mut Harness) -> Vec<(SessionKey, u8, u8)> {
    h.sessions()
        .into_iter()
        .map(|(k, e)| (k, e.tcp_state, e.flags))
        .collect()
}
const TCP_SESSION_KEY: SessionKey = SessionKey {
    addr4: [203, 0, 113, 1],
    remote4: [192, 0, 2, 2],
    port4: 6001,
    remote_port: 80,
    proto: PROTO_TCP,
    kind: SESSION_KIND_FLOW,
    _pad: [0; 2],
};
/// The fragment rows' UDP datagram from server4 with checksum 0 (none).
fn udp4_zero_checksum(p: &[u8]) -> Vec<u8> {
    let mut l4 = udp4(SERVER4, POOL4, 53, 6000, p);
    l4[UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2].copy_from_slice(&[0, 0]);
    l4
}

// ---- The fixture table ------------------------------------------------------------------

fixtures! { hook;

// ---- Translation, IPv6 → IPv4 ---------------------------------------------------------
udp_6to4_redirect => redirected(
    "udp 6to4 redirect",
    udp_from_client(5000, 53, P),
    udp_to_server(6000, 53, P),
    UDP64_NEW_SESSION,
);
tcp_6to4_redirect => redirected(
    "tcp 6to4 redirect",
    tcp_from_client(5001, 80, P),
    tcp_to_server(6001, 80, P),
    TCP64_NEW_SESSION,
);
icmpv6_echo_request_to_icmpv4_echo_request => redirected(
    "icmpv6 echo request → icmpv4 echo request",
    from_client6(echo6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 128, 1234, 9, P)),
    to_server4(echo4_packet(POOL4, SERVER4, 63, 8, 7000, 9, P)),
    ICMP64_NEW_SESSION,
);
// A wrong checksum stays wrong by the same amount: never "fixed".
udp_6to4_wrong_checksum_stays_wrong => redirected(
    "udp 6to4 wrong checksum stays wrong",
    skewed(udp_from_client(5000, 53, P), ETH_HLEN + IPV6_HLEN + UDP_CHECKSUM_AT, 0x1234),
    skewed(udp_to_server(6000, 53, P), ETH_HLEN + IPV4_HLEN + UDP_CHECKSUM_AT, 0x1234),
    UDP64_NEW_SESSION,
);
// DF is set only when the IPv4 packet exceeds 1260 bytes (RFC 7915 §5.1).
udp_6to4_1328_byte_packet_gets_df => redirected(
    "udp 6to4 1328-byte packet gets DF",
    udp_from_client(5000, 53, &[0xab; 1300]),
    to_server4(with_df(udp4_packet(POOL4, SERVER4, 63, 6000, 53, &[0xab; 1300]))),
    UDP64_NEW_SESSION,
);
traffic_class_6to4_to_tos => redirected(
    "6to4 traffic class → TOS",
    from_client6(ipv6(
        v6(CLIENT6),
        v6(SERVER4_IN_POOL6),
        PROTO_UDP,
        64,
        0xb8,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, P),
    )),
    to_server4(ipv4(
        v4(POOL4),
        v4(SERVER4),
        PROTO_UDP,
        63,
        0xb8,
        0,
        0,
        &udp4(POOL4, SERVER4, 6000, 53, P),
    )),
    UDP64_NEW_SESSION,
);
hop_by_hop_options_skipped => redirected(
    "hop-by-hop options skipped",
    udp_from_client_with_ext(&[(0, PADN6.to_vec())], 5000, 53),
    udp_to_server(6000, 53, P),
    UDP64_NEW_SESSION,
);
destination_options_and_routing_segments_left_0_skipped => redirected(
    "destination options + routing (segments left 0) skipped",
    udp_from_client_with_ext(&[(60, PADN6.to_vec()), (43, vec![0, 0, 0, 0, 0, 0])], 5000, 53),
    udp_to_server(6000, 53, P),
    UDP64_NEW_SESSION,
);
// No neighbour for the next hop. XDP: the kernel forwards, and decrements, itself. TC: the
// kernel's neighbour layer takes the packet (we forward, we decrement; it writes the MACs
// once resolved).
udp_6to4_next_hop_unresolved => {
    let tc = hook == Hook::Tc;
    let (dst4, dst6) = ("198.51.100.7", "64:ff9b::c633:6407");
    Fixture {
        what: if tc {
            "udp 6to4 next hop unresolved → neighbour layer, TTL decremented"
        } else {
            "udp 6to4 next hop unresolved → pass, TTL kept"
        },
        frame: from_client6(udp6_packet(CLIENT6, dst6, 64, 5000, 53, P)),
        action: if tc { Verdict::Redirect } else { Verdict::Pass },
        output: Some(with_macs(
            ethernet(0x0800, &udp4_packet(POOL4, dst4, if tc { 63 } else { 64 }, 6000, 53, P)),
            MAC6_SELF,
            MAC6_NEXT,
        )),
        counters: vec![
            RxIpv6,
            Rx6to4Udp,
            Xlat6to4Udp,
            SessionCreated,
            if tc { FwdRedirectNeighbour } else { FwdPassNoNeighbour },
            if tc { VerdictRedirect } else { VerdictPass },
        ],
        ..ROW
    }
};

// ---- Translation, IPv4 → IPv6 ---------------------------------------------------------
udp_4to6_redirect => redirected(
    "udp 4to6 redirect",
    udp_from_server(53, 6000, P),
    udp_to_client(53, 5000, P),
    UDP46_NEW_SESSION,
);
udp_4to6_zero_checksum_computed => redirected(
    "udp 4to6 zero checksum computed",
    udp_from_server_without_checksum(53, 6000, P),
    udp_to_client(53, 5000, P),
    &[UDP46_NEW_SESSION, &[UdpZeroChecksumComputed]].concat(),
);
tcp_4to6_redirect => redirected(
    "tcp 4to6 redirect",
    tcp_from_server(80, 6001, P),
    tcp_to_client(80, 5001, P),
    TCP46_NEW_SESSION,
);
// An echo reply may only follow its request: no session, no translation.
icmpv4_echo_reply_without_a_session => dropped(
    "icmpv4 echo reply without a session",
    from_server4(echo4_packet(SERVER4, POOL4, 64, 0, 7000, 9, P)),
    &[RxIpv4, Rx4to6Icmp],
    DropNoSession,
);
icmpv4_echo_reply_to_icmpv6_echo_reply => Fixture {
    after: &["icmpv6_echo_request_to_icmpv4_echo_request"],
    keep_sessions: true,
    ..redirected(
        "icmpv4 echo reply → icmpv6 echo reply",
        from_server4(echo4_packet(SERVER4, POOL4, 64, 0, 7000, 9, P)),
        to_client6(echo6_packet(SERVER4_IN_POOL6, CLIENT6, 63, 129, 1234, 9, P)),
        &[RxIpv4, Rx4to6Icmp, Xlat4to6Icmp, FwdRedirect, VerdictRedirect],
    )
};
ipv4_options_nop_eol_are_not_translated => redirected(
    "ipv4 options (NOP, EOL) are not translated",
    udp_from_server_with_options(&[1, 1, 1, 0], 53, 6000, P),
    udp_to_client(53, 5000, P),
    UDP46_NEW_SESSION,
);
// No neighbour for the IPv6 next hop: as in 6→4 (XDP passes, TC redirects to the neighbour
// layer).
udp_4to6_next_hop_unresolved => {
    let tc = hook == Hook::Tc;
    let client = "2001:db8:7::5";
    Fixture {
        what: if tc {
            "udp 4to6 next hop unresolved → neighbour layer, hop limit decremented"
        } else {
            "udp 4to6 next hop unresolved → pass, hop limit kept"
        },
        frame: udp_from_server(53, 6002, P),
        action: if tc { Verdict::Redirect } else { Verdict::Pass },
        output: Some(with_macs(
            ethernet(
                0x86dd,
                &udp6_packet(SERVER4_IN_POOL6, client, if tc { 63 } else { 64 }, 53, 5002, P),
            ),
            MAC4_SELF,
            MAC4_NEXT,
        )),
        counters: vec![
            RxIpv4,
            Rx4to6Udp,
            Xlat4to6Udp,
            SessionCreated,
            if tc { FwdRedirectNeighbour } else { FwdPassNoNeighbour },
            if tc { VerdictRedirect } else { VerdictPass },
        ],
        ..ROW
    }
};

// ---- Dynamic bindings (the dynamic range here is the single port 6100) -----------------
udp_from_a_new_source_gets_a_dynamic_binding => redirected(
    "udp from a new source gets a dynamic binding",
    udp_from_client(7000, 53, P),
    udp_to_server(6100, 53, P),
    &[UDP64_NEW_SESSION, &[BibCreated]].concat(),
);
// Endpoint-independent mapping: another destination, the same pool4 port.
same_source_to_another_destination_reuses_its_binding => Fixture {
    after: &["udp_from_a_new_source_gets_a_dynamic_binding"],
    ..redirected(
        "same source to another destination reuses its binding",
        from_client6(udp6_packet(CLIENT6, FAR6, 64, 7000, 53, P)),
        to_server4(udp4_packet(POOL4, FAR4, 63, 6100, 53, P)),
        UDP64_NEW_SESSION,
    )
};
reply_to_the_dynamic_binding_reaches_the_client => Fixture {
    after: &["udp_from_a_new_source_gets_a_dynamic_binding"],
    ..redirected(
        "reply to the dynamic binding reaches the client",
        udp_from_server(53, 6100, P),
        udp_to_client(53, 7000, P),
        UDP46_NEW_SESSION,
    )
};
// Endpoint-independent filtering, the default: a host the client never sent to reaches its
// dynamic binding as well (RFC 6146 §3.5.1, RFC 4787 REQ-8).
eif_a_host_the_client_never_contacted_reaches_its_dynamic_binding => Fixture {
    after: &["udp_from_a_new_source_gets_a_dynamic_binding"],
    ..redirected(
        "eif: a host the client never contacted reaches its dynamic binding",
        udp_from_v4(OTHER4, 4444, 6100, P),
        to_client6(udp6_packet(OTHER4_IN_POOL6, CLIENT6, 63, 4444, 7000, P)),
        UDP46_NEW_SESSION,
    )
};
tcp_from_a_new_source_gets_a_port_from_tcps_own_range => redirected(
    "tcp from a new source gets a port from tcp's own range",
    segment_from_client(7000, 80, nat64_common::tcp::SYN),
    segment_to_server(6200, 80, nat64_common::tcp::SYN),
    &[TCP64_NEW_SESSION, &[BibCreated]].concat(),
);
// Endpoint-independent mapping holds for TCP too (RFC 5382 REQ-1): the same source to
// another destination leaves from the same pool4 port.
tcp_same_source_to_another_destination_reuses_its_binding => Fixture {
    after: &["tcp_from_a_new_source_gets_a_port_from_tcps_own_range"],
    ..redirected(
        "tcp: same source to another destination reuses its binding",
        from_client6(tcp6_bare(CLIENT6, FAR6, 64, 7000, 80, nat64_common::tcp::SYN)),
        to_server4(tcp4_bare(POOL4, FAR4, 63, 6200, 80, nat64_common::tcp::SYN)),
        TCP64_NEW_SESSION,
    )
};
// Every candidate is the one taken port: refused, counted, nothing evicted.
a_second_new_source_finds_the_pool_exhausted => Fixture {
    after: &["udp_from_a_new_source_gets_a_dynamic_binding"],
    counters: [
        &[RxIpv6, Rx6to4Udp, DropPool4Exhausted, IcmpSentAddressUnreachable6, VerdictTx][..],
        &[PortAllocRetries; nat64_common::port::MAX_PROBES as usize],
    ]
    .concat(),
    ..answered6(
        "a second new source finds the pool exhausted → admin prohibited",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7001, 53, P),
        (1, 3, [0; 4]),
        &[],
    )
};
the_established_binding_still_works_after_exhaustion => Fixture {
    after: &["a_second_new_source_finds_the_pool_exhausted"],
    ..redirected(
        "the established binding still works after exhaustion",
        udp_from_client(7000, 53, P),
        udp_to_server(6100, 53, P),
        UDP64_NEW_SESSION,
    )
};
// No pool4 address lends ICMP identifiers (as if every `--pool4` group had `--proto
// tcp,udp`): a new ping is refused under its own reason, not as if it were an echo reply
// without a binding.
a_new_ping_when_no_pool4_address_serves_icmp => Fixture {
    setup: |h| h.update_config(|c| c.pool4_slots[2] = 0),
    ..answered6(
        "a new ping when no pool4 address serves icmp → admin prohibited",
        echo6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 128, 4321, 1, P),
        (1, 3, [0; 4]),
        &[RxIpv6, Rx6to4Icmp, DropPool4Empty, IcmpSentAddressUnreachable6, VerdictTx],
    )
};
// Hairpinning: client6 addresses the second client's public transport address; it comes
// back as IPv6 from client6's own public transport address under pool6.
hairpin_client_to_another_clients_pool4_address => redirected(
    "hairpin: client to another client's pool4 address",
    from_client6(udp6_packet(CLIENT6, POOL4_IN_POOL6, 64, 5000, 6004, P)),
    to_client6(udp6_packet(POOL4_IN_POOL6, PEER6, 63, 6000, 9000, P)),
    &[RxIpv6, Rx6to4Udp, XlatHairpin, SessionCreated, SessionCreated, FwdRedirect, VerdictRedirect],
);
// TCP takes the same path (RFC 5382 REQ-7): client6's dynamic TCP binding (7000 → 6200)
// opens a connection to its own static service on pool4 port 6001.
tcp_hairpin_a_clients_syn_to_a_pool4_service_of_its_own => Fixture {
    after: &["tcp_from_a_new_source_gets_a_port_from_tcps_own_range"],
    ..redirected(
        "tcp hairpin: a client's SYN to a pool4 service of its own",
        from_client6(tcp6_bare(CLIENT6, POOL4_IN_POOL6, 64, 7000, 6001, nat64_common::tcp::SYN)),
        to_client6(tcp6_bare(POOL4_IN_POOL6, CLIENT6, 63, 6200, 5001, nat64_common::tcp::SYN)),
        &[RxIpv6, Rx6to4Tcp, XlatHairpin, SessionCreated, SessionCreated, FwdRedirect, VerdictRedirect],
    )
};

// ---- Not ours ---------------------------------------------------------------------------
ipv6_not_to_pool6_passes_untouched => untouched(
    "ipv6 not to pool6 passes untouched",
    from_client6(udp6_packet(CLIENT6, GATEWAY6, 64, 5000, 53, P)),
    &[RxIpv6, PassNotOurs6, VerdictPass],
);
ipv4_not_to_pool4_passes_untouched => untouched(
    "ipv4 not to pool4 passes untouched",
    from_server4(udp4_packet(SERVER4, GATEWAY4, 64, 53, 6000, P)),
    &[RxIpv4, PassNotOurs4, VerdictPass],
);
arp_passes_untouched => untouched(
    "arp passes untouched",
    ethernet(0x0806, &[0u8; 28]),
    &[RxOther, VerdictPass],
);

// ---- Drops: each reason its own counter -------------------------------------------------
tcp_without_syn_from_a_source_with_no_binding => dropped(
    "tcp without SYN from a source with no binding",
    from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_TCP,
        64,
        &tcp(5999, 80, 1, 0x10, P, &pseudo_v6(v6(CLIENT6), v6(SERVER4_IN_POOL6), PROTO_TCP, 20 + P.len())),
    )),
    &[RxIpv6, Rx6to4Tcp],
    DropNoBib6,
);
no_binding_for_the_pool4_port => dropped(
    "no binding for the pool4 port",
    udp_from_server(53, 6999, P),
    &[RxIpv4, Rx4to6Udp],
    DropNoBib4,
);
truncated_ipv6_header => dropped(
    "truncated ipv6 header",
    from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_UDP, 64, &[])[..30].to_vec()),
    &[RxIpv6],
    DropTruncatedIpv6,
);
ipv6_payload_length_beyond_the_frame => dropped(
    "ipv6 payload length beyond the frame",
    {
        let mut f = udp_from_client(5000, 53, P);
        f[ETH_HLEN + 5] += 8;
        f
    },
    &[RxIpv6],
    DropBadLength,
);
truncated_udp_header => dropped(
    "truncated udp header",
    from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_UDP, 64, &[0, 1, 0, 2])),
    &[RxIpv6, Rx6to4Udp],
    DropTruncatedL4,
);
truncated_tcp_header => dropped(
    "truncated tcp header",
    from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_TCP, 64, &[0u8; 12])),
    &[RxIpv6, Rx6to4Tcp],
    DropTruncatedL4,
);
// The same check (xlat::check_transport) in both directions: 24 bytes of header in a
// 20-byte segment.
tcp_6to4_data_offset_past_the_segment => dropped(
    "tcp 6to4 data offset past the segment",
    from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_TCP, 64, &with_byte(
        tcp6(CLIENT6, SERVER4_IN_POOL6, 5000, 80, &[]),
        TCP_DATA_OFFSET_AT,
        0x60,
    ))),
    &[RxIpv6, Rx6to4Tcp],
    DropBadTcpHeader,
);
tcp_4to6_data_offset_past_the_segment => dropped(
    "tcp 4to6 data offset past the segment",
    from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &with_byte(
        tcp4(SERVER4, POOL4, 80, 6001, &[]),
        TCP_DATA_OFFSET_AT,
        0x60,
    ))),
    &[RxIpv4, Rx4to6Tcp],
    DropBadTcpHeader,
);
// RFC 6146 §3.5: translating it would loop. Dropped before anything answers it: its
// hop limit of 1 would otherwise earn a Time Exceeded.
ipv6_source_inside_pool6 => dropped(
    "ipv6 source inside pool6",
    from_client6(ip6(
        "64:ff9b::c000:203",
        SERVER4_IN_POOL6,
        PROTO_UDP,
        1,
        &udp6("64:ff9b::c000:203", SERVER4_IN_POOL6, 5000, 53, P),
    )),
    &[RxIpv6, Rx6to4Udp],
    DropIpv6SourceInPool6,
);
// RFC 1812 §5.3.7, whatever --allow-nonglobal-ipv4 says (the harness sets it).
udp_4to6_from_a_loopback_source_refused => dropped(
    "udp 4to6 from a loopback source refused",
    udp_from_v4("127.0.0.1", 53, 6000, P),
    &[RxIpv4, Rx4to6Udp],
    DropMartianIpv4Source,
);
udp_4to6_from_a_this_network_source_refused => dropped(
    "udp 4to6 from a this-network source refused",
    udp_from_v4("0.1.2.3", 53, 6000, P),
    &[RxIpv4, Rx4to6Udp],
    DropMartianIpv4Source,
);
udp_4to6_from_a_multicast_source_refused => dropped(
    "udp 4to6 from a multicast source refused",
    udp_from_v4("224.0.0.9", 53, 6000, P),
    &[RxIpv4, Rx4to6Udp],
    DropMartianIpv4Source,
);
udp_4to6_from_a_class_e_source_refused => dropped(
    "udp 4to6 from a class-e source refused",
    udp_from_v4("240.1.2.3", 53, 6000, P),
    &[RxIpv4, Rx4to6Udp],
    DropMartianIpv4Source,
);
udp_4to6_from_a_limited_broadcast_source_refused => dropped(
    "udp 4to6 from a limited broadcast source refused",
    udp_from_v4("255.255.255.255", 53, 6000, P),
    &[RxIpv4, Rx4to6Udp],
    DropMartianIpv4Source,
);
tcp_4to6_data_offset_below_five_words => dropped(
    "tcp 4to6 data offset below five words",
    from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &with_byte(
        tcp4(SERVER4, POOL4, 80, 6001, &[]),
        TCP_DATA_OFFSET_AT,
        0x40,
    ))),
    &[RxIpv4, Rx4to6Tcp],
    DropBadTcpHeader,
);
// Ethernet padding behind the IP packet is not the rest of a TCP header.
tcp_header_cut_short_by_the_ipv4_length_the_frame_padded => dropped(
    "tcp header cut short by the ipv4 length, the frame padded",
    [from_server4(ip4(SERVER4, POOL4, PROTO_TCP, 64, &[0u8; 12])), vec![0u8; 16]].concat(),
    &[RxIpv4, Rx4to6Tcp],
    DropTruncatedL4,
);
unknown_extension_header => dropped(
    "unknown extension header",
    udp_from_client_with_ext(&[(253, PADN6.to_vec())], 5000, 53),
    &[RxIpv6],
    DropExtHeaderUnknown,
);
extension_header_chain_too_long => dropped(
    "extension header chain too long",
    udp_from_client_with_ext(&vec![(60, PADN6.to_vec()); 5], 5000, 53),
    &[RxIpv6],
    DropExtHeaderChainTooLong,
);
routing_header_with_segments_left => dropped(
    "routing header with segments left",
    udp_from_client_with_ext(&[(43, vec![0, 1, 0, 0, 0, 0])], 5000, 53),
    &[RxIpv6],
    DropRoutingHeader,
);
sctp_to_pool6 => dropped(
    "sctp to pool6",
    from_client6(ip6(CLIENT6, SERVER4_IN_POOL6, PROTO_SCTP, 64, &[0u8; 16])),
    &[RxIpv6],
    DropUnsupportedProto,
);
sctp_to_pool4 => dropped(
    "sctp to pool4",
    from_server4(ip4(SERVER4, POOL4, PROTO_SCTP, 64, &[0u8; 16])),
    &[RxIpv4],
    DropUnsupportedProto,
);
icmpv6_neighbour_solicitation_to_pool6 => dropped(
    "icmpv6 neighbour solicitation to pool6",
    from_client6(icmp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 135, 0, [0; 4], &[0; 16])),
    &[RxIpv6, Rx6to4Icmp],
    DropIcmp6Unsupported,
);
icmpv4_timestamp_to_pool4 => dropped(
    "icmpv4 timestamp to pool4",
    from_server4(echo4_packet(SERVER4, POOL4, 64, 13, 7000, 1, &[0; 12])),
    &[RxIpv4, Rx4to6Icmp],
    DropIcmp4Unsupported,
);
ipv4_source_route_option => dropped(
    "ipv4 source route option",
    udp_from_server_with_options(&[131, 7, 4, 192, 0, 2, 9, 0], 53, 6000, P),
    &[RxIpv4],
    DropIpv4SourceRoute,
);
ipv4_ihl_below_5 => dropped(
    "ipv4 ihl below 5",
    with_byte(udp_from_server(53, 6000, P), ETH_HLEN, 0x44),
    &[RxIpv4],
    DropBadIpv4Header,
);
ipv4_total_length_beyond_the_frame => dropped(
    "ipv4 total length beyond the frame",
    {
        let mut f = udp_from_server(53, 6000, P);
        f[ETH_HLEN + 3] += 40;
        f
    },
    &[RxIpv4],
    DropBadLength,
);
ipv4_header_checksum_wrong => dropped(
    "ipv4 header checksum wrong",
    {
        let mut f = udp_from_server(53, 6000, P);
        f[ETH_HLEN + 10] ^= 0x40;
        f
    },
    &[RxIpv4],
    DropBadIpv4Checksum,
);
ipv4_option_with_length_0 => dropped(
    "ipv4 option with length 0",
    udp_from_server_with_options(&[7, 0, 0, 0], 53, 6000, P),
    &[RxIpv4],
    DropBadIpv4Options,
);
udp_without_checksum_too_long_to_checksum_in_xdp => dropped(
    "udp without checksum too long to checksum in XDP",
    udp_from_server_without_checksum(53, 6000, &[7u8; 1500]),
    &[RxIpv4, Rx4to6Udp],
    DropUdpZeroChecksumTooLong,
);
truncated_ipv4_header => dropped(
    "truncated ipv4 header",
    from_server4(ip4(SERVER4, POOL4, PROTO_UDP, 64, &[]))[..ETH_HLEN + 16].to_vec(),
    &[RxIpv4],
    DropTruncatedIpv4,
);
// RFC 6052 §3.1: non-global IPv4 under the well-known prefix, unless overridden.
non_global_ipv4_under_64_ff9b_96_refused => Fixture {
    setup: |h| h.set_allow_nonglobal(false),
    ..dropped(
        "non-global ipv4 under 64:ff9b::/96 refused",
        udp_from_client(5000, 53, P),
        &[RxIpv6, Rx6to4Udp],
        DropNonGlobalIpv4,
    )
};
non_global_ipv4_source_under_64_ff9b_96_refused => Fixture {
    setup: |h| h.set_allow_nonglobal(false),
    ..dropped(
        "non-global ipv4 source under 64:ff9b::/96 refused",
        udp_from_server(53, 6000, P),
        &[RxIpv4, Rx4to6Udp],
        DropNonGlobalIpv4,
    )
};

// ---- The slow path: what XDP queues for nat64-ctl ----------------------------------------
// Without nat64-ctl's slow path running, nothing is queued: unsolicited SYNs are dropped and
// DF=0 packets go out whole (as on a link that carries them), like DF=1 packets under the
// link MTU always do.
unsolicited_syn_no_slow_path_dropped => Fixture {
    setup: slow_path_off,
    verify: nothing_queued,
    ..dropped(
        "unsolicited SYN, no slow path: dropped",
        unsolicited_syn(),
        &[RxIpv4, Rx4to6Tcp],
        DropNoBib4,
    )
};
df_0_over_lowest_ipv6_mtu_no_slow_path_sent_whole => Fixture {
    setup: slow_path_off,
    verify: nothing_queued,
    ..redirected(
        "DF=0 over lowest-ipv6-mtu, no slow path: sent whole",
        from_server4(slow_big4(0)),
        to_client6(slow_big6()),
        UDP46_NEW_SESSION,
    )
};
df_1_over_lowest_ipv6_mtu_under_the_link_mtu_sent_whole => Fixture {
    setup: slow_path_on,
    verify: nothing_queued,
    ..redirected(
        "DF=1 over lowest-ipv6-mtu, under the link MTU: sent whole",
        from_server4(with_df(slow_big4(0))),
        to_client6(slow_big6()),
        UDP46_NEW_SESSION,
    )
};
df_0_over_lowest_ipv6_mtu_translated_queued_to_be_fragmented => Fixture {
    what: "DF=0 over lowest-ipv6-mtu: translated, queued to be fragmented",
    setup: slow_path_on,
    frame: from_server4(slow_big4(0)),
    counters: vec![RxIpv4, Rx4to6Udp, Xlat4to6Udp, SessionCreated, SlowPathFragment, VerdictDrop],
    verify: |h| {
        let q = h.slow_records();
        assert_eq!(q.len(), 1);
        let (hdr, frame) = &q[0];
        assert_eq!(
            (hdr.kind, hdr.len as usize, hdr.mtu, hdr.ident),
            (SLOW_KIND_FRAGMENT, ETH_HLEN + slow_big6().len(), 1280, 0x4242),
            "record header"
        );
        // The translated packet (hop limit decremented: the slow path forwards it); the
        // Ethernet header is not used.
        let expected = with_macs(ethernet(0x86dd, &slow_big6()), MAC4_SELF, MAC4_NEXT);
        assert_eq!(hex(frame), hex(&expected), "queued frame");
    },
    ..ROW
};
unsolicited_syn_queued_to_be_held_simultaneous_open => Fixture {
    what: "unsolicited SYN: queued to be held (simultaneous open)",
    setup: slow_path_on,
    frame: unsolicited_syn(),
    counters: vec![RxIpv4, Rx4to6Tcp, SlowPathHeldSyn, VerdictDrop],
    verify: |h| {
        let q = h.slow_records();
        assert_eq!(q.len(), 1);
        assert_eq!((q[0].0.kind, q[0].0.len as usize), (SLOW_KIND_HELD_SYN, unsolicited_syn().len()));
        assert_eq!(hex(&q[0].1), hex(&unsolicited_syn()), "the SYN is queued as it came");
        assert!(h.sessions().is_empty(), "a held SYN creates no state");
    },
    ..ROW
};
// RFC 6146 §3.5.2.2 applied to §3.8: an IPv6 SYN hairpinned to a pool4 port with no binding
// is held like an IPv4 one, with its sender's binding (the static CLIENT6#5001 ↔
// POOL4#6001) in the record; no session is made.
hairpinned_syn_to_an_unbound_pool4_port_queued_to_be_held => Fixture {
    what: "hairpinned SYN to an unbound pool4 port: queued to be held",
    setup: slow_path_on,
    frame: from_client6(tcp6_bare(CLIENT6, POOL4_IN_POOL6, 64, 5001, 6998, 0x02)),
    counters: vec![RxIpv6, Rx6to4Tcp, SlowPathHeldSyn, VerdictDrop],
    verify: |h| {
        let syn6 = from_client6(tcp6_bare(CLIENT6, POOL4_IN_POOL6, 64, 5001, 6998, 0x02));
        let q = h.slow_records();
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].0.kind, q[0].0.len as usize, q[0].0.mtu, q[0].0.ident),
            (SLOW_KIND_HELD_SYN6, syn6.len(), u32::from_ne_bytes(v4(POOL4).octets()), 6001),
            "record header: the sender's binding"
        );
        assert_eq!(hex(&q[0].1), hex(&syn6), "the SYN is queued as it came");
        assert!(h.sessions().is_empty(), "a held SYN creates no state");
    },
    ..ROW
};
unsolicited_syn_ack_is_not_held => Fixture {
    setup: slow_path_on,
    verify: nothing_queued,
    ..dropped(
        "unsolicited SYN+ACK is not held",
        segment_from_server(80, 6999, 0x12),
        &[RxIpv4, Rx4to6Tcp],
        DropNoBib4,
    )
};
// RFC 6146 §3.5.2.2, the simultaneous open that meets: nat64-ctl holds server4's SYN from
// :8080 to POOL4:6300 and records where it went (NAT64_HELD_SYNS, written here as it
// would); the IPv6 host's SYN to server4:8080 gets a binding on that very port, so the two
// SYNs meet. (nat64-ctl records only ports pool4 lends TCP; the data plane takes what it is
// given, which lets this row tell the held port from a drawn one.)
tcp_syn_to_a_held_syns_source_takes_its_pool4_port => Fixture {
    setup: |h| {
        slow_path_off(h);
        h.hold_syn(SERVER4, 8080, POOL4, 6300);
    },
    ..redirected(
        "tcp syn to a held syn's source takes its pool4 port",
        segment_from_client(5077, 8080, 0x02),
        segment_to_server(6300, 8080, 0x02),
        &[TCP64_NEW_SESSION, &[BibCreated, HeldSynMet]].concat(),
    )
};
// Taken meanwhile (the binding above holds POOL4:6300): an ordinary port is drawn.
tcp_syn_to_a_held_syns_source_whose_port_is_taken_draws_another => Fixture {
    after: &["tcp_syn_to_a_held_syns_source_takes_its_pool4_port"],
    setup: |h| h.hold_syn(SERVER4, 8081, POOL4, 6300),
    ..redirected(
        "tcp syn to a held syn's source whose port is taken draws another",
        segment_from_client(5078, 8081, 0x02),
        segment_to_server(6200, 8081, 0x02),
        &[TCP64_NEW_SESSION, &[PortAllocRetries, BibCreated]].concat(),
    )
};

// ---- Port blocks (RFC 7422): a subscriber's bindings take ports from its block alone ------
port_blocks_the_second_subscriber_gets_a_port_from_its_own_block => Fixture {
    setup: two_subscribers,
    ..redirected(
        "port blocks: the second subscriber gets a port from its own block",
        from_client6(tcp6_bare("2001:db8:6:1::5", SERVER4_IN_POOL6, 64, 7000, 80, nat64_common::tcp::SYN)),
        segment_to_server(6250, 80, nat64_common::tcp::SYN),
        &[TCP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};
port_blocks_the_first_subscriber_gets_a_port_from_its_own_block => Fixture {
    setup: two_subscribers,
    ..redirected(
        "port blocks: the first subscriber gets a port from its own block",
        udp_from_client(7000, 53, P),
        udp_to_server(6140, 53, P),
        &[UDP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};
// A subscriber number whose block is not in the table (a table smaller than the
// configuration says: the data plane checks, it does not trust).
port_blocks_a_block_missing_from_the_table_refuses_the_flow => {
    let second = "2001:db8:6:1::5";
    let packet = udp6_packet(second, SERVER4_IN_POOL6, 64, 7000, 53, P);
    Fixture {
        what: "port blocks: a block missing from the table refuses the flow",
        setup: two_subscribers,
        frame: from_client6(packet.clone()),
        action: Verdict::Tx,
        output: Some(originated6(second, 1, 3, [0; 4], &packet)),
        counters: vec![RxIpv6, Rx6to4Udp, DropNoPortBlock, IcmpSentAddressUnreachable6, VerdictTx],
        ..ROW
    }
};
port_blocks_a_source_outside_the_subscribers_is_refused => Fixture {
    setup: |h| h.port_blocks("2001:db8:9::", 64, 64, &[(0, 6240), (1, 6140), (2, 6300)]),
    ..answered6(
        "port blocks: a source outside the subscribers is refused",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7001, 53, P),
        (1, 3, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropNoPortBlock, IcmpSentAddressUnreachable6, VerdictTx],
    )
};
// The block is the static binding's port 6000: every candidate is taken, and no port
// outside the block is tried.
port_blocks_a_full_block_refuses_without_leaving_it => Fixture {
    counters: [
        &[RxIpv6, Rx6to4Udp, DropPortBlockExhausted, IcmpSentAddressUnreachable6, VerdictTx][..],
        &[PortAllocRetries; nat64_common::port::MAX_PROBES as usize],
    ]
    .concat(),
    setup: |h| h.port_blocks("2001:db8:6::", 64, 64, &[(0, 6240), (1, 6000), (2, 6300)]),
    ..answered6(
        "port blocks: a full block refuses without leaving it",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7001, 53, P),
        (1, 3, [0; 4]),
        &[],
    )
};
// A held SYN's port outside the subscriber's block is not taken (it may be another
// subscriber's): the block's port is.
port_blocks_a_held_syns_port_outside_the_block_is_not_taken => Fixture {
    setup: |h| {
        slow_path_off(h);
        h.hold_syn(SERVER4, 8080, POOL4, 6300);
        h.port_blocks("2001:db8:6::", 64, 64, &[(0, 6240), (1, 6140), (2, 6301)]);
    },
    ..redirected(
        "port blocks: a held syn's port outside the block is not taken",
        segment_from_client(5077, 8080, 0x02),
        segment_to_server(6240, 8080, 0x02),
        &[TCP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};

// ---- Port blocks on first use: a subscriber takes the next free block on its first binding --
// The subscriber (CLIENT6's /64) takes block 0 from the free list: its UDP block's port,
// the block recorded both ways, the list empty, and the session log told.
blocks_on_first_use_a_subscriber_takes_the_free_block => Fixture {
    setup: |h| {
        h.blocks_on_first_use("2001:db8::", 32, 64, &[0]);
        h.set_flag(CONFIG_F_SESSION_EVENTS, true);
    },
    verify: |h| {
        let me: Ipv6Addr = "2001:db8:6::".parse().unwrap();
        assert_eq!(h.block_tables(), (vec![(me, 0)], vec![(0, me)], vec![]));
        let assigned: Vec<_> = h
            .events()
            .into_iter()
            .filter(|e| e.kind == EVENT_BLOCK_ASSIGNED)
            .map(|e| (e.addr6, e.port6, u32::from_be_bytes(e.remote4), e.time_ns > 0))
            .collect();
        assert_eq!(assigned, [(me.octets(), 64, 0, true)]);
    },
    ..redirected(
        "blocks on first use: a subscriber takes the free block",
        udp_from_client(7000, 53, P),
        udp_to_server(6140, 53, P),
        &[UDP64_NEW_SESSION, &[BibCreated, BlockAssigned]].concat(),
    )
};
// Another host of the same /64 opens a TCP flow: the subscriber's block 0 again (its TCP
// ports), nothing taken from the list.
blocks_on_first_use_the_subscribers_next_binding_keeps_its_block => Fixture {
    after: &["blocks_on_first_use_a_subscriber_takes_the_free_block"],
    verify: |h| {
        let me: Ipv6Addr = "2001:db8:6::".parse().unwrap();
        assert_eq!(h.block_tables(), (vec![(me, 0)], vec![(0, me)], vec![]));
    },
    ..redirected(
        "blocks on first use: the subscriber's next binding keeps its block",
        from_client6(tcp6_bare("2001:db8:6::99", SERVER4_IN_POOL6, 64, 7000, 80, nat64_common::tcp::SYN)),
        segment_to_server(6240, 80, nat64_common::tcp::SYN),
        &[TCP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};
// A second subscriber finds the list empty: refused, answered, and nothing changes.
blocks_on_first_use_no_free_block_refuses_the_flow => {
    let second = "2001:db8:6:1::5";
    let packet = udp6_packet(second, SERVER4_IN_POOL6, 64, 7000, 53, P);
    Fixture {
        what: "blocks on first use: no free block refuses the flow",
        after: &["blocks_on_first_use_a_subscriber_takes_the_free_block"],
        verify: |h| {
            let me: Ipv6Addr = "2001:db8:6::".parse().unwrap();
            assert_eq!(h.block_tables(), (vec![(me, 0)], vec![(0, me)], vec![]));
        },
        frame: from_client6(packet.clone()),
        action: Verdict::Tx,
        output: Some(originated6(second, 1, 3, [0; 4], &packet)),
        counters: vec![RxIpv6, Rx6to4Udp, DropNoFreePortBlock, IcmpSentAddressUnreachable6, VerdictTx],
        ..ROW
    }
};
// The list holds block 0 twice (a release that raced a refill) while another subscriber
// owns it: both copies come out and are dropped, the owner keeps it, and the flow is
// refused for want of a free block.
blocks_on_first_use_a_copy_of_an_owned_block_is_dropped => Fixture {
    setup: |h| {
        h.blocks_on_first_use("2001:db8::", 32, 64, &[0, 0]);
        h.give_block("2001:db8:7::", 0);
    },
    verify: |h| {
        let owner: Ipv6Addr = "2001:db8:7::".parse().unwrap();
        assert_eq!(h.block_tables(), (vec![(owner, 0)], vec![(0, owner)], vec![]));
    },
    ..answered6(
        "blocks on first use: a copy of an owned block is dropped",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7001, 53, P),
        (1, 3, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropNoFreePortBlock, IcmpSentAddressUnreachable6, VerdictTx],
    )
};
// Outside the subscriber range no block is taken.
blocks_on_first_use_a_source_outside_the_subscribers_takes_no_block => Fixture {
    setup: |h| h.blocks_on_first_use("2001:db8:9::", 48, 64, &[0]),
    verify: |h| assert_eq!(h.block_tables(), (vec![], vec![], vec![0])),
    ..answered6(
        "blocks on first use: a source outside the subscribers takes no block",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7001, 53, P),
        (1, 3, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropNoPortBlock, IcmpSentAddressUnreachable6, VerdictTx],
    )
};

// ---- ICMP errors: the error and the packet it quotes are both translated -----------------
// IPv6 → IPv4: (ICMPv6 type, code, bytes 4-7) → (ICMPv4 type, code, bytes 4-7).
icmpv6_error_port_unreachable_1_4_to_3_3 => error_64(
    "icmpv6 error port unreachable 1/4 → 3/3",
    (1, 4, [0; 4]),
    (3, 3, [0; 4]),
);
icmpv6_error_no_route_1_0_to_host_unreachable_3_1 => error_64(
    "icmpv6 error no route 1/0 → host unreachable 3/1",
    (1, 0, [0; 4]),
    (3, 1, [0; 4]),
);
icmpv6_error_admin_prohibited_1_1_to_3_10 => error_64(
    "icmpv6 error admin prohibited 1/1 → 3/10",
    (1, 1, [0; 4]),
    (3, 10, [0; 4]),
);
icmpv6_error_packet_too_big_1400_to_frag_needed_1380 => error_64(
    "icmpv6 error packet too big 1400 → frag needed 1380",
    (2, 0, 1400u32.to_be_bytes()),
    (3, 4, [0, 0, 0x05, 0x64]),
);
icmpv6_error_time_exceeded_3_0_to_11_0 => error_64(
    "icmpv6 error time exceeded 3/0 → 11/0",
    (3, 0, [0; 4]),
    (11, 0, [0; 4]),
);
icmpv6_error_parameter_problem_pointer_7_to_12_0_pointer_8 => error_64(
    "icmpv6 error parameter problem pointer 7 → 12/0 pointer 8",
    (4, 0, [0, 0, 0, 7]),
    (12, 0, [8, 0, 0, 0]),
);
icmpv6_error_unrecognized_next_header_4_1_to_protocol_unreachable_3_2 => error_64(
    "icmpv6 error unrecognized next header 4/1 → protocol unreachable 3/2",
    (4, 1, [0, 0, 0, 6]),
    (3, 2, [0; 4]),
);
// Quoting an echo request server4 sent through the static icmp binding.
icmpv6_error_quoting_an_echo_request => redirected(
    "icmpv6 error quoting an echo request",
    error6_from(CLIENT6, 1, 4, [0; 4], &echo6_packet(SERVER4_IN_POOL6, CLIENT6, 63, 128, 1234, 1, QUOTED)),
    error4_to_server(3, 3, [0; 4], &echo4_packet(SERVER4, POOL4, 63, 8, 7000, 1, QUOTED)),
    ERROR64,
);
// An ICMPv6 error in an atomic fragment is the whole message: translated like the
// unfragmented one (RFC 7915 §5.1.1; senders still emit them, RFC 8021 §4).
icmpv6_error_in_an_atomic_fragment => redirected(
    "icmpv6 error in an atomic fragment",
    fragment_from_client(
        frag_hdr(PROTO_ICMPV6, 0, false, 0x0bad_cafe),
        &icmp6(v6(CLIENT6), v6(SERVER4_IN_POOL6), 1, 4, [0; 4], &quoted_from_server(QUOTED)),
    ),
    error4_to_server(3, 3, [0; 4], &quoted_from_server_v4(QUOTED)),
    ERROR64,
);
// A Packet Too Big below 1280 is raised to 1280, as the 6→4→6 pair would.
hairpinned_icmpv6_error_to_its_sender_port_unreachable => hairpinned_error(
    "hairpinned icmpv6 error to its sender: port unreachable",
    (1, 4, [0; 4]),
    [0; 4],
);
hairpinned_icmpv6_error_to_its_sender_packet_too_big_1200 => hairpinned_error(
    "hairpinned icmpv6 error to its sender: packet too big 1200",
    (2, 0, 1200u32.to_be_bytes()),
    1280u32.to_be_bytes(),
);
hairpinned_icmpv6_error_to_its_sender_packet_too_big_1400 => hairpinned_error(
    "hairpinned icmpv6 error to its sender: packet too big 1400",
    (2, 0, 1400u32.to_be_bytes()),
    1400u32.to_be_bytes(),
);
// 1200 bytes quoted: the IPv4 error is cut to 576 bytes.
icmpv6_error_truncated_to_576_bytes => redirected(
    "icmpv6 error truncated to 576 bytes",
    error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(&[0x5a; 1200])),
    error4_to_server(3, 3, [0; 4], &quoted_from_server_v4(&[0x5a; 1200])[..576 - 20 - 8]),
    ERROR64,
);
// Toward a 1300-byte IPv4 link the MTU is clamped: min(1400 - 20, 1300).
packet_too_big_1400_toward_a_1300_byte_link_to_frag_needed_1300 => redirected(
    "packet too big 1400 toward a 1300-byte link → frag needed 1300",
    from_client6(icmp6_packet(
        CLIENT6,
        FAR6,
        64,
        2,
        0,
        1400u32.to_be_bytes(),
        &udp6_packet(FAR6, CLIENT6, 63, 53, 5000, QUOTED),
    )),
    to_server4(ip4(POOL4, FAR4, PROTO_ICMP, 63, &icmp4(3, 4, [0, 0, 0x05, 0x14], &udp4_packet(
        FAR4, POOL4, 63, 53, 6000, QUOTED,
    )))),
    ERROR64,
);
// Toward a 1300-byte IPv6 link: min(1400 + 20, 1300).
frag_needed_1400_toward_a_1300_byte_link_to_packet_too_big_1300 => redirected(
    "frag needed 1400 toward a 1300-byte link → packet too big 1300",
    error4_from_server(3, 4, [0, 0, 0x05, 0x78], &udp4_packet(POOL4, SERVER4, 63, 6003, 53, QUOTED)),
    to_client6(icmp6_packet(
        SERVER4_IN_POOL6,
        CLIENT6_FAR,
        63,
        2,
        0,
        1300u32.to_be_bytes(),
        &udp6_packet(CLIENT6_FAR, SERVER4_IN_POOL6, 63, 5003, 53, QUOTED),
    )),
    ERROR46,
);
// IPv4 → IPv6.
icmpv4_error_port_unreachable_3_3_to_1_4 => error_46(
    "icmpv4 error port unreachable 3/3 → 1/4",
    (3, 3, [0; 4]),
    (1, 4, [0; 4]),
);
icmpv4_error_host_unreachable_3_1_to_1_0 => error_46(
    "icmpv4 error host unreachable 3/1 → 1/0",
    (3, 1, [0; 4]),
    (1, 0, [0; 4]),
);
icmpv4_error_admin_prohibited_3_13_to_1_1 => error_46(
    "icmpv4 error admin prohibited 3/13 → 1/1",
    (3, 13, [0; 4]),
    (1, 1, [0; 4]),
);
icmpv4_error_frag_needed_1000_to_packet_too_big_1020 => error_46(
    "icmpv4 error frag needed 1000 → packet too big 1020",
    (3, 4, [0, 0, 0x03, 0xe8]),
    (2, 0, 1020u32.to_be_bytes()),
);
icmpv4_error_time_exceeded_11_1_to_3_1 => error_46(
    "icmpv4 error time exceeded 11/1 → 3/1",
    (11, 1, [0; 4]),
    (3, 1, [0; 4]),
);
icmpv4_error_protocol_unreachable_3_2_to_parameter_problem_4_1_pointer_6 => error_46(
    "icmpv4 error protocol unreachable 3/2 → parameter problem 4/1 pointer 6",
    (3, 2, [0; 4]),
    (4, 1, [0, 0, 0, 6]),
);
icmpv4_error_parameter_problem_pointer_8_to_4_0_pointer_7 => error_46(
    "icmpv4 error parameter problem pointer 8 → 4/0 pointer 7",
    (12, 0, [8, 0, 0, 0]),
    (4, 0, [0, 0, 0, 7]),
);
icmpv4_error_quoting_an_echo_request => redirected(
    "icmpv4 error quoting an echo request",
    error4_from_server(3, 1, [0; 4], &echo4_packet(POOL4, SERVER4, 63, 8, 7000, 1, QUOTED)),
    error6_to_client(1, 0, [0; 4], &echo6_packet(CLIENT6, SERVER4_IN_POOL6, 63, 128, 1234, 1, QUOTED)),
    ERROR46,
);
// 1400 bytes quoted: the IPv6 error is cut to 1280 bytes.
icmpv4_error_truncated_to_1280_bytes => redirected(
    "icmpv4 error truncated to 1280 bytes",
    error4_from_server(3, 3, [0; 4], &quoted_from_client_v4(&[0xa5; 1400])),
    error6_to_client(1, 4, [0; 4], &quoted_from_client(&[0xa5; 1400])[..1280 - 40 - 8]),
    ERROR46,
);
// Errors that must be dropped, each under its own reason.
icmpv6_error_quoting_an_icmpv6_error => dropped(
    "icmpv6 error quoting an icmpv6 error",
    error6_from(CLIENT6, 1, 4, [0; 4], &icmp6_packet(SERVER4_IN_POOL6, CLIENT6, 63, 1, 4, [0; 4], &[0; 48])),
    &[RxIpv6, Rx6to4Icmp],
    DropIcmpErrorInError,
);
icmpv4_error_quoting_an_icmpv4_error => dropped(
    "icmpv4 error quoting an icmpv4 error",
    error4_from_server(3, 3, [0; 4], &ip4(POOL4, SERVER4, PROTO_ICMP, 63, &icmp4(3, 3, [0; 4], &[0; 28]))),
    &[RxIpv4, Rx4to6Icmp],
    DropIcmpErrorInError,
);
icmpv6_error_with_a_wrong_checksum => dropped(
    "icmpv6 error with a wrong checksum",
    skewed(error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(QUOTED)), ETH_HLEN + IPV6_HLEN + 2, 1),
    &[RxIpv6, Rx6to4Icmp],
    DropIcmpBadChecksum,
);
icmpv4_error_with_a_wrong_checksum => dropped(
    "icmpv4 error with a wrong checksum",
    skewed(error4_from_server(3, 3, [0; 4], &quoted_from_client_v4(QUOTED)), ETH_HLEN + IPV4_HLEN + 2, 1),
    &[RxIpv4, Rx4to6Icmp],
    DropIcmpBadChecksum,
);
parameter_problem_pointing_at_the_flow_label => dropped(
    "parameter problem pointing at the flow label",
    error6_from(CLIENT6, 4, 0, [0, 0, 0, 2], &quoted_from_server(QUOTED)),
    &[RxIpv6, Rx6to4Icmp],
    DropIcmpPointerUnmappable,
);
parameter_problem_pointing_at_the_ipv4_checksum => dropped(
    "parameter problem pointing at the IPv4 checksum",
    error4_from_server(12, 0, [10, 0, 0, 0], &quoted_from_client_v4(QUOTED)),
    &[RxIpv4, Rx4to6Icmp],
    DropIcmpPointerUnmappable,
);
icmpv6_error_quoting_too_little => dropped(
    "icmpv6 error quoting too little",
    error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(QUOTED)[..44]),
    &[RxIpv6, Rx6to4Icmp],
    DropIcmpInnerUntranslatable,
);
icmpv4_error_about_an_unbound_port => dropped(
    "icmpv4 error about an unbound port",
    error4_from_server(3, 3, [0; 4], &udp4_packet(POOL4, SERVER4, 63, 6999, 53, QUOTED)),
    &[RxIpv4, Rx4to6Icmp],
    DropNoBib4,
);
icmpv6_error_about_an_unbound_port => dropped(
    "icmpv6 error about an unbound port",
    error6_from(CLIENT6, 1, 4, [0; 4], &udp6_packet(SERVER4_IN_POOL6, CLIENT6, 63, 53, 5999, QUOTED)),
    &[RxIpv6, Rx6to4Icmp],
    DropNoBib6,
);
icmpv4_source_quench => dropped(
    "icmpv4 source quench",
    error4_from_server(4, 0, [0; 4], &quoted_from_client_v4(QUOTED)),
    &[RxIpv4, Rx4to6Icmp],
    DropIcmp4Unsupported,
);
// A quoted IPv4 header with options: they are skipped to find the transport header (RFC
// 5508 REQ-3b) and, like any options, not translated (RFC 7915 §4.3).
icmpv4_error_quoting_a_header_with_options => redirected(
    "icmpv4 error quoting a header with options",
    error4_from_server(3, 3, [0; 4], &ipv4_with_options(
        POOL4,
        SERVER4,
        PROTO_UDP,
        63,
        &[1, 1, 1, 0],
        &udp4(POOL4, SERVER4, 6000, 53, QUOTED),
    )),
    error6_to_client(1, 4, [0; 4], &quoted_from_client(QUOTED)),
    ERROR46,
);
// An ICMP error neither refreshes nor ends the session of the flow it quotes (RFC 5508
// REQ-6, RFC 4787 REQ-12): the flow's session, made 10 s older, is still there with the
// same entry after an error about it from each side.
the_flow_the_next_errors_quote_opens_its_session => Fixture {
    verify: one_session,
    ..redirected(
        "the flow the next errors quote opens its session",
        from_client6(quoted_from_client(QUOTED)),
        to_server4(udp4_packet(POOL4, SERVER4, 62, 6000, 53, QUOTED)),
        UDP64_NEW_SESSION,
    )
};
icmpv4_error_about_a_flow_leaves_its_session_as_it_was => Fixture {
    after: &["the_flow_the_next_errors_quote_opens_its_session"],
    keep_sessions: true,
    setup: age_the_session,
    verify: session_as_aged,
    ..error_46("icmpv4 error about a flow leaves its session as it was", (3, 3, [0; 4]), (1, 4, [0; 4]))
};
icmpv6_error_about_a_flow_leaves_its_session_as_it_was => Fixture {
    after: &["icmpv4_error_about_a_flow_leaves_its_session_as_it_was"],
    keep_sessions: true,
    verify: session_as_aged,
    ..error_64("icmpv6 error about a flow leaves its session as it was", (1, 4, [0; 4]), (3, 3, [0; 4]))
};
// The same for a query (RFC 5508 REQ-6 speaks of ICMP query sessions).
the_echo_request_the_next_error_quotes_opens_its_session => Fixture {
    verify: one_session,
    ..redirected(
        "the echo request the next error quotes opens its session",
        from_client6(echo6_packet(CLIENT6, SERVER4_IN_POOL6, 63, 128, 1234, 1, QUOTED)),
        to_server4(echo4_packet(POOL4, SERVER4, 62, 8, 7000, 1, QUOTED)),
        ICMP64_NEW_SESSION,
    )
};
icmpv4_error_about_an_echo_request_leaves_its_session_as_it_was => Fixture {
    after: &["the_echo_request_the_next_error_quotes_opens_its_session"],
    keep_sessions: true,
    setup: age_the_session,
    verify: session_as_aged,
    ..redirected(
        "icmpv4 error about an echo request leaves its session as it was",
        error4_from_server(3, 1, [0; 4], &echo4_packet(POOL4, SERVER4, 63, 8, 7000, 1, QUOTED)),
        error6_to_client(1, 0, [0; 4], &echo6_packet(CLIENT6, SERVER4_IN_POOL6, 63, 128, 1234, 1, QUOTED)),
        ERROR46,
    )
};
// And for a TCP connection (RFC 5382 REQ-9): neither its state nor its timer move.
the_tcp_syn_the_next_error_quotes_opens_its_session => Fixture {
    verify: one_session,
    ..redirected(
        "the tcp syn the next error quotes opens its session",
        segment_from_client(5001, 80, nat64_common::tcp::SYN),
        segment_to_server(6001, 80, nat64_common::tcp::SYN),
        TCP64_NEW_SESSION,
    )
};
icmpv4_error_about_a_tcp_syn_leaves_its_session_as_it_was => Fixture {
    after: &["the_tcp_syn_the_next_error_quotes_opens_its_session"],
    keep_sessions: true,
    setup: age_the_session,
    verify: session_as_aged,
    ..redirected(
        "icmpv4 error about a tcp syn leaves its session as it was",
        error4_from_server(3, 3, [0; 4], &tcp4_bare(POOL4, SERVER4, 63, 6001, 80, nat64_common::tcp::SYN)),
        error6_to_client(1, 4, [0; 4], &tcp6_bare(CLIENT6, SERVER4_IN_POOL6, 63, 5001, 80, nat64_common::tcp::SYN)),
        ERROR46,
    )
};

// ---- ICMP errors the gateway originates (a fresh harness: the rate limiter's buckets full,
// `--allow-nonglobal-ipv4` on) --------------------------------------------------------------
// Time Exceeded, both ways, from the gateway's own addresses (traceroute shows it).
hop_limit_1_to_icmpv6_time_exceeded_from_the_gateway => answered6(
    "hop limit 1 → icmpv6 time exceeded from the gateway",
    udp_to_pool6_hop(1, ORIGINATED),
    (3, 0, [0; 4]),
    &[RxIpv6, Rx6to4Udp, DropHopLimit, IcmpSentTimeExceeded6, VerdictTx],
);
ttl_1_to_icmpv4_time_exceeded_from_the_gateway => answered4(
    "ttl 1 → icmpv4 time exceeded from the gateway",
    udp4_packet(SERVER4, POOL4, 1, 53, 6000, ORIGINATED),
    (11, 0, [0; 4]),
    &[RxIpv4, Rx4to6Udp, DropHopLimit, IcmpSentTimeExceeded4, VerdictTx],
);
// A long packet is quoted up to the size limit: 1280 bytes in all for ICMPv6 ...
time_exceeded_quoting_a_1448_byte_packet_is_cut_to_1280_bytes => answered6(
    "time exceeded quoting a 1448-byte packet is cut to 1280 bytes",
    udp_to_pool6_hop(1, &[0xa5; 1400]),
    (3, 0, [0; 4]),
    &[RxIpv6, Rx6to4Udp, DropHopLimit, IcmpSentTimeExceeded6, VerdictTx],
);
// ... and 576 for ICMPv4.
time_exceeded_quoting_a_1028_byte_packet_is_cut_to_576_bytes => answered4(
    "time exceeded quoting a 1028-byte packet is cut to 576 bytes",
    udp4_packet(SERVER4, POOL4, 1, 53, 6000, &[0xa5; 1000]),
    (11, 0, [0; 4]),
    &[RxIpv4, Rx4to6Udp, DropHopLimit, IcmpSentTimeExceeded4, VerdictTx],
);
// Packet Too Big: 1348 bytes of IPv6 are 1328 of IPv4 (DF=1), over the 1300-byte route to
// FAR4: MTU 1300 + 20. No session is opened for it.
ipv6_packet_too_big_for_the_ipv4_link_to_packet_too_big_1320 => Fixture {
    verify: no_session,
    ..answered6(
        "ipv6 packet too big for the ipv4 link → packet too big 1320",
        udp6_packet(CLIENT6, FAR6, 64, 5000, 53, &[0x3c; 1300]),
        (2, 0, 1320u32.to_be_bytes()),
        &[RxIpv6, Rx6to4Udp, DropTooBig, IcmpSentPacketTooBig, VerdictTx],
    )
};
// Over the 1000-byte route the MTU would be 1020: raised to IPv6's minimum 1280.
packet_too_big_toward_a_1000_byte_ipv4_link_announces_1280 => answered6(
    "packet too big toward a 1000-byte ipv4 link announces 1280",
    udp6_packet(CLIENT6, FAR6_SMALL, 64, 5000, 53, &[0x3c; 1300]),
    (2, 0, 1280u32.to_be_bytes()),
    &[RxIpv6, Rx6to4Udp, DropTooBig, IcmpSentPacketTooBig, VerdictTx],
);
// 1148 bytes of IPv6 are 1128 of IPv4 (≤ 1260: DF=0): translated and handed to the kernel,
// which fragments it for the 1000-byte route.
df_0_over_the_1000_byte_link_translated_the_kernel_fragments => Fixture {
    what: "df=0 over the 1000-byte link → translated, the kernel fragments",
    frame: from_client6(udp6_packet(CLIENT6, FAR6_SMALL, 64, 5000, 53, &[0x3c; 1100])),
    action: Verdict::Pass,
    output: Some(with_macs(
        ethernet(0x0800, &udp4_packet(POOL4, FAR4_SMALL, 64, 6000, 53, &[0x3c; 1100])),
        MAC6_SELF,
        MAC6_NEXT,
    )),
    counters: vec![RxIpv6, Rx6to4Udp, Xlat6to4Udp, SessionCreated, FwdPassFragment, VerdictPass],
    ..ROW
};
// Fragmentation Needed: 1288 bytes of IPv4 with DF=1 are 1308 of IPv6, over the 1300-byte
// route to CLIENT6_FAR (static binding 6003): MTU 1300 - 20.
df_1_ipv4_packet_too_big_for_the_ipv6_link_to_frag_needed_1280 => answered4(
    "df=1 ipv4 packet too big for the ipv6 link → frag needed 1280",
    with_df(udp4_packet(SERVER4, POOL4, 64, 53, 6003, &[0xc3; 1260])),
    (3, 4, [0, 0, 0x05, 0x00]),
    &[RxIpv4, Rx4to6Udp, DropTooBig, IcmpSentFragNeeded, VerdictTx],
);
// No error about a packet whose source is not a unicast host (RFC 4443 §2.4 e, RFC 1812
// §4.3.2.7), nor about a frame sent to a link-layer group address.
hop_limit_1_from_a_multicast_source_dropped_no_error => dropped(
    "hop limit 1 from a multicast source: dropped, no error",
    from_client6(udp6_packet("ff02::1", SERVER4_IN_POOL6, 1, 5000, 53, ORIGINATED)),
    &[RxIpv6, Rx6to4Udp],
    DropHopLimit,
);
hop_limit_1_from_ipv6_loopback_dropped_no_error => dropped(
    "hop limit 1 from ::1: dropped, no error",
    from_client6(udp6_packet("::1", SERVER4_IN_POOL6, 1, 5000, 53, ORIGINATED)),
    &[RxIpv6, Rx6to4Udp],
    DropHopLimit,
);
ttl_1_from_127_0_0_1_dropped_no_error => dropped(
    "ttl 1 from 127.0.0.1: dropped, no error",
    from_server4(udp4_packet("127.0.0.1", POOL4, 1, 53, 6000, ORIGINATED)),
    &[RxIpv4, Rx4to6Udp],
    DropHopLimit,
);
ttl_1_from_0_0_0_0_dropped_no_error => dropped(
    "ttl 1 from 0.0.0.0: dropped, no error",
    from_server4(udp4_packet("0.0.0.0", POOL4, 1, 53, 6000, ORIGINATED)),
    &[RxIpv4, Rx4to6Udp],
    DropHopLimit,
);
ttl_1_in_a_link_layer_broadcast_frame_dropped_no_error => dropped(
    "ttl 1 in a link-layer broadcast frame: dropped, no error",
    {
        let mut f = from_server4(udp4_packet(SERVER4, POOL4, 1, 53, 6000, ORIGINATED));
        f[..6].copy_from_slice(&[0xff; 6]);
        f
    },
    &[RxIpv4, Rx4to6Udp],
    DropHopLimit,
);
// A first fragment with DF=1 over the 1300-byte route: a fragment may be split further (and
// no Fragmentation Needed would fit it), so no error; without the slow path the kernel gets
// it.
df_1_first_fragment_too_big_for_the_ipv6_link_no_error_to_the_kernel => {
    let payload = [0xc4; 1264];
    let whole4 = udp4(SERVER4, POOL4, 53, 6003, &payload);
    let whole6 = udp6(SERVER4_IN_POOL6, CLIENT6_FAR, 53, 5003, &payload);
    Fixture {
        what: "df=1 first fragment too big for the ipv6 link: no error, to the kernel",
        frame: from_server4(with_df(frag4(SERVER4, POOL4, PROTO_UDP, 64, 0x0df1, MF, &whole4[..1272]))),
        action: Verdict::Pass,
        output: Some(with_macs(
            ethernet(
                0x86dd,
                &frag6(SERVER4_IN_POOL6, CLIENT6_FAR, 64, frag_hdr(PROTO_UDP, 0, true, 0x0df1), &whole6[..1272]),
            ),
            MAC4_SELF,
            MAC4_NEXT,
        )),
        counters: vec![RxIpv4, Rx4to6Udp, Xlat4to6Udp, Frag4to6, SessionCreated, FwdPassTooBig, VerdictPass],
        ..ROW
    }
};
// Rate limit: a burst of 2, then the bucket is empty (1 token a second).
rate_limit_error_1_of_the_burst => Fixture {
    setup: |h| {
        h.update_config(|c| {
            c.icmp_rate = 1;
            c.icmp_burst = 2;
        });
        refill_buckets(h);
    },
    ..answered6(
        "rate limit: error 1 of the burst",
        udp_to_pool6_hop(1, ORIGINATED),
        (3, 0, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropHopLimit, IcmpSentTimeExceeded6, VerdictTx],
    )
};
rate_limit_error_2_of_the_burst => Fixture {
    after: &["rate_limit_error_1_of_the_burst"],
    ..answered6(
        "rate limit: error 2 of the burst",
        udp_to_pool6_hop(1, ORIGINATED),
        (3, 0, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropHopLimit, IcmpSentTimeExceeded6, VerdictTx],
    )
};
rate_limit_past_the_burst_the_packet_is_dropped_counted => Fixture {
    after: &["rate_limit_error_2_of_the_burst"],
    ..dropped(
        "rate limit: past the burst the packet is dropped, counted",
        from_client6(udp_to_pool6_hop(1, ORIGINATED)),
        &[RxIpv6, Rx6to4Udp, IcmpErrorsRateLimited],
        DropHopLimit,
    )
};
// Rate 0: no errors at all.
rate_0_errors_disabled => Fixture {
    setup: |h| {
        h.update_config(|c| {
            c.icmp_rate = 0;
            c.icmp_burst = 2;
        });
        refill_buckets(h);
    },
    ..dropped(
        "rate 0: errors disabled",
        from_server4(udp4_packet(SERVER4, POOL4, 1, 53, 6000, ORIGINATED)),
        &[RxIpv4, Rx4to6Udp, IcmpErrorsRateLimited],
        DropHopLimit,
    )
};
// No source address configured: no errors either, and nothing is rate-limited.
no_icmp_source6_hop_limit_1_silently_dropped => Fixture {
    setup: |h| h.update_config(|c| c.icmp_src6 = Default::default()),
    ..dropped(
        "no icmp source6: hop limit 1 silently dropped",
        from_client6(udp_to_pool6_hop(1, ORIGINATED)),
        &[RxIpv6, Rx6to4Udp],
        DropHopLimit,
    )
};
// RFC 6791: an ICMPv6 error from a router with no IPv4 form.
rfc_6791_default_pool_is_the_gateways_ipv4_address => redirected(
    "rfc 6791: default pool is the gateway's ipv4 address",
    error6_from(ROUTER6, 3, 0, [0; 4], &quoted_from_server(ORIGINATED)),
    error_from_router_translated(v4(GATEWAY4)),
    ROUTER_ERROR64,
);
rfc_6791_a_24_pool_address_chosen_by_hash_of_the_router => Fixture {
    setup: |h| h.update_config(|c| (c.pool6791, c.pool6791_len) = ([198, 51, 100, 0], 24)),
    ..redirected(
        "rfc 6791: a /24 pool, address chosen by hash of the router",
        error6_from(ROUTER6, 3, 0, [0; 4], &quoted_from_server(ORIGINATED)),
        error_from_router_translated(expected_6791(v4("198.51.100.0"), 24, v6(ROUTER6))),
        ROUTER_ERROR64,
    )
};
icmpv6_error_from_a_router_without_an_ipv4_form_no_pool6791 => Fixture {
    setup: |h| h.update_config(|c| (c.pool6791, c.pool6791_len) = ([198, 51, 100, 0], 0)),
    ..dropped(
        "icmpv6 error from a router without an IPv4 form, no pool6791",
        error6_from(ROUTER6, 3, 0, [0; 4], &quoted_from_server(ORIGINATED)),
        &[RxIpv6, Rx6to4Icmp],
        DropIcmpUnmappableSource,
    )
};
// Translated Fragmentation Needed from a pre-RFC 1191 router (MTU 0): the plateau below the
// quoted datagram's Total Length (1000 → 508) + 20.
frag_needed_mtu_0_quoting_1000_bytes_to_packet_too_big_528_plateau_508 => redirected(
    "frag needed mtu 0 (quoting 1000 bytes) → packet too big 528 (plateau 508)",
    error4_from_server(3, 4, [0; 4], &udp4_packet(POOL4, SERVER4, 63, 6000, 53, &[0x11; 972])[..28 + 64]),
    error6_to_client(2, 0, 528u32.to_be_bytes(), &quoted_from_client(&[0x11; 972])[..48 + 64]),
    ERROR46,
);
// Quoting 1500 bytes: plateau 1492 + 20 = 1512, capped by the 1500-byte IPv6 link.
frag_needed_mtu_0_quoting_1500_bytes_to_plateau_1492_plus_20_capped_at_1500 => redirected(
    "frag needed mtu 0 (quoting 1500 bytes) → plateau 1492 + 20, capped at 1500",
    error4_from_server(3, 4, [0; 4], &udp4_packet(POOL4, SERVER4, 63, 6000, 53, &[0x22; 1472])[..28 + 64]),
    error6_to_client(2, 0, 1500u32.to_be_bytes(), &quoted_from_client(&[0x22; 1472])[..48 + 64]),
    ERROR46,
);

// ---- Sessions (RFC 6146 §3.5): what opens one, what the map holds afterwards, filtering,
// and a full table (three entries) ------------------------------------------------------
// TCP: the state machine runs in the map.
tcp_syn_from_ipv6_opens_a_session => Fixture {
    sizes: SMALL_SESSION_TABLE,
    verify: |h| assert_eq!(tcp_session_state(h), [(TCP_SESSION_KEY, nat64_common::tcp::TCP_V6_INIT, 0)]),
    ..redirected(
        "tcp syn from ipv6 opens a session",
        segment_from_client(5001, 80, nat64_common::tcp::SYN),
        segment_to_server(6001, 80, nat64_common::tcp::SYN),
        TCP64_NEW_SESSION,
    )
};
tcp_syn_ack_from_ipv4_establishes_it => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["tcp_syn_from_ipv6_opens_a_session"],
    keep_sessions: true,
    verify: |h| {
        let established = nat64_common::tcp::TCP_ESTABLISHED;
        assert_eq!(tcp_session_state(h), [(TCP_SESSION_KEY, established, 0)]);
        let last_seen = h.sessions()[0].1.last_seen_ns;
        assert!(last_seen > 0, "the session carries the kernel's clock");
    },
    ..redirected(
        "tcp syn-ack from ipv4 establishes it",
        segment_from_server(80, 6001, nat64_common::tcp::SYN | nat64_common::tcp::ACK),
        segment_to_client(80, 5001, nat64_common::tcp::SYN | nat64_common::tcp::ACK),
        &[RxIpv4, Rx4to6Tcp, Xlat4to6Tcp, FwdRedirect, VerdictRedirect],
    )
};
tcp_without_syn_and_without_a_session => Fixture {
    sizes: SMALL_SESSION_TABLE,
    ..dropped(
        "tcp without syn and without a session",
        segment_from_client(5001, 80, nat64_common::tcp::ACK),
        &[RxIpv6, Rx6to4Tcp],
        DropNoSession,
    )
};
tcp_syn_from_ipv4_to_a_static_binding_opens_a_session => Fixture {
    sizes: SMALL_SESSION_TABLE,
    verify: |h| {
        let state = (TCP_SESSION_KEY, nat64_common::tcp::TCP_V4_INIT, SESSION_F_FROM_V4);
        assert_eq!(tcp_session_state(h), [state]);
    },
    ..redirected(
        "tcp syn from ipv4 to a static binding opens a session",
        segment_from_server(80, 6001, nat64_common::tcp::SYN),
        segment_to_client(80, 5001, nat64_common::tcp::SYN),
        TCP46_NEW_SESSION,
    )
};
// Address-dependent filtering: a dynamic binding answers only the addresses its IPv6 host
// has sent to; static bindings stay open to all.
adf_an_ipv6_flow_records_its_peer => Fixture {
    sizes: SMALL_SESSION_TABLE,
    setup: adf_on,
    verify: |h| {
        let mut kinds: Vec<(u8, u16)> = h.sessions().iter().map(|(k, _)| (k.kind, k.remote_port)).collect();
        kinds.sort();
        assert_eq!(kinds, [(SESSION_KIND_FLOW, 53), (SESSION_KIND_PEER, 0)]);
    },
    ..redirected(
        "adf: an ipv6 flow records its peer",
        udp_from_client(40000, 53, SESSION),
        udp_to_server(6100, 53, SESSION),
        &[UDP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};
adf_another_ipv4_address_is_filtered => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["adf_an_ipv6_flow_records_its_peer"],
    keep_sessions: true,
    ..dropped(
        "adf: another ipv4 address is filtered",
        udp_from_v4(OTHER4, 53, 6100, SESSION),
        &[RxIpv4, Rx4to6Udp],
        DropFiltered,
    )
};
// With --filtering-icmp the drop is answered (RFC 6146 §3.5.2.2).
adf_with_filtering_icmp_admin_prohibited_3_13 => {
    let filtered = udp4_packet(OTHER4, POOL4, 64, 53, 6100, SESSION);
    Fixture {
        what: "adf with --filtering-icmp: admin prohibited 3/13",
        sizes: SMALL_SESSION_TABLE,
        after: &["adf_another_ipv4_address_is_filtered"],
        keep_sessions: true,
        setup: |h| h.set_flag(CONFIG_F_FILTERING_ICMP, true),
        frame: from_server4(filtered.clone()),
        action: Verdict::Tx,
        output: Some(originated4(OTHER4, 3, 13, [0; 4], &filtered)),
        counters: vec![RxIpv4, Rx4to6Udp, DropFiltered, IcmpSentAdminProhibited4, VerdictTx],
        ..ROW
    }
};
adf_the_same_address_from_another_port_passes => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["adf_with_filtering_icmp_admin_prohibited_3_13"],
    keep_sessions: true,
    setup: |h| h.set_flag(CONFIG_F_FILTERING_ICMP, false),
    ..redirected(
        "adf: the same address from another port passes",
        udp_from_server(5353, 6100, SESSION),
        udp_to_client(5353, 40000, SESSION),
        UDP46_NEW_SESSION,
    )
};
// The table (three entries) is now full.
a_new_flow_when_the_session_table_is_full => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["adf_the_same_address_from_another_port_passes"],
    keep_sessions: true,
    ..dropped(
        "a new flow when the session table is full",
        udp_from_v4(OTHER4, 53, 6000, SESSION),
        &[RxIpv4, Rx4to6Udp],
        DropSessionTableFull,
    )
};
existing_flows_go_on_when_the_session_table_is_full => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["a_new_flow_when_the_session_table_is_full"],
    keep_sessions: true,
    ..redirected(
        "existing flows go on when the session table is full",
        udp_from_client(40000, 53, SESSION),
        udp_to_server(6100, 53, SESSION),
        &[RxIpv6, Rx6to4Udp, Xlat6to4Udp, FwdRedirect, VerdictRedirect],
    )
};
adf_a_static_binding_is_open_to_any_address => Fixture {
    sizes: SMALL_SESSION_TABLE,
    setup: adf_on,
    ..redirected(
        "adf: a static binding is open to any address",
        udp_from_v4(OTHER4, 53, 6000, SESSION),
        to_client6(udp6_packet(OTHER4_IN_POOL6, CLIENT6, 63, 53, 5000, SESSION)),
        UDP46_NEW_SESSION,
    )
};
// The session log: with the flag on, a new binding and its session each leave a record on
// the ring buffer; with it off, nothing.
session_log_a_new_binding_and_session_are_recorded => Fixture {
    sizes: SMALL_SESSION_TABLE,
    setup: |h| {
        adf_on(h);
        h.set_flag(CONFIG_F_SESSION_EVENTS, true);
    },
    verify: |h| {
        let events = h.events();
        assert_eq!(events.len(), 2, "{events:?}");
        let (bib, sess) = (events[0], events[1]);
        assert!(bib.time_ns > 0 && sess.time_ns >= bib.time_ns);
        assert_eq!(
            (bib.kind, bib.proto, bib.addr6, bib.port6, bib.addr4, bib.port4),
            (EVENT_BIB_CREATED, PROTO_TCP, v6(CLIENT6).octets(), 7000, v4(POOL4).octets(), 6200)
        );
        assert_eq!(
            (sess.kind, sess.proto, sess.addr4, sess.port4, sess.remote4, sess.remote_port),
            (EVENT_SESSION_CREATED, PROTO_TCP, v4(POOL4).octets(), 6200, v4(SERVER4).octets(), 80)
        );
    },
    ..redirected(
        "session log: a new binding and session are recorded",
        segment_from_client(7000, 80, nat64_common::tcp::SYN),
        segment_to_server(6200, 80, nat64_common::tcp::SYN),
        &[TCP64_NEW_SESSION, &[BibCreated]].concat(),
    )
};
// The same flow's SYN to port 81 (written over port 80, the checksum left as it was: wrong
// by as much, and kept so) opens a session, with the log off: no record.
session_log_off_a_new_session_leaves_no_record => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["session_log_a_new_binding_and_session_are_recorded"],
    setup: |h| h.set_flag(CONFIG_F_SESSION_EVENTS, false),
    verify: |h| assert_eq!(h.events(), [], "no records while the log is off"),
    ..redirected(
        "session log off: a new session leaves no record",
        {
            let mut f = segment_from_client(7000, 80, nat64_common::tcp::SYN);
            f[ETH_HLEN + IPV6_HLEN + TCP_DPORT_AT..][..2].copy_from_slice(&81u16.to_be_bytes());
            f
        },
        {
            let mut f = segment_to_server(6200, 80, nat64_common::tcp::SYN);
            f[ETH_HLEN + IPV4_HLEN + TCP_DPORT_AT..][..2].copy_from_slice(&81u16.to_be_bytes());
            f
        },
        TCP64_NEW_SESSION,
    )
};
// Under ADF a TCP SYN to an existing binding from a peer its host has not contacted may be
// half of a simultaneous open (hole punching): with the slow path on it is held for 6 s like
// one to no binding (RFC 6146 §3.5.2.2). The setup's SYN from client6 takes the binding
// (the range's one TCP port, 6200) and records server4 as its peer.
adf_a_syn_to_a_binding_from_a_peer_not_contacted_is_held => Fixture {
    what: "adf: a syn to a binding from a peer not contacted is held",
    sizes: SMALL_SESSION_TABLE,
    setup: |h| {
        adf_on(h);
        let (action, out) = h.run(&segment_from_client(7000, 80, nat64_common::tcp::SYN));
        assert_eq!(action, h.code(Verdict::Redirect));
        let port4 = u16::from_be_bytes([out[ETH_HLEN + IPV4_HLEN], out[ETH_HLEN + IPV4_HLEN + 1]]);
        assert_eq!(port4, 6200, "the SYN's binding");
        assert_eq!(h.sessions().len(), 2, "the flow and its peer");
        slow_path_on(h);
    },
    keep_sessions: true,
    frame: from_server4(tcp4_bare(OTHER4, POOL4, 64, 80, 6200, nat64_common::tcp::SYN)),
    counters: vec![RxIpv4, Rx4to6Tcp, SlowPathHeldSyn, VerdictDrop],
    verify: |h| {
        assert_eq!(h.sessions().len(), 2, "a held SYN creates no state");
        let held = h.slow_records();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0.kind, SLOW_KIND_HELD_SYN);
        let syn4 = tcp4_bare(OTHER4, POOL4, 64, 80, 6200, nat64_common::tcp::SYN);
        assert_eq!(held[0].1[ETH_HLEN..], syn4[..], "the SYN as received");
    },
    ..ROW
};
adf_without_the_slow_path_that_syn_is_filtered => Fixture {
    sizes: SMALL_SESSION_TABLE,
    after: &["adf_a_syn_to_a_binding_from_a_peer_not_contacted_is_held"],
    keep_sessions: true,
    setup: slow_path_off,
    ..dropped(
        "adf: without the slow path that syn is filtered",
        from_server4(tcp4_bare(OTHER4, POOL4, 64, 80, 6200, nat64_common::tcp::SYN)),
        &[RxIpv4, Rx4to6Tcp],
        DropFiltered,
    )
};

// ---- A full binding table ------------------------------------------------------------------
a_new_flow_when_the_binding_table_is_full_admin_prohibited => Fixture {
    sizes: STATIC_BIB_ONLY,
    ..answered6(
        "a new flow when the binding table is full → admin prohibited",
        udp6_packet(CLIENT6, SERVER4_IN_POOL6, 64, 7002, 53, b"table full"),
        (1, 3, [0; 4]),
        &[RxIpv6, Rx6to4Udp, DropBibFull, IcmpSentAddressUnreachable6, VerdictTx],
    )
};
static_bindings_go_on_when_the_table_is_full => Fixture {
    sizes: STATIC_BIB_ONLY,
    ..redirected(
        "static bindings go on when the table is full",
        udp_from_client(5000, 53, b"table full"),
        udp_to_server(6000, 53, b"table full"),
        UDP64_NEW_SESSION,
    )
};

// ---- Fragments (RFC 7915 §4.1 and §5.1.1) --------------------------------------------------
udp_6to4_first_fragment => Fixture {
    what: "udp 6to4 first fragment",
    ..udp_fragment_64(0)
};
udp_6to4_middle_fragment => Fixture {
    what: "udp 6to4 middle fragment",
    after: &["udp_6to4_first_fragment"],
    keep_sessions: true,
    ..udp_fragment_64(1)
};
// Later fragments refresh nothing: the one session is the first fragment's.
udp_6to4_last_fragment => Fixture {
    what: "udp 6to4 last fragment",
    after: &["udp_6to4_middle_fragment"],
    keep_sessions: true,
    verify: one_session,
    ..udp_fragment_64(2)
};
udp_6to4_later_fragment_without_its_first => dropped(
    "udp 6to4 later fragment without its first",
    fragment_from_client(
        frag_hdr(PROTO_UDP, 3, false, FRAG_ID6 + 1),
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &frag_payload())[24..],
    ),
    &[RxIpv6, Rx6to4Udp],
    DropFragmentOutOfOrder,
);
udp_6to4_atomic_fragment => redirected(
    "udp 6to4 atomic fragment",
    fragment_from_client(
        frag_hdr(PROTO_UDP, 0, false, 0xabcd_0102),
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &frag_payload()),
    ),
    to_server4(frag4(POOL4, SERVER4, PROTO_UDP, 63, 0x0102, 0, &udp4(POOL4, SERVER4, 6000, 53, &frag_payload()))),
    &[UDP64_NEW_SESSION, &[Frag6to4]].concat(),
);
// The whole datagram is there: ICMP in an atomic fragment translates (the fragment's
// identification carried over, RFC 7915 §5.1.1), echo and errors alike.
icmpv6_echo_request_in_an_atomic_fragment => redirected(
    "icmpv6 echo request in an atomic fragment",
    fragment_from_client(
        frag_hdr(PROTO_ICMPV6, 0, false, 0xabcd_0103),
        &icmp6(v6(CLIENT6), v6(SERVER4_IN_POOL6), 128, 0, echo_rest(1234, 9), b"atomic"),
    ),
    to_server4(frag4(POOL4, SERVER4, PROTO_ICMP, 63, 0x0103, 0, &icmp4(8, 0, echo_rest(7000, 9), b"atomic"))),
    &[ICMP64_NEW_SESSION, &[Frag6to4]].concat(),
);
// TCP: the first fragment's header gets the binding's port and the checksum update.
tcp_6to4_first_fragment => redirected(
    "tcp 6to4 first fragment",
    fragment_from_client(
        frag_hdr(PROTO_TCP, 0, true, 77),
        &tcp6(CLIENT6, SERVER4_IN_POOL6, 5001, 80, &frag_payload())[..40],
    ),
    to_server4(frag4(POOL4, SERVER4, PROTO_TCP, 63, 77, MF, &tcp4(POOL4, SERVER4, 6001, 80, &frag_payload())[..40])),
    &[TCP64_NEW_SESSION, &[Frag6to4]].concat(),
);
tcp_6to4_last_fragment => Fixture {
    after: &["tcp_6to4_first_fragment"],
    keep_sessions: true,
    ..redirected(
        "tcp 6to4 last fragment",
        fragment_from_client(
            frag_hdr(PROTO_TCP, 5, false, 77),
            &tcp6(CLIENT6, SERVER4_IN_POOL6, 5001, 80, &frag_payload())[40..],
        ),
        to_server4(frag4(POOL4, SERVER4, PROTO_TCP, 63, 77, 5, &tcp4(POOL4, SERVER4, 6001, 80, &frag_payload())[40..])),
        &[RxIpv6, Rx6to4Tcp, Xlat6to4Tcp, Frag6to4, FwdRedirect, VerdictRedirect],
    )
};
icmpv6_echo_first_fragment => dropped(
    "icmpv6 echo first fragment",
    fragment_from_client(
        frag_hdr(PROTO_ICMPV6, 0, true, 9),
        &icmp6(v6(CLIENT6), v6(SERVER4_IN_POOL6), 128, 0, echo_rest(1234, 1), &frag_payload())[..24],
    ),
    &[RxIpv6, Rx6to4Icmp],
    DropFragmentIcmp,
);
icmpv6_echo_later_fragment => dropped(
    "icmpv6 echo later fragment",
    fragment_from_client(
        frag_hdr(PROTO_ICMPV6, 3, false, 9),
        &icmp6(v6(CLIENT6), v6(SERVER4_IN_POOL6), 128, 0, echo_rest(1234, 1), &frag_payload())[24..],
    ),
    &[RxIpv6, Rx6to4Icmp],
    DropFragmentIcmp,
);
// From a source with no binding: refused before it could claim one (no bib_created).
udp_first_fragment_to_a_pool4_address_hairpin => dropped(
    "udp first fragment to a pool4 address (hairpin)",
    from_client6(frag6(
        CLIENT6,
        POOL4_IN_POOL6,
        64,
        frag_hdr(PROTO_UDP, 0, true, 10),
        &udp6(CLIENT6, POOL4_IN_POOL6, 7100, 6004, &frag_payload())[..24],
    )),
    &[RxIpv6, Rx6to4Udp],
    DropFragmentHairpin,
);
fragment_with_a_destination_options_header_after_it => dropped(
    "fragment with a destination options header after it",
    fragment_from_client(
        frag_hdr(60, 0, true, 11),
        &[&[PROTO_UDP, 0][..], &PADN6, &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &frag_payload())[..16]].concat(),
    ),
    &[RxIpv6],
    DropFragmentMalformed,
);
two_fragment_headers => dropped(
    "two fragment headers",
    fragment_from_client(
        frag_hdr(44, 0, false, 12),
        &[frag_hdr(PROTO_UDP, 0, true, 12), udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &frag_payload())[..24].to_vec()].concat(),
    ),
    &[RxIpv6],
    DropFragmentMalformed,
);
udp_4to6_first_fragment => Fixture {
    what: "udp 4to6 first fragment",
    ..udp_fragment_46(0)
};
udp_4to6_middle_fragment => Fixture {
    what: "udp 4to6 middle fragment",
    after: &["udp_4to6_first_fragment"],
    keep_sessions: true,
    ..udp_fragment_46(1)
};
udp_4to6_last_fragment => Fixture {
    what: "udp 4to6 last fragment",
    after: &["udp_4to6_middle_fragment"],
    keep_sessions: true,
    verify: one_session,
    ..udp_fragment_46(2)
};
udp_4to6_later_fragment_without_its_first => dropped(
    "udp 4to6 later fragment without its first",
    fragment_from_server(PROTO_UDP, 0xbef0, 3, &udp4(SERVER4, POOL4, 53, 6000, &frag_payload())[24..]),
    &[RxIpv4, Rx4to6Udp],
    DropFragmentOutOfOrder,
);
udp_4to6_first_fragment_without_checksum => dropped(
    "udp 4to6 first fragment without checksum",
    fragment_from_server(PROTO_UDP, 0xbef1, MF, &udp4_zero_checksum(&frag_payload())[..24]),
    &[RxIpv4, Rx4to6Udp],
    DropFragmentUdpZeroChecksum,
);
udp_4to6_later_fragment_of_a_refused_first => Fixture {
    after: &["udp_4to6_first_fragment_without_checksum"],
    keep_sessions: true,
    verify: |h| assert!(h.sessions().is_empty(), "a refused first fragment opens nothing"),
    ..dropped(
        "udp 4to6 later fragment of a refused first",
        fragment_from_server(PROTO_UDP, 0xbef1, 3, &udp4_zero_checksum(&frag_payload())[24..]),
        &[RxIpv4, Rx4to6Udp],
        DropFragmentOutOfOrder,
    )
};
// A record serves its datagram's later fragments for FRAG_TIMEOUT_NS, no longer.
udp_4to6_first_fragment_record_to_age => redirected(
    "udp 4to6 first fragment, record to age",
    fragment_from_server(PROTO_UDP, 0xbef4, MF, &udp4(SERVER4, POOL4, 53, 6000, &frag_payload())[..24]),
    to_client6(frag6(
        SERVER4_IN_POOL6,
        CLIENT6,
        63,
        frag_hdr(PROTO_UDP, 0, true, 0xbef4),
        &udp6(SERVER4_IN_POOL6, CLIENT6, 53, 5000, &frag_payload())[..24],
    )),
    &[UDP46_NEW_SESSION, &[Frag4to6]].concat(),
);
udp_4to6_later_fragment_after_its_record_aged_out => Fixture {
    after: &["udp_4to6_first_fragment_record_to_age"],
    keep_sessions: true,
    setup: |h| {
        let records = h.age_fragments(FRAG_TIMEOUT_NS + 1);
        let key = FragKey::v4(v4(SERVER4).octets(), v4(POOL4).octets(), 0xbef4, PROTO_UDP);
        let (_, e) = records.iter().find(|(k, _)| *k == key).expect("the first fragment's record");
        assert_eq!((e.src, e.dst), (v6(SERVER4_IN_POOL6).octets(), v6(CLIENT6).octets()));
    },
    ..dropped(
        "udp 4to6 later fragment after its record aged out",
        fragment_from_server(PROTO_UDP, 0xbef4, 3, &udp4(SERVER4, POOL4, 53, 6000, &frag_payload())[24..]),
        &[RxIpv4, Rx4to6Udp],
        DropFragmentOutOfOrder,
    )
};
icmpv4_echo_first_fragment => dropped(
    "icmpv4 echo first fragment",
    fragment_from_server(PROTO_ICMP, 0xbef2, MF, &icmp4(8, 0, echo_rest(7000, 1), &frag_payload())[..24]),
    &[RxIpv4, Rx4to6Icmp],
    DropFragmentIcmp,
);

}

// ---- Procedures ----------------------------------------------------------------------------

/// Nobody drains the ring here, as when nat64-ctl was killed without clearing the flag: once
/// half of the ring waits unread the data plane stops queuing, and the SYNs are dropped as
/// without a slow path, never waited for.
fn slow_path_stops_queuing_at_half_the_ring(h: &mut Harness) {
    slow_path_on(h);
    let syn = unsolicited_syn();
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
}

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
