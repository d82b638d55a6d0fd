//! netns end-to-end: deterministic port blocks (RFC 7422). A curl flow from the client
//! leaves from a port of the client's own block; the session log carries one
//! `block_assigned` and one `block_released` line for it; and "who had POOL4:port" is
//! answered both by the running gateway (the function) and from the log alone.
use std::time::Duration;

use nat64_ctl::{
    blocks::{Names, PortBlocks},
    pool4::{Pool4Group, Pool4Slots},
};
use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4_IN_POOL6},
    lab_available, Lab, Served,
};
use serde_json::Value;

/// The client's /56 holds 256 /64 subscribers; one pool4 address's 1024-65535 holds 268
/// blocks of 240 ports.
const SUBSCRIBERS: &str = "2001:db8:6::/56";
const BLOCK: &str = "240";

fn lines(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// Starts the gateway with port blocks of `BLOCK` ports on `POOL4`, `extra` options, the
/// session log in a fresh file (returned) and TCP sessions gone 2 s after their close.
fn start_with_log(lab: &mut Lab, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let log = std::env::temp_dir().join(format!("{}-{name}.jsonl", lab.gateway.name));
    let _ = std::fs::remove_file(&log);
    let mut args = vec![
        "--pool6",
        "64:ff9b:1::/48",
        "--pool4",
        POOL4,
        "--port-block-size",
        BLOCK,
        "--session-log",
        log.to_str().unwrap(),
        "--tcp-trans-timeout",
        "2",
        "--allow-nonstandard-timeouts",
    ];
    args.extend_from_slice(extra);
    lab.start_gateway(&args).expect("gateway");
    log
}

/// `blocks display --owner OWNER [extra] --log LOG --at AT`: who had a pool4 port, from
/// the log alone.
fn who_had(
    lab: &Lab,
    owner: &str,
    extra: &[&str],
    log: &std::path::Path,
    at: &str,
) -> std::process::Output {
    let mut args = vec!["blocks", "display", "--owner", owner];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--log", log.to_str().unwrap(), "--at", at]);
    lab.ctl(&args).unwrap()
}

fn events(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["event"].as_str().unwrap()).collect()
}

