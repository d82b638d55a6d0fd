//! The data plane's clock, read from user space: a leaf module, so that the sweeper, the
//! session log and status share it without depending on one another.
use nat64_common::timeouts;

/// CLOCK_MONOTONIC in nanoseconds: what `bpf_ktime_get_ns` returns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * timeouts::NS_PER_S + ts.tv_nsec as u64
}
