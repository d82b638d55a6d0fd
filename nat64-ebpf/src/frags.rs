//! `NAT64_FRAGS`: later fragments follow the translation of their first fragment
//! (`nat64_common::frag`). Written by first fragments, read by later ones; entries age
//! out by their timestamp (`FRAG_TIMEOUT_NS`) and the LRU makes room for new ones.
use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::map, maps::LruHashMap};
use nat64_common::frag::{FragEntry, FragKey, FRAGS_MAX_ENTRIES};

#[map(name = "NAT64_FRAGS")]
static FRAGS: LruHashMap<FragKey, FragEntry> = LruHashMap::with_max_entries(FRAGS_MAX_ENTRIES, 0);

/// Records a first fragment's translation. Best effort: should the insert fail, its later
/// fragments are dropped and counted as out of order, never mistranslated.
#[inline(always)]
pub fn remember(key: &FragKey, entry: &FragEntry) {
    let _ = FRAGS.insert(key, entry, 0);
}

/// The live record of a datagram's first fragment.
#[inline(always)]
pub fn find(key: &FragKey) -> Option<&'static FragEntry> {
    let e = unsafe { FRAGS.get(key) }?;
    e.is_live(now()).then_some(e)
}

#[inline(always)]
pub fn now() -> u64 {
    unsafe { bpf_ktime_get_ns() }
}
