//! Dynamic bindings (RFC 6146 §3.5): an IPv6 flow that opens gets a pool4 transport
//! address, chosen in the data plane at packet rate.
//!
//! Endpoint-independent mapping: the binding is keyed by the IPv6 transport address
//! alone, so every destination sees the same pool4 address and port. Two CPUs can race to
//! create bindings: the IPv4 side is claimed first with BPF_NOEXIST (a pool4 port is never
//! handed out twice), then the IPv6 side; the loser of a race for the same IPv6 source
//! gives its claim back and uses the winner's binding. Live bindings are never evicted:
//! when the table is full the new flow is refused and counted.
use aya_ebpf::bindings::BPF_NOEXIST;
use nat64_common::{
    block,
    maps::{
        pool4_slot_index, Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, GatewayConfig, HeldSynTarget,
        Pool4Slot, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
    },
    port, Counter,
};

use crate::{
    events,
    maps::{BIB4, BIB6, BLOCKS, BLOCK_CONFIG, POOL4_SLOTS},
    stats,
};

const EEXIST: i32 = -17;

/// Claims a pool4 transport address for `key` and records the binding both ways, in
/// `out`. `held` (port 0: none): the pool4 transport address an IPv4 SYN held for a
/// simultaneous open was sent to, from the host this flow opens to; taken first when free,
/// so that the two SYNs meet (RFC 6146 §3.5.2.2; nat64-ctl vouched that it lies in a TCP
/// pool4 range). The entry goes out through `out` and `held` comes in by reference: a
/// struct returned (or an Option passed) by value travels as a pointer into the caller's
/// stack, which the verifier refuses to see come back in R0. `block_at`: the
/// subscriber's block ([`port_block`]).
#[inline(never)]
pub fn create_binding(
    cfg: &GatewayConfig,
    key: &Bib6Key,
    held: &HeldSynTarget,
    block_at: u32,
    out: &mut Bib6Entry,
) -> Result<(), Counter> {
    let (proto_index, slots) = proto_slots(cfg, key.proto)?;
    let hash = port::flow_hash(cfg.secret, &key.addr6, key.port6, key.proto);
    let back = Bib4Entry {
        addr6: key.addr6,
        port6: key.port6,
        flags: 0,
    };
    // A held SYN's port outside the subscriber's block would break the block's promise
    // that its ports are the subscriber's alone: the SYN is refused as without a match.
    let held_wanted = held.port4 != 0 && key.proto == PROTO_TCP;
    let held_usable = held_wanted
        && match slot_for(block_at, proto_index, hash, slots, 0) {
            Some(s) if block_at != NO_BLOCK => {
                held.addr4 == s.addr4 && s.port_lo <= held.port4 && held.port4 <= s.port_hi
            }
            _ => true,
        };
    if held_usable {
        let k4 = Bib4Key {
            addr4: held.addr4,
            port4: held.port4,
            proto: PROTO_TCP,
            _pad: 0,
        };
        match claim(key, &k4, &back)? {
            Some(entry) => {
                stats::count(Counter::HeldSynMet);
                *out = entry;
                return Ok(());
            }
            // Taken meanwhile: an ordinary port, and the held SYN is refused as before.
            None => stats::count(Counter::PortAllocRetries),
        }
    }
    for i in 0..port::MAX_PROBES {
        let Some(slot) = slot_for(block_at, proto_index, hash, slots, i) else {
            return Err(exhausted(block_at));
        };
        let Ok(range) = port::PortRange::new(slot.port_lo, slot.port_hi) else {
            return Err(exhausted(block_at));
        };
        let port4 = port::candidate(hash, key.port6, range, i);
        let k4 = Bib4Key {
            addr4: slot.addr4,
            port4,
            proto: key.proto,
            _pad: 0,
        };
        match claim(key, &k4, &back)? {
            Some(entry) => {
                *out = entry;
                return Ok(());
            }
            None => {
                stats::count(Counter::PortAllocRetries);
                continue;
            }
        }
    }
    Err(exhausted(block_at))
}

