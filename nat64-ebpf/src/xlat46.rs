//! IPv4 → IPv6 (RFC 7915 §4) for packets addressed to a pool4 address: the steps of
//! `translate::try_translate` that are this direction's own.
use aya_ebpf::{helpers::bpf_loop, macros::map, maps::PerCpuArray};
use nat64_common::{
    csum,
    frag::{self, Position},
    maps::{
        Bib4Key, Pool4PortsKey, BIB_F_STATIC, CONFIG_F_ADDRESS_DEPENDENT_FILTERING,
        CONFIG_F_ALLOW_NONGLOBAL, CONFIG_F_FILTERING_ICMP, LOWEST_IPV6_MTU_DEFAULT, POOL4_F_LOCAL,
        PROTO_ICMP, PROTO_TCP, PROTO_UDP, SLOW_KIND_HELD_SYN,
    },
    origin::{self, ORIGIN_ADMIN_PROHIBITED4, ORIGIN_FRAG_NEEDED, ORIGIN_TIME_EXCEEDED4},
    rfc6052::ExtractError,
    xlat::{self, Hop, OptionStep, XlatError},
    Counter,
};

use crate::{
    flow::{self, Flow, FourToSix, Transport},
    fwd,
    hook::{Family, Hook},
    l4::{self, Kind},
    maps::{config, BIB4, POOL4, POOL4_PORTS},
    parse::{frame_len, read, view, view_mut, write, ETH_HLEN},
    slow, stats, sum,
    translate::{local_pass, Outcome, Parsed, Side, Step},
};

const IPV6_HLEN: usize = 40;
/// IPv6 Fragment header's Next Header value.
const PROTO_FRAGMENT: u8 = 44;
const IPV4_MAX_OPTIONS: usize = 40;

impl Side for FourToSix {
    const PASS_NOT_OURS: Counter = Counter::PassNotOurs4;
    const FRAGMENTS: Counter = Counter::Frag4to6;

    #[inline(always)]
    fn parse(ctx: &impl Hook, plan: &mut Flow) -> Result<Parsed, Counter> {
        parse(ctx, plan)
    }

    #[inline(always)]
    fn hop_limit(plan: &Flow) -> Outcome {
        if local_service(plan) {
            return local_pass();
        }
        Outcome::originate(Counter::DropHopLimit, ORIGIN_TIME_EXCEEDED4, 0)
    }

    /// On the gateway's own address, a later fragment with no record is the router's own
    /// datagram's (its first fragment went to the kernel): the kernel reassembles it.
    #[inline(always)]
    fn follow(plan: &mut Flow) -> Result<Step<()>, Counter> {
        match flow::follow::<FourToSix>(plan) {
            Err(Counter::DropFragmentOutOfOrder) if plan.local != 0 => Ok(Step::Stop(local_pass())),
            r => r.map(Step::Go),
        }
    }

    #[inline(always)]
    fn bind(_ctx: &impl Hook, plan: &mut Flow) -> Result<Step<()>, Counter> {
        let Err(e) = bind(plan) else {
            return Ok(Step::Go(()));
        };
        let unbound = matches!(
            e,
            Counter::DropNoBib4 | Counter::DropNonGlobalIpv4 | Counter::DropMartianIpv4Source
        );
        if unbound && local_service(plan) {
            return Ok(Step::Stop(local_pass()));
        }
        if e == Counter::DropNoBib4 && may_hold(plan) {
            return Ok(Step::Stop(held_syn()));
        }
        Err(e)
    }

    /// A fragment gains a Fragment header (RFC 7915 §4.1).
    #[inline(always)]
    fn out_len(plan: &Flow) -> u32 {
        let frag_hlen = if plan.pos.is_fragmented() {
            xlat::IPV6_FRAG_HDR_LEN as u32
        } else {
            0
        };
        IPV6_HLEN as u32 + frag_hlen + u32::from(plan.l4_len)
    }

    #[inline(always)]
    fn lookup(ctx: &impl Hook, plan: &Flow, leaving: u32) -> fwd::Next {
        let tot_len = leaving as u16;
        fwd::lookup_v6(ctx, &plan.peer6, &plan.host6, plan.nh6(), tot_len)
    }

