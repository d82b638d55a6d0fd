//! Deterministic port blocks (RFC 7422): every IPv6 subscriber (a /L prefix inside the
//! configured subscriber range) owns one block of pool4 ports per protocol, computed from
//! its prefix, so that "who had 192.0.2.7:40123 at time T" is answered by arithmetic
//! instead of a log line per flow.
//!
//! The function, in RFC 7422 §2's terms (inside range I, outside range O, ports per user
//! M, sequential assignment A; the reserved ports R are whatever the pool4 ranges leave
//! out):
//!
//! 1. The subscriber's number `k` is its prefix's bits between the range's length `P` and
//!    the subscriber length `L`: `k = (addr6 >> (128 − L)) mod 2^(L − P)`. Subscribers
//!    outside the range have no block.
//! 2. Each protocol's pool4 slots (address and port range, in the order the operator gave
//!    them) are cut into blocks of `M` ports from the low end of each range (a remainder
//!    shorter than `M` is not used); the blocks are numbered in slot order, so that with
//!    one range per address the first `(range length / M)` blocks are the first
//!    address's, and so on.
//! 3. Subscriber `k` gets block `k` of each protocol.
//!
//! The reverse (a pool4 address and port to the block number, and `k` to the subscriber
//! prefix) is what `nat64-ctl blocks display` computes.
//!
//! With allocation on first use (`ALLOCATION_DYNAMIC`, RFC 6888 REQ-4/5 style) the blocks
//! are cut the same way, but a subscriber (any /L of the range, which may hold far more
//! subscribers than pool4 has blocks) is given a free block number when its first binding
//! is made, the same number for every protocol; the block goes back to the free list two
//! sweep passes after the subscriber's last binding. Only the session log's
//! `block_assigned` / `block_released` lines (or the running gateway) then say who had it.
use crate::maps::Pool4Slot;

/// `NAT64_BLOCK_CONFIG[0]`: whether bindings take their ports from subscriber blocks, and
/// how subscribers are numbered. `block_size` 0: off (pool4 as a whole, the default).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortBlockConfig {
    /// The subscriber range: its first `range_len` bits.
    pub range6: [u8; 16],
    pub range_len: u8,
    /// Subscribers are /`subscriber_len` prefixes of the range.
    pub subscriber_len: u8,
    /// `ALLOCATION_*`: how a subscriber's block is found (0, what builds before the choice
    /// wrote: computed from its prefix).
    pub allocation: u8,
    pub _pad: u8,
    /// Ports (and ICMP identifiers) per block; 0: port blocks off.
    pub block_size: u32,
    /// The blocks each protocol has in `NAT64_BLOCKS`. Deterministic: the subscribers in
    /// the range, `2^(subscriber_len − range_len)` (nat64-ctl refuses a pool4 with fewer
    /// blocks). On first use: the blocks every protocol with pool4 has (the fewest of
    /// any), the numbers the free list hands out.
    pub subscribers: u32,
    pub _pad2: u32,
}
const _: () = assert!(core::mem::size_of::<PortBlockConfig>() == 32);

/// `PortBlockConfig::allocation`: subscriber `k` has block `k` (RFC 7422).
pub const ALLOCATION_DETERMINISTIC: u8 = 0;
/// `PortBlockConfig::allocation`: a subscriber takes a free block on its first binding.
pub const ALLOCATION_DYNAMIC: u8 = 1;

/// Most blocks per protocol allocation on first use hands out: the free list, the owner
/// and subscriber tables are sized by it (some 60 MiB of kernel memory at the most).
pub const DYNAMIC_BLOCKS_MAX: u32 = 1 << 20;

/// Most bits a subscriber number may have: a million subscribers per gateway, three
/// 8-byte block records each, is 24 MiB of table.
pub const SUBSCRIBER_BITS_MAX: u8 = 20;

/// Index in `NAT64_BLOCKS` of subscriber `k`'s block for the protocol at `proto_index`
/// (`POOL4_PROTOS` order).
#[inline(always)]
pub const fn block_index(proto_index: usize, subscribers: u32, k: u32) -> u32 {
    proto_index as u32 * subscribers + k
}

/// Entries `NAT64_BLOCKS` needs for `subscribers`.
pub const fn table_entries(subscribers: u32) -> u32 {
    subscribers * crate::maps::POOL4_PROTOS.len() as u32
}

