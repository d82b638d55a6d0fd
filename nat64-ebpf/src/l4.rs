//! Transport-header rewrites (ports/identifiers and checksums).
//!
//! Every field is reached at a constant offset inside one bounds-checked `[u8; N]` view:
//! offsets computed at run time let LLVM merge or drop bounds checks in ways the verifier
//! cannot follow.
use aya_ebpf::programs::XdpContext;
use nat64_common::{csum, Counter};

use crate::parse::view_mut;

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

/// Rewrites the transport header at `off`. `SRC`: the port to replace is the source port
/// (IPv6→IPv4: the client's) rather than the destination port (IPv4→IPv6).
/// `remove`/`add` are the pseudo-header (and, for ICMP, type) sums that change; the old
/// and new port are accounted for here. For ICMP echo, `echo_type` replaces the type.
#[inline(always)]
pub fn rewrite<const SRC: bool>(
    ctx: &XdpContext,
    off: usize,
    kind: Kind,
    ports: (u16, u16),
    sums: (u32, u32),
    echo_type: u8,
) -> Result<(), Counter> {
    let (old_port, new_port) = ports;
    let (remove, add) = (sums.0 + u32::from(old_port), sums.1 + u32::from(new_port));
    let port_at = if SRC { 0 } else { 2 };
    match kind {
        Kind::Tcp => {
            let h: &mut [u8; 20] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            if port_at == 0 {
                set_port::<20, 0, 16>(h, new_port, remove, add, false);
            } else {
                set_port::<20, 2, 16>(h, new_port, remove, add, false);
            }
        }
        Kind::Udp => {
            let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            if port_at == 0 {
                set_port::<8, 0, 6>(h, new_port, remove, add, true);
            } else {
                set_port::<8, 2, 6>(h, new_port, remove, add, true);
            }
        }
        Kind::IcmpEcho => {
            let h: &mut [u8; 8] = view_mut(ctx, off).ok_or(Counter::DropTruncatedL4)?;
            let old_type = u32::from(u16::from_be_bytes([h[0], h[1]]));
            let new_type = u32::from(u16::from_be_bytes([echo_type, h[1]]));
            h[0] = echo_type;
            set_port::<8, 4, 2>(h, new_port, remove + old_type, add + new_type, false);
        }
    }
    Ok(())
}
