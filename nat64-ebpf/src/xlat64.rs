//! IPv6 → IPv4 (RFC 7915 §5) for packets addressed to pool6: the steps of
//! `translate::try_translate` that are this direction's own.
use nat64_common::{
    frag::{self, Position},
    maps::{
        Bib4Key, Bib6Entry, Bib6Key, HeldSynKey, HeldSynTarget,
        CONFIG_F_ADDRESS_DEPENDENT_FILTERING, CONFIG_F_ALLOW_NONGLOBAL, PROTO_ICMP, PROTO_ICMPV6,
        PROTO_TCP, PROTO_UDP, SLOW_KIND_HELD_SYN6,
    },
    origin::{self, ORIGIN_ADDRESS_UNREACHABLE6, ORIGIN_PACKET_TOO_BIG, ORIGIN_TIME_EXCEEDED6},
    rfc6052::ExtractError,
    xlat::{self, ExtHeader, Frag6, Hop},
    Counter,
};

use crate::{
    bib,
    flow::{self, Flow, FourToSix, SixToFour, Transport},
    fwd, hairpin,
    hook::{Family, Hook},
    l4::{self, Kind},
    maps::{config, BIB4, BIB6, HELD_SYNS, POOL4},
    parse::{frame_len, read, view, write, ETH_HLEN, MAX_EXT_HEADERS, MAX_L3_OFFSET},
    slow, stats,
    translate::{Outcome, Parsed, Side, Step},
};

const IPV6_HLEN: usize = 40;
const IPV4_HLEN: usize = 20;

impl Side for SixToFour {
    const PASS_NOT_OURS: Counter = Counter::PassNotOurs6;
    const FRAGMENTS: Counter = Counter::Frag6to4;

    #[inline(always)]
    fn parse(ctx: &impl Hook, plan: &mut Flow) -> Result<Parsed, Counter> {
        let parsed = parse(ctx, plan)?;
        if !matches!(parsed, Parsed::NotOurs) && source_in_pool6(plan) {
            return Err(Counter::DropIpv6SourceInPool6);
        }
        Ok(parsed)
    }

    #[inline(always)]
    fn hop_limit(_plan: &Flow) -> Outcome {
        originate(Counter::DropHopLimit, ORIGIN_TIME_EXCEEDED6, 0)
    }

    #[inline(always)]
    fn follow(plan: &mut Flow) -> Result<Step<()>, Counter> {
        flow::follow::<SixToFour>(plan).map(Step::Go)
    }

    #[inline(always)]
    fn bind(ctx: &impl Hook, plan: &mut Flow) -> Result<Step<()>, Counter> {
        if let Err(why) = bind(plan) {
            return refused(why);
        }
        let hairpin = plan.kind != Kind::IcmpEcho && unsafe { POOL4.get(&plan.peer4) }.is_some();
        if !hairpin {
            return Ok(Step::Go(()));
        }
        if !hairpin_target_bound(plan) {
            // RFC 6146 §3.5.2.2 applied to §3.8: an unsolicited SYN is held like an IPv4
            // one (its sender's binding goes with it); anything else is dropped, before
            // any session is made.
            if may_hold(plan) {
                return Ok(Step::Stop(Outcome::slow(
                    SLOW_KIND_HELD_SYN6,
                    u32::from_ne_bytes(plan.pool4),
                    u32::from(plan.pool_port),
                )));
            }
            return Err(Counter::DropNoBib4);
        }
        if let Err(why) = track(plan, true) {
            return refused(why);
        }
        hairpin::turn_back(ctx, plan).map(|a| Step::Stop(Outcome::action(a)))
    }

    #[inline(always)]
    fn out_len(plan: &Flow) -> u32 {
        IPV4_HLEN as u32 + u32::from(plan.l4_len)
    }

