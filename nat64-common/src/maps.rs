//! Layouts of the BPF maps shared by the XDP program and nat64-ctl.
//!
//! `#[repr(C)]`, explicit padding and no bool/enum/Option so that both sides agree on
//! every byte; sizes are asserted at compile time. Ports and ICMP identifiers are stored in
//! host byte order (the data plane swaps once; userspace displays them as they are).
use crate::{rfc6052::Pool6, timeouts::Timeouts};

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
pub const MAP_SESSIONS: &str = "NAT64_SESSIONS";
pub const MAP_EVENTS: &str = "NAT64_EVENTS";
pub const MAP_SLOW: &str = "NAT64_SLOW";
pub const MAP_POOL4_PORTS: &str = "NAT64_POOL4_PORTS";
pub const MAP_HELD_SYNS: &str = "NAT64_HELD_SYNS";
pub const MAP_STATS: &str = "NAT64_STATS";
/// Port blocks (RFC 7422): `NAT64_BLOCK_CONFIG[0]` says how subscribers are numbered,
/// `NAT64_BLOCKS` holds each protocol's block per subscriber.
pub const MAP_BLOCK_CONFIG: &str = "NAT64_BLOCK_CONFIG";
pub const MAP_BLOCKS: &str = "NAT64_BLOCKS";
/// Port blocks on first use: each subscriber's block (`SubscriberBlock`, keyed by its
/// prefix), each block's subscriber (keyed by the block number), and the free block
/// numbers (a FIFO queue: a released block is handed out again last).
pub const MAP_SUBSCRIBER_BLOCKS: &str = "NAT64_SUBSCRIBER_BLOCKS";
pub const MAP_BLOCK_OWNERS: &str = "NAT64_BLOCK_OWNERS";
pub const MAP_FREE_BLOCKS: &str = "NAT64_FREE_BLOCKS";
/// The expiry sweep's own maps (`crate::sweep`): not pinned, each nat64-ctl has its own.
pub const MAP_SWEEP_SEEN: &str = "NAT64_SWEEP_SEEN";
pub const MAP_SWEEP_POOL4: &str = "NAT64_SWEEP_POOL4";

/// Most (pool4 address, port range) slots dynamic bindings of one protocol are spread over.
pub const POOL4_SLOTS_MAX: u32 = 256;

/// The protocols pool4 hands out ports (ICMP: echo identifiers) for, in the order of
/// `GatewayConfig::pool4_slots` and of the blocks of `NAT64_POOL4_SLOTS`.
pub const POOL4_PROTOS: [u8; 3] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP];

/// Index of `proto` in [`POOL4_PROTOS`] (ICMP as keyed in the BIB).
#[inline(always)]
pub const fn pool4_proto_index(proto: u8) -> Option<usize> {
    match proto {
        PROTO_TCP => Some(0),
        PROTO_UDP => Some(1),
        PROTO_ICMP => Some(2),
        _ => None,
    }
}

/// `NAT64_POOL4_SLOTS` holds one block of [`POOL4_SLOTS_MAX`] slots per protocol.
pub const POOL4_SLOTS_ENTRIES: u32 = POOL4_SLOTS_MAX * POOL4_PROTOS.len() as u32;

