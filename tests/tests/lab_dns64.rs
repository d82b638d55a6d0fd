//! netns end-to-end: the reference deployment with a real DNS64 resolver. server4 runs an
//! IPv4-only DNS server authoritative for `test.` and nginx; the gateway runs nat64-ctl
//! with the well-known prefix and unbound with `dns64-prefix: 64:ff9b::/96`, forwarding
//! `test.` to server4; client6 resolves through the gateway. Documentation addresses are
//! non-global, so the lab uses the explicit override (`--allow-nonglobal-ipv4`).
use std::time::{Duration, Instant};

use nat64_tests::{
    addr::{POOL4, SERVER4},
    lab_available, start_nginx, start_reference_dns, Lab,
};

const SERVER4_IN_WKP: &str = "64:ff9b::c000:202";

nat64_tests::lab_test!(
    names_resolve_through_dns64_and_flows_cross_the_gateway,
    |hook| {
        if !lab_available("names_resolve_through_dns64_and_flows_cross_the_gateway") {
            return;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        lab.start_gateway(&[
            "--pool6",
            "64:ff9b::/96",
            "--allow-nonglobal-ipv4",
            "--pool4",
            POOL4,
            "--tcp-trans-timeout",
            "3",
            "--tcp-est-timeout",
            "6",
            "--allow-nonstandard-timeouts",
        ])
        .expect("gateway");
        let dir = std::env::temp_dir().join(format!("{}-dns64", lab.server4.name));

        // server4: an IPv4-only DNS server with the test zone, the gateway: DNS64 over the
        // prefix the translator uses, client6: resolving through the gateway.
        let _dns = start_reference_dns(&lab, &dir).expect("DNS servers");
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(dir.join("nginx")).unwrap();
        std::fs::write(www.join("index.html"), "<h1>reached by name</h1>\n").unwrap();
        let _nginx =
            start_nginx(&lab.server4, &dir.join("nginx"), &www, "192.0.2.2:80").expect("nginx");

        // dig from the IPv6-only client: the synthesized address, no A record reachable.
        let aaaa = lab.client6.sh("dig +short AAAA ipv4only.test").unwrap();
        assert_eq!(aaaa.trim(), SERVER4_IN_WKP, "{aaaa}");

        // curl by name gets the page through the gateway; curl -4 cannot (no IPv4 at all).
        let page = lab
            .client6
            .sh("curl -sS --max-time 10 http://ipv4only.test/")
            .unwrap();
        assert_eq!(page, "<h1>reached by name</h1>\n");
        let out = lab
            .client6
            .sh_output(
                "curl -4 -sS --max-time 5 http://ipv4only.test/",
                Duration::from_secs(10),
            )
            .unwrap();
        assert!(
            !out.status.success(),
            "curl -4 must fail on an IPv6-only host"
        );

        // UDP: a DNS query straight to the IPv4-only server, through the translator.
        let before = lab.counter("xlat_6to4_udp").unwrap();
        let a = lab
            .client6
            .sh(&format!(
                "dig +short +time=2 @{SERVER4_IN_WKP} A ipv4only.test"
            ))
            .unwrap();
        assert_eq!(a.trim(), SERVER4);
        assert!(lab.counter("xlat_6to4_udp").unwrap() > before);

        // ping by name.
        let ping = lab.client6.sh("ping -6 -c 2 -W 2 ipv4only.test").unwrap();
        assert!(ping.contains("2 received"), "{ping}");

        // 1000 concurrent connections: all answered, 1000 sessions on distinct pool4 ports.
        let script = r#"
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
addr = socket.getaddrinfo("ipv4only.test", 80, socket.AF_INET6, socket.SOCK_STREAM)[0][4]
socks = []
for i in range(1000):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(addr)
    socks.append(s)
for s in socks:
    s.sendall(b"GET / HTTP/1.1\r\nHost: ipv4only.test\r\n\r\n")
ok = 0
for s in socks:
    data = b""
    while b"reached by name" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    ok += b"200 OK" in data and b"reached by name" in data
print("answered", ok, flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
print("closed", flush=True)
"#;
        let path = dir.join("many.py");
        std::fs::write(&path, script).unwrap();
        let mut cmd = lab.client6.cmd("python3");
        cmd.arg("-u").arg(&path);
        cmd.stdin(std::process::Stdio::piped());
        // The client holds its connections open until told to close them on stdin.
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert_eq!(line.trim(), "answered 1000", "{line}");

        let out = lab
            .ctl(&["session", "display", "--proto", "tcp", "--json"])
            .unwrap();
        assert!(out.status.success());
        let sessions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let live: Vec<&serde_json::Value> = sessions
            .iter()
            .filter(|s| s["tcp_state"] == "ESTABLISHED" && s["peer_port"] == 80)
            .collect();
        assert_eq!(live.len(), 1000, "established sessions to port 80");
        let ports: std::collections::HashSet<u64> =
            live.iter().map(|s| s["port4"].as_u64().unwrap()).collect();
        assert_eq!(ports.len(), 1000, "distinct pool4 ports");
        assert!(ports.iter().all(|p| (61001..=65535).contains(p)));

        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"close\n").unwrap();
        line.clear();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert_eq!(line.trim(), "closed");
        assert!(child.wait().unwrap().success());

        // Closed on both sides: transitory lifetime (3 s here), then gone.
        let start = Instant::now();
        loop {
            let out = lab
                .ctl(&["session", "display", "--proto", "tcp", "--json"])
                .unwrap();
            let left: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
            if left.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} tcp sessions left",
                left.len()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
);
