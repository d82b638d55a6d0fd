//! netns end-to-end: scale-out behind ECMP (README "Scaling out"). An upstream router
//! running BIRD spreads IPv6 flows over two gateways, each running nat64-ctl with its node
//! slice of one pool4 (`--node-index I --node-count 2`) and a routing daemon announcing
//! pool6 and its slice while the health check finds it healthy: BIRD with the shipped
//! `contrib/bird/nat64-gateway.conf` and `contrib/bird/nat64-bgp-health`, or (the `frr_`
//! tests) FRR's zebra and bgpd with `contrib/frr/nat64-gateway.conf` and
//! `contrib/frr/nat64-bgp-health`.
//!
//! ```text
//!  client ── upstream ──┬── gw0 (one arm: IPv6 and IPv4 on one link)
//!  (IPv6)    (BIRD,     ├── gw1
//!             ECMP)     └── server (IPv4)
//! ```
//!
//! Checked: flows from many client addresses spread over both gateways, each leaving from
//! its own slice; when one gateway's nat64-ctl dies its routes are withdrawn and new flows
//! succeed on the survivor within seconds; what becomes of the flows it held is measured.
//! The gateways attach with the default hook (TC on veth): the lab is about routing.
use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use nat64_ctl::pool4::{Pool4Group, Pool4Slots};
use nat64_tests::{
    lab_available, nat64_ctl_bin, run_ok, sweep_stale_namespaces, workspace_root, Daemon, Netns,
    NETNS_PREFIX,
};

const POOL6: &str = "64:ff9b:1::/96";
const POOL4: &str = "203.0.113.0/28";
const SERVER4: &str = "192.0.2.2";
const NODES: u32 = 2;
/// Client sources: one /64, many hosts (ECMP hashes the addresses).
const CLIENTS: u32 = 24;

fn client_addr(i: u32) -> String {
    format!("2001:db8:6::{:x}", 0x100 + i)
}

fn server_in_pool6() -> String {
    format!("64:ff9b:1::{SERVER4}")
}

/// What routes on the gateways (the upstream runs BIRD either way).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Gateways {
    Bird,
    Frr,
}

/// Where Debian's frr puts its daemons (not in $PATH).
const FRR_DAEMONS: &str = "/usr/lib/frr";

/// Whether the FRR tests can run: as [`lab_available`], plus FRR installed (skipped
/// without it, failed under CI=true).
fn frr_available(test: &str) -> bool {
    if !lab_available(test) {
        return false;
    }
    let bgpd = Path::new(FRR_DAEMONS).join("bgpd");
    if bgpd.exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: cannot run under CI=true: no {}", bgpd.display());
    }
    eprintln!(
        "SKIPPED {test}: no {} (apt-get install frr)",
        bgpd.display()
    );
    false
}

/// One gateway node: its namespace, daemons and the slice it owns.
struct Node {
    // Field order is drop order: the daemons stop before the namespace goes.
    health: Option<Daemon>,
    ctl: Option<Daemon>,
    /// BIRD, or FRR's bgpd then zebra (in the order they stop).
    routing: Vec<Daemon>,
    ns: Netns,
    instance: String,
    slice: Vec<Ipv4Addr>,
}

impl Node {
    fn ctl(&self, args: &[&str]) -> std::process::Output {
        self.ns
            .cmd_net_only(nat64_ctl_bin())
            .args(args)
            .args(["--instance", &self.instance])
            .output()
            .unwrap()
    }