    #[inline(always)]
    fn size_check(
        plan: &Flow,
        len6: u32,
        segment: Option<u32>,
        next: &mut fwd::Next,
    ) -> Result<Step<u32>, Counter> {
        // DF=0 says the sender does no path MTU discovery: a translation larger than the
        // IPv6 path surely carries goes out as fragments, which only the slow path can
        // send. An IPv4 fragment is split further whatever its DF says (its receiver
        // reassembles anyway, and no error may be sent about a later fragment, RFC 1812
        // §4.3.2.7), keeping its identification and offsets in the Fragment header it
        // already has. Nothing of at most 1280 bytes is ever split: the config is not even
        // read for it.
        //
        // A GSO packet (a UDP GSO batch, which its sender sends with DF=0 when the batch
        // is larger than the path MTU) leaves as its segments, each a datagram of its own:
        // their size is what counts, and the slow path never fragments the batch whole
        // (its receiver would get one datagram of them all).
        let may_split = plan.df == 0 || plan.pos.is_fragmented();
        let piece = segment.unwrap_or(len6);
        let fragment_mtu = if may_split && piece > LOWEST_IPV6_MTU_DEFAULT {
            lowest_ipv6_mtu().min(next.egress_mtu())
        } else {
            u32::MAX
        };
        let fragment = segment.is_none() && piece > fragment_mtu && slow_path_on();
        if let fwd::Next::TooBig { mtu } = *next {
            if !may_split {
                return Ok(Step::Stop(Outcome::originate(
                    Counter::DropTooBig,
                    ORIGIN_FRAG_NEEDED,
                    origin::frag_needed_mtu(u32::from(mtu)),
                )));
            }
            if !fragment {
                // Without the slow path (nat64-ctl not running) the kernel gets the
                // translated packet, and answers it as too big for the route itself.
                stats::count(Counter::FwdPassTooBig);
                *next = fwd::Next::Pass;
            }
        }
        if fragment {
            *next = fwd::Next::Slow;
        }
        Ok(Step::Go(fragment_mtu))
    }

    #[inline(always)]
    fn track(plan: &Flow) -> Result<Step<()>, Counter> {
        match flow::track::<FourToSix>(plan) {
            // The binding exists but filtering refuses this peer: under address-dependent
            // filtering the SYN is held all the same (RFC 6146 §3.5.2.2), for TCP hole
            // punching; track() refused before creating anything.
            Err(Counter::DropFiltered) if may_hold(plan) => Ok(Step::Stop(held_syn())),
            Err(Counter::DropFiltered) if filtering_icmp() => Ok(Step::Stop(Outcome::originate(
                Counter::DropFiltered,
                ORIGIN_ADMIN_PROHIBITED4,
                0,
            ))),
            r => r.map(Step::Go),
        }
    }

    /// A later fragment carries data only: the first fragment's header had the ports and
    /// the checksum, which covers the whole datagram.
    #[inline(always)]
    fn rewrite(ctx: &impl Hook, plan: &Flow, next: &fwd::Next) -> Result<(), Counter> {
        if plan.pos != Position::Later {
            rewrite_l4(ctx, plan)?;
        }
        rewrite_l3(ctx, plan, next)
    }
}

/// A packet to the gateway's own address that is not the translator's: no binding has
/// its destination port and pool4 lends no such port (an echo request with no binding is
/// a ping of the router itself). It goes to the router's own services.
#[inline(never)]
fn local_service(plan: &Flow) -> bool {
    if plan.local == 0 {
        return false;
    }
    let bound = bib4_key(plan);
    if unsafe { BIB4.get(&bound) }.is_some() {
        return false;
    }
    let proto = bound.proto;
    if plan.kind == Kind::IcmpEcho && plan.opens != 0 {
        return true;
    }
    let key = Pool4PortsKey {
        addr4: plan.pool4,
        proto,
        _pad: [0; 3],
    };
    match unsafe { POOL4_PORTS.get(&key) } {
        Some(ports) => !ports.contains(plan.pool_port),
        None => true,
    }
}

