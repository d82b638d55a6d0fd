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
    maps::{
        pool4_slot_index, Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, GatewayConfig, HeldSynTarget,
        PROTO_ICMP, PROTO_TCP, PROTO_UDP,
    },
    port, Counter,
};

use crate::{
    events,
    maps::{BIB4, BIB6, POOL4_SLOTS},
    stats,
};

const EEXIST: i32 = -17;

/// Claims a pool4 transport address for `key` and records the binding both ways, in
/// `out`. `held` (port 0: none): the pool4 transport address an IPv4 SYN held for a
/// simultaneous open was sent to, from the host this flow opens to; taken first when free,
/// so that the two SYNs meet (RFC 6146 §3.5.2.2; nat64-ctl vouched that it lies in a TCP
/// pool4 range). The entry goes out through `out` and `held` comes in by reference: a
/// struct returned (or an Option passed) by value travels as a pointer into the caller's
/// stack, which the verifier refuses to see come back in R0.
#[inline(never)]
pub fn create_binding(
    cfg: &GatewayConfig,
    key: &Bib6Key,
    held: &HeldSynTarget,
    out: &mut Bib6Entry,
) -> Result<(), Counter> {
    // Constant indices, one per arm: the verifier sees every access in bounds.
    let (proto_index, slots) = match key.proto {
        PROTO_TCP => (0, cfg.pool4_slots[0]),
        PROTO_UDP => (1, cfg.pool4_slots[1]),
        PROTO_ICMP => (2, cfg.pool4_slots[2]),
        _ => return Err(Counter::DropNoBib6),
    };
    if slots == 0 {
        return Err(Counter::DropPool4Empty);
    }
    let hash = port::flow_hash(cfg.secret, &key.addr6, key.port6, key.proto);
    let back = Bib4Entry {
        addr6: key.addr6,
        port6: key.port6,
        flags: 0,
    };
    if held.port4 != 0 && key.proto == PROTO_TCP {
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
        let slot_idx = pool4_slot_index(proto_index, port::pick_address(hash, slots.into(), i));
        let Some(slot) = POOL4_SLOTS.get(slot_idx) else {
            return Err(Counter::DropPool4Exhausted);
        };
        let Ok(range) = port::PortRange::new(slot.port_lo, slot.port_hi) else {
            return Err(Counter::DropPool4Exhausted);
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
    Err(Counter::DropPool4Exhausted)
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
