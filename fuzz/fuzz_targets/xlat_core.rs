//! Fuzzes the pure translation core (nat64-common) with invariants, not just "no panic":
//! every scenario checks a property the data plane relies on, mostly against an
//! independent reference written here (a CIDR table, a byte-wise recomputation, ...).
//!
//! The first input byte picks the scenario; the rest is read field by field (zero-padded
//! when it runs out). Overflow checks are on (fuzz/Cargo.toml), so an arithmetic overflow
//! in the core is a crash too: the data plane must not even contain a panic path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nat64_common::{
    csum,
    icmp::{self, ErrorExtra, Icmp4Action, Icmp6Action},
    port::{self, PortRange, PortRangeError},
    rfc6052::{self, ExtractError, Pool6, Pool6Error},
    xlat::{self, ExtHeader, Frag6, Hop, Ipv4Info, OptionStep, XlatError},
};

/// Reads fixed-size pieces off the input, zero-padding when it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.bytes())
    }
    fn hop(&mut self) -> Hop {
        if self.u8() & 1 == 0 {
            Hop::Decrement
        } else {
            Hop::Keep
        }
    }
    fn rest(&mut self) -> &[u8] {
        let r = self.0;
        self.0 = &[];
        r
    }
}

/// One's-complement equality: 0x0000 and 0xffff are both zero.
fn same_checksum(a: u16, b: u16) -> bool {
    a == b || (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff)
}

/// What TTL/Hop Limit `v` becomes, or `None` when the translator must refuse.
fn next_hop(v: u8, hop: Hop) -> Option<u8> {
    match hop {
        Hop::Keep => Some(v),
        Hop::Decrement => v.checked_sub(1).filter(|&t| t > 0),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    match inp.u8() % 10 {
        0 => addresses(&mut inp),
        1 => checksums(&mut inp),
        2 => checksum_arithmetic(&mut inp),
        3 => header_6to4(&mut inp),
        4 => header_4to6(&mut inp),
        5 => ipv4_parsing(&mut inp),
        6 => ipv4_options(&mut inp),
        7 => ipv6_ext_headers(&mut inp),
        8 => icmp_maps(&mut inp),
        _ => ports(&mut inp),
    }
});

/// The non-global blocks of the `is_global_ipv4` documentation, as a CIDR table: an
/// independent reference for its byte-matching implementation.
const NON_GLOBAL: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

fn reference_is_global(a: [u8; 4]) -> bool {
    if a == [192, 0, 0, 9] || a == [192, 0, 0, 10] {
        return true;
    }
    let a = u32::from_be_bytes(a);
    !NON_GLOBAL.iter().any(|&(net, len)| {
        let mask = u32::MAX << (32 - len);
        a & mask == u32::from_be_bytes(net)
    })
}

