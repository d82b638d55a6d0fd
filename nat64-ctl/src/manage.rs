//! Changing a running gateway from a second invocation: pool4 addresses, static bindings,
//! timeouts. Every request is checked in full before the first map write, so a refused
//! request changes nothing.
use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use nat64_common::{
    maps::{Bib6Key, Pool4Entry, Pool4Slot, SessionKey, BIB_F_STATIC, POOL4_SLOTS_MAX},
    timeouts::Timeouts,
};

use crate::{
    config::{proto_name, StaticBib},
    tables::Tables,
};

const BPF_NOEXIST: u64 = 1;

/// The pool4 addresses in use, in slot order, with their dynamic port range.
pub fn pool4_slots(t: &Tables) -> Result<Vec<Pool4Slot>> {
    let n = t.gateway_config()?.pool4_slots.min(POOL4_SLOTS_MAX);
    (0..n)
        .map(|i| t.slots.get(&i, 0).context("reading pool4 slots"))
        .collect()
}

/// One pool4 address as `pool4 display` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4Usage {
    pub addr: Ipv4Addr,
    pub port_lo: u16,
    pub port_hi: u16,
    /// Dynamic bindings per protocol: tcp, udp, icmp.
    pub dynamic: [usize; 3],
    pub static_bindings: usize,
}

pub fn pool4_usage(t: &Tables) -> Result<Vec<Pool4Usage>> {
    let mut out: Vec<Pool4Usage> = pool4_slots(t)?
        .iter()
        .map(|s| Pool4Usage {
            addr: Ipv4Addr::from(s.addr4),
            port_lo: s.port_lo,
            port_hi: s.port_hi,
            dynamic: [0; 3],
            static_bindings: 0,
        })
        .collect();
    for (k, e) in t.read_bib4()? {
        let Some(u) = out.iter_mut().find(|u| u.addr.octets() == k.addr4) else {
            continue;
        };
        if e.flags & BIB_F_STATIC != 0 {
            u.static_bindings += 1;
        } else if let Some(i) = proto_index(k.proto) {
            u.dynamic[i] += 1;
        }
    }
    Ok(out)
}

fn proto_index(p: u8) -> Option<usize> {
    ["tcp", "udp", "icmp"]
        .iter()
        .position(|n| *n == proto_name(p))
}

pub fn render_pool4(usage: &[Pool4Usage]) -> String {
    let mut s = format!(
        "{:<16} {:<12} {:>14} {:>14} {:>14} {:>7}\n",
        "address", "ports", "tcp in use", "udp in use", "icmp in use", "static"
    );
    for u in usage {
        let size = usize::from(u.port_hi - u.port_lo) + 1;
        let cell = |n: usize| format!("{n}/{size}");
        s.push_str(&format!(
            "{:<16} {:<12} {:>14} {:>14} {:>14} {:>7}\n",
            u.addr,
            format!("{}-{}", u.port_lo, u.port_hi),
            cell(u.dynamic[0]),
            cell(u.dynamic[1]),
            cell(u.dynamic[2]),
            u.static_bindings
        ));
    }
    s
}

/// The slot list after adding `add`: errors name the address and the reason.
pub fn slots_after_add(
    current: &[Pool4Slot],
    add: &[Ipv4Addr],
    ports: (u16, u16),
) -> Result<Vec<Pool4Slot>> {
    let mut out = current.to_vec();
    for a in add {
        if out.iter().any(|s| s.addr4 == a.octets()) {
            bail!("pool4 add {a}: already in pool4");
        }
        out.push(Pool4Slot {
            addr4: a.octets(),
            port_lo: ports.0,
            port_hi: ports.1,
        });
    }
    if out.len() > POOL4_SLOTS_MAX as usize {
        bail!(
            "pool4 add: {} addresses would exceed the limit of {POOL4_SLOTS_MAX}",
            out.len()
        );
    }
    Ok(out)
}

/// The slot list after removing `remove`, keeping the others' order.
pub fn slots_after_remove(current: &[Pool4Slot], remove: &[Ipv4Addr]) -> Result<Vec<Pool4Slot>> {
    for a in remove {
        if !current.iter().any(|s| s.addr4 == a.octets()) {
            bail!("pool4 remove {a}: not in pool4");
        }
    }
    Ok(current
        .iter()
        .filter(|s| !remove.iter().any(|a| a.octets() == s.addr4))
        .copied()
        .collect())
}

/// Writes a new slot list. The data plane reads the count, then a slot: growing writes the
/// slots before the count, shrinking lowers the count first, so it never reads an unset
/// slot (at worst, for a moment, an address twice).
fn write_slots(t: &mut Tables, slots: &[Pool4Slot]) -> Result<()> {
    let mut cfg = t.gateway_config()?;
    let old = cfg.pool4_slots as usize;
    if slots.len() < old {
        cfg.pool4_slots = slots.len() as u32;
        t.config
            .set(0, cfg, 0)
            .context("writing the gateway config")?;
    }
    for (i, s) in slots.iter().enumerate() {
        t.slots
            .set(i as u32, *s, 0)
            .context("writing pool4 slots")?;
    }
    cfg.pool4_slots = slots.len() as u32;
    t.config
        .set(0, cfg, 0)
        .context("writing the gateway config")
}

pub fn pool4_add(t: &mut Tables, add: &[Ipv4Addr], ports: (u16, u16)) -> Result<()> {
    let slots = slots_after_add(&pool4_slots(t)?, add, ports)?;
    for a in add {
        t.pool4
            .insert(a.octets(), Pool4Entry { flags: 0 }, 0)
            .context("writing pool4")?;
    }
    write_slots(t, &slots)
}

/// What removing pool4 addresses took with them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub bindings: usize,
    pub sessions: usize,
}

