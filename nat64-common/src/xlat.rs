//! IP header translation of RFC 7915 §4.1 (IPv4 → IPv6) and §5.1 (IPv6 → IPv4) on
//! fixed-size header arrays, IPv4 header/option validation and the IPv6 extension
//! header classifier.
//!
//! Protocol numbers: the builders map ICMP themselves (ICMPv4 1 ↔ ICMPv6 58, via
//! [`proto_4to6`]/[`proto_6to4`]); every other value is written as given, and an
//! already-mapped value passes through unchanged, so callers may map or not.

use crate::csum;

/// Length of the (option-less) IPv4 header the translator emits.
pub const IPV4_HDR_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HDR_LEN: usize = 40;
/// Length of the IPv6 Fragment header.
pub const IPV6_FRAG_HDR_LEN: usize = 8;
/// Largest IPv4 packet that is still sent with DF = 0 (RFC 7915 §5.1): 1280 − 20.
pub const DF_THRESHOLD: u16 = 1260;

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// Why a packet cannot be translated (each becomes its own drop counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlatError {
    /// IPv4 header version field is not 4.
    NotIpv4,
    /// IPv6 header version field is not 6.
    NotIpv6,
    /// IPv4 IHL below 5.
    BadIhl,
    /// IPv4 Total Length smaller than the header.
    BadTotalLength,
    /// Packet claims more bytes than the frame holds.
    Truncated,
    /// IPv4 header checksum does not verify.
    BadHeaderChecksum,
    /// IPv4 TTL ≤ 1: would expire in the translator (send ICMPv4 Time Exceeded).
    TtlExceeded,
    /// IPv6 Hop Limit ≤ 1: would expire in the translator (send ICMPv6 Time Exceeded).
    HopLimitExceeded,
    /// Translated packet would exceed 65535 bytes.
    TooBig,
    /// IPv4 packet with an unexpired LSRR/SSRR option (RFC 7915 §4.1: drop, optionally
    /// send ICMPv4 3/5 Source Route Failed).
    SourceRoute,
    /// IPv4 options area is malformed (bad option length or pointer).
    BadOptions,
}

impl XlatError {
    /// One-line explanation.
    pub const fn reason(&self) -> &'static str {
        match self {
            XlatError::NotIpv4 => "IPv4 header with a version other than 4",
            XlatError::NotIpv6 => "IPv6 header with a version other than 6",
            XlatError::BadIhl => "IPv4 header length (IHL) below 5",
            XlatError::BadTotalLength => "IPv4 total length smaller than its header",
            XlatError::Truncated => "packet length field exceeds the received frame",
            XlatError::BadHeaderChecksum => "IPv4 header checksum mismatch",
            XlatError::TtlExceeded => "IPv4 TTL would expire in the translator",
            XlatError::HopLimitExceeded => "IPv6 hop limit would expire in the translator",
            XlatError::TooBig => "translated packet would exceed 65535 bytes",
            XlatError::SourceRoute => {
                "IPv4 packet with an unexpired source route option (RFC 7915 section 4.1)"
            }
            XlatError::BadOptions => "malformed IPv4 options",
        }
    }
}

/// Whether the translator decrements TTL/Hop Limit itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// The translator forwards the packet: decrement, and refuse a TTL/Hop Limit ≤ 1
    /// (RFC 7915 §4.1/§5.1: the one decrement of a router).
    Decrement,
    /// Someone else (e.g. the kernel stack after XDP_PASS) forwards and decrements:
    /// copy the value unchanged and never refuse.
    Keep,
}

/// IPv4 header fields the data plane needs after [`validate_ipv4_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Header length in bytes (20..=60).
    pub ihl_bytes: u8,
    /// Total Length field.
    pub total_len: u16,
    /// Protocol field.
    pub proto: u8,
    /// Identification field (copied into a Fragment header, RFC 7915 §4.1.1).
    pub id: u16,
    /// MF set or offset ≠ 0.
    pub is_fragment: bool,
    /// MF flag.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// DF flag.
    pub df: bool,
    /// TTL field.
    pub ttl: u8,
}

impl Ipv4Info {
    /// Bytes after the header (Total Length − IHL·4); never underflows after validation.
    #[inline(always)]
    pub const fn payload_len(&self) -> u16 {
        self.total_len.saturating_sub(self.ihl_bytes as u16)
    }

    /// Bytes of options (IHL·4 − 20).
    #[inline(always)]
    pub const fn options_len(&self) -> usize {
        (self.ihl_bytes as usize).saturating_sub(IPV4_HDR_LEN)
    }
}

/// Shortest TCP header (data offset 5 words), and the UDP / ICMP header length.
pub const TCP_HDR_MIN: u16 = 20;
pub const UDP_ICMP_HDR_LEN: u16 = 8;
/// TCP's data offset field: the high nibble of header byte 12, in 32-bit words.
pub const TCP_DOFF_BYTE: usize = 12;
const TCP_DOFF_SHIFT: u8 = 4;
const TCP_DOFF_MIN_WORDS: u8 = 5;

/// Why a packet's own transport header cannot be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// Shorter than its fixed header, counted within the IP length (not the frame: an
    /// Ethernet trailer is not a header, and a tiny first fragment could hide its TCP
    /// flags in the next one, RFC 1858).
    Truncated,
    /// A TCP data offset below 5 words or reaching past the segment.
    BadTcpDataOffset,
}

/// The one validity check of a packet's own transport header, for both directions and
/// both hooks. `tcp`: the header is TCP, whose header byte 12 is `doff_byte`; `l4_len`:
/// the transport bytes the IP header accounts for.
#[inline(always)]
pub const fn check_transport(tcp: bool, l4_len: u16, doff_byte: u8) -> Result<(), TransportError> {
    if !tcp {
        return if l4_len < UDP_ICMP_HDR_LEN {
            Err(TransportError::Truncated)
        } else {
            Ok(())
        };
    }
    if l4_len < TCP_HDR_MIN {
        return Err(TransportError::Truncated);
    }
    let words = doff_byte >> TCP_DOFF_SHIFT;
    if words < TCP_DOFF_MIN_WORDS || (words as u16) * 4 > l4_len {
        return Err(TransportError::BadTcpDataOffset);
    }
    Ok(())
}