fn addresses(inp: &mut Input) {
    let lens = [32u8, 40, 48, 56, 64, 96];
    let raw_len = inp.u8();
    // Mostly valid lengths, sometimes anything.
    let len = if raw_len & 0x80 == 0 {
        lens[raw_len as usize % lens.len()]
    } else {
        raw_len
    };
    let mut prefix: [u8; 16] = inp.bytes();
    if raw_len & 0x40 == 0 {
        // Clear what a valid prefix must have clear, so that the valid paths get exercised.
        for b in prefix.iter_mut().skip(len as usize / 8) {
            *b = 0;
        }
        prefix[8] = 0;
    }
    if raw_len & 0x30 == 0 {
        // Often enough the well-known prefix, where RFC 6052 §3.1 applies.
        prefix = rfc6052::WELL_KNOWN_PREFIX;
    }
    let v4: [u8; 4] = inp.bytes();
    let v6: [u8; 16] = inp.bytes();
    let allow = inp.u8() & 1 == 1;

    assert_eq!(
        rfc6052::is_global_ipv4(v4),
        reference_is_global(v4),
        "{v4:?}"
    );

    // Pool6::new decides exactly as RFC 6052 §2.2 says, in this order.
    let nbytes = len as usize / 8;
    let expected = if !lens.contains(&len) {
        Err(Pool6Error::BadLength)
    } else if prefix[8] != 0 {
        Err(Pool6Error::UOctetNotZero)
    } else if prefix[nbytes..].iter().any(|&b| b != 0) {
        Err(Pool6Error::HostBitsSet)
    } else {
        Ok(())
    };
    let pool = match (Pool6::new(prefix, len), expected) {
        (Ok(pool), Ok(())) => pool,
        (Err(e), Err(x)) if e == x => {
            assert!(!e.reason().is_empty());
            // A pool that bypassed `new` with a bad length fails closed.
            if e == Pool6Error::BadLength {
                let bad = Pool6 {
                    prefix,
                    len,
                    _pad: [0; 3],
                };
                assert!(!bad.contains(&v6));
                assert_eq!(bad.extract(&v6), None);
                assert_eq!(bad.embed(v4), [0; 16]);
                assert_eq!(
                    bad.extract_checked(&v6, allow),
                    Err(ExtractError::InvalidPool)
                );
                assert_eq!(bad.embed_checked(v4, allow), Err(ExtractError::InvalidPool));
            }
            return;
        }
        (got, want) => panic!("Pool6::new({prefix:?}, {len}) = {got:?}, expected {want:?}"),
    };
    assert_eq!(
        pool.is_well_known(),
        prefix == rfc6052::WELL_KNOWN_PREFIX && len == 96
    );

    let embedded = pool.embed(v4);
    assert!(
        pool.contains(&embedded),
        "{pool:?} does not contain its own embedding of {v4:?}"
    );
    assert_eq!(pool.extract(&embedded), Some(v4));
    assert_eq!(embedded[8], 0, "u-octet must be zero");
    assert_eq!(&embedded[..nbytes], &prefix[..nbytes], "prefix bits kept");
    let refuse = pool.is_well_known() && !rfc6052::is_global_ipv4(v4) && !allow;
    // A source no router forwards (0/8, 127/8, 224/4 and up: RFC 1812 §5.3.7) is never
    // embedded, whatever the override; the §3.1 reason comes first where both apply.
    let martian = v4[0] == 0 || v4[0] == 127 || v4[0] >= 224;
    match pool.embed_checked(v4, allow) {
        Ok(a) => assert!(!refuse && !martian && a == embedded),
        Err(e) => assert!(
            (refuse && e == ExtractError::NonGlobalUnderWellKnown)
                || (!refuse && martian && e == ExtractError::Martian),
            "{e:?} for {v4:?} (refuse {refuse}, martian {martian})"
        ),
    }
    match pool.extract_checked(&embedded, allow) {
        Ok(a) => assert!(!refuse && a == v4),
        Err(e) => assert!(refuse && e == ExtractError::NonGlobalUnderWellKnown),
    }
    // Arbitrary addresses: contains is a prefix comparison, extract agrees with it,
    // embedding what was extracted lands in the pool again, and extract_checked adds
    // exactly the §3.1 rule.
    assert_eq!(pool.contains(&v6), v6[..nbytes] == prefix[..nbytes]);
    match pool.extract(&v6) {
        Some(a) => {
            assert!(pool.contains(&v6));
            let again = pool.embed(a);
            assert_eq!(pool.extract(&again), Some(a));
            let non_global = pool.is_well_known() && !rfc6052::is_global_ipv4(a) && !allow;
            let want = if non_global {
                Err(ExtractError::NonGlobalUnderWellKnown)
            } else {
                Ok(a)
            };
            assert_eq!(pool.extract_checked(&v6, allow), want);
        }
        None => {
            assert!(!pool.contains(&v6));
            assert_eq!(
                pool.extract_checked(&v6, allow),
                Err(ExtractError::NotInPrefix)
            );
        }
    }
}

