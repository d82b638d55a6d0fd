//! Per-CPU statistics. The XDP program keeps one `PerCpuArray<u64>` of
//! `Counter::COUNT` slots; nat64-ctl sums the CPUs and names each slot.

/// One table defines the enum, its slot order, the stable names and the explanations, so
/// they cannot drift apart.
macro_rules! counters {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $explain:literal; )+) => {
        /// Index into the `NAT64_STATS` per-CPU array. Each drop reason has its own slot
        /// so that an operator can tell *why* packets vanish, not just that they did.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Counter {
            $( $(#[$doc])* $variant, )+
        }

        impl Counter {
            /// Every counter, in slot order.
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant, )+ ];

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
    RxIpv6 = "rx_ipv6", "IPv6 packets received on an attached interface";
    RxIpv4 = "rx_ipv4", "IPv4 packets received on an attached interface";
    RxOther = "rx_other", "non-IP frames received (passed to the kernel untouched)";
    PassNotOurs6 = "pass_not_pool6", "IPv6 packets not addressed to pool6 (passed to the kernel untouched)";
    PassNotOurs4 = "pass_not_pool4", "IPv4 packets not addressed to a pool4 address (passed to the kernel untouched)";

    Rx6to4Tcp = "rx_6to4_tcp", "TCP packets to pool6 (the 6→4 direction)";
    Rx6to4TcpBytes = "rx_6to4_tcp_bytes", "bytes of the rx_6to4_tcp packets (IP header and payload)";
    Rx6to4Udp = "rx_6to4_udp", "UDP packets to pool6 (the 6→4 direction)";
    Rx6to4UdpBytes = "rx_6to4_udp_bytes", "bytes of the rx_6to4_udp packets (IP header and payload)";
    Rx6to4Icmp = "rx_6to4_icmp", "ICMPv6 packets to pool6 (the 6→4 direction): echo, errors and untranslatable types";
    Rx6to4IcmpBytes = "rx_6to4_icmp_bytes", "bytes of the rx_6to4_icmp packets (IP header and payload)";
    Rx4to6Tcp = "rx_4to6_tcp", "TCP packets to a pool4 address (the 4→6 direction)";
    Rx4to6TcpBytes = "rx_4to6_tcp_bytes", "bytes of the rx_4to6_tcp packets (IP header and payload)";
    Rx4to6Udp = "rx_4to6_udp", "UDP packets to a pool4 address (the 4→6 direction)";
    Rx4to6UdpBytes = "rx_4to6_udp_bytes", "bytes of the rx_4to6_udp packets (IP header and payload)";
    Rx4to6Icmp = "rx_4to6_icmp", "ICMPv4 packets to a pool4 address (the 4→6 direction): echo, errors and untranslatable types";
    Rx4to6IcmpBytes = "rx_4to6_icmp_bytes", "bytes of the rx_4to6_icmp packets (IP header and payload)";

    Xlat6to4Tcp = "xlat_6to4_tcp", "TCP packets translated from IPv6 to IPv4";
    Xlat6to4TcpBytes = "xlat_6to4_tcp_bytes", "bytes of the xlat_6to4_tcp packets as sent (IPv4 header and payload)";
    Xlat6to4Udp = "xlat_6to4_udp", "UDP packets translated from IPv6 to IPv4";
    Xlat6to4UdpBytes = "xlat_6to4_udp_bytes", "bytes of the xlat_6to4_udp packets as sent (IPv4 header and payload)";
    Xlat6to4Icmp = "xlat_6to4_icmp", "ICMPv6 echo packets translated to ICMPv4";
    Xlat6to4IcmpBytes = "xlat_6to4_icmp_bytes", "bytes of the xlat_6to4_icmp packets as sent (IPv4 header and payload)";
    Xlat4to6Tcp = "xlat_4to6_tcp", "TCP packets translated from IPv4 to IPv6";
    Xlat4to6TcpBytes = "xlat_4to6_tcp_bytes", "bytes of the xlat_4to6_tcp packets as sent (IPv6 header and payload)";
    Xlat4to6Udp = "xlat_4to6_udp", "UDP packets translated from IPv4 to IPv6";
    Xlat4to6UdpBytes = "xlat_4to6_udp_bytes", "bytes of the xlat_4to6_udp packets as sent (IPv6 header and payload)";
    Xlat4to6Icmp = "xlat_4to6_icmp", "ICMPv4 echo packets translated to ICMPv6";
    Xlat4to6IcmpBytes = "xlat_4to6_icmp_bytes", "bytes of the xlat_4to6_icmp packets as sent (IPv6 header and payload)";
    Xlat6to4IcmpError = "xlat_6to4_icmp_error", "ICMPv6 errors translated to ICMPv4, with the packet they quote";
    Xlat6to4IcmpErrorBytes = "xlat_6to4_icmp_error_bytes", "bytes of the xlat_6to4_icmp_error packets as sent (IPv4 header and payload)";
    Xlat4to6IcmpError = "xlat_4to6_icmp_error", "ICMPv4 errors translated to ICMPv6, with the packet they quote";
    Xlat4to6IcmpErrorBytes = "xlat_4to6_icmp_error_bytes", "bytes of the xlat_4to6_icmp_error packets as sent (IPv6 header and payload)";
    XlatHairpin = "xlat_hairpin", "packets from one IPv6 client to another's pool4 address, turned back (RFC 6146 §3.8)";
    XlatHairpinBytes = "xlat_hairpin_bytes", "bytes of the xlat_hairpin packets as sent (IPv6 header and payload)";
    UdpZeroChecksumComputed = "udp_zero_checksum_computed", "IPv4 UDP packets without checksum that got a full IPv6 checksum computed";

    BibCreated = "bib_created", "dynamic bindings created by IPv6 flows opening";
    PortAllocRetries = "port_alloc_retries", "pool4 port candidates found taken while creating a binding";
    SessionCreated = "session_created", "sessions opened (by either side; RFC 6146 §3.5)";
    SessionExpired = "session_expired", "sessions and filtering records deleted by nat64-ctl's expiry (idle past their lifetime)";
    BibExpired = "bib_expired", "dynamic bindings deleted by nat64-ctl's expiry (no session left)";
    EventsLost = "events_lost", "session-log events the ring buffer had no room for (nat64-ctl fell behind); counted, never waited for";
    // The slow path (nat64-ctl): what XDP cannot do alone.
    SlowPathFragment = "slow_path_fragment", "IPv4 packets with DF=0 whose translation exceeds lowest-ipv6-mtu, translated and handed to nat64-ctl to go out as IPv6 fragments";
    SlowPathFragmentsSent = "slow_path_fragments_sent", "IPv6 fragments nat64-ctl sent for slow_path_fragment packets";
    SlowPathHeldSyn = "slow_path_held_syn", "IPv4 SYNs to a pool4 port with no binding, handed to nat64-ctl to be held 6 s for a simultaneous open (RFC 6146 §3.5.2.2)";
    HeldSynMatched = "held_syn_matched", "held IPv4 SYNs silently discarded because the IPv6 side opened the same flow within 6 s";
    HeldSynRefused = "held_syn_refused", "held IPv4 SYNs answered with ICMP port unreachable after 6 s without an IPv6 open";
    HeldSynDropped = "held_syn_dropped", "held IPv4 SYNs dropped unanswered after 6 s: their source may get no ICMP error (not a unicast host) or ICMP errors are off (--icmp-errors-rate 0)";

    FwdRedirect = "fwd_redirect", "translated packets sent straight to the next hop (FIB lookup hit)";
    FwdPassNoNeighbour = "fwd_pass_no_neighbour", "translated packets handed to the kernel because the next hop's MAC is not yet known";
    FwdPassNoRoute = "fwd_pass_no_route", "translated packets handed to the kernel because the FIB lookup found no usable route";

    DropTruncatedEth = "drop_truncated_ethernet", "frames shorter than an Ethernet header";
    DropTruncatedIpv6 = "drop_truncated_ipv6", "IPv6 packets shorter than their header";
    DropTruncatedIpv4 = "drop_truncated_ipv4", "IPv4 packets shorter than their header";
    DropBadIpv4Header = "drop_bad_ipv4_header", "IPv4 headers with a wrong version or IHL";
    DropBadIpv4Checksum = "drop_bad_ipv4_checksum", "IPv4 headers whose checksum does not verify (a fresh header must not launder them)";
    DropBadIpv4Options = "drop_bad_ipv4_options", "IPv4 packets with a malformed options area";
    DropBadLength = "drop_bad_length", "packets whose length field claims more bytes than the frame holds";
    DropTruncatedL4 = "drop_truncated_l4", "packets too short for their TCP, UDP or ICMP header";
    DropExtHeaderUnknown = "drop_ext_header_unknown", "IPv6 packets with an extension header the translator cannot skip";
    DropExtHeaderChainTooLong = "drop_ext_header_chain_too_long", "IPv6 packets with more extension headers than the translator walks";
    DropRoutingHeader = "drop_routing_header", "IPv6 packets with a Routing header whose Segments Left is not zero (RFC 7915 §5.1)";
    DropIpv4SourceRoute = "drop_ipv4_source_route", "IPv4 packets with a source-route option (RFC 7915 §4.1)";
    DropHopLimit = "drop_hop_limit_exceeded", "packets that would leave the gateway with TTL or hop limit 0";
    DropIcmp6Unsupported = "drop_icmpv6_untranslatable", "ICMPv6 types with no ICMPv4 equivalent (ND, MLD, RA, redirect, ...)";
    DropIcmp4Unsupported = "drop_icmpv4_untranslatable", "ICMPv4 types with no ICMPv6 equivalent (timestamp, address mask, source quench, ...)";
    DropIcmpErrorInError = "drop_icmp_error_in_error", "ICMP errors quoting another ICMP error";
    DropIcmpInnerUntranslatable = "drop_icmp_inner_untranslatable", "ICMP errors whose quoted packet is truncated, carries extension headers or an unknown protocol";
    DropIcmpBadChecksum = "drop_icmp_error_bad_checksum", "ICMP errors whose checksum does not verify (a rebuilt error must not launder them)";
    DropIcmpPointerUnmappable = "drop_icmp_pointer_unmappable", "Parameter Problem errors pointing at a field with no counterpart (RFC 7915)";
    DropIcmpUnmappableSource = "drop_icmp_unmappable_source", "ICMPv6 errors from an IPv6 router whose address has no IPv4 form, with no --pool6791 configured (RFC 6791)";
    DropUnsupportedProto = "drop_unsupported_protocol", "packets to pool6/pool4 carrying a protocol other than TCP, UDP and ICMP";
    DropNonGlobalIpv4 = "drop_nonglobal_ipv4", "non-global IPv4 addresses under the well-known prefix 64:ff9b::/96 (RFC 6052 §3.1)";
    DropNoBib6 = "drop_no_bib6", "IPv6 packets whose source has no binding and may not create one (TCP without SYN, echo reply)";
    DropPool4Empty = "drop_pool4_empty", "new IPv6 flows refused: no pool4 address lends ports for their protocol";
    DropPool4Exhausted = "drop_pool4_exhausted", "port allocation failures: new IPv6 flows refused, every pool4 port candidate tried was taken";
    DropBibFull = "drop_bib_full", "new IPv6 flows refused: the binding table is full (existing flows go on)";
    DropNoBib4 = "drop_no_bib4", "IPv4 packets to a pool4 address and port with no binding (no open relay)";
    DropNoSession = "drop_no_session", "packets with no session that may not open one (TCP without SYN, ICMP echo reply)";
    DropSessionTableFull = "drop_session_table_full", "new flows refused: the session table is full (existing flows go on)";
    DropFiltered = "drop_filtered", "IPv4 packets from an address the IPv6 host has not contacted (address-dependent filtering)";
    DropAdjustFailed = "drop_adjust_failed", "packets the kernel could not resize for translation";
    DropInternal = "drop_internal", "internal errors (a per-CPU scratch slot missing); should stay zero";
    DropUdpZeroChecksumTooLong = "drop_udp_zero_checksum_too_long", "IPv4 UDP packets without checksum too long to checksum in XDP";
    DropSlowPathFull = "drop_slow_path_full", "packets for the slow path dropped because its ring buffer was full (nat64-ctl fell behind)";
    DropSlowPathTooBig = "drop_slow_path_too_big", "packets for the slow path dropped because the frame exceeds its 9216-byte record";
    DropSlowPathSendFailed = "drop_slow_path_send_failed", "slow-path packets nat64-ctl could not split or send (malformed record, socket error)";
    DropHeldSynOverflow = "drop_held_syn_overflow", "IPv4 SYNs not held for a simultaneous open: nat64-ctl already holds the most it will";

    // Fragments (RFC 7915 §4.1, §5.1.1; RFC 6146 §3.4).
    Frag6to4 = "frag_6to4", "IPv6 fragments translated to IPv4 fragments (also counted in xlat_6to4_tcp/udp)";
    Frag4to6 = "frag_4to6", "IPv4 fragments translated to IPv6 fragments (also counted in xlat_4to6_tcp/udp)";
    DropFragmentOutOfOrder = "drop_fragment_out_of_order", "non-first fragments with no live first fragment (it came later, was refused, or is older than 2 s): they carry no ports to translate by";
    DropFragmentIcmp = "drop_fragment_icmp", "fragmented ICMP packets (the ICMPv4/ICMPv6 checksum change needs the whole datagram's length)";
    DropFragmentUdpZeroChecksum = "drop_fragment_udp_zero_checksum", "first fragments of IPv4 UDP datagrams without checksum (IPv6 needs one; no fragment holds the datagram)";
    DropFragmentHairpin = "drop_fragment_hairpin", "fragments from an IPv6 client to a pool4 address (hairpinning fragments is not supported)";
    DropFragmentMalformed = "drop_fragment_malformed", "IPv6 fragments with a second Fragment header or extension headers after it";

    // ---- ICMP errors the gateway originates (issue 7: PMTUD, RFC 6791) ----
    IcmpSentTimeExceeded6 = "icmp_sent_time_exceeded6", "ICMPv6 Time Exceeded sent for IPv6 packets whose hop limit ran out at the gateway";
    IcmpSentTimeExceeded4 = "icmp_sent_time_exceeded4", "ICMPv4 Time Exceeded sent for IPv4 packets whose TTL ran out at the gateway";
    IcmpSentPacketTooBig = "icmp_sent_packet_too_big", "ICMPv6 Packet Too Big sent for IPv6 packets too large for the IPv4 egress link once translated";
    IcmpSentFragNeeded = "icmp_sent_frag_needed", "ICMPv4 Fragmentation Needed sent for DF=1 IPv4 packets too large for the IPv6 egress link once translated";
    IcmpSentAddressUnreachable6 = "icmp_sent_address_unreachable6", "ICMPv6 Destination Unreachable (address unreachable, RFC 6146 §3.5.1.1) sent for IPv6 flows refused (pool4 or a table exhausted)";
    IcmpSentAdminProhibited4 = "icmp_sent_admin_prohibited4", "ICMPv4 Destination Unreachable (administratively prohibited) sent for packets address-dependent filtering refused (--filtering-icmp)";
    IcmpErrorsRateLimited = "icmp_errors_rate_limited", "ICMP errors the gateway would have sent but the rate limit (--icmp-errors-rate/--icmp-errors-burst) held back";
    IcmpRfc6791Source = "icmp_rfc6791_source", "translated ICMPv6 errors whose IPv6 source has no IPv4 form, given a --pool6791 source (RFC 6791)";
    DropTooBig = "drop_too_big", "packets larger than the egress link's MTU once translated that may not be fragmented (a Packet Too Big / Fragmentation Needed answers them)";
    FwdPassFragment = "fwd_pass_fragment", "translated IPv4 packets (DF=0) larger than the egress MTU, handed to the kernel to fragment";
    FwdPassTooBig = "fwd_pass_too_big", "translated IPv6 packets from DF=0 IPv4 larger than the egress MTU, handed to the kernel because the slow path (nat64-ctl) is not running";

    VerdictPass = "verdict_pass", "packets handed to the kernel stack (XDP_PASS)";
    VerdictDrop = "verdict_drop", "packets dropped (XDP_DROP); the drop_* counters say why";
    VerdictTx = "verdict_tx", "packets sent back out of the receiving interface (XDP_TX)";
    VerdictRedirect = "verdict_redirect", "packets redirected to another interface (XDP_REDIRECT)";
    VerdictAborted = "verdict_aborted", "program errors (XDP_ABORTED); should stay zero";

    PassPool4Local = "pass_pool4_local", "IPv4 packets to a pool4 address of the gateway's own that no binding and no pool4 port range claims (its own services: passed to the kernel untouched)";
}

