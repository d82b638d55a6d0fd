//! Port choice for new IPv6-initiated flows (RFC 6056 style, RFC 6146 §3.5.1.1).
//!
//! A keyed hash of the flow's IPv6 transport address picks a pool4 address and a start in
//! the port range; the data plane then probes a bounded number of candidates, claiming
//! each atomically. The sequence of candidates is a permutation of the range, so probing
//! spreads over every port and an exhausted range is detected, not looped over.
//!
//! The walk through the range uses a per-flow stride rather than linear probing: with
//! linear probing, flows whose starts fall near each other pile up into long runs of taken
//! ports, and at 70 % load about 7 % of new flows find all of their 16 candidates taken
//! (simulated); with per-flow strides the candidates behave like independent draws and
//! refusals fall to about 0.4 %, close to the ideal 0.7^16 (see the `refusals_*` test).

/// How many candidates the data plane tries before refusing a new flow.
///
/// Bounded for the verifier: each probe is an inlined hash-map insert. With per-flow
/// strides each candidate is free with probability about 1 − load, so a flow is refused
/// with probability about load^16: 1.5·10⁻⁵ at 50 % load, 0.3 % at 70 %, 2.8 % at 80 %,
/// 18 % at 90 %. Refusals therefore only start to matter above ~75 % load, the point
/// where an operator has to add pool4 addresses or widen the range anyway; doubling the
/// probes would only move that cliff a few percent (0.9^32 is still 3.4 %) at twice the
/// program size. With several pool4 addresses, consecutive attempts also visit different
/// addresses (see [`pick_address`]).
pub const MAX_PROBES: u32 = 16;

/// A keyed, well-mixing non-cryptographic hash of a flow's IPv6 transport address
/// (murmur3-style rounds and finalizer). The key keeps the choice unpredictable from
/// outside (RFC 6056 §3.3.3 asks for that); the mixing spreads neighbouring addresses.
#[inline(always)]
pub const fn flow_hash(secret: u32, addr6: &[u8; 16], port: u16, proto: u8) -> u32 {
    let mut h = secret ^ 0x9e37_79b9;
    let mut i = 0;
    while i < 4 {
        let w = u32::from_le_bytes([
            addr6[4 * i],
            addr6[4 * i + 1],
            addr6[4 * i + 2],
            addr6[4 * i + 3],
        ]);
        h = mix(h, w);
        i += 1;
    }
    h = mix(h, (port as u32) | ((proto as u32) << 16));
    fmix(h ^ 20)
}

#[inline(always)]
const fn mix(h: u32, k: u32) -> u32 {
    let k = k
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
const fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// An inclusive port range; never contains port 0 when built with [`PortRange::new`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}
const _: () = assert!(core::mem::size_of::<PortRange>() == 4);

/// Why [`PortRange::new`] refused a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRangeError {
    /// `lo > hi`.
    Empty,
    /// Port 0 means "no port" on the wire and cannot be handed out.
    IncludesZero,
}

impl PortRangeError {
    pub const fn reason(&self) -> &'static str {
        match self {
            PortRangeError::Empty => "the range is empty: its first port is above its last",
            PortRangeError::IncludesZero => "the range includes port 0, which cannot be handed out",
        }
    }
}

impl PortRange {
    #[inline(always)]
    pub const fn new(lo: u16, hi: u16) -> Result<PortRange, PortRangeError> {
        if lo > hi {
            return Err(PortRangeError::Empty);
        }
        if lo == 0 {
            return Err(PortRangeError::IncludesZero);
        }
        Ok(PortRange { lo, hi })
    }

    /// Number of ports (1..=65535).
    #[inline(always)]
    pub const fn len(&self) -> u32 {
        self.hi as u32 - self.lo as u32 + 1
    }

    #[inline(always)]
    pub const fn is_empty(&self) -> bool {
        false
    }
}

