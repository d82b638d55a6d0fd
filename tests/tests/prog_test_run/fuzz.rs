//! Fuzzing the loaded program (issue 15): mutated frames through BPF_PROG_TEST_RUN of the
//! real object, every run checked.
//!
//! The frames are mutations of seeds of every kind the fixtures use (both families, every
//! protocol, ICMP errors, fragments, hairpinning), run with the harness's static bindings
//! and the sessions and dynamic bindings the unmutated seeds opened in place. After every
//! run: no program error; a drop (or an error the gateway answers with) moved exactly one
//! drop counter; a frame passed untouched is byte for byte the input; a translated frame's
//! IP length agrees with the frame, its addresses and ports are the ones the BIB and pool6
//! give, and its transport checksum is wrong by exactly as much as the input's was (right
//! when the input's was).
//!
//! How long: `NAT64_FUZZ_LOADED_RUNS` executions per hook, or `NAT64_FUZZ_LOADED_SECONDS`
//! per hook (default 5), whichever ends first; `cargo xtask fuzz --loaded-runs N` runs N
//! in all and prints the count.
use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
    time::{Duration, Instant},
};

use aya::maps::{HashMap as BpfHashMap, IterableMap, MapData};
use nat64_common::maps::{Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, MAP_BIB4, MAP_BIB6};
use nat64_ctl::batch;

use super::*;

/// The run budget per hook: a count, a duration, or both (whichever ends first).
struct Budget {
    runs: Option<u64>,
    time: Option<Duration>,
}

impl Budget {
    /// From the environment: `NAT64_FUZZ_LOADED_RUNS` (unset: no count limit) and
    /// `NAT64_FUZZ_LOADED_SECONDS` (unset: 5 s unless a count is given; 0: no time limit).
    fn from_env() -> Budget {
        let num = |name: &str| -> Option<u64> {
            std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?}: not a whole number"))
            })
        };
        let runs = num("NAT64_FUZZ_LOADED_RUNS");
        let seconds =
            num("NAT64_FUZZ_LOADED_SECONDS").or(if runs.is_some() { None } else { Some(5) });
        let time = seconds.filter(|&s| s > 0).map(Duration::from_secs);
        assert!(
            runs.is_some() || time.is_some(),
            "NAT64_FUZZ_LOADED_SECONDS=0 without NAT64_FUZZ_LOADED_RUNS would fuzz forever"
        );
        Budget { runs, time }
    }
}

/// xorshift64*: deterministic per seed, so a finding is reproduced by its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ETH_HLEN: usize = 14;
const IPV6_HLEN: usize = 40;
const IPV4_MIN_HLEN: usize = 20;
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// IPv4 Flags/Fragment Offset bits that make a packet a fragment (MF and the offset).
const IPV4_FRAGMENT_BITS: u16 = 0x3fff;
const ICMP4_ECHO_REQUEST: u8 = 8;
const ICMP4_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// pool6 of the harness (64:ff9b::/96): its first 12 bytes.
const POOL6_PREFIX: [u8; 12] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

/// The transport part of an IP packet as a checksum sees it.
struct Transport<'a> {
    /// The pseudo-header the checksum covers (empty for ICMPv4).
    pseudo: Vec<u8>,
    /// IPv4 protocol numbering (ICMPv6 is `PROTO_ICMP`), for BIB keys.
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    l4: &'a [u8],
}

/// The whole, unfragmented TCP, UDP or ICMP packet in `frame` (`None` otherwise: a
/// fragment's checksum covers a datagram the frame does not hold).
fn transport(frame: &[u8]) -> Option<Transport<'_>> {
    let ip = frame.get(ETH_HLEN..)?;
    match (frame.get(12..14)?, ip.first()? >> 4) {
        (e, 6) if e == ETHERTYPE_IPV6 => {
            let len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let l4 = ip.get(IPV6_HLEN..IPV6_HLEN + len)?;
            let nh = ip[6];
            let proto = match nh {
                PROTO_TCP | PROTO_UDP => nh,
                PROTO_ICMPV6 => PROTO_ICMP,
                _ => return None,
            };
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
            Some(Transport {
                pseudo: pseudo_v6(src, dst, nh, l4.len()),
                proto,
                src: src.into(),
                dst: dst.into(),
                l4,
            })
        }
        (e, 4) if e == ETHERTYPE_IPV4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let fo = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if fo & IPV4_FRAGMENT_BITS != 0 || ihl < IPV4_MIN_HLEN {
                return None;
            }
            let l4 = ip.get(ihl..total)?;
            let proto = ip[9];
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?);
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?);
            let pseudo = match proto {
                PROTO_ICMP => Vec::new(),
                PROTO_TCP | PROTO_UDP => pseudo_v4(src, dst, proto, l4.len()),
                _ => return None,
            };
            Some(Transport {
                pseudo,
                proto,
                src: src.into(),
                dst: dst.into(),
                l4,
            })
        }
        _ => None,
    }
}

