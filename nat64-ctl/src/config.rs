//! Gateway settings: parsed and validated in full before anything touches the kernel, then
//! written into the program's maps.
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use anyhow::{anyhow, bail, Context, Result};
use ipnet::Ipv6Net;
use nat64_common::{
    maps::{
        binding_halves, pool4_slot_index, BindingHalves, GatewayConfig, BIB_F_STATIC,
        CONFIG_F_ADDRESS_DEPENDENT_FILTERING, CONFIG_F_ALLOW_NONGLOBAL, CONFIG_F_FILTERING_ICMP,
        CONFIG_F_SESSION_EVENTS, CONFIG_F_SLOW_PATH,
    },
    rfc6052::Pool6,
    timeouts::Timeouts,
};

// The pool4 parsers' home is pool4; named here too for the settings' other callers.
pub use crate::pool4::{parse_pool4, parse_ports, DEFAULT_PORTS};
use crate::{
    pool4::Pool4Slots,
    tables::Tables,
    wire::{parse_proto, proto_name},
};

pub const DEFAULT_POOL6: &str = "64:ff9b::/96";
#[derive(Clone, Debug)]
pub struct Settings {
    pub pool6: Pool6,
    pub allow_nonglobal: bool,
    pub pool4: Pool4Slots,
    /// Keys the data plane's port-choice hash.
    pub secret: u32,
    pub static_bib: Vec<StaticBib>,
    /// Session lifetimes (validated against the RFC minimums unless allowed otherwise).
    pub timeouts: Timeouts,
    /// Address-dependent filtering instead of endpoint-independent filtering.
    pub address_dependent_filtering: bool,
    /// IPv4 DF=0 packets whose translation is larger go out as IPv6 fragments this big.
    pub lowest_ipv6_mtu: u32,
    /// ICMP errors the gateway sends itself.
    pub icmp: IcmpSettings,
    /// Deterministic port blocks (RFC 7422); None: bindings take ports from all of pool4.
    pub port_blocks: Option<crate::blocks::PortBlocks>,
}

/// `--lowest-ipv6-mtu`: from the IPv6 minimum MTU (RFC 8200 §5) to the largest packet.
pub fn validate_lowest_ipv6_mtu(mtu: u32, field: &str) -> Result<()> {
    if !(1280..=65535).contains(&mtu) {
        bail!("{field} {mtu}: must be between 1280 (the IPv6 minimum MTU, RFC 8200 §5) and 65535");
    }
    Ok(())
}

/// Default `--icmp-errors-rate` (per second, per CPU) and `--icmp-errors-burst`: Linux's
/// own defaults for ICMP errors (net.ipv4.icmp_msgs_per_sec, icmp_msgs_burst).
pub const DEFAULT_ICMP_RATE: u32 = 1000;
pub const DEFAULT_ICMP_BURST: u32 = 50;
/// Highest `--icmp-errors-rate` (the bucket counts in nanoseconds per token).
pub const MAX_ICMP_RATE: u32 = 1_000_000;

/// The ICMP errors the gateway originates (Time Exceeded, Packet Too Big / Fragmentation
/// Needed, Destination Unreachable) and the RFC 6791 pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpSettings {
    /// Source of the ICMPv6 errors; None: the first global IPv6 address of the attached
    /// interfaces (or, for a running gateway, the one it has).
    pub source6: Option<Ipv6Addr>,
    /// Source of the ICMPv4 errors; None: the first IPv4 address of the attached interfaces.
    pub source4: Option<Ipv4Addr>,
    /// RFC 6791 pool; None: the ICMPv4 source address alone.
    pub pool6791: Option<ipnet::Ipv4Net>,
    /// Tokens per second of each CPU's bucket; 0 sends no errors at all.
    pub rate: u32,
    pub burst: u32,
    /// Answer address-dependent filtering drops with ICMP admin-prohibited.
    pub filtering_icmp: bool,
}

impl Default for IcmpSettings {
    fn default() -> Self {
        IcmpSettings {
            source6: None,
            source4: None,
            pool6791: None,
            rate: DEFAULT_ICMP_RATE,
            burst: DEFAULT_ICMP_BURST,
            filtering_icmp: false,
        }
    }
}

