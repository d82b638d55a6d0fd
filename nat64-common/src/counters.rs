//! Per-CPU statistics. The XDP program keeps one `PerCpuArray<u64>`, indexed by counter
//! ID; nat64-ctl sums the CPUs and names each slot.
//!
//! A counter's ID is its slot in that pinned array, so IDs are identifiers that never
//! change (as cilium's `drop_reasons.h`): a new counter takes the next free ID at the end
//! of the table, a retired one leaves its ID in [`Counter::RETIRED`], never to be reused.
//! That is what lets an upgraded nat64-ctl carry a running gateway's counters over by ID
//! (`nat64_ctl::upgrade`). `counter_ids.txt` records every released ID and a test holds
//! the table to it.

/// One table defines the enum, its IDs, the stable names and the explanations, so they
/// cannot drift apart. Appending a counter is one line: `Name = <next ID> => "name", "…";`.
macro_rules! counters {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal => $name:literal, $explain:literal; )+) => {
        /// Index into the `NAT64_STATS` per-CPU array. Each drop reason has its own slot
        /// so that an operator can tell *why* packets vanish, not just that they did.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Counter {
            $( $(#[$doc])* $variant = $id, )+
        }

        impl Counter {
            /// Every counter, in ID order.
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant, )+ ];

            /// The counter with this ID, if this build has one (retired and future IDs
            /// have none).
            pub const fn from_id(id: u32) -> Option<Counter> {
                match id { $( $id => Some(Counter::$variant), )+ _ => None }
            }

            /// Stable machine name (metrics labels, JSON keys).
            pub const fn name(self) -> &'static str {
                match self { $( Counter::$variant => $name, )+ }
            }

            /// One line for `nat64-ctl stats display --explain`.
            pub const fn explain(self) -> &'static str {
                match self { $( Counter::$variant => $explain, )+ }
            }
        }
    };
}