nat64_tests::lab_test!(
    a_flow_takes_its_port_from_the_subscribers_block_and_the_log_names_who_had_it,
    |hook| {
        if !lab_available(
            "a_flow_takes_its_port_from_the_subscribers_block_and_the_log_names_who_had_it",
        ) {
            return;
        }
        // The block the function gives the client, computed here independently of the
        // gateway's tables.
        let blocks =
            PortBlocks::from_options(Some(240), Some(SUBSCRIBERS), None, None, &Names::CLI)
                .unwrap()
                .unwrap();
        let pool4 = Pool4Slots::from_groups(
            &[Pool4Group::parse(&[POOL4.into()], Some("1024-65535"), None).unwrap()],
            "t",
        )
        .unwrap();
        let (k, block) = blocks
            .block_for(&pool4, 0, CLIENT6.parse().unwrap())
            .expect("the client is a subscriber");
        let subscriber = blocks.prefix(k).to_string();
        assert_eq!(subscriber, "2001:db8:6::/64");

        let mut lab = Lab::reference_on(hook).expect("lab");
        let log = start_with_log(
            &mut lab,
            "blocks",
            &["--ports", "1024-65535", "--subscribers", SUBSCRIBERS],
        );
        let _served = Served::start(&lab, "blocked\n", 1).expect("nginx");
        let page = lab
            .client6
            .sh(&format!(
                "curl -sS --max-time 10 http://[{SERVER4_IN_POOL6}]/"
            ))
            .unwrap();
        assert_eq!(page, "blocked\n");

        let want = [
            "bib_created",
            "block_assigned",
            "session_created",
            "session_deleted",
            "bib_deleted",
            "block_released",
        ];
        let mut got = Vec::new();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            got = lines(&log);
            if got.len() >= want.len() {
                break;
            }
        }
        assert_eq!(events(&got), want, "{got:#?}");
        let port = got[0]["port4"].as_u64().unwrap() as u16;
        assert!(
            (block.port_lo..=block.port_hi).contains(&port),
            "port {port} outside the client's block {}-{}",
            block.port_lo,
            block.port_hi
        );
        for l in [&got[1], &got[5]] {
            assert_eq!(l["proto"], "tcp", "{l}");
            assert_eq!(l["pool4"], POOL4, "{l}");
            assert_eq!(l["port4"], block.port_lo, "{l}");
            assert_eq!(l["port4_last"], block.port_hi, "{l}");
            assert_eq!(l["subscriber"], subscriber.as_str(), "{l}");
        }

        // The running gateway answers from the function...
        let owner = format!("{POOL4}:{port}");
        let out = lab
            .ctl(&["blocks", "display", "--owner", &owner, "--proto", "tcp"])
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!("{owner} tcp subscriber {k} {subscriber}")
        );
        let out = lab
            .ctl(&["blocks", "display", "--for", CLIENT6, "--proto", "tcp"])
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!(
                "{CLIENT6} tcp subscriber {k} {subscriber}: {POOL4}:{}-{}",
                block.port_lo, block.port_hi
            )
        );
        // ...and the log alone answers for a moment while the block was assigned, and
        // for none after its release.
        let from_log = |at: &str| who_had(&lab, &owner, &[], &log, at);
        let out = from_log(got[2]["time"].as_str().unwrap());
        assert!(out.status.success(), "{out:?}");
        let answer = String::from_utf8(out.stdout).unwrap();
        assert!(
            answer.starts_with(&format!("{owner} tcp {subscriber} (block assigned ")),
            "{answer}"
        );
        let out = from_log("2999-01-01T00:00:00.000Z");
        assert!(!out.status.success(), "released by then: {out:?}");
        assert_eq!(lab.counter("events_lost").unwrap(), 0);
        assert_eq!(lab.counter("drop_no_port_block").unwrap(), 0);
        let _ = std::fs::remove_file(&log);
    }
);

