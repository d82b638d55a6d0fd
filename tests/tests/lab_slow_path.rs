//! netns end-to-end: what only nat64-ctl's slow path can do.
//!
//! - With the IPv6 link at MTU 1280, an IPv4 sender with DF=0 sends a 1400-byte UDP
//!   datagram: it reaches the IPv6 client as IPv6 fragments (the client's kernel counts a
//!   reassembly) and arrives intact.
//! - TCP simultaneous open (RFC 6146 §3.5.2.2): an IPv4 SYN to a pool4 port with no
//!   binding is held; the IPv6 host opens the same flow within 6 s and both sides connect.
//!   Without that, the held SYN is answered with ICMP port unreachable after 6 s.
use std::time::Duration;

use nat64_tests::{
    addr::{CLIENT6, POOL4, SERVER4, SERVER4_IN_POOL6},
    lab_available, Lab, Netns,
};

/// Runs the `tcp_peer` script `peer` in `ns`, which must be refused: the seconds it took.
fn refused_after(ns: &Netns, peer: &str) -> f64 {
    let out = ns
        .sh_output(&format!("python3 -c '{peer}'"), Duration::from_secs(30))
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    out.lines()
        .find_map(|l| {
            l.strip_prefix("refused after ")?
                .strip_suffix(" s")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("the connection was not refused: {out}"))
}

/// `Ip6ReasmOKs` of the namespace the command runs in.
fn reassembled(lab: &Lab) -> u64 {
    let out = lab.client6.sh("cat /proc/net/snmp6").unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("Ip6ReasmOKs")?.trim().parse().ok())
        .expect("Ip6ReasmOKs in /proc/net/snmp6")
}

nat64_tests::lab_test!(df0_datagram_reaches_a_1280_link_as_fragments, |hook| {
    if !lab_available("df0_datagram_reaches_a_1280_link_as_fragments") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    lab.client6.sh("ip link set eth0 mtu 1280").unwrap();
    lab.gateway.sh("ip link set eth6 mtu 1280").unwrap();
    let bib = format!("udp {POOL4}#5000 {CLIENT6}#5000");
    lab.start_gateway(&["--pool6", "64:ff9b:1::/48", "--pool4", POOL4, "--bib", &bib])
        .expect("gateway");

    let receiver = format!(
        r#"
import hashlib, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("{CLIENT6}", 5000))
s.settimeout(10)
print("ready", flush=True)
data, peer = s.recvfrom(65535)
print("got %d bytes sha256 %s from [%s]:%d" % (len(data), hashlib.sha256(data).hexdigest(), peer[0], peer[1]), flush=True)
"#
    );
    let mut rx = lab
        .client6
        .python_service(&receiver, "udp-receiver")
        .unwrap();
    let reasm_before = reassembled(&lab);

    // IP_MTU_DISCOVER (10) = IP_PMTUDISC_DONT (0): the datagram leaves with DF=0.
    let sender = format!(
        r#"
import hashlib, socket
data = bytes((i * 7 + 1) % 251 for i in range(1400))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 0)
s.bind(("{SERVER4}", 7777))
s.sendto(data, ("{POOL4}", 5000))
print("sent sha256 " + hashlib.sha256(data).hexdigest())
"#
    );
    let sent = lab.server4.sh(&format!("python3 -c '{sender}'")).unwrap();
    let digest = sent
        .trim()
        .strip_prefix("sent sha256 ")
        .expect("sender output");
    rx.wait_for_output("the datagram", Duration::from_secs(10), |o| {
        o.contains("got ")
    })
    .unwrap();
    let got = rx.output();
    assert!(
        got.contains(&format!(
            "got 1400 bytes sha256 {digest} from [{SERVER4_IN_POOL6}]:7777"
        )),
        "receiver: {got}"
    );
    assert_eq!(
        reassembled(&lab) - reasm_before,
        1,
        "client6 reassembled the datagram from fragments"
    );
    // 20 + 8 + 1400 IPv4 bytes are 1448 IPv6 bytes: 1232 + 176 bytes of payload.
    assert_eq!(lab.counter("slow_path_fragment").unwrap(), 1);
    assert_eq!(lab.counter("slow_path_fragments_sent").unwrap(), 2);
    assert_eq!(lab.counter("drop_slow_path_send_failed").unwrap(), 0);
});

