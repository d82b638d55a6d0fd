//! ICMP errors (RFC 7915 §4.2, §5.2): the error itself and the packet it quotes are both
//! translated, the quoted packet through the same binding as its flow (in the reverse
//! direction), then the error is truncated to the RFC limit (576 bytes IPv4, 1280 IPv6)
//! and its checksum recomputed.
//!
//! The incoming error's checksum is verified first: the rebuilt error gets a fresh
//! checksum, which must not launder a corrupted one.
//!
//! Layout change: outer and inner IP headers each change size by 20 bytes, so the quoted
//! transport header moves by 40 relative to the frame start. Moving the head by that much
//! leaves the quoted transport header and payload where they are; only the first 62
//! (IPv4) or 102 (IPv6) bytes are rewritten.
use aya_ebpf::{macros::map, maps::PerCpuArray};
use nat64_common::{
    csum,
    icmp::{self, ErrorExtra, Icmp4Action, Icmp6Action},
    maps::{
        Bib4Key, Bib6Key, CONFIG_F_ALLOW_NONGLOBAL, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
    },
    origin,
    rfc6052::ExtractError,
    xlat::{self, Hop},
    Counter,
};

use crate::{
    flow::{Direction, FourToSix, SixToFour},
    fwd,
    hook::{Family, Hook},
    l4::{self, Kind},
    maps::{config, BIB4, BIB6, POOL4},
    parse::{read, view, view_mut, write, ETH_HLEN},
    stats, sum,
};

const IPV6_HLEN: usize = 40;
const IPV4_HLEN: usize = 20;
const ICMP_HLEN: usize = 8;
/// RFC 1812 §4.3.2.3 / RFC 7915: an ICMPv4 error is at most 576 bytes.
const IPV4_ERROR_MAX: usize = 576;
/// RFC 4443 §2.4 (c) / RFC 7915: an ICMPv6 error fits the IPv6 minimum MTU.
const IPV6_ERROR_MAX: usize = 1280;
/// Offsets in the quoted transport header: TCP/UDP ports, the echo identifier.
const QUOTE_SPORT: usize = 0;
const QUOTE_DPORT: usize = 2;
const QUOTE_ECHO_ID: usize = 4;
/// A link MTU the data plane does not know (the MTU formulas take the minimum).
const MTU_UNKNOWN: u32 = u32::MAX;

/// Everything about an error and its quoted packet that the rewrite needs. It lives in a
/// per-CPU map slot: on the stack it would push the deepest call chain past 512 bytes.
#[derive(Clone, Copy)]
pub struct Plan {
    out_src6: [u8; 16],
    out_dst6: [u8; 16],
    in_src6: [u8; 16],
    in_dst6: [u8; 16],
    out_src4: [u8; 4],
    out_dst4: [u8; 4],
    in_src4: [u8; 4],
    in_dst4: [u8; 4],
    /// Bytes 4–7 of the translated ICMP header.
    rest: [u8; 4],
    /// Bytes 4–7 as received (the MTU is recomputed once the egress link is known).
    rest_in: [u8; 4],
    icmp_off: u16,
    /// Length of the ICMP message as received.
    icmp_len: u16,
    /// Bytes of the quoted transport header and payload present in the message.
    in_avail: u16,
    /// Payload length of the quoted packet as its own header states it (untruncated).
    in_len: u16,
    in_port_old: u16,
    in_port_new: u16,
    /// IPv4 header lengths (outer, quoted) in the 4→6 direction.
    ihl_out: u8,
    ihl_in: u8,
    ty: u8,
    code: u8,
    kind: Kind,
    /// Transport protocol of the quoted packet, in the numbering of its *new* header.
    in_proto: u8,
    in_echo_ty: u8,
    tos: u8,
    ttl: u8,
    in_tos: u8,
    in_ttl: u8,
    /// A hairpinned error (`hairpin_6to6`): the quoted packet's original sender, and
    /// pool6 + the error sender's pool4 address (its new source and the quote's new
    /// destination); the quote's source port before and after; the quote's address sums
    /// before and after.
    hp_a6: [u8; 16],
    hp_y6: [u8; 16],
    hp_sport_old: u16,
    hp_sport_new: u16,
    hp_sums: (u32, u32),
}

const EMPTY: Plan = Plan {
    out_src6: [0; 16],
    out_dst6: [0; 16],
    in_src6: [0; 16],
    in_dst6: [0; 16],
    out_src4: [0; 4],
    out_dst4: [0; 4],
    in_src4: [0; 4],
    in_dst4: [0; 4],
    rest: [0; 4],
    rest_in: [0; 4],
    icmp_off: 0,
    icmp_len: 0,
    in_avail: 0,
    in_len: 0,
    in_port_old: 0,
    in_port_new: 0,
    ihl_out: 0,
    ihl_in: 0,
    ty: 0,
    code: 0,
    kind: Kind::Udp,
    in_proto: 0,
    in_echo_ty: 0,
    tos: 0,
    ttl: 0,
    in_tos: 0,
    in_ttl: 0,
    hp_a6: [0; 16],
    hp_y6: [0; 16],
    hp_sport_old: 0,
    hp_sport_new: 0,
    hp_sums: (0, 0),
};

