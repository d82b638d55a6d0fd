//! nat64 XDP data plane. Only packet access, bounds checks, maps and helpers live
//! here; the translation rules come from `nat64-common`.
#![no_std]
#![no_main]
// `parse::opaque` hides a value from LLVM with an empty asm statement.
#![feature(asm_experimental_arch)]

mod fwd;
mod l4;
mod maps;
mod parse;
mod stats;
mod xlat46;
mod xlat64;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use aya_log_ebpf::debug;
use nat64_common::Counter;

use parse::{parse_eth, EthProto};

#[xdp]
pub fn nat64(ctx: XdpContext) -> u32 {
    let action = match try_nat64(&ctx) {
        Ok(action) => action,
        Err(reason) => {
            stats::count(reason);
            // Off unless nat64-ctl runs with --bpf-log-level debug: drops can come at line rate.
            debug!(&ctx, "drop: counter {}", reason.index());
            xdp_action::XDP_DROP
        }
    };
    stats::count_verdict(action);
    action
}

/// Returns the XDP action, or the counter naming why the packet must be dropped.
#[inline(always)]
fn try_nat64(ctx: &XdpContext) -> Result<u32, Counter> {
    match parse_eth(ctx)? {
        EthProto::Ipv6 => {
            stats::count(Counter::RxIpv6);
            xlat64::try_6to4(ctx)
        }
        EthProto::Ipv4 => {
            stats::count(Counter::RxIpv4);
            xlat46::try_4to6(ctx)
        }
        EthProto::Other => {
            stats::count(Counter::RxOther);
            Ok(xdp_action::XDP_PASS)
        }
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
