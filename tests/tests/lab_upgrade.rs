//! netns end-to-end: an upgrade keeps the flows. A download runs through a gateway whose
//! pins look like an older nat64-ctl's — a counter array with fewer slots and the config
//! map at layout v1, made here — and the current nat64-ctl attaches over them: it keeps
//! the session and binding tables, migrates the config, carries the counters over by ID
//! and swaps its program into the running links. The download goes on on the same
//! session, and every counter is where its ID says.
use std::{
    os::fd::{FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use aya::maps::{Array, Map, MapData, PerCpuArray, PerCpuValues};
use nat64_common::{
    maps::{GatewayConfig, GatewayConfigV1, MAP_CONFIG, MAP_STATS},
    Counter,
};
use nat64_ctl::bpffs::{pin_at, pin_path};
use nat64_tests::{
    addr::{POOL4, SERVER4_IN_POOL6},
    lab_available, Lab, Served,
};

const ARGS: [&str; 4] = ["--pool6", "64:ff9b:1::/48", "--pool4", POOL4];

/// The "older build" knows this many counters: `verdict_redirect` (ID 109) and every later
/// ID are new to it. Fixed by ID, not by "the last few": the download is redirected under
/// either hook, so one of the new counters must count it whatever is appended later.
const OLD_COUNT: u32 = Counter::VerdictRedirect.index();

/// What the older build's counter with ID `id` had counted: far apart, so that whatever
/// traffic adds afterwards cannot carry a value into another counter's range.
const SPACING: u64 = 1 << 40;
fn old_value(id: u32) -> u64 {
    (id as u64 + 1) * SPACING
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
/// `union bpf_attr` is larger than any command's part of it; the rest stays zero.
const BPF_ATTR_SIZE: usize = 128;

fn bpf(cmd: libc::c_long, attr: &mut [u32; BPF_ATTR_SIZE / 4]) -> std::io::Result<i64> {
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), BPF_ATTR_SIZE) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc)
}

/// Creates a map the way an older build's object would have, pinned at `pin`.
fn pin_new_map(pin: &Path, map_type: u32, value_size: u32, max_entries: u32) {
    let mut attr = [0u32; BPF_ATTR_SIZE / 4];
    // map_type, key_size, value_size, max_entries
    attr[..4].copy_from_slice(&[map_type, 4, value_size, max_entries]);
    let fd = bpf(BPF_MAP_CREATE, &mut attr).expect("BPF_MAP_CREATE");
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let path = std::ffi::CString::new(pin.as_os_str().as_encoded_bytes()).unwrap();
    let mut attr = [0u32; BPF_ATTR_SIZE / 4];
    // pathname (u64), bpf_fd
    let ptr = path.as_ptr() as u64;
    attr[0] = ptr as u32;
    attr[1] = (ptr >> 32) as u32;
    attr[2] = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
    bpf(BPF_OBJ_PIN, &mut attr).unwrap_or_else(|e| panic!("pinning {}: {e}", pin.display()));
}

fn open(pin: &Path) -> MapData {
    MapData::from_pin(pin).unwrap_or_else(|e| panic!("opening {}: {e}", pin.display()))
}

/// Turns the current build's config and counter pins into an older build's: the config
/// at layout v1 with the same settings, and a counter array of `OLD_COUNT` slots holding
/// `old_value(id)` at each ID. Returns the port-choice secret, which must survive.
fn pin_older_build(dir: &Path) -> u32 {
    let config_pin = pin_path(dir, MAP_CONFIG);
    let config: Array<MapData, GatewayConfig> =
        Array::try_from(Map::Array(open(&config_pin))).unwrap();
    let cfg = config.get(&0, 0).unwrap();
    assert_ne!(cfg.secret, 0, "the running gateway has drawn its secret");
    let v1_pin = pin_at(dir, MAP_CONFIG, 1);
    pin_new_map(
        &v1_pin,
        BPF_MAP_TYPE_ARRAY,
        std::mem::size_of::<GatewayConfigV1>() as u32,
        1,
    );
    let mut v1: Array<MapData, GatewayConfigV1> =
        Array::try_from(Map::Array(open(&v1_pin))).unwrap();
    v1.set(
        0,
        GatewayConfigV1 {
            pool6: cfg.pool6,
            flags: cfg.flags,
            secret: cfg.secret,
            pool4_slots: cfg.pool4_slots,
            timeouts: cfg.timeouts,
        },
        0,
    )
    .unwrap();
    std::fs::remove_file(&config_pin).unwrap();

    let stats_pin = pin_path(dir, MAP_STATS);
    std::fs::remove_file(&stats_pin).unwrap();
    pin_new_map(&stats_pin, BPF_MAP_TYPE_PERCPU_ARRAY, 8, OLD_COUNT);
    let mut stats: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(open(&stats_pin))).unwrap();
    let cpus = aya::util::nr_cpus().unwrap();
    for id in 0..OLD_COUNT {
        let mut v = vec![0u64; cpus];
        v[0] = old_value(id);
        stats
            .set(id, PerCpuValues::try_from(v).unwrap(), 0)
            .unwrap();
    }
    cfg.secret
}

/// The established TCP sessions, without their clocks.
fn http_sessions(lab: &Lab) -> Vec<serde_json::Value> {
    lab.tcp_sessions()
        .into_iter()
        .filter(|s| s["tcp_state"] == "ESTABLISHED")
        .collect()
}

