//! The single-address gateway: pool4 addresses that are the router's own.
//!
//! A home or office router has one public IPv4 address, and it is its pool4 (with no
//! `--pool4` at all, pool4 is the attached interfaces' own IPv4 addresses). The router
//! keeps its own services on that address (sshd, BGP, DNS, ping): the data plane takes
//! only the packets a binding or a pool4 port range claims (`POOL4_F_LOCAL`,
//! `NAT64_POOL4_PORTS`), and the kernel's own connections must never pick a port pool4
//! lends, so `net.ipv4.ip_local_port_range` may not overlap a pool4 range on such an
//! address.
use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use nat64_common::maps::{Pool4Entry, Pool4Ports, Pool4PortsKey, POOL4_F_LOCAL, POOL4_PROTOS};

use crate::{pool4::Pool4Slots, tables::Tables, wire::proto_name};

const LOCAL_PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Every IPv4 address of `interfaces` (all of this namespace's when `None`), in the
/// kernel's order; loopback and link-local (169.254/16) left out.
pub fn ipv4_addresses(interfaces: Option<&[String]>) -> Vec<Ipv4Addr> {
    let mut found: Vec<(usize, Ipv4Addr)> = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Vec::new();
    }
    let mut p = ifap;
    while !p.is_null() {
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        if unsafe { (*ifa.ifa_addr).sa_family } as i32 != libc::AF_INET {
            continue;
        }
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        let order = match interfaces {
            Some(list) => match list.iter().position(|n| *n == name) {
                Some(i) => i,
                None => continue,
            },
            None => 0,
        };
        let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let a = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
        if !a.is_loopback()
            && !a.is_unspecified()
            && !a.is_link_local()
            && !found.iter().any(|(_, f)| *f == a)
        {
            found.push((order, a));
        }
    }
    unsafe { libc::freeifaddrs(ifap) };
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, a)| a).collect()
}

/// With no pool4 given, pool4 is the attached interfaces' own IPv4 addresses with the
/// default ports (61001-65535, outside Linux's default ephemeral range) for every
/// protocol, as Jool does. Returns the addresses taken, empty when pool4 was given.
pub fn default_pool4(pool4: &mut Pool4Slots, interfaces: &[String]) -> Result<Vec<Ipv4Addr>> {
    if !pool4.addresses().is_empty() {
        return Ok(Vec::new());
    }
    let addrs = ipv4_addresses(Some(interfaces));
    if addrs.is_empty() {
        bail!(
            "no --pool4 given and the interfaces {interfaces:?} have no IPv4 address to use \
             as pool4; give --pool4 ADDR"
        );
    }
    let group = crate::pool4::Pool4Group {
        addrs: addrs.clone(),
        ports: crate::pool4::parse_ports(crate::pool4::DEFAULT_PORTS)?,
        protos: POOL4_PROTOS.to_vec(),
    };
    pool4.add(&group, "pool4 (the interfaces' own addresses)")?;
    Ok(addrs)
}

/// `net.ipv4.ip_local_port_range` of this namespace.
pub fn ephemeral_ports() -> Result<(u16, u16)> {
    let text = std::fs::read_to_string(LOCAL_PORT_RANGE)
        .with_context(|| format!("reading {LOCAL_PORT_RANGE}"))?;
    parse_port_range(&text).with_context(|| format!("{LOCAL_PORT_RANGE}: {text:?}"))
}

fn parse_port_range(text: &str) -> Result<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) => Ok((lo, hi)),
        _ => bail!("expected two port numbers"),
    }
}

/// Refuses pool4 ranges on the gateway's own addresses that overlap the kernel's
/// ephemeral ports: the router's own connections from that address would take ports the
/// translator hands out, and the two would steal each other's packets.
pub fn check_ephemeral_overlap(
    slots: &Pool4Slots,
    local: &[Ipv4Addr],
    ephemeral: (u16, u16),
) -> Result<()> {
    for (i, list) in slots.0.iter().enumerate() {
        for s in list {
            let a = Ipv4Addr::from(s.addr4);
            if local.contains(&a) && s.port_lo <= ephemeral.1 && ephemeral.0 <= s.port_hi {
                bail!(
                    "pool4 {a} {} ports {}-{} overlap net.ipv4.ip_local_port_range {}-{}: {a} is \
                     this router's own address and its own connections would take ports the \
                     translator hands out; give --ports outside that range (the default {} is \
                     outside Linux's default) or narrow ip_local_port_range",
                    proto_name(POOL4_PROTOS[i]),
                    s.port_lo,
                    s.port_hi,
                    ephemeral.0,
                    ephemeral.1,
                    crate::pool4::DEFAULT_PORTS,
                );
            }
        }
    }
    Ok(())
}

/// [`check_ephemeral_overlap`] against this namespace's addresses and port range.
pub fn check(slots: &Pool4Slots) -> Result<()> {
    let local = ipv4_addresses(None);
    if !slots.addresses().iter().any(|a| local.contains(a)) {
        return Ok(());
    }
    check_ephemeral_overlap(slots, &local, ephemeral_ports()?)
}

/// The port bitmaps of each (address, protocol) of `slots` whose address is in `local`.
pub fn port_maps(slots: &Pool4Slots, local: &[Ipv4Addr]) -> Vec<(Pool4PortsKey, Box<Pool4Ports>)> {
    let mut out: Vec<(Pool4PortsKey, Box<Pool4Ports>)> = Vec::new();
    for (i, list) in slots.0.iter().enumerate() {
        for s in list {
            if !local.contains(&Ipv4Addr::from(s.addr4)) {
                continue;
            }
            let key = Pool4PortsKey {
                addr4: s.addr4,
                proto: POOL4_PROTOS[i],
                _pad: [0; 3],
            };
            let at = match out.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    out.push((key, Box::new(Pool4Ports::EMPTY)));
                    out.len() - 1
                }
            };
            out[at].1.insert_range(s.port_lo, s.port_hi);
        }
    }
    out
}

