//! The maps of a running instance, opened from their pins, for the sweeper and for
//! management commands run from a second invocation.
use std::{os::fd::AsFd, path::Path};

use anyhow::{Context, Result};
use aya::maps::{Array, HashMap, IterableMap, Map, MapData, Queue};
use nat64_common::maps::{
    pool4_slot_index, Bib4Entry, Bib4Key, Bib6Entry, Bib6Key, GatewayConfig, HeldSynKey,
    HeldSynTarget, Pool4Entry, Pool4Ports, Pool4PortsKey, Pool4Slot, SessionEntry, SessionKey,
    SubscriberBlock, MAP_BIB4, MAP_BIB6, MAP_BLOCKS, MAP_BLOCK_CONFIG, MAP_BLOCK_OWNERS,
    MAP_CONFIG, MAP_FREE_BLOCKS, MAP_HELD_SYNS, MAP_POOL4, MAP_POOL4_PORTS, MAP_POOL4_SLOTS,
    MAP_SESSIONS, MAP_SUBSCRIBER_BLOCKS,
};

use crate::batch;

/// Entries per batch syscall when reading a whole table.
const READ_CHUNK: u32 = 8192;

/// Every map a second invocation works on; pinned by `attach` under the instance directory.
/// (The tables of port blocks on first use are pinned too, but optional: a gateway an
/// older nat64-ctl attached has none.)
pub const PINNED_MAPS: [&str; 10] = [
    MAP_CONFIG,
    MAP_BLOCK_CONFIG,
    MAP_BLOCKS,
    MAP_HELD_SYNS,
    MAP_POOL4,
    MAP_POOL4_SLOTS,
    MAP_POOL4_PORTS,
    MAP_BIB6,
    MAP_BIB4,
    MAP_SESSIONS,
];

/// The state tables of a running instance, opened from their pins.
pub struct Tables {
    pub config: Array<MapData, GatewayConfig>,
    pub pool4: HashMap<MapData, [u8; 4], Pool4Entry>,
    pub slots: Array<MapData, Pool4Slot>,
    /// Ports pool4 lends on the gateway's own addresses (see `crate::local`).
    pub pool4_ports: HashMap<MapData, Pool4PortsKey, Pool4Ports>,
    pub sessions: HashMap<MapData, SessionKey, SessionEntry>,
    pub bib4: HashMap<MapData, Bib4Key, Bib4Entry>,
    pub bib6: HashMap<MapData, Bib6Key, Bib6Entry>,
    /// IPv4 SYNs the slow path holds, for new TCP bindings to meet (see the slow path).
    pub held_syns: HashMap<MapData, HeldSynKey, HeldSynTarget>,
    /// Port blocks (RFC 7422): how subscribers are numbered, and their blocks.
    pub block_config: Array<MapData, nat64_common::block::PortBlockConfig>,
    pub blocks: Array<MapData, Pool4Slot>,
    /// Port blocks on first use: None on a gateway attached by a build without them.
    pub first_use: Option<FirstUseTables>,
}

/// Port blocks on first use: who holds which block, and the free ones.
pub struct FirstUseTables {
    pub subscribers: HashMap<MapData, [u8; 16], SubscriberBlock>,
    pub owners: HashMap<MapData, u32, [u8; 16]>,
    pub free: Queue<MapData, u32>,
}

impl FirstUseTables {
    fn build(open: impl Fn(&str) -> Result<MapData>) -> Result<FirstUseTables> {
        let bad = |name: &str| format!("{name} has an unexpected type");
        Ok(FirstUseTables {
            subscribers: HashMap::try_from(Map::HashMap(open(MAP_SUBSCRIBER_BLOCKS)?))
                .with_context(|| bad(MAP_SUBSCRIBER_BLOCKS))?,
            owners: HashMap::try_from(Map::HashMap(open(MAP_BLOCK_OWNERS)?))
                .with_context(|| bad(MAP_BLOCK_OWNERS))?,
            free: Queue::try_from(Map::Queue(open(MAP_FREE_BLOCKS)?))
                .with_context(|| bad(MAP_FREE_BLOCKS))?,
        })
    }

    /// Every subscriber holding a block, with it.
    pub fn held(&self) -> Vec<([u8; 16], SubscriberBlock)> {
        self.subscribers.iter().filter_map(|r| r.ok()).collect()
    }

    /// Empties the tables and queues every block number below `blocks` as free: what a
    /// new block layout starts from (the bindings made under the old one keep their ports
    /// until they expire).
    pub fn reset(&mut self, blocks: u32) -> Result<()> {
        while self.free.pop(0).is_ok() {}
        let held: Vec<[u8; 16]> = self.subscribers.keys().filter_map(|k| k.ok()).collect();
        for k in held {
            let _ = self.subscribers.remove(&k);
        }
        let owned: Vec<u32> = self.owners.keys().filter_map(|k| k.ok()).collect();
        for b in owned {
            let _ = self.owners.remove(&b);
        }
        for b in 0..blocks {
            self.free
                .push(b, 0)
                .with_context(|| format!("queueing free port block {b}"))?;
        }
        Ok(())
    }

    /// Entries each table holds at most.
    pub fn capacity(&self) -> u32 {
        let entries = |m: &MapData| m.info().map_or(0, |i| i.max_entries());
        entries(self.subscribers.map())
            .min(entries(self.owners.map()))
            .min(self.free.capacity())
    }
}

fn pinned(dir: &Path, name: &str) -> Result<MapData> {
    let path = crate::bpffs::pin_path(dir, name);
    MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))
}

