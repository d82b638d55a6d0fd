//! `nat64-ctl status [--json]`: one screen per instance. What the pins say (links and
//! their hooks, pool4 usage, sessions and bindings, the counters), read from the kernel
//! at the time of asking, and what only the manager knows (the last expiry pass, the drop
//! counters a minute ago, which object it attached), read from its state file
//! (`crate::run_state`). Works whether or not a manager runs: then it says so.
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use nat64_common::maps::{pool4_proto_index, BIB_F_STATIC, POOL4_PROTOS, SESSION_KIND_FLOW};
use serde_json::{json, Value};

use crate::{
    bpffs,
    clock::monotonic_ns,
    instance,
    link_info::{self, LinkDesc},
    manage,
    run_state::{self, State},
    stats,
    tables::Tables,
    wire::proto_name,
};

/// The exit status of `status` when every instance shown has a manager running.
pub const EXIT_RUNNING: i32 = 0;
/// ... when one has none: its data plane may still translate from its pins, but nothing
/// expires its sessions (the LSB's "program is not running").
pub const EXIT_NOT_RUNNING: i32 = 3;

/// One pool4 address for one protocol: every port range it lends, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4Use {
    pub addr: Ipv4Addr,
    pub proto: u8,
    pub ranges: Vec<(u16, u16)>,
    /// Ports in the ranges.
    pub ports: u64,
    /// Dynamic bindings holding a port of the ranges.
    pub in_use: u64,
    /// Static bindings of the address and protocol (on any port).
    pub static_bindings: u64,
}

/// Which eBPF object the links run, as far as can be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataplaneMatch {
    /// What this binary embeds.
    pub this_sha256: String,
    /// The object the programs on the links were loaded from: known when the manager that
    /// attached recorded it and every link still runs the program it recorded.
    pub running_sha256: Option<String>,
    /// Some(running == this); None when the running object is not known.
    pub matches: Option<bool>,
    /// The distinct programs on the links.
    pub program_ids: Vec<u32>,
}

/// Drops since the manager's baseline snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drops {
    /// How far back the baseline is (about a minute once the manager has run that long).
    pub window_ns: u64,
    /// By reason (the counter name without `drop_`), zero ones left out.
    pub by_reason: BTreeMap<String, u64>,
}

pub struct InstanceStatus {
    pub instance: String,
    pub dir: PathBuf,
    /// The pid of the nat64-ctl managing it, None when none runs.
    pub manager: Option<u32>,
    /// Every pinned link, or why a pin could not be read.
    pub links: Vec<(String, std::result::Result<LinkDesc, String>)>,
    pub pool4: Vec<Pool4Use>,
    /// Flows per protocol, in `POOL4_PROTOS` order.
    pub sessions: [u64; 3],
    pub dynamic_bindings: [u64; 3],
    pub static_bindings: [u64; 3],
    /// The manager's state file (None if there is none, e.g. a manager older than it).
    pub state: Option<State>,
    /// Why the state file could not be read.
    pub state_error: Option<String>,
    pub drops: Option<Drops>,
    pub dataplane: DataplaneMatch,
    /// CLOCK_MONOTONIC when this was read, for the ages.
    pub now_ns: u64,
}

/// Refuses a directory the caller may not read: not the same as no instance there.
fn readable(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "reading {}: {e} (the pins are root's: run status as root)",
            dir.display()
        ),
        _ => Ok(()),
    }
}