/// How far the transport checksum of `frame` is off: 0 when it verifies, else the
/// one's-complement amount missing (an incremental rewrite keeps it). `None`: no such
/// checksum (not whole TCP/UDP/ICMP, too short for its checksum, or IPv4 UDP without one).
fn checksum_deficit(frame: &[u8]) -> Option<u16> {
    let t = transport(frame)?;
    let csum_at = match t.proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => 2,
    };
    let field = t.l4.get(csum_at..csum_at + 2)?;
    if t.proto == PROTO_UDP && t.src.is_ipv4() && field == [0, 0] {
        return None;
    }
    // Sums over anything but all-zero words are never +0, so the deficit has one value.
    Some(inet_checksum(&[&t.pseudo, t.l4]))
}

/// A translatable flow's ends: addresses and ports (an echo's identifier for both ports).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Ends {
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

/// The ends of a whole TCP/UDP packet or ICMP echo in `frame` (`None` for anything else,
/// ICMP errors included: their translation is checked by the fixtures).
fn ends(frame: &[u8]) -> Option<Ends> {
    let t = transport(frame)?;
    let word = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*t.l4.get(at)?, *t.l4.get(at + 1)?]))
    };
    let (sport, dport) = match t.proto {
        PROTO_TCP | PROTO_UDP => (word(0)?, word(2)?),
        _ => {
            let echo = match t.src {
                IpAddr::V6(_) => [ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY],
                IpAddr::V4(_) => [ICMP4_ECHO_REQUEST, ICMP4_ECHO_REPLY],
            };
            if !echo.contains(t.l4.first()?) {
                return None;
            }
            let id = word(4)?;
            (id, id)
        }
    };
    Some(Ends {
        proto: t.proto,
        src: t.src,
        sport,
        dst: t.dst,
        dport,
    })
}

fn in_pool6(a: Ipv4Addr) -> IpAddr {
    let mut o = [0u8; 16];
    o[..12].copy_from_slice(&POOL6_PREFIX);
    o[12..].copy_from_slice(&a.octets());
    Ipv6Addr::from(o).into()
}

/// The IPv4 address an address of pool6 embeds (`None`: not in pool6).
fn from_pool6(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V6(a) if a.octets()[..12] == POOL6_PREFIX => {
            Some(<[u8; 4]>::try_from(&a.octets()[12..]).unwrap().into())
        }
        _ => None,
    }
}

/// The BIB as the program left it, looked up entry by entry.
struct Bib<'a> {
    bib6: BpfHashMap<&'a MapData, Bib6Key, Bib6Entry>,
    bib4: BpfHashMap<&'a MapData, Bib4Key, Bib4Entry>,
}

impl Bib<'_> {
    fn of(h: &Harness) -> Bib<'_> {
        Bib {
            bib6: BpfHashMap::try_from(h.ebpf.map(MAP_BIB6).unwrap()).unwrap(),
            bib4: BpfHashMap::try_from(h.ebpf.map(MAP_BIB4).unwrap()).unwrap(),
        }
    }

    /// The IPv4 end an IPv6 host's (address, port) is bound to.
    fn outward(&self, proto: u8, addr: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
        let IpAddr::V6(a) = addr else { return None };
        let key = Bib6Key {
            addr6: a.octets(),
            port6: port,
            proto,
            _pad: 0,
        };
        let e = self.bib6.get(&key, 0).ok()?;
        Some((Ipv4Addr::from(e.addr4).into(), e.port4))
    }

    /// The IPv6 host a pool4 (address, port) is bound to.
    fn inward(&self, proto: u8, addr: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
        let IpAddr::V4(a) = addr else { return None };
        let key = Bib4Key {
            addr4: a.octets(),
            port4: port,
            proto,
            _pad: 0,
        };
        let e = self.bib4.get(&key, 0).ok()?;
        Some((Ipv6Addr::from(e.addr6).into(), e.port6))
    }
}

