//! netns end-to-end: what deployments meet that the reference lab's defaults could hide.
//! End hosts at the kernel's default offloads (what containers and VMs send: partial
//! checksums, TSO, UDP GSO batches), the first datagram of a flow when the gateway knows no neighbour, and
//! neighbours flushed while a download runs. Each runs under both hooks; only the
//! `xdp_tx_off` variant has TX checksum offload off, by name.
use std::time::Duration;

use nat64_tests::{
    addr::{POOL4, SERVER4_IN_POOL6},
    programs::UDP_ECHO_SERVER,
    Hook, Lab, Netns, Served,
};

/// The `tx-checksumming` and `tcp-segmentation-offload` lines of `ethtool -k dev`.
fn offloads(ns: &Netns, dev: &str) -> (bool, bool) {
    let k = ns.sh(&format!("ethtool -k {dev}")).unwrap();
    let on = |feature: &str| {
        k.lines()
            .find(|l| l.starts_with(feature))
            .unwrap_or_else(|| panic!("ethtool -k {dev} has no {feature}: {k}"))
            .contains(": on")
    };
    (on("tx-checksumming:"), on("tcp-segmentation-offload:"))
}

/// curl's download of `big.bin` through the gateway, as its sha256.
fn download_sha256(lab: &Lab, extra: &str) -> String {
    let out = lab
        .client6
        .sh_output(
            &format!(
                "curl -sS --max-time 60 {extra} http://[{SERVER4_IN_POOL6}]/big.bin | sha256sum"
            ),
            Duration::from_secs(90),
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

nat64_tests::lab_test!(end_hosts_at_default_offloads_reach_each_other, |hook| {
    let Some(lab) = Lab::with_gateway("end_hosts_at_default_offloads_reach_each_other", hook, &[])
    else {
        return;
    };
    // The lab really is what its variant says: the tc variant leaves the end hosts' TX
    // checksum offload and TSO as the kernel sets a veth up (on), the named XDP variant
    // turns TX checksum offload (and with it TSO) off.
    for (ns, dev) in [(&lab.client6, "eth0"), (&lab.server4, "eth0")] {
        let want = match hook {
            Hook::Tc => (true, true),
            Hook::XdpTxOff => (false, false),
        };
        assert_eq!(offloads(ns, dev), want, "{} {dev}", ns.name);
    }

    let echo = lab
        .server4
        .python_service(UDP_ECHO_SERVER, "udp-echo")
        .unwrap();
    let out = lab
        .client6
        .sh(&format!(
            "python3 -c '{}'",
            nat64_tests::programs::one_datagram(SERVER4_IN_POOL6, "offloaded")
        ))
        .unwrap();
    assert!(out.contains("reply b'OFFLOADED'"), "UDP 6to4: {out}");
    assert!(
        echo.output().contains(&format!("from {POOL4}:")),
        "server4 must see pool4: {}",
        echo.output()
    );

    // 20 MiB one way (server4's segments are TSO-sized where TSO is on) and the request
    // and ACKs the other: intact.
    let served = Served::start(&lab, "offloads\n", 20).expect("nginx");
    assert_eq!(
        download_sha256(&lab, ""),
        served.sha256,
        "20 MiB at the end hosts' offloads must arrive intact"
    );
    assert!(lab.counter("xlat_4to6_tcp").unwrap() > 0);
});

nat64_tests::lab_test!(the_first_datagram_to_a_cold_neighbour_is_answered, |hook| {
    let Some(lab) = Lab::with_gateway(
        "the_first_datagram_to_a_cold_neighbour_is_answered",
        hook,
        &[],
    ) else {
        return;
    };
    let echo = lab
        .server4
        .python_service(UDP_ECHO_SERVER, "udp-echo")
        .unwrap();
    for round in ["cold", "flushed"] {
        // The gateway knows neither server4's MAC nor client6's: the translated datagram
        // and its translated reply each meet an unresolved next hop.
        lab.gateway.sh("ip neigh flush all").unwrap();
        let seen = echo.output().matches("from ").count();
        let out = lab
            .client6
            .sh(&format!(
                "python3 -c '{}'",
                nat64_tests::programs::one_datagram(SERVER4_IN_POOL6, round)
            ))
            .unwrap();
        assert!(
            out.contains(&format!("reply b'{}'", round.to_uppercase())),
            "{round}: one datagram, one reply: {out}"
        );
        // Exactly one datagram reached server4: nothing was retried or duplicated.
        let mut deadline = 20;
        while echo.output().matches("from ").count() == seen && deadline > 0 {
            std::thread::sleep(Duration::from_millis(50));
            deadline -= 1;
        }
        assert_eq!(
            echo.output().matches("from ").count(),
            seen + 1,
            "{round}: {}",
            echo.output()
        );
    }
});

nat64_tests::lab_test!(a_download_survives_neighbours_flushed_mid_run, |hook| {
    let Some(lab) = Lab::with_gateway("a_download_survives_neighbours_flushed_mid_run", hook, &[])
    else {
        return;
    };
    let served = Served::start(&lab, "flush\n", 32).expect("nginx");
    let got = served.dir.join("got.bin");
    // 32 MiB at 8 MB/s: about 4 s, flushed every 250 ms in between.
    let mut cmd = lab.client6.cmd("curl");
    cmd.args(["-sS", "--limit-rate", "8M", "--max-time", "60", "-o"])
        .arg(&got)
        .arg(format!("http://[{SERVER4_IN_POOL6}]/big.bin"));
    let mut curl = lab.client6.spawn(cmd, "curl").unwrap();
    let size = || std::fs::metadata(&got).map(|m| m.len()).unwrap_or(0);
    let mut flushes = 0;
    while size() < 28 << 20 && flushes < 200 {
        lab.gateway.sh("ip neigh flush all").unwrap();
        flushes += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(flushes >= 4, "the flushes must fall inside the download");
    curl.wait_for_exit(Duration::from_secs(60))
        .expect("curl completes");
    let sum = lab
        .client6
        .sh(&format!("sha256sum {}", got.display()))
        .unwrap();
    assert_eq!(
        sum.split_whitespace().next(),
        Some(served.sha256.as_str()),
        "the download must arrive intact across {flushes} neighbour flushes"
    );
    eprintln!(
        "{flushes} flushes; fwd_pass_no_neighbour {}",
        lab.counter("fwd_pass_no_neighbour").unwrap()
    );
});

/// The datagrams of one UDP GSO send (`UDP_SEGMENT`, what QUIC stacks use: the kernel
/// hands the batch down as one GSO packet, which a veth passes on whole): `count`
/// datagrams of `size` bytes, the i-th filled with the i-th letter (lower case from
/// client6, upper case back).
fn uso_batch(count: usize, size: usize, upper: bool) -> String {
    let first = if upper { 65 } else { 97 };
    format!(r#"b"".join(bytes([{first} + i]) * {size} for i in range({count}))"#)
}

/// Sends `batch` (a Python expression) to `dst` as one UDP GSO send when the socket
/// takes it (printing `gso`; else `no gso <errno>` and the datagrams one by one).
fn uso_send(batch: &str, dst: &str, size: usize) -> String {
    format!(
        r#"
SOL_UDP, UDP_SEGMENT = 17, 103
batch = {batch}
s.setsockopt(SOL_UDP, UDP_SEGMENT, {size})
try:
    s.sendto(batch, {dst})
    print("gso", flush=True)
except OSError as e:
    print("no gso", e.errno, flush=True)
    s.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
    for i in range(0, len(batch), {size}):
        s.sendto(batch[i:i + {size}], {dst})
"#
    )
}

nat64_tests::lab_test!(udp_gso_batches_cross_both_ways_as_their_datagrams, |hook| {
    let Some(lab) = Lab::with_gateway(
        "udp_gso_batches_cross_both_ways_as_their_datagrams",
        hook,
        &[],
    ) else {
        return;
    };
    const COUNT: usize = 4;
    const SIZE: usize = 1000;
    // server4 answers four datagrams with one GSO batch of their upper-case versions.
    let server = format!(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
print("ready", flush=True)
got = []
while len(got) < {COUNT}:
    data, peer = s.recvfrom(4096)
    print("from %s:%d %d %s" % (peer[0], peer[1], len(data), data[:1].decode()), flush=True)
    got.append(data)
{send}
"#,
        send = uso_send(&uso_batch(COUNT, SIZE, true), "peer", SIZE)
    );
    let echo = lab.server4.python_service(&server, "uso-echo").unwrap();
    let client = format!(
        r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
{send}
try:
    for i in range({COUNT}):
        data, peer = s.recvfrom(4096)
        print("reply %d %s" % (len(data), data[:1].decode()), flush=True)
except socket.timeout:
    print("timeout")
"#,
        send = uso_send(
            &uso_batch(COUNT, SIZE, false),
            &format!(r#"("{SERVER4_IN_POOL6}", 7777)"#),
            SIZE
        )
    );
    let out = lab.client6.sh(&format!("python3 -c '{client}'")).unwrap();
    let served = echo.output();
    // Under TC both ends' batches really are GSO packets at the gateway (a veth passes
    // them on whole); under XDP the veth cuts them before they leave their sender (XDP on
    // its peer turns its GSO off), and without TX checksum offload the socket refuses a
    // GSO send (`no gso`, the datagrams one by one): the datagrams must arrive either way.
    if hook == Hook::Tc {
        assert!(out.starts_with("gso"), "client6: {out}");
        assert!(served.contains("\ngso"), "server4: {served}");
    }
    // Four datagrams of 1000 bytes each way, in order, from pool4 and back: never one
    // datagram of them all (a batch fragmented and reassembled whole).
    let from = format!("from {POOL4}:");
    let seen: Vec<&str> = served.lines().filter(|l| l.starts_with(&from)).collect();
    let letters: Vec<String> = seen
        .iter()
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        letters,
        ["1000 a", "1000 b", "1000 c", "1000 d"],
        "server4: {served}"
    );
    let replies: Vec<&str> = out.lines().filter(|l| l.starts_with("reply")).collect();
    let counters: Vec<String> = [
        "slow_path_fragment",
        "fwd_pass_too_big",
        "fwd_redirect",
        "fwd_redirect_neighbour",
        "xlat_4to6_udp",
    ]
    .iter()
    .map(|c| format!("{c} {}", lab.counter(c).unwrap()))
    .collect();
    let want = [
        "reply 1000 A",
        "reply 1000 B",
        "reply 1000 C",
        "reply 1000 D",
    ];
    assert_eq!(replies, want, "client6: {out}; {counters:?}");
    assert_eq!(lab.counter("slow_path_fragment").unwrap(), 0);
});
