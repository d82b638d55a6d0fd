//! Maps shared with nat64-ctl (layouts in nat64_common::maps).
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap},
};
use nat64_common::block::PortBlockConfig;
use nat64_common::maps::{
    Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, GatewayConfig, HeldSynKey, HeldSynTarget, Pool4Entry,
    Pool4Ports, Pool4PortsKey, Pool4Slot, SessionEntry, SessionKey, HELD_SYNS_MAX,
    POOL4_SLOTS_ENTRIES,
};

#[map(name = "NAT64_CONFIG")]
pub static CONFIG: Array<GatewayConfig> = Array::with_max_entries(1, 0);

#[map(name = "NAT64_POOL4")]
pub static POOL4: HashMap<[u8; 4], Pool4Entry> = HashMap::with_max_entries(1024, 0);

/// Which ports pool4 lends on the gateway's own addresses (`POOL4_F_LOCAL`), per
/// protocol: the rest of those addresses' ports belong to the router's own services.
/// Not preallocated: 8 KiB per (address, protocol) in use, none for pool4 addresses that
/// are not the gateway's.
#[map(name = "NAT64_POOL4_PORTS")]
pub static POOL4_PORTS: HashMap<Pool4PortsKey, Pool4Ports> =
    HashMap::with_max_entries(3072, BPF_F_NO_PREALLOC);

/// IPv4 SYNs nat64-ctl holds for a simultaneous open, by their source: the pool4 port a
/// new TCP binding to that source takes so that the SYNs meet (written by nat64-ctl).
#[map(name = "NAT64_HELD_SYNS")]
pub static HELD_SYNS: HashMap<HeldSynKey, HeldSynTarget> =
    HashMap::with_max_entries(HELD_SYNS_MAX, BPF_F_NO_PREALLOC);

/// `BPF_F_NO_PREALLOC` (uapi/linux/bpf.h).
const BPF_F_NO_PREALLOC: u32 = 1;

/// The pool4 slots dynamic bindings are spread over: a block per protocol, of which
/// `GatewayConfig::pool4_slots` says how many are in use.
#[map(name = "NAT64_POOL4_SLOTS")]
pub static POOL4_SLOTS: Array<Pool4Slot> = Array::with_max_entries(POOL4_SLOTS_ENTRIES, 0);

/// Port blocks (RFC 7422, `nat64_common::block`): off until nat64-ctl writes a block size.
#[map(name = "NAT64_BLOCK_CONFIG")]
pub static BLOCK_CONFIG: Array<PortBlockConfig> = Array::with_max_entries(1, 0);

/// Each protocol's block per subscriber; nat64-ctl sizes it to the subscriber range before
/// loading (one entry per protocol while port blocks are off).
#[map(name = "NAT64_BLOCKS")]
pub static BLOCKS: Array<Pool4Slot> = Array::with_max_entries(3, 0);

/// Sized for the RFC 6146 load of a large site; nat64-ctl may resize before loading.
#[map(name = "NAT64_BIB6")]
pub static BIB6: HashMap<Bib6Key, Bib6Entry> = HashMap::with_max_entries(65536, 0);

#[map(name = "NAT64_BIB4")]
pub static BIB4: HashMap<Bib4Key, Bib4Entry> = HashMap::with_max_entries(65536, 0);

/// Sessions (both directions, see `SessionKey`). Sized for a large site; nat64-ctl may
/// resize before loading. Never evicted by the kernel: a full table refuses new flows.
#[map(name = "NAT64_SESSIONS")]
pub static SESSIONS: HashMap<SessionKey, SessionEntry> = HashMap::with_max_entries(262144, 0);

#[inline(always)]
pub fn config() -> Option<&'static GatewayConfig> {
    CONFIG.get(0)
}
