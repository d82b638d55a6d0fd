//! netns end-to-end: the real nat64-ctl attaches the data plane (XDP or TC, per lab
//! variant) in the reference lab and counts real traffic from ping; restarting with the
//! other hook moves the interfaces over cleanly.

use aya::programs::links::LinkType;
use nat64_tests::{addr, lab_available, Hook, Lab};

/// Whether the lab's hook has the gateway's program on `dev`, asked of the kernel (the
/// interface's XDP program or its tcx programs, and the pinned link's type and program).
fn attached(lab: &Lab, hook: Hook, dev: &str) -> bool {
    let link = lab.gateway.sh(&format!("ip -d link show {dev}")).unwrap();
    let xdp = link.contains("prog/xdp") && link.contains("name nat64");
    let tcx = lab.tcx_programs(dev).contains(&"nat64_tc".to_string());
    let pinned = lab.pinned_link(dev);
    match hook {
        Hook::XdpTxOff => {
            xdp && !tcx && pinned == Some((LinkType::Xdp, nat64_ctl::XDP_PROGRAM.to_string()))
        }
        Hook::Tc => {
            tcx && !xdp && pinned == Some((LinkType::Tcx, nat64_ctl::TC_PROGRAM.to_string()))
        }
    }
}

/// No program of the gateway's on `dev`, under either hook.
fn bare(lab: &Lab, dev: &str) -> bool {
    let link = lab.gateway.sh(&format!("ip -d link show {dev}")).unwrap();
    !link.contains("prog/xdp") && lab.tcx_programs(dev).is_empty()
}

