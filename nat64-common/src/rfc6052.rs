//! IPv4-embedded IPv6 addresses (RFC 6052 §2), the well-known and local-use prefixes
//! (RFC 6052 §2.1, RFC 8215) and the "no non-global IPv4 under the well-known prefix"
//! rule (RFC 6052 §3.1).
//!
//! Layout (byte offsets in the IPv6 address; byte 8 is the "u-octet", bits 64–71, which
//! is always zero and is skipped by the embedded IPv4 address):
//!
//! | len | IPv4 bytes go to | suffix (zero)  |
//! |-----|------------------|----------------|
//! | /32 | 4 5 6 7          | 9..16          |
//! | /40 | 5 6 7 · 9        | 10..16         |
//! | /48 | 6 7 · 9 10       | 11..16         |
//! | /56 | 7 · 9 10 11      | 12..16         |
//! | /64 | 9 10 11 12       | 13..16         |
//! | /96 | 12 13 14 15      | —              |

/// 64:ff9b::/96, the Well-Known Prefix (RFC 6052 §2.1).
pub const WELL_KNOWN_PREFIX: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// Length of [`WELL_KNOWN_PREFIX`].
pub const WELL_KNOWN_PREFIX_LEN: u8 = 96;
/// 64:ff9b:1::/48, the local-use prefix (RFC 8215); exempt from the §3.1 restriction.
pub const LOCAL_USE_PREFIX: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// Length of [`LOCAL_USE_PREFIX`].
pub const LOCAL_USE_PREFIX_LEN: u8 = 48;

/// Index of the u-octet (bits 64–71).
const U_OCTET: usize = 8;

/// The NAT64 IPv6 prefix ("pool6").
///
/// Lives in a BPF map shared with userspace: `repr(C)`, explicit padding, no `bool`.
/// Build it with [`Pool6::new`], which enforces the invariants every other method relies
/// on; a value with an invalid `len` (e.g. a corrupted map) makes [`Pool6::extract`] and
/// [`Pool6::contains`] fail closed and [`Pool6::embed`] return `::`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool6 {
    /// Prefix bits; everything past `len` is zero.
    pub prefix: [u8; 16],
    /// One of 32, 40, 48, 56, 64, 96.
    pub len: u8,
    /// Explicit padding so both sides agree on every byte; always zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<Pool6>() == 20);

/// Why a prefix cannot be a pool6 (for CLI error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool6Error {
    /// RFC 6052 §2.2 only defines /32, /40, /48, /56, /64 and /96.
    BadLength,
    /// Bits 64–71 must be zero (RFC 6052 §2.2).
    UOctetNotZero,
    /// The address has bits set after the prefix length.
    HostBitsSet,
}

impl Pool6Error {
    /// One-line explanation for the operator.
    pub const fn reason(&self) -> &'static str {
        match self {
            Pool6Error::BadLength => {
                "prefix length must be 32, 40, 48, 56, 64 or 96 (RFC 6052 section 2.2)"
            }
            Pool6Error::UOctetNotZero => {
                "bits 64-71 (the u-octet) must be zero (RFC 6052 section 2.2)"
            }
            Pool6Error::HostBitsSet => "the address has bits set after the prefix length",
        }
    }
}

/// Why an address could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// The address is not under the pool6 prefix.
    NotInPrefix,
    /// The IPv4 address is not global and the prefix is 64:ff9b::/96 (RFC 6052 §3.1).
    NonGlobalUnderWellKnown,
    /// The `Pool6` value has an invalid length (not built by [`Pool6::new`]).
    InvalidPool,
    /// A source no router forwards (0/8, 127/8, 224/4 and above: RFC 1812 §5.3.7),
    /// refused whatever the §3.1 override says.
    Martian,
}

