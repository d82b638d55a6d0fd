//! Deterministic port blocks (RFC 7422) as the operator configures them: `--port-block-size
//! M --subscribers PREFIX --subscriber-prefix-len L` give every /L of PREFIX one block of M
//! ports per protocol, computed by `nat64_common::block`. This side checks that pool4 has
//! a block for every subscriber, writes the tables the data plane reads, and answers
//! "which subscriber had ADDR:PORT" and "which block is this subscriber's".
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use ipnet::Ipv6Net;
use nat64_common::{
    block::{self, PortBlockConfig, SUBSCRIBER_BITS_MAX},
    maps::{Pool4Slot, POOL4_PROTOS},
};

use crate::{pool4::Pool4Slots, wire::proto_name};

/// Default `--subscriber-prefix-len`: a subscriber's LAN.
pub const DEFAULT_SUBSCRIBER_LEN: u8 = 64;

/// The port-block settings, validated on their own; [`PortBlocks::check`] holds them
/// against pool4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBlocks {
    pub size: u16,
    pub subscribers: Ipv6Net,
    pub subscriber_len: u8,
}

/// The option names as the operator wrote them (`--port-block-size` or `port-block-size`).
pub struct Names {
    pub size: &'static str,
    pub subscribers: &'static str,
    pub subscriber_len: &'static str,
}

impl Names {
    pub const CLI: Names = Names {
        size: "--port-block-size",
        subscribers: "--subscribers",
        subscriber_len: "--subscriber-prefix-len",
    };
    pub const FILE: Names = Names {
        size: "port-block-size",
        subscribers: "subscribers",
        subscriber_len: "subscriber-prefix-len",
    };
}

impl PortBlocks {
    /// From the three options; all absent is `None` (port blocks off).
    pub fn from_options(
        size: Option<u16>,
        subscribers: Option<&str>,
        subscriber_len: Option<u8>,
        n: &Names,
    ) -> Result<Option<PortBlocks>> {
        let (size, subscribers) = match (size, subscribers) {
            (None, None) => {
                if let Some(l) = subscriber_len {
                    bail!(
                        "{} {l}: needs {} and {}",
                        n.subscriber_len,
                        n.size,
                        n.subscribers
                    );
                }
                return Ok(None);
            }
            (Some(m), None) => bail!(
                "{} {m}: needs {} PREFIX, the IPv6 range whose subscribers get a block each \
                 (blocks handed out on first use, without a range, are not implemented)",
                n.size,
                n.subscribers
            ),
            (None, Some(p)) => bail!("{} {p}: needs {} N", n.subscribers, n.size),
            (Some(m), Some(p)) => (m, p),
        };
        if size == 0 {
            bail!("{} 0: a block needs at least one port", n.size);
        }
        let net: Ipv6Net = subscribers.parse().with_context(|| {
            format!(
                "{} {subscribers:?}: not an IPv6 prefix (ADDR/LEN)",
                n.subscribers
            )
        })?;
        if net.network() != net.addr() {
            bail!(
                "{} {subscribers}: has bits set past /{} (did you mean {}?)",
                n.subscribers,
                net.prefix_len(),
                net.trunc()
            );
        }
        let l = subscriber_len.unwrap_or(DEFAULT_SUBSCRIBER_LEN);
        if l > 128 || l < net.prefix_len() {
            bail!(
                "{} {l}: must be between the range's /{} and 128",
                n.subscriber_len,
                net.prefix_len()
            );
        }
        if l - net.prefix_len() > SUBSCRIBER_BITS_MAX {
            bail!(
                "{} {subscribers} with {} {l}: 2^{} subscribers, more than the 2^{SUBSCRIBER_BITS_MAX} \
                 one gateway numbers (split the range over several gateways)",
                n.subscribers,
                n.subscriber_len,
                l - net.prefix_len()
            );
        }
        Ok(Some(PortBlocks {
            size,
            subscribers: net,
            subscriber_len: l,
        }))
    }

    pub fn subscriber_count(&self) -> u32 {
        1 << (self.subscriber_len - self.subscribers.prefix_len())
    }

    /// What the data plane reads from `NAT64_BLOCK_CONFIG`.
    pub fn config(&self) -> PortBlockConfig {
        PortBlockConfig {
            range6: self.subscribers.network().octets(),
            range_len: self.subscribers.prefix_len(),
            subscriber_len: self.subscriber_len,
            block_size: self.size.into(),
            subscribers: self.subscriber_count(),
            ..PortBlockConfig::default()
        }
    }

    /// Every protocol pool4 serves must have a block for every subscriber: a subscriber
    /// without one could open no flow at all.
    pub fn check(&self, pool4: &Pool4Slots, n: &Names) -> Result<()> {
        let need = self.subscriber_count();
        for (i, slots) in pool4.0.iter().enumerate() {
            if slots.is_empty() {
                continue;
            }
            let have = block::block_count(slots, self.size.into());
            if have < need {
                bail!(
                    "{} {}: pool4 has {have} {} blocks of that size, but {} {} with {} {} \
                     has {need} subscribers (a smaller block, more pool4 addresses or a \
                     longer subscriber prefix would do)",
                    n.size,
                    self.size,
                    proto_name(POOL4_PROTOS[i]),
                    n.subscribers,
                    self.subscribers,
                    n.subscriber_len,
                    self.subscriber_len
                );
            }
        }
        Ok(())
    }

    /// `NAT64_BLOCKS` entries: (index, block) for every protocol with pool4 and every
    /// subscriber.
    pub fn table(&self, pool4: &Pool4Slots) -> Vec<(u32, Pool4Slot)> {
        let subs = self.subscriber_count();
        let mut out = Vec::new();
        for (i, slots) in pool4.0.iter().enumerate() {
            for k in 0..subs {
                if let Some(b) = block::nth_block(slots, self.size.into(), k) {
                    out.push((block::block_index(i, subs, k), b));
                }
            }
        }
        out
    }