nat64_tests::lab_test!(gateway_attaches_and_counts_real_traffic, |hook| {
    if !lab_available("gateway_attaches_and_counts_real_traffic") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    lab.start_gateway(&[]).expect("nat64-ctl attach");

    // The program is really attached (XDP in driver mode, or TC at ingress) on both
    // gateway interfaces, and the log says which.
    let log = lab.gateway_daemon.as_ref().unwrap().output();
    for dev in ["eth6", "eth4"] {
        assert!(attached(&lab, hook, dev), "{dev} under {hook:?}");
        let said = match hook {
            Hook::XdpTxOff => format!("attached XDP to {dev} (driver mode)"),
            Hook::Tc => format!("attached TC (tcx) to {dev}: --hook tc"),
        };
        assert!(log.contains(&said), "{log}");
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

    // Each echo request crosses the gateway's hook once; ND/ARP may add a few more.
    let v6 = lab.counter("rx_ipv6").unwrap() - v6_before;
    let v4 = lab.counter("rx_ipv4").unwrap() - v4_before;
    assert!((5..=20).contains(&v6), "rx_ipv6 moved by {v6}");
    assert!((7..=20).contains(&v4), "rx_ipv4 moved by {v4}");
    let pass = lab.counter("verdict_pass").unwrap();
    assert!(pass >= v6 + v4, "verdict_pass {pass} < {v6} + {v4}");
    eprintln!("counted by {hook:?}: rx_ipv6 +{v6}, rx_ipv4 +{v4}, verdict_pass {pass}");

    // SIGINT stops nat64-ctl cleanly (exit 0); the data plane stays on the links.
    let mut d = lab.gateway_daemon.take().unwrap();
    let status = d.stop().expect("status");
    assert!(
        status.success(),
        "nat64-ctl exited with {status}:\n{}",
        d.output()
    );
    for dev in ["eth6", "eth4"] {
        assert!(
            attached(&lab, hook, dev),
            "{dev} lost the data plane with nat64-ctl"
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
        assert!(bare(&lab, dev), "{dev} still has a program after detach");
        assert_eq!(lab.pinned_link(dev), None);
    }
    let out = lab.ctl(&["stats", "display"]).unwrap();
    assert!(
        !out.status.success(),
        "stats display must fail once the gateway is gone"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is running"));
});

nat64_tests::lab_test!(
    a_restart_with_the_other_hook_moves_the_interfaces_over,
    |hook| {
        if !lab_available("a_restart_with_the_other_hook_moves_the_interfaces_over") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.start_gateway(&[]).expect("nat64-ctl attach");
        lab.gateway_daemon.take().unwrap().stop();
        let other = match hook {
            Hook::Tc => Hook::XdpTxOff,
            Hook::XdpTxOff => Hook::Tc,
        };
        lab.start_gateway(&["--hook", other.flag()])
            .expect("the restart on the other hook");
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        let moved = match other {
            Hook::Tc => "detached XDP from eth6, now on TC",
            Hook::XdpTxOff => "detached TC (tcx) from eth6, now on XDP",
        };
        assert!(
            log.contains("took over the running data plane's state") && log.contains(moved),
            "{log}"
        );
        lab.hook = other;
        for dev in ["eth6", "eth4"] {
            assert!(attached(&lab, other, dev), "{dev} on {other:?}");
        }
        // The old hook's pin is gone with its link.
        lab.hook = hook;
        for dev in ["eth6", "eth4"] {
            assert_eq!(lab.pinned_link(dev), None, "{dev}: {hook:?} pin left");
        }
        lab.gateway_daemon.take().unwrap().stop();

        // --hook auto on veths: TC, the veth being a virtual device.
        lab.start_gateway(&["--hook", "auto"])
            .expect("the restart with --hook auto");
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        for dev in ["eth6", "eth4"] {
            let said = if other == Hook::Tc {
                format!(
                    "replaced the program on {dev}'s TC link (tcx): virtual device (driver veth)"
                )
            } else {
                format!("attached TC (tcx) to {dev}: virtual device (driver veth)")
            };
            assert!(log.contains(&said), "{log}");
        }
        lab.hook = Hook::Tc;
        for dev in ["eth6", "eth4"] {
            assert!(attached(&lab, Hook::Tc, dev), "{dev} under auto");
        }

        // `detach` takes the TC links down too.
        lab.gateway_daemon.take().unwrap().stop();
        let out = lab.ctl(&["detach"]).unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("from 2 interfaces (eth4, eth6)"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for dev in ["eth6", "eth4"] {
            assert!(bare(&lab, dev), "{dev} keeps a program after detach");
            assert_eq!(lab.pinned_link(dev), None);
        }
    }
);

/// The fallback for kernels without tcx: a clsact filter at a fixed priority and handle,
/// which a second attach replaces in place and `detach_clsact` deletes. (This kernel has
/// tcx, so the lab drives the fallback directly.)
#[test]
fn the_clsact_fallback_attaches_replaces_and_detaches() {
    if !lab_available("the_clsact_fallback_attaches_replaces_and_detaches") {
        return;
    }
    let lab = Lab::reference_on(Hook::Tc).expect("lab");
    let filters = || {
        lab.gateway
            .sh("tc filter show dev eth6 ingress")
            .unwrap_or_default()
    };
    let runs = lab.in_gateway_ns(|| {
        let mut ebpf =
            nat64_ctl::loader::load(nat64_ctl::loader::BpfLogLevel::Off).expect("the object loads");
        let prog = nat64_ctl::hook::tc_program(&mut ebpf).expect("the TC program loads");
        let first = nat64_ctl::hook::attach_clsact(prog, "eth6").expect("clsact attach");
        let second = nat64_ctl::hook::attach_clsact(prog, "eth6").expect("clsact replace");
        (first, second)
    });
    use nat64_ctl::hook::TcAttached::Clsact;
    assert_eq!(runs, ((Clsact, false), (Clsact, true)));
    // One filter, ours, still there with the loader gone (the kernel holds it).
    let f = filters();
    assert_eq!(
        f.lines().filter(|l| l.contains("nat64_tc")).count(),
        1,
        "{f}"
    );
    assert!(f.contains("pref 3172") && f.contains("handle 0x64"), "{f}");
    assert!(lab.in_gateway_ns(|| nat64_ctl::hook::detach_clsact("eth6")));
    let f = filters();
    assert!(!f.contains("nat64_tc"), "{f}");
    assert!(!lab.in_gateway_ns(|| nat64_ctl::hook::detach_clsact("eth6")));
}