#[map(name = "NAT64_ICMP_ERR_PLAN")]
static PLAN: PerCpuArray<Plan> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn plan_slot(icmp_off: usize) -> Result<&'static mut Plan, Counter> {
    let plan = unsafe { &mut *PLAN.get_ptr_mut(0).ok_or(Counter::DropInternal)? };
    *plan = EMPTY;
    plan.icmp_off = icmp_off as u16;
    Ok(plan)
}

#[inline(always)]
fn verify(total: u32) -> Result<(), Counter> {
    // A message with a correct checksum sums to 0xffff (one's-complement zero).
    if csum::fold(total) == 0xffff {
        Ok(())
    } else {
        Err(Counter::DropIcmpBadChecksum)
    }
}

#[inline(always)]
fn allow_nonglobal() -> bool {
    config()
        .map(|c| c.flags & CONFIG_F_ALLOW_NONGLOBAL != 0)
        .unwrap_or(false)
}

/// The quoted transport header: the port the binding rewrites, and the checksum that
/// covers it, if the quote is long enough to hold it. `SRC`: the source port changes
/// (4→6: the quoted packet left the client) rather than the destination port.
#[inline(never)]
fn rewrite_inner<const SRC: bool>(
    ctx: &impl Hook,
    plan: &Plan,
    sums: (u32, u32),
) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let off = (plan.icmp_off as usize & 0x1ff)
        + ICMP_HLEN
        + (if SRC {
            plan.ihl_in as usize & 0x3c
        } else {
            IPV6_HLEN
        });
    let csum_present = match plan.kind {
        Kind::Tcp => plan.in_avail >= 20,
        Kind::Udp => {
            let h: &[u8; 8] = view(ctx, off).ok_or(Counter::DropIcmpInnerUntranslatable)?;
            // An IPv4 UDP datagram without checksum stays without one in the quote.
            h[6] != 0 || h[7] != 0
        }
        Kind::IcmpEcho => true,
    };
    if csum_present {
        return l4::rewrite::<SRC>(
            ctx,
            off,
            plan.kind,
            (plan.in_port_old, plan.in_port_new),
            sums,
            plan.in_echo_ty,
            l4::Header::Quoted,
        );
    }
    let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    let [p0, p1] = plan.in_port_new.to_be_bytes();
    if SRC {
        h[0] = p0;
        h[1] = p1;
    } else {
        h[2] = p0;
        h[3] = p1;
    }
    Ok(())
}

/// The quoted packet's `(v6, v4)` checksum sums (`csum::family_sums`): 6→4 removes the
/// first and adds the second, 4→6 the reverse.
#[inline(always)]
fn quote_sums(plan: &Plan) -> (u32, u32) {
    csum::family_sums(
        plan.kind == Kind::IcmpEcho,
        &plan.in_src6,
        &plan.in_dst6,
        &plan.in_src4,
        &plan.in_dst4,
        u32::from(plan.in_len),
    )
}

/// The quoted packet's port that its binding names (for echo its identifier, and the type
/// the echo gets). An error quotes a packet that crossed the other way: a 6→4 error one
/// sent to the IPv6 host (its destination port is the host's), a 4→6 error one sent from
/// the binding (its source port is the pool4 one).
#[inline(always)]
fn quoted_port<D: Direction>(q: &[u8; 8], plan: &mut Plan) -> Result<u16, Counter> {
    if plan.kind != Kind::IcmpEcho {
        let port_at = if D::FROM_V6 { QUOTE_DPORT } else { QUOTE_SPORT };
        return Ok(u16::from_be_bytes([q[port_at], q[port_at + 1]]));
    }
    plan.in_echo_ty = if D::FROM_V6 {
        match icmp::icmp6_to_icmp4(q[0], q[1]) {
            Icmp6Action::Echo { ty4 } => ty4,
            Icmp6Action::Error { .. } => return Err(Counter::DropIcmpErrorInError),
            Icmp6Action::Drop(_) => return Err(Counter::DropIcmpInnerUntranslatable),
        }
    } else {
        match icmp::icmp4_to_icmp6(q[0], q[1]) {
            Icmp4Action::Echo { ty6 } => ty6,
            Icmp4Action::Error { .. } => return Err(Counter::DropIcmpErrorInError),
            Icmp4Action::Drop(_) => return Err(Counter::DropIcmpInnerUntranslatable),
        }
    };
    Ok(u16::from_be_bytes([q[QUOTE_ECHO_ID], q[QUOTE_ECHO_ID + 1]]))
}