/// ICMPv4 → ICMPv6 protocol number; everything else unchanged.
#[inline(always)]
pub const fn proto_4to6(p: u8) -> u8 {
    if p == PROTO_ICMP {
        PROTO_ICMPV6
    } else {
        p
    }
}

/// ICMPv6 → ICMPv4 protocol number; everything else unchanged.
#[inline(always)]
pub const fn proto_6to4(p: u8) -> u8 {
    if p == PROTO_ICMPV6 {
        PROTO_ICMP
    } else {
        p
    }
}

/// IPv6 source address (bytes 8–23).
#[inline(always)]
pub const fn ipv6_src(h: &[u8; 40]) -> [u8; 16] {
    [
        h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19], h[20],
        h[21], h[22], h[23],
    ]
}

/// IPv6 destination address (bytes 24–39).
#[inline(always)]
pub const fn ipv6_dst(h: &[u8; 40]) -> [u8; 16] {
    [
        h[24], h[25], h[26], h[27], h[28], h[29], h[30], h[31], h[32], h[33], h[34], h[35], h[36],
        h[37], h[38], h[39],
    ]
}

/// IPv4 source address (bytes 12–15).
#[inline(always)]
pub const fn ipv4_src(h: &[u8; 20]) -> [u8; 4] {
    [h[12], h[13], h[14], h[15]]
}

/// IPv4 destination address (bytes 16–19).
#[inline(always)]
pub const fn ipv4_dst(h: &[u8; 20]) -> [u8; 4] {
    [h[16], h[17], h[18], h[19]]
}

/// IPv6 Traffic Class (spans bytes 0–1).
#[inline(always)]
pub const fn traffic_class(h: &[u8; 40]) -> u8 {
    (h[0] << 4) | (h[1] >> 4)
}

/// IPv6 Payload Length.
#[inline(always)]
pub const fn ipv6_payload_len(h: &[u8; 40]) -> u16 {
    u16::from_be_bytes([h[4], h[5]])
}

/// RFC 7915 §5.1 "Flags": DF is set iff the translated IPv4 packet is larger than 1260
/// bytes. Smaller packets may be fragmented by IPv4 routers, so an IPv6 sender that
/// only ever sees the 1280-byte IPv6 minimum MTU still gets its packets through
/// (RFC 7915 §6 states the same rule as "IPv6 packet ≤ 1280 bytes"; the two agree when
/// no extension headers are removed). Only for packets without a Fragment header; see
/// [`v6_fragment_to_v4_header`] for those (DF always 0).
#[inline(always)]
pub const fn df_for_len(total_len_v4: u16) -> bool {
    total_len_v4 > DF_THRESHOLD
}

/// New TTL/Hop Limit, or `None` if the packet must not be forwarded.
#[inline(always)]
const fn next_hop_value(v: u8, hop: Hop) -> Option<u8> {
    match hop {
        Hop::Keep => Some(v),
        Hop::Decrement => {
            if v <= 1 {
                None
            } else {
                Some(v - 1)
            }
        }
    }
}

/// Fields of an IPv6 Fragment header (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag6 {
    /// Next Header of the fragmentable part.
    pub next_header: u8,
    /// Fragment Offset in 8-byte units (13 bits).
    pub offset: u16,
    /// M flag.
    pub more: bool,
    /// Identification (32 bits).
    pub id: u32,
}

impl Frag6 {
    /// Offset ≠ 0 or M set: a real fragment, not an "atomic fragment".
    #[inline(always)]
    pub const fn is_fragment(&self) -> bool {
        self.offset != 0 || self.more
    }
}

/// Parse an IPv6 Fragment header.
#[inline(always)]
pub const fn parse_fragment_header(h: &[u8; 8]) -> Frag6 {
    let off_m = u16::from_be_bytes([h[2], h[3]]);
    Frag6 {
        next_header: h[0],
        offset: off_m >> 3,
        more: off_m & 1 != 0,
        id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
    }
}

/// Build the Fragment header for a fragmented IPv4 packet (RFC 7915 §4.1.1): next header
/// = protocol (ICMP mapped), offset and M copied, identification = the IPv4 ID with the
/// high 16 bits zero.
#[inline(always)]
pub const fn fragment_header_4to6(info: &Ipv4Info) -> [u8; 8] {
    let off_m = ((info.frag_offset & 0x1fff) << 3) | info.more_fragments as u16;
    let om = off_m.to_be_bytes();
    let id = info.id.to_be_bytes();
    [proto_4to6(info.proto), 0, om[0], om[1], 0, 0, id[0], id[1]]
}

/// Assemble a 20-byte IPv4 header and its checksum.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
const fn build_v4(
    tos: u8,
    total_len: u16,
    id: u16,
    flags_off: u16,
    ttl: u8,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
) -> [u8; 20] {
    let tl = total_len.to_be_bytes();
    let idb = id.to_be_bytes();
    let fo = flags_off.to_be_bytes();
    let mut h = [
        0x45, tos, tl[0], tl[1], idb[0], idb[1], fo[0], fo[1], ttl, proto, 0, 0, src[0], src[1],
        src[2], src[3], dst[0], dst[1], dst[2], dst[3],
    ];
    let c = ipv4_header_checksum(&h).to_be_bytes();
    h[10] = c[0];
    h[11] = c[1];
    h
}

/// RFC 7915 §5.1 for a packet without a Fragment header, with the translator doing the
/// router's decrement ([`Hop::Decrement`]). See [`v6_to_v4_header_hop`].
#[inline(always)]
pub fn v6_to_v4_header(
    hdr6: &[u8; 40],
    src4: [u8; 4],
    dst4: [u8; 4],
    proto4: u8,
    payload_len: u16,
    id: u16,
) -> Result<[u8; 20], XlatError> {
    v6_to_v4_header_hop(hdr6, src4, dst4, proto4, payload_len, id, Hop::Decrement)
}

