//! nat64-ctl as a library: the embedded eBPF object and the pieces the CLI, the tests and
//! the benchmarks share (loading, pin paths, reading counters).
pub mod batch;
pub mod bib;
pub mod blocks;
pub mod bpffs;
pub mod census;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod expiry;
pub mod hook;
pub mod instance;
pub mod link_info;
pub mod loader;
pub mod local;
pub mod manage;
pub mod metrics;
pub mod options;
pub mod pool4;
pub mod run_state;
pub mod session;
pub mod session_log;
pub mod slow_path;
pub mod stats;
pub mod status;
pub mod tables;
pub mod upgrade;
pub mod wire;

/// The XDP object built from `nat64-ebpf`, embedded so that one binary deploys.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("NAT64_EBPF_OBJECT"));

/// SHA-256 of [`EBPF_OBJECT`] (hex), computed by build.rs.
pub const EBPF_OBJECT_SHA256: &str = env!("NAT64_EBPF_SHA256");

/// The git commit this binary was built from, "unknown" outside git.
pub const GIT_COMMIT: &str = env!("NAT64_GIT_COMMIT");

/// What `nat64-ctl --version` prints after the name: the package version, the commit and
/// the embedded data plane's hash.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NAT64_GIT_COMMIT"),
    ", eBPF object sha256 ",
    env!("NAT64_EBPF_SHA256"),
    ")"
);

/// Name of the XDP program inside the object.
pub const XDP_PROGRAM: &str = "nat64";

/// Name of the TC (sched_cls) program inside the object: the same translation, for TC
/// ingress.
pub const TC_PROGRAM: &str = "nat64_tc";
