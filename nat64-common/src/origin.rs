//! ICMP errors the gateway originates itself (as a router would): Time Exceeded when the
//! hop limit / TTL runs out, Packet Too Big / Fragmentation Needed when a translated packet
//! does not fit the egress link, Destination Unreachable when a flow is refused (address
//! unreachable for IPv6 flows, administratively prohibited for filtered IPv4 ones). The pure parts: headers, MTU values, which packets may be
//! answered, the rate limiter's token bucket and the RFC 6791 source choice.
use crate::{csum, icmp};

/// What the gateway answers a packet with (`Outcome::Originate` in the data plane).
pub const ORIGIN_TIME_EXCEEDED6: u8 = 1;
pub const ORIGIN_TIME_EXCEEDED4: u8 = 2;
pub const ORIGIN_PACKET_TOO_BIG: u8 = 3;
pub const ORIGIN_FRAG_NEEDED: u8 = 4;
/// ICMPv6 Destination Unreachable, code 3 (address unreachable): what RFC 6146 §3.5.1.1
/// and §3.5.2.2 say a NAT64 SHOULD send when it cannot create a binding or session.
pub const ORIGIN_ADDRESS_UNREACHABLE6: u8 = 5;
/// ICMPv4 Destination Unreachable, code 13 (communication administratively prohibited).
pub const ORIGIN_ADMIN_PROHIBITED4: u8 = 6;

/// Whether `kind` is answered with ICMPv6 (else ICMPv4).
#[inline(always)]
pub const fn is_v6(kind: u8) -> bool {
    matches!(
        kind,
        ORIGIN_TIME_EXCEEDED6 | ORIGIN_PACKET_TOO_BIG | ORIGIN_ADDRESS_UNREACHABLE6
    )
}

/// Hop limit / TTL of the errors the gateway sends.
pub const ERROR_HOP_LIMIT: u8 = 64;
pub const ICMP_HLEN: usize = 8;
/// IPv6 header + ICMPv6 header prepended to the quoted packet.
pub const V6_PREPEND: usize = 48;
/// IPv4 header + ICMPv4 header prepended to the quoted packet.
pub const V4_PREPEND: usize = 28;
/// RFC 4443 §2.4 (c): the whole ICMPv6 error fits the IPv6 minimum MTU.
pub const V6_ERROR_MAX: usize = 1280;
/// RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes.
pub const V4_ERROR_MAX: usize = 576;

/// Bytes of the offending packet (`ip_len`: its IP header and payload) an error quotes.
#[inline(always)]
pub const fn quote_len(kind: u8, ip_len: usize) -> usize {
    let max = if is_v6(kind) {
        V6_ERROR_MAX - V6_PREPEND
    } else {
        V4_ERROR_MAX - V4_PREPEND
    };
    if ip_len < max {
        ip_len
    } else {
        max
    }
}

/// ICMP type, code and bytes 4–7 of the error; `mtu` only for the size errors.
#[inline(always)]
pub const fn icmp_header(kind: u8, mtu: u32) -> [u8; 8] {
    let (ty, code) = match kind {
        ORIGIN_TIME_EXCEEDED6 => (icmp::ICMPV6_TIME_EXCEEDED, 0),
        ORIGIN_TIME_EXCEEDED4 => (icmp::ICMPV4_TIME_EXCEEDED, 0),
        ORIGIN_PACKET_TOO_BIG => (icmp::ICMPV6_PACKET_TOO_BIG, 0),
        ORIGIN_FRAG_NEEDED => (icmp::ICMPV4_DEST_UNREACH, 4),
        ORIGIN_ADDRESS_UNREACHABLE6 => (icmp::ICMPV6_DEST_UNREACH, 3),
        _ => (icmp::ICMPV4_DEST_UNREACH, 13),
    };
    let m = match kind {
        // 32-bit MTU field.
        ORIGIN_PACKET_TOO_BIG => mtu.to_be_bytes(),
        // RFC 1191: the low 16 bits are the Next-Hop MTU.
        ORIGIN_FRAG_NEEDED => {
            let m = (if mtu > 0xffff { 0xffff } else { mtu } as u16).to_be_bytes();
            [0, 0, m[0], m[1]]
        }
        _ => [0; 4],
    };
    [ty, code, 0, 0, m[0], m[1], m[2], m[3]]
}

