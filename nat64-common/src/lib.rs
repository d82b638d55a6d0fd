//! Shared between the nat64 XDP program (no_std, bpfel) and nat64-ctl (userspace).
//!
//! Everything here is plain `no_std` Rust with no allocation so that the same code is
//! compiled into the eBPF object and tested on the host with `cargo test`.
#![cfg_attr(not(test), no_std)]

pub mod block;
pub mod counters;
pub mod csum;
pub mod frag;
pub mod icmp;
pub mod layout;
pub mod maps;
pub mod origin;
pub mod port;
pub mod rfc6052;
pub mod session;
pub mod split;
pub mod sweep;
pub mod tcp;
pub mod timeouts;
pub mod xlat;

pub use counters::Counter;
