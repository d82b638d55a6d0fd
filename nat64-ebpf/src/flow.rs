//! A packet's flow as both directions see it: its ends named by role (the IPv6 host, its
//! binding on pool4, the IPv4 peer) rather than by source and destination, so that every
//! step that is the same on the way out and on the way back (sessions, fragment records,
//! the transport header's ports) is one function with the direction as a parameter.
//!
//! 6→4: source = the IPv6 host (`host6`, `host_port`) → the binding (`pool4`, `pool_port`);
//!      destination = the peer under pool6 (`peer6`) → the peer (`peer4`, `peer_port`).
//! 4→6: source = the peer (`peer4`, `peer_port`) → under pool6 (`peer6`);
//!      destination = the binding (`pool4`, `pool_port`) → the IPv6 host (`host6`, `host_port`).
use nat64_common::{
    csum,
    frag::{FragEntry, FragKey, Position},
    icmp::{self, Icmp4Action, Icmp6Action},
    maps::{SessionKey, PROTO_ICMP, PROTO_ICMPV6, SESSION_KIND_FLOW},
    tcp, xlat, Counter,
};

use crate::{
    frags,
    hook::Hook,
    l4::{self, Kind},
    parse::{pin, view},
    session,
    sum::SUM_MAX,
};

/// Transport headers start within this many bytes of the frame (Ethernet, IPv6 and the
/// extension headers we walk; Ethernet and IPv4 with options): the mask the verifier
/// needs on an offset read back from the stack.
const L4_OFF_MASK: usize = 0x1ff;
/// TCP header byte holding the flags (RFC 9293).
const TCP_FLAGS_BYTE: usize = 13;
/// Longest UDP datagram without a checksum whose IPv6 checksum we compute (the bound of
/// the data plane's checksum loop: a 1500-byte MTU).
const UDP_ZERO_CSUM_MAX: usize = SUM_MAX;

/// Which way a packet crosses the translator: a type parameter of every step written
/// once for both, like the hook. A type, not a field: the compiler resolves each branch on
/// it, so the verifier never walks the other direction's arm (a direction read from the
/// stack at run time doubled the states it explored after every such branch).
pub trait Direction {
    /// The packet comes from the IPv6 side (RFC 7915 §5); else from the IPv4 side (§4).
    const FROM_V6: bool;
}

/// IPv6 → IPv4.
pub enum SixToFour {}
impl Direction for SixToFour {
    const FROM_V6: bool = true;
}

/// IPv4 → IPv6.
pub enum FourToSix {}
impl Direction for FourToSix {
    const FROM_V6: bool = false;
}

/// What parsing decided about a packet: everything binding, tracking and rewriting need.
/// Kept small: it lives on the stack of the direction's entry while each step runs in a
/// frame of its own (the 512-byte BPF stack is shared by the whole call chain).
#[derive(Clone, Copy)]
pub struct Flow {
    /// The IPv6 host's address, and its port (or ICMP echo identifier).
    pub host6: [u8; 16],
    /// The IPv4 peer's address under pool6.
    pub peer6: [u8; 16],
    /// The host's binding: pool4 address and port (identifier).
    pub pool4: [u8; 4],
    /// The IPv4 peer.
    pub peer4: [u8; 4],
    pub l4_off: u16,
    pub l4_len: u16,
    pub host_port: u16,
    pub pool_port: u16,
    pub kind: Kind,
    /// The IPv4 protocol number (ICMPv6 is `PROTO_ICMP`): what BIB and session keys use.
    pub proto4: u8,
    /// The echo type the packet gets on the other side.
    pub echo_ty: u8,
    /// Traffic class / TOS.
    pub tos: u8,
    /// The packet may create a binding or session: UDP, a TCP SYN, an ICMP echo request.
    pub opens: u8,
    /// TCP flags byte (0 for UDP and ICMP).
    pub tcp_flags: u8,
    /// The peer's port (for echo: the identifier again, which stands for both ends,
    /// RFC 6146 §3.5.3).
    pub peer_port: u16,
    pub counter: Counter,
    /// Where the packet sits in its datagram, and its fragment fields.
    pub pos: Position,
    // 6→4 only: the IPv6 Fragment header's M flag and offset.
    pub frag_more: u8,
    pub frag_offset: u16,
    pub frag_id: u32,
    // 4→6 only.
    /// IPv4 header length in bytes.
    pub ihl: u8,
    pub ttl: u8,
    /// Address-dependent filtering applies to this packet (see session::Track).
    pub filter: u8,
    /// The DF flag: 0 lets the translator fragment (RFC 7915 §4).
    pub df: u8,
    /// IPv4 Identification, for the Fragment headers of a DF=0 packet split up.
    pub ident: u16,
    /// IPv4 Flags/Fragment Offset word.
    pub frag_fo: u16,
    /// The destination is one of the gateway's own addresses (`POOL4_F_LOCAL`).
    pub local: u8,
}