/// With port blocks on, the `NAT64_BLOCKS` index of the subscriber's own block for `key`'s
/// protocol (RFC 7422, or the one it takes on first use), the only slot its bindings
/// take ports from; [`NO_BLOCK`] while port blocks are off. Called beside
/// `create_binding`, not from it: a block taken on first use logs its own event, and that
/// chain on top of `create_binding`'s frame passed the 512 bytes of stack.
#[inline(never)]
pub fn port_block(cfg: &GatewayConfig, key: &Bib6Key) -> Result<u32, Counter> {
    let Some(b) = BLOCK_CONFIG.get(0) else {
        return Ok(NO_BLOCK);
    };
    if b.block_size == 0 {
        return Ok(NO_BLOCK);
    }
    // create_binding's refusals that come before the block's: no block is taken for them.
    let (proto_index, _) = proto_slots(cfg, key.proto)?;
    let k = if b.allocation == block::ALLOCATION_DYNAMIC {
        crate::blocks::subscriber_block(b, &key.addr6)?
    } else {
        match block::subscriber_index(b, &key.addr6) {
            Some(k) => k,
            None => return Err(Counter::DropNoPortBlock),
        }
    };
    let at = block::block_index(proto_index, b.subscribers, k);
    if BLOCKS.get(at).is_none() {
        return Err(Counter::DropNoPortBlock);
    }
    Ok(at)
}

/// The protocol's index in `POOL4_PROTOS` and its pool4 slot count; a protocol without
/// pool4 refuses the flow.
#[inline(always)]
fn proto_slots(cfg: &GatewayConfig, proto: u8) -> Result<(usize, u16), Counter> {
    // Constant indices, one per arm: the verifier sees every access in bounds.
    let (proto_index, slots) = match proto {
        PROTO_TCP => (0, cfg.pool4_slots[0]),
        PROTO_UDP => (1, cfg.pool4_slots[1]),
        PROTO_ICMP => (2, cfg.pool4_slots[2]),
        _ => return Err(Counter::DropNoBib6),
    };
    if slots == 0 {
        return Err(Counter::DropPool4Empty);
    }
    Ok((proto_index, slots))
}

/// `create_binding`'s block index while port blocks are off.
pub const NO_BLOCK: u32 = u32::MAX;

/// The slot attempt `i` takes its port from: the subscriber's block when there is one,
/// else a pool4 slot drawn from the flow's hash.
#[inline(always)]
fn slot_for(
    block_at: u32,
    proto_index: usize,
    hash: u32,
    slots: u16,
    i: u32,
) -> Option<&'static Pool4Slot> {
    if block_at != NO_BLOCK {
        return BLOCKS.get(block_at);
    }
    POOL4_SLOTS.get(pool4_slot_index(
        proto_index,
        port::pick_address(hash, slots.into(), i),
    ))
}

#[inline(always)]
fn exhausted(block_at: u32) -> Counter {
    if block_at != NO_BLOCK {
        Counter::DropPortBlockExhausted
    } else {
        Counter::DropPool4Exhausted
    }
}

/// Claims `k4` for `key`: the IPv4 side first with BPF_NOEXIST (a pool4 port is never
/// handed out twice), then the IPv6 side. `None`: `k4` is taken. On a race for the same
/// IPv6 source the claim is given back and the winner's binding used.
#[inline(always)]
fn claim(key: &Bib6Key, k4: &Bib4Key, back: &Bib4Entry) -> Result<Option<Bib6Entry>, Counter> {
    match BIB4.insert(k4, back, BPF_NOEXIST as u64) {
        Ok(()) => {}
        Err(EEXIST) => return Ok(None),
        Err(_) => return Err(Counter::DropBibFull),
    }
    let entry = Bib6Entry {
        addr4: k4.addr4,
        port4: k4.port4,
        flags: 0,
    };
    match BIB6.insert(key, &entry, BPF_NOEXIST as u64) {
        Ok(()) => {
            stats::count(Counter::BibCreated);
            events::binding_created(key, &entry);
            Ok(Some(entry))
        }
        Err(e) => {
            // Give the pool4 port back either way; on a race use the winner's binding.
            let _ = BIB4.remove(k4);
            if e != EEXIST {
                return Err(Counter::DropBibFull);
            }
            unsafe { BIB6.get(key) }
                .copied()
                .map(Some)
                .ok_or(Counter::DropBibFull)
        }
    }
}
