//! Fragments (RFC 7915 §4.1, §5.1.1; RFC 6146 §3.4): where a fragment sits in its
//! datagram, what refuses it, the Fragment header made for an IPv4 fragment, and the
//! `NAT64_FRAGS` map through which later fragments follow their first one.
//!
//! The first fragment carries the transport header: it is translated through its
//! binding and session like any packet, with the checksum updated incrementally (the
//! pseudo-header's length is the whole datagram's and does not change). Later fragments
//! carry no ports: the first fragment records the translated addresses of its datagram,
//! keyed by what names a datagram (addresses, protocol, identification), and the later
//! ones take them from there. A later fragment with no live record (it overtook its first
//! fragment, or the first was refused) is dropped and counted, never guessed at.
use crate::{
    xlat::{proto_4to6, Frag6},
    Counter,
};

/// Name of the map in the object (and of its pin file).
pub const MAP_FRAGS: &str = "NAT64_FRAGS";
/// Datagrams in flight the gateway remembers (an LRU map: the oldest go first).
pub const FRAGS_MAX_ENTRIES: u32 = 16384;
/// How long a first fragment's record serves its later fragments. RFC 6146 §3.4 asks a
/// NAT64 to keep fragments for at least FRAGMENT_MIN = 2 s.
pub const FRAG_TIMEOUT_NS: u64 = 2_000_000_000;
const _: () = assert!(
    FRAG_TIMEOUT_NS >= 2_000_000_000,
    "RFC 6146 §3.4 FRAGMENT_MIN"
);

/// `FragKey::dir` of a datagram crossing IPv6 → IPv4 (addresses are IPv6).
pub const FRAG_DIR_6TO4: u8 = 6;
/// `FragKey::dir` of a datagram crossing IPv4 → IPv6 (addresses are IPv4, in the first
/// four bytes, the rest zero).
pub const FRAG_DIR_4TO6: u8 = 4;

/// `NAT64_FRAGS` key: one datagram as it arrives (RFC 8200 §4.5 and RFC 791 name a
/// datagram by source, destination, protocol and identification).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// IPv6: the 32-bit Fragment header identification; IPv4: the 16-bit one.
    pub id: u32,
    /// The upper-layer protocol, numbered as on the receiving side.
    pub proto: u8,
    /// `FRAG_DIR_*`.
    pub dir: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<FragKey>() == 40);

impl FragKey {
    /// An IPv6 datagram (the 6→4 direction).
    #[inline(always)]
    pub const fn v6(src: [u8; 16], dst: [u8; 16], id: u32, proto: u8) -> FragKey {
        FragKey {
            src,
            dst,
            id,
            proto,
            dir: FRAG_DIR_6TO4,
            _pad: [0; 2],
        }
    }

    /// An IPv4 datagram (the 4→6 direction).
    #[inline(always)]
    pub const fn v4(src: [u8; 4], dst: [u8; 4], id: u16, proto: u8) -> FragKey {
        FragKey {
            src: widen(src),
            dst: widen(dst),
            id: id as u32,
            proto,
            dir: FRAG_DIR_4TO6,
            _pad: [0; 2],
        }
    }
}

/// `NAT64_FRAGS` value: what the later fragments of a datagram need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragEntry {
    /// CLOCK_MONOTONIC (bpf_ktime_get_ns) when the first fragment passed.
    pub created_ns: u64,
    /// The translated source and destination: IPv6 addresses for a 4→6 datagram, IPv4
    /// addresses in the first four bytes (rest zero) for a 6→4 one.
    pub src: [u8; 16],
    pub dst: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<FragEntry>() == 40);

impl FragEntry {
    #[inline(always)]
    pub const fn v4(created_ns: u64, src4: [u8; 4], dst4: [u8; 4]) -> FragEntry {
        FragEntry {
            created_ns,
            src: widen(src4),
            dst: widen(dst4),
        }
    }