/// Incremental updates (RFC 1624) against full recomputation (RFC 1071).
fn checksums(inp: &mut Input) {
    let at = (inp.u8() as usize % 16) * 2;
    let new16: [u8; 16] = inp.bytes();
    let new4: [u8; 4] = inp.bytes();
    let (src6, dst6): ([u8; 16], [u8; 16]) = (inp.bytes(), inp.bytes());
    let (src4, dst4): ([u8; 4], [u8; 4]) = (inp.bytes(), inp.bytes());
    let proto = inp.u8();
    let mut buf: Vec<u8> = inp.rest().to_vec();
    buf.truncate(256);
    if buf.len() % 2 == 1 {
        buf.push(0);
    }

    // The 6→4 / 4→6 transport checksum fix-up: swap the pseudo-headers.
    let len = buf.len() as u16;
    let p6 = csum::pseudo_v6(&src6, &dst6, proto, u32::from(len));
    let p4 = csum::pseudo_v4(src4, dst4, proto, len);
    assert!(p6 <= 19 * 0xffff && p4 <= 6 * 0xffff, "documented bounds");
    let c6 = csum::checksum(&buf, p6);
    let c4 = csum::checksum(&buf, p4);
    assert!(
        same_checksum(csum::update(c6, p6, p4), c4),
        "6to4 pseudo-header swap"
    );
    assert!(
        same_checksum(csum::update(c4, p4, p6), c6),
        "4to6 pseudo-header swap"
    );

    if buf.len() < at + 16 {
        return;
    }
    let before = csum::checksum(&buf, 0);
    // Replace a 16-byte field (an IPv6 address) and a 4-byte field (an IPv4 address).
    let old16: [u8; 16] = buf[at..at + 16].try_into().unwrap();
    buf[at..at + 16].copy_from_slice(&new16);
    let incremental = csum::update(before, csum::add_bytes16(&old16), csum::add_bytes16(&new16));
    assert!(
        same_checksum(incremental, csum::checksum(&buf, 0)),
        "16-byte field update"
    );
    let old4: [u8; 4] = buf[at..at + 4].try_into().unwrap();
    buf[at..at + 4].copy_from_slice(&new4);
    let incremental2 = csum::update(
        incremental,
        csum::add_bytes4(&old4),
        csum::add_bytes4(&new4),
    );
    assert!(
        same_checksum(incremental2, csum::checksum(&buf, 0)),
        "4-byte field update"
    );
    // A wrong checksum stays wrong by the same amount.
    let skewed = csum::update(
        before ^ 0x0101,
        csum::add_bytes16(&old16),
        csum::add_bytes16(&new16),
    );
    let diff_in = csum::fold(u32::from(!before) + u32::from(before ^ 0x0101));
    let diff_out = csum::fold(u32::from(!incremental) + u32::from(skewed));
    assert!(same_checksum(diff_in, diff_out), "skew not preserved");
    assert_ne!(csum::udp_finalize(csum::update(before, 0, 0)), 0);
}

/// The partial-sum primitives on arbitrary (also huge) values.
fn checksum_arithmetic(inp: &mut Input) {
    let (a, b) = (inp.u32(), inp.u32());
    let c = inp.u16();
    let m = |x: u64| x % 0xffff;
    // fold and add are exact modulo 0xffff; fold gives 0 only for 0.
    assert_eq!(m(u64::from(csum::fold(a))), m(u64::from(a)));
    assert_eq!(csum::fold(a) == 0, a == 0);
    assert_eq!(
        m(u64::from(csum::add(a, b))),
        m(u64::from(a) + u64::from(b))
    );
    assert_eq!(
        m(u64::from(csum::add_u16(a, c))),
        m(u64::from(a) + u64::from(c))
    );
    // update is RFC 1624 eqn. 3 and returns 0xffff only in the documented case.
    // RFC 1624 eqn. 3: ~HC' ≡ ~HC − m + m' (mod 0xffff).
    let u = csum::update(c, a, b);
    assert_eq!(
        m(u64::from(!u)),
        m(u64::from(!c) + 0xffff - m(u64::from(a)) + u64::from(b))
    );
    assert_eq!(
        u == 0xffff,
        c == 0xffff && csum::fold(a) == 0xffff && b == 0,
        "update({c:#x}, {a:#x}, {b:#x}) = {u:#x}"
    );
    assert_eq!(csum::udp_finalize(c), if c == 0 { 0xffff } else { c });
    // The byte-slice sum agrees with the word-wise helpers.
    let bytes16: [u8; 16] = inp.bytes();
    assert_eq!(
        m(u64::from(csum::sum_bytes(&bytes16, 0))),
        m(u64::from(csum::add_bytes16(&bytes16)))
    );
    assert_eq!(
        m(u64::from(csum::sum_bytes(&bytes16[..4], 0))),
        m(u64::from(csum::add_bytes4(
            &bytes16[..4].try_into().unwrap()
        )))
    );
    // An odd trailing byte is padded with zero.
    let odd = &bytes16[..(c as usize % 16) | 1];
    let mut padded = odd.to_vec();
    padded.push(0);
    assert_eq!(csum::sum_bytes(odd, a), csum::sum_bytes(&padded, a));
}

