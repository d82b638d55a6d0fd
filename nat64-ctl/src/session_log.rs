//! `attach --session-log FILE|-`: one JSON line per session and binding created or
//! deleted, with both transport addresses and a UTC timestamp, so that an operator can
//! answer "who held 192.0.2.2:40123/tcp at 10:31:07" (RFC 6888 §4 style logging).
//!
//! Creations come from the data plane over a BPF ring buffer (`NAT64_EVENTS`); when this
//! side falls behind, the kernel drops records and counts them (`events_lost`), it never
//! waits. Deletions are nat64-ctl's own doing (the sweeper) and are logged where they
//! happen.
use std::{
    io::Write,
    net::{Ipv4Addr, Ipv6Addr},
    sync::Mutex,
};

use anyhow::{Context, Result};
use aya::maps::{MapData, RingBuf};
use nat64_common::maps::{
    Bib4Key, SessionEvent, EVENT_BIB_CREATED, EVENT_BIB_DELETED, EVENT_BLOCK_ASSIGNED,
    EVENT_BLOCK_RELEASED, EVENT_SESSION_CREATED, EVENT_SESSION_DELETED, POOL4_PROTOS,
};
use tokio::io::unix::AsyncFd;

use crate::{
    clock::monotonic_ns,
    tables::Tables,
    wire::{proto_name, PROTO_ICMP},
};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SessionCreated,
    SessionDeleted,
    BibCreated,
    BibDeleted,
    /// A subscriber's port block (RFC 7422) got its first binding.
    BlockAssigned,
    /// ... and lost its last one.
    BlockReleased,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SessionCreated => "session_created",
            Kind::SessionDeleted => "session_deleted",
            Kind::BibCreated => "bib_created",
            Kind::BibDeleted => "bib_deleted",
            Kind::BlockAssigned => "block_assigned",
            Kind::BlockReleased => "block_released",
        }
    }
}

/// One log line's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// CLOCK_MONOTONIC of the event.
    pub time_ns: u64,
    pub proto: u8,
    /// The IPv6 host's transport address, when known.
    pub ipv6: Option<(Ipv6Addr, u16)>,
    pub pool4: (Ipv4Addr, u16),
    /// The IPv4 peer (sessions).
    pub peer: Option<(Ipv4Addr, u16)>,
    /// Port blocks: the block's last port (`pool4` holds its first) and its subscriber.
    pub block: Option<(u16, ipnet::Ipv6Net)>,
}

/// `unix_ns` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(unix_ns: i128) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000) as libc::time_t;
    let ms = unix_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::gmtime_r(&secs, &mut tm) };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// The reverse of [`rfc3339`]: `YYYY-MM-DDTHH:MM:SS[.mmm]Z` to nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i32>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, ms) = match time.split_once('.') {
        Some((a, b)) if b.len() == 3 => (a, b.parse::<i128>().ok()?),
        Some(_) => return None,
        None => (time, 0),
    };
    let mut t = hms.split(':').map(|x| x.parse::<i32>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = da;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    let secs = unsafe { libc::timegm(&mut tm) };
    Some(secs as i128 * 1_000_000_000 + ms * 1_000_000)
}

impl Record {
    /// The JSON line; `unix_ns` is the event's wall-clock time.
    pub fn json(&self, unix_ns: i128) -> String {
        let mut v = serde_json::json!({
            "time": rfc3339(unix_ns),
            "event": self.kind.name(),
            "proto": proto_name(self.proto),
            "pool4": self.pool4.0.to_string(),
            "port4": self.pool4.1,
        });
        if let Some((a, p)) = self.ipv6 {
            v["ipv6"] = a.to_string().into();
            v["port6"] = p.into();
        }
        if let Some((a, p)) = self.peer {
            v["ipv4_peer"] = a.to_string().into();
            v["peer_port"] = p.into();
        }
        if let Some((last, subscriber)) = self.block {
            v["port4_last"] = last.into();
            v["subscriber"] = subscriber.to_string().into();
        }
        v.to_string()
    }