    #[inline(always)]
    fn lookup(ctx: &impl Hook, plan: &Flow, leaving: u32) -> fwd::Next {
        let tot_len = leaving as u16;
        fwd::lookup_v4(ctx, plan.pool4, plan.peer4, plan.tos, plan.proto4, tot_len)
    }

    #[inline(always)]
    fn size_check(
        plan: &Flow,
        len: u32,
        _segment: Option<u32>,
        next: &mut fwd::Next,
    ) -> Result<Step<u32>, Counter> {
        let tot_len4 = len as u16;
        if let fwd::Next::TooBig { mtu } = *next {
            // DF=1 once translated: the IPv6 source must send smaller packets. A fragment
            // becomes an IPv4 fragment with DF=0 (RFC 7915 §5.1.1), which IPv4 may split.
            if !plan.pos.is_fragmented() && xlat::df_for_len(tot_len4) {
                return Ok(Step::Stop(originate(
                    Counter::DropTooBig,
                    ORIGIN_PACKET_TOO_BIG,
                    origin::ptb_mtu(u32::from(mtu)),
                )));
            }
            // ≤ 1260 bytes translated: DF=0, IPv4 fragments it (RFC 7915 §5.1).
            next.fragment_by_kernel();
        }
        Ok(Step::Go(u32::MAX))
    }

    #[inline(always)]
    fn track(plan: &Flow) -> Result<Step<()>, Counter> {
        match track(plan, false) {
            Ok(()) => Ok(Step::Go(())),
            Err(why) => refused(why),
        }
    }

    #[inline(always)]
    fn rewrite(ctx: &impl Hook, plan: &Flow, next: &fwd::Next) -> Result<(), Counter> {
        rewrite(ctx, plan, next)
    }
}

/// RFC 6146 §3.5: a source inside pool6 stands for an IPv4 host, so no IPv6 host sends
/// from it; translating one would hairpin a hairpinned packet again (a loop). Checked
/// before anything answers the packet (its hop limit included). A frame of its own: the
/// parse frame is the chain's largest.
#[inline(never)]
fn source_in_pool6(plan: &Flow) -> bool {
    config().is_some_and(|c| c.pool6.contains(&plan.host6))
}

#[inline(always)]
fn originate(why: Counter, kind: u8, mtu: u32) -> Outcome {
    Outcome::originate(why, kind, mtu)
}

/// A new flow refused for want of resources is told so (ICMPv6 administratively
/// prohibited); every other reason stays a silent drop.
#[inline(always)]
fn refused<T>(why: Counter) -> Result<Step<T>, Counter> {
    match why {
        Counter::DropPool4Exhausted
        | Counter::DropPool4Empty
        | Counter::DropNoPortBlock
        | Counter::DropPortBlockExhausted
        | Counter::DropNoFreePortBlock
        | Counter::DropBibFull
        | Counter::DropSessionTableFull => {
            Ok(Step::Stop(originate(why, ORIGIN_ADDRESS_UNREACHABLE6, 0)))
        }
        _ => Err(why),
    }
}