counters! {
    RxIpv6 = 0 => "rx_ipv6", "IPv6 packets received on an attached interface";
    RxIpv4 = 1 => "rx_ipv4", "IPv4 packets received on an attached interface";
    RxOther = 2 => "rx_other", "non-IP frames received (passed to the kernel untouched)";
    PassNotOurs6 = 3 => "pass_not_pool6", "IPv6 packets not addressed to pool6 (passed to the kernel untouched)";
    PassNotOurs4 = 4 => "pass_not_pool4", "IPv4 packets not addressed to a pool4 address (passed to the kernel untouched)";

    Rx6to4Tcp = 5 => "rx_6to4_tcp", "TCP packets to pool6 (the 6→4 direction)";
    Rx6to4TcpBytes = 6 => "rx_6to4_tcp_bytes", "bytes of the rx_6to4_tcp packets (IP header and payload)";
    Rx6to4Udp = 7 => "rx_6to4_udp", "UDP packets to pool6 (the 6→4 direction)";
    Rx6to4UdpBytes = 8 => "rx_6to4_udp_bytes", "bytes of the rx_6to4_udp packets (IP header and payload)";
    Rx6to4Icmp = 9 => "rx_6to4_icmp", "ICMPv6 packets to pool6 (the 6→4 direction): echo, errors and untranslatable types";
    Rx6to4IcmpBytes = 10 => "rx_6to4_icmp_bytes", "bytes of the rx_6to4_icmp packets (IP header and payload)";
    Rx4to6Tcp = 11 => "rx_4to6_tcp", "TCP packets to a pool4 address (the 4→6 direction)";
    Rx4to6TcpBytes = 12 => "rx_4to6_tcp_bytes", "bytes of the rx_4to6_tcp packets (IP header and payload)";
    Rx4to6Udp = 13 => "rx_4to6_udp", "UDP packets to a pool4 address (the 4→6 direction)";
    Rx4to6UdpBytes = 14 => "rx_4to6_udp_bytes", "bytes of the rx_4to6_udp packets (IP header and payload)";
    Rx4to6Icmp = 15 => "rx_4to6_icmp", "ICMPv4 packets to a pool4 address (the 4→6 direction): echo, errors and untranslatable types";
    Rx4to6IcmpBytes = 16 => "rx_4to6_icmp_bytes", "bytes of the rx_4to6_icmp packets (IP header and payload)";

    Xlat6to4Tcp = 17 => "xlat_6to4_tcp", "TCP packets translated from IPv6 to IPv4";
    Xlat6to4TcpBytes = 18 => "xlat_6to4_tcp_bytes", "bytes of the xlat_6to4_tcp packets as sent (IPv4 header and payload)";
    Xlat6to4Udp = 19 => "xlat_6to4_udp", "UDP packets translated from IPv6 to IPv4";
    Xlat6to4UdpBytes = 20 => "xlat_6to4_udp_bytes", "bytes of the xlat_6to4_udp packets as sent (IPv4 header and payload)";
    Xlat6to4Icmp = 21 => "xlat_6to4_icmp", "ICMPv6 echo packets translated to ICMPv4";
    Xlat6to4IcmpBytes = 22 => "xlat_6to4_icmp_bytes", "bytes of the xlat_6to4_icmp packets as sent (IPv4 header and payload)";
    Xlat4to6Tcp = 23 => "xlat_4to6_tcp", "TCP packets translated from IPv4 to IPv6";
    Xlat4to6TcpBytes = 24 => "xlat_4to6_tcp_bytes", "bytes of the xlat_4to6_tcp packets as sent (IPv6 header and payload)";
    Xlat4to6Udp = 25 => "xlat_4to6_udp", "UDP packets translated from IPv4 to IPv6";
    Xlat4to6UdpBytes = 26 => "xlat_4to6_udp_bytes", "bytes of the xlat_4to6_udp packets as sent (IPv6 header and payload)";
    Xlat4to6Icmp = 27 => "xlat_4to6_icmp", "ICMPv4 echo packets translated to ICMPv6";
    Xlat4to6IcmpBytes = 28 => "xlat_4to6_icmp_bytes", "bytes of the xlat_4to6_icmp packets as sent (IPv6 header and payload)";
    Xlat6to4IcmpError = 29 => "xlat_6to4_icmp_error", "ICMPv6 errors translated to ICMPv4, with the packet they quote";
    Xlat6to4IcmpErrorBytes = 30 => "xlat_6to4_icmp_error_bytes", "bytes of the xlat_6to4_icmp_error packets as sent (IPv4 header and payload)";
    Xlat4to6IcmpError = 31 => "xlat_4to6_icmp_error", "ICMPv4 errors translated to ICMPv6, with the packet they quote";
    Xlat4to6IcmpErrorBytes = 32 => "xlat_4to6_icmp_error_bytes", "bytes of the xlat_4to6_icmp_error packets as sent (IPv6 header and payload)";
    XlatHairpin = 33 => "xlat_hairpin", "packets from one IPv6 client to another's pool4 address, turned back (RFC 6146 §3.8)";
    XlatHairpinBytes = 34 => "xlat_hairpin_bytes", "bytes of the xlat_hairpin packets as sent (IPv6 header and payload)";
    UdpZeroChecksumComputed = 35 => "udp_zero_checksum_computed", "IPv4 UDP packets without checksum that got a full IPv6 checksum computed";

    BibCreated = 36 => "bib_created", "dynamic bindings created by IPv6 flows opening";
    PortAllocRetries = 37 => "port_alloc_retries", "pool4 port candidates found taken while creating a binding";
    SessionCreated = 38 => "session_created", "sessions opened (by either side; RFC 6146 §3.5)";
    SessionExpired = 39 => "session_expired", "sessions and filtering records deleted by the expiry sweep (idle past their lifetime)";
    BibExpired = 40 => "bib_expired", "dynamic bindings deleted by the expiry sweep (no session left)";
    EventsLost = 41 => "events_lost", "session-log events the ring buffer had no room for (nat64-ctl fell behind); counted, never waited for";
    // The slow path (nat64-ctl): what XDP cannot do alone.
    SlowPathFragment = 42 => "slow_path_fragment", "IPv4 packets with DF=0 whose translation exceeds lowest-ipv6-mtu, translated and handed to nat64-ctl to go out as IPv6 fragments";
    SlowPathFragmentsSent = 43 => "slow_path_fragments_sent", "IPv6 fragments nat64-ctl sent for slow_path_fragment packets";
    SlowPathHeldSyn = 44 => "slow_path_held_syn", "IPv4 SYNs to a pool4 port with no binding, handed to nat64-ctl to be held 6 s for a simultaneous open (RFC 6146 §3.5.2.2)";
    HeldSynMatched = 45 => "held_syn_matched", "held IPv4 SYNs silently discarded because the IPv6 side opened the same flow within 6 s";
    HeldSynRefused = 46 => "held_syn_refused", "held IPv4 SYNs answered with ICMP port unreachable after 6 s without an IPv6 open";
    HeldSynDropped = 47 => "held_syn_dropped", "held IPv4 SYNs dropped unanswered after 6 s: their source may get no ICMP error (not a unicast host) or ICMP errors are off (--icmp-errors-rate 0)";

    FwdRedirect = 48 => "fwd_redirect", "translated packets sent straight to the next hop (FIB lookup hit)";
    FwdPassNoNeighbour = 49 => "fwd_pass_no_neighbour", "translated packets handed to the kernel because the next hop's MAC is not yet known";
    FwdPassNoRoute = 50 => "fwd_pass_no_route", "translated packets handed to the kernel because the FIB lookup found no usable route";

    DropTruncatedEth = 51 => "drop_truncated_ethernet", "frames shorter than an Ethernet header";
    DropTruncatedIpv6 = 52 => "drop_truncated_ipv6", "IPv6 packets shorter than their header";
    DropTruncatedIpv4 = 53 => "drop_truncated_ipv4", "IPv4 packets shorter than their header";
    DropBadIpv4Header = 54 => "drop_bad_ipv4_header", "IPv4 headers with a wrong version or IHL";
    DropBadIpv4Checksum = 55 => "drop_bad_ipv4_checksum", "IPv4 headers whose checksum does not verify (a fresh header must not launder them)";
    DropBadIpv4Options = 56 => "drop_bad_ipv4_options", "IPv4 packets with a malformed options area";
    DropBadLength = 57 => "drop_bad_length", "packets whose length field claims more bytes than the frame holds";
    DropTruncatedL4 = 58 => "drop_truncated_l4", "packets too short for their TCP, UDP or ICMP header";
    DropExtHeaderUnknown = 59 => "drop_ext_header_unknown", "IPv6 packets with an extension header the translator cannot skip";
    DropExtHeaderChainTooLong = 60 => "drop_ext_header_chain_too_long", "IPv6 packets with more extension headers than the translator walks";
    DropRoutingHeader = 61 => "drop_routing_header", "IPv6 packets with a Routing header whose Segments Left is not zero (RFC 7915 §5.1)";
    DropIpv4SourceRoute = 62 => "drop_ipv4_source_route", "IPv4 packets with a source-route option (RFC 7915 §4.1)";
    DropHopLimit = 63 => "drop_hop_limit_exceeded", "packets that would leave the gateway with TTL or hop limit 0";
    DropIcmp6Unsupported = 64 => "drop_icmpv6_untranslatable", "ICMPv6 types with no ICMPv4 equivalent (ND, MLD, RA, redirect, ...)";
    DropIcmp4Unsupported = 65 => "drop_icmpv4_untranslatable", "ICMPv4 types with no ICMPv6 equivalent (timestamp, address mask, source quench, ...)";
    DropIcmpErrorInError = 66 => "drop_icmp_error_in_error", "ICMP errors quoting another ICMP error";
    DropIcmpInnerUntranslatable = 67 => "drop_icmp_inner_untranslatable", "ICMP errors whose quoted packet is truncated, carries extension headers or an unknown protocol";
    DropIcmpBadChecksum = 68 => "drop_icmp_error_bad_checksum", "ICMP errors whose checksum does not verify (a rebuilt error must not launder them)";
    DropIcmpPointerUnmappable = 69 => "drop_icmp_pointer_unmappable", "Parameter Problem errors pointing at a field with no counterpart (RFC 7915)";
    DropIcmpUnmappableSource = 70 => "drop_icmp_unmappable_source", "ICMPv6 errors from an IPv6 router whose address has no IPv4 form, with no --pool6791 configured (RFC 6791)";
    DropUnsupportedProto = 71 => "drop_unsupported_protocol", "packets to pool6/pool4 carrying a protocol other than TCP, UDP and ICMP";
    DropNonGlobalIpv4 = 72 => "drop_nonglobal_ipv4", "non-global IPv4 addresses under the well-known prefix 64:ff9b::/96 (RFC 6052 §3.1)";
    DropNoBib6 = 73 => "drop_no_bib6", "IPv6 packets whose source has no binding and may not create one (TCP without SYN, echo reply)";
    DropPool4Empty = 74 => "drop_pool4_empty", "new IPv6 flows refused: no pool4 address lends ports for their protocol";
    DropPool4Exhausted = 75 => "drop_pool4_exhausted", "port allocation failures: new IPv6 flows refused, every pool4 port candidate tried was taken";
    DropBibFull = 76 => "drop_bib_full", "new IPv6 flows refused: the binding table is full (existing flows go on)";
    DropNoBib4 = 77 => "drop_no_bib4", "IPv4 packets to a pool4 address and port with no binding (no open relay)";
    DropNoSession = 78 => "drop_no_session", "packets with no session that may not open one (TCP without SYN, ICMP echo reply)";
    DropSessionTableFull = 79 => "drop_session_table_full", "new flows refused: the session table is full (existing flows go on)";
    DropFiltered = 80 => "drop_filtered", "IPv4 packets from an address the IPv6 host has not contacted (address-dependent filtering)";
    DropAdjustFailed = 81 => "drop_adjust_failed", "packets the kernel could not resize for translation";
    DropInternal = 82 => "drop_internal", "internal errors (a per-CPU scratch slot missing); should stay zero";
    DropUdpZeroChecksumTooLong = 83 => "drop_udp_zero_checksum_too_long", "IPv4 UDP packets without checksum too long to checksum in XDP";
    DropSlowPathFull = 84 => "drop_slow_path_full", "packets for the slow path dropped because its ring buffer was full (nat64-ctl fell behind)";
    DropSlowPathTooBig = 85 => "drop_slow_path_too_big", "packets for the slow path dropped because the frame exceeds its 9216-byte record";
    DropSlowPathSendFailed = 86 => "drop_slow_path_send_failed", "slow-path packets nat64-ctl could not split or send (malformed record, socket error)";
    DropHeldSynOverflow = 87 => "drop_held_syn_overflow", "IPv4 SYNs not held for a simultaneous open: nat64-ctl already holds the most it will";

    // Fragments (RFC 7915 §4.1, §5.1.1; RFC 6146 §3.4).
    Frag6to4 = 88 => "frag_6to4", "IPv6 fragments translated to IPv4 fragments (also counted in xlat_6to4_tcp/udp)";
    Frag4to6 = 89 => "frag_4to6", "IPv4 fragments translated to IPv6 fragments (also counted in xlat_4to6_tcp/udp)";
    DropFragmentOutOfOrder = 90 => "drop_fragment_out_of_order", "non-first fragments with no live first fragment (it came later, was refused, or is older than 2 s): they carry no ports to translate by";
    DropFragmentIcmp = 91 => "drop_fragment_icmp", "fragmented ICMP packets (the ICMPv4/ICMPv6 checksum change needs the whole datagram's length)";
    DropFragmentUdpZeroChecksum = 92 => "drop_fragment_udp_zero_checksum", "first fragments of IPv4 UDP datagrams without checksum (IPv6 needs one; no fragment holds the datagram)";
    DropFragmentHairpin = 93 => "drop_fragment_hairpin", "fragments from an IPv6 client to a pool4 address (hairpinning fragments is not supported)";
    DropFragmentMalformed = 94 => "drop_fragment_malformed", "IPv6 fragments with a second Fragment header or extension headers after it";

    // ---- ICMP errors the gateway originates (issue 7: PMTUD, RFC 6791) ----
    IcmpSentTimeExceeded6 = 95 => "icmp_sent_time_exceeded6", "ICMPv6 Time Exceeded sent for IPv6 packets whose hop limit ran out at the gateway";
    IcmpSentTimeExceeded4 = 96 => "icmp_sent_time_exceeded4", "ICMPv4 Time Exceeded sent for IPv4 packets whose TTL ran out at the gateway";
    IcmpSentPacketTooBig = 97 => "icmp_sent_packet_too_big", "ICMPv6 Packet Too Big sent for IPv6 packets too large for the IPv4 egress link once translated";
    IcmpSentFragNeeded = 98 => "icmp_sent_frag_needed", "ICMPv4 Fragmentation Needed sent for DF=1 IPv4 packets too large for the IPv6 egress link once translated";
    IcmpSentAddressUnreachable6 = 99 => "icmp_sent_address_unreachable6", "ICMPv6 Destination Unreachable (address unreachable, RFC 6146 §3.5.1.1) sent for IPv6 flows refused (pool4 or a table exhausted)";
    IcmpSentAdminProhibited4 = 100 => "icmp_sent_admin_prohibited4", "ICMPv4 Destination Unreachable (administratively prohibited) sent for packets address-dependent filtering refused (--filtering-icmp)";
    IcmpErrorsRateLimited = 101 => "icmp_errors_rate_limited", "ICMP errors the gateway would have sent but the rate limit (--icmp-errors-rate/--icmp-errors-burst) held back";
    IcmpRfc6791Source = 102 => "icmp_rfc6791_source", "translated ICMPv6 errors whose IPv6 source has no IPv4 form, given a --pool6791 source (RFC 6791)";
    DropTooBig = 103 => "drop_too_big", "packets larger than the egress link's MTU once translated that may not be fragmented (a Packet Too Big / Fragmentation Needed answers them)";
    FwdPassFragment = 104 => "fwd_pass_fragment", "translated IPv4 packets (DF=0) larger than the egress MTU, handed to the kernel to fragment";
    FwdPassTooBig = 105 => "fwd_pass_too_big", "translated IPv6 packets from DF=0 IPv4 larger than the egress MTU, handed to the kernel because the slow path (nat64-ctl) is not running";

    VerdictPass = 106 => "verdict_pass", "packets handed to the kernel stack (XDP_PASS, TC_ACT_OK)";
    VerdictDrop = 107 => "verdict_drop", "packets dropped (XDP_DROP, TC_ACT_SHOT); the drop_* counters say why";
    VerdictTx = 108 => "verdict_tx", "packets sent back out of the receiving interface (XDP_TX; under TC a redirect to the same interface)";
    VerdictRedirect = 109 => "verdict_redirect", "packets redirected to another interface (XDP_REDIRECT, TC_ACT_REDIRECT)";
    VerdictAborted = 110 => "verdict_aborted", "program errors (XDP_ABORTED); should stay zero";

    PassPool4Local = 111 => "pass_pool4_local", "IPv4 packets to a pool4 address of the gateway's own that no binding and no pool4 port range claims (its own services: passed to the kernel untouched)";
    FwdRedirectNeighbour = 112 => "fwd_redirect_neighbour", "translated packets (TC hook) whose next hop's MAC was not yet known, sent through the kernel's neighbour layer, which resolves it (bpf_redirect_neigh)";
    DropBadTcpHeader = 113 => "drop_bad_tcp_header", "TCP segments whose data offset is below 5 words or reaches past the segment (both directions)";
    DropMartianIpv4Source = 114 => "drop_martian_ipv4_source", "IPv4 packets from a source no router forwards (0/8, 127/8, 224/4 and above), whatever --allow-nonglobal-ipv4 says";
    HeldSynMet = 115 => "held_syn_met", "new TCP bindings that took the pool4 port a held IPv4 SYN was sent to, so that the two SYNs of a simultaneous open meet";
    XlatHairpinIcmpError = 116 => "xlat_hairpin_icmp_error", "ICMPv6 errors about a hairpinned packet, sent on to its sender through both bindings (RFC 6146 §3.8)";
    DropIpv6SourceInPool6 = 117 => "drop_ipv6_source_in_pool6", "IPv6 packets to pool6 whose source is inside pool6 too (RFC 6146 §3.5: dropped, a translated one would loop)";
    DropNoPortBlock = 118 => "drop_no_port_block", "new IPv6 flows refused because port blocks are on and the source is outside the subscriber range, so it has no block";
    DropPortBlockExhausted = 119 => "drop_port_block_exhausted", "new IPv6 flows refused because every port candidate in the subscriber's own block was taken";
    BlockAssigned = 120 => "block_assigned", "port blocks handed out on a subscriber's first binding (allocation on first use)";
    BlockReleased = 121 => "block_released", "port blocks given back to the free list two sweep passes after their subscriber's last binding went";
    DropNoFreePortBlock = 122 => "drop_no_free_port_block", "new IPv6 flows refused because the subscriber had no port block and none was free (allocation on first use)";
}

