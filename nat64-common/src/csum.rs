//! Internet checksum arithmetic (RFC 1071, incremental update per RFC 1624).
//!
//! Conventions used throughout:
//! - A *partial sum* is a `u32` holding a one's-complement sum of big-endian 16-bit words
//!   that has not been folded yet. Only its value modulo 0xffff matters.
//! - A *checksum field* is the inverted, folded 16-bit value stored in a header.
//!
//! Bounds: `add_bytes16` returns at most 8·0xffff (< 2^19), `add_bytes4` and `pseudo_v4`
//! at most 6·0xffff, `pseudo_v6` at most 19·0xffff (< 2^21). Callers may therefore combine
//! up to 2^11 such partial sums with a plain `+` without overflowing a `u32`; [`add`] and
//! [`add_u16`] use an end-around carry and are correct for *any* inputs.

/// Fold a partial sum to 16 bits with end-around carry. Not inverted.
///
/// Returns 0 only for `sum == 0`; any other value that is ≡ 0 (mod 0xffff) folds to 0xffff.
#[inline(always)]
pub const fn fold(sum: u32) -> u16 {
    // Two rounds suffice for any u32: after the first the value is ≤ 0x1_fffe.
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Add two partial sums in one's-complement arithmetic (end-around carry), so the result
/// is exact modulo 0xffff even when the `u32` addition would overflow.
#[inline(always)]
pub const fn add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    // On overflow s ≤ b − 1 < u32::MAX, so adding the carry back cannot overflow again.
    s + carry as u32
}

/// Add one 16-bit word to a partial sum.
#[inline(always)]
pub const fn add_u16(sum: u32, word: u16) -> u32 {
    add(sum, word as u32)
}

/// Partial sum of a 4-byte field (an IPv4 address). At most 2·0xffff.
#[inline(always)]
pub const fn add_bytes4(b: &[u8; 4]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32 + u16::from_be_bytes([b[2], b[3]]) as u32
}

/// Partial sum of a 16-byte field (an IPv6 address). At most 8·0xffff.
#[inline(always)]
pub const fn add_bytes16(b: &[u8; 16]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32
        + u16::from_be_bytes([b[2], b[3]]) as u32
        + u16::from_be_bytes([b[4], b[5]]) as u32
        + u16::from_be_bytes([b[6], b[7]]) as u32
        + u16::from_be_bytes([b[8], b[9]]) as u32
        + u16::from_be_bytes([b[10], b[11]]) as u32
        + u16::from_be_bytes([b[12], b[13]]) as u32
        + u16::from_be_bytes([b[14], b[15]]) as u32
}

/// Partial sum of the IPv4 pseudo-header (RFC 793/768): source, destination, zero byte +
/// protocol, and the transport length (TCP/UDP header + data).
#[inline(always)]
pub const fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    add_bytes4(&src) + add_bytes4(&dst) + proto as u32 + len as u32
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length, three zero bytes + next header (the upper-layer protocol, not
/// that of an extension header).
#[inline(always)]
pub const fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    add_bytes16(src) + add_bytes16(dst) + (len >> 16) + (len & 0xffff) + next_header as u32
}

/// What a translated transport checksum covers on each side, beyond the header itself:
/// `(v6, v4)`. TCP and UDP: the two addresses of each family (protocol and length are the
/// same on both sides). ICMP echo: the whole ICMPv6 pseudo-header on the IPv6 side and
/// nothing on the IPv4 side, which has none. 6→4 removes `v6` and adds `v4`, 4→6 the
/// reverse (the flows and the packets ICMP errors quote alike).
#[inline(always)]
pub const fn family_sums(
    echo: bool,
    a6: &[u8; 16],
    b6: &[u8; 16],
    a4: &[u8; 4],
    b4: &[u8; 4],
    l4_len: u32,
) -> (u32, u32) {
    if echo {
        (pseudo_v6(a6, b6, 58, l4_len), 0)
    } else {
        (
            add_bytes16(a6) + add_bytes16(b6),
            add_bytes4(a4) + add_bytes4(b4),
        )
    }
}