/// Fetches the page from `src` (an address of client6); the curl exit code and output.
fn fetch_from(lab: &Lab, src: &str) -> (bool, String) {
    let out = lab
        .client6
        .cmd_net_only("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--interface",
            src,
            &format!("http://[{SERVER4_IN_POOL6}]/"),
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

nat64_tests::lab_test!(
    blocks_on_first_use_go_to_active_subscribers_and_come_back_when_they_leave,
    |hook| {
        if !lab_available(
            "blocks_on_first_use_go_to_active_subscribers_and_come_back_when_they_leave",
        ) {
            return;
        }
        // Two blocks of 240 ports (1024-1263, 1264-1503) for every host of client6's /64
        // (each a /128 subscriber): two subscribers at once, the third waits.
        let second = "2001:db8:6::3";
        let third = "2001:db8:6::4";
        let mut lab = Lab::reference_on(hook).expect("lab");
        for a in [second, third] {
            lab.client6
                .sh(&format!("ip -6 addr add {a}/64 dev eth0 nodad"))
                .unwrap();
        }
        let log = start_with_log(
            &mut lab,
            "first-use",
            &[
                "--ports",
                "1024-1503",
                "--port-block-allocation",
                "dynamic",
                "--subscriber-prefix-len",
                "128",
            ],
        );
        let _served = Served::start(&lab, "first use\n", 1).expect("nginx");

        for src in [CLIENT6, second] {
            assert_eq!(
                fetch_from(&lab, src),
                (true, "first use\n".to_string()),
                "{src}"
            );
        }
        let (ok, _) = fetch_from(&lab, third);
        assert!(!ok, "no block is free for a third subscriber");
        assert!(lab.counter("drop_no_free_port_block").unwrap() >= 1);
        assert_eq!(lab.counter("block_assigned").unwrap(), 2);

        // The running gateway: both blocks held, each by one of the two.
        let out = lab.ctl(&["blocks", "display", "--proto", "tcp"]).unwrap();
        assert!(out.status.success(), "{out:?}");
        let shown = String::from_utf8(out.stdout).unwrap();
        let held: Vec<&str> = shown.lines().skip(1).collect();
        assert!(
            shown
                .lines()
                .next()
                .unwrap()
                .ends_with("2 of 2 blocks held"),
            "{shown}"
        );
        let mut owners: Vec<String> = held
            .iter()
            .map(|l| {
                l.split_whitespace()
                    .nth(3)
                    .unwrap()
                    .trim_end_matches(':')
                    .to_string()
            })
            .collect();
        owners.sort();
        assert_eq!(
            owners,
            [format!("{CLIENT6}/128"), format!("{second}/128")],
            "{shown}"
        );

        // The log: a block_assigned line per protocol for each, then (the flows over, their
        // bindings gone) a block_released per protocol for each.
        let mut got = Vec::new();
        for _ in 0..150 {
            std::thread::sleep(Duration::from_millis(100));
            got = lines(&log);
            if got
                .iter()
                .filter(|l| l["event"] == "block_released")
                .count()
                >= 6
            {
                break;
            }
        }
        let block_lines = |event: &str| -> Vec<(String, String, u64, u64)> {
            let mut v: Vec<_> = got
                .iter()
                .filter(|l| l["event"] == event)
                .map(|l| {
                    (
                        l["subscriber"].as_str().unwrap().to_string(),
                        l["proto"].as_str().unwrap().to_string(),
                        l["port4"].as_u64().unwrap(),
                        l["port4_last"].as_u64().unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let assigned = block_lines("block_assigned");
        assert_eq!(assigned.len(), 6, "{got:#?}");
        assert_eq!(block_lines("block_released"), assigned, "{got:#?}");
        for (who, _, lo, hi) in &assigned {
            assert!(
                (*lo, *hi) == (1024, 1263) || (*lo, *hi) == (1264, 1503),
                "{who}: {lo}-{hi}"
            );
        }
        // Each subscriber's bindings took ports from its own block.
        for b in got.iter().filter(|l| l["event"] == "bib_created") {
            let host = b["ipv6"].as_str().unwrap();
            let port = b["port4"].as_u64().unwrap();
            let (_, _, lo, hi) = assigned
                .iter()
                .find(|(who, p, _, _)| *who == format!("{host}/128") && p == "tcp")
                .unwrap_or_else(|| panic!("{host} has a block: {assigned:?}"));
            assert!(
                (*lo..=*hi).contains(&port),
                "{host} got {port}, its block is {lo}-{hi}"
            );
        }

        // Who had the second subscriber's first port, from the log alone: the second
        // subscriber while its block was held, nobody after.
        let (_, _, lo, _) = assigned
            .iter()
            .find(|(who, p, _, _)| *who == format!("{second}/128") && p == "tcp")
            .unwrap()
            .clone();
        let owner = format!("{POOL4}:{lo}");
        let assigned_at = got
            .iter()
            .find(|l| {
                l["event"] == "block_assigned"
                    && l["subscriber"] == format!("{second}/128").as_str()
            })
            .unwrap()["time"]
            .as_str()
            .unwrap()
            .to_string();
        let from_log = |at: &str| who_had(&lab, &owner, &["--proto", "tcp"], &log, at);
        let out = from_log(&assigned_at);
        assert!(out.status.success(), "{out:?}");
        let answer = String::from_utf8(out.stdout).unwrap();
        assert!(
            answer.starts_with(&format!("{owner} tcp {second}/128 (block assigned ")),
            "{answer}"
        );
        assert!(
            !from_log("2999-01-01T00:00:00.000Z").status.success(),
            "released by then"
        );

        // With the blocks back, the third subscriber gets one.
        assert_eq!(fetch_from(&lab, third), (true, "first use\n".to_string()));
        assert_eq!(lab.counter("block_released").unwrap(), 2);
        assert_eq!(lab.counter("block_assigned").unwrap(), 3);
        assert_eq!(lab.counter("events_lost").unwrap(), 0);
        let _ = std::fs::remove_file(&log);
    }
);