/// MTU a Packet Too Big announces for an IPv4 egress link of `mtu4` (the IPv6 header is
/// 20 bytes longer), never below the IPv6 minimum: packets up to 1280 bytes translate to
/// at most 1260 and leave with DF = 0, so IPv4 routers fragment them (RFC 7915 §5.1).
#[inline(always)]
pub const fn ptb_mtu(mtu4: u32) -> u32 {
    let m = mtu4.saturating_add(20);
    if m < 1280 {
        1280
    } else {
        m
    }
}

/// Next-Hop MTU a Fragmentation Needed announces for an IPv6 egress link of `mtu6`.
#[inline(always)]
pub const fn frag_needed_mtu(mtu6: u32) -> u32 {
    let m = mtu6.saturating_sub(20);
    if m > 0xffff {
        0xffff
    } else {
        m
    }
}

/// The IPv6 header of an error to `dst` carrying an ICMPv6 message of `icmp_len` bytes.
#[inline(always)]
pub const fn ipv6_header(src: &[u8; 16], dst: &[u8; 16], icmp_len: u16) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    let l = icmp_len.to_be_bytes();
    h[4] = l[0];
    h[5] = l[1];
    h[6] = crate::maps::PROTO_ICMPV6;
    h[7] = ERROR_HOP_LIMIT;
    let mut i = 0;
    while i < 16 {
        h[8 + i] = src[i];
        h[24 + i] = dst[i];
        i += 1;
    }
    h
}

/// The IPv4 header (with its checksum) of an error to `dst` carrying an ICMPv4 message of
/// `icmp_len` bytes. DF = 0, identification 0 (it is never fragmented: ≤ 576 bytes).
#[inline(always)]
pub const fn ipv4_header(src: [u8; 4], dst: [u8; 4], icmp_len: u16) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    let l = (icmp_len + 20).to_be_bytes();
    h[2] = l[0];
    h[3] = l[1];
    h[8] = ERROR_HOP_LIMIT;
    h[9] = 1;
    let mut i = 0;
    while i < 4 {
        h[12 + i] = src[i];
        h[16 + i] = dst[i];
        i += 1;
    }
    let c = (!csum::fold(csum::add(
        csum::add(csum::add_bytes4(&src), csum::add_bytes4(&dst)),
        0x4500 + (icmp_len as u32 + 20) + ((ERROR_HOP_LIMIT as u32) << 8) + 1,
    )))
    .to_be_bytes();
    h[10] = c[0];
    h[11] = c[1];
    h
}

/// RFC 4443 §2.4 (e) / RFC 1812 §4.3.2.7: no error about a packet whose source is not a
/// unicast address of some other node (unspecified, loopback, IPv4-mapped, multicast).
#[inline(always)]
pub const fn may_answer_v6(src: &[u8; 16]) -> bool {
    if src[0] == 0xff {
        return false;
    }
    // The unspecified address and ::1, which never leaves its node (RFC 4291 §2.5.3):
    // all zero but for the last byte, 0 or 1.
    let mut i = 0;
    while i < 15 {
        if src[i] != 0 {
            break;
        }
        i += 1;
    }
    if i == 15 {
        return src[15] > 1;
    }
    // IPv4-mapped (::ffff:0:0/96): an IPv4 host's address, never an IPv6 source on the wire.
    let mut mapped = src[10] == 0xff && src[11] == 0xff;
    let mut k = 0;
    while k < 10 {
        if src[k] != 0 {
            mapped = false;
        }
        k += 1;
    }
    !mapped
}

/// No error about a frame sent to a link-layer group address (broadcast or multicast:
/// the I/G bit of the destination MAC; RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e.3)). Sent back
/// with the addresses swapped, the error would also carry a group address as its source.
pub const fn may_answer_frame(dst_mac: &[u8; 6]) -> bool {
    dst_mac[0] & 1 == 0
}

/// IPv4: not 0.0.0.0/8, not loopback, not multicast, class E or broadcast.
#[inline(always)]
pub const fn may_answer_v4(src: [u8; 4]) -> bool {
    src[0] != 0 && src[0] != 127 && src[0] < 224
}

/// A token bucket per CPU (`NAT64_ICMP_BUCKET`), RFC 4443 §2.4 (f). The credit is kept in
/// nanoseconds of refill time: no floating point, no division but one per packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    pub credit_ns: u64,
    pub last_ns: u64,
}
const _: () = assert!(core::mem::size_of::<TokenBucket>() == 16);

