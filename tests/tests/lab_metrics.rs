//! netns end-to-end: `attach --metrics-listen` serves Prometheus metrics while real traffic
//! flows; promtool accepts them and the counters move with the traffic.
use std::time::Duration;

use nat64_tests::{
    addr::{POOL4, SERVER4_IN_POOL6},
    Lab,
};

const LISTEN: &str = "127.0.0.1:9464";

/// One scrape, from inside the gateway's namespace.
fn scrape(lab: &Lab) -> String {
    lab.gateway
        .sh(&format!("curl -sS --max-time 5 http://{LISTEN}/metrics"))
        .unwrap()
}

/// The value of the sample line `name{labels}` (exactly as exposed).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
}

nat64_tests::lab_test!(
    metrics_endpoint_passes_promtool_and_moves_with_traffic,
    |hook| {
        let Some(lab) = Lab::with_gateway(
            "metrics_endpoint_passes_promtool_and_moves_with_traffic",
            hook,
            &["--ports", "61001-61100", "--metrics-listen", LISTEN],
        ) else {
            return;
        };

        let ping = |n: u32| {
            let out = lab
                .client6
                .sh(&format!("ping -6 -c {n} -i 0.2 -W 2 {SERVER4_IN_POOL6}"))
                .unwrap();
            assert!(out.contains(&format!("{n} received")), "{out}");
        };
        ping(3);
        // Sessions and bindings are counted by the expiry pass (once a second).
        std::thread::sleep(Duration::from_millis(2500));
        let first = scrape(&lab);

        // promtool reads the exposition from stdin; it exits non-zero on any format or
        // naming problem and prints them.
        let dir = std::env::temp_dir().join(format!("{}-metrics", lab.gateway.name));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("metrics.txt");
        std::fs::write(&file, &first).unwrap();
        let lint = lab
            .gateway
            .sh_output(
                &format!("promtool check metrics < {}", file.display()),
                Duration::from_secs(20),
            )
            .unwrap();
        assert!(
            lint.status.success(),
            "promtool check metrics: {}{}\n{first}",
            String::from_utf8_lossy(&lint.stdout),
            String::from_utf8_lossy(&lint.stderr)
        );

        let out6 = "nat64_packets_total{direction=\"6to4\",proto=\"icmp\"}";
        let back4 = "nat64_packets_total{direction=\"4to6\",proto=\"icmp\"}";
        assert!(
            value(&first, out6) >= 3.0 && value(&first, back4) >= 3.0,
            "{first}"
        );
        // ping's 64-byte echo messages: 104-byte IPv6 packets, 84-byte IPv4 ones; every one
        // received was translated.
        for (dir, bytes_in, bytes_out) in [("6to4", 104.0, 84.0), ("4to6", 84.0, 104.0)] {
            let n = value(
                &first,
                &format!("nat64_packets_total{{direction=\"{dir}\",proto=\"icmp\"}}"),
            );
            let m = |name: &str| {
                value(
                    &first,
                    &format!("{name}{{direction=\"{dir}\",proto=\"icmp\"}}"),
                )
            };
            assert_eq!(m("nat64_received_packets_total"), n, "{first}");
            assert_eq!(m("nat64_received_bytes_total"), bytes_in * n, "{first}");
            assert_eq!(m("nat64_bytes_total"), bytes_out * n, "{first}");
        }
        assert_eq!(value(&first, "nat64_sessions{proto=\"icmp\"}"), 1.0);
        assert_eq!(
            value(&first, "nat64_bindings{kind=\"dynamic\",proto=\"icmp\"}"),
            1.0
        );
        assert_eq!(
            value(
                &first,
                &format!("nat64_pool4_ports{{address=\"{POOL4}\",proto=\"icmp\"}}")
            ),
            100.0
        );
        assert_eq!(
            value(
                &first,
                &format!("nat64_pool4_ports_used{{address=\"{POOL4}\",proto=\"icmp\"}}")
            ),
            1.0
        );

        // More traffic, and a refused packet: the counters move by what happened.
        ping(4);
        let _ = lab
            .server4
            .sh_output(&format!("ping -c 1 -W 1 {POOL4}"), Duration::from_secs(5));
        let second = scrape(&lab);
        assert!(
            value(&second, out6) - value(&first, out6) >= 4.0,
            "{first}\n{second}"
        );
        assert!(
            value(&second, "nat64_drops_total{reason=\"no_bib4\"}")
                > first
                    .lines()
                    .find_map(|l| l.strip_prefix("nat64_drops_total{reason=\"no_bib4\"} "))
                    .map_or(0.0, |v| v.parse().unwrap()),
            "{second}"
        );

        // Anything but /metrics is a 404.
        let other = lab
            .gateway
            .sh(&format!(
                "curl -s -o /dev/null -w '%{{http_code}}' http://{LISTEN}/other"
            ))
            .unwrap();
        assert_eq!(other, "404");
        let _ = std::fs::remove_dir_all(&dir);
    }
);
