//! ICMP translation tables of RFC 7915 §4.2 (ICMPv4 → ICMPv6) and §5.2 (ICMPv6 → ICMPv4):
//! type/code maps, Parameter Problem pointer maps and the MTU arithmetic for
//! Packet Too Big / Fragmentation Needed.
//!
//! The functions only decide; the caller rewrites the message, translates the packet
//! embedded in an error, and fixes the checksum (the ICMPv6 pseudo-header is added in
//! 4→6 and removed in 6→4, see [`crate::csum`]).

/// ICMPv4 Echo Reply.
pub const ICMPV4_ECHO_REPLY: u8 = 0;
/// ICMPv4 Destination Unreachable.
pub const ICMPV4_DEST_UNREACH: u8 = 3;
/// ICMPv4 Destination Unreachable code: Fragmentation Needed and DF set (RFC 1191).
pub const ICMPV4_FRAG_NEEDED: u8 = 4;
/// ICMPv4 Source Quench (deprecated, RFC 6633).
pub const ICMPV4_SOURCE_QUENCH: u8 = 4;
/// ICMPv4 Redirect.
pub const ICMPV4_REDIRECT: u8 = 5;
/// ICMPv4 Echo Request.
pub const ICMPV4_ECHO_REQUEST: u8 = 8;
/// ICMPv4 Time Exceeded.
pub const ICMPV4_TIME_EXCEEDED: u8 = 11;
/// ICMPv4 Parameter Problem.
pub const ICMPV4_PARAM_PROBLEM: u8 = 12;

/// ICMPv6 Destination Unreachable.
pub const ICMPV6_DEST_UNREACH: u8 = 1;
/// ICMPv6 Packet Too Big.
pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 Time Exceeded.
pub const ICMPV6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 Parameter Problem.
pub const ICMPV6_PARAM_PROBLEM: u8 = 4;
/// ICMPv6 Echo Request.
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 Echo Reply.
pub const ICMPV6_ECHO_REPLY: u8 = 129;

/// Offset of the Next Header field in the IPv6 header: the pointer of the Parameter
/// Problem that replaces an ICMPv4 Protocol Unreachable (RFC 7915 §4.2).
pub const IPV6_NEXT_HEADER_OFFSET: u8 = 6;

/// What else, besides type and code, an error translation has to rewrite in the 4-byte
/// field after the checksum (bytes 4–7 of the ICMP header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorExtra {
    /// Nothing: the field is unused in both versions (copy or zero it).
    None,
    /// Packet Too Big ↔ Fragmentation Needed: recompute the MTU with [`ptb_mtu_4to6`]
    /// (IPv6 field is 32 bits at bytes 4–7) or [`ptb_mtu_6to4`] (IPv4 field is 16 bits at
    /// bytes 6–7, bytes 4–5 zero).
    Mtu,
    /// Parameter Problem: map the pointer with [`pointer_4to6`] (IPv4 byte 4 → IPv6
    /// bytes 4–7) or [`pointer_6to4`] (IPv6 bytes 4–7 → IPv4 byte 4, bytes 5–7 zero); a
    /// `None` from the map means the message must be dropped.
    MapPointer,
    /// Set the IPv6 Parameter Problem pointer (bytes 4–7) to this value.
    SetPointer(u8),
}

/// Why an ICMP message is not translated (each becomes its own drop counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpDrop {
    /// An informational type with no counterpart: single-hop (ND, MLD, router
    /// solicitation/advertisement, redirect in ICMPv6) or obsolete in ICMPv6 (timestamp,
    /// information request, address mask).
    Informational,
    /// An error type that is not translated: ICMPv4 source quench, redirect, alternate
    /// host address.
    ErrorType,
    /// A translatable error type, but this code has no mapping (RFC 7915: silently drop).
    ErrorCode,
    /// A type RFC 7915 does not know.
    UnknownType,
}

