//! What the running manager knows and the pins do not: the last expiry pass, the drop
//! counters about a minute ago, and which eBPF object it put on the links. `attach` writes
//! it to `/run/nat64/<instance>/state.json` when the links are set and after every expiry
//! pass; `nat64-ctl status` reads it. The file lives on tmpfs like the lock, so it goes at
//! reboot with the pins it describes; it stays after the manager stops (it still tells
//! which object the pinned links run) and goes with `detach`.
use std::{
    collections::{BTreeMap, VecDeque},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use nat64_common::Counter;
use serde::{Deserialize, Serialize};

use crate::instance::LOCK_DIR;

/// Changed when a field changes meaning or goes; added fields keep it.
pub const STATE_VERSION: u32 = 1;

/// The window of "drops in the last minute".
pub const DROP_WINDOW_NS: u64 = 60 * nat64_common::timeouts::NS_PER_S;

/// `/run/nat64/<instance>`.
pub fn state_dir(instance: &str) -> PathBuf {
    Path::new(LOCK_DIR).join(instance)
}

/// `/run/nat64/<instance>/state.json`.
pub fn state_path(instance: &str) -> PathBuf {
    state_dir(instance).join("state.json")
}

/// The file's contents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The manager that wrote it.
    pub pid: u32,
    /// What it attached.
    pub dataplane: Dataplane,
    /// None until the first pass ends.
    pub last_pass: Option<PassRecord>,
    /// The drop counters about [`DROP_WINDOW_NS`] ago (or at the manager's first pass, if
    /// it has run for less).
    pub drops_baseline: Option<CounterSnapshot>,
}

/// The programs the manager loaded from its embedded object and put on its links.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataplane {
    /// SHA-256 of the eBPF object (`crate::EBPF_OBJECT_SHA256` of the writer).
    pub ebpf_sha256: String,
    /// Every program of the object it attached (one per hook kind): a link running
    /// another program was changed by someone else since.
    pub programs: Vec<Program>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Kernel program ID.
    pub id: u32,
    /// The kernel's tag of the program (hex).
    pub tag: String,
}

impl Program {
    pub fn of(info: &aya::programs::ProgramInfo) -> Program {
        Program {
            id: info.id(),
            tag: format!("{:016x}", info.tag()),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PassRecord {
    /// CLOCK_MONOTONIC (shared by every process of the boot) when the pass ended.
    pub finished_monotonic_ns: u64,
    /// The same moment for people (RFC 3339, UTC).
    pub finished_at: String,
    pub duration_ns: u64,
    /// Entries of the session table read.
    pub scanned: u64,
    /// Sessions (and address-dependent filtering's peer records) deleted.
    pub sessions_expired: u64,
    /// Dynamic bindings deleted.
    pub bindings_expired: u64,
}

/// Drop counters (`drop_*`) by name at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    pub monotonic_ns: u64,
    pub counters: BTreeMap<String, u64>,
}

impl CounterSnapshot {
    pub fn of_drops(values: &[(Counter, u64)], monotonic_ns: u64) -> CounterSnapshot {
        CounterSnapshot {
            monotonic_ns,
            counters: values
                .iter()
                .filter(|(c, _)| c.is_drop())
                .map(|(c, v)| (c.name().to_string(), *v))
                .collect(),
        }
    }
}

/// Snapshots, one per pass, kept just long enough that the oldest is the newest one at
/// least [`DROP_WINDOW_NS`] old.
#[derive(Debug, Default)]
pub struct DropRing {
    ring: VecDeque<CounterSnapshot>,
}

impl DropRing {
    /// Adds `s` (taken after every earlier one) and returns the baseline: the newest
    /// snapshot at least a window older than `s`, else the oldest there is.
    pub fn push(&mut self, s: CounterSnapshot) -> &CounterSnapshot {
        let now = s.monotonic_ns;
        self.ring.push_back(s);
        while self
            .ring
            .get(1)
            .is_some_and(|next| now.saturating_sub(next.monotonic_ns) >= DROP_WINDOW_NS)
        {
            self.ring.pop_front();
        }
        &self.ring[0]
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

/// Drops since `baseline`, by reason (the name without `drop_`), zero ones left out. A
/// counter the baseline lacks (appended by a newer build) counts from zero.
pub fn drops_since(baseline: &CounterSnapshot, now: &[(Counter, u64)]) -> BTreeMap<String, u64> {
    now.iter()
        .filter(|(c, _)| c.is_drop())
        .filter_map(|(c, v)| {
            let before = baseline.counters.get(c.name()).copied().unwrap_or(0);
            let reason = c.name().strip_prefix("drop_").unwrap_or(c.name());
            // A counter never goes down; a smaller value means a reset (`--fresh`).
            Some((reason.to_string(), v.saturating_sub(before))).filter(|(_, d)| *d > 0)
        })
        .collect()
}

/// The manager's side: keeps the state and the drop ring, writes the file after each pass.
pub struct Recorder {
    instance: String,
    state: State,
    ring: DropRing,
}

impl Recorder {
    /// Writes the first state (no pass yet) for the object just attached.
    pub fn start(instance: &str, dataplane: Dataplane) -> Result<Recorder> {
        let r = Recorder {
            instance: instance.to_string(),
            state: State {
                version: STATE_VERSION,
                pid: std::process::id(),
                dataplane,
                last_pass: None,
                drops_baseline: None,
            },
            ring: DropRing::default(),
        };
        write(&r.instance, &r.state)?;
        Ok(r)
    }

    /// Records a pass that took `took`, snapshots the drop counters and writes the file.
    pub fn pass_done(
        &mut self,
        swept: &crate::census::Swept,
        took: std::time::Duration,
        counters: &aya::maps::PerCpuArray<aya::maps::MapData, u64>,
    ) -> Result<()> {
        let now = crate::clock::monotonic_ns();
        let unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        self.state.last_pass = Some(PassRecord {
            finished_monotonic_ns: now,
            finished_at: crate::session_log::rfc3339(unix_ns),
            duration_ns: took.as_nanos() as u64,
            scanned: swept.scanned as u64,
            sessions_expired: swept.sessions as u64,
            bindings_expired: swept.bindings as u64,
        });
        let values = crate::stats::read(counters)?;
        let base = self.ring.push(CounterSnapshot::of_drops(&values, now));
        self.state.drops_baseline = Some(base.clone());
        write(&self.instance, &self.state)
    }
}

/// Writes `state` for `instance`: a temporary file renamed over the old one, so a reader
/// sees the old file or the new one, never a part.
pub fn write(instance: &str, state: &State) -> Result<()> {
    let dir = state_dir(instance);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = state_path(instance);
    let tmp = dir.join("state.json.tmp");
    let body = serde_json::to_vec(state).context("encoding the state")?;
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&body)
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))
}

/// The instance's state file, None when there is none.
pub fn read(instance: &str) -> Result<Option<State>> {
    let path = state_path(instance);
    let body = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&body)
        .map(Some)
        .with_context(|| format!("parsing {}", path.display()))
}