    /// The subscriber prefix `k` stands for.
    pub fn prefix(&self, k: u32) -> Ipv6Net {
        let p = block::subscriber_prefix(&self.config(), k);
        Ipv6Net::new(Ipv6Addr::from(p), self.subscriber_len).expect("a valid length")
    }

    /// The subscriber (number and prefix) holding `addr4`:`port` of `proto`, if that port
    /// lies in a subscriber's block.
    pub fn owner(
        &self,
        pool4: &Pool4Slots,
        proto_index: usize,
        addr4: Ipv4Addr,
        port: u16,
    ) -> Option<(u32, Ipv6Net)> {
        let k = block::block_of(
            &pool4.0[proto_index],
            self.size.into(),
            addr4.octets(),
            port,
        )?;
        (k < self.subscriber_count()).then(|| (k, self.prefix(k)))
    }

    /// A subscriber's number and its block of `proto`, for any address inside its prefix.
    pub fn block_for(
        &self,
        pool4: &Pool4Slots,
        proto_index: usize,
        addr6: Ipv6Addr,
    ) -> Option<(u32, Pool4Slot)> {
        let k = block::subscriber_index(&self.config(), &addr6.octets())?;
        let b = block::nth_block(&pool4.0[proto_index], self.size.into(), k)?;
        Some((k, b))
    }
}

/// `NAT64_BLOCK_CONFIG` read back: `None` while port blocks are off.
pub fn from_config(c: &PortBlockConfig) -> Option<PortBlocks> {
    if c.block_size == 0 {
        return None;
    }
    Some(PortBlocks {
        size: c.block_size as u16,
        subscribers: Ipv6Net::new(Ipv6Addr::from(c.range6), c.range_len).ok()?,
        subscriber_len: c.subscriber_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool4::Pool4Group;

    fn pool(addrs: &[&str], ports: &str) -> Pool4Slots {
        let a: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
        Pool4Slots::from_groups(&[Pool4Group::parse(&a, Some(ports), None).unwrap()], "t").unwrap()
    }

    fn err(size: Option<u16>, subs: Option<&str>, len: Option<u8>) -> String {
        format!(
            "{:#}",
            PortBlocks::from_options(size, subs, len, &Names::CLI).unwrap_err()
        )
    }

    #[test]
    fn bad_options_name_the_flag_and_the_reason() {
        assert!(
            err(Some(2016), None, None).starts_with("--port-block-size 2016: needs --subscribers")
        );
        assert!(err(None, Some("2001:db8::/56"), None)
            .starts_with("--subscribers 2001:db8::/56: needs --port-block-size"));
        assert!(err(Some(0), Some("2001:db8::/56"), None).contains("at least one port"));
        assert!(err(Some(9), Some("2001:db8::1/56"), None).contains("did you mean 2001:db8::/56"));
        assert!(err(Some(9), Some("192.0.2.0/24"), None).contains("not an IPv6 prefix"));
        assert!(
            err(Some(9), Some("2001:db8::/56"), Some(48)).starts_with("--subscriber-prefix-len 48")
        );
        assert!(err(Some(9), Some("2001:db8::/32"), Some(64)).contains("2^32 subscribers"));
        assert!(err(None, None, Some(56)).contains("needs --port-block-size"));
        assert_eq!(
            PortBlocks::from_options(None, None, None, &Names::CLI).unwrap(),
            None
        );
    }

    #[test]
    fn pool4_must_hold_a_block_per_subscriber() {
        let b = PortBlocks::from_options(Some(2016), Some("2001:db8:0:40::/58"), None, &Names::CLI)
            .unwrap()
            .unwrap();
        assert_eq!(b.subscriber_count(), 64);
        b.check(
            &pool(&["192.0.2.1", "192.0.2.2"], "1024-65535"),
            &Names::CLI,
        )
        .unwrap();
        let e = format!(
            "{:#}",
            b.check(&pool(&["192.0.2.1"], "1024-65535"), &Names::FILE)
                .unwrap_err()
        );
        assert!(
            e.starts_with("port-block-size 2016: pool4 has 32 tcp blocks of that size, but subscribers 2001:db8:0:40::/58 with subscriber-prefix-len 64 has 64 subscribers"),
            "{e}"
        );
    }

    #[test]
    fn table_owner_and_block_agree() {
        let b = PortBlocks::from_options(Some(2016), Some("2001:db8:0:40::/58"), None, &Names::CLI)
            .unwrap()
            .unwrap();
        let p = pool(&["192.0.2.1", "192.0.2.2"], "1024-65535");
        let t = b.table(&p);
        assert_eq!(t.len(), 3 * 64, "three protocols");
        let host: Ipv6Addr = "2001:db8:0:61::7".parse().unwrap();
        let (k, blk) = b.block_for(&p, 1, host).unwrap();
        assert_eq!(k, 33);
        assert_eq!(
            (Ipv4Addr::from(blk.addr4), blk.port_lo, blk.port_hi),
            ("192.0.2.2".parse().unwrap(), 3040, 5055)
        );
        assert!(t.contains(&(block::block_index(1, 64, 33), blk)));
        let (ko, prefix) = b.owner(&p, 1, "192.0.2.2".parse().unwrap(), 4000).unwrap();
        assert_eq!(
            (ko, prefix.to_string()),
            (33, "2001:db8:0:61::/64".to_string())
        );
        assert_eq!(b.owner(&p, 1, "192.0.2.2".parse().unwrap(), 1000), None);
        assert_eq!(from_config(&b.config()), Some(b));
    }
}
