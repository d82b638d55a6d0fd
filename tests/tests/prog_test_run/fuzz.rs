//! Fuzzing the loaded program (issue 15): mutated frames through BPF_PROG_TEST_RUN of the
//! real object, every run checked.
use super::*;


/// How long each hook's program is fed mutated frames: `NAT64_FUZZ_LOADED_SECONDS`
/// (default 5; `cargo xtask fuzz`-style long runs set more).
fn fuzz_seconds() -> u64 {
    std::env::var("NAT64_FUZZ_LOADED_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
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

/// Whether the IP packet in `frame` carries a TCP, UDP or ICMP header whose checksum
/// verifies (`None`: not a whole TCP/UDP/ICMP packet this check understands).
fn l4_checksum_ok(frame: &[u8]) -> Option<bool> {
    let ip = frame.get(14..)?;
    match (frame.get(12..14)?, ip.first()? >> 4) {
        ([0x86, 0xdd], 6) => {
            let len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let l4 = ip.get(40..40 + len)?;
            let nh = ip[6];
            if !matches!(nh, PROTO_TCP | PROTO_UDP | PROTO_ICMPV6) {
                return None;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
            Some(inet_checksum(&[&pseudo_v6(src, dst, nh, l4.len()), l4]) == 0)
        }
        ([0x08, 0x00], 4) => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let fo = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if fo & 0x3fff != 0 || ihl < 20 {
                return None; // a fragment: the checksum covers the whole datagram
            }
            let l4 = ip.get(ihl..total)?;
            let proto = ip[9];
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?);
            let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?);
            match proto {
                PROTO_ICMP => Some(inet_checksum(&[l4]) == 0),
                PROTO_UDP if l4.get(6..8)? == [0, 0] => None, // no checksum
                PROTO_TCP | PROTO_UDP => {
                    Some(inet_checksum(&[&pseudo_v4(src, dst, proto, l4.len()), l4]) == 0)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Bytes of `frame` after the IP packet its length field states (an Ethernet trailer);
/// `None` when the field claims more than the frame holds or the frame is not IP.
fn trailer(frame: &[u8]) -> Option<usize> {
    let ip = frame.get(14..)?;
    let len = match frame.get(12..14)? {
        [0x86, 0xdd] if ip.len() >= 40 => 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])),
        [0x08, 0x00] if ip.len() >= 20 => usize::from(u16::from_be_bytes([ip[2], ip[3]])),
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

/// Issue 15: mutated frames (seeded with frames of every kind the fixtures use, both
/// families, every protocol) through BPF_PROG_TEST_RUN of the real object, with the
/// harness's bindings in place. After every run: no program error; a drop (or an error
/// the gateway answers with) moved exactly one drop counter; a translated frame's IP
/// length agrees with the frame, and its transport checksum verifies whenever the input's
/// did; a frame passed untouched is byte for byte the input.
pub(crate) fn fuzz_loaded(h: &mut Harness) {
    let p = b"fuzz payload";
    let seeds: Vec<Vec<u8>> = vec![
        from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_UDP,
            64,
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, p),
        )),
        from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_TCP,
            64,
            &tcp6(CLIENT6, SERVER4_IN_POOL6, 5001, 80, p),
        )),
        from_client6(ip6(
            CLIENT6,
            SERVER4_IN_POOL6,
            PROTO_ICMPV6,
            64,
            &icmp6(
                v6(CLIENT6),
                v6(SERVER4_IN_POOL6),
                128,
                0,
                echo_rest(1234, 1),
                p,
            ),
        )),
        from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            &udp4(SERVER4, POOL4, 53, 6000, p),
        )),
        from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_TCP,
            64,
            &tcp4(SERVER4, POOL4, 80, 6001, p),
        )),
        from_server4(ip4(
            SERVER4,
            POOL4,
            PROTO_ICMP,
            64,
            &icmp4(0, 0, echo_rest(7000, 1), p),
        )),
        error6_from(CLIENT6, 1, 4, [0; 4], &quoted_from_server(p)),
        error4_from_server(
            3,
            3,
            [0; 4],
            &ip4(
                POOL4,
                SERVER4,
                PROTO_UDP,
                63,
                &udp4(POOL4, SERVER4, 6000, 53, p),
            ),
        ),
        from_client6(frag6(
            CLIENT6,
            SERVER4_IN_POOL6,
            64,
            frag_hdr(PROTO_UDP, 0, true, 9),
            &udp6(CLIENT6, SERVER4_IN_POOL6, 5000, 53, &[7u8; 32]),
        )),
        from_server4(frag4(
            SERVER4,
            POOL4,
            PROTO_UDP,
            64,
            9,
            MF,
            &udp4(SERVER4, POOL4, 53, 6000, &[7u8; 32]),
        )),
    ];
    let drops: Vec<usize> = Counter::ALL
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_drop())
        .map(|(i, _)| i)
        .collect();
    let aborted = VerdictAborted.index() as usize;
    let passes = [
        FwdPassNoNeighbour,
        FwdPassNoRoute,
        FwdPassFragment,
        FwdPassTooBig,
    ]
    .map(|c| c.index() as usize);
    let seed = 0x6e61_7436_3400 ^ h.hook as u64;
    let mut rng = Rng(seed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(fuzz_seconds());
    let mut runs = 0u64;
    // How often each check ran: none may be vacuous.
    let (mut n_drop, mut n_pass, mut n_csum) = (0u64, 0u64, 0u64);
    while std::time::Instant::now() < deadline {
        let mut f = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                // Bytes past the Ethernet header flipped, set to edge values, or cut/grown.
                0 | 1 | 2 => {
                    let at = 14 + rng.below(f.len() - 14);
                    f[at] ^= 1 << rng.below(8);
                }
                3 => {
                    let at = 14 + rng.below(f.len() - 14);
                    f[at] = [0, 0xff, 0x80, 0x01][rng.below(4)];
                }
                4 => f.truncate(14 + rng.below(f.len() - 14).max(1)),
                _ => f.extend(std::iter::repeat_n(0xa5u8, 1 + rng.below(16))),
            }
        }
        if !runnable(h.hook, &f) {
            continue;
        }
        h.clear_sessions();
        let before = h.counters();
        let (code, out) = h.run(&f);
        let after = h.counters();
        runs += 1;
        let moved = |i: usize| after[i] - before[i];
        let why = || format!("run {runs} (seed {seed:#x}), input {}", hex(&f));
        assert_eq!(moved(aborted), 0, "program error: {}", why());
        let verdict = Verdict::of(h.hook, code).unwrap_or_else(|| panic!("code {code}: {}", why()));
        let dropped: u64 = drops.iter().map(|&i| moved(i)).sum();
        match verdict {
            Verdict::Drop => {
                assert_eq!(dropped, 1, "a drop moves one drop counter: {}", why());
                n_drop += 1;
            }
            Verdict::Pass if passes.iter().all(|&i| moved(i) == 0) => {
                assert_eq!(hex(&out), hex(&f), "passed untouched: {}", why());
                assert_eq!(dropped, 0, "{}", why());
                n_pass += 1;
            }
            // Sent back out: an error the gateway answers with (it counts the drop) or,
            // under TC, a redirect; either way a well-formed IP packet.
            _ => {
                assert!(dropped <= 1, "{}", why());
                assert!(
                    lengths_agree(&f, &out),
                    "output lengths: {}; output {}",
                    why(),
                    hex(&out)
                );
                if dropped == 0 && l4_checksum_ok(&f) == Some(true) {
                    n_csum += 1;
                    assert_ne!(
                        l4_checksum_ok(&out),
                        Some(false),
                        "a good checksum stays good: {}; output {}",
                        why(),
                        hex(&out)
                    );
                }
            }
        }
    }
    assert!(runs > 100, "only {runs} runs in {} s", fuzz_seconds());
    assert!(
        n_drop > 0 && n_pass > 0 && n_csum > 0,
        "every check ran: {n_drop} drops, {n_pass} passes, {n_csum} checksums"
    );
    eprintln!(
        "ok: {runs} mutated frames through the {:?} program ({n_drop} dropped, {n_pass} passed \
         untouched, {n_csum} translated with a good checksum kept good)",
        h.hook
    );
}
