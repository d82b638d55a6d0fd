//! Port blocks as the operator configures them. Deterministic (RFC 7422, the default):
//! `--port-block-size M --subscribers PREFIX --subscriber-prefix-len L` give every /L of
//! PREFIX one block of M ports per protocol, computed by `nat64_common::block`; this side
//! checks that pool4 has a block for every subscriber, writes the tables the data plane
//! reads, and answers "which subscriber had ADDR:PORT" and "which block is this
//! subscriber's". On first use (`--port-block-allocation dynamic`, RFC 6888 REQ-4/5
//! style): pool4 is cut into blocks the same way, and a subscriber (any /L of PREFIX,
//! default every source) takes a free block number on its first binding; who holds a
//! block is then in the running gateway's tables and the session log, not a function.
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use ipnet::Ipv6Net;
use nat64_common::{
    block::{
        self, PortBlockConfig, ALLOCATION_DETERMINISTIC, ALLOCATION_DYNAMIC, DYNAMIC_BLOCKS_MAX,
        SUBSCRIBER_BITS_MAX,
    },
    maps::{Pool4Slot, POOL4_PROTOS},
};

use crate::{pool4::Pool4Slots, wire::proto_name};

/// Default `--subscriber-prefix-len`: a subscriber's LAN.
pub const DEFAULT_SUBSCRIBER_LEN: u8 = 64;

/// `--port-block-allocation`: how a subscriber's block is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocation {
    /// Computed from the subscriber's prefix (RFC 7422 §2): every subscriber of the range
    /// has its block whether it uses it or not.
    #[default]
    Deterministic,
    /// A free block on the subscriber's first binding, given back when its last binding
    /// has gone: pool4 needs blocks only for the subscribers active at once.
    Dynamic,
}

impl Allocation {
    fn name(self) -> &'static str {
        match self {
            Allocation::Deterministic => "deterministic",
            Allocation::Dynamic => "dynamic",
        }
    }
}

/// The port-block settings, validated on their own; [`PortBlocks::check`] holds them
/// against pool4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBlocks {
    pub size: u16,
    pub subscribers: Ipv6Net,
    pub subscriber_len: u8,
    pub allocation: Allocation,
}

/// The option names as the operator wrote them (`--port-block-size` or `port-block-size`).
pub struct Names {
    pub size: &'static str,
    pub subscribers: &'static str,
    pub subscriber_len: &'static str,
    pub allocation: &'static str,
}

impl Names {
    pub const CLI: Names = Names {
        size: "--port-block-size",
        subscribers: "--subscribers",
        subscriber_len: "--subscriber-prefix-len",
        allocation: "--port-block-allocation",
    };
    pub const FILE: Names = Names {
        size: "port-block-size",
        subscribers: "subscribers",
        subscriber_len: "subscriber-prefix-len",
        allocation: "port-block-allocation",
    };
}

impl PortBlocks {
    /// From the four options; all absent is `None` (port blocks off).
    pub fn from_options(
        size: Option<u16>,
        subscribers: Option<&str>,
        subscriber_len: Option<u8>,
        allocation: Option<Allocation>,
        n: &Names,
    ) -> Result<Option<PortBlocks>> {
        let dynamic = allocation == Some(Allocation::Dynamic);
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
                if let Some(a) = allocation {
                    bail!("{} {}: needs {} N", n.allocation, a.name(), n.size);
                }
                return Ok(None);
            }
            // On first use every source is a subscriber unless a range says otherwise.
            (Some(m), None) if dynamic => (m, "::/0"),
            (Some(m), None) => bail!(
                "{} {m}: needs {} PREFIX, the IPv6 range whose subscribers get a block each \
                 (or {} dynamic, for blocks handed out on first use)",
                n.size,
                n.subscribers,
                n.allocation
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
        if !dynamic && l - net.prefix_len() > SUBSCRIBER_BITS_MAX {
            bail!(
                "{} {subscribers} with {} {l}: 2^{} subscribers, more than the 2^{SUBSCRIBER_BITS_MAX} \
                 one gateway numbers (split the range over several gateways, or hand blocks \
                 out on first use with {} dynamic)",
                n.subscribers,
                n.subscriber_len,
                l - net.prefix_len(),
                n.allocation
            );
        }
        Ok(Some(PortBlocks {
            size,
            subscribers: net,
            subscriber_len: l,
            allocation: allocation.unwrap_or_default(),
        }))
    }

    pub fn is_dynamic(&self) -> bool {
        self.allocation == Allocation::Dynamic
    }