impl IcmpDrop {
    /// One-line explanation.
    pub const fn reason(&self) -> &'static str {
        match self {
            IcmpDrop::Informational => "ICMP informational message with no translation (ND, MLD, router discovery, timestamp, ...)",
            IcmpDrop::ErrorType => "ICMP error type that is not translated (source quench, redirect, ...)",
            IcmpDrop::ErrorCode => "ICMP error code with no translation",
            IcmpDrop::UnknownType => "unknown ICMP type",
        }
    }
}

/// Decision for an ICMPv6 message going to IPv4 (RFC 7915 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmp6Action {
    /// Echo Request/Reply: set the type to `ty4`, keep code, identifier and sequence.
    Echo { ty4: u8 },
    /// Error: set type/code, handle `extra`, translate the embedded packet.
    Error {
        ty4: u8,
        code4: u8,
        extra: ErrorExtra,
    },
    /// Silently drop.
    Drop(IcmpDrop),
}

/// Decision for an ICMPv4 message going to IPv6 (RFC 7915 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmp4Action {
    /// Echo Request/Reply: set the type to `ty6`, keep code, identifier and sequence.
    Echo { ty6: u8 },
    /// Error: set type/code, handle `extra`, translate the embedded packet.
    Error {
        ty6: u8,
        code6: u8,
        extra: ErrorExtra,
    },
    /// Silently drop.
    Drop(IcmpDrop),
}

/// ICMPv6 error messages are types 0–127 (RFC 4443 §2.1). Used to refuse an ICMP error
/// about an ICMP error.
#[inline(always)]
pub const fn is_error_v6(ty: u8) -> bool {
    ty < 128
}

/// ICMPv4 error messages (RFC 792/1812): destination unreachable, source quench,
/// redirect, time exceeded, parameter problem. Used to refuse an ICMP error about an
/// ICMP error.
#[inline(always)]
pub const fn is_error_v4(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 5 | 11 | 12)
}

/// RFC 7915 §5.2: what to do with ICMPv6 `(ty, code)` when translating to IPv4.
#[inline]
pub const fn icmp6_to_icmp4(ty: u8, code: u8) -> Icmp6Action {
    use ErrorExtra as X;
    use Icmp6Action::{Drop, Echo, Error};
    match ty {
        ICMPV6_ECHO_REQUEST => Echo {
            ty4: ICMPV4_ECHO_REQUEST,
        },
        ICMPV6_ECHO_REPLY => Echo {
            ty4: ICMPV4_ECHO_REPLY,
        },
        // MLD (130–132, 143), ND (133–137) and every other informational type: single
        // hop or meaningless in IPv4.
        130..=255 => Drop(IcmpDrop::Informational),
        ICMPV6_DEST_UNREACH => {
            let code4 = match code {
                // No route, beyond scope of source, address unreachable → host unreachable.
                0 | 2 | 3 => 1,
                // Administratively prohibited → communication with destination host
                // administratively prohibited.
                1 => 10,
                // Port unreachable.
                4 => 3,
                _ => return Drop(IcmpDrop::ErrorCode),
            };
            Error {
                ty4: ICMPV4_DEST_UNREACH,
                code4,
                extra: X::None,
            }
        }
        ICMPV6_PACKET_TOO_BIG => Error {
            ty4: ICMPV4_DEST_UNREACH,
            code4: ICMPV4_FRAG_NEEDED,
            extra: X::Mtu,
        },
        // "The Code is unchanged."
        ICMPV6_TIME_EXCEEDED => Error {
            ty4: ICMPV4_TIME_EXCEEDED,
            code4: code,
            extra: X::None,
        },
        ICMPV6_PARAM_PROBLEM => match code {
            0 => Error {
                ty4: ICMPV4_PARAM_PROBLEM,
                code4: 0,
                extra: X::MapPointer,
            },
            // Unrecognized Next Header → protocol unreachable.
            1 => Error {
                ty4: ICMPV4_DEST_UNREACH,
                code4: 2,
                extra: X::None,
            },
            // 2 (unrecognized option) and anything newer.
            _ => Drop(IcmpDrop::ErrorCode),
        },
        _ => Drop(IcmpDrop::UnknownType),
    }
}