impl ExtractError {
    /// One-line explanation.
    pub const fn reason(&self) -> &'static str {
        match self {
            ExtractError::NotInPrefix => "address is not under the NAT64 prefix",
            ExtractError::NonGlobalUnderWellKnown => {
                "non-global IPv4 address under 64:ff9b::/96 (RFC 6052 section 3.1)"
            }
            ExtractError::InvalidPool => "invalid pool6 (bad prefix length)",
            ExtractError::Martian => "IPv4 source no router forwards (RFC 1812 section 5.3.7)",
        }
    }
}

/// Number of leading whole bytes covered by a valid prefix length, or `None`.
#[inline(always)]
const fn prefix_bytes(len: u8) -> Option<usize> {
    match len {
        32 | 40 | 48 | 56 | 64 | 96 => Some(len as usize / 8),
        _ => None,
    }
}

impl Pool6 {
    /// The well-known prefix 64:ff9b::/96.
    pub const WELL_KNOWN: Pool6 = Pool6 {
        prefix: WELL_KNOWN_PREFIX,
        len: WELL_KNOWN_PREFIX_LEN,
        _pad: [0; 3],
    };
    /// The local-use prefix 64:ff9b:1::/48 (RFC 8215).
    pub const LOCAL_USE: Pool6 = Pool6 {
        prefix: LOCAL_USE_PREFIX,
        len: LOCAL_USE_PREFIX_LEN,
        _pad: [0; 3],
    };

    /// Validate and build a pool6. The u-octet is checked before the host bits so that a
    /// /64 with byte 8 set gets the more specific message.
    pub const fn new(prefix: [u8; 16], len: u8) -> Result<Pool6, Pool6Error> {
        let nbytes = match prefix_bytes(len) {
            Some(n) => n,
            None => return Err(Pool6Error::BadLength),
        };
        if prefix[U_OCTET] != 0 {
            return Err(Pool6Error::UOctetNotZero);
        }
        let mut i = nbytes;
        while i < 16 {
            if prefix[i] != 0 {
                return Err(Pool6Error::HostBitsSet);
            }
            i += 1;
        }
        Ok(Pool6 {
            prefix,
            len,
            _pad: [0; 3],
        })
    }

    /// True for exactly 64:ff9b::/96.
    #[inline(always)]
    pub fn is_well_known(&self) -> bool {
        self.len == WELL_KNOWN_PREFIX_LEN && self.prefix == WELL_KNOWN_PREFIX
    }

    /// Whether the first `len` bits of `v6` equal the prefix. False for an invalid pool.
    #[inline(always)]
    pub fn contains(&self, v6: &[u8; 16]) -> bool {
        let n = match prefix_bytes(self.len) {
            Some(n) => n,
            None => return false,
        };
        let mut diff = 0u8;
        for (i, (a, p)) in v6.iter().zip(self.prefix.iter()).enumerate() {
            // All valid lengths are whole bytes: compare byte i iff i < n.
            let mask = if i < n { 0xff } else { 0 };
            diff |= (a ^ p) & mask;
        }
        diff == 0
    }

    /// Build the IPv4-embedded IPv6 address for `v4`: prefix, IPv4 bits around the
    /// u-octet, u-octet and suffix zero (RFC 6052 §2.2). An invalid pool yields `::`.
    #[inline(always)]
    pub fn embed(&self, v4: [u8; 4]) -> [u8; 16] {
        let n = match prefix_bytes(self.len) {
            Some(n) => n,
            None => return [0; 16],
        };
        let mut out = [0u8; 16];
        for (i, (o, p)) in out.iter_mut().zip(self.prefix.iter()).enumerate() {
            if i < n {
                *o = *p;
            }
        }
        match self.len {
            32 => {
                out[4] = v4[0];
                out[5] = v4[1];
                out[6] = v4[2];
                out[7] = v4[3];
            }
            40 => {
                out[5] = v4[0];
                out[6] = v4[1];
                out[7] = v4[2];
                out[9] = v4[3];
            }
            48 => {
                out[6] = v4[0];
                out[7] = v4[1];
                out[9] = v4[2];
                out[10] = v4[3];
            }
            56 => {
                out[7] = v4[0];
                out[9] = v4[1];
                out[10] = v4[2];
                out[11] = v4[3];
            }
            64 => {
                out[9] = v4[0];
                out[10] = v4[1];
                out[11] = v4[2];
                out[12] = v4[3];
            }
            _ => {
                // 96 (the only remaining valid length).
                out[12] = v4[0];
                out[13] = v4[1];
                out[14] = v4[2];
                out[15] = v4[3];
            }
        }
        out[U_OCTET] = 0;
        out
    }

