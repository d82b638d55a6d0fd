//! netns end-to-end: the data plane outlives nat64-ctl. A long curl download runs through
//! the gateway while nat64-ctl is SIGKILLed and started again; the file arrives intact and
//! the session table still holds the flow. Then the lifecycle around it: one manager per
//! instance, state kept across a clean stop, `detach` and `attach --fresh` removing it.
use std::time::Duration;

use nat64_tests::{
    addr::{POOL4, SERVER4_IN_POOL6},
    lab_available, Lab, Served,
};

const ARGS: [&str; 4] = ["--pool6", "64:ff9b:1::/48", "--pool4", POOL4];

/// The TCP sessions, without their clocks.
fn tcp_sessions(lab: &Lab) -> Vec<serde_json::Value> {
    lab.tcp_sessions()
}

/// The established ones.
fn http_sessions(lab: &Lab) -> Vec<serde_json::Value> {
    tcp_sessions(lab)
        .into_iter()
        .filter(|s| s["tcp_state"] == "ESTABLISHED")
        .collect()
}

nat64_tests::lab_test!(
    a_download_survives_nat64_ctl_being_killed_and_restarted,
    |hook| {
        if !lab_available("a_download_survives_nat64_ctl_being_killed_and_restarted") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.start_gateway(&ARGS).expect("gateway");

        let served = Served::start(&lab, "index\n", 48).expect("nginx");
        let (dir, want) = (served.dir.clone(), served.sha256.clone());

        // 48 MiB, about 16 s at 3 MB/s: long enough to kill and restart the manager in the
        // middle, also on a loaded machine (a slow restart once outlasted an 8 s download).
        let got = dir.join("got.bin");
        let mut cmd = lab.client6.cmd("curl");
        cmd.args(["-sS", "--limit-rate", "3M", "--max-time", "60", "-o"])
            .arg(&got)
            .arg(format!("http://[{SERVER4_IN_POOL6}]/big.bin"));
        let mut curl = lab.client6.spawn(cmd, "curl").unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let before = http_sessions(&lab);
        assert_eq!(before.len(), 1, "{before:?}");

        // A crash: no cleanup at all. The pinned links keep the program on the interfaces
        // and the pinned maps keep the state, so the flow keeps going meanwhile.
        lab.gateway_daemon.as_mut().unwrap().kill();
        // (curl's rate limit comes in bursts and pauses: give it a few seconds to move.)
        let size = || std::fs::metadata(&got).map(|m| m.len()).unwrap_or(0);
        let size_then = size();
        let moved = (0..60).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            size() > size_then
        });
        assert!(
            moved,
            "the download must go on while nat64-ctl is dead (stuck at {size_then} bytes)"
        );
        assert_eq!(
            http_sessions(&lab),
            before,
            "the session table is intact without nat64-ctl (all TCP sessions: {:?}; curl: {})",
            tcp_sessions(&lab),
            curl.output()
        );

        // The restart takes the state over and swaps the program into the existing links.
        lab.start_gateway(&ARGS).expect("gateway restarted");
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        assert!(
            log.contains("took over the running data plane's state")
                && log.contains(&format!("replaced the program on eth6's {}", hook.link()))
                && log.contains(&format!("replaced the program on eth4's {}", hook.link())),
            "{log}"
        );
        // A second manager for the same instance is refused.
        let out = lab.ctl(&["attach", "eth6", "eth4"]).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("is managed by another nat64-ctl"),
            "{err}"
        );
        let during = http_sessions(&lab);
        assert_eq!(
            during, before,
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
            want,
            "the download arrives intact across the restart"
        );
        // Closed by now (FINs seen), but the same session, on the same binding, until its
        // transitory lifetime ends.
        let after: Vec<serde_json::Value> = tcp_sessions(&lab)
            .into_iter()
            .map(|mut s| {
                s.as_object_mut().unwrap().remove("tcp_state");
                s
            })
            .collect();
        let mut was = before[0].clone();
        was.as_object_mut().unwrap().remove("tcp_state");
        assert_eq!(after, [was], "the session is still there");

        // A clean stop keeps the state too; `detach` takes it down.
        lab.gateway_daemon.take().unwrap().stop();
        let out = lab.ctl(&["stats", "display", "--json"]).unwrap();
        assert!(
            out.status.success(),
            "the stopped gateway's counters stay readable"
        );
        let out = lab.ctl(&["detach"]).unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("from 2 interfaces (eth4, eth6)"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lock = format!("/run/nat64/{}.lock", lab.instance);
        assert!(
            !std::path::Path::new(&lock).exists(),
            "{lock} outlives detach"
        );
        let out = lab.ctl(&["stats", "display"]).unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("is running"));
        let gone = lab.client6.sh_output(
            &format!("curl -sS --max-time 3 -o /dev/null http://[{SERVER4_IN_POOL6}]/big.bin"),
            Duration::from_secs(10),
        );
        assert!(
            !gone.unwrap().status.success(),
            "after detach nothing translates"
        );
        let out = lab.ctl(&["detach"]).unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("no gateway instance"));

        // --fresh starts from nothing even when state is pinned.
        lab.start_gateway(&ARGS).expect("gateway");
        lab.gateway_daemon.take().unwrap().stop();
        lab.start_gateway(&["--fresh", ARGS[0], ARGS[1], ARGS[2], ARGS[3]])
            .expect("fresh gateway");
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        assert!(
            log.contains("--fresh: removed the earlier state") && !log.contains("took over"),
            "{log}"
        );
    }
);