    #[inline(always)]
    pub const fn v6(created_ns: u64, src6: [u8; 16], dst6: [u8; 16]) -> FragEntry {
        FragEntry {
            created_ns,
            src: src6,
            dst: dst6,
        }
    }

    /// The IPv4 source of a 6→4 entry.
    #[inline(always)]
    pub const fn src4(&self) -> [u8; 4] {
        [self.src[0], self.src[1], self.src[2], self.src[3]]
    }

    /// The IPv4 destination of a 6→4 entry.
    #[inline(always)]
    pub const fn dst4(&self) -> [u8; 4] {
        [self.dst[0], self.dst[1], self.dst[2], self.dst[3]]
    }

    /// Whether the record still serves later fragments at `now_ns`. A clock that went
    /// backwards (another CPU's stamp a moment ahead) counts as fresh.
    #[inline(always)]
    pub const fn is_live(&self, now_ns: u64) -> bool {
        now_ns <= self.created_ns || now_ns - self.created_ns <= FRAG_TIMEOUT_NS
    }
}

#[inline(always)]
const fn widen(a: [u8; 4]) -> [u8; 16] {
    [a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// Where a packet sits in its datagram.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Not a fragment (IPv4 MF 0 and offset 0, no IPv6 Fragment header).
    Whole = 0,
    /// An IPv6 "atomic fragment": a Fragment header with offset 0 and M 0 (RFC 6946).
    /// The whole datagram, translated with the §5.1.1 header fields.
    Atomic = 1,
    /// Offset 0, more to come: carries the transport header.
    First = 2,
    /// Offset ≠ 0: no transport header, follows its first fragment.
    Later = 3,
}

impl Position {
    /// An IPv6 packet with a Fragment header.
    #[inline(always)]
    pub const fn of_v6(f: &Frag6) -> Position {
        if f.offset != 0 {
            Position::Later
        } else if f.more {
            Position::First
        } else {
            Position::Atomic
        }
    }

    /// An IPv4 packet: Flags/Fragment Offset word (bytes 6–7 of the header).
    #[inline(always)]
    pub const fn of_v4(flags_offset: u16) -> Position {
        if flags_offset & 0x1fff != 0 {
            Position::Later
        } else if flags_offset & 0x2000 != 0 {
            Position::First
        } else {
            Position::Whole
        }
    }

    /// Carries a Fragment header once in IPv6 / fragment fields in IPv4 to carry over.
    #[inline(always)]
    pub const fn is_fragmented(self) -> bool {
        !matches!(self, Position::Whole)
    }
}

/// Why a fragmented packet is refused before anything else looks at it, if it is.
///
/// - ICMP (echo or error) in a fragment: the ICMPv4 ↔ ICMPv6 checksum change adds or
///   removes a pseudo-header holding the whole datagram's length, which a first fragment
///   does not know. An IPv6 atomic fragment (offset 0, M 0) is the whole datagram: its ICMP
///   translates like an unfragmented one (RFC 7915 §5.1.1; senders still emit them,
///   RFC 8021 §4).
/// - A first fragment of an IPv4 UDP datagram without checksum: IPv6 requires one
///   (RFC 7915 §4.5), and it covers the whole datagram, which no fragment holds.
///
/// `proto` is the upper-layer protocol in IPv4 numbering (ICMPv6 given as 58 is ICMP
/// too); `udp_zero_checksum` only matters for a `First` fragment.
#[inline(always)]
pub const fn refusal(pos: Position, proto: u8, udp_zero_checksum: bool) -> Option<Counter> {
    if !pos.is_fragmented() || matches!(pos, Position::Atomic) {
        return None;
    }
    match proto {
        1 | 58 => Some(Counter::DropFragmentIcmp),
        17 if udp_zero_checksum && matches!(pos, Position::First) => {
            Some(Counter::DropFragmentUdpZeroChecksum)
        }
        _ => None,
    }
}

/// RFC 7915 §4.1: the Fragment header inserted after the IPv6 header of a translated IPv4
/// fragment. Next Header = the IPv4 protocol (ICMP mapped), Fragment Offset and M copied
/// from the IPv4 offset and MF, Identification = the IPv4 identification in the low 16
/// bits, high 16 bits zero. `flags_offset` is the IPv4 Flags/Fragment Offset word.
#[inline(always)]
pub const fn header_4to6(proto: u8, id: u16, flags_offset: u16) -> [u8; 8] {
    let more = (flags_offset >> 13) & 1;
    let off_m = ((flags_offset & 0x1fff) << 3) | more;
    let om = off_m.to_be_bytes();
    let id = id.to_be_bytes();
    [proto_4to6(proto), 0, om[0], om[1], 0, 0, id[0], id[1]]
}

/// RFC 7915 §4.1: Payload Length of the IPv6 packet made from an IPv4 fragment whose
/// payload (Total Length − IHL·4) is `payload_v4`: the Fragment header adds 8 bytes.
#[inline(always)]
pub const fn payload_len_4to6(payload_v4: u16) -> Option<u16> {
    payload_v4.checked_add(crate::xlat::IPV6_FRAG_HDR_LEN as u16)
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain old data — repr(C), no padding holes (asserted sizes), any byte
    // pattern is a valid value.
    unsafe impl aya::Pod for super::FragKey {}
    unsafe impl aya::Pod for super::FragEntry {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xlat::{self, parse_fragment_header, Hop};

    #[test]
    fn positions() {
        assert_eq!(Position::of_v4(0), Position::Whole);
        assert_eq!(Position::of_v4(0x4000), Position::Whole, "DF alone");
        assert_eq!(Position::of_v4(0x2000), Position::First);
        assert_eq!(Position::of_v4(0x2000 | 185), Position::Later);
        assert_eq!(Position::of_v4(185), Position::Later, "the last fragment");
        let f = |offset, more| Frag6 {
            next_header: 17,
            offset,
            more,
            id: 1,
        };
        assert_eq!(Position::of_v6(&f(0, false)), Position::Atomic);
        assert_eq!(Position::of_v6(&f(0, true)), Position::First);
        assert_eq!(Position::of_v6(&f(181, true)), Position::Later);
        assert_eq!(Position::of_v6(&f(362, false)), Position::Later);
        assert!(Position::Atomic.is_fragmented() && !Position::Whole.is_fragmented());
    }

    #[test]
    fn refusals() {
        assert_eq!(refusal(Position::Atomic, 58, false), None);
        assert_eq!(refusal(Position::Atomic, 1, false), None);
        for pos in [Position::First, Position::Later] {
            assert_eq!(refusal(pos, 1, false), Some(Counter::DropFragmentIcmp));
            assert_eq!(refusal(pos, 58, false), Some(Counter::DropFragmentIcmp));
            assert_eq!(refusal(pos, 6, false), None);
            assert_eq!(refusal(pos, 17, false), None);
        }
        assert_eq!(
            refusal(Position::First, 17, true),
            Some(Counter::DropFragmentUdpZeroChecksum)
        );
        // Later fragments have no UDP header; the field would be data.
        assert_eq!(refusal(Position::Later, 17, true), None);
        // Whole packets are not this module's business.
        assert_eq!(refusal(Position::Whole, 1, false), None);
        assert_eq!(refusal(Position::Whole, 17, true), None);
    }

    /// RFC 7915 §4.1 on exact bytes: an IPv4 fragment (ID 0xbeef, MF, offset 185 · 8 =
    /// 1480) gets Next Header 17, offset 185 with M, ID 0x0000beef.
    #[test]
    fn fragment_header_from_ipv4_fields() {
        assert_eq!(
            header_4to6(17, 0xbeef, 0x2000 | 185),
            [17, 0, 0x05, 0xc9, 0, 0, 0xbe, 0xef]
        );
        // The last fragment: M 0; DF (never set on a fragment, but ignored) is not copied.
        assert_eq!(
            header_4to6(6, 0x0102, 0x4000 | 370),
            [6, 0, 0x0b, 0x90, 0, 0, 0x01, 0x02]
        );
        // First fragment: offset 0, M 1; ICMP becomes 58.
        assert_eq!(header_4to6(1, 7, 0x2000), [58, 0, 0, 1, 0, 0, 0, 7]);
        // It parses back to what it was made from.
        let f = parse_fragment_header(&header_4to6(17, 0xbeef, 0x2000 | 185));
        assert_eq!(
            f,
            Frag6 {
                next_header: 17,
                offset: 185,
                more: true,
                id: 0xbeef
            }
        );
    }

    #[test]
    fn payload_grows_by_the_fragment_header() {
        assert_eq!(payload_len_4to6(1480), Some(1488));
        assert_eq!(payload_len_4to6(65515), Some(65523));
        assert_eq!(payload_len_4to6(65530), None);
    }

    /// RFC 7915 §5.1.1 on exact bytes, through the header builder the data plane uses:
    /// ID = low 16 bits of the fragment ID, MF = M, DF 0, offset copied, Protocol = the
    /// upper layer, Total Length = the payload after the Fragment header + 20.
    #[test]
    fn ipv4_header_from_fragment_header() {
        let mut hdr6 = [0u8; 40];
        hdr6[0] = 0x60;
        hdr6[7] = 64;
        let frag = parse_fragment_header(&[17, 0, 0x05, 0xa9, 0x12, 0x34, 0xab, 0xcd]);
        assert_eq!((frag.offset, frag.more, frag.id), (181, true, 0x1234_abcd));
        let h = xlat::v6_fragment_to_v4_header(
            &hdr6,
            [203, 0, 113, 1],
            [192, 0, 2, 2],
            17,
            1448,
            &frag,
            Hop::Decrement,
        )
        .unwrap();
        let mut expected = [
            0x45, 0, 0x05, 0xbc, // 1468 bytes
            0xab, 0xcd, // ID: low 16 bits
            0x20, 0xb5, // MF, DF 0, offset 181
            63, 17, 0, 0, 203, 0, 113, 1, 192, 0, 2, 2,
        ];
        let c = xlat::ipv4_header_checksum(&expected).to_be_bytes();
        expected[10] = c[0];
        expected[11] = c[1];
        assert_eq!(h, expected);
        // Large fragments keep DF 0 (IPv4 routers may fragment them further).
        assert_eq!(h[6] & 0x40, 0);
    }

    #[test]
    fn keys_and_entries() {
        let k = FragKey::v4([192, 0, 2, 2], [203, 0, 113, 1], 0xbeef, 17);
        assert_eq!(&k.src[..4], &[192, 0, 2, 2]);
        assert!(k.src[4..].iter().all(|&b| b == 0));
        assert_eq!((k.id, k.proto, k.dir), (0xbeef, 17, FRAG_DIR_4TO6));
        let k6 = FragKey::v6([1; 16], [2; 16], 0xdead_beef, 6);
        assert_eq!((k6.id, k6.dir), (0xdead_beef, FRAG_DIR_6TO4));
        let e = FragEntry::v4(5, [203, 0, 113, 1], [192, 0, 2, 2]);
        assert_eq!((e.src4(), e.dst4()), ([203, 0, 113, 1], [192, 0, 2, 2]));
    }

    #[test]
    fn records_live_for_the_fragment_timeout() {
        let e = FragEntry::v6(1_000, [0; 16], [0; 16]);
        assert!(e.is_live(1_000));
        assert!(e.is_live(1_000 + FRAG_TIMEOUT_NS));
        assert!(!e.is_live(1_001 + FRAG_TIMEOUT_NS));
        assert!(e.is_live(999), "a stamp from a CPU slightly ahead");
    }
}
