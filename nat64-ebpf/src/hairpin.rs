//! Hairpinning (RFC 6146 §3.8): an IPv6 client sends to `pool6 + <pool4 address>`, i.e. to
//! another IPv6 host's public transport address. Translating to IPv4 and back collapses
//! into one IPv6 → IPv6 rewrite: the source becomes the sender's public transport address
//! under pool6, the destination the binding's owner. No header changes size.
use nat64_common::{
    csum,
    maps::{Bib4Key, CONFIG_F_ALLOW_NONGLOBAL},
    Counter,
};

use crate::{
    flow::Flow,
    fwd,
    hook::Hook,
    l4,
    maps::{config, BIB4},
    parse::{pin, read, view_mut, write, ETH_HLEN},
    stats,
};

/// Where a hairpinned packet goes, and as whom.
struct Target {
    /// The sender's public transport address, under pool6.
    src6: [u8; 16],
    /// The owner of the addressed binding.
    dst6: [u8; 16],
    dport6: u16,
    /// The address sums the checksums lose and gain (computed with the target, in a frame
    /// of their own: summing four addresses next to the checksum helpers spills most of
    /// the stack).
    sums: (u32, u32),
}

/// `plan`: the 6→4 parse and bind of a TCP/UDP packet whose destination is a pool4
/// address. Each step runs in its own frame (the 512-byte stack is shared by the chain).
#[inline(never)]
pub fn turn_back(ctx: &impl Hook, plan: &Flow) -> Result<u32, Counter> {
    pin(ctx);
    let mut t = Target {
        src6: [0; 16],
        dst6: [0; 16],
        dport6: 0,
        sums: (0, 0),
    };
    find_target(plan, &mut t)?;
    address_sums(plan, &mut t);
    let leaving = fwd::segment_len(ctx, plan.l4_off as usize, 40, plan.kind);
    let tot_len = leaving.map_or(40 + plan.l4_len, |l| l as u16);
    let next = fwd::lookup_v6(ctx, &t.src6, &t.dst6, plan.proto4, tot_len);
    rewrite_source(ctx, plan, &t)?;
    rewrite_destination(ctx, plan, &t)?;
    rewrite_l3(ctx, &t, &next)?;
    stats::count_bytes(Counter::XlatHairpin, 40 + usize::from(plan.l4_len));
    Ok(next.action())
}

/// A frame of its own: four 16-byte sums spill most of any frame they share.
#[inline(never)]
fn address_sums(plan: &Flow, t: &mut Target) {
    t.sums = (
        csum::add_bytes16(&plan.host6) + csum::add_bytes16(&plan.peer6),
        csum::add_bytes16(&t.src6) + csum::add_bytes16(&t.dst6),
    );
}

#[inline(never)]
fn find_target(plan: &Flow, t: &mut Target) -> Result<(), Counter> {
    let cfg = config().ok_or(Counter::DropNoBib4)?;
    let key = Bib4Key {
        addr4: plan.peer4,
        port4: plan.peer_port,
        proto: plan.proto4,
        _pad: 0,
    };
    let owner = unsafe { BIB4.get(&key) }.ok_or(Counter::DropNoBib4)?;
    t.dst6 = owner.addr6;
    t.dport6 = owner.port6;
    t.src6 = cfg
        .pool6
        .embed_checked(plan.pool4, cfg.flags & CONFIG_F_ALLOW_NONGLOBAL != 0)
        .map_err(|_| Counter::DropNonGlobalIpv4)?;
    Ok(())
}

/// The source address and port (the destination address's change rides along in the
/// sums). Each port update has a frame of its own: under TC, the values kept across the
/// checksum helper calls outgrow one frame of the 512-byte chain.
#[inline(never)]
fn rewrite_source(ctx: &impl Hook, plan: &Flow, t: &Target) -> Result<(), Counter> {
    pin(ctx);
    let l4_off = plan.l4_off as usize & 0x1ff;
    let ports = (plan.host_port, plan.pool_port);
    l4::rewrite::<true>(ctx, l4_off, plan.kind, ports, t.sums, 0, l4::Header::Own)
}

/// The destination port: the binding owner's.
#[inline(never)]
fn rewrite_destination(ctx: &impl Hook, plan: &Flow, t: &Target) -> Result<(), Counter> {
    pin(ctx);
    let l4_off = plan.l4_off as usize & 0x1ff;
    let ports = (plan.peer_port, t.dport6);
    l4::rewrite::<false>(ctx, l4_off, plan.kind, ports, (0, 0), 0, l4::Header::Own)
}

#[inline(never)]
fn rewrite_l3(ctx: &impl Hook, t: &Target, next: &fwd::Next) -> Result<(), Counter> {
    pin(ctx);
    let hdr: &mut [u8; 40] = view_mut(ctx, ETH_HLEN).ok_or(Counter::DropTruncatedIpv6)?;
    if next.decrements() {
        // parse() refused hop limits ≤ 1.
        hdr[7] = hdr[7].wrapping_sub(1);
    }
    write(ctx, ETH_HLEN + 8, &t.src6).ok_or(Counter::DropTruncatedIpv6)?;
    write(ctx, ETH_HLEN + 24, &t.dst6).ok_or(Counter::DropTruncatedIpv6)?;
    let old_eth: [u8; 12] = read(ctx, 0).ok_or(Counter::DropTruncatedEth)?;
    write(ctx, 0, &next.eth_header(&old_eth, [0x86, 0xdd])).ok_or(Counter::DropTruncatedEth)?;
    Ok(())
}
