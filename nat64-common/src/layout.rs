//! Layout versions of the pinned maps: what lets a new nat64-ctl take over a gateway that
//! an older one started without losing its flows.
//!
//! Each pinned map carries its own layout version in its pin's name (`NAT64_CONFIG_v2`).
//! A map whose layout changes gets the next version, and nat64-ctl learns to migrate the
//! older one (its entries copied into the new layout) or the map is listed as one that
//! cannot be migrated. On attach, a map pinned at this build's version is kept as it is,
//! one pinned at an older version it migrates from is migrated, and anything else is
//! refused by name before the kernel is touched.
use crate::maps::{
    MAP_BIB4, MAP_BIB6, MAP_BLOCKS, MAP_BLOCK_CONFIG, MAP_BLOCK_OWNERS, MAP_CONFIG,
    MAP_FREE_BLOCKS, MAP_HELD_SYNS, MAP_POOL4, MAP_POOL4_PORTS, MAP_POOL4_SLOTS, MAP_SESSIONS,
    MAP_STATS, MAP_SUBSCRIBER_BLOCKS,
};

/// A pinned map's current layout and the older ones this build migrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLayout {
    pub map: &'static str,
    pub version: u32,
    /// Older versions whose entries this build copies into the current layout.
    pub migrates_from: &'static [u32],
}

/// Every pinned map. The counters keep version 1 while their slot count grows: counters
/// are carried over by ID (see [`crate::counters`]), new ones starting at zero.
pub const LAYOUTS: [MapLayout; 15] = [
    // v1: before the lowest-ipv6-mtu and ICMP error settings (52 bytes); v2: 92 bytes.
    MapLayout {
        map: MAP_CONFIG,
        version: 2,
        migrates_from: &[1],
    },
    MapLayout {
        map: MAP_POOL4,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_POOL4_SLOTS,
        version: 1,
        migrates_from: &[],
    },
    // New with the single-address gateway: an older build has none, and attach creates it.
    MapLayout {
        map: MAP_POOL4_PORTS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_BIB6,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_BIB4,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_SESSIONS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_STATS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: crate::frag::MAP_FRAGS,
        version: 1,
        migrates_from: &[],
    },
    // New with the simultaneous open that meets: an older build has none.
    MapLayout {
        map: MAP_HELD_SYNS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_BLOCK_CONFIG,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_BLOCKS,
        version: 1,
        migrates_from: &[],
    },
    // New with port blocks on first use: an older build has none, and attach creates them.
    MapLayout {
        map: MAP_SUBSCRIBER_BLOCKS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_BLOCK_OWNERS,
        version: 1,
        migrates_from: &[],
    },
    MapLayout {
        map: MAP_FREE_BLOCKS,
        version: 1,
        migrates_from: &[],
    },
];

/// Before maps carried their own versions, one version named the whole pin directory
/// (`/sys/fs/bpf/nat64/<instance>/v3/<map>`). These are the layouts its maps had.
pub const LEGACY_DIR: &str = "v3";
pub const LEGACY_VERSIONS: [(&str, u32); 8] = [
    (MAP_CONFIG, 2),
    (MAP_POOL4, 1),
    (MAP_POOL4_SLOTS, 1),
    (MAP_BIB6, 1),
    (MAP_BIB4, 1),
    (MAP_SESSIONS, 1),
    (MAP_STATS, 1),
    (crate::frag::MAP_FRAGS, 1),
];

/// Separates a map's name from its layout version in a pin's file name (bpffs refuses
/// names with dots).
pub const VERSION_SEP: &str = "_v";

/// The layout this build uses for `map`.
pub fn layout(map: &str) -> Option<&'static MapLayout> {
    LAYOUTS.iter().find(|l| l.map == map)
}

/// `NAT64_CONFIG_v2` → (`NAT64_CONFIG`, 2); anything else (links, other files) → None.
pub fn parse_pin(file: &str) -> Option<(&str, u32)> {
    let (map, version) = file.rsplit_once(VERSION_SEP)?;
    if map.is_empty() || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((map, version.parse().ok()?))
}

/// What an attach does with one map, given the versions of it that are pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing pinned: created empty.
    Create,
    /// Pinned at this build's layout: taken over as it is.
    Keep,
    /// Pinned at an older layout this build migrates: entries copied into a new map.
    Migrate { from: u32 },
    /// Pinned only at a layout this build does not know how to read (a newer nat64-ctl's,
    /// or an older one it cannot migrate).
    Refuse { found: u32 },
}

pub fn step(layout: &MapLayout, pinned: &[u32]) -> Step {
    if pinned.contains(&layout.version) {
        return Step::Keep;
    }
    // The newest older version there is: what the last nat64-ctl ran with.
    match pinned.iter().copied().max() {
        None => Step::Create,
        Some(v) if layout.migrates_from.contains(&v) => Step::Migrate { from: v },
        Some(v) => Step::Refuse { found: v },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_names_carry_the_version() {
        assert_eq!(parse_pin("NAT64_CONFIG_v2"), Some(("NAT64_CONFIG", 2)));
        assert_eq!(parse_pin("NAT64_STATS_v12"), Some(("NAT64_STATS", 12)));
        assert_eq!(parse_pin("link-eth0"), None);
        assert_eq!(parse_pin("NAT64_CONFIG.v"), None);
        assert_eq!(parse_pin("NAT64_CONFIG_v2-upgrading"), None);
        assert_eq!(parse_pin(".v2"), None);
    }

    #[test]
    fn older_layouts_migrate_unknown_ones_are_refused() {
        let config = layout(MAP_CONFIG).unwrap();
        assert_eq!(step(config, &[]), Step::Create);
        assert_eq!(step(config, &[2]), Step::Keep);
        assert_eq!(step(config, &[1, 2]), Step::Keep);
        assert_eq!(step(config, &[1]), Step::Migrate { from: 1 });
        assert_eq!(step(config, &[3]), Step::Refuse { found: 3 });
        let sessions = layout(MAP_SESSIONS).unwrap();
        assert_eq!(step(sessions, &[0]), Step::Refuse { found: 0 });
    }

    #[test]
    fn every_map_has_one_layout_and_a_legacy_version() {
        for (i, l) in LAYOUTS.iter().enumerate() {
            assert!(LAYOUTS[i + 1..].iter().all(|o| o.map != l.map), "{}", l.map);
            assert!(l.migrates_from.iter().all(|v| *v < l.version), "{}", l.map);
            // A map newer than the v3 directory has no legacy pin (attach creates it).
            if let Some((_, legacy)) = LEGACY_VERSIONS.iter().find(|(m, _)| *m == l.map) {
                assert!(*legacy <= l.version, "{}", l.map);
            } else {
                assert!(
                    [
                        MAP_POOL4_PORTS,
                        MAP_HELD_SYNS,
                        MAP_BLOCK_CONFIG,
                        MAP_BLOCKS,
                        MAP_SUBSCRIBER_BLOCKS,
                        MAP_BLOCK_OWNERS,
                        MAP_FREE_BLOCKS
                    ]
                    .contains(&l.map),
                    "{}",
                    l.map
                );
            }
        }
    }
}