/// Which transport header a quoted packet carries; echo requests/replies only for ICMP.
#[inline(always)]
fn quoted_kind(proto: u8) -> Result<Kind, Counter> {
    match proto {
        PROTO_TCP => Ok(Kind::Tcp),
        PROTO_UDP => Ok(Kind::Udp),
        PROTO_ICMP | PROTO_ICMPV6 => Ok(Kind::IcmpEcho),
        _ => Err(Counter::DropIcmpInnerUntranslatable),
    }
}

/// Sets the frame's length to `len` bytes (only ever shortens).
#[inline(always)]
fn truncate(ctx: &impl Hook, len: usize) -> Result<(), Counter> {
    ctx.truncate(len).map_err(|_| Counter::DropAdjustFailed)
}

// ---------------------------------------------------------------------------------------
// Both directions: one skeleton, the header formats as the direction's parameters
// ---------------------------------------------------------------------------------------

/// What differs between the two directions of an error's translation: the formats of
/// the headers read and written, and where an error that is not translated goes instead.
/// Everything else (the plan slot, the received checksum, the route, the MTU clamp, the
/// quote's transport header, the new checksum, counting) is `try_translate`, written once.
pub trait ErrorSide: Direction {
    /// Length of the translated message's outer IP header.
    const OUT_HLEN: usize;
    /// The translated message's counter.
    const COUNTER: Counter;
    /// The outer header, the ICMP header and the quoted packet into `plan`.
    fn parse(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter>;
    /// The received message's pseudo-header sum (ICMPv6 has one, ICMPv4 none).
    fn pseudo_in(plan: &Plan) -> u32;
    /// The quote's binding and the new addresses; `Some(action)`: the error is not
    /// translated to the other family but handled here (passed on, or hairpinned).
    fn bind(ctx: &impl Hook, plan: &mut Plan) -> Result<Option<u32>, Counter>;
    /// Length of the translated ICMP message, truncated to the RFC limit.
    fn out_len(plan: &Plan) -> usize;
    /// The route of the translated message.
    fn lookup(ctx: &impl Hook, plan: &Plan, len: usize) -> fwd::Next;
    /// An MTU-carrying error (Fragmentation Needed / Packet Too Big) no larger than the
    /// link it leaves by.
    fn clamp_mtu(plan: &mut Plan, egress_mtu: u32);
    /// The outer and quoted IP headers and the ICMP header rewritten, the frame truncated.
    fn reframe(ctx: &impl Hook, plan: &Plan, next: &fwd::Next, len: usize) -> Result<(), Counter>;
    /// The translated message's pseudo-header sum.
    fn pseudo_out(plan: &Plan, len: usize) -> u32;
}

/// An ICMP error at `icmp_off` (addressed to pool6 for 6→4, to a pool4 address for 4→6,
/// the outer header validated), translated with its quoted packet.
#[inline(never)]
pub fn try_translate<D: ErrorSide>(ctx: &impl Hook, icmp_off: usize) -> Result<u32, Counter> {
    crate::parse::pin(ctx);
    let plan = plan_slot(icmp_off)?;
    D::parse(ctx, plan)?;
    // Called from here, not from parse: the call chain's stack stays within 512 bytes.
    verify(sum::sum(
        ctx,
        icmp_off,
        plan.icmp_len as usize,
        D::pseudo_in(plan),
    )?)?;
    if let Some(action) = D::bind(ctx, plan)? {
        return Ok(action);
    }
    let len = D::out_len(plan);
    let next = D::lookup(ctx, plan, len);
    D::clamp_mtu(plan, next.egress_mtu());
    // The quote crossed the other way: its sums change in the reverse direction.
    let (v6, v4) = quote_sums(plan);
    if D::FROM_V6 {
        rewrite_inner::<false>(ctx, plan, (v6, v4))?;
    } else {
        rewrite_inner::<true>(ctx, plan, (v4, v6))?;
    }
    D::reframe(ctx, plan, &next, len)?;
    let at = ETH_HLEN + D::OUT_HLEN;
    let total = sum::sum(ctx, at, len, D::pseudo_out(plan, len))?;
    write(ctx, at + 2, &(!csum::fold(total)).to_be_bytes()).ok_or(Counter::DropAdjustFailed)?;
    stats::count_bytes(D::COUNTER, D::OUT_HLEN + len);
    Ok(next.action())
}

// ---------------------------------------------------------------------------------------
// IPv6 → IPv4
// ---------------------------------------------------------------------------------------

impl ErrorSide for SixToFour {
    const OUT_HLEN: usize = IPV4_HLEN;
    const COUNTER: Counter = Counter::Xlat6to4IcmpError;