/// Checks the packet and finds its transport header.
#[inline(never)]
fn parse(ctx: &impl Hook, plan: &mut Flow) -> Result<Parsed, Counter> {
    crate::parse::pin(ctx);
    let hdr6: &[u8; 40] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    // The config slot always exists (array map); a zero prefix length means nat64-ctl has
    // not configured this program yet, and then nothing is ours.
    let cfg = match config() {
        Some(c) if c.pool6.len != 0 => c,
        _ => return Ok(Parsed::NotOurs),
    };
    let dst6 = xlat::ipv6_dst(hdr6);
    if !cfg.pool6.contains(&dst6) {
        return Ok(Parsed::NotOurs);
    }
    let payload_len = xlat::ipv6_payload_len(hdr6) as usize;
    if ETH_HLEN + IPV6_HLEN + payload_len > frame_len(ctx) {
        return Err(Counter::DropBadLength);
    }

    // Walk the extension headers RFC 7915 lets us skip; they are not translated.
    let mut nh = hdr6[6];
    let mut l4_off = ETH_HLEN + IPV6_HLEN;
    for _ in 0..MAX_EXT_HEADERS {
        match xlat::classify_next_header(nh, 0) {
            ExtHeader::Upper => break,
            ExtHeader::Fragment => {
                if plan.pos != Position::Whole {
                    return Err(Counter::DropFragmentMalformed);
                }
                let fh: [u8; 8] = read(ctx, l4_off).ok_or(Counter::DropTruncatedIpv6)?;
                let f = xlat::parse_fragment_header(&fh);
                plan.pos = Position::of_v6(&f);
                plan.frag_more = u8::from(f.more);
                plan.frag_offset = f.offset;
                plan.frag_id = f.id;
                nh = f.next_header;
                l4_off += xlat::IPV6_FRAG_HDR_LEN;
                if plan.pos == Position::Atomic {
                    // The whole datagram: what follows is walked as usual.
                    continue;
                }
                // A fragment: the upper-layer header (first fragment) or data (later
                // ones) follows. Headers in the fragmentable part are not removed, since
                // that would shift every later fragment's offset.
                if xlat::classify_next_header(nh, 0) != ExtHeader::Upper {
                    return Err(Counter::DropFragmentMalformed);
                }
                break;
            }
            ExtHeader::Unsupported => return Err(unsupported(nh)),
            ExtHeader::Skip | ExtHeader::RoutingNonZeroSegmentsLeft => {}
        }
        let ext: [u8; 4] = read(ctx, l4_off).ok_or(Counter::DropTruncatedIpv6)?;
        if let ExtHeader::RoutingNonZeroSegmentsLeft = xlat::classify_next_header(nh, ext[3]) {
            return Err(Counter::DropRoutingHeader);
        }
        nh = ext[0];
        l4_off += xlat::ext_header_len([ext[0], ext[1]]);
        if l4_off > MAX_L3_OFFSET {
            return Err(Counter::DropExtHeaderChainTooLong);
        }
    }
    match xlat::classify_next_header(nh, 0) {
        ExtHeader::Upper => {}
        ExtHeader::Unsupported => return Err(unsupported(nh)),
        _ => return Err(Counter::DropExtHeaderChainTooLong),
    }
    let ext_len = l4_off - ETH_HLEN - IPV6_HLEN;
    if ext_len > payload_len {
        return Err(Counter::DropBadLength);
    }

    // The transport header and the port/identifier that names the binding.
    let (kind, proto4, counter, received) = match nh {
        PROTO_TCP => (
            Kind::Tcp,
            PROTO_TCP,
            Counter::Xlat6to4Tcp,
            Counter::Rx6to4Tcp,
        ),
        PROTO_UDP => (
            Kind::Udp,
            PROTO_UDP,
            Counter::Xlat6to4Udp,
            Counter::Rx6to4Udp,
        ),
        PROTO_ICMPV6 => (
            Kind::IcmpEcho,
            PROTO_ICMP,
            Counter::Xlat6to4Icmp,
            Counter::Rx6to4Icmp,
        ),
        _ => return Err(Counter::DropUnsupportedProto),
    };
    // The length field, checked against the frame above (an Ethernet trailer is not ours).
    stats::count_bytes(received, IPV6_HLEN + payload_len);
    if let Some(refused) = frag::refusal(plan.pos, proto4, false) {
        return Err(refused);
    }
    plan.host6 = xlat::ipv6_src(hdr6);
    plan.peer6 = dst6;
    plan.l4_off = l4_off as u16;
    plan.l4_len = (payload_len - ext_len) as u16;
    plan.kind = kind;
    plan.proto4 = proto4;
    plan.tos = xlat::traffic_class(hdr6);
    plan.counter = counter;
    if plan.pos == Position::Later {
        // No ICMP error about a fragment other than the first (RFC 1812 §4.3.2.7).
        if hdr6[7] <= 1 {
            return Err(Counter::DropHopLimit);
        }
        return Ok(Parsed::Later);
    }
    // The source port, or the ICMP echo identifier, names the binding.
    let hop_limit = hdr6[7];
    let mut doff = 0u8;
    if flow::read_transport::<SixToFour>(ctx, plan, &mut doff)? == Transport::IcmpError {
        return Ok(Parsed::IcmpError);
    }
    if hop_limit <= 1 {
        return Ok(Parsed::HopLimit);
    }
    l4::check(kind, plan.l4_len, doff)?;
    Ok(Parsed::Translate)
}