/// Index in `NAT64_POOL4_SLOTS` of the protocol's `i`-th slot.
#[inline(always)]
pub const fn pool4_slot_index(proto_index: usize, i: u32) -> u32 {
    proto_index as u32 * POOL4_SLOTS_MAX + i
}

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
    /// How many slots of each protocol's block of `NAT64_POOL4_SLOTS` are in use, in
    /// [`POOL4_PROTOS`] order; 0 disables dynamic bindings for that protocol. The fourth
    /// is padding, always zero.
    pub pool4_slots: [u16; 4],
    /// Session lifetimes. The data plane only stamps sessions; nat64-ctl's sweeper reads
    /// these, here so that `nat64-ctl timeouts set` reaches a running gateway.
    pub timeouts: Timeouts,
    /// RFC 7915 §4 "lowest IPv6 MTU": an IPv4 packet with DF=0 whose translation is
    /// larger than this is sent as IPv6 fragments no larger than it (by the slow path).
    /// At least 1280.
    pub lowest_ipv6_mtu: u32,
    // ---- ICMP errors the gateway originates (layout v3) ----
    /// Source of the ICMPv6 errors the gateway sends (its own IPv6 address); all zero:
    /// none are sent.
    pub icmp_src6: [u8; 16],
    /// Source of the ICMPv4 errors the gateway sends (its own IPv4 address); all zero:
    /// none are sent.
    pub icmp_src4: [u8; 4],
    /// RFC 6791 pool: IPv4 sources for translated ICMPv6 errors whose IPv6 source has no
    /// IPv4 form. `pool6791_len` 0: none configured (such errors are dropped).
    pub pool6791: [u8; 4],
    pub pool6791_len: u8,
    pub _pad6791: [u8; 3],
    /// Token bucket of originated errors, per CPU: tokens per second (0: send none) and
    /// bucket size.
    pub icmp_rate: u32,
    pub icmp_burst: u32,
}
const _: () = assert!(core::mem::size_of::<GatewayConfig>() == 92);

/// `NAT64_CONFIG[0]` in layout v1 (pinned by nat64-ctl before the lowest-ipv6-mtu and
/// ICMP error settings): [`GatewayConfig`]'s first fields.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayConfigV1 {
    pub pool6: Pool6,
    pub flags: u32,
    pub secret: u32,
    pub pool4_slots: [u16; 4],
    pub timeouts: Timeouts,
}
const _: () = assert!(core::mem::size_of::<GatewayConfigV1>() == 52);

impl From<GatewayConfigV1> for GatewayConfig {
    /// The settings v1 had keep their values (the port-choice secret above all: the running
    /// bindings were chosen with it); the later ones start at their defaults, as they did
    /// for the v1 gateway, until nat64-ctl applies its settings.
    fn from(v1: GatewayConfigV1) -> GatewayConfig {
        GatewayConfig {
            pool6: v1.pool6,
            flags: v1.flags,
            secret: v1.secret,
            pool4_slots: v1.pool4_slots,
            timeouts: v1.timeouts,
            lowest_ipv6_mtu: LOWEST_IPV6_MTU_DEFAULT,
            icmp_src6: [0; 16],
            icmp_src4: [0; 4],
            pool6791: [0; 4],
            pool6791_len: 0,
            _pad6791: [0; 3],
            icmp_rate: 0,
            icmp_burst: 0,
        }
    }
}

/// Default of [`GatewayConfig::lowest_ipv6_mtu`]: the IPv6 minimum MTU (RFC 8200 §5),
/// which every IPv6 path carries.
pub const LOWEST_IPV6_MTU_DEFAULT: u32 = 1280;

/// Translate non-global IPv4 addresses under the well-known prefix 64:ff9b::/96 although
/// RFC 6052 §3.1 forbids it (labs, or operators who know why).
pub const CONFIG_F_ALLOW_NONGLOBAL: u32 = 1 << 0;
/// Address-dependent filtering (RFC 4787 §5): an IPv4 packet may open a session on a
/// dynamic binding only if the binding's IPv6 host has a session with that IPv4 address.
/// Off by default (endpoint-independent filtering).
pub const CONFIG_F_ADDRESS_DEPENDENT_FILTERING: u32 = 1 << 1;

/// Send a [`SessionEvent`] for every session and dynamic binding the data plane creates
/// (nat64-ctl's `--session-log`). Off: no ring-buffer work at all.
pub const CONFIG_F_SESSION_EVENTS: u32 = 1 << 2;