    #[inline(always)]
    fn parse(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter> {
        parse_6to4(ctx, plan)
    }

    #[inline(always)]
    fn pseudo_in(plan: &Plan) -> u32 {
        csum::pseudo_v6(
            &plan.out_src6,
            &plan.out_dst6,
            PROTO_ICMPV6,
            u32::from(plan.icmp_len),
        )
    }

    #[inline(always)]
    fn bind(ctx: &impl Hook, plan: &mut Plan) -> Result<Option<u32>, Counter> {
        bind_6to4(plan)?;
        if unsafe { POOL4.get(&plan.out_dst4) }.is_some() {
            // Sent to pool6 + a pool4 address: about a packet hairpinned to its sender.
            return hairpin_6to6(ctx, plan).map(Some);
        }
        Ok(None)
    }

    #[inline(always)]
    fn out_len(plan: &Plan) -> usize {
        (plan.icmp_len as usize - (IPV6_HLEN - IPV4_HLEN)).min(IPV4_ERROR_MAX - IPV4_HLEN)
    }

    #[inline(always)]
    fn lookup(ctx: &impl Hook, plan: &Plan, len: usize) -> fwd::Next {
        fwd::lookup_v4(
            ctx,
            plan.out_src4,
            plan.out_dst4,
            plan.tos,
            PROTO_ICMP,
            (IPV4_HLEN + len) as u16,
        )
    }

    #[inline(always)]
    fn clamp_mtu(plan: &mut Plan, egress_mtu: u32) {
        if plan.ty == icmp::ICMPV4_DEST_UNREACH && plan.code == icmp::ICMPV4_FRAG_NEEDED {
            plan.rest =
                icmp::error_rest_6to4(ErrorExtra::Mtu, plan.rest_in, egress_mtu, MTU_UNKNOWN)
                    .unwrap_or(plan.rest);
        }
    }

    #[inline(always)]
    fn reframe(ctx: &impl Hook, plan: &Plan, next: &fwd::Next, len: usize) -> Result<(), Counter> {
        reframe_6to4(ctx, plan, next, len)
    }

    #[inline(always)]
    fn pseudo_out(_plan: &Plan, _len: usize) -> u32 {
        0
    }
}

#[inline(never)]
fn parse_6to4(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let hdr6: &[u8; 40] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    if hdr6[7] <= 1 {
        return Err(Counter::DropHopLimit);
    }
    plan.ttl = hdr6[7];
    plan.tos = xlat::traffic_class(hdr6);
    plan.out_src6 = xlat::ipv6_src(hdr6);
    plan.out_dst6 = xlat::ipv6_dst(hdr6);
    let ext_len = icmp_off - ETH_HLEN - IPV6_HLEN;
    let icmp_len = (xlat::ipv6_payload_len(hdr6) as usize)
        .checked_sub(ext_len)
        .ok_or(Counter::DropBadLength)?;
    if icmp_len < ICMP_HLEN + IPV6_HLEN + 8 {
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    plan.icmp_len = icmp_len as u16;

    let h: &[u8; 8] = view(ctx, icmp_off).ok_or(Counter::DropTruncatedL4)?;
    let Icmp6Action::Error { ty4, code4, extra } = icmp::icmp6_to_icmp4(h[0], h[1]) else {
        return Err(Counter::DropIcmp6Unsupported);
    };
    plan.ty = ty4;
    plan.code = code4;
    plan.rest_in = [h[4], h[5], h[6], h[7]];
    plan.rest = icmp::error_rest_6to4(extra, plan.rest_in, MTU_UNKNOWN, MTU_UNKNOWN)
        .ok_or(Counter::DropIcmpPointerUnmappable)?;

    // The quoted packet: an IPv6 header directly followed by TCP, UDP or ICMPv6 echo.
    let inner: &[u8; 40] =
        view(ctx, icmp_off + ICMP_HLEN).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    if inner[0] >> 4 != 6 {
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    plan.kind = quoted_kind(inner[6])?;
    plan.in_proto = if plan.kind == Kind::IcmpEcho {
        PROTO_ICMP
    } else {
        inner[6]
    };
    plan.in_src6 = xlat::ipv6_src(inner);
    plan.in_dst6 = xlat::ipv6_dst(inner);
    plan.in_len = xlat::ipv6_payload_len(inner);
    plan.in_avail = (icmp_len - ICMP_HLEN - IPV6_HLEN) as u16;
    let q: &[u8; 8] =
        view(ctx, icmp_off + ICMP_HLEN + IPV6_HLEN).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    plan.in_port_old = quoted_port::<SixToFour>(q, plan)?;
    Ok(())
}

#[inline(never)]
fn bind_6to4(plan: &mut Plan) -> Result<(), Counter> {
    let cfg = config().ok_or(Counter::DropNoBib6)?;
    let allow = allow_nonglobal();
    plan.in_src4 = match cfg.pool6.extract_checked(&plan.in_src6, allow) {
        Ok(a) => a,
        Err(ExtractError::NonGlobalUnderWellKnown) => return Err(Counter::DropNonGlobalIpv4),
        Err(_) => return Err(Counter::DropIcmpInnerUntranslatable),
    };
    let key = Bib6Key {
        addr6: plan.in_dst6,
        port6: plan.in_port_old,
        proto: plan.in_proto,
        _pad: 0,
    };
    let bib = unsafe { BIB6.get(&key) }.ok_or(Counter::DropNoBib6)?;
    plan.in_dst4 = bib.addr4;
    plan.in_port_new = bib.port4;
    plan.out_dst4 = cfg
        .pool6
        .extract_checked(&plan.out_dst6, allow)
        .map_err(|_| Counter::DropNonGlobalIpv4)?;
    // The error comes from the client itself (its address is in the binding), or from a
    // node that has an IPv4-embedded address; routers with plain IPv6 addresses need the
    // RFC 6791 pool.
    plan.out_src4 = if plan.out_src6 == plan.in_dst6 {
        plan.in_dst4
    } else {
        match cfg.pool6.extract_checked(&plan.out_src6, allow) {
            Ok(a) => a,
            Err(ExtractError::NonGlobalUnderWellKnown) => return Err(Counter::DropNonGlobalIpv4),
            // RFC 6791: an address from the pool, the same one for the same router.
            Err(_) if cfg.pool6791_len != 0 => {
                stats::count(Counter::IcmpRfc6791Source);
                origin::rfc6791_source(cfg.pool6791, cfg.pool6791_len, &plan.out_src6)
            }
            Err(_) => return Err(Counter::DropIcmpUnmappableSource),
        }
    };
    Ok(())
}

#[inline(never)]
fn reframe_6to4(
    ctx: &impl Hook,
    plan: &Plan,
    next: &fwd::Next,
    icmp4_len: usize,
) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let hop = if next.decrements() {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let outer6: &[u8; 40] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    let outer4 = xlat::v6_to_v4_header_hop(
        outer6,
        plan.out_src4,
        plan.out_dst4,
        PROTO_ICMP,
        icmp4_len as u16,
        0,
        hop,
    )
    .map_err(|_| Counter::DropHopLimit)?;
    let inner6: &[u8; 40] =
        view(ctx, icmp_off + ICMP_HLEN).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    // The quoted header keeps its hop limit: it describes the packet as it was sent.
    let inner4 = xlat::v6_to_v4_header_hop(
        inner6,
        plan.in_src4,
        plan.in_dst4,
        plan.in_proto,
        plan.in_len,
        0,
        Hop::Keep,
    )
    .map_err(|_| Counter::DropIcmpInnerUntranslatable)?;
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    let delta = (icmp_off - ETH_HLEN) as i32;
    ctx.resize(delta, Family::V4)
        .map_err(|_| Counter::DropAdjustFailed)?;
    let r = plan.rest;
    write(ctx, 0, &next.eth_header(&old_eth, [0x08, 0x00])).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN, &outer4).ok_or(Counter::DropAdjustFailed)?;
    write(
        ctx,
        ETH_HLEN + IPV4_HLEN,
        &[plan.ty, plan.code, 0, 0, r[0], r[1], r[2], r[3]],
    )
    .ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN + IPV4_HLEN + ICMP_HLEN, &inner4).ok_or(Counter::DropAdjustFailed)?;
    truncate(ctx, ETH_HLEN + IPV4_HLEN + icmp4_len)
}

// ---------------------------------------------------------------------------------------
// IPv4 → IPv6
// ---------------------------------------------------------------------------------------

impl ErrorSide for FourToSix {
    const OUT_HLEN: usize = IPV6_HLEN;
    const COUNTER: Counter = Counter::Xlat4to6IcmpError;