/// What a translated flow's ends must be, from the input's ends, the BIB and pool6:
/// 6→4 (the source through its binding, the destination out of pool6), 4→6 (the
/// destination through its binding, the source into pool6), 6→6 hairpinned (both).
/// An echo's identifier is the IPv6 host's "port": it follows the binding too.
fn expected_ends(bib: &Bib, input: Ends, out_is_v6: bool) -> Result<Ends, String> {
    let echo = input.proto == PROTO_ICMP;
    let unbound = |what: &str| format!("no binding for the {what} end of {input:?}");
    match (input.src, out_is_v6) {
        (IpAddr::V6(_), false) => {
            let (src, sport) = bib
                .outward(input.proto, input.src, input.sport)
                .ok_or_else(|| unbound("IPv6"))?;
            let dst = from_pool6(input.dst).ok_or("6→4 to an address outside pool6")?;
            Ok(Ends {
                proto: input.proto,
                src,
                sport,
                dst: dst.into(),
                dport: if echo { sport } else { input.dport },
            })
        }
        (IpAddr::V4(src4), true) => {
            let (dst, dport) = bib
                .inward(input.proto, input.dst, input.dport)
                .ok_or_else(|| unbound("pool4"))?;
            Ok(Ends {
                proto: input.proto,
                src: in_pool6(src4),
                sport: if echo { dport } else { input.sport },
                dst,
                dport,
            })
        }
        (IpAddr::V6(_), true) => {
            let (src4, sport) = bib
                .outward(input.proto, input.src, input.sport)
                .ok_or_else(|| unbound("sending IPv6"))?;
            let dst4 = from_pool6(input.dst).ok_or("hairpin to an address outside pool6")?;
            let (dst, dport) = bib
                .inward(input.proto, dst4.into(), input.dport)
                .ok_or_else(|| unbound("hairpin target's"))?;
            let IpAddr::V4(src4) = src4 else {
                unreachable!()
            };
            Ok(Ends {
                proto: input.proto,
                src: in_pool6(src4),
                sport,
                dst,
                dport,
            })
        }
        (IpAddr::V4(_), false) => Err("an IPv4 packet left as IPv4".into()),
    }
}

/// Bytes of `frame` after the IP packet its length field states (an Ethernet trailer);
/// `None` when the field claims more than the frame holds or the frame is not IP.
fn trailer(frame: &[u8]) -> Option<usize> {
    let ip = frame.get(ETH_HLEN..)?;
    let len = match frame.get(12..14)? {
        e if e == ETHERTYPE_IPV6 && ip.len() >= IPV6_HLEN => {
            IPV6_HLEN + usize::from(u16::from_be_bytes([ip[4], ip[5]]))
        }
        e if e == ETHERTYPE_IPV4 && ip.len() >= IPV4_MIN_HLEN => {
            usize::from(u16::from_be_bytes([ip[2], ip[3]]))
        }
        _ => return None,
    };
    ip.len().checked_sub(len)
}

/// A translated (or answered) frame's IP length field agrees with the frame: what follows
/// the packet is the input's Ethernet trailer carried along, or nothing (ICMP errors are
/// rebuilt to their length), never part of the packet or something grown.
fn lengths_agree(input: &[u8], out: &[u8]) -> bool {
    match trailer(out) {
        Some(0) => true,
        Some(t) => trailer(input) == Some(t),
        None => false,
    }
}

/// The seeds: every fixture row's input frame (both families, every protocol, ICMP
/// errors, fragments, hairpinning), and a flow that takes pool4's one dynamic UDP port.
/// Each is run once unmutated before the fuzzing, which leaves its sessions (and dynamic
/// bindings) in place. Frames this hook's test_run refuses, and frames with nothing past
/// the Ethernet header to mutate, are left out.
fn seeds(hook: Hook) -> Vec<Vec<u8>> {
    let mut seeds = super::fixture_frames();
    seeds.push(from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5555, 53, b"fuzz payload"),
    )));
    seeds.retain(|f| f.len() > ETH_HLEN && runnable(hook, f));
    seeds
}