impl Flow {
    pub const fn new(counter: Counter) -> Flow {
        Flow {
            host6: [0; 16],
            host_port: 0,
            pool4: [0; 4],
            pool_port: 0,
            peer4: [0; 4],
            peer6: [0; 16],
            peer_port: 0,
            l4_off: 0,
            l4_len: 0,
            kind: Kind::Udp,
            proto4: 0,
            echo_ty: 0,
            tos: 0,
            opens: 0,
            tcp_flags: 0,
            counter,
            pos: Position::Whole,
            frag_id: 0,
            frag_more: 0,
            frag_offset: 0,
            ihl: 0,
            ttl: 0,
            filter: 0,
            df: 0,
            ident: 0,
            frag_fo: 0,
            local: 0,
        }
    }

    /// The IPv6 Next Header the transport protocol has (ICMP is ICMPv6 there).
    #[inline(always)]
    pub fn nh6(&self) -> u8 {
        if self.proto4 == PROTO_ICMP {
            PROTO_ICMPV6
        } else {
            self.proto4
        }
    }

    /// The session key: the same flow seen from either side (RFC 6146 §3.5).
    #[inline(always)]
    pub fn session_key(&self) -> SessionKey {
        SessionKey {
            addr4: self.pool4,
            remote4: self.peer4,
            port4: self.pool_port,
            remote_port: self.peer_port,
            proto: self.proto4,
            kind: SESSION_KIND_FLOW,
            _pad: [0; 2],
        }
    }

    /// The key of the fragment record: the datagram as it arrived.
    #[inline(always)]
    fn frag_key<D: Direction>(&self) -> FragKey {
        if D::FROM_V6 {
            FragKey::v6(self.host6, self.peer6, self.frag_id, self.proto4)
        } else {
            FragKey::v4(self.peer4, self.pool4, self.frag_id as u16, self.proto4)
        }
    }
}

/// Finds or opens the flow's session (both directions; hairpinning adds its second leg).
#[inline(never)]
pub fn track<D: Direction>(flow: &Flow) -> Result<(), Counter> {
    session::track(&session::Track {
        key: flow.session_key(),
        tcp_flags: flow.tcp_flags,
        from_v6: u8::from(D::FROM_V6),
        opens: flow.opens,
        filter: flow.filter,
    })
}

/// A first fragment's translation, for the later fragments of its datagram: the
/// addresses it left with.
#[inline(never)]
pub fn remember<D: Direction>(flow: &Flow) {
    let entry = if D::FROM_V6 {
        FragEntry::v4(frags::now(), flow.pool4, flow.peer4)
    } else {
        FragEntry::v6(frags::now(), flow.peer6, flow.host6)
    };
    frags::remember(&flow.frag_key::<D>(), &entry);
}

/// A later fragment takes its addresses from its first fragment's record. It touches
/// no binding and no session: it has no ports, and refreshes nothing.
#[inline(never)]
pub fn follow<D: Direction>(flow: &mut Flow) -> Result<(), Counter> {
    let e = frags::find(&flow.frag_key::<D>()).ok_or(Counter::DropFragmentOutOfOrder)?;
    if D::FROM_V6 {
        flow.pool4 = e.src4();
        flow.peer4 = e.dst4();
    } else {
        flow.peer6 = e.src;
        flow.host6 = e.dst;
    }
    Ok(())
}

/// What the transport header turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP, UDP or an ICMP echo: ports (identifier), flags and `opens` are set.
    Ports,
    /// An ICMP error: `icmp_err` translates it with the packet it quotes.
    IcmpError,
}

