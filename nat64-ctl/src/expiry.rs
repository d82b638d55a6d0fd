//! Session expiry (RFC 6146 §3.5): the data plane stamps sessions, the kernel sweeps them.
//!
//! A pass is one run of the object's `nat64_sweep` program (`nat64-ebpf/src/sweep.rs`,
//! rules in `nat64_common::sweep`): it walks the session table and the IPv4-side BIB in
//! the kernel, deletes in place what has expired, counts the census, and tells the session
//! log through the data plane's event ring. Nothing is copied out to userspace, which is
//! what the sweeper before it spent most of its time on.
//!
//! Bindings and peer records go when no live flow stamped them in this pass or the one
//! before (the grace a walk that is not a snapshot needs; see `nat64_common::sweep`).
//! Static bindings stay.
//!
//! The program is a sleepable BPF_PROG_TYPE_SYSCALL program, run with BPF_PROG_TEST_RUN:
//! that type runs in process context, preemptible and with bottom halves on, so a walk over
//! millions of sessions holds up neither the data plane nor anything else on its CPU. aya
//! 0.14 has no loader for the type, so this module relocates the program from the object
//! itself (`aya_obj`), against the maps of the loaded object, and loads it with the
//! object's BTF.
use std::{
    collections::HashSet,
    ffi::CString,
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, Context, Result};
use aya::{
    maps::{HashMap, Map, MapData},
    Ebpf,
};
use nat64_common::{
    block::ALLOCATION_DYNAMIC,
    maps::{CONFIG_F_ADDRESS_DEPENDENT_FILTERING, MAP_SWEEP_POOL4},
    sweep::{
        self, Pool4Use, Pool4UseKey, SubscriberMasks, SweepState, SWEEP_F_BLOCKS_ON_FIRST_USE,
        SWEEP_F_MARK_PEERS, SWEEP_F_WALK_ONLY,
    },
};

// Where other modules (and the benchmarks) have always found them.
pub use crate::{census::Swept, clock::monotonic_ns};
use crate::{
    census::{Census, SharedCensus},
    tables::Tables,
};

/// The sweep program in the object.
const SWEEP_PROGRAM: &str = "nat64_sweep";
/// A program the object's BTF was loaded with (aya loads one BTF per object).
const BTF_OF: &str = crate::XDP_PROGRAM;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_BTF_GET_FD_BY_ID: libc::c_long = 19;
const BPF_PROG_TYPE_SYSCALL: u32 = 31;
const BPF_F_SLEEPABLE: u32 = 1 << 4;

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The `prog_load` member of `union bpf_attr`, up to the fields used here.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    _rest: [u64; 4],
}