/// Removes the addresses, then every binding and session on them: once an address leaves
/// pool4 its IPv4 packets go to the kernel, and its flows are over.
pub fn pool4_remove(t: &mut Tables, remove: &[Ipv4Addr]) -> Result<Removed> {
    let slots = slots_after_remove(&pool4_slots(t)?, remove)?;
    write_slots(t, &slots)?;
    for a in remove {
        let _ = t.pool4.remove(&a.octets());
    }
    let gone = |addr4: [u8; 4]| remove.iter().any(|a| a.octets() == addr4);
    let mut removed = Removed::default();
    for (k, e) in t.read_bib4()? {
        if gone(k.addr4) {
            let _ = t.bib6.remove(&Bib6Key {
                addr6: e.addr6,
                port6: e.port6,
                proto: k.proto,
                _pad: 0,
            });
            let _ = t.bib4.remove(&k);
            removed.bindings += 1;
        }
    }
    let keys: Vec<SessionKey> = t
        .read_sessions()?
        .into_iter()
        .filter(|(k, _)| gone(k.addr4))
        .map(|(k, _)| k)
        .collect();
    for k in &keys {
        let _ = t.sessions.remove(k);
    }
    removed.sessions = keys.len();
    Ok(removed)
}

/// Adds a static binding; both of its transport addresses must be free.
pub fn bib_add(t: &mut Tables, b: &StaticBib) -> Result<()> {
    if t.pool4.get(&b.addr4.octets(), 0).is_err() {
        bail!("bib add {b}: {} is not a pool4 address", b.addr4);
    }
    let (k6, v6, k4, v4) = b.keys();
    if t.bib6.get(&k6, 0).is_ok() {
        bail!("bib add {b}: {}#{} already has a binding", b.addr6, b.port6);
    }
    // Claiming the pool4 side atomically keeps a data-plane CPU from handing the same
    // port out at the same moment.
    t.bib4
        .insert(k4, v4, BPF_NOEXIST)
        .map_err(|_| anyhow::anyhow!("bib add {b}: {}#{} is already bound", b.addr4, b.port4))?;
    if t.bib6.insert(k6, v6, BPF_NOEXIST).is_err() {
        let _ = t.bib4.remove(&k4);
        bail!("bib add {b}: {}#{} already has a binding", b.addr6, b.port6);
    }
    Ok(())
}

/// Removes a static binding (exactly as added) and its sessions.
pub fn bib_remove(t: &mut Tables, b: &StaticBib) -> Result<usize> {
    let (k6, _, k4, _) = b.keys();
    match t.bib4.get(&k4, 0) {
        Ok(e) if e.addr6 == b.addr6.octets() && e.port6 == b.port6 => {
            if e.flags & BIB_F_STATIC == 0 {
                bail!("bib remove {b}: a dynamic binding; it goes with its last session");
            }
        }
        _ => bail!("bib remove {b}: no such binding"),
    }
    let _ = t.bib6.remove(&k6);
    let _ = t.bib4.remove(&k4);
    let keys: Vec<SessionKey> = t
        .read_sessions()?
        .into_iter()
        .filter(|(k, _)| k.addr4 == k4.addr4 && k.port4 == k4.port4 && k.proto == k4.proto)
        .map(|(k, _)| k)
        .collect();
    for k in &keys {
        let _ = t.sessions.remove(k);
    }
    Ok(keys.len())
}

pub fn set_timeouts(t: &mut Tables, timeouts: Timeouts) -> Result<()> {
    let mut cfg = t.gateway_config()?;
    cfg.timeouts = timeouts;
    t.config
        .set(0, cfg, 0)
        .context("writing the gateway config")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(a: &str) -> Pool4Slot {
        Pool4Slot {
            addr4: a.parse::<Ipv4Addr>().unwrap().octets(),
            port_lo: 1000,
            port_hi: 2000,
        }
    }

    #[test]
    fn adding_appends_and_refuses_duplicates() {
        let cur = [slot("203.0.113.1")];
        let out = slots_after_add(&cur, &["203.0.113.2".parse().unwrap()], (5, 9)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[1].port_lo, out[1].port_hi), (5, 9));
        let e = slots_after_add(&cur, &["203.0.113.1".parse().unwrap()], (5, 9)).unwrap_err();
        assert_eq!(e.to_string(), "pool4 add 203.0.113.1: already in pool4");
        let many: Vec<Ipv4Addr> = (0..POOL4_SLOTS_MAX)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + i))
            .collect();
        assert!(slots_after_add(&cur, &many, (5, 9))
            .unwrap_err()
            .to_string()
            .contains("exceed the limit"));
    }

    #[test]
    fn removing_keeps_order_and_refuses_unknown_addresses() {
        let cur = [
            slot("203.0.113.1"),
            slot("203.0.113.2"),
            slot("203.0.113.3"),
        ];
        let out = slots_after_remove(&cur, &["203.0.113.2".parse().unwrap()]).unwrap();
        assert_eq!(out, [slot("203.0.113.1"), slot("203.0.113.3")]);
        let e = slots_after_remove(
            &cur,
            &[
                "203.0.113.3".parse().unwrap(),
                "203.0.113.9".parse().unwrap(),
            ],
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "pool4 remove 203.0.113.9: not in pool4");
    }

    #[test]
    fn usage_table() {
        let u = Pool4Usage {
            addr: "203.0.113.1".parse().unwrap(),
            port_lo: 61001,
            port_hi: 65535,
            dynamic: [3, 1000, 0],
            static_bindings: 2,
        };
        let t = render_pool4(&[u]);
        let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            row,
            [
                "203.0.113.1",
                "61001-65535",
                "3/4535",
                "1000/4535",
                "0/4535",
                "2"
            ]
        );
    }
}