/// nat64-ctl runs and drains `NAT64_SLOW`: packets XDP cannot handle alone (one IPv4
/// packet that must become several IPv6 fragments, IPv4 SYNs held for simultaneous open)
/// go there. Off: they are dropped and counted as before, never queued for nobody.
pub const CONFIG_F_SLOW_PATH: u32 = 1 << 3;

/// Answer a packet address-dependent filtering drops with an ICMPv4 Destination
/// Unreachable, communication administratively prohibited (RFC 6146 §3.5.2.2 MAY).
/// Off by default: the drop is silent.
pub const CONFIG_F_FILTERING_ICMP: u32 = 1 << 4;

/// `NAT64_POOL4` value, keyed by the IPv4 address (network byte order bytes). An IPv4
/// packet to an address not in this map is not ours and goes to the kernel untouched.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool4Entry {
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<Pool4Entry>() == 4);

/// `Pool4Entry::flags`: the address is one of the gateway's own (the single-address
/// gateway, whose one IPv4 address is its pool4). Its packets that no binding and no pool4
/// port range claims belong to the router's own services (sshd, BGP, DNS, ping) and go to
/// the kernel untouched; `NAT64_POOL4_PORTS` says which ports pool4 lends.
pub const POOL4_F_LOCAL: u32 = 1 << 0;

/// `NAT64_POOL4_PORTS` key: a pool4 address of the gateway's own and a protocol
/// (`PROTO_TCP`, `PROTO_UDP`, `PROTO_ICMP`). No entry: pool4 lends that protocol no port
/// on the address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool4PortsKey {
    pub addr4: [u8; 4],
    pub proto: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<Pool4PortsKey>() == 8);

/// `NAT64_HELD_SYNS` key: the source of an IPv4 SYN nat64-ctl holds for a simultaneous
/// open (RFC 6146 §3.5.2.2), i.e. the destination an IPv6 host's SYN names to meet it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeldSynKey {
    pub remote4: [u8; 4],
    pub remote_port: u16,
    pub _pad: u16,
}
const _: () = assert!(core::mem::size_of::<HeldSynKey>() == 8);

/// The pool4 transport address the held SYN was sent to: a new binding of a TCP flow to
/// the key takes it when it is free, so that the two SYNs meet. nat64-ctl writes an entry
/// only for a port in a TCP pool4 range of that address, and removes it when the SYN is
/// settled (matched, refused, or dropped).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeldSynTarget {
    pub addr4: [u8; 4],
    pub port4: u16,
    pub _pad: u16,
}
const _: () = assert!(core::mem::size_of::<HeldSynTarget>() == 8);

/// Held SYNs at most (nat64-ctl holds no more, `drop_held_syn_overflow`).
pub const HELD_SYNS_MAX: u32 = 1024;

/// Bytes of a [`Pool4Ports`] bitmap: one bit per port.
pub const POOL4_PORTS_BYTES: usize = 65536 / 8;

/// The ports (ICMP: echo identifiers) pool4 lends to dynamic bindings on one address and
/// protocol, as a bitmap (bit `port % 8` of byte `port / 8`): one lookup answers "is this
/// port the translator's" however many ranges the address has.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pool4Ports {
    pub bits: [u8; POOL4_PORTS_BYTES],
}
const _: () = assert!(core::mem::size_of::<Pool4Ports>() == POOL4_PORTS_BYTES);

impl Pool4Ports {
    pub const EMPTY: Pool4Ports = Pool4Ports {
        bits: [0; POOL4_PORTS_BYTES],
    };

    #[inline(always)]
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 3)] & (1 << (port & 7)) != 0
    }

    /// Adds the inclusive range `lo..=hi`.
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        for port in lo..=hi {
            self.bits[usize::from(port >> 3)] |= 1 << (port & 7);
        }
    }
}

impl core::fmt::Debug for Pool4Ports {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n: u32 = self.bits.iter().map(|b| b.count_ones()).sum();
        write!(f, "Pool4Ports({n} ports)")
    }
}