/// The IPv4 side of the flow: destination from the pool6 address, source from the binding.
#[inline(never)]
fn bind(plan: &mut Flow) -> Result<(), Counter> {
    let cfg = config().ok_or(Counter::DropNoBib6)?;
    plan.peer4 = match cfg
        .pool6
        .extract_checked(&plan.peer6, cfg.flags & CONFIG_F_ALLOW_NONGLOBAL != 0)
    {
        Ok(a) => a,
        Err(ExtractError::NonGlobalUnderWellKnown) => return Err(Counter::DropNonGlobalIpv4),
        // parse() checked that dst6 is under pool6.
        Err(_) => return Err(Counter::DropNoBib6),
    };
    // Hairpinned fragments are refused before they can claim a binding.
    if plan.pos.is_fragmented() && unsafe { POOL4.get(&plan.peer4) }.is_some() {
        return Err(Counter::DropFragmentHairpin);
    }
    let key = Bib6Key {
        addr6: plan.host6,
        port6: plan.host_port,
        proto: plan.proto4,
        _pad: 0,
    };
    let bib = match unsafe { BIB6.get(&key) } {
        Some(b) => *b,
        None if plan.opens != 0 => {
            let held = held_syn_target(plan);
            let block_at = bib::port_block(cfg, &key)?;
            let mut entry = Bib6Entry {
                addr4: [0; 4],
                port4: 0,
                flags: 0,
            };
            bib::create_binding(cfg, &key, &held, block_at, &mut entry)?;
            entry
        }
        None => return Err(Counter::DropNoBib6),
    };
    plan.pool4 = bib.addr4;
    plan.pool_port = bib.port4;
    // ICMP echo has no destination port: the identifier stands for both (RFC 6146 §3.5.3).
    if plan.kind == Kind::IcmpEcho {
        plan.peer_port = plan.pool_port;
    }
    // Under address-dependent filtering the packet records its peer (session::Track).
    plan.filter = u8::from(cfg.flags & CONFIG_F_ADDRESS_DEPENDENT_FILTERING != 0);
    Ok(())
}

/// Whether the pool4 transport address a hairpinned packet is sent to has a binding.
#[inline(always)]
fn hairpin_target_bound(plan: &Flow) -> bool {
    let key = Bib4Key {
        addr4: plan.peer4,
        port4: plan.peer_port,
        proto: plan.proto4,
        _pad: 0,
    };
    unsafe { BIB4.get(&key) }.is_some()
}

/// An unsolicited SYN may be half of a simultaneous open: see `slow::may_hold`.
#[inline(always)]
fn may_hold(plan: &Flow) -> bool {
    slow::may_hold(
        plan.kind == Kind::Tcp,
        plan.tcp_flags,
        plan.pos == Position::Whole,
    )
}

/// A TCP SYN to a host whose SYN to us nat64-ctl holds: the pool4 port that SYN named
/// (port 0: none).
#[inline(always)]
fn held_syn_target(plan: &Flow) -> HeldSynTarget {
    let none = HeldSynTarget {
        addr4: [0; 4],
        port4: 0,
        _pad: 0,
    };
    if plan.kind != Kind::Tcp {
        return none;
    }
    let key = HeldSynKey {
        remote4: plan.peer4,
        remote_port: plan.peer_port,
        _pad: 0,
    };
    unsafe { HELD_SYNS.get(&key) }.copied().unwrap_or(none)
}

