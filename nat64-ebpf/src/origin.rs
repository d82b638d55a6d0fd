//! ICMP errors the gateway originates (Time Exceeded, Packet Too Big / Fragmentation
//! Needed, administratively prohibited), built in place from the offending packet: the
//! frame is cut to what the error may quote (1280 bytes in all for ICMPv6, 576 for
//! ICMPv4), an IP and an ICMP header are prepended, and the frame goes back out of the
//! interface it came in by (`XDP_TX`, Ethernet addresses swapped).
//!
//! Why XDP_TX and not a FIB lookup: the error goes to the packet's source, and the
//! neighbour that handed us the packet is the way back to it (the client itself or its
//! router) on every sane topology; XDP_TX needs no lookup, no neighbour entry and no
//! second interface. (An asymmetric route back is the exception this does not follow.)
//!
//! The quoted packet is the packet as received, untranslated. Errors are rate-limited by
//! a token bucket per CPU (RFC 4443 §2.4 (f)); a packet that gets no error (limited, no
//! source address configured, source not unicast) is dropped exactly as before, under its
//! own drop counter, which counts in both cases.
use aya_ebpf::{bindings::xdp_action, helpers::bpf_ktime_get_ns, macros::map, maps::PerCpuArray};
use nat64_common::{
    csum,
    maps::PROTO_ICMPV6,
    origin::{self, TokenBucket},
    xlat, Counter,
};

use crate::{
    hook::{Family, Hook},
    maps::config,
    parse::{frame_len, read, view, write, ETH_HLEN},
    stats, sum,
};

/// One bucket per CPU: each CPU may send `icmp_rate` errors per second (documented).
#[map(name = "NAT64_ICMP_BUCKET")]
static BUCKET: PerCpuArray<TokenBucket> = PerCpuArray::with_max_entries(1, 0);

/// Answers the packet in the frame with the error `kind` (`origin::ORIGIN_*`; `mtu` for
/// the size errors) instead of dropping it for `why`.
#[inline(never)]
pub fn send(ctx: &impl Hook, why: Counter, kind: u8, mtu: u32) -> Result<u32, Counter> {
    crate::parse::pin(ctx);
    let cfg = config().ok_or(why)?;
    let dst_mac: [u8; 6] = read(ctx, 0).ok_or(why)?;
    if !origin::may_answer_frame(&dst_mac) {
        return Err(why);
    }
    let (rate, burst) = (cfg.icmp_rate, cfg.icmp_burst);
    let v6 = origin::is_v6(kind);
    let (src6, src4) = (cfg.icmp_src6, cfg.icmp_src4);
    let mut dst6 = [0u8; 16];
    let mut dst4 = [0u8; 4];
    let ip_len = if v6 {
        let hdr: &[u8; 40] = view(ctx, ETH_HLEN).ok_or(why)?;
        dst6 = xlat::ipv6_src(hdr);
        if src6 == [0; 16] || !origin::may_answer_v6(&dst6) {
            return Err(why);
        }
        40 + xlat::ipv6_payload_len(hdr) as usize
    } else {
        let hdr: &[u8; 20] = view(ctx, ETH_HLEN).ok_or(why)?;
        dst4 = xlat::ipv4_src(hdr);
        if src4 == [0; 4] || !origin::may_answer_v4(dst4) {
            return Err(why);
        }
        u16::from_be_bytes([hdr[2], hdr[3]]) as usize
    };
    let bucket = unsafe { &mut *BUCKET.get_ptr_mut(0).ok_or(why)? };
    if !origin::take_token(bucket, unsafe { bpf_ktime_get_ns() }, rate, burst) {
        stats::count(Counter::IcmpErrorsRateLimited);
        return Err(why);
    }
    let quote = origin::quote_len(kind, ip_len.min(frame_len(ctx) - ETH_HLEN));
    let icmp_len = origin::ICMP_HLEN + quote;

    // Cut the frame to the quote, then make room for the headers in front of it.
    ctx.truncate(ETH_HLEN + quote)
        .map_err(|_| Counter::DropAdjustFailed)?;
    let old: [u8; 12] = read(ctx, 0).ok_or(Counter::DropAdjustFailed)?;
    let prepend = if v6 {
        origin::V6_PREPEND
    } else {
        origin::V4_PREPEND
    };
    ctx.resize(-(prepend as i32), Family::Same)
        .map_err(|_| Counter::DropAdjustFailed)?;
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let eth = [
        old[6],
        old[7],
        old[8],
        old[9],
        old[10],
        old[11],
        old[0],
        old[1],
        old[2],
        old[3],
        old[4],
        old[5],
        ethertype[0],
        ethertype[1],
    ];
    write(ctx, 0, &eth).ok_or(Counter::DropAdjustFailed)?;
    let (icmp_off, pseudo) = if v6 {
        write(
            ctx,
            ETH_HLEN,
            &origin::ipv6_header(&src6, &dst6, icmp_len as u16),
        )
        .ok_or(Counter::DropAdjustFailed)?;
        (
            ETH_HLEN + 40,
            csum::pseudo_v6(&src6, &dst6, PROTO_ICMPV6, icmp_len as u32),
        )
    } else {
        write(
            ctx,
            ETH_HLEN,
            &origin::ipv4_header(src4, dst4, icmp_len as u16),
        )
        .ok_or(Counter::DropAdjustFailed)?;
        (ETH_HLEN + 20, 0)
    };
    write(ctx, icmp_off, &origin::icmp_header(kind, mtu)).ok_or(Counter::DropAdjustFailed)?;
    let total = sum::sum(ctx, icmp_off, icmp_len, pseudo)?;
    write(ctx, icmp_off + 2, &(!csum::fold(total)).to_be_bytes())
        .ok_or(Counter::DropAdjustFailed)?;
    stats::count(why);
    // The packet is still dropped: it logs like every drop (see main.rs).
    aya_log_ebpf::debug!(
        ctx,
        "drop: counter {} (answered with an ICMP error)",
        why.index()
    );
    stats::count(match kind {
        origin::ORIGIN_TIME_EXCEEDED6 => Counter::IcmpSentTimeExceeded6,
        origin::ORIGIN_TIME_EXCEEDED4 => Counter::IcmpSentTimeExceeded4,
        origin::ORIGIN_PACKET_TOO_BIG => Counter::IcmpSentPacketTooBig,
        origin::ORIGIN_FRAG_NEEDED => Counter::IcmpSentFragNeeded,
        origin::ORIGIN_ADDRESS_UNREACHABLE6 => Counter::IcmpSentAddressUnreachable6,
        _ => Counter::IcmpSentAdminProhibited4,
    });
    Ok(xdp_action::XDP_TX)
}