/// Writes the pool4 addresses with their `POOL4_F_LOCAL` flag and the port bitmaps of the
/// local ones; removes the bitmaps that no longer apply. Bitmaps first: a local address
/// without one would, for a moment, give every unbound port to the kernel.
pub fn write_pool4(t: &mut Tables, slots: &Pool4Slots) -> Result<()> {
    let local = ipv4_addresses(None);
    let maps = port_maps(slots, &local);
    for (k, v) in &maps {
        t.pool4_ports
            .insert(*k, **v, 0)
            .context("writing pool4 port bitmaps")?;
    }
    let stale: Vec<Pool4PortsKey> = t
        .pool4_ports
        .keys()
        .filter_map(|k| k.ok())
        .filter(|k| !maps.iter().any(|(m, _)| m == k))
        .collect();
    for k in stale {
        let _ = t.pool4_ports.remove(&k);
    }
    for a in slots.addresses() {
        let flags = if local.contains(&a) { POOL4_F_LOCAL } else { 0 };
        t.pool4
            .insert(a.octets(), Pool4Entry { flags }, 0)
            .context("writing pool4")?;
    }
    Ok(())
}

/// Lets the kernel take translated IPv4 packets whose source is one of its own addresses
/// (pool4 is the router's address): the data plane hands a translated packet to the
/// kernel when the next hop's MAC is not known yet, so that the kernel resolves it, and
/// without `accept_local` the kernel drops such a packet as a martian, the neighbour is
/// never resolved and the flow never starts.
pub fn accept_local(interfaces: &[String]) -> Result<()> {
    for iface in interfaces {
        let path = format!("/proc/sys/net/ipv4/conf/{iface}/accept_local");
        let now = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        if now.trim() != "1" {
            std::fs::write(&path, "1").with_context(|| format!("writing {path}"))?;
            tracing::info!(
                "{iface}: set net.ipv4.conf.{iface}.accept_local=1 (translated packets the \
                 kernel forwards may have the gateway's own address as their source)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool4::Pool4Group;
    use nat64_common::maps::{PROTO_TCP, PROTO_UDP};

    fn slots(groups: &[(&str, (u16, u16), &[u8])]) -> Pool4Slots {
        let g: Vec<Pool4Group> = groups
            .iter()
            .map(|(a, ports, protos)| Pool4Group {
                addrs: vec![a.parse().unwrap()],
                ports: *ports,
                protos: protos.to_vec(),
            })
            .collect();
        Pool4Slots::from_groups(&g, "--pool4").unwrap()
    }

    #[test]
    fn overlap_with_the_ephemeral_range_is_refused_on_local_addresses_only() {
        let local: Vec<Ipv4Addr> = vec!["192.0.2.1".parse().unwrap()];
        let s = slots(&[("192.0.2.1", (40000, 50000), &[PROTO_UDP])]);
        let e = format!(
            "{:#}",
            check_ephemeral_overlap(&s, &local, (32768, 60999)).unwrap_err()
        );
        assert!(e.contains("192.0.2.1 udp ports 40000-50000"), "{e}");
        assert!(e.contains("ip_local_port_range 32768-60999"), "{e}");
        // The default range sits above Linux's default ephemeral range.
        let ok = slots(&[("192.0.2.1", (61001, 65535), &[PROTO_TCP])]);
        check_ephemeral_overlap(&ok, &local, (32768, 60999)).unwrap();
        // Not the router's address: its ports are the translator's alone.
        let other = slots(&[("203.0.113.1", (40000, 50000), &[PROTO_TCP])]);
        check_ephemeral_overlap(&other, &local, (32768, 60999)).unwrap();
        // Touching at one port is an overlap.
        let edge = slots(&[("192.0.2.1", (60999, 61000), &[PROTO_TCP])]);
        assert!(check_ephemeral_overlap(&edge, &local, (32768, 60999)).is_err());
    }

    #[test]
    fn port_maps_cover_each_local_address_and_protocol() {
        let local: Vec<Ipv4Addr> = vec!["192.0.2.1".parse().unwrap()];
        let s = slots(&[
            ("192.0.2.1", (61001, 62000), &[PROTO_TCP, PROTO_UDP]),
            ("192.0.2.1", (63000, 63000), &[PROTO_TCP]),
            ("203.0.113.1", (1024, 65535), &[PROTO_TCP]),
        ]);
        let maps = port_maps(&s, &local);
        assert_eq!(maps.len(), 2);
        let tcp = &maps.iter().find(|(k, _)| k.proto == PROTO_TCP).unwrap().1;
        assert!(tcp.contains(61001) && tcp.contains(62000) && tcp.contains(63000));
        assert!(!tcp.contains(62001) && !tcp.contains(22));
        let udp = &maps.iter().find(|(k, _)| k.proto == PROTO_UDP).unwrap().1;
        assert!(!udp.contains(63000));
    }

    #[test]
    fn port_range_parses_like_procfs_prints_it() {
        assert_eq!(parse_port_range("32768\t60999\n").unwrap(), (32768, 60999));
        assert!(parse_port_range("32768").is_err());
    }
}