fn pins(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

nat64_tests::lab_test!(
    an_upgrade_over_an_older_builds_pins_keeps_the_flow_and_the_counters,
    |hook| {
        if !lab_available("an_upgrade_over_an_older_builds_pins_keeps_the_flow_and_the_counters") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.start_gateway(&ARGS).expect("gateway");
        let dir = nat64_ctl::bpffs::instance_dir(&lab.instance);

        let served = Served::start(&lab, "index\n", 48).expect("nginx");
        let got = served.dir.join("got.bin");
        let mut cmd = lab.client6.cmd("curl");
        cmd.args(["-sS", "--limit-rate", "3M", "--max-time", "60", "-o"])
            .arg(&got)
            .arg(format!("http://[{SERVER4_IN_POOL6}]/big.bin"));
        let mut curl = lab.client6.spawn(cmd, "curl").unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let before = http_sessions(&lab);
        assert_eq!(before.len(), 1, "{before:?}");

        // The older build stops; its pins stay, and so does its program on the links.
        lab.gateway_daemon.take().unwrap().stop();
        let secret = pin_older_build(&dir);
        let size = || std::fs::metadata(&got).map(|m| m.len()).unwrap_or(0);
        let size_then = size();
        let moved = (0..60).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            size() > size_then
        });
        assert!(moved, "the older data plane keeps the download going");

        lab.start_gateway(&ARGS)
            .expect("the current build attaches");
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        let carried = format!(
        "upgrade: NAT64_STATS: carried {OLD_COUNT} counters over by ID; {} new ones start at zero",
        Counter::COUNT - OLD_COUNT
    );
        assert!(
            log.contains("upgrade: NAT64_CONFIG: migrated from layout v1")
                && log.contains(&carried)
                && log.contains("took over the running data plane's state")
                && log.contains(&format!("replaced the program on eth6's {}", hook.link()))
                && log.contains(&format!("replaced the program on eth4's {}", hook.link())),
            "{log}"
        );
        // Only this build's pins remain: the older map layouts are gone, nothing set aside.
        let left = pins(&dir);
        assert!(
            left.contains(&"NAT64_CONFIG_v2".to_string())
                && !left
                    .iter()
                    .any(|p| p.starts_with("NAT64_CONFIG_v1") || p.ends_with("-upgrading")),
            "{left:?}"
        );
        let config: Array<MapData, GatewayConfig> =
            Array::try_from(Map::Array(open(&pin_path(&dir, MAP_CONFIG)))).unwrap();
        assert_eq!(
            config.get(&0, 0).unwrap().secret,
            secret,
            "the port-choice secret survives the config's migration"
        );
        assert_eq!(
            http_sessions(&lab),
            before,
            "the same session, on the same binding, carries the flow"
        );

        curl.wait_for_exit(Duration::from_secs(60))
            .expect("curl finishes");
        let got_sum = lab
            .client6
            .sh(&format!("sha256sum {}", got.display()))
            .unwrap();
        assert_eq!(
            got_sum.split_whitespace().next().unwrap(),
            served.sha256,
            "the download arrives intact across the upgrade"
        );

        // Every counter the older build had holds its value plus what came since; the ones
        // it did not have started at zero.
        let stats = lab.stats().unwrap();
        let value = |c: Counter| stats[c.name()].as_u64().unwrap();
        for &c in Counter::ALL {
            let v = value(c);
            if c.index() < OLD_COUNT {
                let base = old_value(c.index());
                assert!(
                    v >= base && v - base < SPACING,
                    "{} (ID {}) = {v}: should be {base} carried over plus new traffic",
                    c.name(),
                    c.index()
                );
            } else {
                assert!(
                    v < SPACING,
                    "{} (ID {}) = {v}: new, from zero",
                    c.name(),
                    c.index()
                );
            }
        }
        // The new program counts into the carried-over slots and the new ones alike.
        assert!(value(Counter::Xlat4to6Tcp) > old_value(Counter::Xlat4to6Tcp.index()));
        let moved_new: Vec<&str> = Counter::ALL
            .iter()
            .filter(|c| c.index() >= OLD_COUNT && value(**c) > 0)
            .map(|c| c.name())
            .collect();
        assert!(
            !moved_new.is_empty(),
            "none of the counters the older build lacked counted the traffic since"
        );
    }
);

/// Pins left by a nat64-ctl that versioned the whole directory (`<instance>/v3/<map>`) are
/// moved to their per-map versioned names, objects and all.
#[test]
fn the_v3_pin_directory_is_adopted_map_by_map() {
    if !lab_available("the_v3_pin_directory_is_adopted_map_by_map") {
        return;
    }
    nat64_ctl::bpffs::ensure_mounted().unwrap();
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/nat64-test-legacy-{}",
        std::process::id()
    ));
    let legacy = dir.join("v3");
    std::fs::create_dir_all(&legacy).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    pin_new_map(&legacy.join(MAP_CONFIG), BPF_MAP_TYPE_ARRAY, 92, 1);
    pin_new_map(&legacy.join(MAP_STATS), BPF_MAP_TYPE_PERCPU_ARRAY, 8, 3);
    let id = open(&legacy.join(MAP_STATS)).info().unwrap().id();

    assert!(nat64_ctl::upgrade::adopt_legacy_dir(&dir).unwrap());
    assert_eq!(pins(&dir), ["NAT64_CONFIG_v2", "NAT64_STATS_v1"]);
    assert_eq!(
        open(&pin_path(&dir, MAP_STATS)).info().unwrap().id(),
        id,
        "the same map object, renamed"
    );
    assert!(!nat64_ctl::upgrade::adopt_legacy_dir(&dir).unwrap());
}