/// The flow's session, and for a hairpinned packet also the session of its second leg:
/// to the binding it is turned back to, the packet arrives "from the IPv4 side" (RFC 6146
/// §3.8). The second leg is internal traffic and is not filtered.
#[inline(never)]
fn track(plan: &Flow, hairpin: bool) -> Result<(), Counter> {
    flow::track::<SixToFour>(plan)?;
    if hairpin {
        let leg = Flow {
            pool4: plan.peer4,
            pool_port: plan.peer_port,
            peer4: plan.pool4,
            peer_port: plan.pool_port,
            filter: 0,
            ..*plan
        };
        flow::track::<FourToSix>(&leg)?;
    }
    Ok(())
}

/// Rewrites the packet in place. Every check that can refuse it has already passed in
/// `parse`; what can still fail here (the kernel refusing to move the head) drops it.
#[inline(never)]
fn rewrite(ctx: &impl Hook, plan: &Flow, next: &fwd::Next) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let l4_off = plan.l4_off as usize & 0x1ff;
    let hop = if next.decrements() {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let hdr6: &[u8; 40] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    let hdr4 = if plan.pos.is_fragmented() {
        // RFC 7915 §5.1.1: identification, MF and offset from the Fragment header, DF 0.
        let f = Frag6 {
            next_header: plan.proto4,
            offset: plan.frag_offset,
            more: plan.frag_more != 0,
            id: plan.frag_id,
        };
        xlat::v6_fragment_to_v4_header(
            hdr6,
            plan.pool4,
            plan.peer4,
            plan.proto4,
            plan.l4_len,
            &f,
            hop,
        )
    } else {
        // With DF=0 (≤ 1260 bytes) the packet may be fragmented on its way, so it needs an
        // Identification no other datagram between the same hosts uses at the same time
        // (RFC 6864 §4.1, RFC 7915 §5.1): a random one, as RFC 7739 recommends. A DF=1
        // packet is atomic and keeps 0.
        let total = IPV4_HLEN as u16 + plan.l4_len;
        let id = if xlat::df_for_len(total) {
            0
        } else {
            (unsafe { aya_ebpf::helpers::bpf_get_prandom_u32() }) as u16
        };
        xlat::v6_to_v4_header_hop(
            hdr6,
            plan.pool4,
            plan.peer4,
            plan.proto4,
            plan.l4_len,
            id,
            hop,
        )
    }
    .map_err(|e| match e {
        // parse() refused hop limits ≤ 1; should that change, the reason stays right.
        xlat::XlatError::HopLimitExceeded => Counter::DropHopLimit,
        _ => Counter::DropBadLength,
    })?;

    // A later fragment carries data only: the first fragment's header had the ports and
    // the checksum, which covers the whole datagram.
    if plan.pos != Position::Later {
        flow::rewrite_transport::<SixToFour>(ctx, plan)?;
    }

    // Shrink the front: the IPv6 header and its extension headers become a 20-byte IPv4
    // header directly in front of the (untouched) transport header.
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    let delta = (l4_off - ETH_HLEN - IPV4_HLEN) as i32;
    ctx.resize(delta, Family::V4)
        .map_err(|_| Counter::DropAdjustFailed)?;
    write(ctx, 0, &next.eth_header(&old_eth, [0x08, 0x00])).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN, &hdr4).ok_or(Counter::DropAdjustFailed)?;
    Ok(())
}

/// An IPv6 extension header we cannot skip (ESP, AH, Mobility, HIP, Shim6, experimental)
/// is told apart from an upper-layer protocol a stateful NAT64 has no mapping for.
#[inline(always)]
fn unsupported(nh: u8) -> Counter {
    match nh {
        50 | 51 | 135 | 139 | 140 | 253 | 254 => Counter::DropExtHeaderUnknown,
        _ => Counter::DropUnsupportedProto,
    }
}