    /// The pool4 addresses and IPv6 sources of the node's dynamic bindings.
    fn bindings(&self) -> (BTreeSet<Ipv4Addr>, BTreeSet<String>) {
        let out = self.ctl(&["bib", "display", "--json"]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut pool4 = BTreeSet::new();
        let mut sources = BTreeSet::new();
        for b in v.as_array().expect("a list of bindings") {
            pool4.insert(b["ipv4"].as_str().unwrap().parse().unwrap());
            sources.insert(b["ipv6"].as_str().unwrap().to_string());
        }
        (pool4, sources)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.health.take();
        self.ctl.take();
        // The data plane outlives nat64-ctl (pinned links and maps): take it down too.
        let _ = self.ctl(&["detach"]);
    }
}

struct ScaleOut {
    nodes: Vec<Node>,
    upstream_bird: Option<Daemon>,
    server: Option<Daemon>,
    client: Netns,
    upstream: Netns,
    _server_ns: Netns,
    dir: PathBuf,
}

impl Drop for ScaleOut {
    fn drop(&mut self) {
        self.nodes.clear();
        self.upstream_bird.take();
        self.server.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) {
    run_ok(Command::new("ip").args([
        "link", "add", a_dev, "netns", &a.name, "type", "veth", "peer", "name", b_dev, "netns",
        &b.name,
    ]))
    .unwrap();
}

fn bird(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Daemon {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let socket = dir.join(format!("{name}.ctl"));
    let mut cmd = ns.cmd_net_only("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(&path)
        .arg("-s")
        .arg(&socket)
        .arg("-P")
        .arg(dir.join(format!("{name}.pid")));
    let d = ns.spawn(cmd, &format!("bird-{name}")).unwrap();
    wait_for_socket(&d, &socket);
    d
}

fn wait_for_socket(d: &Daemon, socket: &Path) {
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}: no {}:\n{}",
            d.label,
            socket.display(),
            d.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// FRR in `ns`: zebra, then bgpd with configuration `conf`, every file of theirs (pid
/// files, zebra's API socket, the vty sockets) in their own directory under `dir`, which
/// is returned (the health check's VTY_DIR). They run as the frr user, as Debian's
/// service runs them; no vty listens on TCP. Returned in the order they stop: bgpd first.
fn frr(ns: &Netns, dir: &Path, name: &str, conf: &str) -> (PathBuf, Vec<Daemon>) {
    let vty = dir.join(format!("{name}-frr"));
    std::fs::create_dir_all(&vty).unwrap();
    std::fs::write(vty.join("zebra.conf"), "").unwrap();
    std::fs::write(vty.join("bgpd.conf"), conf).unwrap();
    run_ok(Command::new("chown").arg("-R").arg("frr:frr").arg(&vty)).unwrap();
    let zebra = frr_daemon(ns, &vty, "zebra", name);
    wait_for_socket(&zebra, &vty.join("zserv.api"));
    let bgpd = frr_daemon(ns, &vty, "bgpd", name);
    (vty, vec![bgpd, zebra])
}

/// FRR's daemon `which` (zebra or bgpd) with its files in `vty` (see [`frr`]); bgpd is
/// returned once its vty socket is there.
fn frr_daemon(ns: &Netns, vty: &Path, which: &str, name: &str) -> Daemon {
    let mut cmd = ns.cmd_net_only(Path::new(FRR_DAEMONS).join(which));
    cmd.arg("-f")
        .arg(vty.join(format!("{which}.conf")))
        .arg("-i")
        .arg(vty.join(format!("{which}.pid")))
        .arg("-z")
        .arg(vty.join("zserv.api"))
        .arg("--vty_socket")
        .arg(vty)
        .args(["-P", "0", "--log", "stdout"]);
    let d = ns.spawn(cmd, &format!("{which}-{name}")).unwrap();
    if which == "bgpd" {
        wait_for_socket(&d, &vty.join("bgpd.vty"));
    }
    d
}

/// The shipped `contrib/frr/nat64-gateway.conf` (written for node 0 of two) for a node:
/// its router id, upstream addresses and announcements substituted where the file marks
/// them per node. Fails when the file no longer has the lines it had.
fn frr_conf(gw4: &str, up6: &str, up4: &str, slice: &[Ipv4Addr]) -> String {
    let path = workspace_root().join("contrib/frr/nat64-gateway.conf");
    let shipped = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    // router-id, neighbor lines for each uplink, pool6, pool4 networks.
    let mut seen = [0; 5];
    for line in shipped.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("bgp router-id ") {
            seen[0] += 1;
            out.push_str(&format!("{indent}bgp router-id {gw4}\n"));
        } else if let Some(rest) = t.strip_prefix("neighbor fd00:64:1::1 ") {
            seen[1] += 1;
            out.push_str(&format!("{indent}neighbor {up6} {rest}\n"));
        } else if let Some(rest) = t.strip_prefix("neighbor 198.51.100.1 ") {
            seen[2] += 1;
            out.push_str(&format!("{indent}neighbor {up4} {rest}\n"));
        } else if t == "network 64:ff9b::/96" {
            seen[3] += 1;
            out.push_str(&format!("{indent}network {POOL6}\n"));
        } else if t.starts_with("network 203.0.113.") {
            if seen[4] == 0 {
                for a in slice {
                    out.push_str(&format!("{indent}network {a}/32\n"));
                }
            }
            seen[4] += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        seen,
        [1, 4, 4, 1, 7],
        "{}: not the per-node lines this lab substitutes (router-id, neighbors, networks)",
        path.display()
    );
    out
}

impl ScaleOut {
    fn start(gateways: Gateways) -> ScaleOut {
        sweep_stale_namespaces();
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}xso{n}", std::process::id());
        let ns = |role: &str| Netns::create(format!("{NETNS_PREFIX}{id}-{role}")).unwrap();
        let dir = std::env::temp_dir().join(format!("nat64-scale-out-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let client = ns("c6");
        let upstream = ns("up");
        let server_ns = ns("s4");
        veth(&client, "eth0", &upstream, "c6");
        veth(&server_ns, "eth0", &upstream, "s4");
        let mut hosts = String::new();
        for i in 0..CLIENTS {
            hosts.push_str(&format!(
                " && ip -6 addr add {}/64 dev eth0 nodad",
                client_addr(i)
            ));
        }
        client
            .sh(&format!(
                "sysctl -qw net.ipv6.conf.all.accept_dad=0 && ip link set eth0 up{hosts} && \
                 ip -6 route add default via 2001:db8:6::1"
            ))
            .unwrap();
        server_ns
            .sh(&format!(
                "ip link set eth0 up && ip addr add {SERVER4}/24 dev eth0 && \
                 ip route add default via 192.0.2.1"
            ))
            .unwrap();
        // ECMP on the subscriber's address alone (hash policy 3, fields 0x1: source
        // address): all of a subscriber's flows take one gateway, so its bindings (and
        // endpoint-independent mapping) live on one node.
        upstream
            .sh(
                "sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 \
                 net.ipv6.conf.all.accept_dad=0 net.ipv6.fib_multipath_hash_policy=3 \
                 net.ipv6.fib_multipath_hash_fields=0x0001 && \
                 ip link set c6 up && ip -6 addr add 2001:db8:6::1/64 dev c6 nodad && \
                 ip link set s4 up && ip addr add 192.0.2.1/24 dev s4",
            )
            .unwrap();

        let pool4 = Pool4Slots::from_groups(
            &[Pool4Group::parse(&[POOL4.into()], None, None).unwrap()],
            "--pool4",
        )
        .unwrap();
        let mut upstream_peers = String::new();
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let gw = ns(&format!("gw{i}"));
            let link = format!("gw{i}");
            veth(&gw, "eth0", &upstream, &link);
            // Link i: fd00:64:<i+1>::/64 and 198.51.100.<4i>/30, the upstream at ::1 / .1.
            let (up6, gw6) = (
                format!("fd00:64:{}::1", i + 1),
                format!("fd00:64:{}::2", i + 1),
            );
            let (up4, gw4) = (
                format!("198.51.100.{}", 4 * i + 1),
                format!("198.51.100.{}", 4 * i + 2),
            );
            upstream
                .sh(&format!(
                    "ip link set {link} up && ip -6 addr add {up6}/64 dev {link} nodad && \
                     ip addr add {up4}/30 dev {link}"
                ))
                .unwrap();
            // What the README's router recipe sets: forwarding on.
            gw.sh(&format!(
                "sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 \
                 net.ipv6.conf.all.accept_dad=0 && \
                 ip link set eth0 up && ip -6 addr add {gw6}/64 dev eth0 nodad && \
                 ip addr add {gw4}/30 dev eth0 && \
                 ip -6 route add default via {up6} && ip route add default via {up4}"
            ))
            .unwrap();
            upstream_peers.push_str(&format!(
                "protocol bgp gw{i}v6 from nat64_gateway {{ neighbor {gw6} as 64501; \
                 ipv6 {{ import all; export none; }}; }}\n\
                 protocol bgp gw{i}v4 from nat64_gateway {{ neighbor {gw4} as 64501; \
                 ipv4 {{ import all; export none; }}; }}\n"
            ));
            let names = ("--node-index", "--node-count");
            let slice = pool4.node_slice(i, NODES, names).unwrap().addresses();
            // What the health check is given to reach the routing daemon, and its script.
            let (routing, control, health_script) = match gateways {
                Gateways::Bird => {
                    let routes: String = slice
                        .iter()
                        .map(|a| format!("route {a}/32 blackhole; "))
                        .collect();
                    let conf = format!(
                        "router id {gw4};\n\
                         define LOCAL_AS = 64501;\n\
                         define UPLINK_AS = 64500;\n\
                         define UPLINK6 = {up6};\n\
                         define UPLINK4 = {up4};\n\
                         protocol static nat64_pool6 {{ disabled; ipv6; route {POOL6} blackhole; }}\n\
                         protocol static nat64_pool4 {{ disabled; ipv4; {routes}}}\n\
                         include \"{}\";\n",
                        workspace_root()
                            .join("contrib/bird/nat64-gateway.conf")
                            .display()
                    );
                    let d = bird(&gw, &dir, &format!("gw{i}"), &conf);
                    (
                        vec![d],
                        dir.join(format!("gw{i}.ctl")),
                        "contrib/bird/nat64-bgp-health",
                    )
                }
                Gateways::Frr => {
                    let conf = frr_conf(&gw4, &up6, &up4, &slice);
                    let (vty, daemons) = frr(&gw, &dir, &format!("gw{i}"), &conf);
                    (daemons, vty, "contrib/frr/nat64-bgp-health")
                }
            };
            let instance = format!("lab-{id}-{i}");
            let mut ctl = gw.cmd_net_only(nat64_ctl_bin());
            ctl.args([
                "attach",
                "eth0",
                "--instance",
                &instance,
                "--pool6",
                POOL6,
                "--pool4",
                POOL4,
                "--node-index",
                &i.to_string(),
                "--node-count",
                &NODES.to_string(),
                "--icmp-source6",
                &gw6,
                "--icmp-source4",
                &gw4,
            ]);
            let mut ctl_d = gw.spawn(ctl, &format!("nat64-ctl-{i}")).unwrap();
            ctl_d
                .wait_for_output("the gateway running", Duration::from_secs(30), |o| {
                    o.contains("running;")
                })
                .unwrap();
            let mut health = gw.cmd_net_only(workspace_root().join(health_script));
            health
                .arg(&instance)
                .arg(&control)
                .env("NAT64_CTL", nat64_ctl_bin());
            let health_d = gw.spawn(health, &format!("health-{i}")).unwrap();
            nodes.push(Node {
                health: Some(health_d),
                ctl: Some(ctl_d),
                routing,
                ns: gw,
                instance,
                slice,
            });
        }
        let upstream_conf = format!(
            "router id 192.0.2.1;\n\
             protocol device {{ scan time 1; }}\n\
             protocol kernel {{ ipv4 {{ export all; }}; merge paths on; }}\n\
             protocol kernel {{ ipv6 {{ export all; }}; merge paths on; }}\n\
             template bgp nat64_gateway {{ local as 64500; hold time 3; keepalive time 1; \
             connect retry time 1; }}\n\
             {upstream_peers}"
        );
        let upstream_bird = bird(&upstream, &dir, "upstream", &upstream_conf);
        let server = server_ns
            .python_service(
                "import http.server, socketserver, time\n\
                 class H(http.server.BaseHTTPRequestHandler):\n\
                 \x20   protocol_version = 'HTTP/1.0'\n\
                 \x20   def do_GET(self):\n\
                 \x20       # /N: N bytes at once; /drip/N: N chunks of 1000 bytes, 0.1 s apart\n\
                 \x20       parts = self.path.strip('/').split('/')\n\
                 \x20       drip = parts[0] == 'drip'\n\
                 \x20       n = int(parts[-1] or '3') * (1000 if drip else 1)\n\
                 \x20       self.send_response(200); self.send_header('Content-Length', str(n)); self.end_headers()\n\
                 \x20       step = 1000 if drip else 65536\n\
                 \x20       for i in range(0, n, step):\n\
                 \x20           self.wfile.write(b'x' * min(step, n - i)); self.wfile.flush()\n\
                 \x20           if drip: time.sleep(0.1)\n\
                 \x20   def log_message(self, *a): print('from', self.client_address[0], flush=True)\n\
                 class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True\n\
                 s = S(('192.0.2.2', 80), H)\n\
                 print('ready', flush=True)\n\
                 s.serve_forever()\n",
                "http",
            )
            .unwrap();
        ScaleOut {
            nodes,
            upstream_bird: Some(upstream_bird),
            server: Some(server),
            client,
            upstream,
            _server_ns: server_ns,
            dir,
        }
    }

    /// The upstream's next hops for pool6, and how many pool4 routes it has.
    fn upstream_routes(&self) -> (usize, usize) {
        let six = self
            .upstream
            .sh(&format!("ip -6 route show {POOL6}"))
            .unwrap();
        let hops = six.matches("via fd00:64:").count();
        let four = self.upstream.sh("ip route show proto bird").unwrap();
        (hops, four.matches("203.0.113.").count())
    }

    fn wait_routes(&self, want: (usize, usize), within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.upstream_routes() == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "upstream routes {:?}, wanted {want:?} (next hops, pool4 routes)",
                self.upstream_routes()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every node announces (pool6 from each, all 14 pool4 /32s), then checks
    /// that the routing daemons read their whole configuration (FRR starts with what it
    /// understood and logs the rest).
    fn wait_announced(&self) -> Duration {
        let t = self.wait_routes((NODES as usize, 14), Duration::from_secs(30));
        for n in &self.nodes {
            for d in &n.routing {
                let out = d.output();
                assert!(
                    !out.contains("config line"),
                    "{}: rejected configuration:\n{out}",
                    d.label
                );
            }
        }
        t
    }

    /// The state of the upstream's BGP session `name` (BIRD's `show protocols`).
    fn upstream_session(&self, name: &str) -> String {
        let out = run_ok(
            Command::new("birdc")
                .arg("-s")
                .arg(self.dir.join("upstream.ctl"))
                .args(["show", "protocols", name]),
        )
        .unwrap();
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_string()
    }

    /// One short fetch from every client, each of which must succeed.
    fn fetch_from_every_client(&self) {
        for i in 0..CLIENTS {
            let (ok, out) = self.fetch(&client_addr(i), 3, 5);
            assert!(ok && out == "200 3", "client {}: {out}", client_addr(i));
        }
    }

    /// How long after `since` a new flow from `src` first succeeds (within 10 s).
    fn first_new_flow(&self, src: &str, since: Instant) -> Duration {
        loop {
            let (ok, out) = self.fetch(src, 3, 2);
            if ok && out == "200 3" {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "{src}: no new flow through the survivor: {out}"
            );
        }
    }

    /// `curl` from `src` for `bytes`; its exit status and output.
    fn fetch(&self, src: &str, bytes: u32, max_secs: u32) -> (bool, String) {
        let out = self
            .client
            .cmd("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
                "--max-time",
                &max_secs.to_string(),
                "--interface",
                src,
                &format!("http://[{}]/{bytes}", server_in_pool6()),
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
fn ecmp_spreads_flows_over_gateways_and_a_dead_one_is_routed_around() {
    if !lab_available("ecmp_spreads_flows_over_gateways_and_a_dead_one_is_routed_around") {
        return;
    }
    spreads_flows_and_routes_around_a_dead_gateway(Gateways::Bird);
}

#[test]
fn frr_gateways_spread_flows_and_a_dead_one_is_routed_around() {
    if !frr_available("frr_gateways_spread_flows_and_a_dead_one_is_routed_around") {
        return;
    }
    spreads_flows_and_routes_around_a_dead_gateway(Gateways::Frr);
}

fn spreads_flows_and_routes_around_a_dead_gateway(gateways: Gateways) {
    let lab = ScaleOut::start(gateways);
    // Both nodes announce once healthy: two next hops for pool6, 14 pool4 /32s.
    let slices: usize = lab.nodes.iter().map(|n| n.slice.len()).sum();
    assert_eq!(slices, 14, "the /28's host addresses, split");
    let t = lab.wait_announced();
    eprintln!("{gateways:?} gateways announced after {t:?}");

    // Many clients' flows spread over both nodes; each node's IPv4 side is its own slice.
    lab.fetch_from_every_client();
    // The server saw each request from an address of some node's slice, and from both.
    let seen: BTreeSet<Ipv4Addr> = lab
        .server
        .as_ref()
        .unwrap()
        .output()
        .lines()
        .filter_map(|l| l.strip_prefix("from ")?.trim().parse().ok())
        .collect();
    for n in &lab.nodes {
        assert!(
            seen.iter().any(|a| n.slice.contains(a)),
            "{}: none of the server's peers {seen:?} is in its slice {:?}",
            n.instance,
            n.slice
        );
    }
    assert!(
        seen.iter()
            .all(|a| lab.nodes.iter().any(|n| n.slice.contains(a))),
        "the server saw {seen:?}: outside every slice"
    );
    let mut by_node = Vec::new();
    for n in &lab.nodes {
        let (pool4, sources) = n.bindings();
        assert!(
            !sources.is_empty(),
            "{}: no flow came through it",
            n.instance
        );
        for a in &pool4 {
            assert!(
                n.slice.contains(a),
                "{}: bound {a}, outside its slice {:?}",
                n.instance,
                n.slice
            );
        }
        by_node.push(sources);
    }
    assert_eq!(
        by_node.iter().map(|s| s.len()).sum::<usize>(),
        CLIENTS as usize,
        "every client bound on exactly one node: {by_node:?}"
    );

    // Long downloads from every client (the server sends 1000 bytes every 0.1 s for 8 s,
    // so each needs the path to the end), then node 0's nat64-ctl is killed two seconds in.
    let mut downloads = Vec::new();
    for i in 0..CLIENTS {
        let mut c = lab.client.cmd("curl");
        c.args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "--speed-limit",
            "1",
            "--speed-time",
            "4",
            "--max-time",
            "30",
            "--interface",
            &client_addr(i),
            &format!("http://[{}]/drip/80", server_in_pool6()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
        downloads.push((client_addr(i), c.spawn().unwrap()));
    }
    std::thread::sleep(Duration::from_secs(2));
    let killed = &lab.nodes[0];
    let killed_sources = by_node[0].clone();
    let pid = killed.ctl.as_ref().unwrap().pid();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let down = Instant::now();
    let withdrawn = lab.wait_routes((1, lab.nodes[1].slice.len()), Duration::from_secs(10));
    eprintln!("node 0's routes withdrawn {withdrawn:?} after its nat64-ctl was killed");
    // By the health check, over sessions that stay up: the routes go, not the peering.
    for session in ["gw0v6", "gw0v4"] {
        let state = lab.upstream_session(session);
        assert!(
            state.contains("Established"),
            "the upstream's session {session}: {state}"
        );
    }
    // A new flow of a client that node 0 served succeeds on the survivor.
    let src = killed_sources.iter().next().unwrap().clone();
    let recovered = lab.first_new_flow(&src, down);
    eprintln!("a new flow of {src} succeeded {recovered:?} after the kill");
    let (_, on_survivor) = lab.nodes[1].bindings();
    assert!(on_survivor.contains(&src), "{src} is now bound on node 1");

    // What became of the established downloads: the survivor's complete; the killed node's
    // are lost (their packets now reach a node with no session, and the replies are sent
    // to a pool4 address no longer routed), and curl gives up when they stall.
    let (mut lost, mut kept) = (Vec::new(), Vec::new());
    for (src, child) in downloads {
        let out = child.wait_with_output().unwrap();
        let bytes = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let complete = out.status.success() && bytes == "80000";
        if killed_sources.contains(&src) {
            lost.push((src, complete, bytes));
        } else {
            kept.push((src, complete, bytes));
        }
    }
    eprintln!(
        "established downloads: {} of {} through the killed node completed; {} of {} through the survivor",
        lost.iter().filter(|l| l.1).count(),
        lost.len(),
        kept.iter().filter(|k| k.1).count(),
        kept.len()
    );
    assert!(
        kept.iter().all(|k| k.1),
        "the survivor's flows are untouched: {kept:?}"
    );
    assert!(
        lost.iter().all(|l| !l.1),
        "the killed node's flows cannot survive: {lost:?}"
    );
    drop(lab);
}

/// A gateway that dies whole (its link goes dark: no health check left to withdraw
/// anything) is routed around when its BGP sessions fail: the upstream drops them at its
/// 3 s hold time at the latest.
#[test]
fn a_dead_box_is_routed_around_when_its_bgp_sessions_fail() {
    if !lab_available("a_dead_box_is_routed_around_when_its_bgp_sessions_fail") {
        return;
    }
    dead_box_is_routed_around(Gateways::Bird);
}

#[test]
fn a_dead_frr_box_is_routed_around_when_its_bgp_sessions_fail() {
    if !frr_available("a_dead_frr_box_is_routed_around_when_its_bgp_sessions_fail") {
        return;
    }
    dead_box_is_routed_around(Gateways::Frr);
}

fn dead_box_is_routed_around(gateways: Gateways) {
    let lab = ScaleOut::start(gateways);
    lab.wait_announced();
    lab.fetch_from_every_client();
    let (_, served) = lab.nodes[0].bindings();
    let src = served
        .iter()
        .next()
        .expect("node 0 served a client")
        .clone();
    lab.nodes[0].ns.sh("ip link set eth0 down").unwrap();
    let down = Instant::now();
    let withdrawn = lab.wait_routes((1, lab.nodes[1].slice.len()), Duration::from_secs(10));
    eprintln!("a dead box's routes withdrawn {withdrawn:?} after its link went down");
    let recovered = lab.first_new_flow(&src, down);
    eprintln!("a new flow of {src} succeeded {recovered:?} after the box died");
}

/// Stops (SIGSTOP) a node's processes, and lets them go on (SIGCONT) when dropped, so that
/// the lab's teardown finds them running even when the test fails.
struct Frozen(Vec<u32>);

impl Frozen {
    fn stop(pids: Vec<u32>) -> Frozen {
        for pid in &pids {
            run_ok(Command::new("kill").args(["-STOP", &pid.to_string()])).unwrap();
        }
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// A gateway that hangs behind a switch (its link stays up, its data plane still
/// translates, but its routing daemon, nat64-ctl and the health check stop: a wedged control plane, or
/// a box frozen with its NIC up) has nobody left to withdraw its routes: the upstream drops
/// its BGP sessions at the 3 s hold time, and its subscribers' new flows go to the survivor.
#[test]
fn a_hung_box_is_routed_around_at_its_bgp_hold_time() {
    if !lab_available("a_hung_box_is_routed_around_at_its_bgp_hold_time") {
        return;
    }
    hung_box_is_routed_around(Gateways::Bird);
}

/// The hold time is FRR's `timers 1 3` against the upstream BIRD's: negotiated to 3 s.
#[test]
fn a_hung_frr_box_is_routed_around_at_its_bgp_hold_time() {
    if !frr_available("a_hung_frr_box_is_routed_around_at_its_bgp_hold_time") {
        return;
    }
    hung_box_is_routed_around(Gateways::Frr);
}

fn hung_box_is_routed_around(gateways: Gateways) {
    let lab = ScaleOut::start(gateways);
    lab.wait_announced();
    lab.fetch_from_every_client();
    let node = &lab.nodes[0];
    let (_, served) = node.bindings();
    let src = served
        .iter()
        .next()
        .expect("node 0 served a client")
        .clone();
    let mut pids: Vec<u32> = node.routing.iter().map(|d| d.pid()).collect();
    pids.push(node.ctl.as_ref().unwrap().pid());
    pids.push(node.health.as_ref().unwrap().pid());
    assert!(pids.iter().all(|p| *p != 0), "{pids:?}");
    let frozen = Frozen::stop(pids);
    let hung = Instant::now();
    let withdrawn = lab.wait_routes((1, lab.nodes[1].slice.len()), Duration::from_secs(10));
    // Nothing withdraws the routes but the upstream's hold timer: at least two keepalive
    // intervals (1 s each) pass before the 3 s of silence run out.
    assert!(
        withdrawn >= Duration::from_millis(1500),
        "withdrawn after {withdrawn:?}: too soon for a hold timer"
    );
    eprintln!("a hung box's routes withdrawn {withdrawn:?} after it hung");
    let recovered = lab.first_new_flow(&src, hung);
    eprintln!("a new flow of {src} succeeded {recovered:?} after the box hung");
    // The survivor holds that subscriber's binding now, from its own slice.
    let (pool4, sources) = lab.nodes[1].bindings();
    assert!(
        sources.contains(&src),
        "{src} not bound on the survivor: {sources:?}"
    );
    assert!(pool4.iter().all(|a| lab.nodes[1].slice.contains(a)));
    drop(frozen);
}

/// An FRR gateway's bgpd that restarts (an upgrade, a crash under watchfrr) starts from
/// its configuration, withdrawn: the health check finds it so and announces it again.
#[test]
fn a_restarted_frr_bgpd_is_announced_again_by_the_health_check() {
    if !frr_available("a_restarted_frr_bgpd_is_announced_again_by_the_health_check") {
        return;
    }
    let mut lab = ScaleOut::start(Gateways::Frr);
    lab.wait_announced();
    let vty = lab.dir.join("gw0-frr");
    let node = &mut lab.nodes[0];
    // Without graceful restart a stopping bgpd says so: its routes go at once.
    let status = node.routing[0].stop();
    assert!(status.is_some_and(|s| s.success()), "bgpd: {status:?}");
    let node1 = lab.nodes[1].slice.len();
    lab.wait_routes((1, node1), Duration::from_secs(10));
    let node = &mut lab.nodes[0];
    node.routing[0] = frr_daemon(&node.ns, &vty, "bgpd", "gw0");
    let t = lab.wait_routes((2, 14), Duration::from_secs(30));
    eprintln!("a restarted bgpd announced again {t:?} after its vty came up");
    let health = lab.nodes[0].health.as_ref().unwrap().output();
    assert_eq!(
        health.matches(": announced").count(),
        2,
        "the health check announced twice:\n{health}"
    );
}