/// The `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// The map behind any kind of aya map.
fn map_data(m: &Map) -> &MapData {
    match m {
        Map::Array(d)
        | Map::ArrayOfMaps(d)
        | Map::BloomFilter(d)
        | Map::CgroupArray(d)
        | Map::CgroupStorage(d)
        | Map::CgrpStorage(d)
        | Map::CpuMap(d)
        | Map::DevMap(d)
        | Map::DevMapHash(d)
        | Map::HashMap(d)
        | Map::HashOfMaps(d)
        | Map::InodeStorage(d)
        | Map::LpmTrie(d)
        | Map::LruHashMap(d)
        | Map::PerCpuArray(d)
        | Map::PerCpuCgroupStorage(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::PerfEventArray(d)
        | Map::ProgramArray(d)
        | Map::Queue(d)
        | Map::ReusePortSockArray(d)
        | Map::RingBuf(d)
        | Map::SockHash(d)
        | Map::SockMap(d)
        | Map::SkStorage(d)
        | Map::Stack(d)
        | Map::StackTraceMap(d)
        | Map::Unsupported(d)
        | Map::XskMap(d) => d,
    }
}

/// Loads `nat64_sweep` as a sleepable syscall program, its maps those of `ebpf`.
fn load_sweep_program(ebpf: &Ebpf) -> Result<OwnedFd> {
    let mut obj = aya_obj::Object::parse(crate::EBPF_OBJECT).context("parsing the object")?;
    let objmaps = obj.maps.clone();
    let mut fds = Vec::new();
    for (name, m) in &objmaps {
        // Every map the object has: the relocation covers all of its functions, and a map
        // left out would be resolved by section instead (wrongly).
        let data = ebpf
            .map(name)
            .map(map_data)
            .ok_or_else(|| anyhow!("{name} missing from the loaded object"))?;
        fds.push((name.as_str(), data.fd().as_fd().as_raw_fd(), m));
    }
    let text: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    obj.relocate_maps(fds.into_iter(), &text)
        .context("relocating the sweep program's maps")?;
    obj.relocate_calls(&text)
        .context("relocating the sweep program's calls")?;
    let prog = obj
        .programs
        .get(SWEEP_PROGRAM)
        .ok_or_else(|| anyhow!("{SWEEP_PROGRAM} missing from the object"))?;
    let function = obj
        .functions
        .get(&prog.function_key())
        .ok_or_else(|| anyhow!("{SWEEP_PROGRAM}'s code missing from the object"))?;
    let license = CString::new(prog.license.as_bytes())?;

    // The object's BTF as aya loaded it (type IDs unchanged), for the callbacks'
    // func_info the verifier requires.
    let btf_id = ebpf
        .program(BTF_OF)
        .ok_or_else(|| anyhow!("{BTF_OF} missing from the object"))?
        .info()
        .context("reading the XDP program's info")?
        .btf_id()
        .ok_or_else(|| anyhow!("{BTF_OF} was loaded without BTF"))?;
    let mut id_attr = [btf_id, 0, 0, 0];
    let btf = unsafe {
        OwnedFd::from_raw_fd(
            sys_bpf(BPF_BTF_GET_FD_BY_ID, &mut id_attr).context("opening the object's BTF")? as i32,
        )
    };
    let func_info = &function.func_info.func_info;
    let mut log = vec![0u8; 1 << 20];
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"nat64_sweep");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SYSCALL,
        insn_cnt: function.instructions.len() as u32,
        insns: function.instructions.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_flags: BPF_F_SLEEPABLE,
        prog_name: name,
        prog_btf_fd: btf.as_raw_fd() as u32,
        func_info_rec_size: function.func_info_rec_size as u32,
        func_info: func_info.as_ptr() as u64,
        func_info_cnt: func_info.len() as u32,
        ..ProgLoadAttr::default()
    };
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]);
            tracing::debug!("verifier: {log}");
            let last = log
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(anyhow!(
                "the kernel refused the sweep program: {e} ({last}; RUST_LOG=debug shows the verifier log)"
            ))
        }
    }
}

/// The kernel half of the sweeper, loaded from the data plane's object, and what it
/// carries from pass to pass.
pub struct Sweeper {
    /// The last finished pass's census.
    pub census: Census,
    program: OwnedFd,
    pool4_use: HashMap<MapData, Pool4UseKey, Pool4Use>,
    /// The last pass's number (0: none yet).
    pass: u32,
    /// The last pass met peer records: the next one has live flows stamp them even with
    /// address-dependent filtering off, so that they go with their last flow.
    saw_peers: bool,
}

impl Sweeper {
    /// Loads the sweep program against the maps of the object that holds the data plane's
    /// tables (as loaded, or taken over from the pins). Before any map is taken out of
    /// `ebpf`.
    pub fn load(ebpf: &Ebpf) -> Result<Sweeper> {
        let program = load_sweep_program(ebpf)?;
        let pool4 = match ebpf.map(MAP_SWEEP_POOL4) {
            Some(Map::HashMap(d)) => MapData::from_id(d.info()?.id())?,
            _ => anyhow::bail!("{MAP_SWEEP_POOL4} missing from the object"),
        };
        Ok(Sweeper {
            census: Census::default(),
            program,
            pool4_use: HashMap::try_from(Map::HashMap(pool4))?,
            pass: 0,
            saw_peers: false,
        })
    }

    /// The benchmarks' floor: the same walk over both tables that visits every entry and
    /// decides nothing. Returns the sessions visited.
    pub fn bare_walk(&self) -> Result<u64> {
        let mut state = SweepState {
            pass: 1,
            flags: SWEEP_F_WALK_ONLY,
            ..SweepState::default()
        };
        self.run(&mut state)?;
        Ok(state.scanned)
    }