/// RFC 7915 §5.1: IPv4 header for an IPv6 packet without a Fragment header.
///
/// - `proto4`: the upper-layer protocol found after the skipped extension headers
///   (58 is mapped to 1).
/// - `payload_len`: bytes after the IPv6 header *and* the removed extension headers.
/// - `id`: Identification. RFC 7915 §5.1 leaves its generation to the translator
///   (RFC 7739); it matters only when DF = 0, i.e. packets ≤ 1260 bytes.
///
/// TOS = Traffic Class; Total Length = `payload_len` + 20 ([`XlatError::TooBig`] if that
/// overflows); DF per [`df_for_len`], MF 0, offset 0; TTL = Hop Limit − 1 with
/// [`Hop::Decrement`] ([`XlatError::HopLimitExceeded`] if Hop Limit ≤ 1); header checksum
/// computed. Flow label is dropped.
#[inline(always)]
pub fn v6_to_v4_header_hop(
    hdr6: &[u8; 40],
    src4: [u8; 4],
    dst4: [u8; 4],
    proto4: u8,
    payload_len: u16,
    id: u16,
    hop: Hop,
) -> Result<[u8; 20], XlatError> {
    if hdr6[0] >> 4 != 6 {
        return Err(XlatError::NotIpv6);
    }
    let total = match payload_len.checked_add(IPV4_HDR_LEN as u16) {
        Some(t) => t,
        None => return Err(XlatError::TooBig),
    };
    let ttl = match next_hop_value(hdr6[7], hop) {
        Some(t) => t,
        None => return Err(XlatError::HopLimitExceeded),
    };
    let flags_off = if df_for_len(total) { 0x4000 } else { 0 };
    Ok(build_v4(
        traffic_class(hdr6),
        total,
        id,
        flags_off,
        ttl,
        proto_6to4(proto4),
        src4,
        dst4,
    ))
}

/// RFC 7915 §5.1.1: IPv4 header for an IPv6 packet *with* a Fragment header.
/// Identification = low 16 bits of the fragment ID, MF = M, DF = 0 (IPv4 routers may
/// fragment further), offset copied; everything else as [`v6_to_v4_header_hop`].
/// `payload_len` excludes the Fragment header and every other removed extension header.
#[inline(always)]
pub fn v6_fragment_to_v4_header(
    hdr6: &[u8; 40],
    src4: [u8; 4],
    dst4: [u8; 4],
    proto4: u8,
    payload_len: u16,
    frag: &Frag6,
    hop: Hop,
) -> Result<[u8; 20], XlatError> {
    if hdr6[0] >> 4 != 6 {
        return Err(XlatError::NotIpv6);
    }
    let total = match payload_len.checked_add(IPV4_HDR_LEN as u16) {
        Some(t) => t,
        None => return Err(XlatError::TooBig),
    };
    let ttl = match next_hop_value(hdr6[7], hop) {
        Some(t) => t,
        None => return Err(XlatError::HopLimitExceeded),
    };
    let flags_off = (frag.offset & 0x1fff) | if frag.more { 0x2000 } else { 0 };
    Ok(build_v4(
        traffic_class(hdr6),
        total,
        frag.id as u16,
        flags_off,
        ttl,
        proto_6to4(proto4),
        src4,
        dst4,
    ))
}

/// RFC 7915 §4.1 with the translator doing the router's decrement. See
/// [`v4_to_v6_header_hop`].
#[inline(always)]
pub fn v4_to_v6_header(
    hdr4: &[u8; 20],
    src6: &[u8; 16],
    dst6: &[u8; 16],
    next_header: u8,
    payload_len: u16,
) -> Result<[u8; 40], XlatError> {
    v4_to_v6_header_hop(hdr4, src6, dst6, next_header, payload_len, Hop::Decrement)
}

/// RFC 7915 §4.1: IPv6 header for an IPv4 packet.
///
/// - `next_header`: the IPv4 protocol (1 is mapped to 58), or 44 when the caller
///   inserts a Fragment header ([`fragment_header_4to6`]) right after this header.
/// - `payload_len`: Total Length − IHL·4, plus 8 if a Fragment header is inserted.
///
/// Version 6, Traffic Class = TOS, Flow Label 0, Hop Limit = TTL − 1 with
/// [`Hop::Decrement`] ([`XlatError::TtlExceeded`] if TTL ≤ 1). IPv4 options are not
/// translated (check them with [`scan_ipv4_options`] first).
#[inline(always)]
pub fn v4_to_v6_header_hop(
    hdr4: &[u8; 20],
    src6: &[u8; 16],
    dst6: &[u8; 16],
    next_header: u8,
    payload_len: u16,
    hop: Hop,
) -> Result<[u8; 40], XlatError> {
    if hdr4[0] >> 4 != 4 {
        return Err(XlatError::NotIpv4);
    }
    let fixed = v4_to_v6_fixed(hdr4[1], hdr4[8], next_header, payload_len, hop)?;
    let mut h = [0u8; 40];
    let mut i = 0;
    while i < 8 {
        h[i] = fixed[i];
        i += 1;
    }
    let mut i = 0;
    while i < 16 {
        h[8 + i] = src6[i];
        h[24 + i] = dst6[i];
        i += 1;
    }
    Ok(h)
}

/// The first 8 bytes of the IPv6 header RFC 7915 §4.1 builds from an IPv4 header's `tos`
/// and `ttl` (addresses follow). Split out so that the data plane can write the header
/// straight into the packet instead of assembling 40 bytes on its small stack.
#[inline(always)]
pub const fn v4_to_v6_fixed(
    tos: u8,
    ttl: u8,
    next_header: u8,
    payload_len: u16,
    hop: Hop,
) -> Result<[u8; 8], XlatError> {
    let hl = match next_hop_value(ttl, hop) {
        Some(t) => t,
        None => return Err(XlatError::TtlExceeded),
    };
    let pl = payload_len.to_be_bytes();
    // Traffic class = TOS; flow label 0.
    Ok([
        0x60 | (tos >> 4),
        tos << 4,
        0,
        0,
        pl[0],
        pl[1],
        proto_4to6(next_header),
        hl,
    ])
}