fn header_6to4(inp: &mut Input) {
    let hdr6: [u8; 40] = inp.bytes();
    let (src4, dst4): ([u8; 4], [u8; 4]) = (inp.bytes(), inp.bytes());
    let proto = inp.u8();
    let mut payload_len = inp.u16();
    let id = inp.u16();
    let hop = inp.hop();
    let frag = xlat::parse_fragment_header(&inp.bytes());
    // Steer toward the edges a random u16 rarely hits: the DF threshold (1260 − 20) and
    // the 65535-byte limit.
    match inp.u8() % 4 {
        0 => payload_len = 1232 + payload_len % 16,
        1 => payload_len = 65507 + payload_len % 16,
        _ => {}
    }

    let total = payload_len.checked_add(20);
    let ttl = next_hop(hdr6[7], hop);
    let expected_err = if hdr6[0] >> 4 != 6 {
        Some(XlatError::NotIpv6)
    } else if total.is_none() {
        Some(XlatError::TooBig)
    } else if ttl.is_none() {
        Some(XlatError::HopLimitExceeded)
    } else {
        None
    };

    let plain = xlat::v6_to_v4_header_hop(&hdr6, src4, dst4, proto, payload_len, id, hop);
    if hop == Hop::Decrement {
        assert_eq!(
            plain,
            xlat::v6_to_v4_header(&hdr6, src4, dst4, proto, payload_len, id)
        );
    }
    let fragd = xlat::v6_fragment_to_v4_header(&hdr6, src4, dst4, proto, payload_len, &frag, hop);
    let (h4, f4) = match (plain, fragd, expected_err) {
        (Ok(h4), Ok(f4), None) => (h4, f4),
        (Err(e), Err(f), Some(x)) if e == x && f == x => {
            assert!(!e.reason().is_empty());
            return;
        }
        other => panic!("6to4 header: {other:?}"),
    };
    let (total, ttl) = (total.unwrap(), ttl.unwrap());
    for h in [&h4, &f4] {
        assert_eq!(h[0], 0x45);
        assert_eq!(h[1], xlat::traffic_class(&hdr6));
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), total);
        assert_eq!(h[8], ttl);
        assert_eq!(h[9], xlat::proto_6to4(proto));
        assert_eq!(xlat::ipv4_src(h), src4);
        assert_eq!(xlat::ipv4_dst(h), dst4);
        // The stored header checksum verifies, both ways of checking it.
        assert_eq!(
            u16::from_be_bytes([h[10], h[11]]),
            xlat::ipv4_header_checksum(h)
        );
        assert_eq!(
            csum::checksum(h, 0),
            0,
            "a correct IPv4 header sums to zero"
        );
        assert!(xlat::ipv4_checksum_ok(h, &[0; 40], 0));
        // And the result is a header the 4→6 direction accepts as it is.
        let info = xlat::validate_ipv4_header(h, usize::from(total)).expect("own header");
        assert_eq!(info.payload_len(), payload_len);
        assert_eq!(info.ttl, ttl);
    }
    // Without a Fragment header: ID as given, DF iff > 1260 bytes, MF 0, offset 0.
    assert_eq!(u16::from_be_bytes([h4[4], h4[5]]), id);
    let flags = u16::from_be_bytes([h4[6], h4[7]]);
    assert_eq!(flags, if total > 1260 { 0x4000 } else { 0 });
    assert_eq!(flags & 0x4000 != 0, xlat::df_for_len(total));
    // With one: ID = low 16 bits, DF 0, MF = M, offset copied.
    assert_eq!(u16::from_be_bytes([f4[4], f4[5]]), frag.id as u16);
    let flags = u16::from_be_bytes([f4[6], f4[7]]);
    assert_eq!(flags & 0x4000, 0, "DF must be 0 for a fragment");
    assert_eq!(flags & 0x8000, 0, "reserved flag");
    assert_eq!(flags & 0x2000 != 0, frag.more);
    assert_eq!(flags & 0x1fff, frag.offset);
}