/// The `i`-th port to try for a flow whose hash is `hash` and whose IPv6 port is
/// `orig_port`.
///
/// Ordering, with `n = range.len()` and `i` taken modulo `n` (so `i` past the range wraps):
/// the range splits into the ports of `orig_port`'s parity (`n_same` of them, listed
/// upwards as S₀, S₁, …) and the others (O₀, O₁, …). Candidates `0..n_same` are
/// S\[(a + i·s) mod n_same\], then candidates `n_same..n` are O\[(b + j·t) mod n_other\] with
/// `j = i − n_same`, where `a = hash mod n_same`, `b = hash mod n_other` and the strides
/// `s`, `t` are coprime with their class size (see `stride`), so each class is walked
/// completely before the next and every port of the range appears exactly once for `i` in
/// `0..n`. The wanted parity comes first because RFC 4787 REQ-4 recommends port parity
/// preservation (RTP/RTCP pairs); a one-port range always yields that port.
///
/// The range must come from [`PortRange::new`]; anything else read from a map yields
/// `range.lo` rather than a panic.
#[inline(always)]
pub const fn candidate(hash: u32, orig_port: u16, range: PortRange, i: u32) -> u16 {
    let lo = range.lo as u32;
    let hi = range.hi as u32;
    if hi <= lo {
        // One port (or a malformed range read from a map): no choice.
        return range.lo;
    }
    let n = hi - lo + 1;
    // Ports of the wanted parity inside the range, and of the other parity; with at least
    // two ports both counts are at least 1, and neither exceeds 32768.
    let first_same = if lo % 2 == (orig_port as u32) % 2 {
        lo
    } else {
        lo + 1
    };
    let n_same = (hi - first_same) / 2 + 1;
    let n_other = n - n_same;
    let first_other = if first_same == lo { lo + 1 } else { lo };
    let i = rem(i, n);
    let port = if i < n_same {
        first_same + 2 * walk(hash, n_same, i)
    } else {
        first_other + 2 * walk(hash, n_other, i - n_same)
    };
    port as u16
}

/// Element `k` (`k < m ≤ 32768`) of the flow's walk over `0..m`: `(start + k·stride) mod m`.
/// Every product stays below 2^30, so nothing can overflow a u32.
#[inline(always)]
const fn walk(hash: u32, m: u32, k: u32) -> u32 {
    let start = rem(hash, m);
    let step = rem(k.wrapping_mul(stride(hash, m)), m);
    rem(start + step, m)
}

/// The sixteen smallest primes above 2^15. None of them divides a class size (at most
/// 32768), so each is coprime with every class size. They span only 146, so in any class
/// of more than 146 ports they reduce to sixteen distinct strides.
const STRIDES: [u32; 16] = [
    32771, 32779, 32783, 32789, 32797, 32801, 32803, 32831, 32833, 32839, 32843, 32869, 32887,
    32909, 32911, 32917,
];

/// A per-flow stride for a class of `m ≤ 32768` ports: one of [`STRIDES`], drawn from the
/// hash, reduced modulo `m`. Coprime with `m`, which makes the walk a permutation; flows
/// with different strides do not collide along the same runs. A table lookup rather than
/// arithmetic so that the data plane's sixteen unrolled probes stay branch-free here: a
/// square-and-multiply loop made the verifier's walk exceed its 1 M instruction budget.
#[inline(always)]
const fn stride(hash: u32, m: u32) -> u32 {
    let pick = (fmix(hash ^ 0x27d4_eb2f) >> 28) as usize & 15;
    rem(STRIDES[pick], m)
}

#[inline(always)]
const fn rem(a: u32, b: u32) -> u32 {
    // Spelled out with checked_rem: the divisors are never zero here, but the data plane
    // must not even contain a panic path.
    match a.checked_rem(b) {
        Some(r) => r,
        None => 0,
    }
}