    /// A record off the ring buffer; sessions get their IPv6 side from `bib`.
    pub fn from_event(
        ev: &SessionEvent,
        bib: impl Fn(&Bib4Key) -> Option<(Ipv6Addr, u16)>,
    ) -> Option<Record> {
        let pool4 = (Ipv4Addr::from(ev.addr4), ev.port4);
        match ev.kind {
            EVENT_BIB_CREATED => Some(Record {
                kind: Kind::BibCreated,
                time_ns: ev.time_ns,
                proto: ev.proto,
                ipv6: Some((Ipv6Addr::from(ev.addr6), ev.port6)),
                pool4,
                peer: None,
                block: None,
            }),
            EVENT_BIB_DELETED => Some(Record {
                kind: Kind::BibDeleted,
                time_ns: ev.time_ns,
                proto: ev.proto,
                ipv6: Some((Ipv6Addr::from(ev.addr6), ev.port6)),
                pool4,
                peer: None,
                block: None,
            }),
            EVENT_SESSION_CREATED | EVENT_SESSION_DELETED => Some(Record {
                kind: if ev.kind == EVENT_SESSION_CREATED {
                    Kind::SessionCreated
                } else {
                    Kind::SessionDeleted
                },
                time_ns: ev.time_ns,
                proto: ev.proto,
                // A new session's binding is looked up; a deleted one's came with the
                // event (its binding may be gone by now), unless it had none.
                ipv6: if ev.kind == EVENT_SESSION_DELETED && ev.addr6 != [0; 16] {
                    Some((Ipv6Addr::from(ev.addr6), ev.port6))
                } else if ev.kind == EVENT_SESSION_DELETED {
                    None
                } else {
                    bib(&Bib4Key {
                        addr4: ev.addr4,
                        port4: ev.port4,
                        proto: ev.proto,
                        _pad: 0,
                    })
                },
                pool4,
                peer: Some((
                    Ipv4Addr::from(ev.remote4),
                    if ev.proto == PROTO_ICMP {
                        ev.port4
                    } else {
                        ev.remote_port
                    },
                )),
                block: None,
            }),
            _ => None,
        }
    }
}

/// Where the lines go; shared by the ring-buffer reader and the sweeper.
pub struct SessionLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl SessionLog {
    /// `-` is standard output; a path is appended to (created if needed).
    pub fn open(target: &str) -> Result<SessionLog> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(target)
                    .with_context(|| format!("--session-log {target}: cannot open it"))?,
            )
        };
        Ok(SessionLog {
            out: Mutex::new(out),
        })
    }

    pub fn write(&self, records: &[Record]) {
        if records.is_empty() {
            return;
        }
        // Monotonic → wall clock, read once per batch.
        let mono = monotonic_ns() as i128;
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let mut text = String::new();
        for r in records {
            text.push_str(&r.json(real - (mono - r.time_ns as i128)));
            text.push('\n');
        }
        if let Ok(mut out) = self.out.lock() {
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                tracing::warn!("session log: write failed");
            }
        }
    }
}

/// The IPv6 transport address a pool4 transport address is bound to.
pub fn ipv6_of(t: &Tables, k: &Bib4Key) -> Option<(Ipv6Addr, u16)> {
    t.bib4
        .get(k, 0)
        .ok()
        .map(|e| (Ipv6Addr::from(e.addr6), e.port6))
}

/// Port blocks in use, for the `block_assigned` / `block_released` lines. Deterministic: a
/// block is assigned while at least one dynamic binding holds one of its ports, counted
/// from the binding events, after a start from the bindings the tables already hold
/// (their blocks are logged as assigned at that moment: a restart does not know when they
/// were). On first use: the data plane's and the sweep's own block events, one line per
/// protocol, after a start from the blocks the tables hold.
pub struct BlockLedger {
    blocks: crate::blocks::PortBlocks,
    pool4: crate::pool4::Pool4Slots,
    /// Live bindings per (protocol index, subscriber number).
    live: std::collections::HashMap<(usize, u32), u32>,
    /// On first use: who holds each block number.
    holders: std::collections::BTreeMap<u32, ipnet::Ipv6Net>,
}