/// `--icmp-source6`.
pub fn parse_icmp_source6(s: &str, field: &str) -> Result<Ipv6Addr> {
    let a: Ipv6Addr = s
        .parse()
        .map_err(|_| anyhow!("{field} {s:?}: not an IPv6 address"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
        bail!("{field} {s:?}: must be a unicast address of the gateway");
    }
    Ok(a)
}

/// `--icmp-source4`.
pub fn parse_icmp_source4(s: &str, field: &str) -> Result<Ipv4Addr> {
    let a: Ipv4Addr = s
        .parse()
        .map_err(|_| anyhow!("{field} {s:?}: not an IPv4 address"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
        bail!("{field} {s:?}: must be a unicast address of the gateway");
    }
    Ok(a)
}

/// `--pool6791`: ADDR or ADDR/LEN, no host bits.
pub fn parse_pool6791(s: &str, field: &str) -> Result<ipnet::Ipv4Net> {
    let net: ipnet::Ipv4Net = if s.contains('/') {
        s.parse()
            .map_err(|e| anyhow!("{field} {s:?}: not an IPv4 prefix ({e})"))?
    } else {
        let a: Ipv4Addr = s
            .parse()
            .map_err(|_| anyhow!("{field} {s:?}: not an IPv4 address or prefix"))?;
        ipnet::Ipv4Net::new(a, 32).unwrap()
    };
    if net.network() != net.addr() {
        bail!(
            "{field} {s:?}: host bits set (did you mean {}?)",
            net.trunc()
        );
    }
    if net.prefix_len() == 0 {
        bail!("{field} {s:?}: a /0 is not a pool");
    }
    Ok(net)
}

/// `--icmp-errors-rate`.
pub fn check_icmp_rate(rate: u32, field: &str) -> Result<u32> {
    if rate > MAX_ICMP_RATE {
        bail!("{field} {rate}: at most {MAX_ICMP_RATE} per second (0 sends none)");
    }
    Ok(rate)
}

/// `--icmp-errors-burst`.
pub fn check_icmp_burst(burst: u32, field: &str) -> Result<u32> {
    if burst == 0 || burst > MAX_ICMP_RATE {
        bail!("{field} {burst}: between 1 and {MAX_ICMP_RATE} (use a rate of 0 to send no errors)");
    }
    Ok(burst)
}

/// The first global (not link-local, loopback or multicast) IPv6 address and the first
/// IPv4 address of `interfaces`, in their order: the gateway's own addresses, default
/// sources of the ICMP errors it sends.
pub fn interface_addresses(interfaces: &[String]) -> (Option<Ipv6Addr>, Option<Ipv4Addr>) {
    let mut found: Vec<(usize, std::net::IpAddr)> = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return (None, None);
    }
    let mut p = ifap;
    while !p.is_null() {
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        let Some(i) = interfaces.iter().position(|n| *n == name) else {
            continue;
        };
        match unsafe { (*ifa.ifa_addr).sa_family } as i32 {
            libc::AF_INET6 => {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let a = Ipv6Addr::from(sa.sin6_addr.s6_addr);
                let link_local = a.segments()[0] & 0xffc0 == 0xfe80;
                if !link_local && !a.is_loopback() && !a.is_multicast() && !a.is_unspecified() {
                    found.push((i, a.into()));
                }
            }
            libc::AF_INET => {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let a = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
                // Link-local (169.254/16) is unroutable beyond the link.
                if !a.is_loopback() && !a.is_unspecified() && !a.is_link_local() {
                    found.push((i, a.into()));
                }
            }
            _ => {}
        }
    }
    unsafe { libc::freeifaddrs(ifap) };
    // Stable: among one interface's addresses, the kernel's order.
    found.sort_by_key(|(i, _)| *i);
    let v6 = found.iter().find_map(|(_, a)| match a {
        std::net::IpAddr::V6(a) => Some(*a),
        _ => None,
    });
    let v4s: Vec<Ipv4Addr> = found
        .iter()
        .filter_map(|(_, a)| match a {
            std::net::IpAddr::V4(a) => Some(*a),
            _ => None,
        })
        .collect();
    (v6, preferred_icmp_source4(&v4s))
}

/// The first address not from shared or private space (RFC 1918, RFC 6598), which IPv4
/// hosts may filter or be unable to route back to (RFC 6791 §3.1 says the same of its
/// pool); a private one only when there is nothing else, with a warning.
pub fn preferred_icmp_source4(addrs: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let private = |a: &Ipv4Addr| {
        let o = a.octets();
        a.is_private() || (o[0] == 100 && o[1] & 0xc0 == 64)
    };
    if let Some(a) = addrs.iter().find(|a| !private(a)) {
        return Some(*a);
    }
    let a = addrs.first().copied()?;
    tracing::warn!(
        "ICMPv4 errors will come from {a}, a private address the hosts they are meant for may \
         not route back to; give --icmp-source4 (and --pool6791) a public one"
    );
    Some(a)
}

/// The ICMP options as given, on the command line or in a config file.
pub struct IcmpOptions<'a> {
    pub source6: Option<&'a str>,
    pub source4: Option<&'a str>,
    pub pool6791: Option<&'a str>,
    pub rate: Option<u32>,
    pub burst: Option<u32>,
    pub filtering_icmp: bool,
}

