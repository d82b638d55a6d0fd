//! netns end-to-end: sessions of real flows (UDP, ping, curl) in `session display`, their
//! expiry with short (non-standard) timeouts taking dynamic bindings along, and runtime
//! management of timeouts and pool4 from a second nat64-ctl.
use std::time::{Duration, Instant};

use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4, SERVER4_IN_POOL6},
    lab_available,
    programs::{udp_client, UDP_ECHO_SERVER},
    start_nginx, Lab,
};
use serde_json::Value;

fn ctl_ok(lab: &Lab, args: &[&str]) -> String {
    let out = lab.ctl(args).unwrap();
    assert!(
        out.status.success(),
        "nat64-ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ctl_err(lab: &Lab, args: &[&str]) -> String {
    let out = lab.ctl(args).unwrap();
    assert!(!out.status.success(), "nat64-ctl {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn sessions(lab: &Lab, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["session", "display", "--json"];
    args.extend(extra);
    match serde_json::from_str(&ctl_ok(lab, &args)).unwrap() {
        Value::Array(v) => v,
        other => panic!("session display printed {other}"),
    }
}

fn bindings(lab: &Lab) -> Vec<Value> {
    match serde_json::from_str(&ctl_ok(lab, &["bib", "display", "--json"])).unwrap() {
        Value::Array(v) => v,
        other => panic!("bib display printed {other}"),
    }
}

/// One UDP exchange from client6's port 40000 with server4's echo service, as printed.
fn udp_from_client6(lab: &Lab, msg: &str) -> String {
    lab.client6
        .sh(&format!(
            "python3 -c '{}'",
            udp_client(CLIENT6, 40000, SERVER4_IN_POOL6, msg)
        ))
        .unwrap()
}

fn start_udp_echo(lab: &Lab) -> nat64_tests::Daemon {
    lab.server4
        .python_service(UDP_ECHO_SERVER, "udp-echo")
        .unwrap()
}

nat64_tests::lab_test!(
    sessions_of_real_flows_show_and_expire_with_their_bindings,
    |hook| {
        let stat = format!("udp {POOL4}#9000 {CLIENT6}#9000");
        let Some(lab) = Lab::with_gateway(
            "sessions_of_real_flows_show_and_expire_with_their_bindings",
            hook,
            &[
                "--bib",
                &stat,
                // Long enough for the checks below to see all three flows on a loaded machine,
                // short enough to watch them expire.
                "--udp-timeout",
                "6",
                "--icmp-timeout",
                "6",
                "--tcp-trans-timeout",
                "6",
                "--tcp-est-timeout",
                "5",
                "--allow-nonstandard-timeouts",
            ],
        ) else {
            return;
        };
        let _echo = start_udp_echo(&lab);
        let dir = std::env::temp_dir().join(format!("{}-www", lab.server4.name));
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), "<h1>session</h1>\n").unwrap();
        let _nginx = start_nginx(&lab.server4, &dir, &www, "192.0.2.2:80").expect("nginx");

        let out = udp_from_client6(&lab, "hello");
        assert!(out.contains("reply b'HELLO'"), "{out}");
        lab.client6
            .sh(&format!("ping -6 -c 1 -W 2 {SERVER4_IN_POOL6}"))
            .unwrap();
        let page = lab
            .client6
            .sh(&format!(
                "curl -sS --max-time 10 http://[{SERVER4_IN_POOL6}]/"
            ))
            .unwrap();
        assert_eq!(page, "<h1>session</h1>\n");

        // Each flow has its session, both views filled in.
        let all = sessions(&lab, &[]);
        let udp: Vec<&Value> = all.iter().filter(|s| s["proto"] == "udp").collect();
        assert_eq!(udp.len(), 1, "{all:?}");
        assert_eq!(udp[0]["ipv6"], CLIENT6);
        assert_eq!(udp[0]["port6"], 40000);
        assert_eq!(udp[0]["ipv6_destination"], SERVER4_IN_POOL6);
        assert_eq!(udp[0]["pool4"], POOL4);
        assert_eq!(udp[0]["ipv4_peer"], SERVER4);
        assert_eq!(udp[0]["peer_port"], 7777);
        assert_eq!(udp[0]["opened_by"], "ipv6");
        assert!(all.iter().any(|s| s["proto"] == "icmp"), "{all:?}");
        let tcp = sessions(&lab, &["--proto", "tcp"]);
        assert_eq!(tcp.len(), 1, "{tcp:?}");
        assert_eq!(tcp[0]["peer_port"], 80);
        // curl and nginx both closed: both FINs seen (or already past that, reset).
        let state = tcp[0]["tcp_state"].as_str().unwrap();
        assert!(["V4 FIN + V6 FIN RCV", "TRANS"].contains(&state), "{state}");
        let text = ctl_ok(&lab, &["session", "display"]);
        assert!(text.contains(&format!("[{CLIENT6}]:40000")), "{text}");
        assert!(text.trim_end().ends_with("3 sessions"), "{text}");
        let numeric = ctl_ok(&lab, &["session", "display", "--numeric"]);
        let protos: Vec<&str> = numeric
            .lines()
            .skip(1)
            .filter(|l| !l.ends_with("sessions"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(protos.len(), 3, "{numeric}");
        assert_eq!(protos, ["1", "6", "17"], "{numeric}");
        // --numeric --json: protocol numbers, and the TCP state's code where the text has it.
        let json = sessions(&lab, &["--numeric"]);
        let mut protos: Vec<u64> = json.iter().map(|s| s["proto"].as_u64().unwrap()).collect();
        protos.sort();
        assert_eq!(protos, [1, 6, 17], "{json:?}");
        let tcp_row = numeric.lines().find(|l| l.starts_with("6 ")).unwrap();
        let tcp_json = json.iter().find(|s| s["proto"] == 6).unwrap();
        assert_eq!(
            tcp_json["tcp_state"]
                .as_u64()
                .map(|c| c.to_string())
                .as_deref(),
            tcp_row.split_whitespace().nth(5),
            "{tcp_row}"
        );
        let bib: Value =
            serde_json::from_str(&ctl_ok(&lab, &["bib", "display", "--numeric", "--json"]))
                .unwrap();
        let stat = bib
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["static"] == true)
            .unwrap();
        assert_eq!(
            (&stat["proto"], &stat["port4"]),
            (&Value::from(17), &Value::from(9000))
        );
        let bib = ctl_ok(&lab, &["bib", "display", "--numeric"]);
        assert!(
            bib.lines()
                .skip(1)
                .all(|l| l.starts_with(|c: char| c.is_ascii_digit())),
            "{bib}"
        );
        assert_eq!(bindings(&lab).len(), 4, "three dynamic and the static one");
        assert!(lab.counter("session_created").unwrap() >= 3);

        // Idle past their (short) lifetimes: gone, and the dynamic bindings with them.
        let start = Instant::now();
        while !sessions(&lab, &[]).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "sessions still there: {:?}",
                sessions(&lab, &[])
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let waited = start.elapsed();
        let start = Instant::now();
        while bindings(&lab).len() > 1 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{:?}",
                bindings(&lab)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let left = bindings(&lab);
        assert_eq!(left[0]["static"], true, "{left:?}");
        eprintln!("sessions gone after {waited:?}");
        // The sweeper counts what it deleted: the three sessions and three dynamic bindings.
        assert_eq!(lab.counter("session_expired").unwrap(), 3);
        assert_eq!(lab.counter("bib_expired").unwrap(), 3);

        // A new flow after expiry opens a fresh session and binding.
        let out = udp_from_client6(&lab, "again");
        assert!(out.contains("reply b'AGAIN'"), "{out}");
        assert_eq!(sessions(&lab, &["--proto", "udp"]).len(), 1);
    }
);

nat64_tests::lab_test!(timeouts_and_pool4_change_while_the_gateway_runs, |hook| {
    if !lab_available("timeouts_and_pool4_change_while_the_gateway_runs") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    // Started from a config file this time (the interfaces and instance come from the
    // command line, which wins).
    let conf = std::env::temp_dir().join(format!("{}-nat64.toml", lab.gateway.name));
    std::fs::write(
        &conf,
        format!(
            "interfaces = [\"nosuchif\"]\npool6 = \"64:ff9b:1::/48\"\n\
             [[pool4]]\nprefix = \"{POOL4}\"\n[timeouts]\nicmp = 120\n"
        ),
    )
    .unwrap();
    lab.start_gateway(&["--config", conf.to_str().unwrap()])
        .expect("gateway");
    let echo = start_udp_echo(&lab);

    // Timeouts: RFC defaults, a refused change leaves them alone, an allowed one lands.
    let shown = ctl_ok(&lab, &["timeouts", "display"]);
    assert!(
        shown.contains("udp        300 s") && shown.contains("icmp       120 s"),
        "{shown}"
    );
    let err = ctl_err(&lab, &["timeouts", "set", "--udp-timeout", "30"]);
    assert!(
        err.contains("--udp-timeout 30") && err.contains("--allow-nonstandard-timeouts"),
        "{err}"
    );
    assert_eq!(ctl_ok(&lab, &["timeouts", "display"]), shown);
    ctl_ok(
        &lab,
        &[
            "timeouts",
            "set",
            "--udp-timeout",
            "30",
            "--allow-nonstandard-timeouts",
        ],
    );
    let shown = ctl_ok(&lab, &["timeouts", "display"]);
    assert!(
        shown.contains("udp        30 s") && shown.contains("tcp_est    7440 s"),
        "{shown}"
    );

    // A flow on the first address.
    let out = udp_from_client6(&lab, "one");
    assert!(out.contains("reply b'ONE'"), "{out}");
    assert!(
        echo.output().contains(&format!("from {POOL4}:")),
        "{}",
        echo.output()
    );

    // Add a second address with a two-port range, then take the first away: from UDP
    // first (its UDP binding and session go, the address stays for TCP and ICMP), then
    // from everything.
    let second = "203.0.113.2";
    ctl_ok(&lab, &["pool4", "add", second, "--ports", "7000-7001"]);
    let err = ctl_err(&lab, &["pool4", "add", second, "--ports", "7000-7001"]);
    assert!(err.contains("already in pool4"), "{err}");
    let err = ctl_err(
        &lab,
        &[
            "pool4",
            "add",
            second,
            "--ports",
            "7001-7100",
            "--proto",
            "udp",
        ],
    );
    assert!(
        err.contains(&format!(
            "pool4 add {second}: udp ports 7001-7100 overlap 7000-7001, already in pool4"
        )),
        "{err}"
    );
    let err = ctl_err(&lab, &["pool4", "add", second, "--proto", "sctp"]);
    assert!(
        err.contains("pool4 add: --proto \"sctp\": \"sctp\" is not tcp, udp or icmp"),
        "{err}"
    );
    // A second range, for TCP only.
    ctl_ok(
        &lab,
        &[
            "pool4",
            "add",
            second,
            "--ports",
            "8000-8000",
            "--proto",
            "tcp",
        ],
    );
    let removed = ctl_ok(&lab, &["pool4", "remove", POOL4, "--proto", "udp"]);
    assert!(
        removed.contains("removed 0 pool4 addresses, 1 bindings and 1 sessions"),
        "{removed}"
    );
    assert!(sessions(&lab, &[]).is_empty());
    assert!(bindings(&lab).is_empty());
    let err = ctl_err(&lab, &["pool4", "remove", POOL4, "--proto", "udp"]);
    assert!(
        err.contains(&format!("pool4 remove {POOL4}: not in pool4")),
        "{err}"
    );
    let removed = ctl_ok(&lab, &["pool4", "remove", POOL4]);
    assert!(
        removed.contains("removed 1 pool4 addresses, 0 bindings and 0 sessions"),
        "{removed}"
    );
    let err = ctl_err(&lab, &["pool4", "remove", POOL4]);
    assert!(
        err.contains(&format!("pool4 remove {POOL4}: not in pool4")),
        "{err}"
    );

    // The same IPv6 source now maps onto the second address, in its range.
    let out = udp_from_client6(&lab, "two");
    assert!(out.contains("reply b'TWO'"), "{out}");
    let seen = echo.output();
    assert!(
        seen.contains(&format!("from {second}:7000"))
            || seen.contains(&format!("from {second}:7001")),
        "{seen}"
    );
    let pool = ctl_ok(&lab, &["pool4", "display"]);
    let rows: Vec<Vec<&str>> = pool
        .lines()
        .skip(1)
        .map(|r| r.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            [second, "tcp", "7000-7001", "0/2", "0"],
            [second, "tcp", "8000-8000", "0/1", "0"],
            [second, "udp", "7000-7001", "1/2", "0"],
            [second, "icmp", "7000-7001", "0/2", "0"],
        ],
        "{pool}"
    );

    // IPv4 traffic to the removed address is no longer the gateway's: the kernel gets it.
    let before = lab.counter("pass_not_pool4").unwrap();
    let _ = lab
        .server4
        .sh_output(&format!("ping -c 1 -W 1 {POOL4}"), Duration::from_secs(5));
    assert!(lab.counter("pass_not_pool4").unwrap() > before);

    // A new config file on the running gateway: an invalid one changes nothing and names
    // the key; a valid one replaces pool4 and the timeouts, keeping the live binding.
    let shown = ctl_ok(&lab, &["timeouts", "display"]);
    let bad = std::env::temp_dir().join(format!("{}-bad.toml", lab.gateway.name));
    std::fs::write(
        &bad,
        format!("[[pool4]]\nprefix = \"{second}\"\n[timeouts]\nudp = 5\n"),
    )
    .unwrap();
    let err = ctl_err(&lab, &["config", "apply", bad.to_str().unwrap()]);
    assert!(
        err.contains(&format!("config {}: timeouts.udp = 5", bad.display())),
        "{err}"
    );
    assert_eq!(ctl_ok(&lab, &["timeouts", "display"]), shown);
    assert_eq!(ctl_ok(&lab, &["pool4", "display"]), pool);
    let good = std::env::temp_dir().join(format!("{}-good.toml", lab.gateway.name));
    std::fs::write(
        &good,
        format!(
            "[[pool4]]\nprefix = \"{second}\"\nports = \"7000-7001\"\n\
             [timeouts]\nudp = 200\nicmp = 120\nallow-nonstandard = true\n"
        ),
    )
    .unwrap();
    let said = ctl_ok(&lab, &["config", "apply", good.to_str().unwrap()]);
    assert!(said.contains("dropped 0 pool4 addresses"), "{said}");
    assert!(ctl_ok(&lab, &["timeouts", "display"]).contains("udp        200 s"));
    let rows: Vec<String> = ctl_ok(&lab, &["pool4", "display"])
        .lines()
        .skip(1)
        .map(|r| r.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows,
        [
            format!("{second} tcp 7000-7001 0/2"),
            format!("{second} udp 7000-7001 1/2"),
            format!("{second} icmp 7000-7001 0/2"),
        ],
        "the tcp-only 8000 range is gone, the udp binding stays"
    );

    // SIGHUP re-reads the file the gateway started with.
    std::fs::write(
        &conf,
        format!(
            "interfaces = [\"nosuchif\"]\npool6 = \"64:ff9b:1::/48\"\n\
             [[pool4]]\nprefix = \"{second}\"\nports = \"7000-7001\"\n[timeouts]\nicmp = 90\n\
             allow-nonstandard = true\n"
        ),
    )
    .unwrap();
    let pid = lab.gateway_daemon.as_ref().unwrap().pid();
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    let reloaded = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        ctl_ok(&lab, &["timeouts", "display"]).contains("icmp       90 s")
    });
    assert!(
        reloaded,
        "SIGHUP did not apply the file:\n{}",
        lab.gateway_daemon.as_ref().unwrap().output()
    );
    for f in [bad, good, conf] {
        let _ = std::fs::remove_file(f);
    }
});