impl BlockLedger {
    pub fn new(blocks: crate::blocks::PortBlocks, pool4: crate::pool4::Pool4Slots) -> Self {
        BlockLedger {
            blocks,
            pool4,
            live: Default::default(),
            holders: Default::default(),
        }
    }

    /// The lines of block number `b` changing hands (`kind`), one per protocol with pool4.
    fn block_lines(&self, kind: Kind, time_ns: u64, b: u32, prefix: ipnet::Ipv6Net) -> Vec<Record> {
        let size = self.blocks.size.into();
        (0..POOL4_PROTOS.len())
            .filter_map(|p| {
                let block = nat64_common::block::nth_block(&self.pool4.0[p], size, b)?;
                Some(Record {
                    kind,
                    time_ns,
                    proto: POOL4_PROTOS[p],
                    ipv6: None,
                    pool4: (Ipv4Addr::from(block.addr4), block.port_lo),
                    peer: None,
                    block: Some((block.port_hi, prefix)),
                })
            })
            .collect()
    }

    /// A block event off the ring (on first use): its lines.
    pub fn block_event(&mut self, ev: &SessionEvent) -> Vec<Record> {
        if !self.blocks.is_dynamic() {
            return Vec::new();
        }
        let b = u32::from_be_bytes(ev.remote4);
        let Ok(prefix) = ipnet::Ipv6Net::new(Ipv6Addr::from(ev.addr6), ev.port6 as u8) else {
            return Vec::new();
        };
        let kind = match ev.kind {
            EVENT_BLOCK_ASSIGNED => {
                self.holders.insert(b, prefix);
                Kind::BlockAssigned
            }
            EVENT_BLOCK_RELEASED => {
                self.holders.remove(&b);
                Kind::BlockReleased
            }
            _ => return Vec::new(),
        };
        self.block_lines(kind, ev.time_ns, b, prefix)
    }

    /// None while port blocks are off.
    pub fn start(t: &Tables, now_ns: u64) -> Result<(Option<BlockLedger>, Vec<Record>)> {
        let Some((blocks, pool4)) = t.port_blocks()? else {
            return Ok((None, Vec::new()));
        };
        let mut l = BlockLedger::new(blocks, pool4);
        let mut out = Vec::new();
        if blocks.is_dynamic() {
            let held = t.first_use.as_ref().map(|f| f.held()).unwrap_or_default();
            for (prefix, sb) in held {
                let Ok(net) = ipnet::Ipv6Net::new(Ipv6Addr::from(prefix), blocks.subscriber_len)
                else {
                    continue;
                };
                l.holders.insert(sb.block, net);
            }
            for (&b, &net) in &l.holders {
                out.extend(l.block_lines(Kind::BlockAssigned, now_ns, b, net));
            }
            return Ok((Some(l), out));
        }
        for (k, e) in t.bib4.iter().filter_map(|r| r.ok()) {
            if e.flags & nat64_common::maps::BIB_F_STATIC == 0 {
                out.extend(l.note(now_ns, k.proto, Ipv4Addr::from(k.addr4), k.port4, true));
            }
        }
        Ok((Some(l), out))
    }