/// IPv4 header checksum of a 20-byte header (the stored checksum field is ignored):
/// the value to store in bytes 10–11.
#[inline(always)]
pub const fn ipv4_header_checksum(h: &[u8; 20]) -> u16 {
    let mut sum = 0u32;
    let mut i = 0;
    while i < 20 {
        if i != 10 {
            sum += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
        }
        i += 2;
    }
    !csum::fold(sum)
}

/// Whether the checksum of a header with `opts_len` bytes of options (`opts` holds them,
/// zero-padded) verifies. Accepts both one's-complement zeros (0x0000 and 0xffff).
#[inline(always)]
pub fn ipv4_checksum_ok(h: &[u8; 20], opts: &[u8; 40], opts_len: usize) -> bool {
    let mut sum = 0u32;
    let mut i = 0;
    while i < 20 {
        sum += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
        i += 2;
    }
    let mut j = 0;
    while j < 40 {
        if j < opts_len {
            sum += u16::from_be_bytes([opts[j], opts[j + 1]]) as u32;
        }
        j += 2;
    }
    csum::fold(sum) == 0xffff
}

/// Check an IPv4 header against the bytes received after the L2 header.
///
/// Refuses: version ≠ 4, IHL < 5, Total Length < IHL·4, Total Length > `frame_len_after_l2`
/// (trailing L2 padding beyond Total Length is allowed; use `total_len`, not the frame
/// length). Verifies the header checksum when IHL = 5.
///
/// Why verify although RFC 7915 does not say so: the translator writes a *fresh* IPv4 or
/// IPv6 header, so a header corrupted in transit would otherwise leave with valid
/// checksums (or lose its checksum entirely in IPv6) and be delivered; routers must
/// verify it anyway (RFC 1812 §5.2.2). With options (IHL > 5) this function cannot see
/// the option bytes: the caller must then call [`ipv4_checksum_ok`] and
/// [`scan_ipv4_options`] with them.
// Always inlined: out of line, its `Result` (tag in a niche at byte 11) becomes BTF the
// kernel refuses (a union member at a non-zero offset), and the object loads without BTF.
#[inline(always)]
pub fn validate_ipv4_header(
    hdr: &[u8; 20],
    frame_len_after_l2: usize,
) -> Result<Ipv4Info, XlatError> {
    if hdr[0] >> 4 != 4 {
        return Err(XlatError::NotIpv4);
    }
    let ihl = hdr[0] & 0x0f;
    if ihl < 5 {
        return Err(XlatError::BadIhl);
    }
    let ihl_bytes = ihl * 4;
    let total_len = u16::from_be_bytes([hdr[2], hdr[3]]);
    if total_len < ihl_bytes as u16 {
        return Err(XlatError::BadTotalLength);
    }
    if total_len as usize > frame_len_after_l2 {
        return Err(XlatError::Truncated);
    }
    if ihl == 5 && !ipv4_checksum_ok(hdr, &[0; 40], 0) {
        return Err(XlatError::BadHeaderChecksum);
    }
    let fo = u16::from_be_bytes([hdr[6], hdr[7]]);
    let more_fragments = fo & 0x2000 != 0;
    let frag_offset = fo & 0x1fff;
    Ok(Ipv4Info {
        ihl_bytes,
        total_len,
        proto: hdr[9],
        id: u16::from_be_bytes([hdr[4], hdr[5]]),
        is_fragment: more_fragments || frag_offset != 0,
        more_fragments,
        frag_offset,
        df: fo & 0x4000 != 0,
        ttl: hdr[8],
    })
}

/// IPv4 option: End of Option List.
const OPT_EOL: u8 = 0;
/// IPv4 option: No Operation.
const OPT_NOP: u8 = 1;
/// IPv4 option: Loose Source and Record Route.
pub const OPT_LSRR: u8 = 131;
/// IPv4 option: Strict Source and Record Route.
pub const OPT_SSRR: u8 = 137;

/// One step of the IPv4 option scan: what the option at `i` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionStep {
    /// Go on at this index.
    Next(usize),
    /// End of the options area (or End of Option List): nothing to refuse.
    Done,
    /// Refuse the packet.
    Refuse(XlatError),
}

/// Scan the IPv4 options area (`opts[..len]`, `len` = IHL·4 − 20 ≤ 40).
///
/// RFC 7915 §4.1: options are ignored, except that a packet with an *unexpired* source
/// route (LSRR/SSRR whose pointer ≤ length, i.e. hops remain) must be dropped →
/// [`XlatError::SourceRoute`]. An expired source route is ignored like any other option.
/// A malformed area (option running past the end, length < 2, source-route pointer < 4)
/// → [`XlatError::BadOptions`]: it could hide a source route, and a router would answer
/// it with a Parameter Problem. Scanning stops at End of Option List.
///
/// At most 40 iterations: each one consumes at least one byte. The data plane drives
/// [`ipv4_option_step`] from `bpf_loop` instead, which the verifier checks once.
#[inline]
pub fn scan_ipv4_options(opts: &[u8; 40], len: usize) -> Result<(), XlatError> {
    let mut i = 0usize;
    for _ in 0..40 {
        match ipv4_option_step(opts, len, i) {
            OptionStep::Next(n) => i = n,
            OptionStep::Done => return Ok(()),
            OptionStep::Refuse(e) => return Err(e),
        }
    }
    Ok(())
}

/// The option starting at `opts[i]` (see [`scan_ipv4_options`] for the rules).
#[inline]
pub fn ipv4_option_step(opts: &[u8; 40], len: usize, i: usize) -> OptionStep {
    if len > 40 {
        return OptionStep::Refuse(XlatError::BadOptions);
    }
    if i >= len {
        return OptionStep::Done;
    }
    let ty = match opts.get(i) {
        Some(t) => *t,
        None => return OptionStep::Refuse(XlatError::BadOptions),
    };
    if ty == OPT_EOL {
        return OptionStep::Done;
    }
    if ty == OPT_NOP {
        return OptionStep::Next(i + 1);
    }
    // Every other option is type, length, data.
    if i + 1 >= len {
        return OptionStep::Refuse(XlatError::BadOptions);
    }
    let olen = match opts.get(i + 1) {
        Some(l) => *l as usize,
        None => return OptionStep::Refuse(XlatError::BadOptions),
    };
    if olen < 2 || i + olen > len {
        return OptionStep::Refuse(XlatError::BadOptions);
    }
    if ty == OPT_LSRR || ty == OPT_SSRR {
        // type, length, pointer, route data: pointer is 1-based, ≥ 4.
        if olen < 3 {
            return OptionStep::Refuse(XlatError::BadOptions);
        }
        let ptr = match opts.get(i + 2) {
            Some(p) => *p as usize,
            None => return OptionStep::Refuse(XlatError::BadOptions),
        };
        if ptr < 4 {
            return OptionStep::Refuse(XlatError::BadOptions);
        }
        if ptr <= olen {
            return OptionStep::Refuse(XlatError::SourceRoute);
        }
    }
    OptionStep::Next(i + olen)
}

