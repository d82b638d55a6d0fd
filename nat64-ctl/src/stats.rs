//! Reading the per-CPU counters.
use std::{os::fd::AsFd, path::Path};

use anyhow::{Context, Result};
use aya::maps::{IterableMap, Map, MapData, PerCpuArray};
use nat64_common::Counter;

use crate::batch;

pub const STATS_MAP: &str = nat64_common::maps::MAP_STATS;

/// How many values a per-CPU slot holds: the possible CPUs, fixed at boot, so read from
/// /sys once (the counters are read after every packet of the loaded-program fuzz).
fn possible_cpus() -> Result<usize> {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if let Some(&n) = CPUS.get() {
        return Ok(n);
    }
    let n = aya::util::nr_cpus()
        .map_err(|(_, e)| e)
        .context("counting possible CPUs")?;
    Ok(*CPUS.get_or_init(|| n))
}

/// Sum of every CPU's slot, in `Counter::ALL` order: one batch syscall for the whole
/// array where the kernel has batch lookups (5.6+), a lookup per counter otherwise.
pub fn read(map: &PerCpuArray<MapData, u64>) -> Result<Vec<(Counter, u64)>> {
    let slots = Counter::ALL
        .iter()
        .map(|c| c.index())
        .max()
        .map_or(0, |m| m + 1);
    let cpus = possible_cpus()?;
    if let Ok(sums) = batch::read_percpu_u64_sums(map.map().fd().as_fd(), slots, cpus) {
        return Ok(Counter::ALL
            .iter()
            .map(|&c| (c, sums[c.index() as usize]))
            .collect());
    }
    read_slot_by_slot(map)
}

/// The same sums, a lookup per counter (kernels without batch lookups; and the reference
/// the batch read is checked against).
pub fn read_slot_by_slot(map: &PerCpuArray<MapData, u64>) -> Result<Vec<(Counter, u64)>> {
    Counter::ALL
        .iter()
        .map(|&c| {
            let per_cpu = map
                .get(&c.index(), 0)
                .with_context(|| format!("reading counter {}", c.name()))?;
            Ok((c, per_cpu.iter().sum()))
        })
        .collect()
}

/// Adds `n` to a counter only nat64-ctl writes (the data plane never touches its slot, so
/// this read-modify-write has one writer: the sweeper). The sum over CPUs is what counts;
/// CPU 0's slot carries it.
///
/// Why not simply add to one CPU's value: BPF_MAP_UPDATE_ELEM on a per-CPU array replaces
/// the slot's values on every CPU at once, so a data-plane increment landing between our
/// read and our write would be lost. Slots in `Counter::USERSPACE` have no such writer
/// (nat64-common's tests check that the data plane never names them); the other slots are
/// left alone by the update, so concurrent kernel writes to them are unaffected.
pub fn add_userspace(map: &mut PerCpuArray<MapData, u64>, c: Counter, n: u64) -> Result<()> {
    anyhow::ensure!(
        Counter::USERSPACE.contains(&c),
        "counter {} is written by the data plane; userspace must not add to it",
        c.name()
    );
    if n == 0 {
        return Ok(());
    }
    let mut values = map
        .get(&c.index(), 0)
        .with_context(|| format!("reading counter {}", c.name()))?;
    let mut v: Vec<u64> = values.iter().copied().collect();
    v[0] += n;
    values = aya::maps::PerCpuValues::try_from(v).context("per-CPU values")?;
    map.set(c.index(), values, 0)
        .with_context(|| format!("writing counter {}", c.name()))
}

pub fn open_pinned(path: &Path) -> Result<PerCpuArray<MapData, u64>> {
    let data = MapData::from_pin(path).with_context(|| format!("opening {}", path.display()))?;
    PerCpuArray::try_from(Map::PerCpuArray(data)).context("pinned stats map has an unexpected type")
}

pub fn take(ebpf: &mut aya::Ebpf) -> Result<PerCpuArray<MapData, u64>> {
    let map = ebpf
        .take_map(STATS_MAP)
        .context("stats map missing from the object")?;
    PerCpuArray::try_from(map).context("stats map has an unexpected type")
}

/// Human-readable table; zero counters hidden unless `all`.
pub fn render_text(values: &[(Counter, u64)], all: bool, explain: bool) -> String {
    let mut out = String::new();
    for (c, v) in values.iter().filter(|(_, v)| all || *v != 0) {
        if explain {
            out.push_str(&format!("{:<28} {:>14}  {}\n", c.name(), v, c.explain()));
        } else {
            out.push_str(&format!("{:<28} {:>14}\n", c.name(), v));
        }
    }
    out
}

pub fn render_json(values: &[(Counter, u64)], all: bool) -> String {
    let obj: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .filter(|(_, v)| all || *v != 0)
        .map(|(c, v)| (c.name().to_string(), (*v).into()))
        .collect();
    serde_json::Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counters_hidden_unless_all() {
        let values = vec![(Counter::RxIpv6, 3), (Counter::RxIpv4, 0)];
        let text = render_text(&values, false, false);
        assert!(text.contains("rx_ipv6") && text.contains(" 3\n"));
        assert!(!text.contains("rx_ipv4"));
        assert!(render_text(&values, true, false).contains("rx_ipv4"));
        assert_eq!(render_json(&values, false), r#"{"rx_ipv6":3}"#);
        assert!(render_text(&values, false, true).contains(Counter::RxIpv6.explain()));
    }
}