/// Incrementally update a stored checksum field when fields whose partial sum is `remove`
/// are replaced by fields whose partial sum is `add` — RFC 1624 eqn. 3:
/// `HC' = ~(~HC + ~m + m')`.
///
/// Because the arithmetic works on whatever `csum` holds, a packet whose checksum was
/// wrong stays wrong by exactly the same amount: the translator never "repairs"
/// corrupted data (test `wrong_checksum_stays_wrong_by_same_amount`).
///
/// Zero representation: the result is in 0x0000..=0xfffe — identical to what a full
/// RFC 1071 recomputation gives for a correctly checksummed packet (a zero residue comes
/// out as 0x0000) — with one degenerate exception: `update(0xffff, r, 0)` with
/// `fold(r) == 0xffff` returns 0xffff. An incoming 0xffff may thus come out as 0x0000;
/// both are one's-complement zero and verify identically. For UDP pass the result through
/// [`udp_finalize`], because 0x0000 there means "no checksum".
#[inline(always)]
pub const fn update(csum: u16, remove: u32, add: u32) -> u16 {
    let sum = (!csum) as u32 + (!fold(remove)) as u32 + fold(add) as u32;
    !fold(sum)
}

/// Checksum field to transmit for UDP: a computed 0x0000 is sent as 0xffff (RFC 768;
/// RFC 8200 §8.1), because 0x0000 means "no checksum" in IPv4 and is invalid in IPv6.
#[inline(always)]
pub const fn udp_finalize(csum: u16) -> u16 {
    if csum == 0 {
        0xffff
    } else {
        csum
    }
}

