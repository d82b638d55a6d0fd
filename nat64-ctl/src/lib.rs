//! nat64-ctl as a library: the embedded eBPF object and the pieces the CLI, the tests and
//! the benchmarks share (loading, pin paths, reading counters).
pub mod batch;
pub mod bib;
pub mod bpffs;
pub mod config;
pub mod config_file;
pub mod expiry;
pub mod instance;
pub mod loader;
pub mod local;
pub mod manage;
pub mod metrics;
pub mod pool4;
pub mod session;
pub mod session_log;
pub mod slow_path;
pub mod stats;
pub mod tables;
pub mod upgrade;

/// The XDP object built from `nat64-ebpf`, embedded so that one binary deploys.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("NAT64_EBPF_OBJECT"));

/// Name of the XDP program inside the object.
pub const XDP_PROGRAM: &str = "nat64";