/// Whether `dst4` is a pool4 address of the gateway's own (for the ICMP errors path: an
/// error that matches no binding is about the router's own traffic).
#[inline(always)]
pub fn is_local_pool4(dst4: &[u8; 4]) -> bool {
    unsafe { POOL4.get(dst4) }.is_some_and(|e| e.flags & POOL4_F_LOCAL != 0)
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

#[inline(always)]
fn held_syn() -> Outcome {
    Outcome::slow(SLOW_KIND_HELD_SYN, 0, 0)
}

#[inline(always)]
fn slow_path_on() -> bool {
    config().is_some_and(slow::enabled)
}

/// `lowest-ipv6-mtu`, never below the IPv6 minimum (an unconfigured 0 included).
#[inline(always)]
fn lowest_ipv6_mtu() -> u32 {
    config()
        .map(|c| c.lowest_ipv6_mtu)
        .unwrap_or(0)
        .clamp(LOWEST_IPV6_MTU_DEFAULT, u32::from(u16::MAX))
}

#[inline(always)]
fn filtering_icmp() -> bool {
    config().is_some_and(|c| c.flags & CONFIG_F_FILTERING_ICMP != 0)
}

/// Checks the packet and finds its transport header.
#[inline(never)]
fn parse(ctx: &impl Hook, plan: &mut Flow) -> Result<Parsed, Counter> {
    crate::parse::pin(ctx);
    let hdr4: &[u8; 20] = view(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv4)?;
    let dst4 = xlat::ipv4_dst(hdr4);
    let Some(pool4) = (unsafe { POOL4.get(&dst4) }) else {
        return Ok(Parsed::NotOurs);
    };
    plan.local = u8::from(pool4.flags & POOL4_F_LOCAL != 0);
    let info =
        xlat::validate_ipv4_header(hdr4, frame_len(ctx) - ETH_HLEN).map_err(|e| match e {
            XlatError::BadHeaderChecksum => Counter::DropBadIpv4Checksum,
            XlatError::BadTotalLength | XlatError::Truncated => Counter::DropBadLength,
            _ => Counter::DropBadIpv4Header,
        })?;
    let fo = u16::from_be_bytes([hdr4[6], hdr4[7]]);
    let pos = Position::of_v4(fo);
    let ihl = info.ihl_bytes as usize & 0x3c;
    if ihl > 20 {
        check_options(ctx, hdr4, ihl)?;
    }
    let l4_off = ETH_HLEN + ihl;
    let (kind, proto4, counter, received) = match info.proto {
        PROTO_TCP => (
            Kind::Tcp,
            PROTO_TCP,
            Counter::Xlat4to6Tcp,
            Counter::Rx4to6Tcp,
        ),
        PROTO_UDP => (
            Kind::Udp,
            PROTO_UDP,
            Counter::Xlat4to6Udp,
            Counter::Rx4to6Udp,
        ),
        PROTO_ICMP => (
            Kind::IcmpEcho,
            PROTO_ICMP,
            Counter::Xlat4to6Icmp,
            Counter::Rx4to6Icmp,
        ),
        _ if plan.local != 0 => return Ok(Parsed::Local),
        _ => return Err(Counter::DropUnsupportedProto),
    };
    // The total length field, validated against the frame above.
    stats::count_bytes(received, usize::from(info.total_len));
    if pos != Position::Whole {
        // A later fragment's bytes at the UDP checksum's place are data.
        let zero_csum = pos == Position::First
            && kind == Kind::Udp
            && read::<[u8; 8]>(ctx, l4_off)
                .map(|h| h[6] == 0 && h[7] == 0)
                .ok_or(Counter::DropTruncatedL4)?;
        if let Some(refused) = frag::refusal(pos, info.proto, zero_csum) {
            return Err(refused);
        }
        plan.pos = pos;
        plan.frag_id = u32::from(info.id);
        plan.frag_fo = fo;
    }
    plan.peer4 = xlat::ipv4_src(hdr4);
    plan.pool4 = dst4;
    plan.l4_off = l4_off as u16;
    plan.l4_len = info.payload_len();
    plan.ihl = ihl as u8;
    plan.tos = hdr4[1];
    plan.ttl = info.ttl;
    plan.df = u8::from(info.df);
    plan.ident = info.id;
    plan.proto4 = proto4;
    plan.kind = kind;
    plan.counter = counter;
    if pos == Position::Later {
        // No ICMP error about a fragment other than the first (RFC 1812 §4.3.2.7).
        if info.ttl <= 1 {
            return Err(Counter::DropHopLimit);
        }
        return Ok(Parsed::Later);
    }
    // The destination port, or the ICMP echo identifier, names the binding.
    let mut doff = 0u8;
    if flow::read_transport::<FourToSix>(ctx, plan, &mut doff)? == Transport::IcmpError {
        return Ok(Parsed::IcmpError);
    }
    if info.ttl <= 1 {
        return Ok(Parsed::HopLimit);
    }
    l4::check(kind, plan.l4_len, doff)?;
    Ok(Parsed::Translate)
}

/// The binding the packet's destination names (ICMP echo keyed as ICMP, RFC 6146 §3.5.3).
#[inline(always)]
fn bib4_key(plan: &Flow) -> Bib4Key {
    Bib4Key {
        addr4: plan.pool4,
        port4: plan.pool_port,
        proto: plan.proto4,
        _pad: 0,
    }
}

/// Why an IPv4 source cannot be represented under pool6 (the ICMP error path too).
#[inline(always)]
pub fn source_refused(e: ExtractError) -> Counter {
    match e {
        ExtractError::Martian => Counter::DropMartianIpv4Source,
        _ => Counter::DropNonGlobalIpv4,
    }
}

/// The IPv6 side of the flow: source from pool6, destination from the binding.
#[inline(never)]
fn bind(plan: &mut Flow) -> Result<(), Counter> {
    let cfg = config().ok_or(Counter::DropNoBib4)?;
    plan.peer6 = cfg
        .pool6
        .embed_checked(plan.peer4, cfg.flags & CONFIG_F_ALLOW_NONGLOBAL != 0)
        .map_err(source_refused)?;
    let bib = unsafe { BIB4.get(&bib4_key(plan)) }.ok_or(Counter::DropNoBib4)?;
    plan.host6 = bib.addr6;
    plan.host_port = bib.port6;
    // Static bindings publish a service: anyone may reach it.
    plan.filter = u8::from(
        cfg.flags & CONFIG_F_ADDRESS_DEPENDENT_FILTERING != 0 && bib.flags & BIB_F_STATIC == 0,
    );
    Ok(())
}

/// Rewrites the transport header: port/identifier, ICMP type, checksum.
#[inline(never)]
fn rewrite_l4(ctx: &impl Hook, plan: &Flow) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let l4_off = plan.l4_off as usize & 0xff;
    if plan.kind == Kind::Udp {
        let h: &mut [u8; 8] = view_mut(ctx, l4_off).ok_or(Counter::DropTruncatedL4)?;
        if h[6] == 0 && h[7] == 0 {
            // IPv6 forbids a zero UDP checksum: compute the real one over the datagram.
            let [p0, p1] = plan.host_port.to_be_bytes();
            h[2] = p0;
            h[3] = p1;
            let c = udp_checksum_v6(ctx, l4_off, plan.l4_len as usize, &plan.peer6, &plan.host6)?;
            let h: &mut [u8; 8] = view_mut(ctx, l4_off).ok_or(Counter::DropTruncatedL4)?;
            let [c0, c1] = c.to_be_bytes();
            h[6] = c0;
            h[7] = c1;
            stats::count(Counter::UdpZeroChecksumComputed);
            return Ok(());
        }
    }
    flow::rewrite_transport::<FourToSix>(ctx, plan)
}

