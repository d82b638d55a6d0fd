//! netns end-to-end: the real nat64-ctl attaches XDP in the reference lab and counts
//! real traffic from ping.

use nat64_tests::{addr, lab_available, Lab};

#[test]
fn gateway_attaches_and_counts_real_traffic() {
    if !lab_available("gateway_attaches_and_counts_real_traffic") {
        return;
    }
    let mut lab = Lab::reference().expect("lab");
    lab.start_gateway(&[]).expect("nat64-ctl attach");

    // The program is really attached, in driver mode, on both gateway interfaces.
    for dev in ["eth6", "eth4"] {
        let link = lab.gateway.sh(&format!("ip -d link show {dev}")).unwrap();
        assert!(
            link.contains("prog/xdp") && link.contains("name nat64"),
            "{dev}: {link}"
        );
    }
    let v6_before = lab.counter("rx_ipv6").unwrap();
    let v4_before = lab.counter("rx_ipv4").unwrap();

    let out = lab
        .client6
        .sh(&format!("ping -6 -c 5 -i 0.2 -W 2 {}", addr::GW6))
        .unwrap();
    assert!(out.contains("5 received"), "{out}");
    let out = lab
        .server4
        .sh(&format!("ping -4 -c 7 -i 0.2 -W 2 {}", addr::GW4))
        .unwrap();
    assert!(out.contains("7 received"), "{out}");

    // Each echo request crosses the gateway's XDP hook once; ND/ARP may add a few more.
    let v6 = lab.counter("rx_ipv6").unwrap() - v6_before;
    let v4 = lab.counter("rx_ipv4").unwrap() - v4_before;
    assert!((5..=20).contains(&v6), "rx_ipv6 moved by {v6}");
    assert!((7..=20).contains(&v4), "rx_ipv4 moved by {v4}");
    let pass = lab.counter("verdict_pass").unwrap();
    assert!(pass >= v6 + v4, "verdict_pass {pass} < {v6} + {v4}");
    eprintln!("counted by XDP: rx_ipv6 +{v6}, rx_ipv4 +{v4}, verdict_pass {pass}");

    // SIGINT stops nat64-ctl cleanly (exit 0); the data plane stays on the links.
    let mut d = lab.gateway_daemon.take().unwrap();
    let status = d.stop().expect("status");
    assert!(
        status.success(),
        "nat64-ctl exited with {status}:\n{}",
        d.output()
    );
    for dev in ["eth6", "eth4"] {
        let link = lab.gateway.sh(&format!("ip -d link show {dev}")).unwrap();
        assert!(
            link.contains("prog/xdp"),
            "{dev} lost XDP with nat64-ctl: {link}"
        );
    }
    // `detach` takes it down: no program left on the links, pins gone.
    let out = lab.ctl(&["detach"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for dev in ["eth6", "eth4"] {
        let link = lab.gateway.sh(&format!("ip -d link show {dev}")).unwrap();
        assert!(
            !link.contains("prog/xdp"),
            "{dev} still has XDP after detach: {link}"
        );
    }
    let out = lab.ctl(&["stats", "display"]).unwrap();
    assert!(
        !out.status.success(),
        "stats display must fail once the gateway is gone"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is running"));
}