/// Mutates `f` in place: 1–4 bytes past the Ethernet header flipped or set to edge
/// values, or the frame cut or grown.
fn mutate(rng: &mut Rng, f: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0..=2 => {
                let at = ETH_HLEN + rng.below(f.len() - ETH_HLEN);
                f[at] ^= 1 << rng.below(8);
            }
            3 => {
                let at = ETH_HLEN + rng.below(f.len() - ETH_HLEN);
                f[at] = [0, 0xff, 0x80, 0x01][rng.below(4)];
            }
            4 => f.truncate(ETH_HLEN + rng.below(f.len() - ETH_HLEN).max(1)),
            _ => f.extend(std::iter::repeat_n(0xa5u8, 1 + rng.below(16))),
        }
    }
}

fn session_map(h: &Harness) -> BpfHashMap<&MapData, SessionKey, SessionEntry> {
    BpfHashMap::try_from(h.ebpf.map(MAP_SESSIONS).unwrap()).unwrap()
}

/// Sessions the mutated frames opened: deleted after the run that opened them, so that
/// every run meets the seeds' sessions and the table never fills up.
fn sessions_beyond(h: &Harness, baseline: &HashSet<SessionKey>) -> Vec<SessionKey> {
    let all: Vec<(SessionKey, SessionEntry)> =
        batch::read_all(session_map(h).map().fd().as_fd(), 64).unwrap();
    all.into_iter()
        .map(|(k, _)| k)
        .filter(|k| !baseline.contains(k))
        .collect()
}

/// How often each check held: none may be vacuous, and `cargo xtask fuzz` prints them.
#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    dropped: u64,
    passed_untouched: u64,
    translated: u64,
    ends_followed_bib: u64,
    good_checksum_kept: u64,
    bad_checksum_kept_as_bad: u64,
}