/// RFC 7915 §4.2: what to do with ICMPv4 `(ty, code)` when translating to IPv6.
#[inline]
pub const fn icmp4_to_icmp6(ty: u8, code: u8) -> Icmp4Action {
    use ErrorExtra as X;
    use Icmp4Action::{Drop, Echo, Error};
    match ty {
        ICMPV4_ECHO_REQUEST => Echo {
            ty6: ICMPV6_ECHO_REQUEST,
        },
        ICMPV4_ECHO_REPLY => Echo {
            ty6: ICMPV6_ECHO_REPLY,
        },
        // Router advertisement/solicitation (single hop), timestamp, information,
        // address mask (obsoleted in ICMPv6).
        9 | 10 | 13..=18 => Drop(IcmpDrop::Informational),
        ICMPV4_SOURCE_QUENCH | ICMPV4_REDIRECT | 6 => Drop(IcmpDrop::ErrorType),
        ICMPV4_DEST_UNREACH => match code {
            // Net/host unreachable, source route failed, 6, 7, 8, 11, 12 → no route.
            0 | 1 | 5 | 6 | 7 | 8 | 11 | 12 => Error {
                ty6: ICMPV6_DEST_UNREACH,
                code6: 0,
                extra: X::None,
            },
            // Protocol unreachable → Parameter Problem, unrecognized next header,
            // pointing at the Next Header field.
            2 => Error {
                ty6: ICMPV6_PARAM_PROBLEM,
                code6: 1,
                extra: X::SetPointer(IPV6_NEXT_HEADER_OFFSET),
            },
            // Port unreachable.
            3 => Error {
                ty6: ICMPV6_DEST_UNREACH,
                code6: 4,
                extra: X::None,
            },
            // Fragmentation needed and DF set → Packet Too Big.
            4 => Error {
                ty6: ICMPV6_PACKET_TOO_BIG,
                code6: 0,
                extra: X::Mtu,
            },
            // Administratively prohibited (9, 10, 13) and precedence cutoff (15).
            9 | 10 | 13 | 15 => Error {
                ty6: ICMPV6_DEST_UNREACH,
                code6: 1,
                extra: X::None,
            },
            // 14 (host precedence violation) and unknown codes.
            _ => Drop(IcmpDrop::ErrorCode),
        },
        // "The Code is unchanged."
        ICMPV4_TIME_EXCEEDED => Error {
            ty6: ICMPV6_TIME_EXCEEDED,
            code6: code,
            extra: X::None,
        },
        ICMPV4_PARAM_PROBLEM => match code {
            // Pointer indicates the error (0) and bad length (2) → erroneous header field.
            0 | 2 => Error {
                ty6: ICMPV6_PARAM_PROBLEM,
                code6: 0,
                extra: X::MapPointer,
            },
            // 1 (missing a required option) and unknown codes.
            _ => Drop(IcmpDrop::ErrorCode),
        },
        _ => Drop(IcmpDrop::UnknownType),
    }
}

/// RFC 7915 §4.2 Figure 3: IPv4 header byte offset → IPv6 header byte offset.
/// `None` ("n/a" or not listed, e.g. an offset into IPv4 options): drop the message.
#[inline]
pub const fn pointer_4to6(ptr4: u8) -> Option<u8> {
    match ptr4 {
        0 => Some(0),        // Version/IHL → Version/Traffic Class
        1 => Some(1),        // Type of Service → Traffic Class/Flow Label
        2 | 3 => Some(4),    // Total Length → Payload Length
        8 => Some(7),        // Time to Live → Hop Limit
        9 => Some(6),        // Protocol → Next Header
        12..=15 => Some(8),  // Source Address
        16..=19 => Some(24), // Destination Address
        // 4–7 Identification/Flags/Fragment Offset, 10–11 Header Checksum: n/a.
        _ => None,
    }
}