/// Reads the transport header at `flow.l4_off`, both directions: the ports (or the echo
/// identifier) into the ends they belong to, the TCP flags, whether the packet may open a
/// flow, the echo type it gets on the other side. `doff` gets the TCP data offset byte,
/// for `l4::check` once the hop limit has been looked at.
#[inline(never)]
pub fn read_transport<D: Direction>(
    ctx: &impl Hook,
    flow: &mut Flow,
    doff: &mut u8,
) -> Result<Transport, Counter> {
    pin(ctx);
    let l4_off = flow.l4_off as usize & L4_OFF_MASK;
    let (sport, dport) = match flow.kind {
        Kind::Tcp => {
            let h: &[u8; 20] = view(ctx, l4_off).ok_or(Counter::DropTruncatedL4)?;
            flow.tcp_flags = h[TCP_FLAGS_BYTE];
            flow.opens = u8::from(h[TCP_FLAGS_BYTE] & tcp::SYN != 0);
            *doff = h[xlat::TCP_DOFF_BYTE];
            (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            )
        }
        Kind::Udp => {
            let h: &[u8; 8] = view(ctx, l4_off).ok_or(Counter::DropTruncatedL4)?;
            // IPv6 forbids a missing checksum: one must be computed (xlat46::rewrite_l4),
            // which the data plane can do only up to a bound.
            if !D::FROM_V6 && h[6] == 0 && h[7] == 0 && flow.l4_len as usize > UDP_ZERO_CSUM_MAX {
                return Err(Counter::DropUdpZeroChecksumTooLong);
            }
            flow.opens = 1;
            (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            )
        }
        Kind::IcmpEcho => {
            let h: &[u8; 8] = view(ctx, l4_off).ok_or(Counter::DropTruncatedL4)?;
            let (echo, request) = if D::FROM_V6 {
                match icmp::icmp6_to_icmp4(h[0], h[1]) {
                    Icmp6Action::Echo { ty4 } => (ty4, icmp::ICMPV6_ECHO_REQUEST),
                    Icmp6Action::Error { .. } => return Ok(Transport::IcmpError),
                    Icmp6Action::Drop(_) => return Err(Counter::DropIcmp6Unsupported),
                }
            } else {
                match icmp::icmp4_to_icmp6(h[0], h[1]) {
                    Icmp4Action::Echo { ty6 } => (ty6, icmp::ICMPV4_ECHO_REQUEST),
                    Icmp4Action::Error { .. } => return Ok(Transport::IcmpError),
                    Icmp4Action::Drop(_) => return Err(Counter::DropIcmp4Unsupported),
                }
            };
            flow.echo_ty = echo;
            flow.opens = u8::from(h[0] == request);
            // The identifier stands for the ports of both ends (RFC 6146 §3.5.3).
            let id = u16::from_be_bytes([h[4], h[5]]);
            (id, id)
        }
    };
    if D::FROM_V6 {
        flow.host_port = sport;
        flow.peer_port = dport;
    } else {
        flow.peer_port = sport;
        flow.pool_port = dport;
    }
    Ok(Transport::Ports)
}

/// Rewrites the transport header for the other side, both directions: the IPv6 host's
/// port becomes its binding's (6→4, the source) or the binding's the host's (4→6, the
/// destination); the checksum loses the addresses of the side left and gains those of
/// the side entered (for echo: the ICMPv6 pseudo-header, which ICMPv4 has not); an echo
/// gets the other family's type. A wrong checksum stays wrong by the same amount.
#[inline(never)]
pub fn rewrite_transport<D: Direction>(ctx: &impl Hook, flow: &Flow) -> Result<(), Counter> {
    pin(ctx);
    let l4_off = flow.l4_off as usize & L4_OFF_MASK;
    let (v6, v4) = csum::family_sums(
        flow.kind == Kind::IcmpEcho,
        &flow.host6,
        &flow.peer6,
        &flow.pool4,
        &flow.peer4,
        u32::from(flow.l4_len),
    );
    let header = l4::Header::Own;
    if D::FROM_V6 {
        let ports = (flow.host_port, flow.pool_port);
        l4::rewrite::<true>(
            ctx,
            l4_off,
            flow.kind,
            ports,
            (v6, v4),
            flow.echo_ty,
            header,
        )
    } else {
        let ports = (flow.pool_port, flow.host_port);
        l4::rewrite::<false>(
            ctx,
            l4_off,
            flow.kind,
            ports,
            (v4, v6),
            flow.echo_ty,
            header,
        )
    }
}
