//! Session expiry inside the kernel (RFC 6146 §3.5): what the sweep program decides for
//! each table entry.
//!
//! A pass walks the session table, then the IPv4-side BIB, in the kernel
//! (`nat64-ebpf/src/sweep.rs`): every entry is read in place, what has expired is deleted
//! there, and the session log hears of it through the data plane's event ring. The pass's
//! clock goes in and the census comes back in `SweepState`, the program's context.
//!
//! Liveness is a pass number stamped on what a live flow keeps: its binding (in
//! `NAT64_SWEEP_SEEN`) and, with address-dependent filtering, its peer record (in the
//! record's own entry, `SessionEntry::sweep_stamp`). A binding or peer record goes when
//! no live flow stamped it in this pass or the one before: two passes, because a walk is
//! not a snapshot (a flow created behind it is only seen by the next pass), and the same
//! grace covers a binding the data plane has just created for its first session. What is
//! met unstamped is stamped as if seen in the previous pass, which gives it that grace.
use crate::{
    block,
    maps::{Bib4Key, Bib6Key},
};

/// `SweepState::flags`: live flows stamp their peer records (address-dependent filtering
/// is on, or the last pass found peer records). Without it, peer records are kept.
pub const SWEEP_F_MARK_PEERS: u32 = 1 << 0;
/// The benchmarks' floor: visit and count every session and binding, decide nothing (what
/// the walk itself costs).
pub const SWEEP_F_WALK_ONLY: u32 = 1 << 1;
/// Port blocks on first use are on: live bindings keep their subscriber's block
/// (`SweepState::subscribers` says how a binding's subscriber is found).
pub const SWEEP_F_BLOCKS_ON_FIRST_USE: u32 = 1 << 2;

/// How the sweep finds a binding's subscriber (its port block on first use): the IPv6
/// address as two big-endian halves, in `range` under `range_mask`, masked with
/// `subscriber_mask`. Computed by nat64-ctl from the port-block config
/// ([`SubscriberMasks::new`]) so that the sweep program has no shift to branch on: the
/// verifier walks every branch of a callback once per path that reaches it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriberMasks {
    pub range: [u64; 2],
    pub range_mask: [u64; 2],
    pub subscriber_mask: [u64; 2],
    /// The subscriber prefix length, for the session log.
    pub subscriber_len: u32,
    pub _pad: u32,
}

impl SubscriberMasks {
    pub const fn new(cfg: &crate::block::PortBlockConfig) -> SubscriberMasks {
        let (mhi, mlo) = block::prefix_masks(cfg.range_len as u32);
        let (rhi, rlo) = block::halves(&cfg.range6);
        let (shi, slo) = block::prefix_masks(cfg.subscriber_len as u32);
        SubscriberMasks {
            range: [rhi & mhi, rlo & mlo],
            range_mask: [mhi, mlo],
            subscriber_mask: [shi, slo],
            subscriber_len: cfg.subscriber_len as u32,
            _pad: 0,
        }
    }

    /// The subscriber prefix of `addr6`; `None` outside the range. The same answer as
    /// `block::subscriber_of` for the config the masks came from.
    #[inline(always)]
    pub fn subscriber(&self, addr6: &[u8; 16]) -> Option<[u8; 16]> {
        let (hi, lo) = block::halves(addr6);
        if (hi & self.range_mask[0]) != self.range[0] || (lo & self.range_mask[1]) != self.range[1]
        {
            return None;
        }
        Some(block::join(
            hi & self.subscriber_mask[0],
            lo & self.subscriber_mask[1],
        ))
    }
}

/// The sweep program's context: the pass's input (written by nat64-ctl) and its totals
/// (written back by the kernel when the run ends).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepState {
    /// CLOCK_MONOTONIC of the pass: what session timestamps are compared with.
    pub now_ns: u64,
    /// This pass's number: never 0 (the unstamped mark), and it may wrap.
    pub pass: u32,
    /// `SWEEP_F_*`.
    pub flags: u32,
    /// Session table entries walked.
    pub scanned: u64,
    /// Peer records met.
    pub peer_records: u64,
    /// Live flows per protocol, in `POOL4_PROTOS` order.
    pub live_sessions: [u64; 3],
    /// Bindings that stay, per protocol.
    pub static_bindings: [u64; 3],
    pub dynamic_bindings: [u64; 3],
    /// Sessions and peer records deleted.
    pub deleted_sessions: u64,
    /// Dynamic bindings deleted.
    pub deleted_bindings: u64,
    /// Port blocks on first use still held, and given back, by this pass.
    pub assigned_blocks: u64,
    pub released_blocks: u64,
    /// With `SWEEP_F_BLOCKS_ON_FIRST_USE`: how a binding's subscriber is found.
    pub subscribers: SubscriberMasks,
}

