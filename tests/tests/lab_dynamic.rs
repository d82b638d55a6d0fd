//! netns end-to-end: IPv6-only client6 reaches IPv4-only server4 through dynamic bindings
//! (no static --bib), with real ping and real UDP sockets on ephemeral ports.

use nat64_tests::{
    addr::{self, POOL4, SERVER4_IN_POOL6},
    programs::{udp_client, UDP_ECHO_SERVER},
    Lab,
};

nat64_tests::lab_test!(ping_and_udp_through_dynamic_bindings, |hook| {
    let Some(lab) = Lab::with_gateway(
        "ping_and_udp_through_dynamic_bindings",
        hook,
        &["--ports", "61001-65535"],
    ) else {
        return;
    };

    let out = lab
        .client6
        .sh(&format!("ping -6 -c 3 -i 0.2 -W 2 {SERVER4_IN_POOL6}"))
        .unwrap();
    assert!(
        out.contains("3 received"),
        "ping through the gateway: {out}"
    );

    let server = lab
        .server4
        .python_service(UDP_ECHO_SERVER, "udp-echo")
        .unwrap();
    // Source port 0: the kernel picks an ephemeral port; the gateway maps it dynamically.
    let out = lab
        .client6
        .sh(&format!(
            "python3 -c '{}'",
            udp_client(addr::CLIENT6, 0, SERVER4_IN_POOL6, "dynamic")
        ))
        .unwrap();
    assert!(
        out.contains(&format!("reply b'DYNAMIC' from [{SERVER4_IN_POOL6}]:7777")),
        "{out}"
    );

    // The IPv4-only server saw the pool4 address and a port from the dynamic range.
    let seen = server.output();
    let port: u16 = seen
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("from {POOL4}:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("server4 saw no datagram from {POOL4}: {seen}"));
    assert!(
        (61001..=65535).contains(&port),
        "pool4 port {port} outside --ports"
    );

    // The binding table, read from the running gateway, shows both dynamic bindings.
    let out = lab.ctl(&["bib", "display", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bib: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let udp = bib
        .iter()
        .find(|b| b["proto"] == "udp")
        .unwrap_or_else(|| panic!("no udp binding: {bib:?}"));
    assert_eq!(udp["ipv6"], addr::CLIENT6);
    assert_eq!(
        (udp["ipv4"].as_str(), udp["port4"].as_u64()),
        (Some(POOL4), Some(u64::from(port)))
    );
    assert_eq!(udp["static"], false);
    let icmp = bib
        .iter()
        .find(|b| b["proto"] == "icmp")
        .unwrap_or_else(|| panic!("no icmp binding: {bib:?}"));
    assert_eq!(icmp["ipv6"], addr::CLIENT6);
    assert!(
        (61001..=65535).contains(&icmp["port4"].as_u64().unwrap()),
        "{icmp}"
    );

    let created = lab.counter("bib_created").unwrap();
    assert!(
        created >= 2,
        "one binding for ping's identifier, one for the UDP socket: {created}"
    );
    eprintln!("dynamic bindings created: {created}; server4 saw {POOL4}:{port}");
});
