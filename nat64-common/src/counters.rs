//! Per-CPU statistics. The XDP program keeps one `PerCpuArray<u64>` of
//! `Counter::COUNT` slots; nat64-ctl sums the CPUs and names each slot.

/// Index into the `STATS` per-CPU array. Each drop reason gets its own slot so that an
/// operator can tell *why* packets vanish, not just that they did.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Ethernet frames carrying IPv6 seen by the program.
    RxIpv6 = 0,
    /// Ethernet frames carrying IPv4 seen by the program.
    RxIpv4,
    /// Frames that are neither IPv4 nor IPv6 (ARP, LLDP, …); always passed.
    RxOther,
    /// Frame too short to hold an Ethernet header.
    DropTruncatedEth,
    /// Verdicts.
    VerdictPass,
    VerdictDrop,
    VerdictTx,
    VerdictRedirect,
    VerdictAborted,
}

impl Counter {
    /// Every counter, in slot order. Kept next to the enum so a new variant that is
    /// forgotten here fails the `table_matches_discriminants` test.
    pub const ALL: &'static [Counter] = &[
        Counter::RxIpv6,
        Counter::RxIpv4,
        Counter::RxOther,
        Counter::DropTruncatedEth,
        Counter::VerdictPass,
        Counter::VerdictDrop,
        Counter::VerdictTx,
        Counter::VerdictRedirect,
        Counter::VerdictAborted,
    ];

    /// Number of slots the stats map must have.
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// Stable machine name (metrics labels, JSON keys).
    pub const fn name(self) -> &'static str {
        match self {
            Counter::RxIpv6 => "rx_ipv6",
            Counter::RxIpv4 => "rx_ipv4",
            Counter::RxOther => "rx_other",
            Counter::DropTruncatedEth => "drop_truncated_ethernet",
            Counter::VerdictPass => "verdict_pass",
            Counter::VerdictDrop => "verdict_drop",
            Counter::VerdictTx => "verdict_tx",
            Counter::VerdictRedirect => "verdict_redirect",
            Counter::VerdictAborted => "verdict_aborted",
        }
    }

    /// One line for `nat64-ctl stats display --explain`.
    pub const fn explain(self) -> &'static str {
        match self {
            Counter::RxIpv6 => "IPv6 packets received on an attached interface",
            Counter::RxIpv4 => "IPv4 packets received on an attached interface",
            Counter::RxOther => "non-IP frames received (passed to the kernel untouched)",
            Counter::DropTruncatedEth => "frames shorter than an Ethernet header (dropped)",
            Counter::VerdictPass => "packets handed to the kernel stack (XDP_PASS)",
            Counter::VerdictDrop => "packets dropped (XDP_DROP); see the drop_* counters for why",
            Counter::VerdictTx => "packets sent back out of the receiving interface (XDP_TX)",
            Counter::VerdictRedirect => "packets redirected to another interface (XDP_REDIRECT)",
            Counter::VerdictAborted => "program errors (XDP_ABORTED); should stay zero",
        }
    }

    pub const fn index(self) -> u32 {
        self as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_discriminants() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(
                c.index() as usize,
                i,
                "{c:?} is out of order in Counter::ALL"
            );
        }
        // The last discriminant + 1 must equal the table length: catches a variant
        // added to the enum but not to ALL.
        assert_eq!(Counter::VerdictAborted.index() + 1, Counter::COUNT);
    }

    #[test]
    fn names_are_unique_snake_case() {
        for (i, a) in Counter::ALL.iter().enumerate() {
            assert!(a
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
            assert!(!a.explain().is_empty());
            for b in &Counter::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
