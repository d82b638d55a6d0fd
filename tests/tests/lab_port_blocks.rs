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
        let blocks = PortBlocks::from_options(Some(240), Some(SUBSCRIBERS), None, &Names::CLI)
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
        let log = std::env::temp_dir().join(format!("{}-blocks.jsonl", lab.gateway.name));
        let _ = std::fs::remove_file(&log);
        lab.start_gateway(&[
            "--pool6",
            "64:ff9b:1::/48",
            "--pool4",
            POOL4,
            "--ports",
            "1024-65535",
            "--port-block-size",
            BLOCK,
            "--subscribers",
            SUBSCRIBERS,
            "--session-log",
            log.to_str().unwrap(),
            "--tcp-trans-timeout",
            "2",
            "--allow-nonstandard-timeouts",
        ])
        .expect("gateway");
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
        let from_log = |at: &str| {
            lab.ctl(&[
                "blocks",
                "display",
                "--owner",
                &owner,
                "--log",
                log.to_str().unwrap(),
                "--at",
                at,
            ])
            .unwrap()
        };
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
