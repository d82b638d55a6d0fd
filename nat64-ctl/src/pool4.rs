//! pool4 as the data plane sees it: per protocol, a list of (address, port range) slots
//! that dynamic bindings are spread over. Built from `--pool4 ADDR [--ports A-B]
//! [--proto P,...]` groups, `[[pool4]]` tables or `pool4 add`; checked in full (overlaps,
//! limits) before anything is written, so a refused change changes nothing.
use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Result};
use nat64_common::maps::{pool4_proto_index, Pool4Slot, POOL4_PROTOS, POOL4_SLOTS_MAX};

use crate::wire::{proto_name, Proto};

/// The dynamic range mature translators use by default (Jool), clear of the ports hosts
/// commonly bind.
pub const DEFAULT_PORTS: &str = "61001-65535";

/// Addresses that lend one port range to dynamic bindings of the given protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4Group {
    pub addrs: Vec<Ipv4Addr>,
    /// Inclusive; also the ICMP echo identifier range.
    pub ports: (u16, u16),
    /// `PROTO_TCP`, `PROTO_UDP`, `PROTO_ICMP`.
    pub protos: Vec<u8>,
}

impl Pool4Group {
    /// From the strings an operator typed; missing ports and protocols take the defaults.
    /// Errors name the option (`--pool4`, `--ports`, `--proto`) and the value.
    pub fn parse(
        addrs: &[String],
        ports: Option<&str>,
        protos: Option<&str>,
    ) -> Result<Pool4Group> {
        Ok(Pool4Group {
            addrs: parse_pool4(addrs)?,
            ports: parse_ports(ports.unwrap_or(DEFAULT_PORTS))?,
            protos: match protos {
                Some(p) => parse_protos(p)?,
                None => POOL4_PROTOS.to_vec(),
            },
        })
    }
}

/// `--proto tcp,udp,icmp`: at least one, no repeats.
pub fn parse_protos(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim) {
        let Ok(p) = name.parse::<Proto>().map(Proto::number) else {
            bail!("--proto {s:?}: {name:?} is not tcp, udp or icmp");
        };
        if out.contains(&p) {
            bail!("--proto {s:?}: {name} is given twice");
        }
        out.push(p);
    }
    Ok(out)
}

/// `--pool4`, `--ports` and `--proto` as they appeared on the command line, each value
/// with its position: every `--ports` and `--proto` belongs to the nearest `--pool4`
/// before it, so `--pool4 A --ports 1000-1999 --pool4 B --proto tcp` gives A every
/// protocol on 1000-1999 and B TCP on the default range.
pub fn groups_from_args(
    pool4: &[(usize, String)],
    ports: &[(usize, String)],
    protos: &[(usize, String)],
) -> Result<Vec<Pool4Group>> {
    let owner = |flag: &str, at: usize, value: &str| -> Result<usize> {
        match pool4.iter().rposition(|(i, _)| *i < at) {
            Some(g) => Ok(g),
            None => bail!("{flag} {value}: must follow the --pool4 it applies to"),
        }
    };
    let mut ports_of: Vec<Option<&str>> = vec![None; pool4.len()];
    for (at, v) in ports {
        let g = owner("--ports", *at, v)?;
        if ports_of[g].replace(v).is_some() {
            bail!("--ports {v}: --pool4 {} already has a --ports", pool4[g].1);
        }
    }
    let mut protos_of: Vec<Option<&str>> = vec![None; pool4.len()];
    for (at, v) in protos {
        let g = owner("--proto", *at, v)?;
        if protos_of[g].replace(v).is_some() {
            bail!("--proto {v}: --pool4 {} already has a --proto", pool4[g].1);
        }
    }
    pool4
        .iter()
        .enumerate()
        .map(|(g, (_, addr))| {
            Pool4Group::parse(std::slice::from_ref(addr), ports_of[g], protos_of[g])
        })
        .collect()
}

/// The slot lists, one per protocol in `POOL4_PROTOS` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool4Slots(pub [Vec<Pool4Slot>; 3]);

impl Pool4Slots {
    pub fn from_groups(groups: &[Pool4Group], what: &str) -> Result<Pool4Slots> {
        let mut s = Pool4Slots::default();
        for g in groups {
            s.add(g, what)?;
        }
        Ok(s)
    }