fn header_4to6(inp: &mut Input) {
    let hdr4: [u8; 20] = inp.bytes();
    let (src6, dst6): ([u8; 16], [u8; 16]) = (inp.bytes(), inp.bytes());
    let nh = inp.u8();
    let payload_len = inp.u16();
    let hop = inp.hop();

    let hl = next_hop(hdr4[8], hop);
    let fixed = xlat::v4_to_v6_fixed(hdr4[1], hdr4[8], nh, payload_len, hop);
    assert_eq!(fixed.is_err(), hl.is_none());
    let res = xlat::v4_to_v6_header_hop(&hdr4, &src6, &dst6, nh, payload_len, hop);
    if hop == Hop::Decrement {
        assert_eq!(
            res,
            xlat::v4_to_v6_header(&hdr4, &src6, &dst6, nh, payload_len)
        );
    }
    let h6 = match res {
        Ok(h6) => h6,
        Err(e) => {
            let want = if hdr4[0] >> 4 != 4 {
                XlatError::NotIpv4
            } else {
                XlatError::TtlExceeded
            };
            assert_eq!(e, want);
            assert!(hdr4[0] >> 4 != 4 || hl.is_none());
            return;
        }
    };
    assert_eq!(hdr4[0] >> 4, 4);
    assert_eq!(h6[0] >> 4, 6);
    assert_eq!(xlat::traffic_class(&h6), hdr4[1]);
    assert_eq!(xlat::ipv6_payload_len(&h6), payload_len);
    assert_eq!(h6[1] & 0x0f, 0, "flow label must be 0");
    assert_eq!((h6[2], h6[3]), (0, 0), "flow label must be 0");
    assert_eq!(Some(h6[7]), hl);
    assert_eq!(h6[6], xlat::proto_4to6(nh));
    assert_eq!(xlat::ipv6_src(&h6), src6);
    assert_eq!(xlat::ipv6_dst(&h6), dst6);
    assert_eq!(fixed, Ok(h6[..8].try_into().unwrap()));
    // Protocol maps: ICMP ↔ ICMPv6, everything else as given; mapping twice is harmless.
    assert_eq!(
        xlat::proto_6to4(xlat::proto_4to6(nh)),
        if nh == 58 { 1 } else { nh }
    );
    assert_eq!(xlat::proto_4to6(xlat::proto_4to6(nh)), xlat::proto_4to6(nh));
}

