//! Packet access with explicit bounds checks against `data_end`.
use nat64_common::Counter;

use crate::hook::{Hook, ETH_P_IP, ETH_P_IPV6};

pub const ETH_HLEN: usize = 14;

/// Extension headers walked before giving up (the verifier needs a constant bound).
pub const MAX_EXT_HEADERS: usize = 4;
/// Bound on the transport header's offset, so that every later access has a verifier-
/// provable range. Generous: Ethernet + IPv6 + 4 extension headers of typical size.
pub const MAX_L3_OFFSET: usize = 256;

pub enum EthProto {
    Ipv4,
    Ipv6,
    Other,
}

/// `data` and `data_end`.
#[inline(always)]
pub fn bounds(ctx: &impl Hook) -> (usize, usize) {
    (ctx.data(), ctx.data_end())
}

/// Called first in every out-of-line function that takes the context: one volatile load
/// keeps LLVM from replacing the context argument by the values it loads (argument
/// promotion), which would hand the function `data_end` as a zero-extended integer that
/// the verifier refuses to touch.
#[inline(always)]
pub fn pin(ctx: &impl Hook) {
    ctx.pin();
}

/// Packet length in bytes (an skb's paged part included: see `Hook::len`).
#[inline(always)]
pub fn frame_len(ctx: &impl Hook) -> usize {
    ctx.len()
}

/// Pointer to a `T` at `offset`, or `None` if it would run past `data_end`.
#[inline(always)]
pub fn ptr_at<T>(ctx: &impl Hook, offset: usize) -> Option<*mut T> {
    let (start, end) = bounds(ctx);
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *mut T)
}

/// Returns `v` unchanged (one register move), but LLVM can no longer see where it came from, so it cannot
/// rewrite a bounds check on it into a form the verifier does not accept (e.g. turning
/// `p + 1 > end` into `p >= end`, or folding a `- 1` into the checked pointer).
#[inline(always)]
pub fn opaque(mut v: usize) -> usize {
    unsafe {
        core::arch::asm!("{0} = {0}", inout(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Copies a `T` out of the packet.
#[inline(always)]
pub fn read<T: Copy>(ctx: &impl Hook, offset: usize) -> Option<T> {
    let p: *const T = ptr_at(ctx, offset)?;
    Some(unsafe { core::ptr::read_unaligned(p) })
}

/// Borrows a `T` inside the packet without copying it to the (512-byte) stack. Valid
/// until the next `bpf_xdp_adjust_head`, which the caller must not cross with it.
#[inline(always)]
pub fn view<T>(ctx: &impl Hook, offset: usize) -> Option<&'static T> {
    let p: *const T = ptr_at(ctx, offset)?;
    Some(unsafe { &*p })
}

/// Like [`view`], writable.
#[inline(always)]
pub fn view_mut<T>(ctx: &impl Hook, offset: usize) -> Option<&'static mut T> {
    let p: *mut T = ptr_at(ctx, offset)?;
    Some(unsafe { &mut *p })
}

/// Copies `bytes` into the packet.
#[inline(always)]
pub fn write<const N: usize>(ctx: &impl Hook, offset: usize, bytes: &[u8; N]) -> Option<()> {
    let p: *mut [u8; N] = ptr_at(ctx, offset)?;
    unsafe { core::ptr::write_unaligned(p, *bytes) };
    Some(())
}

#[inline(always)]
pub fn parse_eth(ctx: &impl Hook) -> Result<EthProto, Counter> {
    let ethertype: [u8; 2] = read(ctx, 12).ok_or(Counter::DropTruncatedEth)?;
    Ok(match u16::from_be_bytes(ethertype) {
        ETH_P_IPV6 => EthProto::Ipv6,
        ETH_P_IP => EthProto::Ipv4,
        _ => EthProto::Other,
    })
}
