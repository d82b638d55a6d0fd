//! netns end-to-end: IPv4-initiated traffic. A static binding publishes a UDP service of
//! the IPv6-only client to the IPv4 side (port forwarding); without one, the IPv4 server's
//! attempts are dropped and counted (no open relay).

use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4_IN_POOL6},
    Lab,
};

/// A UDP echo service on [::]:9000 of the IPv6-only client.
const UDP6_ECHO: &str = r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print("from [%s]:%d %r" % (peer[0], peer[1], data), flush=True)
    s.sendto(data[::-1], peer)
"#;

/// An IPv4 UDP client on server4 sending `msg` to pool4 `port` (two tries).
fn udp4_client(port: u16, msg: &str) -> String {
    format!(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for attempt in range(2):
    s.sendto(b"{msg}", ("{POOL4}", {port}))
    try:
        data, peer = s.recvfrom(2048)
        print("reply %r from %s:%d" % (data, peer[0], peer[1]))
        break
    except socket.timeout:
        print("timeout")
"#
    )
}

nat64_tests::lab_test!(
    static_binding_publishes_an_ipv6_service_and_nothing_else_gets_in,
    |hook| {
        let bib = format!("udp {POOL4}#9000 {CLIENT6}#9000");
        let Some(lab) = Lab::with_gateway(
            "static_binding_publishes_an_ipv6_service_and_nothing_else_gets_in",
            hook,
            &["--bib", &bib],
        ) else {
            return;
        };
        let service = lab.client6.python_service(UDP6_ECHO, "udp6-echo").unwrap();

        // Through the static binding: the IPv4-only server reaches the IPv6-only service, which
        // sees it under its pool6 address.
        let out = lab
            .server4
            .sh(&format!("python3 -c '{}'", udp4_client(9000, "inbound")))
            .unwrap();
        assert!(
            out.contains(&format!("reply b'dnuobni' from {POOL4}:9000")),
            "{out}\ncounters: {:?}\nservice: {}\nsessions: {}\ngateway: {}\nclient6: {}",
            lab.stats().unwrap(),
            service.output(),
            String::from_utf8_lossy(&lab.ctl(&["session", "display"]).unwrap().stdout),
            lab.gateway
                .sh("ip -6 neigh; ip -6 addr; nstat -az | grep -E 'Ip6(In|Out)' | grep -v ' 0 '")
                .unwrap_or_default(),
            lab.client6
                .sh("ip -6 neigh; nstat -az | grep -E '(Ip6|Udp6|Icmp6)' | grep -v ' 0 '")
                .unwrap_or_default()
        );
        assert!(
            service
                .output()
                .contains(&format!("from [{SERVER4_IN_POOL6}]")),
            "{}",
            service.output()
        );

        // Any other pool4 port has no binding: dropped at the gateway and counted.
        let before = lab.counter("drop_no_bib4").unwrap();
        let out = lab
            .server4
            .sh(&format!(
                "python3 -c '{}'",
                udp4_client(9001, "knock knock")
            ))
            .unwrap();
        assert!(!out.contains("reply"), "{out}");
        assert_eq!(
            lab.counter("drop_no_bib4").unwrap() - before,
            2,
            "two attempts, two drops"
        );
        assert!(!service.output().contains("knock"));

        // Moved to port 9001 at runtime from a second nat64-ctl. One IPv6 transport address
        // has one binding (endpoint-independent mapping): the old one must go first.
        let runtime = format!("udp {POOL4}#9001 {CLIENT6}#9000");
        let out = lab.ctl(&["bib", "add", &runtime]).unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{CLIENT6}#9000 already has a binding")),
            "{err}"
        );
        let out = lab.ctl(&["bib", "remove", &bib]).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = lab.ctl(&["bib", "add", &runtime]).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = lab
            .server4
            .sh(&format!("python3 -c '{}'", udp4_client(9001, "runtime")))
            .unwrap();
        assert!(
            out.contains(&format!("reply b'emitnur' from {POOL4}:9001")),
            "{out}"
        );
        // ...and withdrawn again, with its session: dropped as before.
        let out = lab.ctl(&["bib", "remove", &runtime]).unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("and 1 sessions"), "{said}");
        let before = lab.counter("drop_no_bib4").unwrap();
        let out = lab
            .server4
            .sh(&format!("python3 -c '{}'", udp4_client(9001, "gone")))
            .unwrap();
        assert!(!out.contains("reply"), "{out}");
        assert_eq!(lab.counter("drop_no_bib4").unwrap() - before, 2);
    }
);
