//! Taking over pins an older nat64-ctl left, map by map (`nat64_common::layout`).
//!
//! An attach keeps each pinned map whose layout this build shares. A map pinned at an
//! older layout it can migrate — or the counter array with another number of slots — is
//! set aside (its pin renamed to `<pin>-upgrading`), the object is loaded
//! with a fresh map in its place, the entries are copied across, and then the program is
//! swapped into the existing links: the data plane never runs without its sessions and
//! bindings, whose maps are kept. A map at a layout it cannot read is refused by name
//! before anything changes. If the attach fails before the swap, the old pins are put
//! back, so the running data plane and its pins still agree.
//!
//! What the old program counts between the copy and the swap (a few milliseconds) goes to
//! the old counter array and is not carried over.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aya::maps::{Array, Map, MapData, PerCpuArray};
use nat64_common::{
    layout::{self, Step, LAYOUTS},
    maps::{GatewayConfig, GatewayConfigV1, MAP_CONFIG, MAP_STATS},
    Counter,
};

use crate::bpffs::{pin_at, pin_path};

/// Suffix of a pin set aside while its map is migrated.
const STASH_SUFFIX: &str = "-upgrading";

/// Moves the pins of a nat64-ctl that versioned the whole directory
/// (`<instance>/v3/<map>`, `<instance>/v3/link-<iface>`) to where each map's own version
/// is in its name; true if there were any. Rename keeps the objects: the running program
/// and its links never notice.
pub fn adopt_legacy_dir(dir: &Path) -> Result<bool> {
    let legacy = dir.join(layout::LEGACY_DIR);
    if !legacy.is_dir() {
        return Ok(false);
    }
    for entry in
        std::fs::read_dir(&legacy).with_context(|| format!("reading {}", legacy.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let to = if name.starts_with("link-") {
            dir.join(name)
        } else if let Some((map, version)) =
            layout::LEGACY_VERSIONS.iter().find(|(m, _)| *m == name)
        {
            pin_at(dir, map, *version)
        } else {
            continue; // not ours: left for foreign_layouts to report
        };
        std::fs::rename(entry.path(), &to)
            .with_context(|| format!("moving {} to {}", entry.path().display(), to.display()))?;
    }
    // Empty unless something unknown was left, which then stays visible as foreign state.
    let _ = std::fs::remove_dir(&legacy);
    tracing::info!(
        "adopted the state pinned under {} (layout {})",
        legacy.display(),
        layout::LEGACY_DIR
    );
    Ok(true)
}

/// A map being migrated and where its old pin went.
struct Stashed {
    map: &'static str,
    from: u32,
    /// Where the old pin was.
    pin: PathBuf,
    /// Where it is while the migration runs.
    stash: PathBuf,
}

/// The migrations an attach performs. Until [`Upgrade::commit`], dropping it puts the old
/// pins back.
pub struct Upgrade {
    dir: PathBuf,
    stashed: Vec<Stashed>,
    committed: bool,
}

/// Versions of each map pinned in `dir`.
fn pinned_versions(dir: &Path) -> Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries {
        let e = e?;
        if let Some((map, v)) = e.file_name().to_str().and_then(layout::parse_pin) {
            out.push((map.to_string(), v));
        }
    }
    Ok(out)
}

fn open(pin: &Path) -> Result<MapData> {
    MapData::from_pin(pin).with_context(|| format!("opening {}", pin.display()))
}

fn slots(pin: &Path) -> Result<u32> {
    let info = open(pin)?
        .info()
        .with_context(|| format!("{}: map info", pin.display()))?;
    Ok(info.max_entries())
}