impl Tables {
    pub fn open(dir: &Path) -> Result<Tables> {
        let mut t = Self::build(|name| pinned(dir, name))?;
        t.first_use = FirstUseTables::build(|name| pinned(dir, name)).ok();
        Ok(t)
    }

    /// The same maps, opened afresh from a loaded object (no pins needed).
    pub fn from_ebpf(ebpf: &aya::Ebpf) -> Result<Tables> {
        let open = |name: &str| {
            let data = match ebpf.map(name) {
                Some(Map::HashMap(d)) | Some(Map::Array(d)) | Some(Map::Queue(d)) => d,
                Some(_) => anyhow::bail!("{name} has an unexpected type"),
                None => anyhow::bail!("{name} missing from the object"),
            };
            let id = data.info().context("map info")?.id();
            MapData::from_id(id).with_context(|| format!("opening {name}"))
        };
        let mut t = Self::build(open)?;
        t.first_use = Some(FirstUseTables::build(open)?);
        Ok(t)
    }

    fn build(open: impl Fn(&str) -> Result<MapData>) -> Result<Tables> {
        let bad = |name: &str| format!("{name} has an unexpected type");
        Ok(Tables {
            config: Array::try_from(Map::Array(open(MAP_CONFIG)?))
                .with_context(|| bad(MAP_CONFIG))?,
            pool4: HashMap::try_from(Map::HashMap(open(MAP_POOL4)?))
                .with_context(|| bad(MAP_POOL4))?,
            slots: Array::try_from(Map::Array(open(MAP_POOL4_SLOTS)?))
                .with_context(|| bad(MAP_POOL4_SLOTS))?,
            pool4_ports: HashMap::try_from(Map::HashMap(open(MAP_POOL4_PORTS)?))
                .with_context(|| bad(MAP_POOL4_PORTS))?,
            sessions: HashMap::try_from(Map::HashMap(open(MAP_SESSIONS)?))
                .with_context(|| bad(MAP_SESSIONS))?,
            bib4: HashMap::try_from(Map::HashMap(open(MAP_BIB4)?))
                .with_context(|| bad(MAP_BIB4))?,
            bib6: HashMap::try_from(Map::HashMap(open(MAP_BIB6)?))
                .with_context(|| bad(MAP_BIB6))?,
            held_syns: HashMap::try_from(Map::HashMap(open(MAP_HELD_SYNS)?))
                .with_context(|| bad(MAP_HELD_SYNS))?,
            block_config: Array::try_from(Map::Array(open(MAP_BLOCK_CONFIG)?))
                .with_context(|| bad(MAP_BLOCK_CONFIG))?,
            blocks: Array::try_from(Map::Array(open(MAP_BLOCKS)?))
                .with_context(|| bad(MAP_BLOCKS))?,
            first_use: None,
        })
    }

    /// Whether a TCP pool4 range on `addr4` holds `port` (the ranges new bindings take).
    pub fn lends_tcp(&self, addr4: [u8; 4], port: u16) -> bool {
        let Ok(cfg) = self.gateway_config() else {
            return false;
        };
        (0..u32::from(cfg.pool4_slots[0])).any(|i| {
            self.slots
                .get(&pool4_slot_index(0, i), 0)
                .is_ok_and(|s| s.addr4 == addr4 && (s.port_lo..=s.port_hi).contains(&port))
        })
    }

    /// The running gateway's pool4 slots, per protocol, as the data plane reads them.
    pub fn pool4_slots(&self) -> Result<crate::pool4::Pool4Slots> {
        let cfg = self.gateway_config()?;
        let mut out = crate::pool4::Pool4Slots::default();
        for (p, list) in out.0.iter_mut().enumerate() {
            for i in 0..u32::from(cfg.pool4_slots[p]) {
                list.push(
                    self.slots
                        .get(&pool4_slot_index(p, i), 0)
                        .context("reading pool4 slots")?,
                );
            }
        }
        Ok(out)
    }

    /// The running gateway's port blocks, with the pool4 they are cut from; None while
    /// port blocks are off.
    pub fn port_blocks(
        &self,
    ) -> Result<Option<(crate::blocks::PortBlocks, crate::pool4::Pool4Slots)>> {
        let c = self
            .block_config
            .get(&0, 0)
            .context("reading the port-block config")?;
        match crate::blocks::from_config(&c) {
            Some(b) => Ok(Some((b, self.pool4_slots()?))),
            None => Ok(None),
        }
    }

    pub fn gateway_config(&self) -> Result<GatewayConfig> {
        self.config.get(&0, 0).context("reading the gateway config")
    }

    /// Sets or clears `CONFIG_F_*` bits of the running gateway's config.
    pub fn set_config_flag(&mut self, flag: u32, on: bool) -> Result<()> {
        let mut cfg = self.gateway_config()?;
        cfg.flags = if on {
            cfg.flags | flag
        } else {
            cfg.flags & !flag
        };
        self.config
            .set(0, cfg, 0)
            .context("writing the gateway config")
    }

    /// Every session, thousands per syscall.
    pub fn read_sessions(&self) -> Result<Vec<(SessionKey, SessionEntry)>> {
        batch::read_all(self.sessions.map().fd().as_fd(), READ_CHUNK).context("reading sessions")
    }

    pub fn read_bib4(&self) -> Result<Vec<(Bib4Key, Bib4Entry)>> {
        batch::read_all(self.bib4.map().fd().as_fd(), READ_CHUNK).context("reading the BIB")
    }
}
