//! Header parsing with explicit bounds checks against `data_end`.
use aya_ebpf::programs::XdpContext;
use nat64_common::Counter;

pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;

pub enum EthProto {
    Ipv4,
    Ipv6,
    Other,
}

/// Returns a pointer to `len` bytes at `offset`, or `None` if they run past `data_end`.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *mut T)
}

#[inline(always)]
pub fn parse_eth(ctx: &XdpContext) -> Result<EthProto, Counter> {
    let ethertype: *const [u8; 2] = ptr_at(ctx, 12).ok_or(Counter::DropTruncatedEth)?;
    Ok(match u16::from_be_bytes(unsafe { *ethertype }) {
        ETH_P_IPV6 => EthProto::Ipv6,
        ETH_P_IP => EthProto::Ipv4,
        _ => EthProto::Other,
    })
}