    #[inline(always)]
    fn parse(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter> {
        parse_4to6(ctx, plan)
    }

    #[inline(always)]
    fn pseudo_in(_plan: &Plan) -> u32 {
        0
    }

    #[inline(always)]
    fn bind(_ctx: &impl Hook, plan: &mut Plan) -> Result<Option<u32>, Counter> {
        match bind_4to6(plan) {
            // On the gateway's own address, an error that no binding claims is about the
            // router's own traffic (a PTB for its BGP session): the kernel's.
            Err(Counter::DropNoBib4) if crate::xlat46::is_local_pool4(&plan.out_dst4) => {
                stats::count(Counter::PassPool4Local);
                Ok(Some(aya_ebpf::bindings::xdp_action::XDP_PASS))
            }
            r => r.map(|()| None),
        }
    }

    #[inline(always)]
    fn out_len(plan: &Plan) -> usize {
        (ICMP_HLEN + IPV6_HLEN + plan.in_avail as usize).min(IPV6_ERROR_MAX - IPV6_HLEN)
    }

    #[inline(always)]
    fn lookup(ctx: &impl Hook, plan: &Plan, len: usize) -> fwd::Next {
        fwd::lookup_v6(
            ctx,
            &plan.out_src6,
            &plan.out_dst6,
            PROTO_ICMPV6,
            (IPV6_HLEN + len) as u16,
        )
    }

    #[inline(always)]
    fn clamp_mtu(plan: &mut Plan, egress_mtu: u32) {
        if plan.ty == icmp::ICMPV6_PACKET_TOO_BIG {
            let in_total = plan.in_len + u16::from(plan.ihl_in);
            plan.rest = icmp::error_rest_4to6(
                ErrorExtra::Mtu,
                plan.rest_in,
                in_total,
                egress_mtu,
                MTU_UNKNOWN,
            )
            .unwrap_or(plan.rest);
        }
    }

    #[inline(always)]
    fn reframe(ctx: &impl Hook, plan: &Plan, next: &fwd::Next, len: usize) -> Result<(), Counter> {
        reframe_4to6(ctx, plan, next, len)
    }

    #[inline(always)]
    fn pseudo_out(plan: &Plan, len: usize) -> u32 {
        csum::pseudo_v6(&plan.out_src6, &plan.out_dst6, PROTO_ICMPV6, len as u32)
    }
}

#[inline(never)]
fn parse_4to6(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x7f;
    let hdr4: &[u8; 20] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv4)?;
    if hdr4[8] <= 1 {
        return Err(Counter::DropHopLimit);
    }
    plan.ttl = hdr4[8];
    plan.tos = hdr4[1];
    plan.out_src4 = xlat::ipv4_src(hdr4);
    plan.out_dst4 = xlat::ipv4_dst(hdr4);
    plan.ihl_out = (icmp_off - ETH_HLEN) as u8;
    let total = u16::from_be_bytes([hdr4[2], hdr4[3]]) as usize;
    let icmp_len = total
        .checked_sub(icmp_off - ETH_HLEN)
        .ok_or(Counter::DropBadLength)?;
    if icmp_len < ICMP_HLEN + IPV4_HLEN + 8 {
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    plan.icmp_len = icmp_len as u16;

    let h: &[u8; 8] = view(ctx, icmp_off).ok_or(Counter::DropTruncatedL4)?;
    let Icmp4Action::Error { ty6, code6, extra } = icmp::icmp4_to_icmp6(h[0], h[1]) else {
        return Err(Counter::DropIcmp4Unsupported);
    };
    plan.ty = ty6;
    plan.code = code6;
    let rest4 = [h[4], h[5], h[6], h[7]];
    plan.rest_in = rest4;

    // The quoted packet: an IPv4 header (options skipped) and TCP, UDP or ICMP echo.
    let inner: &[u8; 20] =
        view(ctx, icmp_off + ICMP_HLEN).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    let ihl_in = ((inner[0] & 0x0f) as usize) * 4;
    let in_total = u16::from_be_bytes([inner[2], inner[3]]);
    let frag_offset = u16::from_be_bytes([inner[6], inner[7]]) & 0x1fff;
    if inner[0] >> 4 != 4 || ihl_in < IPV4_HLEN || (in_total as usize) < ihl_in || frag_offset != 0
    {
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    if icmp_len < ICMP_HLEN + ihl_in + 8 {
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    plan.rest = icmp::error_rest_4to6(extra, rest4, in_total, MTU_UNKNOWN, MTU_UNKNOWN)
        .ok_or(Counter::DropIcmpPointerUnmappable)?;
    plan.ihl_in = ihl_in as u8;
    plan.kind = quoted_kind(inner[9])?;
    plan.in_proto = inner[9];
    plan.in_tos = inner[1];
    plan.in_ttl = inner[8];
    plan.in_src4 = xlat::ipv4_src(inner);
    plan.in_dst4 = xlat::ipv4_dst(inner);
    plan.in_len = in_total - ihl_in as u16;
    plan.in_avail = (icmp_len - ICMP_HLEN - ihl_in) as u16;
    let q: &[u8; 8] = view(ctx, icmp_off + ICMP_HLEN + (ihl_in & 0x3c))
        .ok_or(Counter::DropIcmpInnerUntranslatable)?;
    plan.in_port_old = quoted_port::<FourToSix>(q, plan)?;
    Ok(())
}

#[inline(never)]
fn bind_4to6(plan: &mut Plan) -> Result<(), Counter> {
    let cfg = config().ok_or(Counter::DropNoBib4)?;
    let allow = allow_nonglobal();
    let proto = if plan.kind == Kind::IcmpEcho {
        PROTO_ICMP
    } else {
        plan.in_proto
    };
    let key = Bib4Key {
        addr4: plan.in_src4,
        port4: plan.in_port_old,
        proto,
        _pad: 0,
    };
    let bib = unsafe { BIB4.get(&key) }.ok_or(Counter::DropNoBib4)?;
    if plan.out_dst4 != plan.in_src4 {
        // An error about a packet some other address sent is not for our client.
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    plan.in_src6 = bib.addr6;
    plan.in_port_new = bib.port6;
    plan.out_dst6 = bib.addr6;
    plan.in_dst6 = cfg
        .pool6
        .embed_checked(plan.in_dst4, allow)
        .map_err(crate::xlat46::source_refused)?;
    plan.out_src6 = cfg
        .pool6
        .embed_checked(plan.out_src4, allow)
        .map_err(crate::xlat46::source_refused)?;
    Ok(())
}

#[inline(never)]
fn reframe_4to6(
    ctx: &impl Hook,
    plan: &Plan,
    next: &fwd::Next,
    icmp6_len: usize,
) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let hop = if next.decrements() {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let outer = xlat::v4_to_v6_fixed(plan.tos, plan.ttl, PROTO_ICMPV6, icmp6_len as u16, hop)
        .map_err(|_| Counter::DropHopLimit)?;
    let inner = xlat::v4_to_v6_fixed(
        plan.in_tos,
        plan.in_ttl,
        plan.in_proto,
        plan.in_len,
        Hop::Keep,
    )
    .map_err(|_| Counter::DropIcmpInnerUntranslatable)?;
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    let delta = (plan.ihl_out as i32 & 0x3c) + (plan.ihl_in as i32 & 0x3c) - 2 * IPV6_HLEN as i32;
    ctx.resize(delta, Family::V6)
        .map_err(|_| Counter::DropAdjustFailed)?;
    let r = plan.rest;
    let icmp_at = ETH_HLEN + IPV6_HLEN;
    write(ctx, 0, &next.eth_header(&old_eth, [0x86, 0xdd])).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN, &outer).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN + 8, &plan.out_src6).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN + 24, &plan.out_dst6).ok_or(Counter::DropAdjustFailed)?;
    write(
        ctx,
        icmp_at,
        &[plan.ty, plan.code, 0, 0, r[0], r[1], r[2], r[3]],
    )
    .ok_or(Counter::DropAdjustFailed)?;
    write(ctx, icmp_at + ICMP_HLEN, &inner).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, icmp_at + ICMP_HLEN + 8, &plan.in_src6).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, icmp_at + ICMP_HLEN + 24, &plan.in_dst6).ok_or(Counter::DropAdjustFailed)?;
    truncate(ctx, ETH_HLEN + IPV6_HLEN + icmp6_len)
}

// ---------------------------------------------------------------------------------------
// Hairpinned errors (RFC 6146 §3.8): IPv6 → IPv6
// ---------------------------------------------------------------------------------------

/// ICMPv6 PTB below this is raised to it, as a 6→4→6 pair would (RFC 8200 §5).
const IPV6_MIN_MTU: u32 = 1280;
/// ICMPv6 Packet Too Big.
const ICMPV6_PTB: u8 = 2;

/// An ICMPv6 error an IPv6 host sent about a packet hairpinned to it: translated through
/// both bindings in one IPv6 → IPv6 rewrite, as a 6→4 and 4→6 pair would. `plan` holds
/// the 6→4 half (bind_6to4): the quote went from pool6 + X (its sender's public address)
/// to the error's sender, whose binding is Y. The error now goes from pool6 + Y to the
/// quote's sender, quoting the packet as that host sent it (to pool6 + Y). Sizes are
/// unchanged; a Packet Too Big keeps its MTU, raised to 1280.
#[inline(never)]
fn hairpin_6to6(ctx: &impl Hook, plan: &mut Plan) -> Result<u32, Counter> {
    crate::parse::pin(ctx);
    if plan.kind == Kind::IcmpEcho {
        // Echo is never hairpinned: such a quote was not ours.
        return Err(Counter::DropIcmpInnerUntranslatable);
    }
    hairpin_bind(ctx, plan)?;
    hairpin_sums(plan);
    let icmp_len = plan.icmp_len as usize;
    let next = fwd::lookup_v6(
        ctx,
        &plan.hp_y6,
        &plan.hp_a6,
        PROTO_ICMPV6,
        (IPV6_HLEN + icmp_len) as u16,
    );
    hairpin_rewrite_quote(ctx, plan)?;
    hairpin_reframe(ctx, plan, &next)?;
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let pseudo = csum::pseudo_v6(&plan.hp_y6, &plan.hp_a6, PROTO_ICMPV6, icmp_len as u32);
    let total = sum::sum(ctx, icmp_off, icmp_len, pseudo)?;
    write(ctx, icmp_off + 2, &(!csum::fold(total)).to_be_bytes())
        .ok_or(Counter::DropAdjustFailed)?;
    stats::count(Counter::XlatHairpinIcmpError);
    Ok(next.action())
}

/// The quote's sender: the binding its source port names on X (the 4→6 half).
#[inline(never)]
fn hairpin_bind(ctx: &impl Hook, plan: &mut Plan) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let q: &[u8; 8] =
        view(ctx, icmp_off + ICMP_HLEN + IPV6_HLEN).ok_or(Counter::DropIcmpInnerUntranslatable)?;
    plan.hp_sport_old = u16::from_be_bytes([q[0], q[1]]);
    let key = Bib4Key {
        addr4: plan.in_src4,
        port4: plan.hp_sport_old,
        proto: plan.in_proto,
        _pad: 0,
    };
    let owner = unsafe { BIB4.get(&key) }.ok_or(Counter::DropNoBib4)?;
    plan.hp_a6 = owner.addr6;
    plan.hp_sport_new = owner.port6;
    let cfg = config().ok_or(Counter::DropNoBib4)?;
    plan.hp_y6 = cfg
        .pool6
        .embed_checked(plan.in_dst4, allow_nonglobal())
        .map_err(crate::xlat46::source_refused)?;
    Ok(())
}