impl IcmpSettings {
    /// Checks `o`; errors name each option as `prefix` + its name (`--icmp-source6` on the
    /// command line, `icmp-source6` in a config file).
    pub fn from_options(o: IcmpOptions<'_>, prefix: &str) -> Result<IcmpSettings> {
        let name = |n: &str| format!("{prefix}{n}");
        Ok(IcmpSettings {
            source6: o
                .source6
                .map(|a| parse_icmp_source6(a, &name("icmp-source6")))
                .transpose()?,
            source4: o
                .source4
                .map(|a| parse_icmp_source4(a, &name("icmp-source4")))
                .transpose()?,
            pool6791: o
                .pool6791
                .map(|a| parse_pool6791(a, &name("pool6791")))
                .transpose()?,
            rate: check_icmp_rate(
                o.rate.unwrap_or(DEFAULT_ICMP_RATE),
                &name("icmp-errors-rate"),
            )?,
            burst: check_icmp_burst(
                o.burst.unwrap_or(DEFAULT_ICMP_BURST),
                &name("icmp-errors-burst"),
            )?,
            filtering_icmp: o.filtering_icmp,
        })
    }

    /// Fills the sources not given from the attached interfaces' addresses; an error names
    /// the option to give when an interface has none.
    pub fn resolve(&mut self, interfaces: &[String]) -> Result<()> {
        if self.source6.is_some() && self.source4.is_some() {
            return Ok(());
        }
        let (v6, v4) = interface_addresses(interfaces);
        let list = interfaces.join(", ");
        if self.source6.is_none() {
            self.source6 = Some(v6.ok_or_else(|| {
                anyhow!("--icmp-source6: not given, and no global IPv6 address on {list} to send ICMPv6 errors from")
            })?);
        }
        if self.source4.is_none() {
            self.source4 = Some(v4.ok_or_else(|| {
                anyhow!("--icmp-source4: not given, and no IPv4 address on {list} to send ICMPv4 errors from")
            })?);
        }
        Ok(())
    }

    /// Writes these settings into `cfg`; a source not given keeps the one `cfg` has.
    fn write(&self, cfg: &mut GatewayConfig, old: &GatewayConfig) {
        cfg.icmp_src6 = self.source6.map(|a| a.octets()).unwrap_or(old.icmp_src6);
        cfg.icmp_src4 = self.source4.map(|a| a.octets()).unwrap_or(old.icmp_src4);
        let pool = match self.pool6791 {
            Some(n) => Some((n.network().octets(), n.prefix_len())),
            None if cfg.icmp_src4 != [0; 4] => Some((cfg.icmp_src4, 32)),
            None => None,
        };
        (cfg.pool6791, cfg.pool6791_len) = pool.unwrap_or(([0; 4], 0));
        cfg.icmp_rate = self.rate;
        cfg.icmp_burst = self.burst;
        if self.filtering_icmp {
            cfg.flags |= CONFIG_F_FILTERING_ICMP;
        }
    }
}

/// `--pool6`: an RFC 6052 prefix.
pub fn parse_pool6(s: &str) -> Result<Pool6> {
    let net: Ipv6Net = s
        .parse()
        .map_err(|e| anyhow!("--pool6 {s:?}: not an IPv6 prefix ({e})"))?;
    Pool6::new(net.addr().octets(), net.prefix_len())
        .map_err(|e| anyhow!("--pool6 {s:?}: {}", e.reason()))
}