    /// The IPv4 address embedded in `v6`, or `None` if `v6` is not under the prefix.
    /// The u-octet and the suffix are ignored (RFC 6052 §2.2 leaves them to the builder).
    #[inline(always)]
    pub fn extract(&self, v6: &[u8; 16]) -> Option<[u8; 4]> {
        if !self.contains(v6) {
            return None;
        }
        let a = match self.len {
            32 => [v6[4], v6[5], v6[6], v6[7]],
            40 => [v6[5], v6[6], v6[7], v6[9]],
            48 => [v6[6], v6[7], v6[9], v6[10]],
            56 => [v6[7], v6[9], v6[10], v6[11]],
            64 => [v6[9], v6[10], v6[11], v6[12]],
            96 => [v6[12], v6[13], v6[14], v6[15]],
            _ => return None,
        };
        Some(a)
    }

    /// [`Pool6::extract`] plus RFC 6052 §3.1: under 64:ff9b::/96 a non-global IPv4
    /// address is refused unless the operator set `allow_nonglobal`. Other prefixes
    /// (including the RFC 8215 local-use /48) are exempt.
    #[inline(always)]
    pub fn extract_checked(
        &self,
        v6: &[u8; 16],
        allow_nonglobal: bool,
    ) -> Result<[u8; 4], ExtractError> {
        if prefix_bytes(self.len).is_none() {
            return Err(ExtractError::InvalidPool);
        }
        let v4 = match self.extract(v6) {
            Some(a) => a,
            None => return Err(ExtractError::NotInPrefix),
        };
        self.check_global(v4, allow_nonglobal)?;
        Ok(v4)
    }

    /// [`Pool6::embed`] with the same §3.1 check (used when an IPv4 source is about to be
    /// represented under the prefix).
    #[inline(always)]
    pub fn embed_checked(
        &self,
        v4: [u8; 4],
        allow_nonglobal: bool,
    ) -> Result<[u8; 16], ExtractError> {
        if prefix_bytes(self.len).is_none() {
            return Err(ExtractError::InvalidPool);
        }
        self.check_global(v4, allow_nonglobal)?;
        if is_martian_ipv4_source(v4) {
            return Err(ExtractError::Martian);
        }
        Ok(self.embed(v4))
    }

    #[inline(always)]
    fn check_global(&self, v4: [u8; 4], allow_nonglobal: bool) -> Result<(), ExtractError> {
        if !allow_nonglobal && self.is_well_known() && !is_global_ipv4(v4) {
            Err(ExtractError::NonGlobalUnderWellKnown)
        } else {
            Ok(())
        }
    }
}

/// A source address no router forwards (RFC 1812 §5.3.7): "this network" 0/8, loopback
/// 127/8, multicast 224/4, and 240/4 with the limited broadcast above it. The override of
/// RFC 6052 §3.1 is about private and documentation space, never about these.
#[inline(always)]
pub const fn is_martian_ipv4_source(a: [u8; 4]) -> bool {
    a[0] == 0 || a[0] == 127 || a[0] >= 224
}

