//! Port choice for new IPv6-initiated flows (RFC 6056 style, RFC 6146 §3.5.1.1).
//!
//! A keyed hash of the flow's IPv6 transport address picks a pool4 address and a start in
//! the port range; the data plane then probes a bounded number of candidates, claiming
//! each atomically. The sequence of candidates is a permutation of the range, so probing
//! spreads over every port and an exhausted range is detected, not looped over.

/// How many candidates the data plane tries before refusing a new flow. Bounded for the
/// verifier; 16 keeps the refusal probability negligible until the range is more than
/// ~80 % full (each probe hits a free port with probability 1 − load).
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

/// An inclusive port range; never contains port 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}
const _: () = assert!(core::mem::size_of::<PortRange>() == 4);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRangeError {
    Empty,
    IncludesZero,
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
/// Ordering: linear probing from a hashed start, walking the ports of `orig_port`'s parity
/// first (RFC 4787 REQ-? / RFC 6146: keep RTP/RTCP pairs' parity) and then the others; for
/// `i` in `0..range.len()` every port of the range appears exactly once. `i` beyond the
/// range wraps around.
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
    // two ports both counts are at least 1.
    let first_same = if lo % 2 == (orig_port as u32) % 2 {
        lo
    } else {
        lo + 1
    };
    let n_same = (hi - first_same) / 2 + 1;
    let n_other = n - n_same;
    let first_other = if first_same == lo { lo + 1 } else { lo };
    // Remainders spelled out with checked_rem: the divisors are never zero here, but the
    // data plane must not even contain a panic path.
    let i = rem(i, n);
    let port = if i < n_same {
        first_same + 2 * rem(rem(hash, n_same) + i, n_same)
    } else {
        first_other + 2 * rem(rem(hash, n_other) + (i - n_same), n_other)
    };
    port as u16
}

#[inline(always)]
const fn rem(a: u32, b: u32) -> u32 {
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
    rem(
        rem(fmix(hash ^ 0x5bd1_e995), n_addrs) + rem(i, n_addrs),
        n_addrs,
    )
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
        let n_even = (61002..=65534).step_by(2).count() as u32;
        for orig in [40000u16, 40001] {
            for i in 0..n_even {
                assert_eq!(
                    candidate(0xabcdef, orig, r, i) % 2,
                    orig % 2,
                    "candidate {i}"
                );
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
}