fn ipv4_parsing(inp: &mut Input) {
    let hdr: [u8; 20] = inp.bytes();
    let frame_len = inp.u16() as usize;
    let ihl = hdr[0] & 0x0f;
    let total_len = u16::from_be_bytes([hdr[2], hdr[3]]);
    // One's-complement sum over the 20 bytes, stored checksum included.
    let sum_ok = csum::fold(csum::sum_bytes(&hdr, 0)) == 0xffff;
    assert_eq!(xlat::ipv4_checksum_ok(&hdr, &[0; 40], 0), sum_ok);
    let expected = if hdr[0] >> 4 != 4 {
        Err(XlatError::NotIpv4)
    } else if ihl < 5 {
        Err(XlatError::BadIhl)
    } else if total_len < u16::from(ihl) * 4 {
        Err(XlatError::BadTotalLength)
    } else if usize::from(total_len) > frame_len {
        Err(XlatError::Truncated)
    } else if ihl == 5 && !sum_ok {
        Err(XlatError::BadHeaderChecksum)
    } else {
        Ok(())
    };
    let info = match (xlat::validate_ipv4_header(&hdr, frame_len), expected) {
        (Ok(info), Ok(())) => info,
        (Err(e), Err(x)) if e == x => return,
        (got, want) => panic!("validate_ipv4_header: {got:?}, expected {want:?}"),
    };
    let fo = u16::from_be_bytes([hdr[6], hdr[7]]);
    assert_eq!(
        info,
        Ipv4Info {
            ihl_bytes: ihl * 4,
            total_len,
            proto: hdr[9],
            id: u16::from_be_bytes([hdr[4], hdr[5]]),
            is_fragment: fo & 0x3fff != 0,
            more_fragments: fo & 0x2000 != 0,
            frag_offset: fo & 0x1fff,
            df: fo & 0x4000 != 0,
            ttl: hdr[8],
        }
    );
    assert!((20..=60).contains(&info.ihl_bytes));
    assert_eq!(info.payload_len(), total_len - u16::from(ihl) * 4);
    assert_eq!(info.options_len(), usize::from(ihl) * 4 - 20);
    if ihl == 5 {
        // A verified header stores what ipv4_header_checksum computes (or the other zero).
        assert!(same_checksum(
            u16::from_be_bytes([hdr[10], hdr[11]]),
            xlat::ipv4_header_checksum(&hdr)
        ));
    }
    // The Fragment header made for it parses back to what it was made from.
    let fh = xlat::fragment_header_4to6(&info);
    assert_eq!(
        xlat::parse_fragment_header(&fh),
        Frag6 {
            next_header: xlat::proto_4to6(info.proto),
            offset: info.frag_offset,
            more: info.more_fragments,
            id: u32::from(info.id),
        }
    );
    assert_eq!(
        xlat::parse_fragment_header(&fh).is_fragment(),
        info.is_fragment
    );
    // The data plane's builder (from the raw Flags/Fragment Offset word) agrees, and the
    // position it reads from that word matches the header's.
    assert_eq!(nat64_common::frag::header_4to6(info.proto, info.id, fo), fh);
    let pos = nat64_common::frag::Position::of_v4(fo);
    assert_eq!(pos.is_fragmented(), info.is_fragment);
    assert_eq!(
        pos == nat64_common::frag::Position::Later,
        info.frag_offset != 0
    );
}

/// The option scan terminates within 40 steps, each step moves forward, the one-shot scan
/// agrees with stepping by hand (as the data plane does under bpf_loop), and both agree
/// with a reference written from the RFC 7915 §4.1 rules.
fn ipv4_options(inp: &mut Input) {
    let len = inp.u8() as usize % 48;
    let mut opts: [u8; 40] = inp.bytes();
    // Make source routes likely: map two input values onto LSRR/SSRR.
    for b in opts.iter_mut() {
        match *b {
            0xfe => *b = xlat::OPT_LSRR,
            0xfd => *b = xlat::OPT_SSRR,
            _ => {}
        }
    }
    let mut hdr: [u8; 20] = inp.bytes();
    let _ = xlat::ipv4_checksum_ok(&hdr, &opts, len.min(40) & !1);
    // A header with options whose checksum was computed over both verifies.
    hdr[10] = 0;
    hdr[11] = 0;
    let olen = len.min(40) & !1;
    let c = csum::checksum(&opts[..olen], csum::sum_bytes(&hdr, 0));
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
    assert!(xlat::ipv4_checksum_ok(&hdr, &opts, olen));

    let mut i = 0;
    let mut by_hand = Ok(());
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= 41, "option scan did not finish within 40 steps");
        match xlat::ipv4_option_step(&opts, len, i) {
            OptionStep::Next(n) => {
                assert!(
                    n > i && n <= len,
                    "option scan did not advance within the area"
                );
                i = n;
            }
            OptionStep::Done => break,
            OptionStep::Refuse(e) => {
                by_hand = Err(e);
                break;
            }
        }
    }
    assert_eq!(xlat::scan_ipv4_options(&opts, len), by_hand);
    assert_eq!(by_hand, reference_options(&opts, len));
}

fn reference_options(opts: &[u8; 40], len: usize) -> Result<(), XlatError> {
    if len > 40 {
        return Err(XlatError::BadOptions);
    }
    let area = &opts[..len];
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0 => return Ok(()),
            1 => i += 1,
            ty => {
                let olen = *area.get(i + 1).ok_or(XlatError::BadOptions)? as usize;
                if olen < 2 || i + olen > area.len() {
                    return Err(XlatError::BadOptions);
                }
                if ty == xlat::OPT_LSRR || ty == xlat::OPT_SSRR {
                    let ptr = if olen >= 3 { area[i + 2] as usize } else { 0 };
                    if ptr < 4 {
                        return Err(XlatError::BadOptions);
                    }
                    if ptr <= olen {
                        return Err(XlatError::SourceRoute);
                    }
                }
                i += olen;
            }
        }
    }
    Ok(())
}

