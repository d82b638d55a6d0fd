//! Changing a running gateway from a second invocation: pool4 addresses, static bindings,
//! timeouts. Every request is checked in full before the first map write, so a refused
//! request changes nothing.
use std::{collections::HashSet, net::Ipv4Addr};

use anyhow::{bail, Context, Result};
use nat64_common::{
    maps::{
        pool4_slot_index, Bib4Entry, Bib4Key, Bib6Key, BIB_F_STATIC, POOL4_PROTOS, POOL4_SLOTS_MAX,
    },
    timeouts::Timeouts,
};

use crate::{
    config::StaticBib,
    pool4::{Pool4Group, Pool4Slots},
    tables::Tables,
    wire::proto_name,
};

const BPF_NOEXIST: u64 = 1;

/// The slots in use, per protocol, in data-plane order.
pub fn pool4_slots(t: &Tables) -> Result<Pool4Slots> {
    let counts = t.gateway_config()?.pool4_slots;
    let mut out = Pool4Slots::default();
    for (p, list) in out.0.iter_mut().enumerate() {
        for i in 0..u32::from(counts[p]).min(POOL4_SLOTS_MAX) {
            list.push(
                t.slots
                    .get(&pool4_slot_index(p, i), 0)
                    .context("reading pool4 slots")?,
            );
        }
    }
    Ok(out)
}

/// One pool4 slot as `pool4 display` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4Usage {
    pub addr: Ipv4Addr,
    pub proto: u8,
    pub port_lo: u16,
    pub port_hi: u16,
    /// Dynamic bindings on ports of this slot.
    pub dynamic: usize,
    /// Static bindings of this address and protocol (on any port).
    pub static_bindings: usize,
}

pub fn pool4_usage(t: &Tables) -> Result<Vec<Pool4Usage>> {
    let slots = pool4_slots(t)?;
    let mut out: Vec<Pool4Usage> = slots
        .0
        .iter()
        .zip(POOL4_PROTOS)
        .flat_map(|(list, proto)| {
            list.iter().map(move |s| Pool4Usage {
                addr: Ipv4Addr::from(s.addr4),
                proto,
                port_lo: s.port_lo,
                port_hi: s.port_hi,
                dynamic: 0,
                static_bindings: 0,
            })
        })
        .collect();
    for (k, e) in t.read_bib4()? {
        for u in out
            .iter_mut()
            .filter(|u| u.addr.octets() == k.addr4 && u.proto == k.proto)
        {
            if e.flags & BIB_F_STATIC != 0 {
                u.static_bindings += 1;
            } else if (u.port_lo..=u.port_hi).contains(&k.port4) {
                u.dynamic += 1;
            }
        }
    }
    Ok(out)
}

pub fn render_pool4(usage: &[Pool4Usage]) -> String {
    let mut s = format!(
        "{:<16} {:<5} {:<12} {:>14} {:>7}\n",
        "address", "proto", "ports", "in use", "static"
    );
    for u in usage {
        let size = usize::from(u.port_hi - u.port_lo) + 1;
        s.push_str(&format!(
            "{:<16} {:<5} {:<12} {:>14} {:>7}\n",
            u.addr,
            proto_name(u.proto),
            format!("{}-{}", u.port_lo, u.port_hi),
            format!("{}/{size}", u.dynamic),
            u.static_bindings
        ));
    }
    s
}

/// Writes new slot lists. The data plane reads a protocol's count, then a slot: the counts
/// first drop to what both lists share, then the slots are written, then the counts rise,
/// so it never reads an unset slot (at worst, for a moment, an address twice or one on
/// its way out).
fn write_slots(t: &mut Tables, slots: &Pool4Slots) -> Result<()> {
    let mut cfg = t.gateway_config()?;
    let new = slots.counts();
    for (old, new) in cfg.pool4_slots.iter_mut().zip(new) {
        *old = (*old).min(new);
    }
    t.config
        .set(0, cfg, 0)
        .context("writing the gateway config")?;
    for (p, list) in slots.0.iter().enumerate() {
        for (i, s) in list.iter().enumerate() {
            t.slots
                .set(pool4_slot_index(p, i as u32), *s, 0)
                .context("writing pool4 slots")?;
        }
    }
    cfg.pool4_slots = new;
    t.config
        .set(0, cfg, 0)
        .context("writing the gateway config")
}

pub fn pool4_add(t: &mut Tables, group: &Pool4Group) -> Result<()> {
    let mut slots = pool4_slots(t)?;
    slots.add(group, "pool4 add")?;
    crate::local::check(&slots)?;
    crate::local::write_pool4(t, &slots)?;
    write_slots(t, &slots)
}

/// What removing pool4 addresses took with them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Addresses no longer in pool4 for any protocol (their IPv4 packets now go to the
    /// kernel).
    pub addresses: usize,
    pub bindings: usize,
    pub sessions: usize,
}