/// A frame of its own: four 16-byte sums spill most of any frame they share.
#[inline(never)]
fn hairpin_sums(plan: &mut Plan) {
    plan.hp_sums = (
        csum::add_bytes16(&plan.in_src6) + csum::add_bytes16(&plan.in_dst6),
        csum::add_bytes16(&plan.hp_a6) + csum::add_bytes16(&plan.hp_y6),
    );
}

/// The quote: from the sender's own address and port to pool6 + Y and Y's port.
#[inline(never)]
fn hairpin_rewrite_quote(ctx: &impl Hook, plan: &Plan) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let off = icmp_off + ICMP_HLEN + IPV6_HLEN;
    let sport = (plan.hp_sport_old, plan.hp_sport_new);
    l4::rewrite::<true>(
        ctx,
        off,
        plan.kind,
        sport,
        plan.hp_sums,
        0,
        l4::Header::Quoted,
    )?;
    let dport = (plan.in_port_old, plan.in_port_new);
    l4::rewrite::<false>(ctx, off, plan.kind, dport, (0, 0), 0, l4::Header::Quoted)?;
    write(ctx, icmp_off + ICMP_HLEN + 8, &plan.hp_a6)
        .ok_or(Counter::DropIcmpInnerUntranslatable)?;
    write(ctx, icmp_off + ICMP_HLEN + 24, &plan.hp_y6).ok_or(Counter::DropIcmpInnerUntranslatable)
}