/// A `NAT64_POOL4_SLOTS` entry: a pool4 address and the port range dynamic bindings of
/// the slot's protocol take from it. One address may have several slots (ranges).
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bib6Key {
    pub addr6: [u8; 16],
    pub port6: u16,
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<Bib6Key>() == 20);

/// IPv4 side of a binding: (pool4 address, port or ICMP identifier, protocol).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// Both halves of one binding, as the IPv6-side and IPv4-side BIB hold them.
pub type BindingHalves = (Bib6Key, Bib6Entry, Bib4Key, Bib4Entry);

/// The BIB entries binding (`addr6`, `port6`) to (`addr4`, `port4`) for `proto`.
pub const fn binding_halves(
    (addr6, port6): ([u8; 16], u16),
    (addr4, port4): ([u8; 4], u16),
    proto: u8,
    flags: u16,
) -> BindingHalves {
    (
        Bib6Key {
            addr6,
            port6,
            proto,
            _pad: 0,
        },
        Bib6Entry {
            addr4,
            port4,
            flags,
        },
        Bib4Key {
            addr4,
            port4,
            proto,
            _pad: 0,
        },
        Bib4Entry {
            addr6,
            port6,
            flags,
        },
    )
}

/// Configured by the operator (`nat64-ctl bib add`), never expired.
pub const BIB_F_STATIC: u16 = 1 << 0;

/// `NAT64_SESSIONS` key: a flow as the IPv4 side sees it. The pool4 transport address
/// names the binding (and through `NAT64_BIB4` the IPv6 host), the remote IPv4 transport
/// address names the IPv6 side's destination through pool6, so one key serves lookups
/// from both directions. ICMP echo uses the identifier as both ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Pool4 address and port of the binding.
    pub addr4: [u8; 4],
    /// The IPv4 peer (the IPv6 side sees it under pool6).
    pub remote4: [u8; 4],
    pub port4: u16,
    pub remote_port: u16,
    pub proto: u8,
    /// `SESSION_KIND_*`.
    pub kind: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<SessionKey>() == 16);

/// A session proper.
pub const SESSION_KIND_FLOW: u8 = 0;
/// Address-dependent filtering's record that a binding's IPv6 host has talked to
/// `remote4` (any port; `remote_port` is 0). Created with the host's sessions while
/// filtering is on, deleted by the sweeper with the last of them.
pub const SESSION_KIND_PEER: u8 = 1;

/// `NAT64_SESSIONS` value. Written by the data plane, expired by nat64-ctl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// CLOCK_MONOTONIC (bpf_ktime_get_ns) of the last packet that refreshed the session,
    /// to within `timeouts::REFRESH_GRANULARITY_NS`.
    pub last_seen_ns: u64,
    /// `tcp::TCP_*` (TCP sessions only).
    pub tcp_state: u8,
    /// `SESSION_F_*`.
    pub flags: u8,
    pub _pad: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<SessionEntry>() == 16);

impl SessionEntry {
    /// Where in `_pad` a peer record keeps the last pass that found a live flow to its
    /// peer (`crate::sweep`): padding so far, zero in every entry written before.
    const SWEEP_STAMP: core::ops::Range<usize> = 2..6;

    /// The pass that last found a live flow needing this peer record; 0: none yet.
    #[inline(always)]
    pub const fn sweep_stamp(&self) -> u32 {
        let s = Self::SWEEP_STAMP.start;
        u32::from_le_bytes([
            self._pad[s],
            self._pad[s + 1],
            self._pad[s + 2],
            self._pad[s + 3],
        ])
    }

    #[inline(always)]
    pub fn set_sweep_stamp(&mut self, pass: u32) {
        self._pad[Self::SWEEP_STAMP].copy_from_slice(&pass.to_le_bytes());
    }
}

/// The session was opened by a packet from the IPv4 side.
pub const SESSION_F_FROM_V4: u8 = 1 << 0;

