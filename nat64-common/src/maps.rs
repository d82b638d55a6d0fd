//! Layouts of the BPF maps shared by the XDP program and nat64-ctl.
//!
//! `#[repr(C)]`, explicit padding and no bool/enum/Option so that both sides agree on
//! every byte; sizes are asserted at compile time. Ports and ICMP identifiers are stored in
//! host byte order (the data plane swaps once; userspace displays them as they are).
use crate::rfc6052::Pool6;

/// Protocol numbers used as the `proto` field of BIB keys. ICMP echo (v4 type 8/0,
/// v6 type 128/129) is keyed as ICMP on both sides, with the identifier as the "port".
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// Name of each map in the object (and of its pin file).
pub const MAP_CONFIG: &str = "NAT64_CONFIG";
pub const MAP_POOL4: &str = "NAT64_POOL4";
pub const MAP_BIB6: &str = "NAT64_BIB6";
pub const MAP_BIB4: &str = "NAT64_BIB4";
pub const MAP_POOL4_SLOTS: &str = "NAT64_POOL4_SLOTS";

/// Most pool4 addresses dynamic bindings are spread over (`NAT64_POOL4_SLOTS` size).
pub const POOL4_SLOTS_MAX: u32 = 256;

/// `NAT64_CONFIG[0]`: the gateway's settings, written by nat64-ctl before attaching.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    pub pool6: Pool6,
    /// `CONFIG_F_*` bits.
    pub flags: u32,
    /// Keys the port-choice hash (drawn at random by nat64-ctl) so that the pool4 port a
    /// flow gets cannot be predicted from outside (RFC 6056).
    pub secret: u32,
    /// How many `NAT64_POOL4_SLOTS` entries are in use; 0 disables dynamic bindings.
    pub pool4_slots: u32,
}
const _: () = assert!(core::mem::size_of::<GatewayConfig>() == 32);

/// Translate non-global IPv4 addresses under the well-known prefix 64:ff9b::/96 although
/// RFC 6052 §3.1 forbids it (labs, or operators who know why).
pub const CONFIG_F_ALLOW_NONGLOBAL: u32 = 1 << 0;

/// `NAT64_POOL4` value, keyed by the IPv4 address (network byte order bytes). An IPv4
/// packet to an address not in this map is not ours and goes to the kernel untouched.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool4Entry {
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<Pool4Entry>() == 4);

/// `NAT64_POOL4_SLOTS[i]`: a pool4 address and the port range dynamic bindings take from it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool4Slot {
    pub addr4: [u8; 4],
    /// Inclusive range of ports (and ICMP identifiers) handed out dynamically.
    pub port_lo: u16,
    pub port_hi: u16,
}
const _: () = assert!(core::mem::size_of::<Pool4Slot>() == 8);

/// IPv6 side of a binding: (IPv6 address, port or ICMP identifier, protocol).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bib6Key {
    pub addr6: [u8; 16],
    pub port6: u16,
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<Bib6Key>() == 20);

/// IPv4 side of a binding: (pool4 address, port or ICMP identifier, protocol).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bib4Key {
    pub addr4: [u8; 4],
    pub port4: u16,
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<Bib4Key>() == 8);

/// `NAT64_BIB6[Bib6Key]`: where an IPv6 transport address appears on the IPv4 side.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bib6Entry {
    pub addr4: [u8; 4],
    pub port4: u16,
    /// `BIB_F_*` bits.
    pub flags: u16,
}
const _: () = assert!(core::mem::size_of::<Bib6Entry>() == 8);

/// `NAT64_BIB4[Bib4Key]`: which IPv6 transport address owns a pool4 transport address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bib4Entry {
    pub addr6: [u8; 16],
    pub port6: u16,
    /// `BIB_F_*` bits.
    pub flags: u16,
}
const _: () = assert!(core::mem::size_of::<Bib4Entry>() == 20);

/// Configured by the operator (`nat64-ctl bib add`), never expired.
pub const BIB_F_STATIC: u16 = 1 << 0;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain old data — repr(C), no padding holes (asserted sizes), any byte
    // pattern is a valid value.
    unsafe impl aya::Pod for super::GatewayConfig {}
    unsafe impl aya::Pod for super::Pool4Entry {}
    unsafe impl aya::Pod for super::Pool4Slot {}
    unsafe impl aya::Pod for super::Bib6Key {}
    unsafe impl aya::Pod for super::Bib4Key {}
    unsafe impl aya::Pod for super::Bib6Entry {}
    unsafe impl aya::Pod for super::Bib4Entry {}
}