impl Counter {
    /// Number of slots the stats map must have.
    pub const COUNT: u32 = Self::ALL.len() as u32;

    pub const fn index(self) -> u32 {
        self as u32
    }

    /// Whether this counter is a drop reason.
    pub fn is_drop(self) -> bool {
        self.name().starts_with("drop_")
    }

    /// Whether this counter adds up bytes rather than packets. Each one sits in the slot
    /// right after its packet counter (`rx_6to4_tcp` → `rx_6to4_tcp_bytes`), so the data
    /// plane bumps both from one index; a test below holds the table to that.
    pub fn is_bytes(self) -> bool {
        self.name().ends_with("_bytes")
    }

    /// The byte counter that follows this packet counter, if it has one.
    pub fn bytes_twin(self) -> Option<Counter> {
        let next = *Self::ALL.get(self.index() as usize + 1)?;
        next.is_bytes().then_some(next)
    }

    /// Counters only nat64-ctl writes (its sweeper, from userspace): the data plane never
    /// touches their slots, which is what makes the sweeper's read-modify-write of a
    /// per-CPU slot safe (see `nat64_ctl::stats::add_userspace`).
    pub const USERSPACE: &'static [Counter] = &[
        Counter::SessionExpired,
        Counter::BibExpired,
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
    fn slots_follow_the_table() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(
                c.index() as usize,
                i,
                "{c:?} is out of order in Counter::ALL"
            );
        }
        // New counters are appended after the verdicts, so that no existing slot moves.
        assert_eq!(Counter::VerdictAborted.index() + 2, Counter::COUNT);
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

    /// The sweeper's read-modify-write of these slots is safe only while nothing in the
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
                let packets = Counter::ALL[i - 1];
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