/// RFC 7915 §5.2 Figure 6: IPv6 header byte offset → IPv4 header byte offset.
/// `None` ("n/a" or not listed, e.g. an offset into extension headers): drop the message.
#[inline]
pub const fn pointer_6to4(ptr6: u32) -> Option<u8> {
    match ptr6 {
        0 => Some(0),        // Version/Traffic Class → Version/IHL, Type of Service
        1 => Some(1),        // Traffic Class/Flow Label → Type of Service
        4 | 5 => Some(2),    // Payload Length → Total Length
        6 => Some(9),        // Next Header → Protocol
        7 => Some(8),        // Hop Limit → Time to Live
        8..=23 => Some(12),  // Source Address
        24..=39 => Some(16), // Destination Address
        // 2–3 Flow Label: n/a.
        _ => None,
    }
}

/// RFC 1191 §7 table of MTU plateaus, largest first.
pub const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// The greatest plateau strictly smaller than `total_len` (the Total Length of the
/// datagram quoted in the error), for routers that send Fragmentation Needed with an MTU
/// of 0 (RFC 7915 §4.2, RFC 1191 §5). Floors at 68, the IPv4 minimum MTU, when the
/// datagram is that small or smaller (no plateau qualifies).
#[inline]
pub const fn plateau_below(total_len: u16) -> u16 {
    let mut i = 0;
    while i < PLATEAUS.len() {
        if PLATEAUS[i] < total_len {
            return PLATEAUS[i];
        }
        i += 1;
    }
    68
}

/// MTU for the ICMPv6 Packet Too Big made from an ICMPv4 Fragmentation Needed
/// (RFC 7915 §4.2): `min(MTU4 + 20, MTU_of_IPv6_nexthop, MTU_of_IPv4_nexthop + 20)`.
///
/// - `mtu4`: Next-Hop MTU field of the ICMPv4 message (low 16 bits of bytes 4–7). If it is
///   0 (pre-RFC 1191 router), [`plateau_below`]`(inner_total_len)` is used in its place.
/// - `inner_total_len`: Total Length of the IPv4 header quoted in the error.
/// - `nexthop6_mtu`: MTU of the translator's IPv6 link toward the IPv6 host the PTB goes to.
/// - `nexthop4_mtu`: MTU of the translator's IPv4 link the original packet left by.
///
/// Not raised to 1280: RFC 7915 (unlike RFC 6145) no longer asks for that, and IPv6 hosts
/// handle a PTB below 1280 themselves (RFC 8200 §5).
#[inline]
pub const fn ptb_mtu_4to6(
    mtu4: u16,
    inner_total_len: u16,
    nexthop6_mtu: u32,
    nexthop4_mtu: u32,
) -> u32 {
    let advertised = if mtu4 == 0 {
        plateau_below(inner_total_len)
    } else {
        mtu4
    };
    let a = advertised as u32 + 20;
    let b = nexthop6_mtu;
    let c = nexthop4_mtu.saturating_add(20);
    min3(a, b, c)
}

/// Next-Hop MTU for the ICMPv4 Fragmentation Needed made from an ICMPv6 Packet Too Big
/// (RFC 7915 §5.2): `min(MTU6 − 20, MTU_of_IPv4_nexthop, MTU_of_IPv6_nexthop − 20)`.
///
/// - `mtu6`: MTU field of the Packet Too Big.
/// - `nexthop4_mtu`: MTU of the translator's IPv4 link toward the IPv4 host.
/// - `nexthop6_mtu`: MTU of the translator's IPv6 link the original packet left by.
/// - `inner_has_fragment_header`: the packet quoted in the PTB carries a Fragment Header
///   (the translator added one), so IPv6 costs 28 bytes more than IPv4 instead of 20 —
///   RFC 7915 asks to take this into account.
///
/// Saturates at 0 and clamps to 65535 (the IPv4 field is 16 bits).
#[inline]
pub const fn ptb_mtu_6to4(
    mtu6: u32,
    nexthop4_mtu: u32,
    nexthop6_mtu: u32,
    inner_has_fragment_header: bool,
) -> u16 {
    let overhead = if inner_has_fragment_header { 28 } else { 20 };
    let m = min3(
        mtu6.saturating_sub(overhead),
        nexthop4_mtu,
        nexthop6_mtu.saturating_sub(overhead),
    );
    if m > 0xffff {
        0xffff
    } else {
        m as u16
    }
}