    /// Deterministic: the subscribers of the range (each has a block).
    pub fn subscriber_count(&self) -> u32 {
        1 << (self.subscriber_len - self.subscribers.prefix_len())
    }

    /// The blocks each protocol has in `NAT64_BLOCKS`: one per subscriber, or on first use
    /// the fewest any protocol with pool4 has (every block number stands for a block of
    /// each protocol).
    pub fn blocks_per_protocol(&self, pool4: &Pool4Slots) -> u32 {
        if !self.is_dynamic() {
            return self.subscriber_count();
        }
        pool4
            .0
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| block::block_count(s, self.size.into()))
            .min()
            .unwrap_or(0)
            .min(DYNAMIC_BLOCKS_MAX)
    }

    /// Entries `NAT64_BLOCKS` needs.
    pub fn table_entries(&self, pool4: &Pool4Slots) -> u32 {
        block::table_entries(self.blocks_per_protocol(pool4))
    }

    /// How subscribers are numbered, without the block count (the numbering alone).
    fn numbering(&self) -> PortBlockConfig {
        PortBlockConfig {
            range6: self.subscribers.network().octets(),
            range_len: self.subscribers.prefix_len(),
            subscriber_len: self.subscriber_len,
            allocation: match self.allocation {
                Allocation::Deterministic => ALLOCATION_DETERMINISTIC,
                Allocation::Dynamic => ALLOCATION_DYNAMIC,
            },
            block_size: self.size.into(),
            subscribers: if self.is_dynamic() {
                0
            } else {
                self.subscriber_count()
            },
            ..PortBlockConfig::default()
        }
    }

    /// What the data plane reads from `NAT64_BLOCK_CONFIG`.
    pub fn config(&self, pool4: &Pool4Slots) -> PortBlockConfig {
        PortBlockConfig {
            subscribers: self.blocks_per_protocol(pool4),
            ..self.numbering()
        }
    }

    /// Every protocol pool4 serves must have a block for every subscriber (deterministic),
    /// or at least one (on first use): a subscriber without one could open no flow at all.
    pub fn check(&self, pool4: &Pool4Slots, n: &Names) -> Result<()> {
        if self.is_dynamic() {
            return self.check_dynamic(pool4, n);
        }
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

    fn check_dynamic(&self, pool4: &Pool4Slots, n: &Names) -> Result<()> {
        for (i, slots) in pool4.0.iter().enumerate() {
            if !slots.is_empty() && block::block_count(slots, self.size.into()) == 0 {
                bail!(
                    "{} {}: no {} range of pool4 holds a whole block of that size",
                    n.size,
                    self.size,
                    proto_name(POOL4_PROTOS[i])
                );
            }
        }
        let most = pool4
            .0
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| block::block_count(s, self.size.into()))
            .min()
            .unwrap_or(0);
        if most > DYNAMIC_BLOCKS_MAX {
            bail!(
                "{} {}: pool4 makes {most} blocks of that size, more than the \
                 {DYNAMIC_BLOCKS_MAX} allocation on first use keeps (a larger block would do)",
                n.size,
                self.size
            );
        }
        Ok(())
    }

    /// `NAT64_BLOCKS` entries: (index, block) for every protocol with pool4 and every
    /// subscriber (or block number, on first use).
    pub fn table(&self, pool4: &Pool4Slots) -> Vec<(u32, Pool4Slot)> {
        let subs = self.blocks_per_protocol(pool4);
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

    /// The subscriber prefix `k` stands for (deterministic).
    pub fn prefix(&self, k: u32) -> Ipv6Net {
        let p = block::subscriber_prefix(&self.numbering(), k);
        Ipv6Net::new(Ipv6Addr::from(p), self.subscriber_len).expect("a valid length")
    }

    /// The block number holding `addr4`:`port` of `proto`, if that port lies in a block.
    pub fn block_number(
        &self,
        pool4: &Pool4Slots,
        proto_index: usize,
        addr4: Ipv4Addr,
        port: u16,
    ) -> Option<u32> {
        let k = block::block_of(
            &pool4.0[proto_index],
            self.size.into(),
            addr4.octets(),
            port,
        )?;
        (k < self.blocks_per_protocol(pool4)).then_some(k)
    }

    /// The subscriber (number and prefix) holding `addr4`:`port` of `proto`, if that port
    /// lies in a subscriber's block (deterministic: on first use, the running gateway's
    /// tables say who holds a block).
    pub fn owner(
        &self,
        pool4: &Pool4Slots,
        proto_index: usize,
        addr4: Ipv4Addr,
        port: u16,
    ) -> Option<(u32, Ipv6Net)> {
        if self.is_dynamic() {
            return None;
        }
        let k = self.block_number(pool4, proto_index, addr4, port)?;
        Some((k, self.prefix(k)))
    }

    /// The /L subscriber prefix `addr6` belongs to, if it lies in the range.
    pub fn subscriber_of(&self, addr6: Ipv6Addr) -> Option<Ipv6Net> {
        let p = block::subscriber_of(&self.numbering(), &addr6.octets())?;
        Ipv6Net::new(Ipv6Addr::from(p), self.subscriber_len).ok()
    }

    /// A subscriber's number and its block of `proto`, for any address inside its prefix
    /// (deterministic).
    pub fn block_for(
        &self,
        pool4: &Pool4Slots,
        proto_index: usize,
        addr6: Ipv6Addr,
    ) -> Option<(u32, Pool4Slot)> {
        if self.is_dynamic() {
            return None;
        }
        let k = block::subscriber_index(&self.numbering(), &addr6.octets())?;
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
        allocation: if c.allocation == ALLOCATION_DYNAMIC {
            Allocation::Dynamic
        } else {
            Allocation::Deterministic
        },
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
            PortBlocks::from_options(size, subs, len, None, &Names::CLI).unwrap_err()
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
            PortBlocks::from_options(None, None, None, None, &Names::CLI).unwrap(),
            None
        );
    }

    #[test]
    fn blocks_on_first_use_need_no_range_and_count_the_fewest_blocks() {
        let dynamic = Some(Allocation::Dynamic);
        let e = format!(
            "{:#}",
            PortBlocks::from_options(None, None, None, dynamic, &Names::FILE).unwrap_err()
        );
        assert_eq!(e, "port-block-allocation dynamic: needs port-block-size N");
        let b = PortBlocks::from_options(Some(1000), None, None, dynamic, &Names::CLI)
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.subscribers.to_string(), b.subscriber_len, b.is_dynamic()),
            ("::/0".to_string(), 64, true),
            "every source's /64 is a subscriber"
        );
        // Far more subscribers than a deterministic range may hold.
        let big = PortBlocks::from_options(
            Some(1000),
            Some("2001:db8::/32"),
            None,
            dynamic,
            &Names::CLI,
        );
        assert!(big.unwrap().is_some());
        // TCP gets two addresses, UDP and ICMP one: every block number needs a block of
        // each protocol, so the fewest count.
        let mut groups =
            vec![Pool4Group::parse(&["192.0.2.1".into()], Some("1024-65535"), None).unwrap()];
        groups.push(
            Pool4Group::parse(&["192.0.2.2".into()], Some("1024-65535"), Some("tcp")).unwrap(),
        );
        let p = Pool4Slots::from_groups(&groups, "t").unwrap();
        assert_eq!(b.blocks_per_protocol(&p), 64);
        assert_eq!(b.table_entries(&p), 192);
        let c = b.config(&p);
        assert_eq!(
            (c.allocation, c.subscribers, c.block_size),
            (ALLOCATION_DYNAMIC, 64, 1000)
        );
        assert_eq!(from_config(&c), Some(b));
        b.check(&p, &Names::CLI).unwrap();
        assert_eq!(
            b.block_number(&p, 0, "192.0.2.2".parse().unwrap(), 1024),
            None,
            "past block 63"
        );
        assert_eq!(
            b.block_number(&p, 1, "192.0.2.1".parse().unwrap(), 3100),
            Some(2)
        );
        assert_eq!(
            b.owner(&p, 1, "192.0.2.1".parse().unwrap(), 3100),
            None,
            "no function names it"
        );
        let huge = PortBlocks::from_options(Some(60000), None, None, dynamic, &Names::CLI)
            .unwrap()
            .unwrap();
        let e = format!(
            "{:#}",
            huge.check(&pool(&["192.0.2.1"], "1024-2047"), &Names::CLI)
                .unwrap_err()
        );
        assert_eq!(
            e,
            "--port-block-size 60000: no tcp range of pool4 holds a whole block of that size"
        );
    }

    #[test]
    fn pool4_must_hold_a_block_per_subscriber() {
        let b = PortBlocks::from_options(
            Some(2016),
            Some("2001:db8:0:40::/58"),
            None,
            None,
            &Names::CLI,
        )
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
        let b = PortBlocks::from_options(
            Some(2016),
            Some("2001:db8:0:40::/58"),
            None,
            None,
            &Names::CLI,
        )
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
        assert_eq!(from_config(&b.config(&p)), Some(b));
    }
}
