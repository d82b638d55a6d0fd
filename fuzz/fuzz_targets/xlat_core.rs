//! Fuzzes the pure translation core (nat64-common) with invariants, not just "no panic":
//! every scenario checks a property the data plane relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nat64_common::{
    csum,
    icmp::{self, Icmp4Action, Icmp6Action},
    rfc6052::{self, ExtractError, Pool6},
    xlat::{self, Hop, OptionStep},
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

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    match inp.u8() % 6 {
        0 => addresses(&mut inp),
        1 => checksums(&mut inp),
        2 => header_6to4(&mut inp),
        3 => header_4to6(&mut inp),
        4 => ipv4_parsing(&mut inp),
        _ => icmp_maps(&mut inp),
    }
});

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
    let v4: [u8; 4] = inp.bytes();
    let v6: [u8; 16] = inp.bytes();
    let allow = inp.u8() & 1 == 1;
    let Ok(pool) = Pool6::new(prefix, len) else {
        return;
    };
    let embedded = pool.embed(v4);
    assert!(
        pool.contains(&embedded),
        "{pool:?} does not contain its own embedding of {v4:?}"
    );
    assert_eq!(pool.extract(&embedded), Some(v4));
    assert_eq!(embedded[8], 0, "u-octet must be zero");
    let refuse = pool.is_well_known() && !rfc6052::is_global_ipv4(v4) && !allow;
    match pool.embed_checked(v4, allow) {
        Ok(a) => assert!(!refuse && a == embedded),
        Err(e) => assert!(refuse && e == ExtractError::NonGlobalUnderWellKnown),
    }
    // Arbitrary addresses: extract agrees with contains, and embedding what was extracted
    // gives back the same prefix.
    match pool.extract(&v6) {
        Some(a) => {
            assert!(pool.contains(&v6));
            assert!(pool.contains(&pool.embed(a)));
        }
        None => assert!(!pool.contains(&v6)),
    }
}