#[inline(always)]
const fn min3(a: u32, b: u32, c: u32) -> u32 {
    let m = if a < b { a } else { b };
    if m < c {
        m
    } else {
        c
    }
}

/// Bytes 4–7 of the ICMPv4 error translated from an ICMPv6 error whose bytes 4–7 are
/// `rest6` (RFC 7915 §5.2), or `None` when the message must be dropped (a Parameter
/// Problem pointer with no IPv4 counterpart). Link MTUs the caller does not know are
/// passed as `u32::MAX`.
#[inline]
pub const fn error_rest_6to4(
    extra: ErrorExtra,
    rest6: [u8; 4],
    nexthop4_mtu: u32,
    nexthop6_mtu: u32,
) -> Option<[u8; 4]> {
    match extra {
        ErrorExtra::None => Some([0; 4]),
        ErrorExtra::Mtu => {
            let m = ptb_mtu_6to4(u32::from_be_bytes(rest6), nexthop4_mtu, nexthop6_mtu, false)
                .to_be_bytes();
            Some([0, 0, m[0], m[1]])
        }
        ErrorExtra::MapPointer => match pointer_6to4(u32::from_be_bytes(rest6)) {
            Some(p) => Some([p, 0, 0, 0]),
            None => None,
        },
        ErrorExtra::SetPointer(p) => Some([p, 0, 0, 0]),
    }
}