/// How the IPv6 → IPv4 direction treats a Next Header value (RFC 7915 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtHeader {
    /// Hop-by-Hop (0), Destination Options (60), or Routing (43) with Segments Left 0:
    /// not translated, skip [`ext_header_len`] bytes and continue with its Next Header.
    Skip,
    /// Fragment header (44): 8 bytes, see [`parse_fragment_header`].
    Fragment,
    /// TCP, UDP or ICMPv6: the upper layer a stateful NAT64 translates.
    Upper,
    /// Routing header with Segments Left ≠ 0: must not be translated; RFC 7915 §5.1 asks
    /// for an ICMPv6 Parameter Problem (code 0) pointing at the Segments Left field.
    RoutingNonZeroSegmentsLeft,
    /// Anything else, including No Next Header (59), ESP, AH, Mobility and
    /// non-TCP/UDP/ICMP upper layers, which a stateful NAT64 has no mapping for.
    Unsupported,
}

/// Classify `nh`. `segments_left` (byte 3 of the header) is only looked at for a Routing
/// header (43); pass anything (e.g. 0) otherwise.
#[inline(always)]
pub const fn classify_next_header(nh: u8, segments_left: u8) -> ExtHeader {
    match nh {
        0 | 60 => ExtHeader::Skip,
        43 => {
            if segments_left == 0 {
                ExtHeader::Skip
            } else {
                ExtHeader::RoutingNonZeroSegmentsLeft
            }
        }
        44 => ExtHeader::Fragment,
        PROTO_TCP | PROTO_UDP | PROTO_ICMPV6 => ExtHeader::Upper,
        _ => ExtHeader::Unsupported,
    }
}

/// Length in bytes of a Hop-by-Hop, Destination Options or Routing header from its first
/// two bytes: (Hdr Ext Len + 1) · 8, i.e. 8..=2048. Not for the Fragment header (always
/// [`IPV6_FRAG_HDR_LEN`]) or AH.
#[inline(always)]
pub const fn ext_header_len(first2: [u8; 2]) -> usize {
    (first2[1] as usize + 1) * 8
}

#[cfg(test)]
mod tests {
    #[test]
    fn transport_check_is_the_same_rule_for_every_header() {
        use super::{check_transport, TransportError::*};
        // UDP/ICMP: 8 bytes within the IP length.
        assert_eq!(check_transport(false, 7, 0), Err(Truncated));
        assert_eq!(check_transport(false, 8, 0), Ok(()));
        // TCP: 20 bytes, and a data offset of 5..=l4_len/4 words.
        assert_eq!(check_transport(true, 19, 0x50), Err(Truncated));
        assert_eq!(check_transport(true, 20, 0x50), Ok(()));
        assert_eq!(check_transport(true, 20, 0x40), Err(BadTcpDataOffset));
        assert_eq!(check_transport(true, 20, 0x60), Err(BadTcpDataOffset));
        assert_eq!(check_transport(true, 24, 0x60), Ok(()));
        assert_eq!(check_transport(true, 60, 0xf0), Ok(()));
        assert_eq!(check_transport(true, 59, 0xf0), Err(BadTcpDataOffset));
        // The flags nibble is not part of the offset.
        assert_eq!(check_transport(true, 20, 0x5f), Ok(()));
    }

    use super::*;
    use crate::csum::{checksum, fold, sum_bytes};