    /// Adds a group's slots. An address may lend several ranges to a protocol, but never
    /// the same port twice: overlaps are refused, naming both ranges.
    pub fn add(&mut self, g: &Pool4Group, what: &str) -> Result<()> {
        let mut next = self.clone();
        for &p in &g.protos {
            let Some(i) = pool4_proto_index(p) else {
                bail!("{what}: protocol {p} has no pool4");
            };
            let list = &mut next.0[i];
            for a in &g.addrs {
                if let Some(s) = list.iter().find(|s| {
                    s.addr4 == a.octets() && s.port_lo <= g.ports.1 && g.ports.0 <= s.port_hi
                }) {
                    bail!(
                        "{what} {a}: {} ports {}-{} overlap {}-{}, already in pool4",
                        proto_name(p),
                        g.ports.0,
                        g.ports.1,
                        s.port_lo,
                        s.port_hi
                    );
                }
                list.push(Pool4Slot {
                    addr4: a.octets(),
                    port_lo: g.ports.0,
                    port_hi: g.ports.1,
                });
            }
            if list.len() > POOL4_SLOTS_MAX as usize {
                bail!(
                    "{what}: {} {} address and port-range pairs would exceed the limit of {POOL4_SLOTS_MAX}",
                    list.len(),
                    proto_name(p)
                );
            }
        }
        *self = next;
        Ok(())
    }

    /// Takes the addresses out of the given protocols' lists (every slot of theirs),
    /// keeping the others' order. Each address must be in at least one of them.
    pub fn remove(&mut self, addrs: &[Ipv4Addr], protos: &[u8], what: &str) -> Result<()> {
        let idx: Vec<usize> = protos
            .iter()
            .filter_map(|&p| pool4_proto_index(p))
            .collect();
        for a in addrs {
            if !idx
                .iter()
                .any(|&i| self.0[i].iter().any(|s| s.addr4 == a.octets()))
            {
                bail!("{what} {a}: not in pool4");
            }
        }
        for i in idx {
            self.0[i].retain(|s| !addrs.iter().any(|a| a.octets() == s.addr4));
        }
        Ok(())
    }

    /// Every address with at least one slot, in first-seen order.
    pub fn addresses(&self) -> Vec<Ipv4Addr> {
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for s in self.0.iter().flatten() {
            let a = Ipv4Addr::from(s.addr4);
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.0.iter().flatten().any(|s| s.addr4 == a.octets())
    }

    /// The share of node `index` of `count` gateways (scale-out behind ECMP): pool4's
    /// addresses, in the order given, cut into `count` runs of equal length (the first
    /// runs one longer where it does not divide), of which this node keeps the
    /// `index`-th with all its slots. Slices are whole addresses because return traffic
    /// is routed by address: each node announces its own run, and no two nodes ever hand
    /// out the same address and port. `names`: the two options as the operator wrote them.
    pub fn node_slice(&self, index: u32, count: u32, names: (&str, &str)) -> Result<Pool4Slots> {
        let addrs = self.addresses();
        if count == 0 {
            bail!("{} 0: at least one node", names.1);
        }
        if index >= count {
            bail!(
                "{} {index}: must be below {} {count} (nodes count from 0)",
                names.0,
                names.1
            );
        }
        if addrs.len() < count as usize {
            bail!(
                "{} {count}: pool4 has {} addresses, and each node needs at least one of its own",
                names.1,
                addrs.len()
            );
        }
        let (per, extra) = (addrs.len() / count as usize, addrs.len() % count as usize);
        let i = index as usize;
        let start = i * per + i.min(extra);
        let len = per + usize::from(i < extra);
        let mine = &addrs[start..start + len];
        let mut out = self.clone();
        for list in &mut out.0 {
            list.retain(|s| mine.contains(&Ipv4Addr::from(s.addr4)));
        }
        Ok(out)
    }

    /// `GatewayConfig::pool4_slots`.
    pub fn counts(&self) -> [u16; 4] {
        // `add` keeps every list at or under POOL4_SLOTS_MAX.
        let n = |i: usize| self.0[i].len() as u16;
        [n(0), n(1), n(2), 0]
    }
}

/// `--pool4`: addresses and ADDR/LEN blocks, expanded, deduplicated, in order.
pub fn parse_pool4(args: &[String]) -> Result<Vec<Ipv4Addr>> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for a in args {
        let net: ipnet::Ipv4Net = if a.contains('/') {
            a.parse().map_err(|e| {
                anyhow!("--pool4 {a:?}: not an IPv4 address or ADDR/LEN block ({e})")
            })?
        } else {
            let addr: Ipv4Addr = a
                .parse()
                .map_err(|e| anyhow!("--pool4 {a:?}: not an IPv4 address ({e})"))?;
            ipnet::Ipv4Net::new(addr, 32).unwrap()
        };
        if net.network() != net.addr() {
            bail!(
                "--pool4 {a:?}: host bits set (did you mean {}?)",
                net.trunc()
            );
        }
        for addr in net
            .hosts()
            .chain((net.prefix_len() >= 31).then_some(net.addr()))
        {
            if !out.contains(&addr) {
                out.push(addr);
            }
            if out.len() > POOL4_SLOTS_MAX as usize {
                bail!("--pool4: more than {POOL4_SLOTS_MAX} addresses");
            }
        }
    }
    Ok(out)
}