/// Bytes 4–7 of the ICMPv6 error translated from an ICMPv4 error whose bytes 4–7 are
/// `rest4` (RFC 7915 §4.2), or `None` when the message must be dropped.
/// `inner_total_len`: Total Length of the quoted IPv4 header (for the plateau table).
#[inline]
pub const fn error_rest_4to6(
    extra: ErrorExtra,
    rest4: [u8; 4],
    inner_total_len: u16,
    nexthop6_mtu: u32,
    nexthop4_mtu: u32,
) -> Option<[u8; 4]> {
    match extra {
        ErrorExtra::None => Some([0; 4]),
        ErrorExtra::Mtu => {
            let mtu4 = u16::from_be_bytes([rest4[2], rest4[3]]);
            Some(ptb_mtu_4to6(mtu4, inner_total_len, nexthop6_mtu, nexthop4_mtu).to_be_bytes())
        }
        ErrorExtra::MapPointer => match pointer_4to6(rest4[0]) {
            Some(p) => Some((p as u32).to_be_bytes()),
            None => None,
        },
        ErrorExtra::SetPointer(p) => Some((p as u32).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorExtra as X;

    fn e6(ty4: u8, code4: u8, extra: ErrorExtra) -> Icmp6Action {
        Icmp6Action::Error { ty4, code4, extra }
    }
    fn e4(ty6: u8, code6: u8, extra: ErrorExtra) -> Icmp4Action {
        Icmp4Action::Error { ty6, code6, extra }
    }

    #[test]
    fn v6_to_v4_table() {
        use Icmp6Action::{Drop, Echo};
        // §5.2 informational.
        assert_eq!(icmp6_to_icmp4(128, 0), Echo { ty4: 8 });
        assert_eq!(icmp6_to_icmp4(129, 0), Echo { ty4: 0 });
        for ty in [130, 131, 132, 133, 134, 135, 136, 137, 143, 200, 255] {
            assert_eq!(
                icmp6_to_icmp4(ty, 0),
                Drop(IcmpDrop::Informational),
                "type {ty}"
            );
        }
        // Destination Unreachable.
        assert_eq!(icmp6_to_icmp4(1, 0), e6(3, 1, X::None));
        assert_eq!(icmp6_to_icmp4(1, 1), e6(3, 10, X::None));
        assert_eq!(icmp6_to_icmp4(1, 2), e6(3, 1, X::None));
        assert_eq!(icmp6_to_icmp4(1, 3), e6(3, 1, X::None));
        assert_eq!(icmp6_to_icmp4(1, 4), e6(3, 3, X::None));
        for code in [5, 6, 7, 255] {
            assert_eq!(
                icmp6_to_icmp4(1, code),
                Drop(IcmpDrop::ErrorCode),
                "code {code}"
            );
        }
        // Packet Too Big.
        assert_eq!(icmp6_to_icmp4(2, 0), e6(3, 4, X::Mtu));
        // Time Exceeded, code unchanged.
        assert_eq!(icmp6_to_icmp4(3, 0), e6(11, 0, X::None));
        assert_eq!(icmp6_to_icmp4(3, 1), e6(11, 1, X::None));
        // Parameter Problem.
        assert_eq!(icmp6_to_icmp4(4, 0), e6(12, 0, X::MapPointer));
        assert_eq!(icmp6_to_icmp4(4, 1), e6(3, 2, X::None));
        assert_eq!(icmp6_to_icmp4(4, 2), Drop(IcmpDrop::ErrorCode));
        assert_eq!(icmp6_to_icmp4(4, 3), Drop(IcmpDrop::ErrorCode));
        // Unknown error types.
        for ty in [0, 5, 100, 127] {
            assert_eq!(
                icmp6_to_icmp4(ty, 0),
                Drop(IcmpDrop::UnknownType),
                "type {ty}"
            );
        }
    }

    #[test]
    fn v4_to_v6_table() {
        use Icmp4Action::{Drop, Echo};
        assert_eq!(icmp4_to_icmp6(8, 0), Echo { ty6: 128 });
        assert_eq!(icmp4_to_icmp6(0, 0), Echo { ty6: 129 });
        for ty in [9, 10, 13, 14, 15, 16, 17, 18] {
            assert_eq!(
                icmp4_to_icmp6(ty, 0),
                Drop(IcmpDrop::Informational),
                "type {ty}"
            );
        }
        for ty in [4, 5, 6] {
            assert_eq!(
                icmp4_to_icmp6(ty, 0),
                Drop(IcmpDrop::ErrorType),
                "type {ty}"
            );
        }
        // Destination Unreachable, every code 0..=16.
        let expected = [
            Some(e4(1, 0, X::None)),          // 0 net
            Some(e4(1, 0, X::None)),          // 1 host
            Some(e4(4, 1, X::SetPointer(6))), // 2 protocol
            Some(e4(1, 4, X::None)),          // 3 port
            Some(e4(2, 0, X::Mtu)),           // 4 frag needed
            Some(e4(1, 0, X::None)),          // 5 source route failed
            Some(e4(1, 0, X::None)),          // 6
            Some(e4(1, 0, X::None)),          // 7
            Some(e4(1, 0, X::None)),          // 8
            Some(e4(1, 1, X::None)),          // 9
            Some(e4(1, 1, X::None)),          // 10
            Some(e4(1, 0, X::None)),          // 11
            Some(e4(1, 0, X::None)),          // 12
            Some(e4(1, 1, X::None)),          // 13
            None,                             // 14 precedence violation
            Some(e4(1, 1, X::None)),          // 15 precedence cutoff
            None,                             // 16 unknown
        ];
        for (code, exp) in expected.iter().enumerate() {
            let got = icmp4_to_icmp6(3, code as u8);
            match exp {
                Some(e) => assert_eq!(got, *e, "code {code}"),
                None => assert_eq!(got, Drop(IcmpDrop::ErrorCode), "code {code}"),
            }
        }
        assert_eq!(icmp4_to_icmp6(11, 0), e4(3, 0, X::None));
        assert_eq!(icmp4_to_icmp6(11, 1), e4(3, 1, X::None));
        assert_eq!(icmp4_to_icmp6(12, 0), e4(4, 0, X::MapPointer));
        assert_eq!(icmp4_to_icmp6(12, 1), Drop(IcmpDrop::ErrorCode));
        assert_eq!(icmp4_to_icmp6(12, 2), e4(4, 0, X::MapPointer));
        assert_eq!(icmp4_to_icmp6(12, 3), Drop(IcmpDrop::ErrorCode));
        for ty in [1, 2, 7, 19, 30, 42, 255] {
            assert_eq!(
                icmp4_to_icmp6(ty, 0),
                Drop(IcmpDrop::UnknownType),
                "type {ty}"
            );
        }
    }

    #[test]
    fn error_classification() {
        for ty in 0..=255u8 {
            assert_eq!(is_error_v6(ty), ty < 128);
            assert_eq!(
                is_error_v4(ty),
                [3, 4, 5, 11, 12].contains(&ty),
                "v4 type {ty}"
            );
        }
        // Everything the maps translate as an error is an error on both sides.
        for ty in 0..=255u8 {
            for code in 0..=20u8 {
                if let Icmp6Action::Error { ty4, .. } = icmp6_to_icmp4(ty, code) {
                    assert!(is_error_v6(ty) && is_error_v4(ty4));
                }
                if let Icmp4Action::Error { ty6, .. } = icmp4_to_icmp6(ty, code) {
                    assert!(is_error_v4(ty) && is_error_v6(ty6));
                }
                if let Icmp6Action::Echo { ty4 } = icmp6_to_icmp4(ty, code) {
                    assert!(!is_error_v6(ty) && !is_error_v4(ty4));
                }
            }
        }
    }

    #[test]
    fn pointer_maps_full_tables() {
        // Figure 3, every IPv4 header offset and a few beyond (options).
        let fig3: [Option<u8>; 20] = [
            Some(0),
            Some(1),
            Some(4),
            Some(4),
            None,
            None,
            None,
            None,
            Some(7),
            Some(6),
            None,
            None,
            Some(8),
            Some(8),
            Some(8),
            Some(8),
            Some(24),
            Some(24),
            Some(24),
            Some(24),
        ];
        for (p, exp) in fig3.iter().enumerate() {
            assert_eq!(pointer_4to6(p as u8), *exp, "ptr4 {p}");
        }
        for p in 20..=255u8 {
            assert_eq!(pointer_4to6(p), None, "ptr4 {p}");
        }
        // Figure 6, every IPv6 header offset and beyond (extension headers).
        for p in 0..40u32 {
            let exp = match p {
                0 => Some(0),
                1 => Some(1),
                2 | 3 => None,
                4 | 5 => Some(2),
                6 => Some(9),
                7 => Some(8),
                8..=23 => Some(12),
                _ => Some(16),
            };
            assert_eq!(pointer_6to4(p), exp, "ptr6 {p}");
        }
        for p in [40u32, 41, 255, 256, 0x0100_0000, u32::MAX] {
            assert_eq!(pointer_6to4(p), None, "ptr6 {p}");
        }
        // Mapping an IPv4 field forth and back lands on the start of the same field.
        for (p4, p4_start) in [
            (0u8, 0u8),
            (1, 1),
            (3, 2),
            (8, 8),
            (9, 9),
            (14, 12),
            (19, 16),
        ] {
            let p6 = pointer_4to6(p4).unwrap();
            assert_eq!(pointer_6to4(p6 as u32), Some(p4_start), "ptr4 {p4}");
        }
    }

    #[test]
    fn plateau_table() {
        assert_eq!(
            PLATEAUS,
            [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68]
        );
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(1493), 1492);
        assert_eq!(plateau_below(576), 508);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(4353), 4352);
        assert_eq!(plateau_below(297), 296);
        assert_eq!(plateau_below(69), 68);
        assert_eq!(plateau_below(68), 68);
        assert_eq!(plateau_below(0), 68);
        // Every plateau is strictly below its input for inputs above 68.
        for len in 69..=u16::MAX {
            let p = plateau_below(len);
            assert!(p < len);
            assert!(PLATEAUS.contains(&p));
        }
    }

    #[test]
    fn mtu_4to6() {
        // Advertised 1400 → 1420 when the links allow it.
        assert_eq!(ptb_mtu_4to6(1400, 1500, 1500, 1500), 1420);
        // IPv6 link smaller.
        assert_eq!(ptb_mtu_4to6(1400, 1500, 1400, 1500), 1400);
        // IPv4 link smaller: 1300 + 20.
        assert_eq!(ptb_mtu_4to6(1400, 1500, 9000, 1300), 1320);
        // MTU 0 from an old router: plateau below the quoted total length (1500 → 1492).
        assert_eq!(ptb_mtu_4to6(0, 1500, 9000, 9000), 1512);
        assert_eq!(ptb_mtu_4to6(0, 1000, 9000, 9000), 528);
        assert_eq!(ptb_mtu_4to6(0, 1000, 500, 9000), 500);
        // Large values don't overflow.
        assert_eq!(ptb_mtu_4to6(65535, 65535, u32::MAX, u32::MAX), 65555);
    }

    #[test]
    fn mtu_6to4() {
        assert_eq!(ptb_mtu_6to4(1280, 1500, 1500, false), 1260);
        assert_eq!(ptb_mtu_6to4(1500, 1500, 1500, false), 1480);
        // IPv4 next hop smaller.
        assert_eq!(ptb_mtu_6to4(9000, 1400, 9000, false), 1400);
        // IPv6 next hop smaller.
        assert_eq!(ptb_mtu_6to4(9000, 9000, 1500, false), 1480);
        // Fragment header in the quoted packet: 28 bytes of overhead.
        assert_eq!(ptb_mtu_6to4(1280, 1500, 1500, true), 1252);
        // Degenerate inputs saturate instead of wrapping.
        assert_eq!(ptb_mtu_6to4(10, 1500, 1500, false), 0);
        assert_eq!(ptb_mtu_6to4(u32::MAX, u32::MAX, u32::MAX, false), 0xffff);
        assert_eq!(ptb_mtu_6to4(70000, 70000, 70000, false), 0xffff);
    }

    #[test]
    fn drop_reasons_distinct() {
        let all = [
            IcmpDrop::Informational,
            IcmpDrop::ErrorType,
            IcmpDrop::ErrorCode,
            IcmpDrop::UnknownType,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.reason(), b.reason());
            }
        }
    }

    #[test]
    fn error_rest_fields() {
        // PTB MTU 1400 → Fragmentation Needed next-hop MTU 1380 in bytes 6–7.
        assert_eq!(
            error_rest_6to4(ErrorExtra::Mtu, 1400u32.to_be_bytes(), u32::MAX, u32::MAX),
            Some([0, 0, 0x05, 0x64])
        );
        // Pointer 7 (hop limit) → 8 (TTL); pointer 2 (flow label) has no IPv4 counterpart.
        assert_eq!(
            error_rest_6to4(ErrorExtra::MapPointer, [0, 0, 0, 7], u32::MAX, u32::MAX),
            Some([8, 0, 0, 0])
        );
        assert_eq!(
            error_rest_6to4(ErrorExtra::MapPointer, [0, 0, 0, 2], u32::MAX, u32::MAX),
            None
        );
        assert_eq!(
            error_rest_6to4(ErrorExtra::None, [1, 2, 3, 4], u32::MAX, u32::MAX),
            Some([0; 4])
        );
        // Fragmentation Needed MTU 1000 → PTB 1020; MTU 0 → plateau below 1500 (1492) + 20.
        assert_eq!(
            error_rest_4to6(
                ErrorExtra::Mtu,
                [0, 0, 0x03, 0xe8],
                1500,
                u32::MAX,
                u32::MAX
            ),
            Some(1020u32.to_be_bytes())
        );
        assert_eq!(
            error_rest_4to6(ErrorExtra::Mtu, [0, 0, 0, 0], 1500, u32::MAX, u32::MAX),
            Some(1512u32.to_be_bytes())
        );
        // Protocol unreachable → pointer 6 (Next Header); TTL pointer 8 → 7.
        assert_eq!(
            error_rest_4to6(ErrorExtra::SetPointer(6), [0; 4], 0, u32::MAX, u32::MAX),
            Some([0, 0, 0, 6])
        );
        assert_eq!(
            error_rest_4to6(ErrorExtra::MapPointer, [8, 0, 0, 0], 0, u32::MAX, u32::MAX),
            Some([0, 0, 0, 7])
        );
        assert_eq!(
            error_rest_4to6(ErrorExtra::MapPointer, [10, 0, 0, 0], 0, u32::MAX, u32::MAX),
            None
        );
    }
}