/// A record on the `NAT64_EVENTS` ring buffer: the data plane created a session or a
/// dynamic binding, or the expiry sweep deleted one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    /// CLOCK_MONOTONIC.
    pub time_ns: u64,
    /// The IPv6 transport address (bindings, deleted sessions; zero for new sessions, whose
    /// binding says it).
    pub addr6: [u8; 16],
    pub port6: u16,
    pub port4: u16,
    /// The IPv4 peer's port (sessions).
    pub remote_port: u16,
    pub proto: u8,
    /// `EVENT_*`.
    pub kind: u8,
    /// The pool4 address.
    pub addr4: [u8; 4],
    /// The IPv4 peer (sessions).
    pub remote4: [u8; 4],
}
const _: () = assert!(core::mem::size_of::<SessionEvent>() == 40);

pub const EVENT_SESSION_CREATED: u8 = 1;
pub const EVENT_BIB_CREATED: u8 = 2;
pub const EVENT_SESSION_DELETED: u8 = 3;
pub const EVENT_BIB_DELETED: u8 = 4;
/// Port blocks on first use: `addr6` is the subscriber's prefix, `port6` its length and
/// `remote4` the block number (big-endian); the pool4 ranges it stands for are the
/// control plane's to name.
pub const EVENT_BLOCK_ASSIGNED: u8 = 5;
pub const EVENT_BLOCK_RELEASED: u8 = 6;

/// `NAT64_SUBSCRIBER_BLOCKS` value: the block a subscriber took on first use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriberBlock {
    /// The block number, the same for every protocol (`NAT64_BLOCKS` index
    /// `proto_index × blocks + block`).
    pub block: u32,
    /// The last sweep pass that found a binding of the subscriber (0: the data plane has
    /// just used it; see `crate::sweep`).
    pub stamp: u32,
    /// CLOCK_MONOTONIC of the assignment.
    pub assigned_ns: u64,
}
const _: () = assert!(core::mem::size_of::<SubscriberBlock>() == 16);

/// Largest frame (Ethernet header included) the slow path takes: a 9000-byte jumbo IPv4
/// packet grows by 20 bytes when translated.
pub const SLOW_FRAME_MAX: usize = 9216;

/// `SlowPathHeader::kind`: the frame is a translated IPv6 packet (hop limit already
/// decremented) to be sent as fragments of at most `mtu` bytes; `ident` is the
/// Identification its Fragment headers get (RFC 7915 §4.1: the IPv4 one) unless it
/// already has a Fragment header.
pub const SLOW_KIND_FRAGMENT: u32 = 1;
/// `SlowPathHeader::kind`: the frame is an IPv4 TCP SYN to a pool4 transport address
/// with no binding, held for simultaneous open (RFC 6146 §3.5.2.2).
pub const SLOW_KIND_HELD_SYN: u32 = 2;
/// `SlowPathHeader::kind`: the frame is an IPv6 TCP SYN hairpinned to a pool4 transport
/// address with no binding (RFC 6146 §3.5.2.2 applied to §3.8), held like an IPv4 one. Its
/// sender's binding, the transport address it comes from once hairpinned, is in `mtu`
/// (the IPv4 address, in network byte order as memory holds it) and `ident` (the port).
pub const SLOW_KIND_HELD_SYN6: u32 = 3;

/// Start of a `NAT64_SLOW` record; `len` bytes of the frame follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowPathHeader {
    /// `SLOW_KIND_*`.
    pub kind: u32,
    /// Bytes of the frame that follow, starting with the Ethernet header.
    pub len: u32,
    /// Largest fragment to send (IPv6 header included); `SLOW_KIND_HELD_SYN6`: the
    /// sender's pool4 address.
    pub mtu: u32,
    /// Identification for added Fragment headers; `SLOW_KIND_HELD_SYN6`: the sender's
    /// pool4 port.
    pub ident: u32,
    /// CLOCK_MONOTONIC when the data plane queued it.
    pub time_ns: u64,
}
const _: () = assert!(core::mem::size_of::<SlowPathHeader>() == 24);

