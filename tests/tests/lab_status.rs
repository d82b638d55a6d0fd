//! netns end-to-end: `nat64-ctl status` on a running gateway agrees with the kernel (`ip
//! link`), with `session display`, `bib display` and the counters, sees a drop induced on
//! purpose among the last minute's, knows the data plane runs this binary's object, and
//! says so (exit status 3) once the manager is killed.
use std::{
    process::Output,
    time::{Duration, Instant},
};

use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4_IN_POOL6},
    nat64_ctl_bin, programs, Hook, Lab,
};
use serde_json::Value;

/// `status --json`: (exit status, the instance's object).
fn status_json(lab: &Lab) -> (i32, Value) {
    let out = lab.ctl(&["status", "--json"]).unwrap();
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json ({code}) printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let list = v["instances"].as_array().expect("instances").clone();
    assert_eq!(list.len(), 1, "{v}");
    (code, list[0].clone())
}

fn status_text(lab: &Lab) -> (i32, String) {
    let out: Output = lab.ctl(&["status"]).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `display --json` of `what` (session or bib), counted by protocol.
fn count_by_proto(lab: &Lab, what: &str, pred: impl Fn(&Value) -> bool) -> [(String, u64); 3] {
    let out = lab.ctl(&[what, "display", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    ["tcp", "udp", "icmp"].map(|p| {
        (
            p.to_string(),
            all.iter().filter(|e| e["proto"] == p && pred(e)).count() as u64,
        )
    })
}

fn by_proto(v: &Value) -> [(String, u64); 3] {
    ["tcp", "udp", "icmp"].map(|p| {
        (
            p.to_string(),
            v[p].as_u64().unwrap_or_else(|| panic!("{p} in {v}")),
        )
    })
}

nat64_tests::lab_test!(
    status_agrees_with_the_kernel_and_the_tables_and_sees_a_dead_manager,
    |hook| {
        let Some(mut lab) = Lab::with_gateway(
            "status_agrees_with_the_kernel_and_the_tables_and_sees_a_dead_manager",
            hook,
            &["--ports", "61001-61100"],
        ) else {
            return;
        };

        // The drop baseline is the manager's first pass: wait for it before any traffic, so
        // the drop induced below falls inside the window whatever the timing.
        let start = Instant::now();
        loop {
            let (_, s) = status_json(&lab);
            if s["last_expiry_pass"].is_object() && s["drops_last_minute"].is_object() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no expiry pass recorded: {s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        // Three UDP flows (one binding each: three source ports) and a ping.
        let _echo = lab
            .server4
            .python_service(programs::UDP_ECHO_SERVER, "udp-echo")
            .unwrap();
        for sport in [5001, 5002, 5003] {
            let out = lab
                .client6
                .cmd("python3")
                .args([
                    "-c",
                    &programs::udp_client(CLIENT6, sport, SERVER4_IN_POOL6, "hi"),
                ])
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&out.stdout);
            assert!(out.contains("reply b'HI'"), "flow from port {sport}: {out}");
        }
        let ping = lab
            .client6
            .sh(&format!("ping -6 -c 2 -i 0.2 -W 2 {SERVER4_IN_POOL6}"))
            .unwrap();
        assert!(ping.contains("2 received"), "{ping}");

        // A drop on purpose: datagrams from the IPv4 side to a pool4 port nobody holds, outside
        // the dynamic range (61001-61100), which one of the flows above may have drawn.
        let (_, before) = status_json(&lab);
        let no_bib4_before = before["drops_last_minute"]["by_reason"]["no_bib4"]
            .as_u64()
            .unwrap_or(0);
        lab.server4
            .sh(&format!(
                "python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             for i in range(3): s.sendto(b\"x\", (\"{POOL4}\", 60999))'"
            ))
            .unwrap();

        let (code, s) = status_json(&lab);
        assert_eq!(code, 0, "exit status with the manager running: {s}");
        assert_eq!(s["instance"], lab.instance.as_str());
        assert_eq!(s["daemon"]["running"], true, "{s}");
        assert_eq!(
            s["daemon"]["pid"].as_u64(),
            Some(lab.gateway_daemon.as_ref().unwrap().pid() as u64),
            "{s}"
        );

        // Interfaces: what `ip link` says of each one's XDP program and mode.
        let interfaces = s["interfaces"].as_array().unwrap();
        let names: Vec<&str> = interfaces
            .iter()
            .map(|i| i["interface"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(names, ["eth4", "eth6"], "{s}");
        for i in interfaces {
            let dev = i["interface"].as_str().unwrap();
            let ip: Value = serde_json::from_str(
                &lab.gateway
                    .sh(&format!("ip -d -j link show {dev}"))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(i["direction"], "ingress");
            assert_eq!(i["ifindex"], ip[0]["ifindex"], "{i} vs {ip}");
            if hook == Hook::Tc {
                // tcx links do not show in `ip link`; the kernel's tcx query does.
                let ids = lab.tcx_program_ids(dev);
                assert_eq!(i["hook"], "tc", "{i}");
                assert_eq!(i["mode"], "tcx", "{i}");
                assert!(
                    ids.iter().any(|id| i["program_id"] == *id),
                    "{i} vs the kernel's tcx programs {ids:?}"
                );
                assert_eq!(i["pin"], format!("tcx-{dev}"));
                continue;
            }
            let xdp = &ip[0]["xdp"];
            // XDP_ATTACHED_DRV = 1, XDP_ATTACHED_SKB = 2 (linux/if_link.h).
            let mode = match xdp["mode"].as_u64() {
                Some(1) => "driver",
                Some(2) => "generic",
                other => panic!("{dev}: ip reports XDP mode {other:?}: {ip}"),
            };
            assert_eq!(i["hook"], "xdp", "{i}");
            assert_eq!(i["mode"], mode, "{i} vs {ip}");
            assert_eq!(i["program_id"], xdp["prog"]["id"], "{i} vs {ip}");
            assert_eq!(i["pin"], format!("link-{dev}"));
        }

        // The data plane is this binary's object, and the hash is the one --version prints.
        let dp = &s["dataplane"];
        assert_eq!(dp["matches"], true, "{s}");
        assert_eq!(dp["running_sha256"], dp["this_binary_sha256"]);
        let version = String::from_utf8(
            std::process::Command::new(nat64_ctl_bin())
                .arg("--version")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(
            version.contains(dp["this_binary_sha256"].as_str().unwrap()),
            "{version} vs {dp}"
        );
        assert_eq!(
            dp["program_ids"],
            serde_json::json!([interfaces[0]["program_id"]])
        );

        // Sessions and bindings: what the tables' own displays count.
        let sessions = by_proto(&s["sessions"]);
        assert_eq!(sessions, count_by_proto(&lab, "session", |_| true));
        assert_eq!(sessions[1].1, 3, "three UDP flows: {s}");
        assert_eq!(sessions[2].1, 1, "one ping: {s}");
        let dynamic = by_proto(&s["bindings"]["dynamic"]);
        assert_eq!(
            dynamic,
            count_by_proto(&lab, "bib", |b| b["static"] == false)
        );
        assert_eq!(
            by_proto(&s["bindings"]["static"]),
            count_by_proto(&lab, "bib", |b| b["static"] == true)
        );

        // pool4: per protocol the 100 ports of the range, those in use the bindings.
        let pool4 = s["pool4"].as_array().unwrap();
        assert_eq!(pool4.len(), 3, "{s}");
        for (u, (proto, n)) in pool4.iter().zip(&dynamic) {
            assert_eq!(u["address"], POOL4);
            assert_eq!(u["proto"], proto.as_str());
            assert_eq!(u["ranges"], serde_json::json!(["61001-61100"]));
            assert_eq!(u["ports"], 100);
            assert_eq!(u["in_use"].as_u64(), Some(*n), "{u}");
            assert_eq!(u["static"], 0);
        }
        // ...which `pool4 display` agrees with ("in use" column: used/size).
        let display = String::from_utf8(lab.ctl(&["pool4", "display"]).unwrap().stdout).unwrap();
        for u in pool4 {
            let used = format!("{}/{}", u["in_use"], u["ports"]);
            assert!(
                display.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() >= 4 && f[0] == POOL4 && f[1] == u["proto"] && f[3] == used
                }),
                "{u} not in\n{display}"
            );
        }

        // The last pass, and the induced drops among the last minute's.
        let pass = &s["last_expiry_pass"];
        for f in ["scanned", "sessions_expired", "bindings_expired"] {
            assert!(pass[f].is_u64(), "{pass}");
        }
        assert!(pass["age_s"].as_f64().unwrap() >= 0.0, "{pass}");
        let drops = &s["drops_last_minute"];
        let no_bib4 = drops["by_reason"]["no_bib4"].as_u64().unwrap_or(0);
        let counter = lab.counter("drop_no_bib4").unwrap();
        assert!(
            no_bib4 >= no_bib4_before + 3 && no_bib4 <= counter,
            "drops {drops}, before {no_bib4_before}, drop_no_bib4 {counter}"
        );
        assert_eq!(
            drops["total"].as_u64(),
            Some(
                drops["by_reason"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_u64().unwrap())
                    .sum()
            ),
            "{drops}"
        );

        // The text screen says the same.
        let (code, text) = status_text(&lab);
        assert_eq!(code, 0, "{text}");
        let pid = lab.gateway_daemon.as_ref().unwrap().pid();
        for want in [
            format!("instance {}: nat64-ctl running, pid {pid}", lab.instance),
            "data plane: this binary's eBPF object".to_string(),
            format!(
                "{} ({})",
                interfaces[0]["hook"].as_str().unwrap(),
                interfaces[0]["mode"].as_str().unwrap()
            ),
            format!(
                "sessions: tcp {}, udp {}, icmp {}",
                sessions[0].1, sessions[1].1, sessions[2].1
            ),
            format!("{}/100", dynamic[1].1),
            "last expiry pass: ".to_string(),
            "drops in the last ".to_string(),
            "no_bib4 ".to_string(),
        ] {
            assert!(text.contains(&want), "{want:?} missing from\n{text}");
        }
        assert!(text.lines().count() <= 24, "one screen:\n{text}");

        // The manager dies: the pins still tell what runs, and status says nobody manages it.
        lab.gateway_daemon.as_mut().unwrap().kill();
        let (code, dead) = status_json(&lab);
        assert_eq!(code, 3, "exit status without a manager: {dead}");
        assert_eq!(dead["daemon"]["running"], false, "{dead}");
        assert_eq!(dead["daemon"]["pid"], Value::Null);
        assert_eq!(dead["interfaces"], s["interfaces"], "the links stay");
        assert_eq!(dead["dataplane"]["matches"], true, "{dead}");
        assert_eq!(by_proto(&dead["sessions"]), sessions);
        let (code, text) = status_text(&lab);
        assert_eq!(code, 3, "{text}");
        assert!(text.contains("nat64-ctl NOT running"), "{text}");
    }
);
