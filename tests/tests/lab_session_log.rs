//! netns end-to-end: `attach --session-log FILE` writes one JSON line per binding and
//! session created (from the data plane's ring buffer) and deleted (by the sweeper), with
//! both transport addresses, for a real curl flow.
use std::time::Duration;

use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4, SERVER4_IN_POOL6},
    lab_available, Lab, Served,
};
use serde_json::Value;

nat64_tests::lab_test!(
    a_curl_flow_leaves_its_creation_and_deletion_in_the_session_log,
    |hook| {
        if !lab_available("a_curl_flow_leaves_its_creation_and_deletion_in_the_session_log") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        let log = std::env::temp_dir().join(format!("{}-sessions.jsonl", lab.gateway.name));
        let _ = std::fs::remove_file(&log);
        lab.start_gateway(&[
            "--pool6",
            "64:ff9b:1::/48",
            "--pool4",
            POOL4,
            "--session-log",
            log.to_str().unwrap(),
            "--tcp-trans-timeout",
            "2",
            "--allow-nonstandard-timeouts",
        ])
        .expect("gateway");
        let _served = Served::start(&lab, "logged\n", 1).expect("nginx");
        let page = lab
            .client6
            .sh(&format!(
                "curl -sS --max-time 10 http://[{SERVER4_IN_POOL6}]/"
            ))
            .unwrap();
        assert_eq!(page, "logged\n");

        // The flow closed (FINs): transitory lifetime 2 s, then the binding a pass later.
        let want = [
            "bib_created",
            "session_created",
            "session_deleted",
            "bib_deleted",
        ];
        let mut lines: Vec<Value> = Vec::new();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            lines = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).expect("every line is JSON"))
                .collect();
            if lines.len() >= want.len() {
                break;
            }
        }
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(events, want, "{lines:#?}");
        let year = lab.gateway.sh("date -u +%Y").unwrap();
        for l in &lines {
            assert_eq!(l["proto"], "tcp", "{l}");
            assert_eq!(l["ipv6"], CLIENT6, "{l}");
            assert_eq!(l["pool4"], POOL4, "{l}");
            assert_eq!(l["port4"], lines[0]["port4"], "one binding throughout: {l}");
            assert_eq!(l["port6"], lines[0]["port6"], "{l}");
            let t = l["time"].as_str().unwrap();
            assert!(t.starts_with(year.trim()) && t.ends_with('Z'), "{t}");
        }
        for l in &lines[1..3] {
            assert_eq!(l["ipv4_peer"], SERVER4, "{l}");
            assert_eq!(l["peer_port"], 80, "{l}");
        }
        assert_eq!(lab.counter("events_lost").unwrap(), 0);
        let _ = std::fs::remove_file(&log);
    }
);