/// An IPv6 address as its two big-endian 64-bit halves.
#[inline(always)]
pub(crate) const fn halves(a: &[u8; 16]) -> (u64, u64) {
    (
        u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]),
        u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]),
    )
}

/// The address the two halves make.
#[inline(always)]
pub(crate) const fn join(hi: u64, lo: u64) -> [u8; 16] {
    let (a, b) = (hi.to_be_bytes(), lo.to_be_bytes());
    [
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6],
        b[7],
    ]
}

/// The top `bits` (≤ 128) of an address as a mask of each half.
#[inline(always)]
pub(crate) const fn prefix_masks(bits: u32) -> (u64, u64) {
    (
        top_mask(if bits > 64 { 64 } else { bits }),
        top_mask(bits.saturating_sub(64)),
    )
}

/// A mask of the top `bits` of a 64-bit word (`bits` ≤ 64).
#[inline(always)]
const fn top_mask(bits: u32) -> u64 {
    if bits == 0 {
        0
    } else if bits >= 64 {
        u64::MAX
    } else {
        u64::MAX << (64 - bits)
    }
}

/// Whether an address (as its two halves) lies in the subscriber range.
#[inline(always)]
const fn in_range(cfg: &PortBlockConfig, hi: u64, lo: u64) -> bool {
    let (rhi, rlo) = halves(&cfg.range6);
    let (mask_hi, mask_lo) = prefix_masks(cfg.range_len as u32);
    (hi ^ rhi) & mask_hi == 0 && (lo ^ rlo) & mask_lo == 0
}

/// Subscriber number of `addr6` (step 1 above); `None` outside the range, or for a
/// configuration the control plane would have refused.
#[inline(always)]
pub const fn subscriber_index(cfg: &PortBlockConfig, addr6: &[u8; 16]) -> Option<u32> {
    let p = cfg.range_len as u32;
    let l = cfg.subscriber_len as u32;
    if l > 128 || p > l || l - p > SUBSCRIBER_BITS_MAX as u32 || l == 0 {
        return None;
    }
    let (hi, lo) = halves(addr6);
    if !in_range(cfg, hi, lo) {
        return None;
    }
    // addr6 >> (128 − l), from the two halves.
    let shift = 128 - l;
    let shifted = if shift >= 64 {
        hi >> (shift - 64)
    } else if shift == 0 {
        lo
    } else {
        (lo >> shift) | (hi << (64 - shift))
    };
    let bits = l - p;
    let mask = if bits == 0 { 0 } else { (1u64 << bits) - 1 };
    Some((shifted & mask) as u32)
}

/// The subscriber `addr6` belongs to, as its prefix (the first `subscriber_len` bits, the
/// rest zero), for allocation on first use; `None` outside the range.
#[inline(always)]
pub const fn subscriber_of(cfg: &PortBlockConfig, addr6: &[u8; 16]) -> Option<[u8; 16]> {
    let p = cfg.range_len as u32;
    let l = cfg.subscriber_len as u32;
    if l > 128 || p > l {
        return None;
    }
    let (hi, lo) = halves(addr6);
    if !in_range(cfg, hi, lo) {
        return None;
    }
    let (keep_hi, keep_lo) = prefix_masks(l);
    Some(join(hi & keep_hi, lo & keep_lo))
}

/// Subscriber `k`'s prefix (its first `subscriber_len` bits; the rest zero).
pub const fn subscriber_prefix(cfg: &PortBlockConfig, k: u32) -> [u8; 16] {
    let l = cfg.subscriber_len as u32;
    let range = u128::from_be_bytes(cfg.range6);
    let keep = if cfg.range_len == 0 {
        0
    } else {
        u128::MAX << (128 - cfg.range_len as u32)
    };
    let sub = if l == 0 { 0 } else { (k as u128) << (128 - l) };
    ((range & keep) | sub).to_be_bytes()
}

/// Whole blocks of `size` ports in one slot.
pub const fn blocks_in(slot: &Pool4Slot, size: u32) -> u32 {
    if size == 0 || slot.port_hi < slot.port_lo {
        return 0;
    }
    (slot.port_hi as u32 - slot.port_lo as u32 + 1) / size
}

/// Blocks of `size` ports a protocol's slot list holds.
pub fn block_count(slots: &[Pool4Slot], size: u32) -> u32 {
    slots.iter().map(|s| blocks_in(s, size)).sum()
}