/// Replaces the IPv4 header with the IPv6 one, written field by field straight into the
/// packet (a 40-byte header assembled on the stack would not fit the call chain's 512
/// bytes). Only the kernel refusing to move the head can fail here; that drops it.
#[inline(never)]
fn rewrite_l3(ctx: &impl Hook, plan: &Flow, next: &fwd::Next) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let hop = if next.decrements() {
        Hop::Decrement
    } else {
        Hop::Keep
    };
    let fragmented = plan.pos.is_fragmented();
    // A fragment: Next Header 44 and 8 more bytes of payload, the Fragment header.
    let (nh, payload_len, grow) = if fragmented {
        (
            PROTO_FRAGMENT,
            frag::payload_len_4to6(plan.l4_len).ok_or(Counter::DropBadLength)?,
            IPV6_HLEN as i32 + xlat::IPV6_FRAG_HDR_LEN as i32,
        )
    } else {
        (plan.nh6(), plan.l4_len, IPV6_HLEN as i32)
    };
    let fixed = xlat::v4_to_v6_fixed(plan.tos, plan.ttl, nh, payload_len, hop)
        .map_err(|_| Counter::DropHopLimit)?;
    let fh = frag::header_4to6(plan.nh6(), plan.frag_id as u16, plan.frag_fo);

    // Grow (or, with options, shrink) the front so that a 40-byte IPv6 header (and for a
    // fragment its Fragment header) sits directly in front of the transport header.
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    let delta = plan.ihl as i32 - grow;
    ctx.resize(delta, Family::V6)
        .map_err(|_| Counter::DropAdjustFailed)?;
    write(ctx, 0, &next.eth_header(&old_eth, [0x86, 0xdd])).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN, &fixed).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN + 8, &plan.peer6).ok_or(Counter::DropAdjustFailed)?;
    write(ctx, ETH_HLEN + 24, &plan.host6).ok_or(Counter::DropAdjustFailed)?;
    if fragmented {
        write(ctx, ETH_HLEN + IPV6_HLEN, &fh).ok_or(Counter::DropAdjustFailed)?;
    }
    Ok(())
}

