//! netns end-to-end: the single-address gateway. No `--pool4`: pool4 is the gateway's own
//! IPv4 address (192.0.2.1 on eth4), as on a home or office router with one public
//! address. Translated flows work from the very first datagram whatever the neighbour
//! state (the kernel must accept translated packets whose source is its own address), and
//! the router's own services on that address stay reachable.
use std::time::Duration;

use nat64_tests::{
    addr::{self, SERVER4_IN_POOL6},
    programs::UDP_ECHO_SERVER,
    Hook, Lab, Served,
};

/// A TCP service of the router itself on its own address: answers one line per connection.
const ROUTER_SERVICE: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 2222))
s.listen(8)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(b"router here\n")
    print("served %s:%d" % peer, flush=True)
    c.close()
"#;

fn single_address_lab(test: &str, hook: nat64_tests::Hook) -> Option<Lab> {
    if !nat64_tests::lab_available(test) {
        return None;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    lab.start_gateway(&["--pool6", "64:ff9b:1::/48"])
        .expect("gateway");
    Some(lab)
}

nat64_tests::lab_test!(
    single_address_gateway_translates_and_keeps_its_own_services,
    |hook| {
        let Some(mut lab) = single_address_lab(
            "single_address_gateway_translates_and_keeps_its_own_services",
            hook,
        ) else {
            return;
        };
        let log = lab.gateway_daemon.as_ref().unwrap().output();
        assert!(
            log.contains(&format!(
                "pool4 is the interfaces' own IPv4 addresses [{}]",
                addr::GW4
            )),
            "attach must say what pool4 it took: {log}"
        );
        let pool4 = lab.ctl(&["pool4", "display"]).unwrap();
        let pool4 = String::from_utf8_lossy(&pool4.stdout).into_owned();
        assert!(
            pool4.contains(addr::GW4) && pool4.contains("61001-65535"),
            "{pool4}"
        );

        let echo = lab
            .server4
            .python_service(UDP_ECHO_SERVER, "udp-echo")
            .unwrap();
        // Cold neighbours: the gateway knows neither server4's nor client6's MAC. The first
        // datagram of the first flow must be answered all the same.
        lab.gateway.sh("ip neigh flush all").unwrap();
        let out = lab
            .client6
            .sh(&format!(
                "python3 -c '{}'",
                nat64_tests::programs::one_datagram(SERVER4_IN_POOL6, "first")
            ))
            .unwrap();
        assert!(
            out.contains("reply b'FIRST'"),
            "the very first datagram: {out}"
        );
        assert!(
            echo.output().contains(&format!("from {}:", addr::GW4)),
            "server4 must see the gateway's own address: {}",
            echo.output()
        );
        // XDP hands it to the kernel, TC to the kernel's neighbour layer.
        let passed_no_neigh = lab
            .counter(match hook {
                Hook::XdpTxOff => "fwd_pass_no_neighbour",
                Hook::Tc => "fwd_redirect_neighbour",
            })
            .unwrap();
        assert!(
            passed_no_neigh >= 1,
            "the first packet met no neighbour entry"
        );

        // The router's own TCP service on its pool4 address, from the IPv4 side: not taken by
        // the translator (port 2222 is outside pool4's 61001-65535 and has no binding).
        let service = lab
            .gateway
            .python_service(ROUTER_SERVICE, "router-service")
            .unwrap();
        let before = lab.counter("pass_pool4_local").unwrap();
        let got = lab
        .server4
        .sh(&format!(
            "python3 -c 'import socket; c = socket.create_connection((\"{}\", 2222), 3); print(c.recv(64).decode().strip())'",
            addr::GW4
        ))
        .unwrap();
        assert_eq!(got.trim(), "router here");
        assert!(service
            .output()
            .contains(&format!("served {}:", addr::SERVER4)));
        // And ping of the router itself.
        lab.server4
            .sh(&format!("ping -c 2 -W 2 {}", addr::GW4))
            .unwrap();
        let passed = lab.counter("pass_pool4_local").unwrap() - before;
        assert!(
            passed >= 4,
            "handshake, ACKs and pings reached the kernel: {passed}"
        );

        // A port pool4 lends, with no binding, is the translator's: dropped and counted, never
        // handed to a socket of the router's.
        let no_bib = lab.counter("drop_no_bib4").unwrap();
        lab.server4
        .sh(&format!(
            "python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b\"x\", (\"{}\", 62000))'",
            addr::GW4
        ))
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(lab.counter("drop_no_bib4").unwrap() - no_bib, 1);

        // A download through the single address, then the neighbours flushed mid-run: the
        // next datagram is answered too.
        let served = Served::start(&lab, "<h1>one address</h1>\n", 20).expect("nginx");
        let got = lab
            .client6
            .sh_output(
                &format!("curl -sS --max-time 60 http://[{SERVER4_IN_POOL6}]/big.bin | sha256sum"),
                Duration::from_secs(90),
            )
            .unwrap();
        let got = String::from_utf8_lossy(&got.stdout);
        assert_eq!(got.split_whitespace().next(), Some(served.sha256.as_str()));
        lab.gateway.sh("ip neigh flush all").unwrap();
        let out = lab
            .client6
            .sh(&format!(
                "python3 -c '{}'",
                nat64_tests::programs::one_datagram(SERVER4_IN_POOL6, "after flush")
            ))
            .unwrap();
        assert!(
            out.contains("reply b'AFTER FLUSH'"),
            "after ip neigh flush: {out}"
        );
        let stats = lab.stats().unwrap();
        eprintln!(
        "single-address gateway: xlat 6to4 udp {} tcp {}, fwd_pass_no_neighbour {}, fwd_redirect {}, pass_pool4_local {}",
        stats["xlat_6to4_udp"], stats["xlat_6to4_tcp"], stats["fwd_pass_no_neighbour"],
        stats["fwd_redirect"], stats["pass_pool4_local"]
    );
        drop(lab.gateway_daemon.take());
    }
);

nat64_tests::lab_test!(
    pool4_overlapping_the_kernels_ephemeral_ports_is_refused,
    |hook| {
        if !nat64_tests::lab_available("pool4_overlapping_the_kernels_ephemeral_ports_is_refused") {
            return;
        }
        let lab = Lab::reference_on(hook).expect("lab");
        lab.gateway
            .sh("sysctl -qw net.ipv4.ip_local_port_range='32768 60999'")
            .unwrap();
        let mut cmd = lab.gateway.cmd_net_only(nat64_tests::nat64_ctl_bin());
        cmd.args([
            "attach",
            "eth6",
            "eth4",
            "--instance",
            &lab.instance,
            "--pool6",
            "64:ff9b:1::/48",
            "--pool4",
            addr::GW4,
            "--ports",
            "40000-50000",
        ]);
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "attach must refuse: {err}");
        assert!(
            err.contains(&format!(
                "pool4 {} tcp ports 40000-50000 overlap net.ipv4.ip_local_port_range 32768-60999",
                addr::GW4
            )),
            "{err}"
        );
        // Nothing was attached.
        let links = lab.gateway.sh("ip -d link show eth4").unwrap();
        assert!(!links.contains("xdp"), "{links}");
        assert!(lab.tcx_programs("eth4").is_empty());
    }
);
