//! The benchmark floor: the least an XDP program that looks at IP packets must do —
//! parse the Ethernet header and the IPv4 or IPv6 header with bounds checks — then
//! return its verdict: XDP_DROP, the cheapest one, so that in the benchmark's live-frames
//! runs the floor costs no more than the parse (a pass would build an skb). `cargo xtask bench` reports nat64's per-packet cost as a ratio to this one,
//! measured in the same run from the same object. Nothing attaches it: nat64-ctl loads
//! and attaches the `nat64` program only (by name), and never loads this one.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

use crate::parse::{parse_eth, read, EthProto, ETH_HLEN};

#[xdp]
pub fn nat64_floor(ctx: XdpContext) -> u32 {
    let ok = match parse_eth(&ctx) {
        // Version/IHL and the destination address: the fields a translator reads first.
        Ok(EthProto::Ipv4) => read::<[u8; 20]>(&ctx, ETH_HLEN).is_some_and(|h| h[0] >> 4 == 4),
        Ok(EthProto::Ipv6) => read::<[u8; 40]>(&ctx, ETH_HLEN).is_some_and(|h| h[0] >> 4 == 6),
        Ok(EthProto::Other) => true,
        Err(_) => false,
    };
    // Both verdicts drop; the parse decides which, so it cannot be optimised away.
    if ok {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_ABORTED
    }
}

// The step table: the translation cut short after each step (`translate::STAGE_*`), so that
// each step's cost is the difference to the stage before. Only the benchmark loads them.
#[xdp]
pub fn nat64_stage_parse(ctx: XdpContext) -> u32 {
    crate::run::<{ crate::translate::STAGE_PARSE }>(&ctx)
}

#[xdp]
pub fn nat64_stage_bind(ctx: XdpContext) -> u32 {
    crate::run::<{ crate::translate::STAGE_BIND }>(&ctx)
}

#[xdp]
pub fn nat64_stage_route(ctx: XdpContext) -> u32 {
    crate::run::<{ crate::translate::STAGE_ROUTE }>(&ctx)
}

#[xdp]
pub fn nat64_stage_track(ctx: XdpContext) -> u32 {
    crate::run::<{ crate::translate::STAGE_TRACK }>(&ctx)
}