/// Connects from `[src]:sport` to `[dst]:dport` and reports how it went, with the time
/// it took; once connected, sends `msg` and prints what comes back.
fn tcp_peer(family: &str, src: &str, sport: u16, dst: &str, dport: u16, msg: &str) -> String {
    format!(
        r#"
import socket, time
s = socket.socket(socket.{family}, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{src}", {sport}))
s.settimeout(20)
print("connecting", flush=True)
t0 = time.monotonic()
try:
    s.connect(("{dst}", {dport}))
except ConnectionRefusedError:
    print("refused after %.2f s" % (time.monotonic() - t0), flush=True)
    raise SystemExit(0)
except OSError as e:
    print("failed: %r after %.2f s" % (e, time.monotonic() - t0), flush=True)
    raise SystemExit(0)
print("connected after %.2f s" % (time.monotonic() - t0), flush=True)
s.sendall(b"{msg}")
print("received %r" % s.recv(100), flush=True)
time.sleep(1)
"#
    )
}

nat64_tests::lab_test!(simultaneous_open_and_held_syn_timeout, |hook| {
    if !lab_available("simultaneous_open_and_held_syn_timeout") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    // One TCP port in pool4: the IPv6 host's flow is bound to it, which is what lets the
    // IPv4 peer aim its SYN at the right pool4 port ahead of time.
    lab.start_gateway(&[
        "--pool6",
        "64:ff9b:1::/48",
        "--pool4",
        POOL4,
        "--ports",
        "40000-40000",
        "--proto",
        "tcp",
    ])
    .expect("gateway");

    // The IPv4 side opens first: its SYN finds no binding and is held.
    let mut cmd = lab.server4.cmd("python3");
    cmd.args([
        "-u",
        "-c",
        &tcp_peer("AF_INET", SERVER4, 5555, POOL4, 40000, "from4"),
    ]);
    let mut v4 = lab.server4.spawn(cmd, "tcp-v4").unwrap();
    v4.wait_for_output("v4 connecting", Duration::from_secs(10), |o| {
        o.contains("connecting")
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        lab.counter("slow_path_held_syn").unwrap() >= 1,
        "the IPv4 SYN went to the slow path"
    );
    // Within the 6 s, the IPv6 host opens the same flow.
    let mut cmd = lab.client6.cmd("python3");
    cmd.args([
        "-u",
        "-c",
        &tcp_peer("AF_INET6", CLIENT6, 41000, SERVER4_IN_POOL6, 5555, "from6"),
    ]);
    let mut v6 = lab.client6.spawn(cmd, "tcp-v6").unwrap();
    for (peer, want) in [(&mut v6, "from4"), (&mut v4, "from6")] {
        peer.wait_for_output("the exchange", Duration::from_secs(15), |o| {
            o.contains("received") || o.contains("refused") || o.contains("failed")
        })
        .unwrap();
        let out = peer.output();
        assert!(out.contains("connected after"), "{out}");
        assert!(out.contains(&format!("received b'{want}'")), "{out}");
        eprintln!("simultaneous open: {}", out.replace('\n', "; "));
    }
    // The matching happens at the next check of the held SYNs.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.counter("held_syn_matched").unwrap(), 1);
    assert_eq!(lab.counter("held_syn_refused").unwrap(), 0);

    // A SYN nobody on the IPv6 side answers: port unreachable once the 6 s are up.
    let secs = refused_after(
        &lab.server4,
        &tcp_peer("AF_INET", SERVER4, 5556, POOL4, 40001, "nobody"),
    );
    // Held for 6 s (checked every 0.2 s), not refused at once and not left to time out.
    assert!((5.9..9.0).contains(&secs), "refused after {secs} s");
    eprintln!("held SYN refused after {secs} s");
    assert_eq!(lab.counter("held_syn_refused").unwrap(), 1);
    assert_eq!(lab.counter("held_syn_matched").unwrap(), 1);
    // The held SYN never became state: no binding or session for port 40001.
    let sessions = lab.ctl(&["session", "display", "--json"]).unwrap();
    assert!(
        !String::from_utf8_lossy(&sessions.stdout).contains("40001"),
        "{}",
        String::from_utf8_lossy(&sessions.stdout)
    );
});

nat64_tests::lab_test!(a_simultaneous_open_meets_on_the_held_syns_port, |hook| {
    if !lab_available("a_simultaneous_open_meets_on_the_held_syns_port") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    // A thousand TCP ports: the IPv6 host's binding could draw any of them, and must take
    // the one the held IPv4 SYN was sent to (RFC 6146 §3.5.2.2), or the SYNs never meet.
    lab.start_gateway(&[
        "--pool6",
        "64:ff9b:1::/48",
        "--pool4",
        POOL4,
        "--ports",
        "40000-40999",
        "--proto",
        "tcp",
    ])
    .expect("gateway");
    let mut cmd = lab.server4.cmd("python3");
    cmd.args([
        "-u",
        "-c",
        &tcp_peer("AF_INET", SERVER4, 5557, POOL4, 40777, "from4"),
    ]);
    let mut v4 = lab.server4.spawn(cmd, "tcp-v4").unwrap();
    v4.wait_for_output("v4 connecting", Duration::from_secs(10), |o| {
        o.contains("connecting")
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lab.counter("slow_path_held_syn").unwrap() >= 1);
    // The IPv6 host opens to the IPv4 host's port from a port of its own choosing.
    let mut cmd = lab.client6.cmd("python3");
    cmd.args([
        "-u",
        "-c",
        &tcp_peer("AF_INET6", CLIENT6, 41007, SERVER4_IN_POOL6, 5557, "from6"),
    ]);
    let mut v6 = lab.client6.spawn(cmd, "tcp-v6").unwrap();
    for (peer, want) in [(&mut v6, "from4"), (&mut v4, "from6")] {
        peer.wait_for_output("the exchange", Duration::from_secs(15), |o| {
            o.contains("received") || o.contains("refused") || o.contains("failed")
        })
        .unwrap();
        let out = peer.output();
        assert!(out.contains("connected after"), "{out}");
        assert!(out.contains(&format!("received b'{want}'")), "{out}");
    }
    assert_eq!(lab.counter("held_syn_met").unwrap(), 1);
    let bib = lab.ctl(&["bib", "display", "--json"]).unwrap();
    let bib = String::from_utf8_lossy(&bib.stdout);
    assert!(
        bib.contains("40777"),
        "the IPv6 host's binding is the held SYN's port: {bib}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.counter("held_syn_matched").unwrap(), 1);
    assert_eq!(lab.counter("held_syn_refused").unwrap(), 0);
});

nat64_tests::lab_test!(
    a_hairpinned_syn_to_an_unbound_port_is_held_then_refused,
    |hook| {
        if !lab_available("a_hairpinned_syn_to_an_unbound_port_is_held_then_refused") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.start_gateway(&[
            "--pool6",
            "64:ff9b:1::/48",
            "--pool4",
            POOL4,
            "--ports",
            "40000-40999",
            "--proto",
            "tcp",
        ])
        .expect("gateway");
        // RFC 6146 §3.5.2.2 applied to §3.8: client6's SYN to pool6 + the pool4 address, on a
        // port no binding has, is held like an IPv4 one and refused with an ICMPv6 port
        // unreachable once the 6 s are up (not dropped at once, not left to time out).
        let pool4_in_pool6 = "64:ff9b:1:cb00:71:100::";
        let secs = refused_after(
            &lab.client6,
            &tcp_peer("AF_INET6", CLIENT6, 5558, pool4_in_pool6, 40500, "nobody"),
        );
        assert!((5.9..9.0).contains(&secs), "refused after {secs} s");
        assert!(lab.counter("slow_path_held_syn").unwrap() >= 1);
        assert_eq!(lab.counter("held_syn_refused").unwrap(), 1);
        assert_eq!(lab.counter("held_syn_matched").unwrap(), 0);
    }
);