/// A fresh secret for the port-choice hash, from the kernel's CSPRNG.
pub fn random_secret() -> Result<u32> {
    let mut b = [0u8; 4];
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 4 {
        return Err(std::io::Error::last_os_error()).context("getrandom");
    }
    Ok(u32::from_ne_bytes(b))
}

/// A static binding: `PROTO IPV4#PORT IPV6#PORT`, e.g. `udp 203.0.113.1#2000 2001:db8::5#2000`
/// (for icmp the "port" is the echo identifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticBib {
    pub proto: u8,
    pub addr4: Ipv4Addr,
    pub port4: u16,
    pub addr6: Ipv6Addr,
    pub port6: u16,
}

fn split_port(s: &str) -> Result<(&str, u16)> {
    let (a, p) = s
        .rsplit_once('#')
        .ok_or_else(|| anyhow!("{s:?}: expected ADDRESS#PORT"))?;
    let port = p
        .parse()
        .map_err(|_| anyhow!("{s:?}: port {p:?} is not a number from 0 to 65535"))?;
    Ok((a, port))
}

impl std::fmt::Display for StaticBib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}#{} {}#{}",
            proto_name(self.proto),
            self.addr4,
            self.port4,
            self.addr6,
            self.port6
        )
    }
}

impl FromStr for StaticBib {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [proto, v4, v6] = parts[..] else {
            bail!("static BIB entry {s:?}: expected `PROTO IPV4#PORT IPV6#PORT`");
        };
        let proto = parse_proto(proto).with_context(|| format!("static BIB entry {s:?}"))?;
        let (a4, port4) = split_port(v4).with_context(|| format!("static BIB entry {s:?}"))?;
        let (a6, port6) = split_port(v6).with_context(|| format!("static BIB entry {s:?}"))?;
        let addr4 = a4
            .parse()
            .map_err(|_| anyhow!("static BIB entry {s:?}: {a4:?} is not an IPv4 address"))?;
        let addr6 = a6
            .parse()
            .map_err(|_| anyhow!("static BIB entry {s:?}: {a6:?} is not an IPv6 address"))?;
        Ok(StaticBib {
            proto,
            addr4,
            port4,
            addr6,
            port6,
        })
    }
}

impl Settings {
    /// Cross-field checks.
    pub fn validate(&self) -> Result<()> {
        validate_lowest_ipv6_mtu(self.lowest_ipv6_mtu, "--lowest-ipv6-mtu")?;
        if let Some(b) = &self.port_blocks {
            b.check(&self.pool4, &crate::blocks::Names::CLI)?;
        }
        for b in &self.static_bib {
            if !self.pool4.contains(b.addr4) {
                bail!(
                    "--bib {} {}#{}: {} is not a --pool4 address",
                    proto_name(b.proto),
                    b.addr4,
                    b.port4,
                    b.addr4
                );
            }
        }
        Ok(())
    }

    pub fn gateway_config(&self) -> GatewayConfig {
        let mut cfg = GatewayConfig {
            pool6: self.pool6,
            flags: if self.allow_nonglobal {
                CONFIG_F_ALLOW_NONGLOBAL
            } else {
                0
            } | if self.address_dependent_filtering {
                CONFIG_F_ADDRESS_DEPENDENT_FILTERING
            } else {
                0
            },
            secret: self.secret,
            pool4_slots: self.pool4.counts(),
            timeouts: self.timeouts,
            lowest_ipv6_mtu: self.lowest_ipv6_mtu,
            icmp_src6: [0; 16],
            icmp_src4: [0; 4],
            pool6791: [0; 4],
            pool6791_len: 0,
            _pad6791: [0; 3],
            icmp_rate: 0,
            icmp_burst: 0,
        };
        let old = cfg;
        self.icmp.write(&mut cfg, &old);
        cfg
    }

    /// Like [`Settings::gateway_config`], keeping the ICMP sources of `old` (a running
    /// gateway's) where these settings give none.
    pub fn gateway_config_over(&self, old: &GatewayConfig) -> GatewayConfig {
        let mut cfg = self.gateway_config();
        self.icmp.write(&mut cfg, old);
        cfg
    }
}

impl StaticBib {
    pub fn keys(&self) -> BindingHalves {
        binding_halves(
            (self.addr6.octets(), self.port6),
            (self.addr4.octets(), self.port4),
            self.proto,
            BIB_F_STATIC,
        )
    }
}