/// `NAT64_SWEEP_POOL4` key: bindings per pool4 address and protocol (the census).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pool4UseKey {
    pub addr4: [u8; 4],
    /// Index in `POOL4_PROTOS`.
    pub proto_index: u32,
}

/// How many bindings the pass `pass` counted on an address; an entry from an older pass
/// counts nothing (the address lost its bindings, or left pool4).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool4Use {
    pub pass: u32,
    pub _pad: u32,
    pub bindings: u64,
}

/// What the pass does with a binding's or peer record's stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// A live flow stamped it in this pass or the one before.
    Keep,
    /// Never stamped (or stamped by a pass numbered ahead, from before nat64-ctl
    /// restarted): stamp it as if seen in the previous pass, so it gets its grace.
    Restamp(u32),
    /// Nothing stamped it in this pass or the one before.
    Expired,
}

/// The pass number before `pass`, skipping the unstamped mark.
#[inline(always)]
pub const fn previous(pass: u32) -> u32 {
    match pass.wrapping_sub(1) {
        0 => u32::MAX,
        p => p,
    }
}

/// The pass number after `pass`, skipping the unstamped mark.
#[inline(always)]
pub const fn next(pass: u32) -> u32 {
    match pass.wrapping_add(1) {
        0 => 1,
        p => p,
    }
}

/// `stamp` at pass `pass`; 0 is "never stamped".
#[inline(always)]
pub const fn judge(stamp: u32, pass: u32) -> Stamp {
    if stamp == 0 {
        return Stamp::Restamp(previous(pass));
    }
    // Passes since the stamp, wrapping; "ahead" (negative) is a stamp of a pass counter
    // that has since started over.
    let mut age = pass.wrapping_sub(stamp) as i32;
    if stamp > pass && age > 0 {
        age -= 1; // the count wrapped, skipping the unstamped mark
    }
    if age < 0 {
        Stamp::Restamp(previous(pass))
    } else if age <= 1 {
        Stamp::Keep
    } else {
        Stamp::Expired
    }
}

/// The IPv6 half of a binding, from its IPv4 half.
#[inline(always)]
pub const fn bib6_key(k4: &Bib4Key, addr6: [u8; 16], port6: u16) -> Bib6Key {
    Bib6Key {
        addr6,
        port6,
        proto: k4.proto,
        _pad: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeps_masks_find_the_same_subscriber_as_the_data_plane() {
        let addrs: [[u8; 16]; 4] = [
            "2001:db8:7:ab12::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "2001:db8:8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "2001:db8:7:0:ffff:1:2:3"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            [0xff; 16],
        ];
        for (range, range_len) in [
            ("2001:db8:7::", 48u8),
            ("::", 0),
            ("2001:db8:7:0:ffff::", 80),
        ] {
            for subscriber_len in [range_len, 56, 64, 72, 100, 128] {
                if subscriber_len < range_len {
                    continue;
                }
                let cfg = crate::block::PortBlockConfig {
                    range6: range.parse::<std::net::Ipv6Addr>().unwrap().octets(),
                    range_len,
                    subscriber_len,
                    ..Default::default()
                };
                let m = SubscriberMasks::new(&cfg);
                for a in &addrs {
                    assert_eq!(
                        m.subscriber(a),
                        crate::block::subscriber_of(&cfg, a),
                        "{range}/{range_len}, /{subscriber_len}, {a:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_stamp_lives_for_its_pass_and_the_next() {
        assert_eq!(judge(7, 7), Stamp::Keep);
        assert_eq!(judge(6, 7), Stamp::Keep);
        assert_eq!(judge(5, 7), Stamp::Expired);
        assert_eq!(judge(1, 1000), Stamp::Expired);
    }

    #[test]
    fn the_unstamped_get_one_pass_of_grace() {
        // Met unstamped at pass 7: stamped 6, kept at 7, gone at 8.
        assert_eq!(judge(0, 7), Stamp::Restamp(6));
        assert_eq!(judge(6, 8), Stamp::Expired);
    }

    #[test]
    fn pass_numbers_wrap_without_the_unstamped_mark() {
        assert_eq!(next(u32::MAX), 1);
        assert_eq!(previous(1), u32::MAX);
        assert_eq!(judge(u32::MAX, 1), Stamp::Keep);
        assert_eq!(judge(u32::MAX - 1, 1), Stamp::Expired);
        assert_eq!(judge(0, 1), Stamp::Restamp(u32::MAX));
    }

    #[test]
    fn a_stamp_from_a_counter_that_started_over_is_renewed() {
        // nat64-ctl restarted: its passes count from the start again while the stamps in
        // the kept tables are higher. They get their grace, not an early death.
        assert_eq!(judge(5000, 2), Stamp::Restamp(1));
    }
}
