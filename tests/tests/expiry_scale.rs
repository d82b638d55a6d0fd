//! Expiry at a million sessions: the sweeper's kernel walk over real kernel maps
//! deletes exactly the idle sessions and, a pass later, the bindings they leave behind,
//! while the table is that big. Correctness only: how long a pass takes is printed for the
//! log and measured properly by `cargo xtask bench`.
use std::{os::fd::AsFd, path::PathBuf, time::Instant};

use aya::maps::IterableMap;
use nat64_common::maps::{
    binding_halves, Bib6Entry, Bib6Key, BindingHalves, SessionEntry, SessionKey, BIB_F_STATIC,
    PROTO_UDP, SESSION_KIND_FLOW,
};
use nat64_ctl::{
    batch, bpffs,
    expiry::{self, Sweeper, Swept},
    loader::{self, TableSizes},
    tables::{Tables, PINNED_MAPS},
};
use nat64_tests::lab_available;

const SESSIONS: u32 = 1_000_000;
/// Bindings the sessions spread over; the odd ones lose all their sessions.
const BINDINGS: u32 = 1000;
const POOL4: [u8; 4] = [203, 0, 113, 1];

/// Pins removed however the test ends.
struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cpu_time() -> std::time::Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::time::Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

fn binding_keys(port4: u16, flags: u16) -> BindingHalves {
    let mut addr6 = [0x20, 0x01, 0x0d, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    addr6[14..].copy_from_slice(&port4.to_be_bytes());
    binding_halves((addr6, 5000), (POOL4, port4), PROTO_UDP, flags)
}

#[test]
fn a_million_sessions_expire_exactly() {
    if !lab_available("a_million_sessions_expire_exactly") {
        return;
    }
    bpffs::ensure_mounted().unwrap();
    let ebpf = loader::load_sized(
        loader::BpfLogLevel::Off,
        TableSizes {
            sessions: Some(1 << 20),
            bib: Some(4096),
            blocks: None,
            first_use_blocks: None,
        },
    )
    .expect("the kernel loads the object with a 1 Mi-entry session table");
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/nat64-test-expiry-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _pins = Pins(dir.clone());
    for name in PINNED_MAPS {
        ebpf.map(name)
            .unwrap()
            .pin(nat64_ctl::bpffs::pin_path(&dir, name))
            .unwrap();
    }
    let mut tables = Tables::open(&dir).unwrap();
    let mut cfg = tables.gateway_config().unwrap();
    cfg.timeouts.udp_s = 300;
    tables.config.set(0, cfg, 0).unwrap();

    // Bindings: ports 10000.. (dynamic) and one static binding with no session at all.
    let mut b6 = (Vec::new(), Vec::new());
    let mut b4 = (Vec::new(), Vec::new());
    for (port, flags) in (0..BINDINGS)
        .map(|i| (10000 + i as u16, 0))
        .chain([(20000, BIB_F_STATIC)])
    {
        let (k6, v6, k4, v4) = binding_keys(port, flags);
        b6.0.push(k6);
        b6.1.push(v6);
        b4.0.push(k4);
        b4.1.push(v4);
    }
    batch::update(tables.bib6.map().fd().as_fd(), &b6.0, &b6.1, 0).unwrap();
    batch::update(tables.bib4.map().fd().as_fd(), &b4.0, &b4.1, 0).unwrap();

    // A million sessions over the bindings; those on odd ports have been idle for an hour.
    let now = expiry::monotonic_ns();
    let hour = 3600 * nat64_common::timeouts::NS_PER_S;
    let (keys, values): (Vec<SessionKey>, Vec<SessionEntry>) = (0..SESSIONS)
        .map(|i| {
            let port4 = 10000 + (i % BINDINGS) as u16;
            let peer = i / BINDINGS;
            let key = SessionKey {
                addr4: POOL4,
                remote4: [198, 51, (peer >> 8) as u8, peer as u8],
                port4,
                remote_port: 53,
                proto: PROTO_UDP,
                kind: SESSION_KIND_FLOW,
                _pad: [0; 2],
            };
            let idle = port4 % 2 == 1;
            let entry = SessionEntry {
                last_seen_ns: if idle { now.saturating_sub(hour) } else { now },
                tcp_state: 0,
                flags: 0,
                _pad: [0; 6],
            };
            (key, entry)
        })
        .unzip();
    let t = Instant::now();
    batch::update(tables.sessions.map().fd().as_fd(), &keys, &values, 0).unwrap();
    println!("filled {SESSIONS} sessions in {:?}", t.elapsed());
    // What the kernel charges for the table (preallocated at its full size).
    let fdinfo = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&tables.sessions.map().fd().as_fd())
    ))
    .unwrap();
    if let Some(bytes) = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        println!(
            "session table: {bytes} bytes for {} entries, {} bytes per session",
            1u64 << 20,
            bytes >> 20
        );
    }
    drop((keys, values));

    let mut sweeper = Sweeper::load(&ebpf).expect("the kernel takes the sweep iterators");
    let (wall, cpu) = (Instant::now(), cpu_time());
    let first = expiry::sweep(&mut tables, &mut sweeper, expiry::monotonic_ns()).unwrap();
    println!(
        "pass over {} sessions: {:?} wall, {:?} CPU",
        first.scanned,
        wall.elapsed(),
        cpu_time() - cpu
    );
    assert_eq!(
        first,
        Swept {
            scanned: SESSIONS as usize,
            sessions: SESSIONS as usize / 2,
            bindings: 0,
        },
        "every idle session goes; the bindings they leave get a pass of grace"
    );
    let left = tables.read_sessions().unwrap();
    assert_eq!(left.len(), SESSIONS as usize / 2);
    assert!(left
        .iter()
        .all(|(k, e)| k.port4 % 2 == 0 && e.last_seen_ns == now));

    let second = expiry::sweep(&mut tables, &mut sweeper, expiry::monotonic_ns()).unwrap();
    assert_eq!(
        second,
        Swept {
            scanned: SESSIONS as usize / 2,
            sessions: 0,
            bindings: BINDINGS as usize / 2,
        }
    );
    let bindings = tables.read_bib4().unwrap();
    assert_eq!(bindings.len(), BINDINGS as usize / 2 + 1);
    assert!(bindings
        .iter()
        .all(|(k, e)| k.port4 % 2 == 0 || e.flags & BIB_F_STATIC != 0));
    let bib6 = batch::read_all::<Bib6Key, Bib6Entry>(tables.bib6.map().fd().as_fd(), 4096).unwrap();
    assert_eq!(
        bib6.len(),
        bindings.len(),
        "both halves of each binding went"
    );
}