/// Which pool4 address slot attempt `i` uses: consecutive attempts walk the slots from a
/// hashed start, so flows spread over every address. `n_addrs == 0` yields 0.
#[inline(always)]
pub const fn pick_address(hash: u32, n_addrs: u32, i: u32) -> u32 {
    if n_addrs == 0 {
        return 0;
    }
    // (start + step) mod n without forming start + step, which overflows a u32 once
    // n_addrs > 2^31 (found by fuzzing: a panic with overflow checks, a wrong walk without).
    let start = rem(fmix(hash ^ 0x5bd1_e995), n_addrs);
    let step = rem(i, n_addrs);
    let to_end = n_addrs - start;
    if step >= to_end {
        step - to_end
    } else {
        start + step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers(hash: u32, orig: u16, r: PortRange) {
        let n = r.len() as usize;
        let mut seen = vec![false; n];
        for i in 0..n as u32 {
            let p = candidate(hash, orig, r, i);
            assert!((r.lo..=r.hi).contains(&p), "{p} outside {r:?}");
            let k = (p - r.lo) as usize;
            assert!(!seen[k], "{p} twice for {r:?} hash {hash}");
            seen[k] = true;
        }
    }

    #[test]
    fn candidates_are_a_permutation_of_the_range() {
        for (lo, hi) in [
            (5000, 5000),
            (5000, 5001),
            (5000, 5002),
            (1, 3),
            (61001, 65535),
            (1024, 1100),
        ] {
            let r = PortRange::new(lo, hi).unwrap();
            for hash in [0u32, 1, 7, 0xdead_beef, u32::MAX] {
                for orig in [0u16, 1, 40000, 40001] {
                    covers(hash, orig, r);
                }
            }
        }
        // The full range, sampled by its size.
        let full = PortRange::new(1, 65535).unwrap();
        assert_eq!(full.len(), 65535);
        covers(0x1234_5678, 3, full);
    }

    #[test]
    fn parity_of_the_source_port_comes_first() {
        let r = PortRange::new(61001, 65535).unwrap();
        // 61002..=65534 holds 2267 even ports, 61001..=65535 holds 2268 odd ones.
        for (orig, n_same) in [(40000u16, 2267u32), (40001, 2268)] {
            for i in 0..r.len() {
                let want = if i < n_same { orig % 2 } else { 1 - orig % 2 };
                assert_eq!(candidate(0xabcdef, orig, r, i) % 2, want, "candidate {i}");
            }
        }
        // A one-port range has no choice.
        assert_eq!(
            candidate(99, 1, PortRange::new(6100, 6100).unwrap(), 0),
            6100
        );
        assert_eq!(
            candidate(99, 1, PortRange::new(6100, 6100).unwrap(), 15),
            6100
        );
    }

    #[test]
    fn ranges_are_validated() {
        assert_eq!(PortRange::new(10, 5), Err(PortRangeError::Empty));
        assert_eq!(PortRange::new(0, 5), Err(PortRangeError::IncludesZero));
        assert_eq!(PortRange::new(7, 7).map(|r| r.len()), Ok(1));
    }

    #[test]
    fn hash_spreads_neighbouring_sources() {
        let mut buckets = [0u32; 64];
        for n in 0u32..10_000 {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[12..].copy_from_slice(&n.to_be_bytes());
            buckets[(flow_hash(42, &a, 5000, 17) % 64) as usize] += 1;
        }
        let mean = 10_000 / 64;
        assert!(
            buckets.iter().all(|&b| b < 3 * mean && b > mean / 3),
            "{buckets:?}"
        );
        // The key changes the choice.
        let a = [1u8; 16];
        assert_ne!(flow_hash(1, &a, 1, 6), flow_hash(2, &a, 1, 6));
        // So do port and protocol.
        assert_ne!(flow_hash(1, &a, 1, 6), flow_hash(1, &a, 2, 6));
        assert_ne!(flow_hash(1, &a, 1, 6), flow_hash(1, &a, 1, 17));
    }

    /// Sources that differ only in their /64 prefix (bytes 4..8), or only in the port,
    /// spread as evenly: every one of 64 buckets within ±40 % of the mean (±5 σ).
    #[test]
    fn hash_spreads_prefixes_and_ports() {
        let mut by_prefix = [0u32; 64];
        let mut by_port = [0u32; 64];
        for n in 0u32..10_000 {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            a[4..8].copy_from_slice(&n.to_be_bytes());
            by_prefix[(flow_hash(42, &a, 5000, 6) % 64) as usize] += 1;
            by_port[(flow_hash(42, &[9; 16], n as u16, 6) % 64) as usize] += 1;
        }
        let mean = 10_000 / 64;
        for b in [by_prefix, by_port] {
            assert!(
                b.iter().all(|&c| c * 10 > mean * 6 && c * 10 < mean * 14),
                "{b:?}"
            );
        }
    }

    #[test]
    fn attempts_walk_every_address() {
        for n in [1u32, 2, 3, 7, 256] {
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let s = pick_address(0xfeed, n, i);
                assert!(s < n);
                seen[s as usize] = true;
            }
            assert!(seen.iter().all(|&x| x), "n={n}");
        }
        assert_eq!(pick_address(5, 0, 3), 0);
        // Different flows start on different addresses.
        let starts: std::collections::HashSet<u32> =
            (0..1000u32).map(|h| pick_address(fmix(h), 8, 0)).collect();
        assert_eq!(starts.len(), 8);
    }

    /// Small deterministic generator for test inputs (xorshift32).
    fn rng(seed: u32) -> impl FnMut() -> u32 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        }
    }

    #[test]
    fn many_ranges_are_permuted_and_wrap() {
        let mut r = rng(0x5eed);
        for _ in 0..300 {
            let lo = (r() % 65535 + 1) as u16;
            let len = r() % 700;
            let hi = (u32::from(lo) + len).min(65535) as u16;
            let range = PortRange::new(lo, hi).unwrap();
            let (hash, orig) = (r(), r() as u16);
            covers(hash, orig, range);
            // Past the range the sequence starts over.
            let n = range.len();
            for i in [0, 1, n / 2, n - 1] {
                assert_eq!(
                    candidate(hash, orig, range, i + n),
                    candidate(hash, orig, range, i)
                );
            }
        }
        // Sizes 1, 2 and 3 starting on either parity, with every small hash.
        for lo in [1u16, 2, 1000, 1001, 65533] {
            for len in 0..3u16 {
                let Ok(range) = PortRange::new(lo, lo.saturating_add(len)) else {
                    continue;
                };
                for hash in 0..64 {
                    covers(hash, 0, range);
                    covers(hash, 1, range);
                }
            }
        }
        // The widest range: sample candidates far into the walk.
        let full = PortRange::new(1, 65535).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in (0..65535).step_by(97) {
            let p = candidate(0xfeed_f00d, 2, full, i);
            assert!(p >= 1);
            assert!(seen.insert(p), "{p} proposed twice");
        }
    }

    /// The documented order: all ports of the wanted parity first, each class walked as an
    /// arithmetic progression (constant step modulo the class size) from a hashed start.
    #[test]
    fn order_is_parity_class_then_strided_walk() {
        let mut r = rng(77);
        for (lo, hi) in [(61001u16, 65535u16), (1024, 65535), (5000, 5009), (4, 4099)] {
            let range = PortRange::new(lo, hi).unwrap();
            for _ in 0..20 {
                let (hash, orig) = (r(), r() as u16);
                let n = range.len();
                let first_same = if lo % 2 == orig % 2 { lo } else { lo + 1 };
                let n_same = (u32::from(hi) - u32::from(first_same)) / 2 + 1;
                let ports: Vec<u32> = (0..n)
                    .map(|i| u32::from(candidate(hash, orig, range, i)))
                    .collect();
                for (i, &p) in ports.iter().enumerate() {
                    let same = (i as u32) < n_same;
                    assert_eq!(
                        p % 2 == u32::from(orig % 2),
                        same,
                        "candidate {i} of {range:?}"
                    );
                }
                for (class, m) in [
                    (&ports[..n_same as usize], n_same),
                    (&ports[n_same as usize..], n - n_same),
                ] {
                    let first = *class.iter().min().unwrap();
                    let idx: Vec<u32> = class.iter().map(|&p| (p - first) / 2).collect();
                    assert_eq!(idx[0], hash % m, "the walk starts at hash mod class size");
                    if m > 1 {
                        let step = (idx[1] + m - idx[0]) % m;
                        for w in idx.windows(2) {
                            assert_eq!((w[1] + m - w[0]) % m, step);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn flows_get_different_strides() {
        // 2267 ports per class: larger than the spread of STRIDES, so every entry of the
        // table gives its own step.
        let range = PortRange::new(10_000, 10_000 + 2 * 2267 - 1).unwrap();
        let steps: std::collections::HashSet<u32> = (0..1000u32)
            .map(|k| {
                let h = flow_hash(9, &[7; 16], k as u16, 17);
                let a = u32::from(candidate(h, 0, range, 0));
                let b = u32::from(candidate(h, 0, range, 1));
                ((b + 2 * 2267 - a) / 2) % 2267
            })
            .collect();
        assert_eq!(steps.len(), 16, "one stride per STRIDES entry");
        assert!(!steps.contains(&1), "a stride of 1 is linear probing");
    }

    /// Fill one pool4 address's parity class to 70 % the way the data plane does (first
    /// free candidate among MAX_PROBES), then count how many new flows find every candidate
    /// taken. Independent draws would refuse 0.7^16 ≈ 0.33 %; linear probing refuses about
    /// 7 % here, so the bound of 1.5 % tells the two apart.
    #[test]
    fn refusals_stay_near_independent_draws() {
        let range = PortRange::new(61001, 65535).unwrap();
        let n_even = 2267usize; // 61002..=65534
        let mut taken = vec![false; 65536];
        let mut flows = 0u32;
        let mut next_flow = |taken: &mut Vec<bool>| -> bool {
            flows += 1;
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[8..12].copy_from_slice(&flows.to_be_bytes());
            let h = flow_hash(0x1234_5678, &a, 40000, 17);
            for i in 0..MAX_PROBES {
                let p = usize::from(candidate(h, 40000, range, i));
                assert_eq!(p % 2, 0);
                if !taken[p] {
                    taken[p] = true;
                    return true;
                }
            }
            false
        };
        let mut used = 0;
        while used * 10 < n_even * 7 {
            if next_flow(&mut taken) {
                used += 1;
            }
        }
        let trials = 20_000;
        let mut refused = 0;
        for _ in 0..trials {
            let mut scratch = taken.clone();
            if !next_flow(&mut scratch) {
                refused += 1;
            }
        }
        assert!(
            refused * 1000 < trials * 15,
            "{refused} of {trials} new flows refused at 70 % load"
        );
        assert!(refused > 0, "a 70 % full class must refuse some flows");
    }

    /// Fuzzer crash (fuzz/fuzz_targets/xlat_core.rs, `ports`): with more than 2^31 slots
    /// the start and the step added up past u32::MAX.
    #[test]
    fn huge_slot_counts_do_not_overflow() {
        let (hash, n, i) = (0x00b9_fcfc, 0xfcfc_fcfc, 0xfcfc_fcfc);
        let s = pick_address(hash, n, i);
        assert!(s < n);
        // Still a walk over consecutive slots, wrapping at n.
        let start = pick_address(hash, n, 0);
        assert_eq!(
            u64::from(s),
            (u64::from(start) + u64::from(i % n)) % u64::from(n)
        );
        assert_eq!(pick_address(hash, n, i + 1), (s + 1) % n);
        for n in [u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) + 1] {
            for i in [0, 1, n - 1, u32::MAX] {
                let s = pick_address(hash, n, i);
                let start = pick_address(hash, n, 0);
                assert!(s < n);
                assert_eq!(
                    u64::from(s),
                    (u64::from(start) + u64::from(i % n)) % u64::from(n)
                );
            }
        }
    }
}