    /// A binding on `addr4`:`port4` was created (or deleted): the block's line when that
    /// made it assigned (or released).
    pub fn note(
        &mut self,
        time_ns: u64,
        proto: u8,
        addr4: Ipv4Addr,
        port4: u16,
        created: bool,
    ) -> Option<Record> {
        let p = nat64_common::maps::pool4_proto_index(proto)?;
        let (k, subscriber) = self.blocks.owner(&self.pool4, p, addr4, port4)?;
        let block = nat64_common::block::nth_block(&self.pool4.0[p], self.blocks.size.into(), k)?;
        let was = self.live.get(&(p, k)).copied().unwrap_or(0);
        // A deletion the ledger never saw created (events lost) changes nothing.
        let now = if created {
            was + 1
        } else {
            was.saturating_sub(1)
        };
        if now == 0 {
            self.live.remove(&(p, k));
        } else {
            self.live.insert((p, k), now);
        }
        let kind = match (was, now) {
            (0, 1) => Kind::BlockAssigned,
            (1, 0) => Kind::BlockReleased,
            _ => return None,
        };
        Some(Record {
            kind,
            time_ns,
            proto,
            ipv6: None,
            pool4: (Ipv4Addr::from(block.addr4), block.port_lo),
            peer: None,
            block: Some((block.port_hi, subscriber)),
        })
    }

    /// A `block_released` line for every block still in use, at `time_ns`: the ledger ends
    /// (the blocks were renumbered).
    pub fn close(self, time_ns: u64) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for (&b, &net) in &self.holders {
            out.extend(self.block_lines(Kind::BlockReleased, time_ns, b, net));
        }
        let mut live: Vec<_> = self.live.keys().copied().collect();
        live.sort_unstable();
        for (p, k) in live {
            let Some(block) =
                nat64_common::block::nth_block(&self.pool4.0[p], self.blocks.size.into(), k)
            else {
                continue;
            };
            out.push(Record {
                kind: Kind::BlockReleased,
                time_ns,
                proto: POOL4_PROTOS[p],
                ipv6: None,
                pool4: (Ipv4Addr::from(block.addr4), block.port_lo),
                peer: None,
                block: Some((block.port_hi, self.blocks.prefix(k))),
            });
        }
        out
    }

    /// The block line a binding record makes, if any (deterministic).
    pub fn follow(&mut self, r: &Record) -> Option<Record> {
        if self.blocks.is_dynamic() {
            return None;
        }
        match r.kind {
            Kind::BibCreated | Kind::BibDeleted => self.note(
                r.time_ns,
                r.proto,
                r.pool4.0,
                r.pool4.1,
                r.kind == Kind::BibCreated,
            ),
            _ => None,
        }
    }
}