fn checksums(inp: &mut Input) {
    let at = (inp.u8() as usize % 16) * 2;
    let new16: [u8; 16] = inp.bytes();
    let new4: [u8; 4] = inp.bytes();
    let mut buf: Vec<u8> = inp.rest().to_vec();
    buf.truncate(128);
    if buf.len() % 2 == 1 {
        buf.push(0);
    }
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

fn header_6to4(inp: &mut Input) {
    let hdr6: [u8; 40] = inp.bytes();
    let (src4, dst4): ([u8; 4], [u8; 4]) = (inp.bytes(), inp.bytes());
    let proto = inp.u8();
    let payload_len = inp.u16();
    let id = inp.u16();
    let hop = if inp.u8() & 1 == 0 {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let Ok(h4) = xlat::v6_to_v4_header_hop(&hdr6, src4, dst4, proto, payload_len, id, hop) else {
        return;
    };
    assert_eq!(h4[0], 0x45);
    assert_eq!(u16::from_be_bytes([h4[2], h4[3]]), payload_len + 20);
    assert_eq!(
        u16::from_be_bytes([h4[10], h4[11]]),
        xlat::ipv4_header_checksum(&h4)
    );
    assert_eq!(
        csum::checksum(&h4, 0),
        0,
        "a correct IPv4 header sums to zero"
    );
    let expect_ttl = if hop == Hop::Decrement {
        hdr6[7] - 1
    } else {
        hdr6[7]
    };
    assert_eq!(h4[8], expect_ttl);
    assert_eq!(h4[1], xlat::traffic_class(&hdr6));
    let df = h4[6] & 0x40 != 0;
    assert_eq!(df, payload_len + 20 > 1260);
    assert_eq!(h4[9], xlat::proto_6to4(proto));
}

fn header_4to6(inp: &mut Input) {
    let hdr4: [u8; 20] = inp.bytes();
    let (src6, dst6): ([u8; 16], [u8; 16]) = (inp.bytes(), inp.bytes());
    let nh = inp.u8();
    let payload_len = inp.u16();
    let hop = if inp.u8() & 1 == 0 {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let Ok(h6) = xlat::v4_to_v6_header_hop(&hdr4, &src6, &dst6, nh, payload_len, hop) else {
        return;
    };
    assert_eq!(h6[0] >> 4, 6);
    assert_eq!(xlat::traffic_class(&h6), hdr4[1]);
    assert_eq!(xlat::ipv6_payload_len(&h6), payload_len);
    assert_eq!(h6[1] & 0x0f, 0, "flow label must be 0");
    assert_eq!((h6[2], h6[3]), (0, 0), "flow label must be 0");
    let expect_hl = if hop == Hop::Decrement {
        hdr4[8] - 1
    } else {
        hdr4[8]
    };
    assert_eq!(h6[7], expect_hl);
    assert_eq!(h6[6], xlat::proto_4to6(nh));
    assert_eq!(xlat::ipv6_src(&h6), src6);
    assert_eq!(xlat::ipv6_dst(&h6), dst6);
}

fn ipv4_parsing(inp: &mut Input) {
    let hdr: [u8; 20] = inp.bytes();
    let frame_len = inp.u16() as usize;
    if let Ok(info) = xlat::validate_ipv4_header(&hdr, frame_len) {
        assert!(info.ihl_bytes >= 20 && info.ihl_bytes <= 60);
        assert!(info.total_len as usize <= frame_len);
        assert!(info.total_len >= u16::from(info.ihl_bytes));
        assert_eq!(
            info.payload_len(),
            info.total_len - u16::from(info.ihl_bytes)
        );
    }
    let opts: [u8; 40] = inp.bytes();
    let len = inp.u8() as usize % 48;
    let _ = xlat::ipv4_checksum_ok(&hdr, &opts, len.min(40));
    // The scan terminates within 40 steps, each step moves forward, and the one-shot scan
    // agrees with stepping by hand (as the data plane does under bpf_loop).
    let mut i = 0;
    let mut by_hand = Ok(());
    for _ in 0..40 {
        match xlat::ipv4_option_step(&opts, len, i) {
            OptionStep::Next(n) => {
                assert!(n > i, "option scan did not advance");
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
    let nh = inp.u8();
    let seg = inp.u8();
    let _ = xlat::classify_next_header(nh, seg);
    let l = xlat::ext_header_len(inp.bytes());
    assert!((8..=2048).contains(&l) && l % 8 == 0);
}

fn icmp_maps(inp: &mut Input) {
    let (ty, code) = (inp.u8(), inp.u8());
    let rest: [u8; 4] = inp.bytes();
    let inner_len = inp.u16();
    let (m6, m4) = (inp.u32(), inp.u32());
    match icmp::icmp6_to_icmp4(ty, code) {
        Icmp6Action::Echo { ty4 } => {
            assert!(matches!(icmp::icmp4_to_icmp6(ty4, 0), Icmp4Action::Echo { ty6 } if ty6 == ty));
        }
        Icmp6Action::Error { ty4, extra, .. } => {
            assert!(icmp::is_error_v6(ty) && icmp::is_error_v4(ty4));
            let _ = icmp::error_rest_6to4(extra, rest, m4, m6);
        }
        Icmp6Action::Drop(d) => assert!(!d.reason().is_empty()),
    }
    match icmp::icmp4_to_icmp6(ty, code) {
        Icmp4Action::Echo { ty6 } => {
            assert!(matches!(icmp::icmp6_to_icmp4(ty6, 0), Icmp6Action::Echo { ty4 } if ty4 == ty));
        }
        Icmp4Action::Error { ty6, extra, .. } => {
            assert!(icmp::is_error_v4(ty) && icmp::is_error_v6(ty6));
            let _ = icmp::error_rest_4to6(extra, rest, inner_len, m6, m4);
        }
        Icmp4Action::Drop(d) => assert!(!d.reason().is_empty()),
    }
    if let Some(p) = icmp::pointer_4to6(rest[0]) {
        assert!(p < 40);
    }
    if let Some(p) = icmp::pointer_6to4(m6) {
        assert!(p < 20);
    }
    let plateau = icmp::plateau_below(inner_len);
    assert!(plateau >= 68 && (plateau < inner_len || plateau == 68));
    let mtu4 = icmp::ptb_mtu_6to4(m6, m4, m6, rest[1] & 1 == 1);
    assert!(u32::from(mtu4) <= m6.saturating_sub(20).min(m4));
    let _ = icmp::ptb_mtu_4to6(u16::from_be_bytes([rest[2], rest[3]]), inner_len, m6, m4);
}