/// The instances with pinned state, sorted.
pub fn instances() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(Path::new(bpffs::BPFFS).join("nat64")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| instance::has_state(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

/// Everything about `name`; an error naming the instance when it has no pinned state.
pub fn collect(name: &str) -> Result<InstanceStatus> {
    bpffs::validate_instance(name)?;
    let dir = bpffs::instance_dir(name);
    readable(&dir)?;
    if !instance::has_state(&dir) {
        bail!(
            "no gateway instance {name:?} ({} holds no pinned state)",
            dir.display()
        );
    }
    let t = Tables::open(&dir)?;
    let now_ns = monotonic_ns();
    let counters = stats::read(&stats::open_pinned(&bpffs::pin_path(
        &dir,
        stats::STATS_MAP,
    ))?)?;

    let mut sessions = [0u64; 3];
    for (k, _) in t.read_sessions()? {
        if let (SESSION_KIND_FLOW, Some(i)) = (k.kind, pool4_proto_index(k.proto)) {
            sessions[i] += 1;
        }
    }
    let bindings = t.read_bib4()?;
    let (mut dynamic_bindings, mut static_bindings) = ([0u64; 3], [0u64; 3]);
    for (k, e) in &bindings {
        if let Some(i) = pool4_proto_index(k.proto) {
            if e.flags & BIB_F_STATIC != 0 {
                static_bindings[i] += 1;
            } else {
                dynamic_bindings[i] += 1;
            }
        }
    }
    let pool4 = pool4_use(&manage::pool4_slots(&t)?, &bindings);

    let links: Vec<_> = link_info::pinned(&dir)
        .into_iter()
        .map(|(pin, d)| (pin, d.map_err(|e| format!("{e:#}"))))
        .collect();
    let (state, state_error) = match run_state::read(name) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let drops = state
        .as_ref()
        .and_then(|s| s.drops_baseline.as_ref())
        .map(|base| Drops {
            window_ns: now_ns.saturating_sub(base.monotonic_ns),
            by_reason: run_state::drops_since(base, &counters),
        });
    let program_ids = {
        let mut ids: Vec<u32> = links
            .iter()
            .filter_map(|(_, d)| d.as_ref().ok().map(|d| d.program_id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let dataplane = dataplane_match(
        crate::EBPF_OBJECT_SHA256,
        state.as_ref().map(|s| &s.dataplane),
        &program_ids,
    );
    Ok(InstanceStatus {
        instance: name.to_string(),
        dir,
        manager: instance::manager(name),
        links,
        pool4,
        sessions,
        dynamic_bindings,
        static_bindings,
        state,
        state_error,
        drops,
        dataplane,
        now_ns,
    })
}

/// Sums pool4's slots per address and protocol (in slot order) and counts the bindings on
/// them.
pub fn pool4_use(
    slots: &crate::pool4::Pool4Slots,
    bindings: &[(nat64_common::maps::Bib4Key, nat64_common::maps::Bib4Entry)],
) -> Vec<Pool4Use> {
    let mut out: Vec<Pool4Use> = Vec::new();
    for (list, proto) in slots.0.iter().zip(POOL4_PROTOS) {
        for s in list {
            let addr = Ipv4Addr::from(s.addr4);
            let i = match out.iter().position(|u| u.addr == addr && u.proto == proto) {
                Some(i) => i,
                None => {
                    out.push(Pool4Use {
                        addr,
                        proto,
                        ranges: Vec::new(),
                        ports: 0,
                        in_use: 0,
                        static_bindings: 0,
                    });
                    out.len() - 1
                }
            };
            out[i].ranges.push((s.port_lo, s.port_hi));
            out[i].ports += u64::from(s.port_hi - s.port_lo) + 1;
        }
    }
    for (k, e) in bindings {
        let Some(u) = out
            .iter_mut()
            .find(|u| u.addr.octets() == k.addr4 && u.proto == k.proto)
        else {
            continue;
        };
        if e.flags & BIB_F_STATIC != 0 {
            u.static_bindings += 1;
        } else if u
            .ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&k.port4))
        {
            u.in_use += 1;
        }
    }
    out
}

/// The running object is the recorded one when every link runs a recorded program.
pub fn dataplane_match(
    this_sha256: &str,
    recorded: Option<&run_state::Dataplane>,
    program_ids: &[u32],
) -> DataplaneMatch {
    let running = recorded
        .filter(|r| {
            !program_ids.is_empty()
                && program_ids
                    .iter()
                    .all(|&id| r.programs.iter().any(|p| p.id == id))
        })
        .map(|r| r.ebpf_sha256.clone());
    DataplaneMatch {
        this_sha256: this_sha256.to_string(),
        matches: running.as_ref().map(|r| r == this_sha256),
        running_sha256: running,
        program_ids: program_ids.to_vec(),
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

impl InstanceStatus {
    /// One screen.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "instance {}: {} ({})",
            self.instance,
            match self.manager {
                Some(pid) => format!("nat64-ctl running, pid {pid}"),
                None => "nat64-ctl NOT running: the pinned data plane translates, \
                         but no session expires"
                    .to_string(),
            },
            self.dir.display()
        ));
        let d = &self.dataplane;
        line(format!(
            "  data plane: {}",
            match (&d.running_sha256, d.matches) {
                (Some(r), Some(true)) => format!("this binary's eBPF object (sha256 {})", short(r)),
                (Some(r), _) => format!(
                    "a DIFFERENT eBPF object (sha256 {}; this binary has {}): attach again to upgrade",
                    short(r),
                    short(&d.this_sha256)
                ),
                (None, _) if d.program_ids.is_empty() => "no program on any link".to_string(),
                (None, _) => format!(
                    "programs {:?}, from an object not known (no nat64-ctl recorded attaching them)",
                    d.program_ids
                ),
            }
        ));
        line("  interfaces:".into());
        if self.links.is_empty() {
            line("    none (no pinned link)".into());
        }
        for (pin, desc) in &self.links {
            match desc {
                Ok(l) => line(format!(
                    "    {:<12} {:<16} {:<8} link {} program {}",
                    l.interface.clone().unwrap_or_else(|| format!(
                        "{pin} (ifindex {}, not here)",
                        l.hook.ifindex().unwrap_or(0)
                    )),
                    format!("{} ({})", l.hook.name(), l.hook.mode()),
                    l.hook.direction(),
                    l.link_id,
                    l.program_id
                )),
                Err(e) => line(format!("    {pin}: {e}")),
            }
        }
        line(format!(
            "  pool4:\n    {:<16} {:<5} {:<24} {:>15} {:>7}",
            "address", "proto", "ports", "in use", "static"
        ));
        for u in &self.pool4 {
            let ranges: Vec<String> = u.ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            line(format!(
                "    {:<16} {:<5} {:<24} {:>15} {:>7}",
                u.addr,
                proto_name(u.proto),
                ranges.join(","),
                format!("{}/{}", u.in_use, u.ports),
                u.static_bindings
            ));
        }
        let by_proto = |v: &[u64; 3]| -> String {
            POOL4_PROTOS
                .iter()
                .zip(v)
                .map(|(p, n)| format!("{} {n}", proto_name(*p)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        line(format!("  sessions: {}", by_proto(&self.sessions)));
        line(format!(
            "  bindings: dynamic {}; static {}",
            by_proto(&self.dynamic_bindings),
            by_proto(&self.static_bindings)
        ));
        match (&self.state, &self.state_error) {
            (_, Some(e)) => line(format!("  manager state: {e}")),
            (None, None) => line(format!(
                "  manager state: none ({} missing: no nat64-ctl of this version attached it)",
                run_state::state_path(&self.instance).display()
            )),
            (Some(st), None) => match &st.last_pass {
                Some(p) => line(format!(
                    "  last expiry pass: {} ({:.1} s ago), took {:.3} s: {} entries read, \
                     {} sessions and {} bindings expired",
                    p.finished_at,
                    secs(self.now_ns.saturating_sub(p.finished_monotonic_ns)),
                    secs(p.duration_ns),
                    p.scanned,
                    p.sessions_expired,
                    p.bindings_expired
                )),
                None => line("  last expiry pass: none yet".into()),
            },
        }
        if let Some(drops) = &self.drops {
            let list: Vec<String> = drops
                .by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            line(format!(
                "  drops in the last {:.0} s: {}",
                secs(drops.window_ns),
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            ));
        }
        s
    }

    /// The JSON object (field names documented in the README's status section).
    pub fn to_json(&self) -> Value {
        let by_proto = |v: &[u64; 3]| -> Value {
            POOL4_PROTOS
                .iter()
                .zip(v)
                .map(|(p, n)| (proto_name(*p).to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let interfaces: Vec<Value> = self
            .links
            .iter()
            .map(|(pin, d)| match d {
                Ok(l) => json!({
                    "pin": pin,
                    "interface": l.interface,
                    "ifindex": l.hook.ifindex(),
                    "hook": l.hook.name(),
                    "mode": l.hook.mode(),
                    "direction": l.hook.direction(),
                    "link_id": l.link_id,
                    "program_id": l.program_id,
                }),
                Err(e) => json!({ "pin": pin, "error": e }),
            })
            .collect();
        let pool4: Vec<Value> = self
            .pool4
            .iter()
            .map(|u| {
                json!({
                    "address": u.addr.to_string(),
                    "proto": proto_name(u.proto),
                    "ranges": u.ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>(),
                    "ports": u.ports,
                    "in_use": u.in_use,
                    "static": u.static_bindings,
                })
            })
            .collect();
        let last_pass = self
            .state
            .as_ref()
            .and_then(|s| s.last_pass.as_ref())
            .map(|p| {
                json!({
                    "finished_at": p.finished_at,
                    "age_s": secs(self.now_ns.saturating_sub(p.finished_monotonic_ns)),
                    "duration_s": secs(p.duration_ns),
                    "scanned": p.scanned,
                    "sessions_expired": p.sessions_expired,
                    "bindings_expired": p.bindings_expired,
                })
            });
        let drops = self.drops.as_ref().map(|d| {
            json!({
                "window_s": secs(d.window_ns),
                "total": d.by_reason.values().sum::<u64>(),
                "by_reason": d.by_reason,
            })
        });
        json!({
            "instance": self.instance,
            "pin_dir": self.dir.display().to_string(),
            "daemon": { "running": self.manager.is_some(), "pid": self.manager },
            "dataplane": {
                "this_binary_sha256": self.dataplane.this_sha256,
                "running_sha256": self.dataplane.running_sha256,
                "matches": self.dataplane.matches,
                "program_ids": self.dataplane.program_ids,
            },
            "interfaces": interfaces,
            "pool4": pool4,
            "sessions": by_proto(&self.sessions),
            "bindings": {
                "dynamic": by_proto(&self.dynamic_bindings),
                "static": by_proto(&self.static_bindings),
            },
            "last_expiry_pass": last_pass,
            "drops_last_minute": drops,
            "state_error": self.state_error,
        })
    }
}

/// `status`: the instances (all with pinned state when `only` is None), printed; returns
/// the exit status ([`EXIT_RUNNING`] or [`EXIT_NOT_RUNNING`]).
pub fn run(only: Option<&str>, as_json: bool) -> Result<i32> {
    let names = match only {
        Some(n) => vec![n.to_string()],
        None => {
            readable(&Path::new(bpffs::BPFFS).join("nat64"))?;
            instances()
        }
    };
    if names.is_empty() {
        bail!(
            "no gateway instance ({} holds none)",
            Path::new(bpffs::BPFFS).join("nat64").display()
        );
    }
    let all: Vec<InstanceStatus> = names.iter().map(|n| collect(n)).collect::<Result<_>>()?;
    if as_json {
        let v: Vec<Value> = all.iter().map(InstanceStatus::to_json).collect();
        println!("{}", json!({ "instances": v }));
    } else {
        let text: Vec<String> = all.iter().map(InstanceStatus::render_text).collect();
        print!("{}", text.join("\n"));
    }
    Ok(if all.iter().all(|s| s.manager.is_some()) {
        EXIT_RUNNING
    } else {
        EXIT_NOT_RUNNING
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::maps::{Bib4Entry, Bib4Key, Pool4Slot, PROTO_TCP, PROTO_UDP};

    fn b(port4: u16, proto: u8, flags: u16) -> (Bib4Key, Bib4Entry) {
        (
            Bib4Key {
                addr4: [203, 0, 113, 1],
                port4,
                proto,
                _pad: 0,
            },
            Bib4Entry {
                addr6: [0; 16],
                port6: 1,
                flags,
            },
        )
    }

    #[test]
    fn pool4_use_sums_ranges_per_address_and_protocol() {
        let slot = |a: [u8; 4], lo, hi| Pool4Slot {
            addr4: a,
            port_lo: lo,
            port_hi: hi,
        };
        let a = [203, 0, 113, 1];
        let mut slots = crate::pool4::Pool4Slots::default();
        slots.0[1] = vec![
            slot(a, 1000, 1099),
            slot([203, 0, 113, 2], 1, 10),
            slot(a, 3000, 3009),
        ];
        slots.0[0] = vec![slot(a, 1000, 1999)];
        let bindings = [
            b(1000, PROTO_UDP, 0),
            b(3005, PROTO_UDP, 0),
            b(2000, PROTO_UDP, 0), // outside every range: not a pool port
            b(5000, PROTO_UDP, BIB_F_STATIC),
            b(1500, PROTO_TCP, 0),
        ];
        let u = pool4_use(&slots, &bindings);
        assert_eq!(u.len(), 3);
        assert_eq!((u[0].proto, u[0].ports, u[0].in_use), (PROTO_TCP, 1000, 1));
        let udp = &u[1];
        assert_eq!(udp.ranges, [(1000, 1099), (3000, 3009)]);
        assert_eq!((udp.ports, udp.in_use, udp.static_bindings), (110, 2, 1));
        assert_eq!(
            (u[2].addr, u[2].ports, u[2].in_use),
            (Ipv4Addr::new(203, 0, 113, 2), 10, 0)
        );
    }

    #[test]
    fn the_running_object_is_known_only_when_every_link_runs_the_recorded_program() {
        let prog = |id| run_state::Program {
            id,
            tag: String::new(),
        };
        let rec = run_state::Dataplane {
            ebpf_sha256: "aaaa".into(),
            programs: vec![prog(7), prog(8)],
        };
        let m = dataplane_match("aaaa", Some(&rec), &[7]);
        assert_eq!(
            (m.running_sha256.as_deref(), m.matches),
            (Some("aaaa"), Some(true))
        );
        let m = dataplane_match("bbbb", Some(&rec), &[7]);
        assert_eq!(m.matches, Some(false));
        // Both of the object's programs (an XDP and a tc link).
        assert_eq!(
            dataplane_match("aaaa", Some(&rec), &[7, 8]).matches,
            Some(true)
        );
        // Someone swapped a program in since: not known.
        let m = dataplane_match("aaaa", Some(&rec), &[7, 9]);
        assert_eq!((m.running_sha256, m.matches), (None, None));
        assert_eq!(dataplane_match("aaaa", None, &[7]).matches, None);
        assert_eq!(dataplane_match("aaaa", Some(&rec), &[]).matches, None);
    }
}
