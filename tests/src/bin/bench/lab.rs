//! Measurements on the netns lab (client6 ─ router ─ server4): the same topology forwards
//! through nat64 on each hook (XDP, TC), through the kernel's own IPv6 forwarding (server4
//! also gets an IPv6 address: no translation) and through TAYGA (a TUN-based stateless
//! NAT64 in userspace, Debian's package, with a dynamic pool). The lab is built twice: with
//! TX checksum offload off on every veth (every subject, XDP included: the benchmark's
//! named variant) and with the senders' default offloads (what containers and VMs send:
//! partial checksums and TSO, which XDP cannot translate), for TCP bulk.
//!
//! Generator: `trafgen` (netsniff-ng) pinned to one CPU, sending prebuilt frames from a
//! packet socket (`-q`: through the qdisc, so that a full veth pushes back instead of
//! dropping). It is the fastest generator here that needs no XDP program on the sender
//! and can vary the source port per packet; its own ceiling into a drop sink is measured
//! and reported, so a figure near it says "generator-bound", not "router-bound".
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nat64_tests::{
    addr,
    bench::{median, Better, Row, Section},
    Daemon, Lab, Netns,
};

use crate::Opts;

const SERVER6: &str = "2001:db8:4::2";
const ROUTER6_ON_4: &str = "2001:db8:4::1";
const TAYGA_PREFIX: &str = "2001:db8:64::/96";
const SERVER4_IN_TAYGA: &str = "2001:db8:64::c000:202";
const TAYGA_POOL: &str = "198.51.100.0/24";
const UDP_FLOWS: u32 = 256;

/// The hook nat64-ctl attaches the data plane with (`--hook`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NatHook {
    Xdp,
    Tc,
}

impl NatHook {
    fn flag(self) -> &'static str {
        match self {
            NatHook::Xdp => "xdp",
            NatHook::Tc => "tc",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Subject {
    Nat64(NatHook),
    Kernel,
    Tayga,
}

const SUBJECTS: [Subject; 4] = [
    Subject::Nat64(NatHook::Xdp),
    Subject::Nat64(NatHook::Tc),
    Subject::Kernel,
    Subject::Tayga,
];

const NAT64_XDP: &str = "nat64 (XDP)";
const NAT64_TC: &str = "nat64 (TC)";
const KERNEL: &str = "kernel IPv6 forwarding";

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Nat64(NatHook::Xdp) => NAT64_XDP,
            Subject::Nat64(NatHook::Tc) => NAT64_TC,
            Subject::Kernel => KERNEL,
            Subject::Tayga => "TAYGA",
        }
    }
    /// Where client6 sends to reach server4 through this subject.
    fn dst(self) -> &'static str {
        match self {
            Subject::Nat64(_) => addr::SERVER4_IN_POOL6,
            Subject::Kernel => SERVER6,
            Subject::Tayga => SERVER4_IN_TAYGA,
        }
    }
    /// Whether the subject can translate what senders hand over at `offloads`: XDP cannot
    /// tell a partial checksum from a complete one, nor see a GSO packet whole.
    fn works_with(self, offloads: Offloads) -> bool {
        !(self == Subject::Nat64(NatHook::Xdp) && offloads == Offloads::SendersDefault)
    }
}

/// What the lab does to the veths' offloads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Offloads {
    /// TX checksum offload off on every veth (no partial checksums, hence no TSO), GRO on
    /// the end hosts: every subject, XDP included, translates correctly.
    TxOff,
    /// ethtool untouched on the end hosts: TX checksum offload and TSO on, as in every
    /// container and most VMs.
    SendersDefault,
}

impl Offloads {
    fn title(self) -> &'static str {
        match self {
            Offloads::TxOff => "TX checksum offload off",
            Offloads::SendersDefault => "senders' default offloads",
        }
    }
    fn id(self) -> &'static str {
        match self {
            Offloads::TxOff => "tx_off",
            Offloads::SendersDefault => "default_offloads",
        }
    }
    /// The lab variant that sets the veths up this way.
    fn lab(self) -> nat64_tests::Hook {
        match self {
            Offloads::TxOff => nat64_tests::Hook::XdpTxOff,
            Offloads::SendersDefault => nat64_tests::Hook::Tc,
        }
    }
}

/// Puts a global sysctl back on drop (trafgen needs bigger socket buffers).
struct Sysctl(&'static str, String);

impl Sysctl {
    fn raise(name: &'static str, value: u64) -> Result<Sysctl> {
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        let old = std::fs::read_to_string(&path)?.trim().to_string();
        if old.parse::<u64>().map_or(true, |o| o < value) {
            std::fs::write(&path, value.to_string())?;
        }
        Ok(Sysctl(name, old))
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("/proc/sys/{}", self.0.replace('.', "/")), &self.1);
    }
}

/// Pings `dst` from `ns` until it answers (the first packets may go while neighbours are
/// being resolved), at most 5 tries.
fn reach(ns: &Netns, dst: &str) -> Result<()> {
    ns.sh(&format!(
        "for i in 1 2 3 4 5; do ping -c1 -W1 {dst} >/dev/null && exit 0; done; exit 1"
    ))
    .map(|_| ())
    .with_context(|| format!("{dst} does not answer pings from {}", ns.name))
}