/// Writes the settings into a gateway's maps: fresh ones, ones taken over from an earlier
/// nat64-ctl, or a running instance's (`config apply`, SIGHUP). The data plane reads a
/// protocol's slot count, then a slot: counts drop first, slots are written, then the new
/// config (and counts) lands, so it never reads a slot that is not set. A running gateway
/// keeps its port-choice secret. Leaves what the settings no longer have to
/// [`crate::manage::forget_stale`].
pub fn apply(t: &mut Tables, s: &Settings) -> Result<()> {
    s.validate()?;
    crate::local::check(&s.pool4)?;
    let mut cfg = t.gateway_config()?;
    let mut new = s.gateway_config_over(&cfg);
    if cfg.secret != 0 {
        new.secret = cfg.secret;
    }
    // Owned by the running nat64-ctl (its --session-log and slow path), not by the settings.
    new.flags |= cfg.flags & (CONFIG_F_SESSION_EVENTS | CONFIG_F_SLOW_PATH);
    for (old, new) in cfg.pool4_slots.iter_mut().zip(new.pool4_slots) {
        *old = (*old).min(new);
    }
    t.config.set(0, cfg, 0).context("writing the config map")?;
    crate::local::write_pool4(t, &s.pool4)?;
    for (p, list) in s.pool4.0.iter().enumerate() {
        for (i, slot) in list.iter().enumerate() {
            t.slots
                .set(pool4_slot_index(p, i as u32), *slot, 0)
                .context("writing pool4 slots")?;
        }
    }
    write_port_blocks(t, s)?;
    t.config.set(0, new, 0).context("writing the config map")?;
    for b in &s.static_bib {
        let (k6, v6, k4, v4) = b.keys();
        t.bib6.insert(k6, v6, 0).context("writing BIB")?;
        t.bib4.insert(k4, v4, 0).context("writing BIB")?;
    }
    Ok(())
}

