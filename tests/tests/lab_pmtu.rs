//! netns end-to-end: the ICMP errors the gateway originates, seen by real programs.
//! - Path MTU discovery through the gateway: with the IPv4 link at MTU 1000, a client
//!   sending too large is told so by a Packet Too Big from the gateway (ping shows it) and
//!   a TCP download still completes; with the gateway's route to the client at 1280, the
//!   IPv4 server's full-size segments (DF=1) get Fragmentation Needed from the gateway and
//!   the server's PMTUD shrinks them: the download completes, intact.
//! - `traceroute -6` shows the gateway as hop 1 (its Time Exceeded) and the destination.
//!
//! The kernel sends its own errors for packets XDP passes it, from the same addresses:
//! the gateway's counters prove the errors observed are the data plane's.
use std::time::Duration;

use nat64_tests::{
    addr::{CLIENT6, GW6, POOL4, SERVER4_IN_POOL6},
    lab_available, Lab, Served,
};

fn download_sha256(lab: &Lab) -> String {
    let out = lab
        .client6
        .sh_output(
            &format!("curl -sS --max-time 60 http://[{SERVER4_IN_POOL6}]/big.bin | sha256sum"),
            Duration::from_secs(90),
        )
        .unwrap();
    let sum = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    if sum.is_empty() || sum.starts_with("e3b0c442") {
        eprintln!(
            "curl: {}\nstats: {:?}",
            String::from_utf8_lossy(&out.stderr),
            lab.stats()
        );
    }
    sum
}

nat64_tests::lab_test!(pmtud_through_the_gateway, |hook| {
    if !lab_available("pmtud_through_the_gateway") {
        return;
    }
    let mut lab = Lab::reference_on(hook).expect("lab");
    // The IPv4 link is a 1000-byte one, on both ends.
    lab.gateway.sh("ip link set eth4 mtu 1000").unwrap();
    lab.server4.sh("ip link set eth0 mtu 1000").unwrap();
    // No --icmp-source*: the gateway's own addresses on eth6 and eth4 are the sources.
    lab.start_gateway(&["--pool6", "64:ff9b:1::/48", "--pool4", POOL4])
        .expect("gateway");
    let served = Served::start(&lab, "pmtu\n", 4).expect("nginx");

    // 1348 bytes of IPv6 would be 1328 of IPv4 with DF=1: too big for 1000. The gateway
    // answers with its own Packet Too Big, MTU 1000 + 20 raised to IPv6's 1280.
    let ping = lab
        .client6
        .sh_output(
            &format!("ping -6 -n -c 1 -W 3 -M do -s 1300 {SERVER4_IN_POOL6}"),
            Duration::from_secs(10),
        )
        .unwrap();
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(
        text.contains(&format!("From {GW6}")) && text.contains("Packet too big: mtu=1280"),
        "ping must see the gateway's Packet Too Big: {text}"
    );
    assert!(lab.counter("icmp_sent_packet_too_big").unwrap() >= 1);
    assert!(lab.counter("drop_too_big").unwrap() >= 1);

    // TCP through the 1000-byte link: the bytes arrive intact.
    assert_eq!(
        download_sha256(&lab),
        served.sha256,
        "4 MiB through a 1000-byte IPv4 link"
    );
    // Bytes, not packets: under TC the segments are GSO-sized until they leave.
    assert!(lab.counter("xlat_4to6_tcp_bytes").unwrap() > 4 * 1024 * 1024);
    drop(served);
    drop(lab);

    // Now the IPv6 side is the narrow one, for the gateway only (its route to the client
    // says 1280; client and server links stay at 1500): the client advertises an MSS for
    // 1500 bytes, the server's 1500-byte DF=1 segments would be 1520 once translated.
    let mut lab = Lab::reference_on(hook).expect("lab");
    lab.gateway
        .sh(&format!(
            "ip -6 route add {CLIENT6}/128 dev eth6 mtu lock 1280"
        ))
        .unwrap();
    lab.start_gateway(&["--pool6", "64:ff9b:1::/48", "--pool4", POOL4])
        .expect("gateway");
    let served = Served::start(&lab, "pmtu\n", 4).expect("nginx");
    assert_eq!(
        download_sha256(&lab),
        served.sha256,
        "4 MiB with the server's PMTUD driven by the gateway's Fragmentation Needed"
    );
    let stats = lab.stats().unwrap();
    let n = |k: &str| stats[k].as_u64().unwrap();
    assert!(n("icmp_sent_frag_needed") >= 1, "{stats:?}");
    // After PMTUD the server's segments fit: most of the 4 MiB went through translated.
    // (Bytes: under TC the segments are GSO-sized until they leave.)
    assert!(n("xlat_4to6_tcp_bytes") > 4 * 1024 * 1024, "{stats:?}");
    // The server learnt the path MTU from the gateway: 1280 - 20.
    let route = lab.server4.sh(&format!("ip route get {POOL4}")).unwrap();
    assert!(route.contains("mtu 1260"), "server's route cache: {route}");
});

nat64_tests::lab_test!(traceroute_shows_the_gateway, |hook| {
    let Some(lab) = Lab::with_gateway("traceroute_shows_the_gateway", hook, &[]) else {
        return;
    };
    let out = lab
        .client6
        .sh_output(
            &format!("traceroute -6 -n -q 1 -w 3 -m 5 {SERVER4_IN_POOL6}"),
            Duration::from_secs(40),
        )
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "traceroute: {text} {:?}", out.stderr);
    let hops: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| l.starts_with("traceroute"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(hops.len(), 2, "two hops: the gateway, the server: {text}");
    assert_eq!(&hops[0][..2], ["1", GW6], "{text}");
    assert_eq!(&hops[1][..2], ["2", SERVER4_IN_POOL6], "{text}");
    // Hop 1 is the data plane's Time Exceeded, not the kernel's.
    assert!(
        lab.counter("icmp_sent_time_exceeded6").unwrap() >= 1,
        "{text}"
    );
    // Hop 2 is the server's port unreachable, translated back.
    assert!(lab.counter("xlat_4to6_icmp_error").unwrap() >= 1, "{text}");
});