pub(crate) fn fuzz_loaded(h: &mut Harness) {
    let budget = Budget::from_env();
    let position = |c: Counter| Counter::ALL.iter().position(|&x| x == c).unwrap();
    let drops: Vec<usize> = (0..Counter::ALL.len())
        .filter(|&i| Counter::ALL[i].is_drop())
        .collect();
    let aborted = position(VerdictAborted);
    let created = position(SessionCreated);
    let passes = [
        FwdPassNoNeighbour,
        FwdPassNoRoute,
        FwdPassFragment,
        FwdPassTooBig,
    ]
    .map(position);

    // The batch read the fuzz relies on (one syscall per run) agrees with the reference.
    let seeds = seeds(h.hook);
    for s in &seeds {
        let (code, _) = h.run(s);
        assert_ne!(Verdict::of(h.hook, code), None, "seed {}", hex(s));
    }
    assert_eq!(
        stats::read(&h.stats).unwrap(),
        stats::read_slot_by_slot(&h.stats).unwrap(),
        "the batch counter read and the slot-by-slot one differ"
    );
    let baseline: HashSet<SessionKey> = h.sessions().into_iter().map(|(k, _)| k).collect();
    assert!(
        baseline.len() >= 5,
        "the seeds left {} sessions in place",
        baseline.len()
    );

    let seed = 0x6e61_7436_3400 ^ h.hook as u64;
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut t = Tally::default();
    let mut before = h.counters();
    loop {
        if budget.runs.is_some_and(|n| t.runs >= n)
            || budget.time.is_some_and(|d| start.elapsed() >= d)
        {
            break;
        }
        let mut f = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut f);
        if !runnable(h.hook, &f) {
            continue;
        }
        let (code, out) = h.run(&f);
        let after = h.counters();
        t.runs += 1;
        let runs = t.runs;
        let moved = |i: usize| after[i] - before[i];
        let why = || format!("run {runs} (seed {seed:#x}), input {}", hex(&f));
        assert_eq!(moved(aborted), 0, "program error: {}", why());
        let verdict = Verdict::of(h.hook, code).unwrap_or_else(|| panic!("code {code}: {}", why()));
        let dropped: u64 = drops.iter().map(|&i| moved(i)).sum();
        match verdict {
            Verdict::Drop => {
                assert_eq!(dropped, 1, "a drop moves one drop counter: {}", why());
                t.dropped += 1;
            }
            Verdict::Pass if passes.iter().all(|&i| moved(i) == 0) => {
                assert_eq!(hex(&out), hex(&f), "passed untouched: {}", why());
                assert_eq!(dropped, 0, "{}", why());
                t.passed_untouched += 1;
            }
            // Sent on or back: a translation or an error the gateway answers with (it
            // counts the drop); either way a well-formed IP packet.
            _ => {
                assert!(dropped <= 1, "{}", why());
                let shown = || format!("{}; output {}", why(), hex(&out));
                assert!(lengths_agree(&f, &out), "output lengths: {}", shown());
                if dropped == 0 {
                    t.translated += 1;
                    if let Some(input) = ends(&f) {
                        let out_is_v6 = out.get(12..14) == Some(&ETHERTYPE_IPV6[..]);
                        let want = expected_ends(&Bib::of(h), input, out_is_v6)
                            .unwrap_or_else(|e| panic!("{e}: {}", shown()));
                        assert_eq!(ends(&out), Some(want), "ends off the BIB: {}", shown());
                        t.ends_followed_bib += 1;
                    }
                    if let Some(deficit) = checksum_deficit(&f) {
                        if let Some(out_deficit) = checksum_deficit(&out) {
                            assert_eq!(
                                out_deficit,
                                deficit,
                                "checksum off by {out_deficit:#x} after, {deficit:#x} before: {}",
                                shown()
                            );
                            if deficit == 0 {
                                t.good_checksum_kept += 1;
                            } else {
                                t.bad_checksum_kept_as_bad += 1;
                            }
                        }
                    }
                }
            }
        }
        let opened = moved(created) > 0;
        before = after;
        if opened {
            let extra = sessions_beyond(h, &baseline);
            batch::delete(session_map(h).map().fd().as_fd(), &extra).unwrap();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!(
        "ok: {} mutated frames through the {:?} program in {elapsed:.0} s ({:.0}/s): {t:?}",
        t.runs,
        h.hook,
        t.runs as f64 / elapsed
    );
    assert!(t.runs > 100, "only {} runs", t.runs);
    assert!(
        t.dropped > 0
            && t.passed_untouched > 0
            && t.ends_followed_bib > 0
            && t.good_checksum_kept > 0
            && t.bad_checksum_kept_as_bad > 0,
        "every check ran: {t:?}"
    );
}

/// The oracle's own parts, on frames built independently of the data plane (no root).
#[test]
fn the_fuzz_oracle_reads_frames_right() {
    let p = b"oracle";
    let udp = from_client6(ip6(
        CLIENT6,
        SERVER4_IN_POOL6,
        PROTO_UDP,
        64,
        &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
    ));
    assert_eq!(checksum_deficit(&udp), Some(0));
    let mut bad = udp.clone();
    *bad.last_mut().unwrap() ^= 0x01;
    assert_eq!(checksum_deficit(&bad), Some(0x0001), "one low bit short");
    assert_eq!(
        ends(&udp),
        Some(Ends {
            proto: PROTO_UDP,
            src: v6(CLIENT6).into(),
            sport: 5000,
            dst: v6(SERVER4_IN_POOL6).into(),
            dport: 53,
        })
    );
    let echo = from_server4(ip4(
        SERVER4,
        POOL4,
        PROTO_ICMP,
        64,
        &icmp4(ICMP4_ECHO_REPLY, 0, echo_rest(7000, 1), p),
    ));
    assert_eq!(checksum_deficit(&echo), Some(0));
    let e = ends(&echo).unwrap();
    assert_eq!((e.proto, e.sport, e.dport), (PROTO_ICMP, 7000, 7000));
    // An error is not a flow, a fragment has no checksum of its own, a UDP datagram
    // without a checksum has none to keep.
    assert_eq!(
        ends(&error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(p))),
        None
    );
    let frag = from_server4(frag4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        64,
        9,
        MF,
        &udp4(SERVER4, POOL4, 53, 6000, p),
    ));
    assert_eq!(checksum_deficit(&frag), None);
    let mut no_sum = from_server4(ip4(
        SERVER4,
        POOL4,
        PROTO_UDP,
        64,
        &udp4(SERVER4, POOL4, 53, 6000, p),
    ));
    let at = ETH_HLEN + IPV4_MIN_HLEN + 6;
    no_sum[at..at + 2].copy_from_slice(&[0, 0]);
    assert_eq!(checksum_deficit(&no_sum), None);
    assert_eq!(from_pool6(in_pool6(v4(SERVER4))), Some(v4(SERVER4)));
    assert_eq!(from_pool6(v6(CLIENT6).into()), None);
    // A trailer carried along agrees; a length field that claims more than the frame does not.
    let mut trailed = udp.clone();
    trailed.extend([0u8; 6]);
    assert!(lengths_agree(&trailed, &trailed));
    assert!(!lengths_agree(&udp, &trailed));
    assert!(!lengths_agree(&udp, &udp[..udp.len() - 1]));
}