/// Takes the addresses out of the protocols' pools, then every binding and session of
/// theirs on those protocols: a pool4 transport address that is not lent any more has no
/// flows.
pub fn pool4_remove(t: &mut Tables, remove: &[Ipv4Addr], protos: &[u8]) -> Result<Removed> {
    let mut slots = pool4_slots(t)?;
    slots.remove(remove, protos, "pool4 remove")?;
    write_slots(t, &slots)?;
    crate::local::write_pool4(t, &slots)?;
    let mut removed = Removed::default();
    for a in remove {
        if !slots.contains(*a) {
            let _ = t.pool4.remove(&a.octets());
            removed.addresses += 1;
        }
    }
    let d = delete_bindings(t, |k, _| {
        protos.contains(&k.proto) && remove.iter().any(|a| a.octets() == k.addr4)
    })?;
    removed.bindings = d.static_bindings + d.dynamic_bindings;
    removed.sessions = d.sessions;
    Ok(removed)
}

/// Makes a gateway's maps say what `s` says: [`crate::config::apply`], then
/// [`forget_stale`]. `s` is validated in full before the first write.
pub fn apply_settings(t: &mut Tables, s: &crate::config::Settings) -> Result<Forgotten> {
    crate::config::apply(t, s)?;
    forget_stale(t, s)
}

/// What taking over an earlier instance's state dropped because the new settings no
/// longer have it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub addresses: usize,
    pub static_bindings: usize,
    pub bindings: usize,
    pub sessions: usize,
}

/// After [`crate::config::apply`] on maps taken over from an earlier nat64-ctl: removes
/// pool4 addresses the settings no longer have (with their bindings and sessions) and
/// static bindings they no longer list (with their sessions). The rest, every dynamic
/// binding and session on addresses still in pool4, stays.
pub fn forget_stale(t: &mut Tables, s: &crate::config::Settings) -> Result<Forgotten> {
    let mut f = Forgotten::default();
    let stale: Vec<[u8; 4]> = t
        .pool4
        .keys()
        .filter_map(|k| k.ok())
        .filter(|a| !s.pool4.contains(Ipv4Addr::from(*a)))
        .collect();
    for a in &stale {
        let _ = t.pool4.remove(a);
        f.addresses += 1;
    }
    let wanted = |k: &Bib4Key, e: &Bib4Entry| {
        s.static_bib.iter().any(|b| {
            let (_, _, k4, v4) = b.keys();
            k4 == *k && v4 == *e
        })
    };
    let d = delete_bindings(t, |k, e| {
        stale.contains(&k.addr4) || (e.flags & BIB_F_STATIC != 0 && !wanted(k, e))
    })?;
    f.static_bindings = d.static_bindings;
    f.bindings = d.dynamic_bindings;
    f.sessions = d.sessions;
    Ok(f)
}

/// What [`delete_bindings`] deleted.
struct Deleted {
    static_bindings: usize,
    dynamic_bindings: usize,
    sessions: usize,
}

/// Deletes the bindings `doomed` picks, both halves, and every session and filtering
/// record on them.
fn delete_bindings(
    t: &mut Tables,
    doomed: impl Fn(&Bib4Key, &Bib4Entry) -> bool,
) -> Result<Deleted> {
    let mut d = Deleted {
        static_bindings: 0,
        dynamic_bindings: 0,
        sessions: 0,
    };
    let mut gone = HashSet::new();
    for (k, e) in t.read_bib4()? {
        if !doomed(&k, &e) {
            continue;
        }
        let _ = t.bib6.remove(&Bib6Key {
            addr6: e.addr6,
            port6: e.port6,
            proto: k.proto,
            _pad: 0,
        });
        let _ = t.bib4.remove(&k);
        if e.flags & BIB_F_STATIC != 0 {
            d.static_bindings += 1;
        } else {
            d.dynamic_bindings += 1;
        }
        gone.insert((k.addr4, k.port4, k.proto));
    }
    for (k, _) in t.read_sessions()? {
        if gone.contains(&(k.addr4, k.port4, k.proto)) {
            let _ = t.sessions.remove(&k);
            d.sessions += 1;
        }
    }
    Ok(d)
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
    let (_, _, k4, _) = b.keys();
    match t.bib4.get(&k4, 0) {
        Ok(e) if e.addr6 == b.addr6.octets() && e.port6 == b.port6 => {
            if e.flags & BIB_F_STATIC == 0 {
                bail!("bib remove {b}: a dynamic binding; it goes with its last session");
            }
        }
        _ => bail!("bib remove {b}: no such binding"),
    }
    Ok(delete_bindings(t, |k, _| *k == k4)?.sessions)
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
    use nat64_common::maps::{PROTO_TCP, PROTO_UDP};

    #[test]
    fn usage_table() {
        let row = |u: Pool4Usage| -> Vec<String> {
            render_pool4(&[u])
                .lines()
                .nth(1)
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        let u = Pool4Usage {
            addr: "203.0.113.1".parse().unwrap(),
            proto: PROTO_UDP,
            port_lo: 61001,
            port_hi: 65535,
            dynamic: 1000,
            static_bindings: 2,
        };
        assert_eq!(
            row(u.clone()),
            ["203.0.113.1", "udp", "61001-65535", "1000/4535", "2"]
        );
        assert_eq!(
            row(Pool4Usage {
                proto: PROTO_TCP,
                port_lo: 7000,
                port_hi: 7000,
                dynamic: 0,
                ..u
            }),
            ["203.0.113.1", "tcp", "7000-7000", "0/1", "2"]
        );
    }
}