/// Partial sum over a byte slice (odd trailing byte padded with zero), added to `initial`.
///
/// Host-side only (tests, fuzzing, userspace): the loop length depends on the data, so the
/// data plane does not use it.
pub fn sum_bytes(data: &[u8], initial: u32) -> u32 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = add_u16(sum, u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum = add_u16(sum, u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// Full RFC 1071 checksum (the inverted value to store) over `data`, starting from the
/// partial sum `initial` (e.g. a pseudo-header). Host-side only, see [`sum_bytes`].
pub fn checksum(data: &[u8], initial: u32) -> u16 {
    !fold(sum_bytes(data, initial))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic PRNG so the tests need no dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 24) as u8
        }
        fn fill<const N: usize>(&mut self) -> [u8; N] {
            let mut a = [0u8; N];
            for b in a.iter_mut() {
                *b = self.byte();
            }
            a
        }
    }

    /// Residue of a received packet's verification sum: 0xffff (≡ 0 after inversion) when
    /// the checksum is right; anything else measures how wrong it is.
    fn verify(pseudo: u32, segment: &[u8]) -> u16 {
        fold(sum_bytes(segment, pseudo))
    }

    /// Normalise a one's-complement value modulo 0xffff (0xffff ≡ 0).
    fn residue(x: u16) -> u16 {
        if x == 0xffff {
            0
        } else {
            x
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2; the checksum field
        // is the complement, 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_bytes(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data, 0), 0x220d);
        // Verifying data + checksum yields all ones.
        let mut with = data.to_vec();
        with.extend_from_slice(&0x220du16.to_be_bytes());
        assert_eq!(fold(sum_bytes(&with, 0)), 0xffff);
    }

    #[test]
    fn fold_and_add_edges() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(u32::MAX), 0xffff);
        assert_eq!(fold(0x0001_0002), 3);
        // End-around carry: u32::MAX + 2 ≡ 0xffff + 2 ≡ 2 (mod 0xffff).
        assert_eq!(add(u32::MAX, 2), 2);
        assert_eq!(fold(add(u32::MAX, 2)), 2);
        assert_eq!(add_u16(0xffff_ffff, 0xffff), 0xffff);
        assert_eq!(odd_len_checksum(), 0xffff - 0xab00);
        assert_eq!(udp_finalize(0), 0xffff);
        assert_eq!(udp_finalize(0x1234), 0x1234);
        assert_eq!(udp_finalize(0xffff), 0xffff);
    }

    fn odd_len_checksum() -> u16 {
        checksum(&[0xab], 0)
    }

    #[test]
    fn field_helpers_match_slice_sum() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..1000 {
            let a4: [u8; 4] = rng.fill();
            let a16: [u8; 16] = rng.fill();
            assert_eq!(fold(add_bytes4(&a4)), fold(sum_bytes(&a4, 0)));
            assert_eq!(fold(add_bytes16(&a16)), fold(sum_bytes(&a16, 0)));
        }
        // All-ones worst cases stay within the documented bounds.
        assert_eq!(add_bytes16(&[0xff; 16]), 8 * 0xffff);
        assert_eq!(
            pseudo_v6(&[0xff; 16], &[0xff; 16], 0xff, u32::MAX),
            18 * 0xffff + 0xff
        );
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let s4 = [192, 0, 2, 1];
        let d4 = [198, 51, 100, 7];
        let mut p4 = Vec::new();
        p4.extend_from_slice(&s4);
        p4.extend_from_slice(&d4);
        p4.extend_from_slice(&[0, 17]);
        p4.extend_from_slice(&1234u16.to_be_bytes());
        assert_eq!(fold(pseudo_v4(s4, d4, 17, 1234)), fold(sum_bytes(&p4, 0)));

        let s6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let d6 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7];
        let mut p6 = Vec::new();
        p6.extend_from_slice(&s6);
        p6.extend_from_slice(&d6);
        p6.extend_from_slice(&0x0001_2345u32.to_be_bytes());
        p6.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            fold(pseudo_v6(&s6, &d6, 58, 0x0001_2345)),
            fold(sum_bytes(&p6, 0))
        );
    }

    #[test]
    fn incremental_update_equals_full_recomputation() {
        let mut rng = XorShift(0x0123_4567_89ab_cdef);
        for round in 0..5000 {
            // A random segment with a random 16-byte field at offset 8 that gets replaced.
            let len = 24 + (rng.next() % 60) as usize;
            let mut seg: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            seg[2] = 0;
            seg[3] = 0;
            let pseudo = rng.next() as u32 & 0x00ff_ffff;
            let c = checksum(&seg, pseudo);
            seg[2..4].copy_from_slice(&c.to_be_bytes());
            assert_eq!(verify(pseudo, &seg), 0xffff);

            let old: [u8; 16] = seg[8..24].try_into().unwrap();
            let new: [u8; 16] = if round % 7 == 0 { old } else { rng.fill() };
            let upd = update(c, add_bytes16(&old), add_bytes16(&new));
            seg[8..24].copy_from_slice(&new);
            seg[2] = 0;
            seg[3] = 0;
            let full = checksum(&seg, pseudo);
            // Full computation never yields 0xffff for data that is not all zero, and
            // the incremental update must produce the very same value.
            assert_eq!(upd, full, "round {round}");
        }
    }

    #[test]
    fn update_zero_representation() {
        // A field whose true value has residue 0 comes out as 0x0000 (like RFC 1071).
        // Old sum 0x0001 → checksum 0xfffe; replace word 0x0001 by 0xffff → sum ≡ 0.
        assert_eq!(update(0xfffe, 0x0001, 0xffff), 0x0000);
        // No-op update keeps ordinary values…
        assert_eq!(update(0x1234, 0x5555, 0x5555), 0x1234);
        // …and turns the other zero, 0xffff, into 0x0000 (equivalent on the wire).
        assert_eq!(update(0xffff, 0x5555, 0x5555), 0x0000);
        // The documented degenerate case.
        assert_eq!(update(0xffff, 0xffff, 0), 0xffff);
        // For UDP the caller maps 0 to 0xffff.
        assert_eq!(udp_finalize(update(0xfffe, 0x0001, 0xffff)), 0xffff);
    }

    #[test]
    fn wrong_checksum_stays_wrong_by_same_amount() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for _ in 0..5000 {
            let mut seg: [u8; 40] = rng.fill();
            let pseudo = rng.next() as u32 & 0xffff;
            seg[2] = 0;
            seg[3] = 0;
            let good = checksum(&seg, pseudo);
            let err = (rng.next() as u16) | 1; // a non-zero corruption
            let bad = fold(good as u32 + err as u32);
            if residue(bad) == residue(good) {
                continue;
            }
            seg[2..4].copy_from_slice(&bad.to_be_bytes());
            let before = residue(verify(pseudo, &seg));
            assert_ne!(before, 0, "corrupted checksum must not verify");

            // Translate: replace an IPv4-sized pseudo-header by an IPv6-sized one.
            let new_pseudo = rng.next() as u32 & 0x000f_ffff;
            let upd = update(bad, pseudo, new_pseudo);
            seg[2..4].copy_from_slice(&upd.to_be_bytes());
            let after = residue(verify(new_pseudo, &seg));
            assert_eq!(before, after, "the error must be carried over, not fixed");
        }
    }

    /// Build a UDP/TCP-like segment with a correct checksum under `pseudo`.
    fn segment_with_checksum(
        rng: &mut XorShift,
        pseudo: u32,
        csum_off: usize,
        len: usize,
    ) -> Vec<u8> {
        let mut seg: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        seg[csum_off] = 0;
        seg[csum_off + 1] = 0;
        let c = checksum(&seg, pseudo);
        seg[csum_off..csum_off + 2].copy_from_slice(&c.to_be_bytes());
        seg
    }

    #[test]
    fn v4_v6_pseudo_header_swap_tcp_udp() {
        let mut rng = XorShift(42);
        for i in 0..2000 {
            let (proto, csum_off) = if i % 2 == 0 {
                (6u8, 16usize)
            } else {
                (17u8, 6usize)
            };
            let len = 20 + (rng.next() % 100) as usize;
            let s4: [u8; 4] = rng.fill();
            let d4: [u8; 4] = rng.fill();
            let s6: [u8; 16] = rng.fill();
            let d6: [u8; 16] = rng.fill();
            let p4 = pseudo_v4(s4, d4, proto, len as u16);
            let p6 = pseudo_v6(&s6, &d6, proto, len as u32);
            let mut seg = segment_with_checksum(&mut rng, p4, csum_off, len);
            let c4 = u16::from_be_bytes([seg[csum_off], seg[csum_off + 1]]);

            // 4 → 6: only the addresses differ (protocol and length are equal).
            let mut c6 = update(
                c4,
                add_bytes4(&s4) + add_bytes4(&d4),
                add_bytes16(&s6) + add_bytes16(&d6),
            );
            if proto == 17 {
                c6 = udp_finalize(c6);
            }
            seg[csum_off..csum_off + 2].copy_from_slice(&c6.to_be_bytes());
            assert_eq!(verify(p6, &seg), 0xffff);

            // and back 6 → 4 (the same update with the roles swapped).
            let mut back = update(
                c6,
                add_bytes16(&s6) + add_bytes16(&d6),
                add_bytes4(&s4) + add_bytes4(&d4),
            );
            if proto == 17 {
                back = udp_finalize(back);
            }
            seg[csum_off..csum_off + 2].copy_from_slice(&back.to_be_bytes());
            assert_eq!(verify(p4, &seg), 0xffff);
        }
    }

    #[test]
    fn icmp_pseudo_header_added_and_removed() {
        let mut rng = XorShift(7);
        for _ in 0..2000 {
            let len = 8 + (rng.next() % 64) as usize;
            let s6: [u8; 16] = rng.fill();
            let d6: [u8; 16] = rng.fill();
            // ICMPv4 echo request: type 8 code 0, checksum over the message only.
            let mut msg = segment_with_checksum(&mut rng, 0, 2, len);
            msg[0] = 8;
            msg[1] = 0;
            msg[2] = 0;
            msg[3] = 0;
            let c4 = checksum(&msg, 0);
            msg[2..4].copy_from_slice(&c4.to_be_bytes());

            // 4 → 6: type 8 → 128, and the ICMPv6 pseudo-header appears.
            let p6 = pseudo_v6(&s6, &d6, 58, len as u32);
            let c6 = update(c4, 0x0800, add(p6, 0x8000));
            msg[0] = 128;
            msg[2..4].copy_from_slice(&c6.to_be_bytes());
            assert_eq!(verify(p6, &msg), 0xffff);
            assert_eq!(c6, checksum(&[&msg[..2], &[0, 0], &msg[4..]].concat(), p6));

            // 6 → 4: type 128 → 8 and the pseudo-header disappears.
            let back = update(c6, add(p6, 0x8000), 0x0800);
            msg[0] = 8;
            msg[2..4].copy_from_slice(&back.to_be_bytes());
            assert_eq!(verify(0, &msg), 0xffff);
            assert_eq!(back, c4);
        }
    }

    #[test]
    fn family_sums_move_a_checksum_between_families() {
        let mut rng = XorShift(99);
        for i in 0..2000 {
            let len = 20 + (rng.next() % 100) as usize;
            let s4: [u8; 4] = rng.fill();
            let d4: [u8; 4] = rng.fill();
            let s6: [u8; 16] = rng.fill();
            let d6: [u8; 16] = rng.fill();
            // UDP 4 -> 6 and TCP 6 -> 4: the pairs are what the swap test spells out.
            let (proto, csum_off) = if i % 2 == 0 { (17u8, 6usize) } else { (6, 16) };
            let (v6, v4) = family_sums(false, &s6, &d6, &s4, &d4, len as u32);
            let p4 = pseudo_v4(s4, d4, proto, len as u16);
            let p6 = pseudo_v6(&s6, &d6, proto, len as u32);
            let mut seg = segment_with_checksum(&mut rng, p4, csum_off, len);
            let c4 = u16::from_be_bytes([seg[csum_off], seg[csum_off + 1]]);
            let c6 = udp_finalize(update(c4, v4, v6));
            seg[csum_off..csum_off + 2].copy_from_slice(&c6.to_be_bytes());
            assert_eq!(verify(p6, &seg), 0xffff);
            // Echo: the ICMPv6 pseudo-header is all the IPv6 side has, the IPv4 side none.
            let (e6, e4) = family_sums(true, &s6, &d6, &s4, &d4, len as u32);
            assert_eq!((e6, e4), (pseudo_v6(&s6, &d6, 58, len as u32), 0));
        }
    }
}