/// `--ports A-B`.
pub fn parse_ports(s: &str) -> Result<(u16, u16)> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| anyhow!("--ports {s:?}: expected FIRST-LAST, e.g. 61001-65535"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .map_err(|_| anyhow!("--ports {s:?}: {lo:?} is not a port number"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .map_err(|_| anyhow!("--ports {s:?}: {hi:?} is not a port number"))?;
    if lo == 0 || lo > hi {
        bail!("--ports {s:?}: the range must be non-empty and exclude port 0");
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::maps::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

    fn arg(v: &[(usize, &str)]) -> Vec<(usize, String)> {
        v.iter().map(|(i, s)| (*i, s.to_string())).collect()
    }

    fn addr(a: &str) -> Ipv4Addr {
        a.parse().unwrap()
    }

    #[test]
    fn node_slices_are_disjoint_runs_of_whole_addresses() {
        let g = [
            Pool4Group::parse(&["192.0.2.0/28".into()], None, None).unwrap(),
            Pool4Group::parse(&["192.0.2.1".into()], Some("1000-1999"), Some("udp")).unwrap(),
        ];
        let all = Pool4Slots::from_groups(&g, "--pool4").unwrap();
        let names = ("--node-index", "--node-count");
        let mut seen = Vec::new();
        for (i, want) in [(0, 1..=5), (1, 6..=10), (2, 11..=14)] {
            let s = all.node_slice(i, 3, names).unwrap();
            let mine: Vec<Ipv4Addr> = want.map(|h| Ipv4Addr::new(192, 0, 2, h)).collect();
            assert_eq!(s.addresses(), mine, "node {i}");
            assert!(mine.iter().all(|a| !seen.contains(a)));
            seen.extend(mine);
        }
        assert_eq!(seen.len(), 14, "every address has a node");
        // An address keeps all its slots: node 0 has .1's second UDP range.
        let udp = &all.node_slice(0, 3, names).unwrap().0[1];
        assert_eq!(udp.len(), 6);
        assert_eq!(all.node_slice(0, 1, names).unwrap(), all);
        let e = |i, n| format!("{:#}", all.node_slice(i, n, names).unwrap_err());
        assert!(e(3, 3).starts_with("--node-index 3: must be below --node-count 3"));
        assert!(e(0, 15).starts_with("--node-count 15: pool4 has 14 addresses"));
        assert!(e(0, 0).starts_with("--node-count 0"));
    }

    #[test]
    fn ports_and_protos_belong_to_the_pool4_before_them() {
        // --pool4 A --ports 1000-1999 --bib ... --pool4 B --proto tcp --pool4 C
        let g = groups_from_args(
            &arg(&[
                (1, "203.0.113.1"),
                (7, "203.0.113.2"),
                (11, "198.51.100.0/31"),
            ]),
            &arg(&[(3, "1000-1999")]),
            &arg(&[(9, "tcp")]),
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].ports, (1000, 1999));
        assert_eq!(g[0].protos, POOL4_PROTOS);
        assert_eq!(g[1].ports, (61001, 65535));
        assert_eq!(g[1].protos, [PROTO_TCP]);
        assert_eq!(g[2].addrs, [addr("198.51.100.0"), addr("198.51.100.1")]);
    }

    #[test]
    fn misplaced_or_repeated_group_options_are_refused() {
        let e = |pool4: &[(usize, &str)], ports: &[(usize, &str)], protos: &[(usize, &str)]| {
            format!(
                "{:#}",
                groups_from_args(&arg(pool4), &arg(ports), &arg(protos)).unwrap_err()
            )
        };
        assert_eq!(
            e(&[(3, "203.0.113.1")], &[(1, "1-9")], &[]),
            "--ports 1-9: must follow the --pool4 it applies to"
        );
        assert_eq!(
            e(&[(1, "203.0.113.1")], &[(3, "1-9"), (5, "20-29")], &[]),
            "--ports 20-29: --pool4 203.0.113.1 already has a --ports"
        );
        assert_eq!(
            e(&[(1, "203.0.113.1")], &[], &[(3, "tcp,sctp")]),
            "--proto \"tcp,sctp\": \"sctp\" is not tcp, udp or icmp"
        );
        assert!(e(&[(1, "203.0.113.1")], &[], &[(3, "udp,udp")]).contains("udp is given twice"));
        assert!(e(&[(1, "203.0.113.1")], &[(3, "9-1")], &[])
            .starts_with("--ports \"9-1\": the range must be non-empty"));
    }

    fn group(a: &[&str], ports: (u16, u16), protos: &[u8]) -> Pool4Group {
        Pool4Group {
            addrs: a.iter().map(|a| addr(a)).collect(),
            ports,
            protos: protos.to_vec(),
        }
    }

    #[test]
    fn slots_per_protocol_and_overlaps() {
        let mut s = Pool4Slots::from_groups(
            &[
                group(&["203.0.113.1"], (1000, 1999), &POOL4_PROTOS),
                group(&["203.0.113.2"], (5000, 5009), &[PROTO_TCP]),
                // A second range on the same address and protocol is fine.
                group(&["203.0.113.1"], (3000, 3999), &[PROTO_UDP]),
            ],
            "--pool4",
        )
        .unwrap();
        assert_eq!(s.counts(), [2, 2, 1, 0]);
        assert_eq!(s.0[1][1].port_lo, 3000);
        assert_eq!(s.addresses(), [addr("203.0.113.1"), addr("203.0.113.2")]);

        let before = s.clone();
        let e = s
            .add(
                &group(&["203.0.113.3", "203.0.113.1"], (1500, 2500), &[PROTO_ICMP]),
                "pool4 add",
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pool4 add 203.0.113.1: icmp ports 1500-2500 overlap 1000-1999, already in pool4"
        );
        assert_eq!(s, before, "a refused add changes nothing");
        // The same range for another protocol does not overlap.
        s.add(&group(&["203.0.113.2"], (5000, 5009), &[PROTO_UDP]), "x")
            .unwrap();
        assert_eq!(s.counts(), [2, 3, 1, 0]);

        s.remove(&[addr("203.0.113.1")], &[PROTO_UDP], "pool4 remove")
            .unwrap();
        assert_eq!(s.counts(), [2, 1, 1, 0]);
        assert!(s.contains(addr("203.0.113.1")), "still lends tcp and icmp");
        let e = s
            .remove(&[addr("203.0.113.1")], &[PROTO_UDP], "pool4 remove")
            .unwrap_err();
        assert_eq!(e.to_string(), "pool4 remove 203.0.113.1: not in pool4");
        s.remove(&[addr("203.0.113.1")], &POOL4_PROTOS, "pool4 remove")
            .unwrap();
        assert!(!s.contains(addr("203.0.113.1")));
        assert_eq!(s.counts(), [1, 1, 0, 0]);
    }

    #[test]
    fn at_most_256_slots_per_protocol() {
        let many: Vec<String> = (0..200)
            .map(|i| Ipv4Addr::from(0xc633_6400u32 + i).to_string())
            .collect();
        let g = Pool4Group::parse(&many, None, Some("udp")).unwrap();
        let mut s = Pool4Slots::default();
        s.add(&g, "--pool4").unwrap();
        let mut g2 = g.clone();
        g2.ports = (1, 2);
        let e = s.add(&g2, "--pool4").unwrap_err().to_string();
        assert!(
            e.contains("400 udp address and port-range pairs would exceed the limit of 256"),
            "{e}"
        );
        // Other protocols have their own 256.
        g2.protos = vec![PROTO_TCP];
        s.add(&g2, "--pool4").unwrap();
        assert_eq!(s.counts(), [200, 200, 0, 0]);
    }
}