fn ipv6_ext_headers(inp: &mut Input) {
    let nh = inp.u8();
    let seg = inp.u8();
    let expected = match nh {
        0 | 60 => ExtHeader::Skip,
        43 if seg == 0 => ExtHeader::Skip,
        43 => ExtHeader::RoutingNonZeroSegmentsLeft,
        44 => ExtHeader::Fragment,
        6 | 17 | 58 => ExtHeader::Upper,
        _ => ExtHeader::Unsupported,
    };
    assert_eq!(xlat::classify_next_header(nh, seg), expected);
    let first2: [u8; 2] = inp.bytes();
    let l = xlat::ext_header_len(first2);
    assert!((8..=2048).contains(&l) && l.is_multiple_of(8));
    assert_eq!(l, (usize::from(first2[1]) + 1) * 8);
    // Fragment header fields.
    let fh: [u8; 8] = inp.bytes();
    let f = xlat::parse_fragment_header(&fh);
    assert_eq!(f.next_header, fh[0]);
    assert!(f.offset < 0x2000);
    assert_eq!(f.offset, u16::from_be_bytes([fh[2], fh[3]]) >> 3);
    assert_eq!(f.more, fh[3] & 1 == 1);
    assert_eq!(f.id, u32::from_be_bytes(fh[4..8].try_into().unwrap()));
    assert_eq!(f.is_fragment(), f.offset != 0 || f.more);
}

fn icmp_maps(inp: &mut Input) {
    let (ty, code) = (inp.u8(), inp.u8());
    let rest: [u8; 4] = inp.bytes();
    let inner_len = inp.u16();
    let (m6, m4) = (inp.u32(), inp.u32());
    let frag = inp.u8() & 1 == 1;
    match icmp::icmp6_to_icmp4(ty, code) {
        Icmp6Action::Echo { ty4 } => {
            assert!(matches!((ty, ty4), (128, 8) | (129, 0)));
            assert!(
                matches!(icmp::icmp4_to_icmp6(ty4, code), Icmp4Action::Echo { ty6 } if ty6 == ty)
            );
        }
        Icmp6Action::Error { ty4, code4, extra } => {
            assert!(icmp::is_error_v6(ty) && icmp::is_error_v4(ty4));
            // Only types ICMPv4 still translates back are produced.
            assert!(!matches!(
                icmp::icmp4_to_icmp6(ty4, code4),
                Icmp4Action::Drop(_) | Icmp4Action::Echo { .. }
            ));
            let out = icmp::error_rest_6to4(extra, rest, m4, m6);
            match extra {
                ErrorExtra::MapPointer => {
                    assert_eq!(
                        out.is_some(),
                        icmp::pointer_6to4(u32::from_be_bytes(rest)).is_some()
                    )
                }
                _ => assert!(out.is_some()),
            }
            if let Some(o) = out {
                if extra == ErrorExtra::Mtu {
                    assert_eq!(&o[..2], &[0, 0]);
                }
            }
        }
        Icmp6Action::Drop(d) => assert!(!d.reason().is_empty()),
    }
    match icmp::icmp4_to_icmp6(ty, code) {
        Icmp4Action::Echo { ty6 } => {
            assert!(matches!((ty, ty6), (8, 128) | (0, 129)));
            assert!(
                matches!(icmp::icmp6_to_icmp4(ty6, code), Icmp6Action::Echo { ty4 } if ty4 == ty)
            );
        }
        Icmp4Action::Error { ty6, extra, .. } => {
            assert!(icmp::is_error_v4(ty) && icmp::is_error_v6(ty6));
            let out = icmp::error_rest_4to6(extra, rest, inner_len, m6, m4);
            match extra {
                ErrorExtra::MapPointer => {
                    assert_eq!(out.is_some(), icmp::pointer_4to6(rest[0]).is_some())
                }
                ErrorExtra::SetPointer(p) => assert_eq!(out, Some(u32::from(p).to_be_bytes())),
                _ => assert!(out.is_some()),
            }
        }
        Icmp4Action::Drop(d) => assert!(!d.reason().is_empty()),
    }
    if let Some(p) = icmp::pointer_4to6(rest[0]) {
        assert!(p < 40);
    }
    if let Some(p) = icmp::pointer_6to4(m6) {
        assert!(p < 20);
        assert!(m6 < 40);
    }
    // A pointer into the fixed IPv4 header maps to a field that maps back to the start of
    // the same IPv4 field (Total Length, addresses: first byte).
    if let Some(p6) = icmp::pointer_4to6(rest[0]) {
        let back = icmp::pointer_6to4(u32::from(p6)).expect("mapped pointer maps back");
        assert!(back <= rest[0]);
    }
    let plateau = icmp::plateau_below(inner_len);
    assert!(icmp::PLATEAUS.contains(&plateau));
    assert!(plateau < inner_len || plateau == 68);
    assert!(icmp::PLATEAUS
        .iter()
        .all(|&p| p >= inner_len || p <= plateau));
    // PTB MTUs are the documented minima.
    let mtu4 = icmp::ptb_mtu_6to4(m6, m4, m6, frag);
    let overhead = if frag { 28 } else { 20 };
    assert_eq!(
        u32::from(mtu4),
        m6.saturating_sub(overhead).min(m4).min(0xffff)
    );
    let adv = u16::from_be_bytes([rest[2], rest[3]]);
    let mtu6 = icmp::ptb_mtu_4to6(adv, inner_len, m6, m4);
    let a = if adv == 0 { plateau } else { adv };
    assert_eq!(mtu6, (u32::from(a) + 20).min(m6).min(m4.saturating_add(20)));
}