/// The outer header (addresses, hop limit), a Packet Too Big's MTU, the Ethernet header.
#[inline(never)]
fn hairpin_reframe(ctx: &impl Hook, plan: &Plan, next: &fwd::Next) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let icmp_off = plan.icmp_off as usize & 0x1ff;
    let hdr: &mut [u8; 40] = view_mut(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    if next.decrements() {
        // parse_6to4 refused hop limits ≤ 1.
        hdr[7] = hdr[7].wrapping_sub(1);
    }
    write(ctx, ETH_HLEN + 8, &plan.hp_y6).ok_or(Counter::DropTruncatedIpv6)?;
    write(ctx, ETH_HLEN + 24, &plan.hp_a6).ok_or(Counter::DropTruncatedIpv6)?;
    let h: &mut [u8; 8] = view_mut(ctx, icmp_off).ok_or(Counter::DropTruncatedL4)?;
    // Summed afresh over the rewritten message (hairpin_6to6).
    (h[2], h[3]) = (0, 0);
    if h[0] == ICMPV6_PTB {
        let mtu = u32::from_be_bytes([h[4], h[5], h[6], h[7]]).max(IPV6_MIN_MTU);
        let [m0, m1, m2, m3] = mtu.to_be_bytes();
        (h[4], h[5], h[6], h[7]) = (m0, m1, m2, m3);
    }
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    write(ctx, 0, &next.eth_header(&old_eth, [0x86, 0xdd])).ok_or(Counter::DropTruncatedEth)
}
