//! nat64 data plane: one translation, run at XDP (`nat64`) or at TC ingress (`nat64_tc`),
//! the hook being a type parameter of every step (`hook`). Only packet access, bounds
//! checks, maps and helpers live here; the translation rules come from `nat64-common`.
#![no_std]
#![no_main]
// `parse::opaque` hides a value from LLVM with an empty asm statement.
#![feature(asm_experimental_arch)]

mod bib;
mod blocks;
mod events;
mod floor;
mod flow;

mod frags;
mod fwd;
mod hairpin;
mod hook;
mod icmp_err;
mod l4;
mod maps;
mod origin;
mod parse;
mod session;
mod slow;
mod stats;
mod sum;
mod sweep;
mod translate;
mod xlat46;
mod xlat64;

use aya_ebpf::{
    bindings::{xdp_action, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT},
    helpers::bpf_redirect,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;
use nat64_common::{maps::SLOW_KIND_FRAGMENT, Counter};

use flow::{FourToSix, SixToFour};
use hook::Hook;
use parse::{parse_eth, EthProto};
use translate::{Outcome, What};

#[xdp]
pub fn nat64(ctx: XdpContext) -> u32 {
    run::<{ translate::STAGE_FULL }>(&ctx)
}

/// The same translation at TC ingress, for virtual devices (veth: containers, VMs) and
/// wherever the senders' checksum offload or GSO reaches the gateway.
#[classifier]
pub fn nat64_tc(ctx: TcContext) -> i32 {
    hook::pull(&ctx);
    // The verdict is counted in XDP's numbering (run), then mapped: XDP_PASS and
    // TC_ACT_SHOT are both 2.
    match run::<{ translate::STAGE_FULL }>(&ctx) {
        xdp_action::XDP_PASS => TC_ACT_OK as i32,
        // Back out of the interface it came in by: its egress, through the qdisc.
        xdp_action::XDP_TX => unsafe { bpf_redirect((*ctx.skb.skb).ifindex, 0) as i32 },
        // fwd::Next::action already called the redirect helper.
        xdp_action::XDP_REDIRECT => TC_ACT_REDIRECT as i32,
        _ => TC_ACT_SHOT as i32,
    }
}

/// Both hooks: translate, count why a packet is dropped, count the verdict. `STAGE`: how far
/// an IPv6 packet goes (`translate::STAGE_*`); the programs attach with all of it, the
/// benchmark's step table loads the others.
#[inline(always)]
pub(crate) fn run<const STAGE: u8>(ctx: &impl Hook) -> u32 {
    let action = match try_nat64::<STAGE>(ctx) {
        Ok(action) => action,
        Err(reason) => {
            stats::count(reason);
            // Off unless nat64-ctl runs with --bpf-log-level debug: drops can come at line rate.
            debug!(ctx, "drop: counter {}", reason.index());
            xdp_action::XDP_DROP
        }
    };
    stats::count_verdict(action);
    action
}

/// Returns the XDP action, or the counter naming why the packet must be dropped.
#[inline(always)]
fn try_nat64<const STAGE: u8>(ctx: &impl Hook) -> Result<u32, Counter> {
    match parse_eth(ctx)? {
        EthProto::Ipv6 => {
            stats::count(Counter::RxIpv6);
            let outcome = translate::try_translate::<SixToFour, STAGE>(ctx)?;
            finish::<SixToFour>(ctx, outcome)
        }
        EthProto::Ipv4 => {
            stats::count(Counter::RxIpv4);
            let outcome = translate::try_translate::<FourToSix, { translate::STAGE_FULL }>(ctx)?;
            finish::<FourToSix>(ctx, outcome)
        }
        EthProto::Other => {
            stats::count(Counter::RxOther);
            Ok(xdp_action::XDP_PASS)
        }
    }
}

/// Carries out what a direction's fast path decided (the same for both).
#[inline(always)]
fn finish<D: icmp_err::ErrorSide>(ctx: &impl Hook, outcome: Outcome) -> Result<u32, Counter> {
    let Outcome { what, why, a, b, c } = outcome;
    match what {
        What::Action => Ok(a),
        What::IcmpError => icmp_err::try_translate::<D>(ctx, a as usize),
        What::Slow => slow_path(ctx, a, b, c),
        What::Originate => origin::send(ctx, why, a as u8, b),
    }
}

/// Queues the frame for nat64-ctl and counts what it queued (both directions).
#[inline(always)]
fn slow_path(ctx: &impl Hook, kind: u32, mtu: u32, ident: u32) -> Result<u32, Counter> {
    let a = slow::punt(ctx, kind, mtu, ident)?;
    stats::count(if kind == SLOW_KIND_FRAGMENT {
        Counter::SlowPathFragment
    } else {
        Counter::SlowPathHeldSyn
    });
    Ok(a)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