/// Drains the ring buffer into the log whenever the kernel has written to it.
pub async fn forward(ring: RingBuf<MapData>, tables: Tables, log: std::sync::Arc<SessionLog>) {
    let block_config = |t: &Tables| t.block_config.get(&0, 0).ok();
    let start_ledger = |t: &Tables| match BlockLedger::start(t, monotonic_ns()) {
        Ok((ledger, lines)) => {
            log.write(&lines);
            ledger
        }
        Err(e) => {
            tracing::warn!("session log: no port-block lines: {e:#}");
            None
        }
    };
    let mut ledger_config = block_config(&tables);
    let mut ledger = start_ledger(&tables);
    // SAFETY: the ring buffer owns its fd for its whole life; the AsyncFd owns the ring
    // buffer, so the fd outlives the registration.
    let Ok(mut fd) =
        (unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) })
    else {
        tracing::warn!("session log: cannot watch the ring buffer");
        return;
    };
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        // `config apply` may have changed the blocks: the old ones end now, the ones in
        // use under the new numbering start now.
        let now_config = block_config(&tables);
        if now_config != ledger_config {
            if let Some(l) = ledger.take() {
                log.write(&l.close(monotonic_ns()));
            }
            ledger_config = now_config;
            ledger = start_ledger(&tables);
        }
        let mut records = Vec::new();
        {
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                if item.len() < std::mem::size_of::<SessionEvent>() {
                    continue;
                }
                // SAFETY: the kernel wrote a whole SessionEvent (plain data).
                let ev: SessionEvent = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
                if ev.kind == EVENT_BLOCK_ASSIGNED || ev.kind == EVENT_BLOCK_RELEASED {
                    if let Some(l) = ledger.as_mut() {
                        records.extend(l.block_event(&ev));
                    }
                    continue;
                }
                if let Some(r) = Record::from_event(&ev, |k| ipv6_of(&tables, k)) {
                    let block = ledger.as_mut().and_then(|l| l.follow(&r));
                    records.push(r);
                    records.extend(block);
                }
            }
        }
        log.write(&records);
        guard.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::maps::{PROTO_TCP, PROTO_UDP};

    /// On first use the lines come from the kernel's block events: one per protocol for the
    /// block number, with the subscriber the event names.
    #[test]
    fn blocks_on_first_use_are_logged_from_the_kernels_events() {
        let blocks = crate::blocks::PortBlocks::from_options(
            Some(2016),
            None,
            Some(56),
            Some(crate::blocks::Allocation::Dynamic),
            &crate::blocks::Names::CLI,
        )
        .unwrap()
        .unwrap();
        let pool4 = two_addresses;
        let mut l = BlockLedger::new(blocks, pool4());
        let prefix: Ipv6Addr = "2001:db8:5:ab00::".parse().unwrap();
        let event = |kind, time_ns, block: u32| SessionEvent {
            time_ns,
            addr6: prefix.octets(),
            port6: 56,
            port4: 0,
            remote_port: 0,
            proto: 0,
            kind,
            addr4: [0; 4],
            remote4: block.to_be_bytes(),
        };
        let lines = l.block_event(&event(EVENT_BLOCK_ASSIGNED, 1, 33));
        let json: Vec<serde_json::Value> = lines
            .iter()
            .map(|r| serde_json::from_str(&r.json(0)).unwrap())
            .collect();
        let line = |event: &str, proto: &str| {
            serde_json::json!({
                "time": "1970-01-01T00:00:00.000Z", "event": event,
                "proto": proto, "pool4": "192.0.2.2", "port4": 3040, "port4_last": 5055,
                "subscriber": "2001:db8:5:ab00::/56",
            })
        };
        assert_eq!(
            json,
            [
                line("block_assigned", "tcp"),
                line("block_assigned", "udp"),
                line("block_assigned", "icmp")
            ]
        );
        // Still held when the ledger closes (a config apply): released then.
        let mut l2 = BlockLedger::new(blocks, pool4());
        l2.block_event(&event(EVENT_BLOCK_ASSIGNED, 1, 0));
        let closed = l2.close(9);
        assert_eq!(closed.len(), 3);
        assert!(closed
            .iter()
            .all(|r| r.kind == Kind::BlockReleased && r.time_ns == 9 && r.pool4.1 == 1024));
        let gone = l.block_event(&event(EVENT_BLOCK_RELEASED, 5, 33));
        assert_eq!(gone.len(), 3);
        assert!(gone
            .iter()
            .all(|r| r.kind == Kind::BlockReleased && r.time_ns == 5 && r.pool4.1 == 3040));
        assert_eq!(l.close(6), [], "nothing held");
        // Binding events make no block lines of their own on first use.
        let bib = Record {
            kind: Kind::BibCreated,
            time_ns: 7,
            proto: PROTO_TCP,
            ipv6: None,
            pool4: ("192.0.2.2".parse().unwrap(), 3100),
            peer: None,
            block: None,
        };
        let mut l3 = BlockLedger::new(blocks, pool4());
        assert_eq!(l3.follow(&bib), None);
    }

    fn two_addresses() -> crate::pool4::Pool4Slots {
        crate::pool4::Pool4Slots::from_groups(
            &[crate::pool4::Pool4Group::parse(
                &["192.0.2.1".into(), "192.0.2.2".into()],
                Some("1024-65535"),
                None,
            )
            .unwrap()],
            "t",
        )
        .unwrap()
    }

    #[test]
    fn a_block_is_assigned_with_its_first_binding_and_released_with_its_last() {
        let blocks = crate::blocks::PortBlocks::from_options(
            Some(2016),
            Some("2001:db8:0:40::/58"),
            None,
            None,
            &crate::blocks::Names::CLI,
        )
        .unwrap()
        .unwrap();
        let pool4 = crate::pool4::Pool4Slots::from_groups(
            &[crate::pool4::Pool4Group::parse(
                &["192.0.2.1".into(), "192.0.2.2".into()],
                Some("1024-65535"),
                None,
            )
            .unwrap()],
            "t",
        )
        .unwrap();
        let mut l = BlockLedger::new(blocks, pool4);
        let a2: Ipv4Addr = "192.0.2.2".parse().unwrap();
        let first = l.note(1, PROTO_TCP, a2, 3100, true).unwrap();
        assert_eq!(first.kind, Kind::BlockAssigned);
        let line: serde_json::Value = serde_json::from_str(&first.json(0)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "time": "1970-01-01T00:00:00.000Z", "event": "block_assigned",
                "proto": "tcp", "pool4": "192.0.2.2", "port4": 3040, "port4_last": 5055,
                "subscriber": "2001:db8:0:61::/64",
            })
        );
        assert_eq!(l.note(2, PROTO_TCP, a2, 3200, true), None, "the same block");
        assert_eq!(
            l.note(2, PROTO_UDP, a2, 3200, true).map(|r| r.kind),
            Some(Kind::BlockAssigned),
            "each protocol has its own block"
        );
        assert_eq!(
            l.note(3, PROTO_TCP, a2, 3100, false),
            None,
            "one binding left"
        );
        let last = l.note(4, PROTO_TCP, a2, 3200, false).unwrap();
        assert_eq!((last.kind, last.time_ns), (Kind::BlockReleased, 4));
        assert_eq!(
            l.note(5, PROTO_TCP, a2, 3200, false),
            None,
            "never below zero"
        );
        assert_eq!(
            l.note(6, PROTO_TCP, a2, 1000, true),
            None,
            "outside every block"
        );
        // Renumbered (config apply): what is still assigned is released at that moment.
        let closed = l.close(7);
        assert_eq!(closed.len(), 1, "the UDP block alone is still in use");
        assert_eq!(
            (
                closed[0].kind,
                closed[0].proto,
                closed[0].time_ns,
                closed[0].pool4.1
            ),
            (Kind::BlockReleased, PROTO_UDP, 7, 3040)
        );
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(
            parse_rfc3339("2026-11-23T10:31:07.250Z"),
            Some(1_795_429_867_250_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-23T10:31:07Z"),
            Some(1_795_429_867_000_000_000)
        );
        for bad in [
            "2026-11-23 10:31:07Z",
            "2026-11-23T10:31:07.25Z",
            "yesterday",
            "2026-11-23T10:31Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        // 2026-11-23T10:31:07.250Z
        assert_eq!(
            rfc3339(1_795_429_867_250_000_000),
            "2026-11-23T10:31:07.250Z"
        );
    }

    #[test]
    fn a_session_event_becomes_a_line_with_both_sides() {
        let ev = SessionEvent {
            time_ns: 5,
            addr6: [0; 16],
            port6: 0,
            port4: 40123,
            remote_port: 80,
            proto: PROTO_TCP,
            kind: EVENT_SESSION_CREATED,
            addr4: [192, 0, 2, 2],
            remote4: [198, 51, 100, 7],
        };
        let v6: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let r = Record::from_event(&ev, |k| {
            assert_eq!(
                (k.addr4, k.port4, k.proto),
                ([192, 0, 2, 2], 40123, PROTO_TCP)
            );
            Some((v6, 51000))
        })
        .unwrap();
        let line: serde_json::Value =
            serde_json::from_str(&r.json(1_795_429_867_250_000_000)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "time": "2026-11-23T10:31:07.250Z", "event": "session_created",
                "proto": "tcp", "pool4": "192.0.2.2", "port4": 40123,
                "ipv6": "2001:db8::5", "port6": 51000,
                "ipv4_peer": "198.51.100.7", "peer_port": 80,
            })
        );
    }
}
