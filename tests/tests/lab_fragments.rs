//! netns end-to-end: a 3000-byte UDP datagram crosses the gateway both ways as fragments
//! (RFC 7915 §4.1, §5.1.1) and arrives intact. The links have MTU 1500, so client6
//! sends it as IPv6 fragments and server4 as IPv4 fragments of 1480 bytes of data. As
//! IPv6 those gain 28 bytes and exceed lowest-ipv6-mtu (1280): the fast path hands them
//! to nat64-ctl's slow path, which splits each again under the datagram's identification,
//! and client6 still reassembles one datagram from the pieces.

use nat64_tests::{
    addr::{self, POOL4, SERVER4_IN_POOL6},
    Lab, Netns,
};

/// UDP echo on 0.0.0.0:7777 that answers with the datagram as received.
const ECHO_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print("from %s:%d %d bytes" % (peer[0], peer[1], len(data)), flush=True)
    s.sendto(data, peer)
"#;

const SIZE: usize = 3000;

fn client(dst: &str) -> String {
    format!(
        r#"
import socket
data = bytes((i * 7 + i // 251) % 256 for i in range({SIZE}))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("{src}", 5000))
s.settimeout(2)
for attempt in range(3):
    s.sendto(data, ("{dst}", 7777))
    try:
        reply, peer = s.recvfrom(65535)
        print("reply %d bytes from [%s]:%d %s" % (len(reply), peer[0], peer[1], "intact" if reply == data else "CORRUPTED"))
        break
    except socket.timeout:
        print("timeout")
"#,
        src = addr::CLIENT6,
    )
}

/// A field of the namespace's /proc/net/snmp (`Ip:` lines) or snmp6 (`Ip6…` lines).
fn snmp(ns: &Netns, file: &str, field: &str) -> u64 {
    let text = ns.sh(&format!("cat /proc/net/{file}")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    if file == "snmp6" {
        return lines
            .iter()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(field)).then(|| w.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{field} not in {file}"));
    }
    for pair in lines.windows(2) {
        let (names, values) = (pair[0], pair[1]);
        if !names.starts_with("Ip: ") || !values.starts_with("Ip: ") {
            continue;
        }
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        if let Some(i) = names.iter().position(|n| *n == field) {
            return values[i].parse().unwrap();
        }
    }
    panic!("{field} not in {file}");
}

nat64_tests::lab_test!(a_fragmented_udp_datagram_crosses_both_ways_intact, |hook| {
    let bib = format!("udp {POOL4}#6000 {}#5000", addr::CLIENT6);
    let Some(lab) = Lab::with_gateway(
        "a_fragmented_udp_datagram_crosses_both_ways_intact",
        hook,
        &["--bib", &bib, "--ports", "6000-6000"],
    ) else {
        return;
    };

    let server = lab.server4.python_service(ECHO_SERVER, "udp-echo").unwrap();

    let reasm4 = snmp(&lab.server4, "snmp", "ReasmOKs");
    let reasm6 = snmp(&lab.client6, "snmp6", "Ip6ReasmOKs");
    let before = lab.stats().unwrap();
    let out = lab
        .client6
        .sh(&format!("python3 -c '{}'", client(SERVER4_IN_POOL6)))
        .unwrap();
    assert!(
        out.contains(&format!(
            "reply {SIZE} bytes from [{SERVER4_IN_POOL6}]:7777 intact"
        )),
        "client6 saw: {out}"
    );
    // The IPv4-only server got the whole datagram from the binding's transport address.
    assert!(
        server
            .output()
            .contains(&format!("from {POOL4}:6000 {SIZE} bytes")),
        "server4 saw: {}",
        server.output()
    );

    // They were fragments on the wire: both end hosts reassembled, and the gateway
    // translated fragments both ways (3008 bytes of UDP: 3 IPv6 fragments of at most 1448
    // bytes of data; 3 IPv4 fragments of at most 1480, the first two of which the slow
    // path split in two each).
    assert!(snmp(&lab.server4, "snmp", "ReasmOKs") > reasm4);
    assert!(snmp(&lab.client6, "snmp6", "Ip6ReasmOKs") > reasm6);
    let after = lab.stats().unwrap();
    let moved = |k: &str| {
        let n = |m: &serde_json::Map<String, serde_json::Value>| {
            m.get(k).and_then(|v| v.as_u64()).unwrap_or(0)
        };
        n(&after) - n(&before)
    };
    let tries = out.lines().filter(|l| l.contains("timeout")).count() as u64 + 1;
    assert_eq!(moved("frag_6to4"), 3 * tries, "{after:?}");
    assert!(moved("frag_4to6") >= 3, "{after:?}");
    assert_eq!(moved("drop_fragment_out_of_order"), 0, "{after:?}");
    let replies = moved("frag_4to6") / 3;
    assert_eq!(moved("slow_path_fragment"), 2 * replies, "{after:?}");
    assert_eq!(moved("slow_path_fragments_sent"), 4 * replies, "{after:?}");
    eprintln!(
        "fragments translated: 6to4 {}, 4to6 {}; udp packets 6to4 {}, 4to6 {}",
        moved("frag_6to4"),
        moved("frag_4to6"),
        moved("xlat_6to4_udp"),
        moved("xlat_4to6_udp")
    );
});
