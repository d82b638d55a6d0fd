//! netns end-to-end: real UDP sockets on an IPv6-only client and an IPv4-only server talk
//! through the gateway over a static binding, under the local-use prefix 64:ff9b:1::/48.
use nat64_tests::{
    addr::{self, POOL4, SERVER4_IN_POOL6},
    programs::{udp_client, UDP_ECHO_SERVER},
    Lab,
};

nat64_tests::lab_test!(udp_crosses_the_gateway_both_ways, |hook| {
    let bib = format!("udp {POOL4}#6000 {}#5000", addr::CLIENT6);
    let Some(mut lab) = Lab::with_gateway(
        "udp_crosses_the_gateway_both_ways",
        hook,
        &[
            "--bib",
            &bib,
            "--ports",
            "6000-6000",
            "--bpf-log-level",
            "debug",
        ],
    ) else {
        return;
    };

    let server = lab
        .server4
        .python_service(UDP_ECHO_SERVER, "udp-echo")
        .unwrap();

    let out = lab
        .client6
        .sh(&format!(
            "python3 -c '{}'",
            udp_client(addr::CLIENT6, 5000, SERVER4_IN_POOL6, "hello nat64")
        ))
        .unwrap();
    assert!(
        out.contains(&format!(
            "reply b'HELLO NAT64' from [{SERVER4_IN_POOL6}]:7777"
        )),
        "client6 saw: {out}"
    );
    // The IPv4-only server saw the pool4 transport address of the binding.
    assert!(
        server
            .output()
            .contains(&format!("from {POOL4}:6000 b'hello nat64'")),
        "server4 saw: {}",
        server.output()
    );

    // The dynamic range is the one port the static binding holds: a new source finds the
    // pool exhausted. It is refused and counted, never translated, and the established
    // flow goes on.
    let before = lab.counter("drop_pool4_exhausted").unwrap();
    let out = lab
        .client6
        .sh(&format!(
            "python3 -c '{}'",
            udp_client(addr::CLIENT6, 5001, SERVER4_IN_POOL6, "nobody")
        ))
        .unwrap();
    assert!(out.contains("timeout") && !out.contains("reply"), "{out}");
    assert_eq!(
        lab.counter("drop_pool4_exhausted").unwrap() - before,
        3,
        "three attempts, three refusals"
    );
    assert!(!server.output().contains("nobody"));
    let out = lab
        .client6
        .sh(&format!(
            "python3 -c '{}'",
            udp_client(addr::CLIENT6, 5000, SERVER4_IN_POOL6, "still here")
        ))
        .unwrap();
    assert!(
        out.contains("reply b'STILL HERE'"),
        "the established flow after exhaustion: {out}"
    );
    // The XDP program's own log line for those refusals reached nat64-ctl's log (aya-log).
    let drop_line = format!(
        "drop: counter {}",
        nat64_common::Counter::DropPool4Exhausted.index()
    );
    let gw = lab.gateway_daemon.as_mut().unwrap();
    gw.wait_for_output(
        "the kernel-side drop log line",
        std::time::Duration::from_secs(5),
        |o| o.contains(&drop_line),
    )
    .unwrap();

    let stats = lab.stats().unwrap();
    let n = |k: &str| stats[k].as_u64().unwrap();
    assert!(
        n("xlat_6to4_udp") >= 1 && n("xlat_4to6_udp") >= 1,
        "{stats:?}"
    );
    eprintln!(
        "translated: 6to4 udp {}, 4to6 udp {}; redirected {}, passed for neighbour resolution {}",
        n("xlat_6to4_udp"),
        n("xlat_4to6_udp"),
        n("fwd_redirect"),
        n("fwd_pass_no_neighbour")
    );
});