/// A whole `NAT64_SLOW` record as reserved on the ring (fixed size for the verifier).
#[repr(C)]
pub struct SlowPathRecord {
    pub header: SlowPathHeader,
    pub frame: [u8; SLOW_FRAME_MAX],
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain old data — repr(C), no padding holes (asserted sizes), any byte
    // pattern is a valid value.
    unsafe impl aya::Pod for super::GatewayConfig {}
    unsafe impl aya::Pod for super::GatewayConfigV1 {}
    unsafe impl aya::Pod for super::Pool4Entry {}
    unsafe impl aya::Pod for super::Pool4Slot {}
    unsafe impl aya::Pod for crate::block::PortBlockConfig {}
    unsafe impl aya::Pod for super::SubscriberBlock {}
    unsafe impl aya::Pod for super::Pool4PortsKey {}
    unsafe impl aya::Pod for super::HeldSynKey {}
    unsafe impl aya::Pod for super::HeldSynTarget {}
    unsafe impl aya::Pod for super::Pool4Ports {}
    unsafe impl aya::Pod for super::Bib6Key {}
    unsafe impl aya::Pod for super::Bib4Key {}
    unsafe impl aya::Pod for super::Bib6Entry {}
    unsafe impl aya::Pod for super::Bib4Entry {}
    unsafe impl aya::Pod for super::SessionKey {}
    unsafe impl aya::Pod for super::SessionEntry {}
    unsafe impl aya::Pod for super::SessionEvent {}
    unsafe impl aya::Pod for crate::sweep::SweepState {}
    unsafe impl aya::Pod for crate::sweep::Pool4UseKey {}
    unsafe impl aya::Pod for crate::sweep::Pool4Use {}
    unsafe impl aya::Pod for super::SlowPathHeader {}
    unsafe impl aya::Pod for crate::origin::TokenBucket {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_config_keeps_its_settings_and_secret_and_defaults_the_rest() {
        let v1 = GatewayConfigV1 {
            pool6: Pool6::WELL_KNOWN,
            flags: CONFIG_F_ADDRESS_DEPENDENT_FILTERING | CONFIG_F_SESSION_EVENTS,
            secret: 0xdead_beef,
            pool4_slots: [3, 2, 1, 0],
            timeouts: Timeouts::RFC_MIN,
        };
        let v2 = GatewayConfig::from(v1);
        assert_eq!(
            (v2.pool6, v2.flags, v2.secret, v2.pool4_slots, v2.timeouts),
            (v1.pool6, v1.flags, v1.secret, v1.pool4_slots, v1.timeouts)
        );
        assert_eq!(v2.lowest_ipv6_mtu, LOWEST_IPV6_MTU_DEFAULT);
        // No ICMP source: the v1 gateway sent no errors of its own either.
        assert_eq!(
            (v2.icmp_src6, v2.icmp_src4, v2.icmp_rate),
            ([0; 16], [0; 4], 0)
        );
        assert_eq!(v2.pool6791_len, 0);
    }
}

#[cfg(test)]
mod pool4_ports_tests {
    use super::*;

    #[test]
    fn ranges_set_exactly_their_ports() {
        let mut p = Pool4Ports::EMPTY;
        p.insert_range(61001, 65535);
        p.insert_range(1024, 1024);
        assert!(p.contains(61001) && p.contains(65535) && p.contains(62000));
        assert!(p.contains(1024));
        assert!(!p.contains(61000) && !p.contains(1023) && !p.contains(1025) && !p.contains(22));
        let n: u32 = p.bits.iter().map(|b| b.count_ones()).sum();
        assert_eq!(n, 65535 - 61001 + 1 + 1);
    }
}