/// Options are not translated, but a source route must not be silently dropped from a
/// packet that asked for it (RFC 7915 §4.1), and the header checksum covers them.
///
/// The scan runs under `bpf_loop` (the verifier checks one step, not every path through
/// options of every length), with its state in a per-CPU map slot: values read back from
/// a map are opaque to the verifier, so the steps converge instead of being explored one
/// precise index at a time.
#[inline(never)]
fn check_options(ctx: &impl Hook, hdr4: &[u8; 20], ihl: usize) -> Result<(), Counter> {
    crate::parse::pin(ctx);
    let scan = unsafe {
        &mut *OPTIONS_SCAN
            .get_ptr_mut(0)
            .ok_or(Counter::DropBadIpv4Options)?
    };
    for (i, b) in scan.opts.iter_mut().enumerate() {
        *b = if i < ihl - 20 {
            read::<[u8; 1]>(ctx, ETH_HLEN + 20 + i).ok_or(Counter::DropTruncatedIpv4)?[0]
        } else {
            0
        };
    }
    if !xlat::ipv4_checksum_ok(hdr4, &scan.opts, ihl - 20) {
        return Err(Counter::DropBadIpv4Checksum);
    }
    scan.len = (ihl - 20) as u32;
    scan.i = 0;
    scan.verdict = 0;
    let rc = unsafe {
        bpf_loop(
            IPV4_MAX_OPTIONS as u32,
            option_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    match (rc, scan.verdict) {
        (rc, _) if rc < 0 => Err(Counter::DropBadIpv4Options),
        (_, 0) => Ok(()),
        (_, 1) => Err(Counter::DropIpv4SourceRoute),
        _ => Err(Counter::DropBadIpv4Options),
    }
}

#[repr(C)]
struct OptionScan {
    opts: [u8; IPV4_MAX_OPTIONS],
    len: u32,
    i: u32,
    /// 0 accept, 1 source route, 2 malformed.
    verdict: u32,
    _pad: u32,
}

#[map(name = "NAT64_OPTS_SCAN")]
static OPTIONS_SCAN: PerCpuArray<OptionScan> = PerCpuArray::with_max_entries(1, 0);

extern "C" fn option_step(_index: u32, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(scan) = OPTIONS_SCAN.get_ptr_mut(0) else {
        return 1;
    };
    let scan = unsafe { &mut *scan };
    match xlat::ipv4_option_step(&scan.opts, scan.len as usize, scan.i as usize) {
        OptionStep::Next(n) => {
            scan.i = n as u32;
            0
        }
        OptionStep::Done => 1,
        OptionStep::Refuse(XlatError::SourceRoute) => {
            scan.verdict = 1;
            1
        }
        OptionStep::Refuse(_) => {
            scan.verdict = 2;
            1
        }
    }
}

/// Full UDP checksum over the IPv6 pseudo-header and the datagram (checksum field zero).
#[inline(always)]
fn udp_checksum_v6(
    ctx: &impl Hook,
    l4_off: usize,
    l4_len: usize,
    src6: &[u8; 16],
    dst6: &[u8; 16],
) -> Result<u16, Counter> {
    let pseudo = csum::pseudo_v6(src6, dst6, PROTO_UDP, l4_len as u32);
    let total = sum::sum(ctx, l4_off, l4_len, pseudo)?;
    Ok(csum::udp_finalize(!csum::fold(total)))
}
