//! One's-complement sums over packet bytes, for the rare cases where a checksum must be
//! computed in full (IPv4 UDP without checksum, ICMP errors that are rebuilt).
//!
//! The loop runs under `bpf_loop` with its state in a per-CPU map slot. A plain bounded
//! loop is verified once per iteration *per path that reaches it*, which blows the
//! verifier's budget with several callers; values read back from a map are opaque to the
//! verifier, so the callback is checked once.
use aya_ebpf::{macros::map, maps::PerCpuArray};
use nat64_common::Counter;

use crate::{
    hook::Hook,
    parse::{opaque, pin, read},
};

/// Longest run summed in XDP: a 1500-byte MTU minus an IPv4 header.
pub const SUM_MAX: usize = 1480;

#[repr(C)]
struct SumState {
    off: u32,
    len: u32,
    pos: u32,
    acc: u32,
    /// Set when the bytes ran past the end of the frame.
    short: u32,
    _pad: u32,
}

#[map(name = "NAT64_SUM_STATE")]
static STATE: PerCpuArray<SumState> = PerCpuArray::with_max_entries(1, 0);

/// Partial sum (not folded, not inverted) of `len` bytes at `off`, added to `initial`.
#[inline(always)]
pub fn sum(ctx: &impl Hook, off: usize, len: usize, initial: u32) -> Result<u32, Counter> {
    if len > SUM_MAX {
        return Err(Counter::DropBadLength);
    }
    match sum_raw(ctx, off, len, initial) {
        u64::MAX => Err(Counter::DropTruncatedL4),
        s => Ok(s as u32),
    }
}

/// Returns a plain integer (`u64::MAX`: the bytes are not all in the frame) because a
/// returned struct travels through a pointer into the caller's stack, which the verifier
/// refuses to see come back in R0.
#[inline(never)]
fn sum_raw<C: Hook>(ctx: &C, off: usize, len: usize, initial: u32) -> u64 {
    pin(ctx);
    let Some(st) = STATE.get_ptr_mut(0) else {
        return u64::MAX;
    };
    let st = unsafe { &mut *st };
    *st = SumState {
        off: off as u32,
        len: len as u32,
        pos: 0,
        acc: initial,
        short: 0,
        _pad: 0,
    };
    let mut cb_ctx = C::from_raw(ctx.raw());
    C::sum_loop(
        (SUM_MAX / 2) as u32,
        &mut cb_ctx as *mut C as *mut core::ffi::c_void,
    );
    if st.short != 0 {
        return u64::MAX;
    }
    let mut acc = st.acc;
    if len % 2 == 1 {
        // The trailing byte, addressed without a `len - 1` that LLVM would fold into the
        // bounds check in a form the verifier rejects.
        let Some(b) = read::<[u8; 1]>(ctx, opaque((off & 0x3ff) + (len & 0x7fe))) else {
            return u64::MAX;
        };
        acc += u32::from(b[0]) << 8;
    }
    u64::from(acc)
}

/// The `bpf_loop` callback of each hook (see `Hook::sum_loop`).
pub extern "C" fn step_xdp(index: u32, cb_ctx: *mut core::ffi::c_void) -> i64 {
    step::<aya_ebpf::programs::XdpContext>(index, cb_ctx)
}

pub extern "C" fn step_tc(index: u32, cb_ctx: *mut core::ffi::c_void) -> i64 {
    step::<aya_ebpf::programs::TcContext>(index, cb_ctx)
}

/// Adds the 16-bit word at `pos`; 1 (stop) once fewer than two bytes remain.
#[inline(always)]
fn step<C: Hook>(_index: u32, cb_ctx: *mut core::ffi::c_void) -> i64 {
    let ctx = unsafe { &*(cb_ctx as *const C) };
    let Some(st) = STATE.get_ptr_mut(0) else {
        return 1;
    };
    let st = unsafe { &mut *st };
    let pos = st.pos as usize & 0x7ff;
    if pos + 2 > st.len as usize {
        return 1;
    }
    match read::<[u8; 2]>(ctx, (st.off as usize & 0x3ff) + pos) {
        Some(w) => {
            st.acc += u32::from(u16::from_be_bytes(w));
            st.pos = (pos + 2) as u32;
            0
        }
        None => {
            st.short = 1;
            1
        }
    }
}