/// Removes the state of a detached instance.
pub fn remove(instance: &str) {
    let _ = std::fs::remove_dir_all(state_dir(instance));
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = nat64_common::timeouts::NS_PER_S;

    fn snap(t: u64, no_bib4: u64) -> CounterSnapshot {
        CounterSnapshot {
            monotonic_ns: t,
            counters: [("drop_no_bib4".to_string(), no_bib4)].into(),
        }
    }

    #[test]
    fn the_baseline_is_the_newest_snapshot_a_window_old() {
        let mut r = DropRing::default();
        // The first minute: the oldest snapshot is the baseline.
        assert_eq!(r.push(snap(10 * S, 0)).monotonic_ns, 10 * S);
        for t in 11..70 {
            assert_eq!(r.push(snap(t * S, t)).monotonic_ns, 10 * S);
        }
        // At 71 s the snapshot of 11 s is exactly a window old: 10 s goes.
        assert_eq!(r.push(snap(71 * S, 0)).monotonic_ns, 11 * S);
        // Passes that took a while: 100 s drops every snapshot before 40 s.
        assert_eq!(r.push(snap(100 * S, 0)).monotonic_ns, 40 * S);
        assert_eq!(r.len(), 30 + 2, "40..=69, 71 and 100");
        // A long gap leaves only the last snapshot before it.
        assert_eq!(r.push(snap(1000 * S, 0)).monotonic_ns, 100 * S);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn drops_are_counted_from_the_baseline_by_reason() {
        let base = snap(0, 5);
        let now = [
            (Counter::DropNoBib4, 7),
            (Counter::DropPool4Exhausted, 2),
            (Counter::DropTruncatedIpv4, 0),
            (Counter::RxIpv4, 100),
        ];
        let d = drops_since(&base, &now);
        assert_eq!(
            d,
            BTreeMap::from([
                ("no_bib4".to_string(), 2),
                ("pool4_exhausted".to_string(), 2)
            ])
        );
        // Below the baseline (the counters were reset): nothing, not a wrap-around.
        assert!(drops_since(&snap(0, 9), &[(Counter::DropNoBib4, 3)]).is_empty());
        let s = CounterSnapshot::of_drops(&now, 4);
        assert_eq!(s.counters.len(), 3, "every drop counter, the zero ones too");
        assert!(!s.counters.contains_key("rx_ipv4"));
    }

    #[test]
    fn state_round_trips_through_json() {
        let s = State {
            version: STATE_VERSION,
            pid: 7,
            dataplane: Dataplane {
                ebpf_sha256: "ab".into(),
                programs: vec![Program {
                    id: 3,
                    tag: "00ff".into(),
                }],
            },
            last_pass: Some(PassRecord {
                finished_monotonic_ns: 5,
                finished_at: "2026-01-01T00:00:00.000Z".into(),
                duration_ns: 9,
                scanned: 1,
                sessions_expired: 2,
                bindings_expired: 3,
            }),
            drops_baseline: Some(snap(1, 2)),
        };
        let back: State = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