/// Takes one token at time `now_ns`, refilling at `rate` tokens per second up to `burst`.
/// A bucket never used (`last_ns` 0) starts full. `rate` 0: errors are disabled, nothing
/// is ever taken.
#[inline(always)]
pub fn take_token(b: &mut TokenBucket, now_ns: u64, rate: u32, burst: u32) -> bool {
    if rate == 0 {
        return false;
    }
    let cost = 1_000_000_000u64 / rate as u64;
    let burst = if burst == 0 { 1 } else { burst };
    let cap = cost.saturating_mul(burst as u64);
    let elapsed = now_ns.saturating_sub(b.last_ns);
    b.last_ns = now_ns;
    let credit = b.credit_ns.saturating_add(elapsed);
    let credit = if credit > cap { cap } else { credit };
    if credit >= cost {
        b.credit_ns = credit - cost;
        true
    } else {
        b.credit_ns = credit;
        false
    }
}

/// RFC 6791: the IPv4 source of a translated ICMPv6 error whose IPv6 source has no IPv4
/// form, taken from `prefix/len` by a hash of that source, so that one router always
/// shows as the same address (traceroute). For prefixes up to /30 the network and
/// broadcast addresses are never chosen.
#[inline(always)]
pub const fn rfc6791_source(prefix: [u8; 4], len: u8, src6: &[u8; 16]) -> [u8; 4] {
    let base = u32::from_be_bytes(prefix);
    if len >= 32 {
        return prefix;
    }
    let host_bits = 32 - len as u32;
    let mask = if host_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << host_bits) - 1
    };
    // FNV-1a over the address.
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < 16 {
        h ^= src6[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    let host = if host_bits >= 2 {
        // 1 ..= mask - 1
        h % (mask - 1) + 1
    } else {
        h & mask
    };
    ((base & !mask) | host).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_to_loopback_unspecified_mapped_or_multicast_v6() {
        let mut a = [0u8; 16];
        assert!(!may_answer_v6(&a), "::");
        a[15] = 1;
        assert!(!may_answer_v6(&a), "::1");
        a[15] = 2;
        assert!(may_answer_v6(&a), "::2 is unicast");
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1];
        assert!(!may_answer_v6(&mapped), "::ffff:192.0.2.1");
        let mut m = [0u8; 16];
        m[0] = 0xff;
        m[15] = 1;
        assert!(!may_answer_v6(&m), "ff00::/8");
        let g: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert!(may_answer_v6(&g));
    }

    #[test]
    fn no_error_about_link_layer_group_frames() {
        assert!(!may_answer_frame(&[0xff; 6]), "broadcast");
        assert!(
            !may_answer_frame(&[0x33, 0x33, 0, 0, 0, 1]),
            "IPv6 multicast"
        );
        assert!(
            !may_answer_frame(&[0x01, 0x00, 0x5e, 0, 0, 1]),
            "IPv4 multicast"
        );
        assert!(may_answer_frame(&[0x02, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn headers() {
        assert_eq!(
            icmp_header(ORIGIN_TIME_EXCEEDED6, 0),
            [3, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            icmp_header(ORIGIN_TIME_EXCEEDED4, 0),
            [11, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            icmp_header(ORIGIN_PACKET_TOO_BIG, 1280),
            [2, 0, 0, 0, 0, 0, 5, 0]
        );
        assert_eq!(
            icmp_header(ORIGIN_FRAG_NEEDED, 1480),
            [3, 4, 0, 0, 0, 0, 0x05, 0xc8]
        );
        assert_eq!(
            icmp_header(ORIGIN_FRAG_NEEDED, 100_000),
            [3, 4, 0, 0, 0, 0, 0xff, 0xff]
        );
        assert_eq!(
            icmp_header(ORIGIN_ADDRESS_UNREACHABLE6, 9),
            [1, 3, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            icmp_header(ORIGIN_ADMIN_PROHIBITED4, 9),
            [3, 13, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let h = ipv4_header([192, 0, 2, 1], [198, 51, 100, 7], 556);
        assert_eq!(
            csum::checksum(&h, 0),
            0,
            "header with its checksum sums to zero"
        );
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 576);
        assert_eq!((h[8], h[9]), (64, 1));
    }

    #[test]
    fn quote_lengths() {
        assert_eq!(quote_len(ORIGIN_PACKET_TOO_BIG, 1500), 1232);
        assert_eq!(quote_len(ORIGIN_TIME_EXCEEDED6, 100), 100);
        assert_eq!(quote_len(ORIGIN_FRAG_NEEDED, 1500), 548);
        assert_eq!(quote_len(ORIGIN_TIME_EXCEEDED4, 60), 60);
    }

    #[test]
    fn mtus() {
        assert_eq!(ptb_mtu(1000), 1280, "never below the IPv6 minimum");
        assert_eq!(ptb_mtu(1400), 1420);
        assert_eq!(ptb_mtu(1500), 1520);
        assert_eq!(frag_needed_mtu(1280), 1260);
        assert_eq!(frag_needed_mtu(1500), 1480);
        assert_eq!(frag_needed_mtu(10), 0);
    }

    #[test]
    fn who_may_be_answered() {
        assert!(may_answer_v6(&[
            0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
        ]));
        assert!(!may_answer_v6(&[0; 16]));
        assert!(!may_answer_v6(&[
            0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
        ]));
        assert!(may_answer_v4([198, 51, 100, 1]));
        assert!(!may_answer_v4([0, 0, 0, 0]));
        assert!(!may_answer_v4([127, 0, 0, 1]));
        assert!(!may_answer_v4([224, 0, 0, 1]));
        assert!(!may_answer_v4([255, 255, 255, 255]));
    }

    #[test]
    fn token_bucket() {
        let mut b = TokenBucket::default();
        let t0 = 5_000_000_000;
        // Rate 10/s, burst 3: starts full, three go, the fourth waits for a refill.
        assert!(take_token(&mut b, t0, 10, 3));
        assert!(take_token(&mut b, t0, 10, 3));
        assert!(take_token(&mut b, t0, 10, 3));
        assert!(!take_token(&mut b, t0, 10, 3));
        assert!(!take_token(&mut b, t0 + 99_999_999, 10, 3));
        assert!(
            take_token(&mut b, t0 + 100_000_000, 10, 3),
            "one token per 100 ms"
        );
        assert!(!take_token(&mut b, t0 + 100_000_001, 10, 3));
        // A long pause refills to the burst, no more.
        let t1 = t0 + 3_600_000_000_000;
        for _ in 0..3 {
            assert!(take_token(&mut b, t1, 10, 3));
        }
        assert!(!take_token(&mut b, t1, 10, 3));
        // Rate 0 disables errors altogether; burst 0 behaves as 1.
        assert!(!take_token(&mut TokenBucket::default(), t0, 0, 5));
        let mut c = TokenBucket::default();
        assert!(take_token(&mut c, t0, 1, 0));
        assert!(!take_token(&mut c, t0, 1, 0));
        // A clock that went backwards (another CPU's stamp) refills nothing.
        assert!(!take_token(&mut c, t0 - 1, 1, 0));
    }

    #[test]
    fn rfc6791_choice() {
        let r1 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut r2 = r1;
        r2[15] = 2;
        assert_eq!(rfc6791_source([192, 0, 2, 1], 32, &r1), [192, 0, 2, 1]);
        let a = rfc6791_source([198, 51, 100, 0], 24, &r1);
        assert_eq!(
            a,
            rfc6791_source([198, 51, 100, 0], 24, &r1),
            "deterministic"
        );
        assert_eq!(&a[..3], &[198, 51, 100]);
        assert!(a[3] != 0 && a[3] != 255);
        let b = rfc6791_source([198, 51, 100, 0], 24, &r2);
        assert_ne!(
            a, b,
            "different routers, different addresses (for these two)"
        );
        // /30: only the two host addresses.
        for last in 0..=255u8 {
            let mut r = r1;
            r[15] = last;
            let x = rfc6791_source([203, 0, 113, 4], 30, &r);
            assert!(x == [203, 0, 113, 5] || x == [203, 0, 113, 6], "{x:?}");
        }
        // /31: both addresses are usable (RFC 3021).
        let x = rfc6791_source([203, 0, 113, 8], 31, &r1);
        assert!(x == [203, 0, 113, 8] || x == [203, 0, 113, 9]);
    }
}