/// Decides every map's step; refuses (changing nothing) if one cannot be read, otherwise
/// sets aside the pins of the maps to migrate.
pub fn prepare(dir: &Path) -> Result<Upgrade> {
    let pinned = pinned_versions(dir)?;
    let mut todo = Vec::new();
    for l in &LAYOUTS {
        let versions: Vec<u32> = pinned
            .iter()
            .filter(|(m, _)| m == l.map)
            .map(|(_, v)| *v)
            .collect();
        match layout::step(l, &versions) {
            Step::Create => {}
            Step::Keep if l.map == MAP_STATS => {
                let pin = pin_path(dir, l.map);
                if slots(&pin)? != Counter::COUNT {
                    todo.push((l.map, l.version, pin));
                }
            }
            Step::Keep => {}
            Step::Migrate { from } => {
                todo.push((l.map, from, pin_at(dir, l.map, from)));
            }
            Step::Refuse { found } => bail!(
                "map {} is pinned at layout v{found} ({}), which this nat64-ctl cannot migrate \
                 (it has layout v{}{}); `nat64-ctl attach --fresh` or `nat64-ctl detach` removes \
                 the state (its flows are lost)",
                l.map,
                pin_at(dir, l.map, found).display(),
                l.version,
                match l.migrates_from {
                    [] => String::new(),
                    from => format!(
                        " and migrates {}",
                        from.iter()
                            .map(|v| format!("v{v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            ),
        }
    }
    let mut up = Upgrade {
        dir: dir.to_path_buf(),
        stashed: Vec::new(),
        committed: false,
    };
    for (map, from, pin) in todo {
        let stash = PathBuf::from(format!("{}{STASH_SUFFIX}", pin.display()));
        std::fs::rename(&pin, &stash)
            .with_context(|| format!("moving {} aside to {}", pin.display(), stash.display()))?;
        up.stashed.push(Stashed {
            map,
            from,
            pin,
            stash,
        });
    }
    Ok(up)
}

impl Upgrade {
    /// Copies each set-aside map's entries into the new map the object pinned in its place.
    pub fn copy(&self) -> Result<()> {
        for s in &self.stashed {
            let old = open(&s.stash)?;
            let new = open(&pin_path(&self.dir, s.map))?;
            let what = migrate(s.map, s.from, old, new)
                .with_context(|| format!("migrating {} from layout v{}", s.map, s.from))?;
            tracing::info!("upgrade: {}: {what}", s.map);
        }
        Ok(())
    }

    /// The new program runs on the links: the old maps are left to the kernel, which
    /// frees them with their last user.
    pub fn commit(mut self) {
        for s in &self.stashed {
            if let Err(e) = std::fs::remove_file(&s.stash) {
                tracing::warn!("removing {}: {e}", s.stash.display());
            }
        }
        self.committed = true;
    }
}

impl Drop for Upgrade {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for s in &self.stashed {
            let _ = std::fs::remove_file(pin_path(&self.dir, s.map));
            if let Err(e) = std::fs::rename(&s.stash, &s.pin) {
                tracing::error!(
                    "putting {} back to {}: {e}",
                    s.stash.display(),
                    s.pin.display()
                );
            }
        }
    }
}

/// Copies `old` (layout `from`) into `new` (this build's layout); says what it did.
fn migrate(map: &str, from: u32, old: MapData, new: MapData) -> Result<String> {
    match (map, from) {
        (MAP_STATS, _) => counters_by_id(old, new),
        (MAP_CONFIG, 1) => {
            let old: Array<MapData, GatewayConfigV1> = Array::try_from(Map::Array(old))?;
            let mut new: Array<MapData, GatewayConfig> = Array::try_from(Map::Array(new))?;
            let v1 = old.get(&0, 0).context("reading the v1 config")?;
            new.set(0, GatewayConfig::from(v1), 0)
                .context("writing the config")?;
            Ok("migrated from layout v1 (settings and port-choice secret kept)".into())
        }
        _ => bail!("no migration from layout v{from}"),
    }
}

/// Each counter's per-CPU values go to the slot of the same ID; IDs the old array lacks
/// (counters added since) start at zero, slots this build does not have (a newer build's
/// counters) are dropped.
fn counters_by_id(old: MapData, new: MapData) -> Result<String> {
    let have = old.info()?.max_entries();
    let old: PerCpuArray<MapData, u64> = PerCpuArray::try_from(Map::PerCpuArray(old))?;
    let mut new: PerCpuArray<MapData, u64> = PerCpuArray::try_from(Map::PerCpuArray(new))?;
    let carried = have.min(Counter::COUNT);
    for id in 0..carried {
        let values = old
            .get(&id, 0)
            .with_context(|| format!("reading counter ID {id}"))?;
        new.set(id, values, 0)
            .with_context(|| format!("writing counter ID {id}"))?;
    }
    Ok(if have <= Counter::COUNT {
        format!(
            "carried {carried} counters over by ID; {} new ones start at zero",
            Counter::COUNT - have
        )
    } else {
        format!(
            "carried {carried} counters over by ID; dropped {} slots this nat64-ctl has no counter for",
            have - Counter::COUNT
        )
    })
}