fn ports(inp: &mut Input) {
    let (lo, hi) = (inp.u16(), inp.u16());
    let hash = inp.u32();
    let orig = inp.u16();
    let i = inp.u32();
    let n_addrs = inp.u32();
    let addr6: [u8; 16] = inp.bytes();
    let secret = inp.u32();
    let _ = port::flow_hash(secret, &addr6, orig, inp.u8());

    let slot = port::pick_address(hash, n_addrs, i);
    assert!(
        slot < n_addrs.max(1),
        "pick_address({hash}, {n_addrs}, {i}) = {slot}"
    );
    if n_addrs > 0 {
        // Consecutive attempts walk consecutive slots.
        let next = port::pick_address(hash, n_addrs, i.wrapping_add(1));
        if i != u32::MAX {
            assert_eq!(next, (slot + 1) % n_addrs);
        }
    }

    let range = match PortRange::new(lo, hi) {
        Ok(r) => {
            assert!(lo != 0 && lo <= hi);
            assert_eq!(r.len(), u32::from(hi) - u32::from(lo) + 1);
            r
        }
        Err(e) => {
            assert_eq!(e == PortRangeError::Empty, lo > hi);
            assert_eq!(e == PortRangeError::IncludesZero, lo <= hi && lo == 0);
            return;
        }
    };
    let p = port::candidate(hash, orig, range, i);
    assert!((lo..=hi).contains(&p));
    // The wanted parity first, as long as the range has ports of it.
    let n = range.len();
    let (lo32, hi32) = (u32::from(lo), u32::from(hi));
    let first_same = if lo % 2 == orig % 2 { lo32 } else { lo32 + 1 };
    let n_same = if first_same > hi32 {
        0
    } else {
        (hi32 - first_same) / 2 + 1
    };
    if i % n < n_same {
        assert_eq!(p % 2, orig % 2);
    }
    // Small ranges: the first len() candidates are a permutation of the range.
    if n <= 512 {
        let mut seen = vec![false; n as usize];
        for k in 0..n {
            let p = port::candidate(hash, orig, range, k);
            assert!((lo..=hi).contains(&p));
            let s = &mut seen[usize::from(p - lo)];
            assert!(!*s, "port {p} proposed twice in {range:?}");
            *s = true;
        }
    }
}