/// Whether `a` is globally reachable per the IANA IPv4 Special-Purpose Address Registry
/// (RFC 6890 and later updates), plus multicast (224/4, not in that registry but never a
/// unicast destination). Not global: 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
/// 192.0.0/24 (except 192.0.0.9 and 192.0.0.10, which the registry marks globally
/// reachable: PCP and TURN anycast), 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15,
/// 198.51.100/24, 203.0.113/24, 224/4, 240/4 (includes 255.255.255.255).
#[inline]
pub const fn is_global_ipv4(a: [u8; 4]) -> bool {
    let [b0, b1, b2, b3] = a;
    let non_global = match b0 {
        0 | 10 | 127 => true,
        100 => b1 & 0xc0 == 64,
        169 => b1 == 254,
        172 => b1 & 0xf0 == 16,
        192 => match (b1, b2) {
            (0, 0) => !(b3 == 9 || b3 == 10),
            (0, 2) | (88, 99) => true,
            (168, _) => true,
            _ => false,
        },
        198 => (b1 & 0xfe == 18) || (b1 == 51 && b2 == 100),
        203 => b1 == 0 && b2 == 113,
        224..=255 => true,
        _ => false,
    };
    !non_global
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }
    fn v4(s: &str) -> [u8; 4] {
        s.parse::<Ipv4Addr>().unwrap().octets()
    }

    #[test]
    fn martian_sources_are_refused_even_with_the_override() {
        let p = Pool6::new(v6("2001:db8:64::"), 96).unwrap();
        for a in [
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(
                p.embed_checked(v4(a), true),
                Err(ExtractError::Martian),
                "{a}"
            );
        }
        // Private and documentation space is what the override is for.
        assert!(p.embed_checked(v4("10.0.0.1"), true).is_ok());
        assert!(p.embed_checked(v4("192.0.2.1"), true).is_ok());
        // Under the well-known prefix without the override, the §3.1 reason comes first.
        let wkp = Pool6::new(v6("64:ff9b::"), 96).unwrap();
        assert_eq!(
            wkp.embed_checked(v4("127.0.0.1"), false),
            Err(ExtractError::NonGlobalUnderWellKnown)
        );
    }
    fn pool(s: &str, len: u8) -> Pool6 {
        Pool6::new(v6(s), len).unwrap()
    }

    /// RFC 6052 §2.4, Table: 192.0.2.33 under each prefix length.
    const TABLE: [(&str, u8, &str); 7] = [
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::", 96, "64:ff9b::192.0.2.33"),
    ];

    #[test]
    fn rfc6052_table_both_ways() {
        let a = v4("192.0.2.33");
        for (p, len, expected) in TABLE {
            let pool = pool(p, len);
            assert_eq!(pool.embed(a), v6(expected), "embed /{len}");
            assert_eq!(pool.extract(&v6(expected)), Some(a), "extract /{len}");
            assert!(pool.contains(&v6(expected)));
        }
    }

    #[test]
    fn round_trips_and_ignored_bits() {
        let addrs = [
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.4",
            "198.51.100.200",
            "128.0.0.1",
        ];
        for (p, len, _) in TABLE {
            let pool = pool(p, len);
            for s in addrs {
                let a = v4(s);
                let e = pool.embed(a);
                assert_eq!(e[8], 0, "u-octet zero /{len}");
                assert_eq!(pool.extract(&e), Some(a), "{s} /{len}");
                // u-octet and suffix are ignored when parsing (when outside the prefix).
                let mut noisy = e;
                if len < 96 {
                    noisy[8] = 0xaa;
                    noisy[15] = 0x55;
                    assert_eq!(pool.extract(&noisy), Some(a), "noisy {s} /{len}");
                }
            }
        }
    }

    #[test]
    fn extract_rejects_other_prefixes() {
        let p32 = pool("2001:db8::", 32);
        assert_eq!(p32.extract(&v6("2001:db9:c000:221::")), None);
        assert!(!p32.contains(&v6("2001:db9:c000:221::")));
        let wkp = Pool6::WELL_KNOWN;
        // Differs in the last prefix byte (byte 11) and in the u-octet (inside a /96).
        assert_eq!(wkp.extract(&v6("64:ff9b::1:c000:221")), None);
        assert_eq!(wkp.extract(&v6("64:ff9b:0:0:100::c000:221")), None);
        assert_eq!(wkp.extract(&v6("64:ff9b:1::c000:221")), None);
        assert_eq!(wkp.extract(&v6("::ffff:192.0.2.33")), None);
    }

    #[test]
    fn new_rejections() {
        for len in [0u8, 8, 31, 33, 72, 80, 95, 97, 128, 255] {
            assert_eq!(
                Pool6::new(v6("2001:db8::"), len),
                Err(Pool6Error::BadLength),
                "/{len}"
            );
        }
        assert_eq!(
            Pool6::new(v6("2001:db8:0:0:ff00::"), 96),
            Err(Pool6Error::UOctetNotZero)
        );
        assert_eq!(
            Pool6::new(v6("2001:db8:0:0:100::"), 64),
            Err(Pool6Error::UOctetNotZero)
        );
        assert_eq!(
            Pool6::new(v6("2001:db8::1"), 96),
            Err(Pool6Error::HostBitsSet)
        );
        assert_eq!(
            Pool6::new(v6("2001:db8:100::"), 32),
            Err(Pool6Error::HostBitsSet)
        );
        assert_eq!(
            Pool6::new(v6("2001:db8:0:1::"), 56),
            Err(Pool6Error::HostBitsSet)
        );
        assert_eq!(
            Pool6::new(v6("2001:db8:0:0:1::"), 64),
            Err(Pool6Error::HostBitsSet)
        );
        assert!(Pool6::new(v6("2001:db8:0:ff::"), 64).is_ok());
        assert!(Pool6::new(v6("2001:db8:0:0:0:ffff::"), 96).is_ok());
        assert_eq!(Pool6::new(WELL_KNOWN_PREFIX, 96), Ok(Pool6::WELL_KNOWN));
        assert_eq!(Pool6::new(LOCAL_USE_PREFIX, 48), Ok(Pool6::LOCAL_USE));
        for e in [
            Pool6Error::BadLength,
            Pool6Error::UOctetNotZero,
            Pool6Error::HostBitsSet,
        ] {
            assert!(!e.reason().is_empty());
        }
    }

    #[test]
    fn invalid_pool_fails_closed() {
        let bad = Pool6 {
            prefix: WELL_KNOWN_PREFIX,
            len: 95,
            _pad: [0; 3],
        };
        assert!(!bad.contains(&v6("64:ff9b::1.2.3.4")));
        assert_eq!(bad.extract(&v6("64:ff9b::1.2.3.4")), None);
        assert_eq!(bad.embed([1, 2, 3, 4]), [0; 16]);
        assert_eq!(
            bad.extract_checked(&v6("64:ff9b::1.2.3.4"), true),
            Err(ExtractError::InvalidPool)
        );
        assert_eq!(
            bad.embed_checked([1, 2, 3, 4], true),
            Err(ExtractError::InvalidPool)
        );
        // Garbage past `len` in a hand-made value does not leak into embedded addresses.
        let dirty = Pool6 {
            prefix: [0xff; 16],
            len: 32,
            _pad: [0; 3],
        };
        assert_eq!(dirty.embed([1, 2, 3, 4]), v6("ffff:ffff:102:304::"));
    }

    #[test]
    fn well_known_identification() {
        assert!(Pool6::WELL_KNOWN.is_well_known());
        assert!(!Pool6::LOCAL_USE.is_well_known());
        assert!(!pool("64:ff9b::", 64).is_well_known());
        assert!(!pool("2001:db8:122:344::", 96).is_well_known());
        assert_eq!(WELL_KNOWN_PREFIX, v6("64:ff9b::"));
        assert_eq!(LOCAL_USE_PREFIX, v6("64:ff9b:1::"));
    }

    #[test]
    fn rfc6052_3_1_non_global_under_wkp() {
        let wkp = Pool6::WELL_KNOWN;
        let private = v6("64:ff9b::10.1.2.3");
        assert_eq!(
            wkp.extract_checked(&private, false),
            Err(ExtractError::NonGlobalUnderWellKnown)
        );
        assert_eq!(wkp.extract_checked(&private, true), Ok([10, 1, 2, 3]));
        assert_eq!(
            wkp.extract_checked(&v6("64:ff9b::8.8.8.8"), false),
            Ok([8, 8, 8, 8])
        );
        assert_eq!(
            wkp.extract_checked(&v6("2001:db8::8.8.8.8"), false),
            Err(ExtractError::NotInPrefix)
        );
        assert_eq!(
            wkp.embed_checked([192, 168, 0, 1], false),
            Err(ExtractError::NonGlobalUnderWellKnown)
        );
        assert_eq!(
            wkp.embed_checked([192, 168, 0, 1], true),
            Ok(v6("64:ff9b::192.168.0.1"))
        );
        assert_eq!(
            wkp.embed_checked([9, 9, 9, 9], false),
            Ok(v6("64:ff9b::9.9.9.9"))
        );

        // Local-use /48 and network-specific prefixes are exempt.
        let local = Pool6::LOCAL_USE;
        let e = local.embed([10, 1, 2, 3]);
        assert_eq!(e, v6("64:ff9b:1:a01:2:300::"));
        assert_eq!(local.extract_checked(&e, false), Ok([10, 1, 2, 3]));
        assert_eq!(local.embed_checked([10, 1, 2, 3], false), Ok(e));
        let nsp = pool("2001:db8:122:344::", 96);
        assert_eq!(
            nsp.extract_checked(&v6("2001:db8:122:344::192.168.1.1"), false),
            Ok([192, 168, 1, 1])
        );
    }

    #[test]
    fn global_ipv4_table_edges() {
        // (address, global?) — each non-global block checked at both ends and just outside.
        let cases: &[(&str, bool)] = &[
            ("0.0.0.0", false),
            ("0.255.255.255", false),
            ("1.0.0.0", true),
            ("9.255.255.255", true),
            ("10.0.0.0", false),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("126.255.255.255", true),
            ("127.0.0.1", false),
            ("127.255.255.255", false),
            ("128.0.0.0", true),
            ("169.253.255.255", true),
            ("169.254.0.0", false),
            ("169.254.255.255", false),
            ("169.255.0.0", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("191.255.255.255", true),
            ("192.0.0.0", false),
            ("192.0.0.8", false),
            ("192.0.0.9", true),
            ("192.0.0.10", true),
            ("192.0.0.11", false),
            ("192.0.0.170", false),
            ("192.0.0.255", false),
            ("192.0.1.0", true),
            ("192.0.2.0", false),
            ("192.0.2.255", false),
            ("192.0.3.0", true),
            ("192.88.98.255", true),
            ("192.88.99.0", false),
            ("192.88.99.255", false),
            ("192.88.100.0", true),
            ("192.167.255.255", true),
            ("192.168.0.0", false),
            ("192.168.255.255", false),
            ("192.169.0.0", true),
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("198.51.99.255", true),
            ("198.51.100.0", false),
            ("198.51.100.255", false),
            ("198.51.101.0", true),
            ("203.0.112.255", true),
            ("203.0.113.0", false),
            ("203.0.113.255", false),
            ("203.0.114.0", true),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("239.255.255.255", false),
            ("240.0.0.0", false),
            ("255.255.255.254", false),
            ("255.255.255.255", false),
            ("8.8.8.8", true),
        ];
        for (s, global) in cases {
            assert_eq!(is_global_ipv4(v4(s)), *global, "{s}");
        }
    }
}