/// The subscribers' blocks first, then the switch that makes new bindings use them. On
/// first use, a block layout other than the running one (or none yet) starts with every
/// block free; the same layout keeps who holds what (a restart, a takeover, a `config
/// apply` that changes something else).
fn write_port_blocks(t: &mut Tables, s: &Settings) -> Result<()> {
    let Some(b) = &s.port_blocks else {
        return t
            .block_config
            .set(0, nat64_common::block::PortBlockConfig::default(), 0)
            .context("writing the port-block config");
    };
    let need = b.table_entries(&s.pool4);
    let have = t.blocks.len();
    if need > have {
        bail!(
            "--subscribers {} with --subscriber-prefix-len {}: needs a port-block table of {need} \
             entries, the running gateway's holds {have}; `attach --fresh` creates it anew \
             (its flows are lost)",
            b.subscribers,
            b.subscriber_len
        );
    }
    let table = b.table(&s.pool4);
    let config = b.config(&s.pool4);
    let relaid = b.is_dynamic()
        && (t.block_config.get(&0, 0).ok() != Some(config)
            || table
                .iter()
                .any(|(i, slot)| t.blocks.get(i, 0).ok() != Some(*slot)));
    if relaid {
        let Some(f) = t.first_use.as_ref() else {
            bail!(
                "--port-block-allocation dynamic: the running gateway was attached by a \
                 nat64-ctl without it (no free-block tables); `attach --fresh` creates them \
                 (its flows are lost)"
            );
        };
        let blocks = config.subscribers;
        if blocks > f.capacity() {
            bail!(
                "--port-block-size {}: {blocks} blocks, more than the running gateway's \
                 tables of blocks on first use hold ({}); `attach --fresh` creates them anew \
                 (its flows are lost)",
                b.size,
                f.capacity()
            );
        }
    }
    for (i, slot) in table {
        t.blocks
            .set(i, slot, 0)
            .context("writing the port-block table")?;
    }
    if let (true, Some(f)) = (relaid, t.first_use.as_mut()) {
        f.reset(config.subscribers)?;
    }
    t.block_config
        .set(0, config, 0)
        .context("writing the port-block config")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTO_UDP;

    #[test]
    fn parses_static_bib() {
        let b: StaticBib = "udp 203.0.113.1#2000 2001:db8::5#2001".parse().unwrap();
        assert_eq!(
            b,
            StaticBib {
                proto: PROTO_UDP,
                addr4: "203.0.113.1".parse().unwrap(),
                port4: 2000,
                addr6: "2001:db8::5".parse().unwrap(),
                port6: 2001
            }
        );
    }

    #[test]
    fn bad_static_bib_names_the_problem() {
        let e = |s: &str| format!("{:#}", s.parse::<StaticBib>().unwrap_err());
        assert!(e("sctp 203.0.113.1#1 2001:db8::5#1").contains("expected tcp, udp or icmp"));
        assert!(e("udp 203.0.113.1#99999 2001:db8::5#1").contains("not a number from 0 to 65535"));
        assert!(e("udp 203.0.113.1 2001:db8::5#1").contains("ADDRESS#PORT"));
        assert!(e("udp 2001:db8::5#1 203.0.113.1#1").contains("not an IPv4 address"));
        assert!(e("udp 203.0.113.1#1").contains("PROTO IPV4#PORT IPV6#PORT"));
    }

    #[test]
    fn pool6_errors_name_the_field() {
        assert!(parse_pool6("64:ff9b::/96").is_ok());
        assert!(parse_pool6("64:ff9b:1::/48").is_ok());
        let e = format!("{:#}", parse_pool6("64:ff9b::/95").unwrap_err());
        assert!(e.starts_with("--pool6 \"64:ff9b::/95\""), "{e}");
        assert!(
            format!("{:#}", parse_pool6("nonsense").unwrap_err()).contains("not an IPv6 prefix")
        );
    }

    #[test]
    fn pool4_blocks_expand_and_errors_name_the_field() {
        let v = parse_pool4(&[
            "203.0.113.8/30".into(),
            "203.0.113.9".into(),
            "198.51.100.1".into(),
        ])
        .unwrap();
        let want: Vec<Ipv4Addr> = ["203.0.113.9", "203.0.113.10", "198.51.100.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(v, want, "hosts of the /30, duplicates dropped, order kept");
        assert_eq!(
            parse_pool4(&["203.0.113.5/32".into()]).unwrap(),
            vec!["203.0.113.5".parse::<Ipv4Addr>().unwrap()]
        );
        let e = |a: &str| format!("{:#}", parse_pool4(&[a.to_string()]).unwrap_err());
        assert!(e("203.0.113.9/30").contains("host bits set"));
        assert!(e("nonsense").starts_with("--pool4 \"nonsense\""));
        assert!(e("198.18.0.0/16").contains("more than 256 addresses"));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_ports("61001-65535").unwrap(), (61001, 65535));
        assert_eq!(parse_ports("5000-5000").unwrap(), (5000, 5000));
        for bad in ["0-10", "10-5", "x-5", "5", "1-70000"] {
            let e = format!("{:#}", parse_ports(bad).unwrap_err());
            assert!(e.starts_with(&format!("--ports {bad:?}")), "{e}");
        }
    }

    #[test]
    fn static_bib_must_use_a_pool4_address() {
        let s = Settings {
            pool6: parse_pool6(DEFAULT_POOL6).unwrap(),
            allow_nonglobal: false,
            pool4: Pool4Slots::from_groups(
                &[crate::pool4::Pool4Group::parse(&["203.0.113.1".into()], None, None).unwrap()],
                "--pool4",
            )
            .unwrap(),
            secret: 0,
            static_bib: vec!["udp 203.0.113.9#1 2001:db8::5#1".parse().unwrap()],
            timeouts: Timeouts::DEFAULT,
            address_dependent_filtering: false,
            lowest_ipv6_mtu: 1280,
            icmp: IcmpSettings::default(),
            port_blocks: None,
        };
        assert!(format!("{:#}", s.validate().unwrap_err()).contains("is not a --pool4 address"));
    }

    #[test]
    fn the_icmp_source4_prefers_an_address_hosts_can_route_back_to() {
        let a = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        assert_eq!(
            preferred_icmp_source4(&[a("10.0.0.1"), a("100.64.0.1"), a("192.0.2.1")]),
            Some(a("192.0.2.1"))
        );
        assert_eq!(
            preferred_icmp_source4(&[a("172.16.0.1"), a("10.0.0.1")]),
            Some(a("172.16.0.1")),
            "only private ones: the first"
        );
        assert_eq!(preferred_icmp_source4(&[]), None);
    }
}
