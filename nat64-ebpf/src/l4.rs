//! Transport-header rewrites (ports/identifiers and checksums).
//!
//! Every field is reached at a constant offset inside one bounds-checked `[u8; N]` view:
//! offsets computed at run time let LLVM merge or drop bounds checks in ways the verifier
//! cannot follow.
use nat64_common::{
    csum,
    xlat::{self, TransportError},
    Counter,
};

use crate::{hook::Hook, parse::view_mut};

/// Checksum offsets in the TCP, UDP and ICMP headers; the ICMP echo identifier's.
const TCP_CSUM: usize = 16;
const UDP_CSUM: usize = 6;
const ICMP_CSUM: usize = 2;
const ICMP_ID: usize = 4;

/// Which transport header, and where its rewritten fields sit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Udp,
    IcmpEcho,
}

/// Replaces the port (or echo identifier) at `PORT` with `port` and updates the checksum
/// at `CSUM` incrementally: the fields summing to `remove` were replaced by fields summing
/// to `add`. A wrong checksum stays wrong by the same amount.
#[inline(always)]
fn set_port<const N: usize, const PORT: usize, const CSUM: usize>(
    h: &mut [u8; N],
    port: u16,
    remove: u32,
    add: u32,
    udp: bool,
) {
    let old = u16::from_be_bytes([h[CSUM], h[CSUM + 1]]);
    let mut c = csum::update(old, remove, add);
    if udp {
        // 0 means "no checksum" in IPv4 UDP and is invalid in IPv6: send 0xffff.
        c = csum::udp_finalize(c);
    }
    let [p0, p1] = port.to_be_bytes();
    let [c0, c1] = c.to_be_bytes();
    h[PORT] = p0;
    h[PORT + 1] = p1;
    h[CSUM] = c0;
    h[CSUM + 1] = c1;
}

/// Whose transport header: the packet's own, or the one an ICMP error quotes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Own,
    /// Inside an ICMP error: plain bytes whatever the skb's checksum state (that state is
    /// about the packet's own transport header).
    Quoted,
}

/// Rewrites the transport header at `off`. `SRC`: the port to replace is the source port
/// (IPv6→IPv4: the client's) rather than the destination port (IPv4→IPv6).
/// `sums` are the pseudo-header sums that change (removed, added); the old and new port
/// (and for ICMP the type) are accounted for here. For ICMP echo, `echo_type` replaces
/// the type.
#[inline(always)]
pub fn rewrite<const SRC: bool>(
    ctx: &impl Hook,
    off: usize,
    kind: Kind,
    ports: (u16, u16),
    sums: (u32, u32),
    echo_type: u8,
    header: Header,
) -> Result<(), Counter> {
    if ctx.is_tc() && header == Header::Own {
        return rewrite_skb::<SRC>(ctx, off, kind, ports, sums, echo_type);
    }
    let (old_port, new_port) = ports;
    let (remove, add) = (sums.0 + u32::from(old_port), sums.1 + u32::from(new_port));
    let port_at = if SRC { 0 } else { 2 };
    match kind {
        Kind::Tcp => {
            let h: &mut [u8; 20] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            if port_at == 0 {
                set_port::<20, 0, TCP_CSUM>(h, new_port, remove, add, false);
            } else {
                set_port::<20, 2, TCP_CSUM>(h, new_port, remove, add, false);
            }
        }
        Kind::Udp => {
            let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            if port_at == 0 {
                set_port::<8, 0, UDP_CSUM>(h, new_port, remove, add, true);
            } else {
                set_port::<8, 2, UDP_CSUM>(h, new_port, remove, add, true);
            }
        }
        Kind::IcmpEcho => {
            let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            let old_type = u32::from(u16::from_be_bytes([h[0], h[1]]));
            let new_type = u32::from(u16::from_be_bytes([echo_type, h[1]]));
            h[0] = echo_type;
            set_port::<8, ICMP_ID, ICMP_CSUM>(
                h,
                new_port,
                remove + old_type,
                add + new_type,
                false,
            );
        }
    }
    Ok(())
}

/// The TC form of [`rewrite`]: the fields are written, the checksum is left to the
/// kernel's helper, which knows whether the skb carries a complete checksum or only the
/// pseudo-header part of one (CHECKSUM_PARTIAL, from senders with checksum offload).
#[inline(always)]
fn rewrite_skb<const SRC: bool>(
    ctx: &impl Hook,
    off: usize,
    kind: Kind,
    ports: (u16, u16),
    sums: (u32, u32),
    echo_type: u8,
) -> Result<(), Counter> {
    let (old_port, new_port) = ports;
    let [p0, p1] = new_port.to_be_bytes();
    let port_at = if SRC { 0 } else { 2 };
    let (csum_at, udp, covered) = match kind {
        Kind::Tcp | Kind::Udp => {
            // The ports lead both headers; parse() saw the whole header in the frame.
            let h: &mut [u8; 4] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            if port_at == 0 {
                (h[0], h[1]) = (p0, p1);
            } else {
                (h[2], h[3]) = (p0, p1);
            }
            let (at, udp) = match kind {
                Kind::Tcp => (TCP_CSUM, false),
                _ => (UDP_CSUM, true),
            };
            (at, udp, (u32::from(old_port), u32::from(new_port)))
        }
        Kind::IcmpEcho => {
            let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            let old_type = u32::from(u16::from_be_bytes([h[0], h[1]]));
            let new_type = u32::from(u16::from_be_bytes([echo_type, h[1]]));
            h[0] = echo_type;
            (h[ICMP_ID], h[ICMP_ID + 1]) = (p0, p1);
            (
                ICMP_CSUM,
                false,
                (
                    u32::from(old_port) + old_type,
                    u32::from(new_port) + new_type,
                ),
            )
        }
    };
    ctx.l4_csum(off + csum_at, sums, covered, udp)
        .map_err(|_| Counter::DropAdjustFailed)
}

/// The packet's own transport header is translatable (`xlat::check_transport`: the one
/// check both directions and both hooks make). `doff_byte`: TCP header byte 12.
#[inline(always)]
pub fn check(kind: Kind, l4_len: u16, doff_byte: u8) -> Result<(), Counter> {
    xlat::check_transport(kind == Kind::Tcp, l4_len, doff_byte).map_err(|e| match e {
        TransportError::Truncated => Counter::DropTruncatedL4,
        TransportError::BadTcpDataOffset => Counter::DropBadTcpHeader,
    })
}