    /// Runs the program once over `state`, which it returns with the totals.
    fn run(&self, state: &mut SweepState) -> Result<()> {
        let mut attr = TestRunAttr {
            prog_fd: self.program.as_raw_fd() as u32,
            ctx_size_in: std::mem::size_of::<SweepState>() as u32,
            ctx_in: state as *mut SweepState as u64,
            ..TestRunAttr::default()
        };
        sys_bpf(BPF_PROG_TEST_RUN, &mut attr).context("running the sweep")?;
        if attr.retval != 0 {
            anyhow::bail!(
                "the sweep found no gateway config (returned {})",
                attr.retval
            );
        }
        Ok(())
    }
}

/// One pass over the tables at `now_ns` (CLOCK_MONOTONIC, the data plane's clock).
pub fn pass(tables: &mut Tables, sweeper: &mut Sweeper, now_ns: u64) -> Result<Swept> {
    let cfg = tables.gateway_config()?;
    let mark_peers = cfg.flags & CONFIG_F_ADDRESS_DEPENDENT_FILTERING != 0 || sweeper.saw_peers;
    sweeper.pass = sweep::next(sweeper.pass);
    let pass = sweeper.pass;
    // Port blocks on first use: live bindings keep their subscribers' blocks; otherwise
    // any block left from before is given back.
    let blocks = tables.block_config.get(&0, 0).unwrap_or_default();
    let first_use = blocks.block_size != 0 && blocks.allocation == ALLOCATION_DYNAMIC;
    let mut state = SweepState {
        now_ns,
        pass,
        flags: if mark_peers { SWEEP_F_MARK_PEERS } else { 0 }
            | if first_use {
                SWEEP_F_BLOCKS_ON_FIRST_USE
            } else {
                0
            },
        subscribers: SubscriberMasks::new(&blocks),
        ..SweepState::default()
    };
    sweeper.run(&mut state)?;
    sweeper.saw_peers = state.peer_records > 0;
    let mut census = Census {
        sessions: state.live_sessions,
        dynamic_bindings: state.dynamic_bindings,
        static_bindings: state.static_bindings,
        ..Census::default()
    };
    for entry in sweeper.pool4_use.iter() {
        let (k, u) = entry.context("reading the pool4 census")?;
        if u.pass == pass && u.bindings > 0 {
            census
                .pool4_used
                .insert((k.addr4, k.proto_index as usize), u.bindings);
        }
    }
    sweeper.census = census;
    Ok(Swept {
        scanned: state.scanned as usize,
        sessions: state.deleted_sessions as usize,
        bindings: state.deleted_bindings as usize,
    })
}

/// One pass at `now_ns`.
pub fn sweep(tables: &mut Tables, sweeper: &mut Sweeper, now_ns: u64) -> Result<Swept> {
    pass(tables, sweeper, now_ns)
}

/// Sweeps on its own thread until `stop` is set: a pass every `interval`, or back to back
/// when a pass takes longer. The data plane never waits for it: the kernel walks the tables
/// in process context and reschedules as it goes.
pub fn spawn(
    mut sweeper: Sweeper,
    dir: &Path,
    interval: Duration,
    stop: Arc<AtomicBool>,
    census: SharedCensus,
    mut record: Option<crate::run_state::Recorder>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut tables = Tables::open(dir)?;
    let counters =
        crate::stats::open_pinned(&crate::bpffs::pin_path(dir, crate::stats::STATS_MAP))?;
    Ok(std::thread::Builder::new()
        .name("nat64-expiry".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = pass(&mut tables, &mut sweeper, monotonic_ns());
                match &result {
                    Ok(s) if s.sessions + s.bindings > 0 => tracing::debug!(
                        "expired {} sessions and {} dynamic bindings of {} sessions in {:?}",
                        s.sessions,
                        s.bindings,
                        s.scanned,
                        started.elapsed()
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("session sweep: {e:#}"),
                }
                if let Ok(mut c) = census.lock() {
                    *c = (sweeper.census.clone(), started.elapsed());
                }
                if let (Some(r), Ok(s)) = (record.as_mut(), &result) {
                    if let Err(e) = r.pass_done(s, started.elapsed(), &counters) {
                        tracing::warn!("recording the expiry pass: {e:#}");
                    }
                }
                if let Some(rest) = interval.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_source_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn the_attrs_have_the_kernels_layout() {
        // include/uapi/linux/bpf.h
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_btf_fd), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, attach_btf_id), 108);
        assert_eq!(std::mem::offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(std::mem::offset_of!(TestRunAttr, batch_size), 72);
    }
}