    const SRC6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    const DST6: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7];
    const SRC4: [u8; 4] = [203, 0, 113, 5];
    const DST4: [u8; 4] = [198, 51, 100, 7];

    fn hdr6(tclass: u8, flow: u32, plen: u16, nh: u8, hl: u8) -> [u8; 40] {
        let mut h = [0u8; 40];
        let w0 = (6u32 << 28) | ((tclass as u32) << 20) | (flow & 0xfffff);
        h[..4].copy_from_slice(&w0.to_be_bytes());
        h[4..6].copy_from_slice(&plen.to_be_bytes());
        h[6] = nh;
        h[7] = hl;
        h[8..24].copy_from_slice(&SRC6);
        h[24..40].copy_from_slice(&DST6);
        h
    }

    fn hdr4(tos: u8, total: u16, id: u16, flags_off: u16, ttl: u8, proto: u8) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h[6..8].copy_from_slice(&flags_off.to_be_bytes());
        h[8] = ttl;
        h[9] = proto;
        h[12..16].copy_from_slice(&SRC4);
        h[16..20].copy_from_slice(&DST4);
        let c = checksum(&h, 0);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    #[test]
    fn v6_to_v4_fields() {
        let h6 = hdr6(0xb8, 0xabcde, 100, 17, 64);
        let h4 = v6_to_v4_header(&h6, SRC4, DST4, 17, 100, 0x1234).unwrap();
        assert_eq!(h4[0], 0x45);
        assert_eq!(h4[1], 0xb8, "TOS = traffic class");
        assert_eq!(u16::from_be_bytes([h4[2], h4[3]]), 120);
        assert_eq!(u16::from_be_bytes([h4[4], h4[5]]), 0x1234);
        assert_eq!(
            u16::from_be_bytes([h4[6], h4[7]]),
            0,
            "small packet: DF 0, MF 0, offset 0"
        );
        assert_eq!(h4[8], 63, "TTL = hop limit - 1");
        assert_eq!(h4[9], 17);
        assert_eq!(&h4[12..16], &SRC4);
        assert_eq!(&h4[16..20], &DST4);
        // Independent check: the header sums to all ones.
        assert_eq!(fold(sum_bytes(&h4, 0)), 0xffff);
        let mut z = h4;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(u16::from_be_bytes([h4[10], h4[11]]), checksum(&z, 0));

        // ICMPv6 becomes ICMP; an already-mapped 1 stays 1.
        assert_eq!(v6_to_v4_header(&h6, SRC4, DST4, 58, 100, 0).unwrap()[9], 1);
        assert_eq!(v6_to_v4_header(&h6, SRC4, DST4, 1, 100, 0).unwrap()[9], 1);
        // Traffic class is read across the nibble boundary.
        let h6 = hdr6(0x0f, 0, 8, 6, 2);
        assert_eq!(v6_to_v4_header(&h6, SRC4, DST4, 6, 8, 0).unwrap()[1], 0x0f);
        assert_eq!(traffic_class(&hdr6(0xf0, 0xfffff, 0, 0, 0)), 0xf0);
    }

    #[test]
    fn df_boundary() {
        assert!(!df_for_len(1260));
        assert!(df_for_len(1261));
        assert!(!df_for_len(20));
        assert!(df_for_len(u16::MAX));
        let h6 = hdr6(0, 0, 1240, 6, 64);
        let at = v6_to_v4_header(&h6, SRC4, DST4, 6, 1240, 0).unwrap();
        assert_eq!(u16::from_be_bytes([at[2], at[3]]), 1260);
        assert_eq!(at[6] & 0x40, 0, "1260 bytes: DF 0");
        let above = v6_to_v4_header(&h6, SRC4, DST4, 6, 1241, 0).unwrap();
        assert_eq!(u16::from_be_bytes([above[2], above[3]]), 1261);
        assert_eq!(
            u16::from_be_bytes([above[6], above[7]]),
            0x4000,
            "1261 bytes: DF 1 only"
        );
        assert_eq!(fold(sum_bytes(&above, 0)), 0xffff);
    }

    #[test]
    fn hop_limit_rules() {
        for (hl, expect) in [(0u8, None), (1, None), (2, Some(1u8)), (255, Some(254))] {
            let h6 = hdr6(0, 0, 8, 17, hl);
            let r = v6_to_v4_header(&h6, SRC4, DST4, 17, 8, 0);
            match expect {
                None => assert_eq!(r, Err(XlatError::HopLimitExceeded), "hl {hl}"),
                Some(ttl) => assert_eq!(r.unwrap()[8], ttl, "hl {hl}"),
            }
            // Keep: copied unchanged, never refused.
            let k = v6_to_v4_header_hop(&h6, SRC4, DST4, 17, 8, 0, Hop::Keep).unwrap();
            assert_eq!(k[8], hl);
            assert_eq!(fold(sum_bytes(&k, 0)), 0xffff);
        }
    }

    #[test]
    fn v6_to_v4_errors() {
        let h6 = hdr6(0, 0, 0, 17, 64);
        assert_eq!(
            v6_to_v4_header(&h6, SRC4, DST4, 17, 65515, 0).map(|h| h[2]),
            Ok(0xff)
        );
        assert_eq!(
            v6_to_v4_header(&h6, SRC4, DST4, 17, 65516, 0),
            Err(XlatError::TooBig)
        );
        let mut bad = h6;
        bad[0] = 0x45;
        assert_eq!(
            v6_to_v4_header(&bad, SRC4, DST4, 17, 8, 0),
            Err(XlatError::NotIpv6)
        );
    }

    #[test]
    fn v6_fragment_to_v4() {
        let h6 = hdr6(0x20, 0, 1500, 44, 10);
        let fh = [17u8, 0, 0x00, 0xb9, 0xde, 0xad, 0xbe, 0xef]; // offset 23, M = 1
        let f = parse_fragment_header(&fh);
        assert_eq!(
            f,
            Frag6 {
                next_header: 17,
                offset: 23,
                more: true,
                id: 0xdead_beef
            }
        );
        assert!(f.is_fragment());
        let h4 = v6_fragment_to_v4_header(&h6, SRC4, DST4, f.next_header, 1400, &f, Hop::Decrement)
            .unwrap();
        assert_eq!(u16::from_be_bytes([h4[2], h4[3]]), 1420);
        assert_eq!(
            u16::from_be_bytes([h4[4], h4[5]]),
            0xbeef,
            "low 16 bits of the ID"
        );
        assert_eq!(
            u16::from_be_bytes([h4[6], h4[7]]),
            0x2000 | 23,
            "MF copied, DF 0 despite > 1260"
        );
        assert_eq!(h4[8], 9);
        assert_eq!(h4[1], 0x20);
        assert_eq!(fold(sum_bytes(&h4, 0)), 0xffff);
        // Atomic fragment.
        let atomic = parse_fragment_header(&[6, 0, 0, 0, 0, 0, 0, 1]);
        assert!(!atomic.is_fragment());
    }

    #[test]
    fn v4_to_v6_fields() {
        let h4 = hdr4(0xb9, 120, 7, 0x4000, 64, 6);
        let h6 = v4_to_v6_header(&h4, &SRC6, &DST6, 6, 100).unwrap();
        assert_eq!(h6[0], 0x6b);
        assert_eq!(
            h6[1], 0x90,
            "traffic class low nibble, flow label high nibble 0"
        );
        assert_eq!(&h6[1..4], &[0x90, 0, 0], "flow label 0");
        assert_eq!(traffic_class(&h6), 0xb9);
        assert_eq!(u16::from_be_bytes([h6[4], h6[5]]), 100);
        assert_eq!(h6[6], 6);
        assert_eq!(h6[7], 63);
        assert_eq!(ipv6_src(&h6), SRC6);
        assert_eq!(ipv6_dst(&h6), DST6);
        assert_eq!(ipv6_payload_len(&h6), 100);
        // ICMP → ICMPv6; Fragment header stays 44.
        assert_eq!(v4_to_v6_header(&h4, &SRC6, &DST6, 1, 100).unwrap()[6], 58);
        assert_eq!(v4_to_v6_header(&h4, &SRC6, &DST6, 44, 108).unwrap()[6], 44);
        // Round trip of the addresses helpers.
        assert_eq!(ipv4_src(&h4), SRC4);
        assert_eq!(ipv4_dst(&h4), DST4);
    }

    #[test]
    fn ttl_rules() {
        for (ttl, expect) in [(0u8, None), (1, None), (2, Some(1u8)), (255, Some(254))] {
            let h4 = hdr4(0, 28, 0, 0, ttl, 17);
            let r = v4_to_v6_header(&h4, &SRC6, &DST6, 17, 8);
            match expect {
                None => assert_eq!(r, Err(XlatError::TtlExceeded), "ttl {ttl}"),
                Some(hl) => assert_eq!(r.unwrap()[7], hl, "ttl {ttl}"),
            }
            let k = v4_to_v6_header_hop(&h4, &SRC6, &DST6, 17, 8, Hop::Keep).unwrap();
            assert_eq!(k[7], ttl);
        }
        let mut bad = hdr4(0, 28, 0, 0, 64, 17);
        bad[0] = 0x65;
        assert_eq!(
            v4_to_v6_header(&bad, &SRC6, &DST6, 17, 8),
            Err(XlatError::NotIpv4)
        );
    }

    #[test]
    fn fragment_header_from_v4() {
        let h4 = hdr4(0, 1420, 0xbeef, 0x2000 | 185, 64, 1);
        let info = validate_ipv4_header(&h4, 1500).unwrap();
        assert!(info.is_fragment && info.more_fragments && !info.df);
        assert_eq!(info.frag_offset, 185);
        let fh = fragment_header_4to6(&info);
        assert_eq!(fh, [58, 0, 0x05, 0xc9, 0, 0, 0xbe, 0xef]); // 185 << 3 | 1 = 0x5c9
        assert_eq!(
            parse_fragment_header(&fh),
            Frag6 {
                next_header: 58,
                offset: 185,
                more: true,
                id: 0xbeef
            }
        );
    }

    #[test]
    fn validate_v4() {
        let h = hdr4(0, 100, 0x42, 0x4000, 64, 6);
        let info = validate_ipv4_header(&h, 100).unwrap();
        assert_eq!(
            info,
            Ipv4Info {
                ihl_bytes: 20,
                total_len: 100,
                proto: 6,
                id: 0x42,
                is_fragment: false,
                more_fragments: false,
                frag_offset: 0,
                df: true,
                ttl: 64
            }
        );
        assert_eq!(info.payload_len(), 80);
        assert_eq!(info.options_len(), 0);
        // Ethernet padding after the packet is fine; a short frame is not.
        assert!(validate_ipv4_header(&h, 1500).is_ok());
        assert_eq!(validate_ipv4_header(&h, 99), Err(XlatError::Truncated));
        // Non-first fragment.
        let f = validate_ipv4_header(&hdr4(0, 100, 1, 10, 64, 17), 100).unwrap();
        assert!(f.is_fragment && !f.more_fragments && f.frag_offset == 10);

        let mut v = h;
        v[0] = 0x65;
        assert_eq!(validate_ipv4_header(&v, 100), Err(XlatError::NotIpv4));
        let mut v = h;
        v[0] = 0x44;
        assert_eq!(validate_ipv4_header(&v, 100), Err(XlatError::BadIhl));
        assert_eq!(
            validate_ipv4_header(&hdr4(0, 19, 0, 0, 64, 6), 100),
            Err(XlatError::BadTotalLength)
        );
        // A header-only packet is valid.
        assert!(validate_ipv4_header(&hdr4(0, 20, 0, 0, 64, 6), 20).is_ok());
        // Corrupted header.
        let mut v = h;
        v[8] = 63;
        assert_eq!(
            validate_ipv4_header(&v, 100),
            Err(XlatError::BadHeaderChecksum)
        );
        // A header whose correct checksum is 0x0000 (Identification chosen to make the
        // sum 0xffff) also verifies with the other one's-complement zero, 0xffff.
        let base = hdr4(0, 100, 0, 0, 64, 6);
        let mut z = base;
        z[10] = 0;
        z[11] = 0;
        let id = !fold(sum_bytes(&z, 0));
        let mut z = hdr4(0, 100, id, 0, 64, 6);
        assert_eq!(&z[10..12], &[0, 0]);
        assert!(validate_ipv4_header(&z, 100).is_ok());
        z[10] = 0xff;
        z[11] = 0xff;
        assert!(validate_ipv4_header(&z, 100).is_ok());
        z[11] = 0xfe;
        assert_eq!(
            validate_ipv4_header(&z, 100),
            Err(XlatError::BadHeaderChecksum)
        );
        // IHL 6: checksum left to ipv4_checksum_ok with the option bytes.
        let mut o = hdr4(0, 100, 0, 0, 64, 6);
        o[0] = 0x46;
        o[10] = 0;
        o[11] = 0;
        let opts = [1u8, 1, 1, 0];
        let c = checksum(&[&o[..], &opts[..]].concat(), 0);
        o[10..12].copy_from_slice(&c.to_be_bytes());
        let info = validate_ipv4_header(&o, 100).unwrap();
        assert_eq!(info.ihl_bytes, 24);
        assert_eq!(info.options_len(), 4);
        let mut buf = [0u8; 40];
        buf[..4].copy_from_slice(&opts);
        assert!(ipv4_checksum_ok(&o, &buf, 4));
        assert!(!ipv4_checksum_ok(&o, &buf, 0));
        buf[1] = 0;
        assert!(!ipv4_checksum_ok(&o, &buf, 4));
    }

    #[test]
    fn header_checksum_vector() {
        // Classic example header (45 00 00 73 00 00 40 00 40 11 .. .. c0 a8 00 01 c0 a8 00 c7)
        // whose checksum is 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&h), 0xb861);
        let mut with = h;
        with[10] = 0xb8;
        with[11] = 0x61;
        // Stored checksum is ignored when computing.
        assert_eq!(ipv4_header_checksum(&with), 0xb861);
        assert!(ipv4_checksum_ok(&with, &[0; 40], 0));
    }

    fn opts(bytes: &[u8]) -> [u8; 40] {
        let mut o = [0u8; 40];
        o[..bytes.len()].copy_from_slice(bytes);
        o
    }

    #[test]
    fn source_route_detection() {
        // LSRR with two addresses, pointer at the first: unexpired.
        let lsrr = [131, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        assert_eq!(
            scan_ipv4_options(&opts(&lsrr), 12),
            Err(XlatError::SourceRoute)
        );
        // SSRR after NOPs, pointer at the last address: still unexpired.
        let ssrr = [1, 137, 7, 4, 9, 9, 9, 9];
        assert_eq!(
            scan_ipv4_options(&opts(&ssrr), 8),
            Err(XlatError::SourceRoute)
        );
        // Pointer past the end (8 > 7): expired, ignored.
        let expired = [137, 7, 8, 9, 9, 9, 9, 0];
        assert_eq!(scan_ipv4_options(&opts(&expired), 8), Ok(()));
        // Record Route (7) and Timestamp (68) are ignored.
        let rr = [7, 7, 4, 0, 0, 0, 0, 1, 68, 4, 5, 0];
        assert_eq!(scan_ipv4_options(&opts(&rr), 12), Ok(()));
        // A source route after EOL is padding, not an option.
        let eol = [0, 131, 7, 4, 1, 2, 3, 4];
        assert_eq!(scan_ipv4_options(&opts(&eol), 8), Ok(()));
        // No options at all.
        assert_eq!(scan_ipv4_options(&[0; 40], 0), Ok(()));
        // Full 40 bytes of NOPs.
        assert_eq!(scan_ipv4_options(&[1; 40], 40), Ok(()));
        // 36 bytes of NOP then an LSRR at the very end (4 bytes: one pointer, no room).
        let mut tail = [1u8; 40];
        tail[36..40].copy_from_slice(&[131, 4, 4, 0]);
        assert_eq!(scan_ipv4_options(&tail, 40), Err(XlatError::SourceRoute));
    }

    #[test]
    fn lying_option_lengths() {
        // Length 0 and 1 would loop forever if trusted.
        assert_eq!(
            scan_ipv4_options(&opts(&[7, 0, 0, 0]), 4),
            Err(XlatError::BadOptions)
        );
        assert_eq!(
            scan_ipv4_options(&opts(&[7, 1, 0, 0]), 4),
            Err(XlatError::BadOptions)
        );
        // Length beyond the options area.
        assert_eq!(
            scan_ipv4_options(&opts(&[7, 9, 4, 0, 0, 0, 0, 0]), 8),
            Err(XlatError::BadOptions)
        );
        assert_eq!(
            scan_ipv4_options(&opts(&[131, 255, 4, 0]), 4),
            Err(XlatError::BadOptions)
        );
        // Type byte is the last byte: no room for a length.
        assert_eq!(
            scan_ipv4_options(&opts(&[1, 1, 1, 7]), 4),
            Err(XlatError::BadOptions)
        );
        // Source route too short for a pointer, or pointer below 4.
        assert_eq!(
            scan_ipv4_options(&opts(&[131, 2, 1, 0]), 4),
            Err(XlatError::BadOptions)
        );
        assert_eq!(
            scan_ipv4_options(&opts(&[137, 3, 3, 0]), 4),
            Err(XlatError::BadOptions)
        );
        // Caller passing an impossible length.
        assert_eq!(scan_ipv4_options(&[1; 40], 41), Err(XlatError::BadOptions));
        assert_eq!(
            scan_ipv4_options(&[1; 40], usize::MAX),
            Err(XlatError::BadOptions)
        );
        // Exhaustive-ish: every (type, length, pointer) triple in a 4-byte area and in a
        // 40-byte area terminates without panicking, and a source route is reported only
        // when there is an LSRR/SSRR.
        for ty in 0..=255u8 {
            for l in 0..=255u8 {
                for len in [2usize, 3, 4, 40] {
                    for p in [0u8, 3, 4, 5, 255] {
                        let mut o = [ty; 40];
                        o[1] = l;
                        o[2] = p;
                        let r = scan_ipv4_options(&o, len);
                        if r == Err(XlatError::SourceRoute) {
                            assert!(o[..len].iter().any(|&b| b == OPT_LSRR || b == OPT_SSRR));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ext_header_classifier() {
        assert_eq!(classify_next_header(0, 0), ExtHeader::Skip);
        assert_eq!(classify_next_header(60, 0), ExtHeader::Skip);
        assert_eq!(
            classify_next_header(60, 5),
            ExtHeader::Skip,
            "segments left only matters for 43"
        );
        assert_eq!(classify_next_header(43, 0), ExtHeader::Skip);
        assert_eq!(
            classify_next_header(43, 1),
            ExtHeader::RoutingNonZeroSegmentsLeft
        );
        assert_eq!(
            classify_next_header(43, 255),
            ExtHeader::RoutingNonZeroSegmentsLeft
        );
        assert_eq!(classify_next_header(44, 0), ExtHeader::Fragment);
        for nh in [6u8, 17, 58] {
            assert_eq!(classify_next_header(nh, 0), ExtHeader::Upper);
        }
        for nh in [1u8, 2, 4, 41, 47, 50, 51, 59, 132, 135, 139, 140, 253, 255] {
            assert_eq!(
                classify_next_header(nh, 0),
                ExtHeader::Unsupported,
                "nh {nh}"
            );
        }
        assert_eq!(ext_header_len([6, 0]), 8);
        assert_eq!(ext_header_len([6, 1]), 16);
        assert_eq!(ext_header_len([6, 255]), 2048);
    }

    #[test]
    fn errors_have_distinct_reasons() {
        let all = [
            XlatError::NotIpv4,
            XlatError::NotIpv6,
            XlatError::BadIhl,
            XlatError::BadTotalLength,
            XlatError::Truncated,
            XlatError::BadHeaderChecksum,
            XlatError::TtlExceeded,
            XlatError::HopLimitExceeded,
            XlatError::TooBig,
            XlatError::SourceRoute,
            XlatError::BadOptions,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.reason(), b.reason());
            }
        }
    }
}
