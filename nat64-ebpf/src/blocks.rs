//! Port blocks on first use (RFC 6888 REQ-4/5 style): a subscriber with no block takes the
//! next free block number from `NAT64_FREE_BLOCKS` on its first binding, the same number
//! for every protocol; the sweep gives it back (`sweep.rs`) two passes after the
//! subscriber's last binding went.
//!
//! The free list is a FIFO queue, so a released block is handed out again last: ports a
//! subscriber had stay unused as long as pool4 allows, and late packets of its old flows
//! meet no one else's. `NAT64_BLOCK_OWNERS` is the claim itself (BPF_NOEXIST): a block
//! number the queue holds twice (a release racing a `config apply` that refills it) is
//! owned once, and the copy is dropped when it comes out.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{HashMap, Queue},
};
use nat64_common::{
    block::{self, PortBlockConfig},
    maps::SubscriberBlock,
    Counter,
};

use crate::{events, stats};

/// Sized by nat64-ctl to the blocks per protocol; the defaults serve the fixtures.
#[map(name = "NAT64_SUBSCRIBER_BLOCKS")]
pub static SUBSCRIBER_BLOCKS: HashMap<[u8; 16], SubscriberBlock> = HashMap::with_max_entries(3, 0);

#[map(name = "NAT64_BLOCK_OWNERS")]
pub static BLOCK_OWNERS: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(3, 0);

#[map(name = "NAT64_FREE_BLOCKS")]
pub static FREE_BLOCKS: Queue<u32> = Queue::with_max_entries(3, 0);

const EEXIST: i32 = -17;

/// Block numbers taken from the queue before giving up: more than one only when copies of
/// owned blocks come out first.
const CLAIM_TRIES: u32 = 4;

/// The block number of the subscriber `addr6` belongs to, taking a free one if it has
/// none. Errors: outside the subscriber range, or no block free. Inlined into its caller
/// with its event: a frame less on the binding's call chain, which is at the stack limit.
#[inline(always)]
pub fn subscriber_block(cfg: &PortBlockConfig, addr6: &[u8; 16]) -> Result<u32, Counter> {
    let Some(prefix) = block::subscriber_of(cfg, addr6) else {
        return Err(Counter::DropNoPortBlock);
    };
    if let Some(s) = SUBSCRIBER_BLOCKS.get_ptr_mut(&prefix) {
        // In use again: the sweep's two-pass grace starts over.
        let s = unsafe { &mut *s };
        if s.stamp != 0 {
            s.stamp = 0;
        }
        return Ok(s.block);
    }
    for _ in 0..CLAIM_TRIES {
        let Ok(Some(b)) = FREE_BLOCKS.pop() else {
            return Err(Counter::DropNoFreePortBlock);
        };
        match BLOCK_OWNERS.insert(&b, &prefix, BPF_NOEXIST as u64) {
            Ok(()) => {}
            Err(EEXIST) => continue, // a copy of a block someone owns: dropped
            Err(_) => {
                let _ = FREE_BLOCKS.push(&b, 0);
                return Err(Counter::DropNoFreePortBlock);
            }
        }
        let now = unsafe { bpf_ktime_get_ns() };
        let entry = SubscriberBlock {
            block: b,
            stamp: 0,
            assigned_ns: now,
        };
        return match SUBSCRIBER_BLOCKS.insert(&prefix, &entry, BPF_NOEXIST as u64) {
            Ok(()) => {
                stats::count(Counter::BlockAssigned);
                events::block_assigned(&prefix, cfg.subscriber_len, b, now);
                Ok(b)
            }
            Err(e) => {
                // Another CPU gave this subscriber a block meanwhile: ours goes back.
                let _ = BLOCK_OWNERS.remove(&b);
                let _ = FREE_BLOCKS.push(&b, 0);
                if e != EEXIST {
                    return Err(Counter::DropNoFreePortBlock);
                }
                match unsafe { SUBSCRIBER_BLOCKS.get(&prefix) } {
                    Some(s) => Ok(s.block),
                    None => Err(Counter::DropNoFreePortBlock),
                }
            }
        };
    }
    Err(Counter::DropNoFreePortBlock)
}