/// SIGKILLs the trafgen processes running in `ns` (trafgen forks a worker per CPU, which
/// outlives a SIGINT to the parent for seconds): by PID, only those in our namespace.
fn kill_trafgen(ns: &Netns) {
    let Ok(out) = std::process::Command::new("ip")
        .args(["netns", "pids", &ns.name])
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "trafgen" {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn read_u64(ns: &Netns, path: &str) -> Result<u64> {
    ns.sh(&format!("cat {path}"))?
        .trim()
        .parse()
        .with_context(|| format!("{path} in {}", ns.name))
}

/// Softirq jiffies of the whole machine (where veth receive, XDP and kernel forwarding
/// run), plus the user and system jiffies of `extra` (TAYGA's process, whose translation
/// runs there).
fn cpu_ticks(extra: Option<u32>) -> u64 {
    let proc_ticks = extra
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map_or(0, |st| {
            // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
            let rest = st.rsplit(')').next().unwrap_or("");
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
        });
    machine_softirq() + proc_ticks
}

fn machine_softirq() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.get(6).copied().unwrap_or(0)
}

/// A counting drop sink on `dev`'s ingress (an nftables netdev ingress chain: `counter
/// drop`, before the IP stack); removed on drop.
struct Sink<'a> {
    ns: &'a Netns,
    table: String,
}

impl<'a> Sink<'a> {
    fn new(ns: &'a Netns, dev: &str) -> Result<Sink<'a>> {
        let table = format!("sink_{dev}");
        ns.sh(&format!(
            "nft add table netdev {table} && \
             nft add chain netdev {table} in '{{ type filter hook ingress device {dev} priority 0; }}' && \
             nft add rule netdev {table} in counter drop"
        ))?;
        Ok(Sink { ns, table })
    }
    fn count(&self) -> Result<u64> {
        let out = self
            .ns
            .sh(&format!("nft list chain netdev {} in", self.table))?;
        // "counter packets 1234 bytes 5678 drop"
        out.split("counter packets ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no packet count in `nft list chain`: {out}"))
    }
}

impl Drop for Sink<'_> {
    fn drop(&mut self) {
        let _ = self
            .ns
            .sh(&format!("nft delete table netdev {}", self.table));
    }
}

/// Field order is drop order: the daemons in the lab's namespaces stop before the lab goes.
struct Bench {
    tayga: Option<Daemon>,
    client_mac: String,
    router_mac: String,
    dir: std::path::PathBuf,
    /// Source addresses handed out for new-flow steps (each step's flows are new).
    next_client_addr: u32,
    /// A process sitting in client6, whose /proc/PID/net/dev is client6's.
    client_probe: Daemon,
    lab: Lab,
}

/// Figures of one forwarding run.
struct Blast {
    rx_pps: f64,
    loss: f64,
    cpu_ns: f64,
}

