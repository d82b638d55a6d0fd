//! Protocol numbers and the header layout the control plane reads and writes: a leaf
//! module (it uses nothing else from this crate), so that config, pool4, sessions, metrics,
//! status and the slow path can all use it without depending on one another. The protocol
//! numbers themselves are the data plane's (`nat64_common::maps`), which keys its maps
//! with them; they double as IPv4 protocol and IPv6 next-header values.
use anyhow::{bail, Result};
pub use nat64_common::maps::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
pub use nat64_common::xlat::{IPV4_HDR_LEN, IPV6_HDR_LEN};

/// Ethernet header ahead of the packets the data plane hands to the slow path.
pub const ETH_HLEN: usize = 14;
/// IPv6 header fields (RFC 8200 §3): payload length, next header, source, destination.
pub const IPV6_PAYLOAD_LEN_AT: usize = 4;
pub const IPV6_NEXT_HEADER_AT: usize = 6;
pub const IPV6_SRC_AT: usize = 8;
pub const IPV6_DST_AT: usize = 24;
/// IPv4 destination address (RFC 791 §3.1).
pub const IPV4_DST_AT: usize = 16;
/// Checksum fields in the TCP (RFC 9293 §3.1) and UDP (RFC 768) headers.
pub const TCP_CSUM_AT: usize = 16;
pub const UDP_CSUM_AT: usize = 6;

/// A transport protocol the gateway translates and keeps state for (ICMP as keyed in the
/// BIB and session tables: the IPv4 number, for both families).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Proto {
    Tcp = PROTO_TCP,
    Udp = PROTO_UDP,
    Icmp = PROTO_ICMP,
}

impl Proto {
    /// The number the maps key on.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The protocol a map key's number stands for, if it is one of the three.
    pub const fn from_number(p: u8) -> Option<Proto> {
        match p {
            PROTO_TCP => Some(Proto::Tcp),
            PROTO_UDP => Some(Proto::Udp),
            PROTO_ICMP => Some(Proto::Icmp),
            _ => None,
        }
    }

    /// How the CLI, the config file and every report spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

impl std::str::FromStr for Proto {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Proto> {
        Ok(match s {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            _ => bail!("protocol {s:?}: expected tcp, udp or icmp"),
        })
    }
}

/// `tcp`, `udp` or `icmp` as the number the maps key on.
pub fn parse_proto(s: &str) -> Result<u8> {
    Ok(s.parse::<Proto>()?.number())
}

/// The name of a map key's protocol number, `?` for one the gateway does not keep.
pub fn proto_name(p: u8) -> &'static str {
    Proto::from_number(p).map_or("?", Proto::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for (name, number) in [("tcp", 6), ("udp", 17), ("icmp", 1)] {
            let p: Proto = name.parse().unwrap();
            assert_eq!(p.number(), number);
            assert_eq!(Proto::from_number(number), Some(p));
            assert_eq!(proto_name(number), name);
            assert_eq!(parse_proto(name).unwrap(), number);
        }
        assert_eq!(proto_name(PROTO_ICMPV6), "?");
        assert_eq!(
            format!("{:#}", parse_proto("sctp").unwrap_err()),
            "protocol \"sctp\": expected tcp, udp or icmp"
        );
    }
}