impl Counter {
    /// IDs of counters that are no longer counted, with the name they had: their slots
    /// stay unused so that no older gateway's value shows up under a new name.
    pub const RETIRED: &'static [(u32, &'static str)] = &[];

    /// Number of slots the stats map has: one past the highest ID (retired ones included).
    pub const COUNT: u32 = Self::ALL[Self::ALL.len() - 1].index() + 1;

    /// The counter's ID: its slot in the stats map.
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// Whether this counter is a drop reason.
    pub fn is_drop(self) -> bool {
        self.name().starts_with("drop_")
    }

    /// Whether this counter adds up bytes rather than packets. Each one has the ID right
    /// after its packet counter's (`rx_6to4_tcp` → `rx_6to4_tcp_bytes`), so the data
    /// plane bumps both from one index; a test below holds the table to that.
    pub fn is_bytes(self) -> bool {
        self.name().ends_with("_bytes")
    }

    /// The byte counter that follows this packet counter, if it has one.
    pub fn bytes_twin(self) -> Option<Counter> {
        let next = Self::from_id(self.index() + 1)?;
        next.is_bytes().then_some(next)
    }

    /// Counters only nat64-ctl writes (its slow path, from userspace): the data plane never
    /// touches their slots, which is what makes nat64-ctl's read-modify-write of a
    /// per-CPU slot safe (see `nat64_ctl::stats::add_userspace`). The expiry counters left
    /// this list when the sweep moved into the kernel.
    pub const USERSPACE: &'static [Counter] = &[
        Counter::SlowPathFragmentsSent,
        Counter::HeldSynMatched,
        Counter::HeldSynRefused,
        Counter::HeldSynDropped,
        Counter::DropSlowPathSendFailed,
        Counter::DropHeldSynOverflow,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_ascend_through_the_table_and_skip_retired_ones() {
        for pair in Counter::ALL.windows(2) {
            assert!(
                pair[0].index() < pair[1].index(),
                "{:?} must come after {:?}: new counters are appended with the next ID",
                pair[1],
                pair[0]
            );
        }
        for c in Counter::ALL {
            assert_eq!(Counter::from_id(c.index()), Some(*c));
            assert!(
                !Counter::RETIRED.iter().any(|(id, _)| *id == c.index()),
                "{c:?} reuses retired ID {}",
                c.index()
            );
        }
        for (id, name) in Counter::RETIRED {
            assert!(
                *id < Counter::COUNT,
                "retired ID {id} ({name}) beyond the map"
            );
            assert_eq!(Counter::from_id(*id), None);
        }
        assert_eq!(Counter::from_id(Counter::COUNT), None);
        assert!(Counter::ALL.iter().all(|c| c.index() < Counter::COUNT));
    }

    /// Every ID a release shipped keeps its counter, or stays retired under its old name:
    /// a renumbered or renamed counter would show an upgraded gateway's values under the
    /// wrong name. (New counters need no line here to pass; add them when released.)
    #[test]
    fn released_ids_never_change() {
        let released = include_str!("counter_ids.txt");
        let mut n = 0;
        for line in released
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (id, name) = line.split_once(' ').expect("`ID name` lines");
            let id: u32 = id.parse().expect("numeric ID");
            match Counter::from_id(id) {
                Some(c) => assert_eq!(c.name(), name, "ID {id} was {name}, now {}", c.name()),
                None => assert!(
                    Counter::RETIRED.contains(&(id, name)),
                    "released ID {id} ({name}) vanished: list it in Counter::RETIRED"
                ),
            }
            n += 1;
        }
        assert!(n >= 111, "{n} released IDs");
    }

    #[test]
    fn names_are_unique_snake_case_and_explained() {
        for (i, a) in Counter::ALL.iter().enumerate() {
            assert!(
                a.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()),
                "{}",
                a.name()
            );
            assert!(!a.explain().is_empty());
            for b in &Counter::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert!(Counter::DropNoBib4.is_drop() && !Counter::RxIpv6.is_drop());
    }

    /// nat64-ctl's read-modify-write of these slots is safe only while nothing in the
    /// kernel writes them.
    #[test]
    fn the_data_plane_never_writes_userspace_counters() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nat64-ebpf/src");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for c in Counter::USERSPACE {
                let named = format!("Counter::{c:?}");
                assert!(!text.contains(&named), "{} uses {named}", path.display());
            }
            files += 1;
        }
        assert!(files > 5, "{} has no eBPF sources", dir.display());
    }

    #[test]
    fn every_byte_counter_follows_its_packet_counter() {
        let mut twins = 0;
        for (i, c) in Counter::ALL.iter().enumerate() {
            if c.is_bytes() {
                let packets = Counter::from_id(c.index() - 1).expect("a packet counter");
                assert_eq!(
                    format!("{}_bytes", packets.name()),
                    c.name(),
                    "{c:?} must follow its packet counter"
                );
                assert_eq!(packets.bytes_twin(), Some(*c));
                twins += 1;
            } else if let Some(next) = Counter::ALL.get(i + 1) {
                assert!(!next.is_bytes() || c.bytes_twin() == Some(*next));
            }
        }
        // Received and translated, 6→4 and 4→6, TCP/UDP/ICMP; ICMP errors; hairpinning.
        assert_eq!(twins, 6 + 6 + 2 + 1);
        for dir in ["6to4", "4to6"] {
            for proto in ["tcp", "udp", "icmp"] {
                for kind in ["rx", "xlat"] {
                    let name = format!("{kind}_{dir}_{proto}");
                    let c = Counter::ALL.iter().find(|c| c.name() == name);
                    assert!(c.and_then(|c| c.bytes_twin()).is_some(), "{name}");
                }
            }
        }
        assert_eq!(Counter::DropNoBib4.bytes_twin(), None);
        assert_eq!(Counter::VerdictAborted.bytes_twin(), None);
    }
}