impl Bench {
    fn new(offloads: Offloads) -> Result<Bench> {
        let lab = Lab::reference_on(offloads.lab())?;
        let dir = std::env::temp_dir().join(format!("{}-bench", lab.gateway.name));
        std::fs::create_dir_all(&dir)?;
        lab.server4.sh(&format!(
            "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0 \
               net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
               net.ipv4.icmp_msgs_per_sec=100000000 net.ipv4.icmp_msgs_burst=100000000 && \
             ip -6 addr add {SERVER6}/64 dev eth0 nodad && \
             ip -6 route add default via {ROUTER6_ON_4} dev eth0"
        ))?;
        lab.gateway.sh(&format!(
            "ip -6 addr add {ROUTER6_ON_4}/64 dev eth4 nodad && sysctl -qw net.ipv6.icmp.ratelimit=0"
        ))?;
        // pfifo on every veth, so that a full ring pushes back on the sender.
        for (ns, dev) in [
            (&lab.client6, "eth0"),
            (&lab.gateway, "eth6"),
            (&lab.gateway, "eth4"),
            (&lab.server4, "eth0"),
        ] {
            ns.sh(&format!(
                "ip link set {dev} txqueuelen 5000 && tc qdisc replace dev {dev} root pfifo limit 5000"
            ))?;
        }
        // GRO on the router's veths (the end hosts' are as the lab variant leaves them): a
        // veth with GRO receives through its own NAPI ring, as one with an XDP program does,
        // so every subject gets the same receive path, with backpressure instead of backlog
        // drops. The router's own veths are not "senders": this is the same in both offload
        // configurations.
        lab.gateway
            .sh("ethtool -K eth6 gro on >/dev/null && ethtool -K eth4 gro on >/dev/null")?;
        let mac = |ns: &Netns, dev: &str| -> Result<String> {
            Ok(ns
                .sh(&format!("cat /sys/class/net/{dev}/address"))?
                .trim()
                .to_string())
        };
        let client_mac = mac(&lab.client6, "eth0")?;
        let router_mac = mac(&lab.gateway, "eth6")?;
        let router4_mac = mac(&lab.gateway, "eth4")?;
        let server_mac = mac(&lab.server4, "eth0")?;
        // Permanent neighbours everywhere: under a flood, neighbour discovery's own packets
        // get lost, an entry fails and the kernel path drops everything until it recovers.
        lab.gateway.sh(&format!(
            "ip -6 neigh replace {SERVER6} lladdr {server_mac} dev eth4 nud permanent && \
             ip neigh replace {} lladdr {server_mac} dev eth4 nud permanent && \
             ip -6 neigh replace {} lladdr {client_mac} dev eth6 nud permanent",
            addr::SERVER4,
            addr::CLIENT6
        ))?;
        lab.server4.sh(&format!(
            "ip -6 neigh replace {ROUTER6_ON_4} lladdr {router4_mac} dev eth0 nud permanent && \
             ip neigh replace {} lladdr {router4_mac} dev eth0 nud permanent",
            addr::GW4
        ))?;
        lab.client6.sh(&format!(
            "ip -6 neigh replace {} lladdr {router_mac} dev eth0 nud permanent",
            addr::GW6
        ))?;
        // Neighbours known everywhere before any timing.
        reach(&lab.client6, SERVER6)?;
        reach(&lab.gateway, addr::SERVER4)?;
        let mut cmd = lab.client6.cmd("sleep");
        cmd.arg("infinity");
        let client_probe = lab.client6.spawn(cmd, "probe")?;
        // It is `ip netns exec` until it has entered the namespace.
        use std::os::unix::fs::MetadataExt;
        let want = std::fs::metadata(format!("/run/netns/{}", lab.client6.name))?.ino();
        let start = Instant::now();
        while std::fs::metadata(format!("/proc/{}/ns/net", client_probe.pid()))
            .map(|m| m.ino())
            .ok()
            != Some(want)
        {
            if start.elapsed() > Duration::from_secs(5) {
                bail!("the probe process never entered {}", lab.client6.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Bench {
            client_probe,
            lab,
            tayga: None,
            client_mac,
            router_mac,
            dir,
            next_client_addr: 1,
        })
    }

    fn start_tayga(&mut self) -> Result<()> {
        let conf = self.dir.join("tayga.conf");
        std::fs::write(
            &conf,
            format!(
                "tun-device nat64\nipv4-addr 192.0.2.100\nprefix {TAYGA_PREFIX}\n\
                 dynamic-pool {TAYGA_POOL}\ndata-dir {}\n",
                self.dir.join("tayga").display()
            ),
        )?;
        std::fs::create_dir_all(self.dir.join("tayga"))?;
        let c = conf.display();
        self.lab.gateway.sh(&format!(
            "tayga -c {c} --mktun >/dev/null && ip link set nat64 up && \
             ip link set nat64 txqueuelen 5000 && \
             ip route add {TAYGA_POOL} dev nat64 && ip route add 192.0.2.100/32 dev nat64 && \
             ip -6 route add {TAYGA_PREFIX} dev nat64"
        ))?;
        let mut cmd = self.lab.gateway.cmd("tayga");
        cmd.args(["-d", "-c"]).arg(&conf);
        let d = self.lab.gateway.spawn(cmd, "tayga")?;
        self.tayga = Some(d);
        // Up when a ping crosses it.
        let start = Instant::now();
        while self
            .lab
            .client6
            .sh(&format!("ping -c1 -W1 {SERVER4_IN_TAYGA} >/dev/null"))
            .is_err()
        {
            if start.elapsed() > Duration::from_secs(10) {
                bail!(
                    "no ping through TAYGA:\n{}",
                    self.tayga.as_ref().map(|d| d.output()).unwrap_or_default()
                );
            }
        }
        Ok(())
    }

    fn start_nat64(&mut self, hook: NatHook) -> Result<()> {
        self.lab.start_gateway(&[
            "--hook",
            hook.flag(),
            "--pool6",
            "64:ff9b:1::/48",
            "--pool4",
            addr::POOL4,
            "--ports",
            "1024-65535",
            "--max-bindings",
            "262144",
            "--max-sessions",
            "1048576",
            "--bpf-log-level",
            "off",
        ])?;
        reach(&self.lab.client6, addr::SERVER4_IN_POOL6)?;
        Ok(())
    }

    fn stop_nat64(&mut self) {
        if let Some(mut d) = self.lab.gateway_daemon.take() {
            d.stop();
        }
        let _ = self.lab.ctl(&["detach"]);
    }

    /// With `subject` active (nat64 attached only while it is measured), runs `f`.
    fn with<T>(&mut self, subject: Subject, f: impl FnOnce(&mut Bench) -> Result<T>) -> Result<T> {
        if let Subject::Nat64(hook) = subject {
            self.start_nat64(hook)?;
        }
        let r = f(self);
        if let Subject::Nat64(_) = subject {
            self.stop_nat64();
        }
        r
    }

    /// A trafgen config: 64-byte frames on the IPv4 side (82 bytes as IPv6: 18 bytes of
    /// UDP payload) from `src` to `dst`, UDP source port counting through `ports`.
    fn trafgen_conf(&self, name: &str, src: &str, dst: &str, ports: (u32, u32)) -> Result<String> {
        let path = self.dir.join(format!("{name}.cfg"));
        std::fs::write(
            &path,
            format!(
                "{{\n  eth(da={}, sa={}),\n  ipv6(sa={src}, da={dst}, hl=64, nh=17),\n  \
                 udp(sp=dinc({}, {}), dp=9),\n  fill(0x42, 18)\n}}\n",
                self.router_mac, self.client_mac, ports.0, ports.1
            ),
        )?;
        Ok(path.display().to_string())
    }

    /// Sends as fast as trafgen can from client6 for `secs` (after 1 s of warm-up), counting
    /// what `sink` receives.
    fn blast(&self, dst: &str, sink: &Sink<'_>, secs: f64) -> Result<Blast> {
        let tayga = self.tayga.as_ref().map(|d| d.pid());
        let conf =
            self.trafgen_conf("blast", addr::CLIENT6, dst, (10000, 10000 + UDP_FLOWS - 1))?;
        let c6 = &self.lab.client6;
        let mut cmd = c6.cmd("taskset");
        cmd.args([
            "-c", "0", "trafgen", "-q", "-P", "1", "-C", "-o", "eth0", "-i", &conf,
        ]);
        let mut gen = c6.spawn(cmd, "trafgen")?;
        std::thread::sleep(Duration::from_secs(1));
        let tx_path = "/sys/class/net/eth0/statistics/tx_packets";
        let (tx0, rx0, cpu0, t0) = (
            read_u64(c6, tx_path)?,
            sink.count()?,
            cpu_ticks(tayga),
            Instant::now(),
        );
        std::thread::sleep(Duration::from_secs_f64(secs));
        let (tx1, rx1, cpu1, dt) = (
            read_u64(c6, tx_path)?,
            sink.count()?,
            cpu_ticks(tayga),
            t0.elapsed().as_secs_f64(),
        );
        let exited = gen.output();
        kill_trafgen(c6);
        gen.stop();
        let (tx, rx) = (tx1 - tx0, rx1 - rx0);
        if tx == 0 {
            bail!("trafgen sent nothing:\n{exited}");
        }
        let tick_ns = 1e9 / 100.0; // USER_HZ
        Ok(Blast {
            rx_pps: rx as f64 / dt,
            loss: 100.0 * (1.0 - rx as f64 / tx as f64).max(0.0),
            cpu_ns: if rx == 0 {
                f64::NAN
            } else {
                (cpu1 - cpu0) as f64 * tick_ns / rx as f64
            },
        })
    }

    /// `n` new flows (unique source ports, from a fresh source address) at `rate` per
    /// second; returns (achieved send rate, replies). Replies are server4's ICMP port
    /// unreachables, translated back where the subject translates.
    fn new_flows(&mut self, dst: &str, n: u32, rate: u32) -> Result<(f64, u64)> {
        let k = self.next_client_addr;
        self.next_client_addr += 1;
        let src = format!("2001:db8:6::1:{k:x}");
        let c6 = &self.lab.client6;
        c6.sh(&format!("ip -6 addr add {src}/64 dev eth0 nodad"))?;
        self.lab.gateway.sh(&format!(
            "ip -6 neigh replace {src} lladdr {} dev eth6 nud permanent",
            self.client_mac
        ))?;
        let conf = self.trafgen_conf("flows", &src, dst, (1024, 1024 + n - 1))?;
        let replies = || -> Result<u64> {
            let snmp = c6.sh("cat /proc/net/snmp6")?;
            Ok(snmp
                .lines()
                .find_map(|l| l.strip_prefix("Icmp6InDestUnreachs"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0))
        };
        let before = replies()?;
        let mut cmd = c6.cmd("taskset");
        cmd.args([
            "-c", "0", "trafgen", "-q", "-P", "1", "-C", "-o", "eth0", "-i", &conf,
        ])
        .args(["-n", &n.to_string()]);
        // Rate 0: unpaced, as fast as trafgen sends.
        if rate > 0 {
            cmd.args(["-t", &format!("{}ns", 1_000_000_000u64 / u64::from(rate))]);
        }
        let mut gen = c6.spawn(cmd, "trafgen-flows")?;
        // The send rate from eth0's TX counter, polled through /proc/PID/net/dev of a
        // process in client6: from the first packet to the last, so that trafgen's
        // start-up does not count.
        let dev = format!("/proc/{}/net/dev", self.client_probe.pid());
        let tx = || -> Option<u64> {
            let text = std::fs::read_to_string(&dev).ok()?;
            let line = text.lines().find(|l| l.trim_start().starts_with("eth0:"))?;
            line.split(':')
                .nth(1)?
                .split_whitespace()
                .nth(9)?
                .parse()
                .ok()
        };
        let base = tx().context("reading the generator's TX counter")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut first, mut last) = (None, None);
        while Instant::now() < deadline {
            let Some(now_tx) = tx() else { break };
            let t = Instant::now();
            if now_tx > base && first.is_none() {
                // (sent0: what had gone before the first sample that saw any)
                first = Some((t, now_tx - base));
            }
            if now_tx.saturating_sub(base) >= u64::from(n) {
                last = Some(t);
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        gen.wait_for_exit(Duration::from_secs(10))?;
        let (Some((t0, sent0)), Some(t1)) = (first, last) else {
            bail!("trafgen did not send {n} packets:\n{}", gen.output());
        };
        let achieved = (f64::from(n) - sent0 as f64) / (t1 - t0).as_secs_f64().max(1e-6);
        std::thread::sleep(Duration::from_millis(700));
        let got = replies()? - before;
        c6.sh(&format!("ip -6 addr del {src}/64 dev eth0"))?;
        self.lab
            .gateway
            .sh(&format!("ip -6 neigh del {src} dev eth6"))?;
        Ok((achieved, got))
    }

    /// One iperf3 run: (received Gbit/s, the sender's retransmits).
    fn iperf(&self, dst: &str, streams: u32, secs: u32) -> Result<(f64, f64)> {
        let out = self.lab.client6.sh_output(
            &format!("iperf3 -c {dst} -t {secs} -P {streams} -J"),
            Duration::from_secs(u64::from(secs) + 30),
        )?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("iperf3 output: {}", String::from_utf8_lossy(&out.stdout)))?;
        if let Some(e) = v.get("error") {
            bail!("iperf3 to {dst}: {e}");
        }
        let gbps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .map(|b| b / 1e9)
            .context("iperf3: no end.sum_received.bits_per_second")?;
        let retransmits = v["end"]["sum_sent"]["retransmits"]
            .as_f64()
            .context("iperf3: no end.sum_sent.retransmits")?;
        Ok((gbps, retransmits))
    }
}

/// Names of `subjects`, in order.
fn names(subjects: &[Subject]) -> Vec<String> {
    subjects.iter().map(|s| s.name().to_string()).collect()
}

/// Names of the nat64 subjects among `subjects`: the headlines of a section.
fn ours(subjects: &[Subject]) -> Vec<String> {
    subjects
        .iter()
        .filter(|s| matches!(s, Subject::Nat64(_)))
        .map(|s| s.name().to_string())
        .collect()
}

fn row(label: &str, vals: Vec<(Subject, Option<f64>)>) -> Row {
    vals.into_iter()
        .fold(Row::new(label), |r, (s, v)| r.with(s.name(), v))
}

/// Why a hook can be behind kernel forwarding on this lab, for the sections' notes.
const WHY_XDP: &str = "**nat64 (XDP)** on a veth: the veth copies each incoming skb into \
    an XDP buffer and builds a new skb after XDP_REDIRECT, so what XDP skips (routing input, \
    netfilter, the neighbour layer) is partly paid back; on a NIC with native XDP there is no \
    skb before the program.";
const WHY_TC: &str = "**nat64 (TC)** runs once the skb exists, on the same receive path as \
    kernel forwarding, and then translates through skb helpers (`bpf_skb_change_proto` moves \
    the headers, `bpf_l4_csum_replace` per checksum, a FIB lookup, `bpf_redirect`): work a \
    forwarding router, which only decrements the hop limit, does not do; it skips routing \
    input and netfilter.";

/// The notes of `sec` explaining each nat64 hook that is behind its baseline.
fn why_behind(sec: &Section) -> Vec<String> {
    let mut notes = Vec::new();
    if sec.ours.iter().any(|o| o == NAT64_XDP) && sec.is_behind(NAT64_XDP) {
        notes.push(WHY_XDP.to_string());
    }
    if sec.ours.iter().any(|o| o == NAT64_TC) && sec.is_behind(NAT64_TC) {
        notes.push(WHY_TC.to_string());
    }
    notes
}

/// The subjects of a lab measured at `offloads`: TAYGA only if it starts.
fn subjects(b: &mut Bench, offloads: Offloads, skipped: &mut Vec<String>) -> Vec<Subject> {
    let mut subjects: Vec<Subject> = SUBJECTS
        .iter()
        .copied()
        .filter(|s| s.works_with(offloads))
        .collect();
    if let Err(e) = b.start_tayga() {
        skipped.push(format!(
            "TAYGA ({}): could not start it: {e:#}",
            offloads.title()
        ));
        subjects.retain(|s| *s != Subject::Tayga);
    }
    subjects
}

pub fn run(opts: &Opts, sections: &mut Vec<Section>, skipped: &mut Vec<String>) -> Result<()> {
    let _wmem = (
        Sysctl::raise("net.core.wmem_max", 4 << 20)?,
        Sysctl::raise("net.core.wmem_default", 4 << 20)?,
    );
    let rounds = if opts.quick { 1 } else { 3 };
    let secs = if opts.quick { 3.0 } else { 8.0 };
    let iperf_secs = if opts.quick { 3 } else { 10 };

    // The named variant first (every subject, XDP included), then the senders' defaults;
    // the report puts TCP at the senders' defaults before the variant.
    let (mut fwd, mut tcp_tx_off, mut setup) = (Vec::new(), Vec::new(), Vec::new());
    let part = (|| -> Result<()> {
        let mut b = Bench::new(Offloads::TxOff)?;
        let subjects = subjects(&mut b, Offloads::TxOff, skipped);
        forwarding(&mut b, &subjects, rounds, secs, &mut fwd, skipped)?;
        tcp_bulk(
            &mut b,
            Offloads::TxOff,
            &subjects,
            rounds,
            iperf_secs,
            &mut tcp_tx_off,
            skipped,
        )?;
        setup_rate(&mut b, &subjects, opts, &mut setup, skipped)
    })();
    if let Err(e) = part {
        skipped.push(format!(
            "netns lab ({}): failed: {e:#}",
            Offloads::TxOff.title()
        ));
    }
    let mut tcp_default = Vec::new();
    let part = (|| -> Result<()> {
        let mut b = Bench::new(Offloads::SendersDefault)?;
        let subjects = subjects(&mut b, Offloads::SendersDefault, skipped);
        tcp_bulk(
            &mut b,
            Offloads::SendersDefault,
            &subjects,
            rounds,
            iperf_secs,
            &mut tcp_default,
            skipped,
        )
    })();
    if let Err(e) = part {
        skipped.push(format!(
            "netns lab ({}): failed: {e:#}",
            Offloads::SendersDefault.title()
        ));
    }
    sections.extend(fwd);
    sections.extend(tcp_default);
    sections.extend(tcp_tx_off);
    sections.extend(setup);
    Ok(())
}

/// 64-byte UDP forwarding: rate, loss and CPU per packet, rounds interleaved across
/// subjects, the generator's ceiling measured each round.
fn forwarding(
    b: &mut Bench,
    subjects: &[Subject],
    rounds: u32,
    secs: f64,
    sections: &mut Vec<Section>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    eprintln!("  forwarding: {rounds} round(s) of {secs} s per subject, {UDP_FLOWS} flows");
    let mut ceiling = Vec::new();
    let mut per: Vec<(Subject, Vec<Blast>)> = subjects.iter().map(|s| (*s, Vec::new())).collect();
    for _ in 0..rounds {
        {
            let sink = Sink::new(&b.lab.gateway, "eth6")?;
            let bl = b.blast(addr::SERVER4_IN_POOL6, &sink, secs)?;
            eprintln!("  generator into a drop sink: {:.0} pps", bl.rx_pps);
            ceiling.push(bl.rx_pps);
        }
        for (s, results) in per.iter_mut() {
            let s = *s;
            let r = b.with(s, |b| {
                let sink = Sink::new(&b.lab.server4, "eth0")?;
                if let Subject::Nat64(_) = s {
                    // Sessions exist before the measurement: one short burst opens them.
                    let _ = b.blast(s.dst(), &sink, 0.5)?;
                }
                b.blast(s.dst(), &sink, secs)
            });
            match r {
                Ok(bl) => {
                    eprintln!(
                        "  {}: {:.0} pps received, {:.1} % loss, {:.0} ns CPU/packet",
                        s.name(),
                        bl.rx_pps,
                        bl.loss,
                        bl.cpu_ns
                    );
                    results.push(bl);
                }
                Err(e) => skipped.push(format!("forwarding through {}: {e:#}", s.name())),
            }
        }
    }
    let ceiling = median(&ceiling);
    let pick = |f: fn(&Blast) -> f64| -> Vec<(Subject, Option<f64>)> {
        per.iter()
            .map(|(s, r)| (*s, median(&r.iter().map(f).collect::<Vec<_>>())))
            .collect()
    };
    let names = names(subjects);
    let ours = ours(subjects);
    let baseline = Some(KERNEL.to_string());
    let flows_label = format!("64-byte UDP, {UDP_FLOWS} flows");
    let mut pps = row(&flows_label, pick(|b| b.rx_pps / 1000.0));
    let generator = "generator into a drop sink";
    pps = pps.with(generator, ceiling.map(|c| c / 1000.0));
    let mut pps_subjects = names.clone();
    pps_subjects.push(generator.into());
    let gen_note = format!(
        "Generator: trafgen 0.6.8 (netsniff-ng), one process pinned to CPU 0, packet socket \
         through the qdisc (`-q`, pfifo, so a full veth pushes back rather than drops); its \
         ceiling into the same kind of drop sink on the router's ingress was {} kpps in the same run. \
         trafgen was chosen because it is the fastest generator here that needs no XDP \
         program on the sending side and varies the source port per packet (`dinc`). Where a \
         subject's rate is close to the ceiling, the generator is the limit and the CPU cost \
         per packet below is the comparable figure.",
        ceiling.map_or("—".into(), |c| format!("{:.0}", c / 1000.0))
    );
    let mut fwd_notes = vec![gen_note];
    if let (Some(t), Some(k)) = (pps.get("TAYGA"), pps.get(KERNEL)) {
        if t > k {
            fwd_notes.push(
                "Why TAYGA can receive more packets per second than the kernel path here \
                 although it costs more CPU per packet: its translation runs in its own \
                 process, which the scheduler puts on the CPU the generator does not occupy, \
                 while kernel forwarding and nat64 run in softirq on the generator's CPU (veth \
                 receive happens where the sender runs). On this 2-CPU lab TAYGA alone gets a \
                 second CPU; on a real router with a NIC queue per core every subject would."
                    .to_string(),
            );
        }
    }
    if let Some(c) = ceiling {
        let shares: Vec<String> = ours
            .iter()
            .filter_map(|o| Some(format!("{o} {:.0} %", 100.0 * pps.get(o)? * 1000.0 / c)))
            .collect();
        if !shares.is_empty() {
            fwd_notes.push(format!(
                "Delivered share of the generator's ceiling: {}. The generator, the router \
                 and both end hosts share the machine's 2 CPUs (veth work runs on the sending \
                 CPU), so every subject's rate here is bounded by that contention as much as \
                 by its own cost; the CPU per delivered packet below separates them.",
                shares.join(", ")
            ));
        }
    }
    let subjects_note = format!(
        "**nat64 (XDP)** and **nat64 (TC)** are the same data plane attached with \
         `nat64-ctl --hook xdp` / `--hook tc` on the router's veths; **kernel IPv6 forwarding**: \
         server4 also has an IPv6 address, no translation, the floor of the same topology; \
         **TAYGA** 0.9.2 (Debian; stateless TUN translator in userspace, prefix {TAYGA_PREFIX}, \
         dynamic pool {TAYGA_POOL}, TUN txqueuelen 5000)."
    );
    let mut rate = Section {
        id: "forwarding_rate".into(),
        title: "Forwarding rate".into(),
        method: format!(
            "The netns lab (client6 ─ router ─ server4, veth pairs, 2 CPUs shared by all three \
             namespaces and the generator), TX checksum offload off on every veth. client6 \
             sends 64-byte (IPv4 side) UDP frames with {UDP_FLOWS} source ports as fast as the \
             generator can for {secs} s (after 1 s of warm-up; for nat64 the sessions exist \
             before), median of {rounds} interleaved round(s); server4 counts what arrives in a \
             drop sink (nftables netdev ingress `counter drop`). Subjects: {subjects_note}"
        ),
        unit: "kpps received".into(),
        better: Better::Higher,
        subjects: pps_subjects,
        baseline: baseline.clone(),
        ours: ours.clone(),
        rows: vec![pps],
        notes: fwd_notes,
        chart: true,
        inherent_gap: false,
    };
    let why = why_behind(&rate);
    rate.notes.extend(why);
    sections.push(rate);
    sections.push(Section {
        id: "forwarding_loss".into(),
        title: "Forwarding loss".into(),
        method: "Same runs: packets the generator's veth sent that never reached server4.".into(),
        unit: "% lost".into(),
        better: Better::Lower,
        subjects: names.clone(),
        baseline: None,
        ours: ours.clone(),
        rows: vec![row(&flows_label, pick(|b| b.loss))],
        notes: vec![],
        chart: false,
        inherent_gap: false,
    });
    let mut cpu = Section {
        id: "forwarding_cpu".into(),
        title: "CPU per delivered packet".into(),
        method: "Same runs: the whole machine's softirq time (from /proc/stat: veth receive, \
                 XDP, TC and kernel forwarding all run there), plus TAYGA's own process time \
                 (user + system) for TAYGA, divided by the packets server4 received. It includes \
                 the end hosts' receive work, the same for every subject, so differences are the \
                 router's. Only softirq is counted because the other engineers' compilers on this \
                 machine fill user and system time; the generator's sends (system time) are left \
                 out with them."
            .into(),
        unit: "ns CPU/packet".into(),
        better: Better::Lower,
        subjects: names,
        baseline,
        ours,
        rows: vec![row(&flows_label, pick(|b| b.cpu_ns))],
        notes: vec![],
        chart: true,
        inherent_gap: false,
    };
    cpu.notes = why_behind(&cpu);
    sections.push(cpu);
    Ok(())
}

/// TCP bulk (iperf3 client6 → server4, 1 and 4 streams) at `offloads`: throughput and
/// retransmits, rounds interleaved across subjects.
fn tcp_bulk(
    b: &mut Bench,
    offloads: Offloads,
    subjects: &[Subject],
    rounds: u32,
    iperf_secs: u32,
    sections: &mut Vec<Section>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let mut cmd = b.lab.server4.cmd("iperf3");
    cmd.arg("-s");
    let _server = b.lab.server4.spawn(cmd, "iperf3")?;
    std::thread::sleep(Duration::from_millis(500));
    let (mut gbps_rows, mut retx_rows) = (Vec::new(), Vec::new());
    for streams in [1u32, 4] {
        let mut runs: Vec<(Subject, Vec<(f64, f64)>)> =
            subjects.iter().map(|s| (*s, Vec::new())).collect();
        for _ in 0..rounds {
            for (s, got) in runs.iter_mut() {
                let s = *s;
                match b.with(s, |b| b.iperf(s.dst(), streams, iperf_secs)) {
                    Ok(g) => {
                        eprintln!(
                            "  TCP {streams} stream(s), {}, through {}: {:.2} Gbit/s, {} retransmits",
                            offloads.title(),
                            s.name(),
                            g.0,
                            g.1
                        );
                        got.push(g);
                    }
                    Err(e) => skipped.push(format!(
                        "iperf3 through {} ({}): {e:#}",
                        s.name(),
                        offloads.title()
                    )),
                }
            }
        }
        let label = format!("{streams} stream{}", if streams > 1 { "s" } else { "" });
        let pick = |f: fn(&(f64, f64)) -> f64| -> Vec<(Subject, Option<f64>)> {
            runs.iter()
                .map(|(s, r)| (*s, median(&r.iter().map(f).collect::<Vec<_>>())))
                .collect()
        };
        gbps_rows.push(row(&label, pick(|g| g.0)));
        retx_rows.push(row(&label, pick(|g| g.1)));
    }
    let names = names(subjects);
    let ours = ours(subjects);
    let baseline = Some(KERNEL.to_string());
    let id = offloads.id();
    let what = match offloads {
        Offloads::SendersDefault => {
            "ethtool untouched on the end hosts: TX checksum offload and TSO on, as in every \
             container and most VMs, so the sender hands over partial checksums and GSO packets \
             of up to 64 KiB; GRO on the router's veths"
        }
        Offloads::TxOff => {
            "TX checksum offload off on every veth (so no TSO either: MTU-sized segments), GRO \
             on the end hosts' and the router's veths: the configuration every subject, XDP \
             included, translates correctly"
        }
    };
    let mut notes = Vec::new();
    match offloads {
        Offloads::SendersDefault => notes.push(
            "**nat64 (XDP) is not measured here**: an XDP program sees neither the skb's \
             checksum state nor its GSO metadata, so it cannot tell a partial checksum (left for \
             TX checksum offload) from a complete one and its rewrites come out wrong (ping \
             works, TCP and UDP do not). XDP is the hook for real NICs, which hand it complete \
             frames. nat64 (TC) translates a GSO packet whole (`bpf_skb_change_proto` adjusts \
             its GSO type) and keeps partial checksums partial (`bpf_l4_csum_replace`); the \
             kernel forwards GSO packets whole too; TAYGA's TUN device takes no GSO, so the \
             kernel segments and checksums before TAYGA reads."
                .to_string(),
        ),
        Offloads::TxOff => notes.push(
            "Without TSO every subject handles MTU-sized segments one by one, so the per-packet \
             costs of the data plane weigh more than at the senders' defaults."
                .to_string(),
        ),
    }
    let mut bulk = Section {
        id: format!("tcp_bulk_{id}"),
        title: format!("TCP bulk throughput, {}", offloads.title()),
        method: format!(
            "iperf3 from client6 to server4, {iperf_secs} s per run, median of {rounds} run(s) \
             interleaved across subjects, 1 and 4 parallel streams; received rate. The lab: \
             {what}."
        ),
        unit: "Gbit/s".into(),
        better: Better::Higher,
        subjects: names.clone(),
        baseline: baseline.clone(),
        ours: ours.clone(),
        rows: gbps_rows,
        notes,
        chart: true,
        inherent_gap: false,
    };
    let why = why_behind(&bulk);
    bulk.notes.extend(why);
    let mut retx = Section {
        id: format!("tcp_retransmits_{id}"),
        title: format!("TCP retransmits, {}", offloads.title()),
        method: "Same runs: the segments the sender retransmitted in one run (iperf3's \
                 `end.sum_sent.retransmits`), median of the runs. Throughput alone hides loss."
            .into(),
        unit: "retransmits per run".into(),
        better: Better::Lower,
        subjects: names,
        baseline,
        ours,
        rows: retx_rows,
        notes: vec![],
        chart: true,
        inherent_gap: false,
    };
    if retx.ours.iter().any(|o| o == NAT64_XDP) && retx.is_behind(NAT64_XDP) {
        retx.notes.push(
            "**nat64 (XDP)**: XDP_REDIRECT into a veth has no backpressure: when the target \
             veth's ring is full the frame is dropped and TCP retransmits it. Kernel forwarding \
             and TC queue to the target's qdisc (pfifo here), which pushes back on the sender \
             instead."
                .into(),
        );
    }
    if retx.is_behind(NAT64_TC) {
        // How far TC is above the kernel at worst: a few tens are run-to-run noise here.
        let excess = retx
            .rows
            .iter()
            .filter_map(|r| Some(r.get(NAT64_TC)? - r.get(KERNEL)?))
            .fold(0.0f64, f64::max);
        retx.notes.push(format!(
            "**nat64 (TC)** redirects into the target veth's qdisc, where kernel forwarding \
             transmits too, so its extra retransmits are not drops for want of backpressure; {}",
            if excess < 100.0 {
                "differences of a few tens per run vary from run to run on this shared machine."
            } else {
                "their cause has not been analysed yet."
            }
        ));
    }
    sections.push(bulk);
    sections.push(retx);
    Ok(())
}

/// RFC 9693 §4 connection setup rate: the highest rate at which every new flow gets its
/// reply.
fn setup_rate(
    b: &mut Bench,
    subjects: &[Subject],
    opts: &Opts,
    sections: &mut Vec<Section>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    // About half a second of sending at the nominal rate (the first steps' wall time is
    // then long enough to time); unique (address, port) per flow: each step has its own
    // source address.
    let flows_at = |rate: u32| {
        if rate == 0 {
            10_000
        } else {
            (rate / 2).clamp(1000, 10_000)
        }
    };
    let rates: &[u32] = if opts.quick {
        &[2_000, 10_000, 50_000, 0]
    } else {
        &[2_000, 5_000, 10_000, 20_000, 50_000, 0]
    };
    let mut setup = Vec::new();
    for s in subjects {
        let s = *s;
        let best =
            b.with(s, |b| {
                let mut best: Option<f64> = None;
                for &rate in rates {
                    let flows = flows_at(rate);
                    let (achieved, replies) = b.new_flows(s.dst(), flows, rate)?;
                    eprintln!(
                    "  {}: {flows} new flows at {} (sent at {achieved:.0}/s): {replies} replies",
                    if rate == 0 { "full speed".to_string() } else { format!("{rate}/s") },
                    s.name()
                );
                    if replies < u64::from(flows) {
                        break;
                    }
                    best = Some(best.map_or(achieved, |b: f64| b.max(achieved)));
                }
                Ok(best)
            });
        match best {
            Ok(v) => setup.push((s, v.map(|v| v / 1000.0))),
            Err(e) => skipped.push(format!("connection setup rate through {}: {e:#}", s.name())),
        }
    }
    sections.push(Section {
        id: "setup_rate".into(),
        title: "Connection setup rate".into(),
        method: format!(
            "RFC 9693 §4: new UDP flows (unique source ports from a fresh source address; \
             half a second's worth of the nominal rate, 1000 to 10000 flows) at increasing paced \
             rates ({}); each flow's reply is server4's ICMP port \
             unreachable, which must come back (translated where the subject translates) to \
             client6 (`Icmp6InDestUnreachs`). The figure is the highest send rate actually \
             achieved (from the client's TX counter, first packet to last) at which every flow \
             got its reply. ICMP rate limits are off on server4 and \
             the router.",
            rates
                .iter()
                .map(|&r| match r {
                    0 => "then unpaced".to_string(),
                    r => format!("{} k/s", r / 1000),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        unit: "k new flows/s".into(),
        better: Better::Higher,
        subjects: names(subjects),
        baseline: Some(KERNEL.to_string()),
        ours: ours(subjects),
        rows: vec![row("UDP, every flow answered", setup)],
        notes: vec![
            "The kernel baseline keeps no state per flow; nat64 creates a binding and a session \
             per flow in the data plane, TAYGA a mapping only per source address. trafgen paces \
             with a sleep between packets, which on this loaded machine reaches only a few \
             thousand packets per second whatever gap is asked for; the last step is therefore \
             unpaced (10000 new flows as fast as trafgen sends them). Where the achieved rates \
             of the subjects are alike, the generator was the limit, not the subject."
                .into(),
            "What bounds the ≥ ×1.0 target: the unpaced step's rate is what the generator \
             reaches while the router's work shares the machine's two CPUs with it (veth \
             receive runs on the sending CPU), so the more CPU a subject spends per new flow, \
             the slower the generator itself sends. A new flow costs the nat64 program about a \
             microsecond more than an established packet (the setup-cost table: two binding \
             inserts and a session insert), work a forwarding router does not do; under XDP on \
             a veth each packet also pays a copy into an XDP buffer and a new skb after the \
             redirect, which the TC hook (on the skb the veth already built) does not."
                .into(),
        ],
        chart: true,
        inherent_gap: false,
    });
    Ok(())
}
