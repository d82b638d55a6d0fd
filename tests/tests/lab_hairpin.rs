//! netns end-to-end hairpinning (RFC 6146 §3.8): one IPv6 host reaches another IPv6 host's
//! service through the service's pool4 address, and the reply finds its way back.

use nat64_tests::{
    addr::{CLIENT6, POOL4},
    lab_available, Lab,
};

/// A second IPv6-only host on the client link (an extra address of client6).
const PEER6: &str = "2001:db8:6::3";
/// 203.0.113.1 (pool4) under 64:ff9b:1::/48.
const POOL4_IN_POOL6: &str = "64:ff9b:1:cb00:71:100::";

nat64_tests::lab_test!(
    one_ipv6_host_reaches_another_through_its_pool4_address,
    |hook| {
        if !lab_available("one_ipv6_host_reaches_another_through_its_pool4_address") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.client6
            .sh(&format!("ip -6 addr add {PEER6}/64 dev eth0 nodad"))
            .unwrap();
        let bib = format!("udp {POOL4}#9000 {PEER6}#9000");
        lab.start_gateway(&["--pool6", "64:ff9b:1::/48", "--pool4", POOL4, "--bib", &bib])
            .expect("gateway");

        let service = format!(
            r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("{PEER6}", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print("from [%s]:%d %r" % (peer[0], peer[1], data), flush=True)
    s.sendto(data.upper(), peer)
"#
        );
        let svc = lab
            .client6
            .python_service(&service, "peer-service")
            .unwrap();

        let client = format!(
            r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("{CLIENT6}", 0))
s.settimeout(2)
for attempt in range(3):
    s.sendto(b"hairpin", ("{POOL4_IN_POOL6}", 9000))
    try:
        data, peer = s.recvfrom(2048)
        print("reply %r from [%s]:%d" % (data, peer[0], peer[1]))
        break
    except socket.timeout:
        print("timeout")
"#
        );
        let out = lab.client6.sh(&format!("python3 -c '{client}'")).unwrap();
        // The reply comes from the service's public transport address, under pool6.
        assert!(
            out.contains(&format!("reply b'HAIRPIN' from [{POOL4_IN_POOL6}]:9000")),
            "{out}"
        );
        // The service saw the client as the client's public transport address, under pool6.
        assert!(
            svc.output().contains(&format!("from [{POOL4_IN_POOL6}]:")),
            "{}",
            svc.output()
        );
        assert!(
            lab.counter("xlat_hairpin").unwrap() >= 2,
            "request and reply both hairpinned"
        );
    }
);