/// Block `k` of a protocol's slot list (step 2 above), as the address and inclusive port
/// range it covers.
pub fn nth_block(slots: &[Pool4Slot], size: u32, k: u32) -> Option<Pool4Slot> {
    let mut k = k;
    for s in slots {
        let n = blocks_in(s, size);
        if k < n {
            let lo = s.port_lo as u32 + k * size;
            return Some(Pool4Slot {
                addr4: s.addr4,
                port_lo: lo as u16,
                port_hi: (lo + size - 1) as u16,
            });
        }
        k -= n;
    }
    None
}

/// The block number holding `addr4`:`port` in a protocol's slot list, the reverse of
/// [`nth_block`]; `None` for a port outside every block.
pub fn block_of(slots: &[Pool4Slot], size: u32, addr4: [u8; 4], port: u16) -> Option<u32> {
    let mut first = 0;
    for s in slots {
        let n = blocks_in(s, size);
        if s.addr4 == addr4 && port >= s.port_lo {
            let j = (port - s.port_lo) as u32 / size;
            if j < n {
                return Some(first + j);
            }
        }
        first += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(range: &str, range_len: u8, subscriber_len: u8, size: u32) -> PortBlockConfig {
        let a: std::net::Ipv6Addr = range.parse().unwrap();
        PortBlockConfig {
            range6: a.octets(),
            range_len,
            subscriber_len,
            block_size: size,
            subscribers: 1 << (subscriber_len - range_len),
            ..PortBlockConfig::default()
        }
    }

    fn addr(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    fn slot(a: [u8; 4], lo: u16, hi: u16) -> Pool4Slot {
        Pool4Slot {
            addr4: a,
            port_lo: lo,
            port_hi: hi,
        }
    }

    /// RFC 7422 §2's parameters with the well-known ports reserved (R = 1024) and a
    /// compression ratio of C = 32 subscribers per outside address, so that each gets
    /// M = (65536 − R) / C = 2016 ports, assigned sequentially (A).
    #[test]
    fn rfc7422_parameters_give_2016_ports_per_user_sequentially() {
        let o = [
            slot([192, 0, 2, 1], 1024, 65535),
            slot([192, 0, 2, 2], 1024, 65535),
        ];
        assert_eq!(blocks_in(&o[0], 2016), 32);
        assert_eq!(block_count(&o, 2016), 64);
        assert_eq!(
            nth_block(&o, 2016, 0),
            Some(slot([192, 0, 2, 1], 1024, 3039))
        );
        assert_eq!(
            nth_block(&o, 2016, 1),
            Some(slot([192, 0, 2, 1], 3040, 5055))
        );
        assert_eq!(
            nth_block(&o, 2016, 31),
            Some(slot([192, 0, 2, 1], 63520, 65535))
        );
        assert_eq!(
            nth_block(&o, 2016, 32),
            Some(slot([192, 0, 2, 2], 1024, 3039))
        );
        assert_eq!(nth_block(&o, 2016, 64), None);
        // 64 subscribers: /64s of a /58.
        let c = cfg("2001:db8:0:40::", 58, 64, 2016);
        assert_eq!(c.subscribers, 64);
        assert_eq!(subscriber_index(&c, &addr("2001:db8:0:40::1")), Some(0));
        assert_eq!(subscriber_index(&c, &addr("2001:db8:0:5f:a::1")), Some(31));
        assert_eq!(subscriber_index(&c, &addr("2001:db8:0:7f::ffff")), Some(63));
        assert_eq!(subscriber_index(&c, &addr("2001:db8:0:80::1")), None);
        assert_eq!(subscriber_index(&c, &addr("2001:db8:0:3f::1")), None);
    }

    #[test]
    fn reverse_finds_the_subscriber_of_every_port() {
        let o = [
            slot([192, 0, 2, 1], 1024, 65535),
            slot([192, 0, 2, 2], 1024, 65535),
        ];
        let c = cfg("2001:db8:0:40::", 58, 64, 2016);
        for k in 0..64 {
            let b = nth_block(&o, 2016, k).unwrap();
            for port in [b.port_lo, b.port_hi, b.port_lo / 2 + b.port_hi / 2] {
                assert_eq!(block_of(&o, 2016, b.addr4, port), Some(k));
            }
            let p = subscriber_prefix(&c, k);
            assert_eq!(subscriber_index(&c, &p), Some(k));
        }
        assert_eq!(
            subscriber_prefix(&c, 31),
            addr("2001:db8:0:5f::"),
            "the prefix of subscriber 31"
        );
        // Below the range, past the last block, and another address.
        assert_eq!(block_of(&o, 2016, [192, 0, 2, 1], 1023), None);
        assert_eq!(block_of(&o, 2016, [192, 0, 2, 3], 2000), None);
        // The remainder of a range shorter than a block is not a block.
        let r = [slot([192, 0, 2, 1], 1000, 1999)];
        assert_eq!(block_count(&r, 300), 3);
        assert_eq!(block_of(&r, 300, [192, 0, 2, 1], 1899), Some(2));
        assert_eq!(block_of(&r, 300, [192, 0, 2, 1], 1900), None);
    }

    #[test]
    fn subscriber_numbers_across_the_word_boundary() {
        // /56 subscribers of a /48, /96 of a /80, /128 hosts of a /112, and a /64 range
        // holding /72s: the bits straddle or sit in either 64-bit half.
        let c = cfg("2001:db8:7::", 48, 56, 100);
        assert_eq!(
            subscriber_index(&c, &addr("2001:db8:7:ab00::1")),
            Some(0xab)
        );
        assert_eq!(subscriber_prefix(&c, 0xab), addr("2001:db8:7:ab00::"));
        let c = cfg("2001:db8::", 80, 96, 100);
        assert_eq!(
            subscriber_index(&c, &addr("2001:db8::2345:0:1")),
            Some(0x2345)
        );
        let c = cfg("2001:db8::", 112, 128, 100);
        assert_eq!(subscriber_index(&c, &addr("2001:db8::beef")), Some(0xbeef));
        assert_eq!(subscriber_index(&c, &addr("2001:db8::1:beef")), None);
        let c = cfg("2001:db8:1:2::", 64, 72, 100);
        assert_eq!(
            subscriber_index(&c, &addr("2001:db8:1:2:ff00::9")),
            Some(0xff)
        );
        let c = cfg("2001:db8:1:2::", 60, 68, 100);
        assert_eq!(
            subscriber_index(&c, &addr("2001:db8:1:d:a000::")),
            Some(0xda),
            "four bits from each half"
        );
        assert_eq!(subscriber_prefix(&c, 0xda), addr("2001:db8:1:d:a000::"));
        // One subscriber: the whole range.
        let c = cfg("2001:db8::", 64, 64, 100);
        assert_eq!(subscriber_index(&c, &addr("2001:db8::77")), Some(0));
    }

    #[test]
    fn on_first_use_a_subscriber_is_its_prefix() {
        let c = cfg("2001:db8:7::", 48, 56, 100);
        assert_eq!(
            subscriber_of(&c, &addr("2001:db8:7:ab12::1")),
            Some(addr("2001:db8:7:ab00::"))
        );
        assert_eq!(subscriber_of(&c, &addr("2001:db8:8::1")), None, "outside");
        // Any number of subscriber bits: a /0 range of /64s, and /124s across the halves.
        let mut c = cfg("::", 0, 20, 100);
        c.subscriber_len = 64;
        assert_eq!(
            subscriber_of(&c, &addr("2001:db8:1:2:3:4:5:6")),
            Some(addr("2001:db8:1:2::"))
        );
        c.subscriber_len = 124;
        assert_eq!(
            subscriber_of(&c, &addr("2001:db8:1:2:3:4:5:6")),
            Some(addr("2001:db8:1:2:3:4:5:0"))
        );
        c.subscriber_len = 128;
        assert_eq!(
            subscriber_of(&c, &addr("2001:db8::9")),
            Some(addr("2001:db8::9"))
        );
        c.subscriber_len = 129;
        assert_eq!(subscriber_of(&c, &addr("2001:db8::9")), None);
    }

    #[test]
    fn configurations_the_control_plane_refuses_give_no_subscriber() {
        let mut c = cfg("2001:db8::", 32, 52, 100);
        assert!(subscriber_index(&c, &addr("2001:db8::1")).is_some());
        c.subscriber_len = 53;
        assert_eq!(subscriber_index(&c, &addr("2001:db8::1")), None, "21 bits");
        c.subscriber_len = 31;
        assert_eq!(subscriber_index(&c, &addr("2001:db8::1")), None);
        c.subscriber_len = 129;
        c.range_len = 120;
        assert_eq!(subscriber_index(&c, &addr("2001:db8::1")), None);
    }
}
