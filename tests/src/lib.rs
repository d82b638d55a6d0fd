//! Network-namespace lab harness for nat64's end-to-end tests and demo.
//!
//! Every namespace and process it creates is torn down on drop, which also runs while a
//! failing test unwinds. Namespaces left behind by a crashed run (SIGKILL, power loss) are
//! swept on the next run: their names carry the creating process's PID, and a namespace
//! whose creator is gone is deleted.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

pub mod bench;
pub mod packet;

/// Every namespace this project's tests create starts with this.
pub const NETNS_PREFIX: &str = "nat64t-";

/// Whether this process may build labs. Outside CI a missing capability skips the test
/// with a message; with CI=true it fails the test, so CI can never pass by skipping.
pub fn lab_available(test: &str) -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root".to_string())
    } else if !Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        Some("`ip netns` does not work here".to_string())
    } else {
        None
    };
    match reason {
        None => true,
        Some(r) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: cannot run under CI=true: {r}")
        }
        Some(r) => {
            eprintln!("SKIPPED {test}: {r} (root, netns and BPF are needed)");
            false
        }
    }
}

/// Path of the nat64-ctl binary under test: $NAT64_CTL, else the workspace's debug build.
pub fn nat64_ctl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NAT64_CTL") {
        return p.into();
    }
    let p = workspace_root().join("target/debug/nat64-ctl");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        p.display()
    );
    p
}

pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Deletes namespaces with our prefix whose creating process no longer exists.
pub fn sweep_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NETNS_PREFIX) else {
            continue;
        };
        let pid: i32 = rest
            .split(['x', '-'])
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if pid > 0 && unsafe { libc::kill(pid, 0) } == 0 {
            continue; // its creator still runs
        }
        eprintln!("sweeping stale namespace {name}");
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
    }
    // Gateway state outlives nat64-ctl (pinned maps and links): a lab whose test died
    // without its teardown leaves /sys/fs/bpf/nat64/lab-<pid>x<n>.
    let Ok(entries) = std::fs::read_dir("/sys/fs/bpf/nat64") else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("lab-")
            .and_then(|r| r.split('x').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if unsafe { libc::kill(pid, 0) } != 0 {
            eprintln!("sweeping stale gateway state {}", e.path().display());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: String) -> Result<Netns> {
        run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.sh("ip link set lo up")?;
        Ok(ns)
    }

    /// `ip netns exec NAME …`: also bind-mounts /etc/netns/NAME/* (resolv.conf) over /etc.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// The resolver programs run through [`Netns::cmd`] use: `ip netns exec` bind-mounts
    /// /etc/netns/NAME/resolv.conf over /etc/resolv.conf. Removed with the namespace.
    pub fn set_resolver(&self, nameserver: &str) -> Result<()> {
        let dir = Path::new("/etc/netns").join(&self.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("resolv.conf"),
            format!("nameserver {nameserver}\n"),
        )?;
        Ok(())
    }

    /// Only the network namespace changes (nsenter --net): the host's mounts, and so the
    /// host's /sys/fs/bpf, stay visible. nat64-ctl runs this way so that its pins are
    /// shared between invocations (each `ip netns exec` gets a private /sys).
    pub fn cmd_net_only(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.name))
            .arg("--")
            .arg(program);
        c
    }

    /// Runs a shell command line in the namespace with a timeout; fails on non-zero exit.
    pub fn sh(&self, script: &str) -> Result<String> {
        let out = self.sh_output(script, Duration::from_secs(30))?;
        if !out.status.success() {
            bail!(
                "[{}] `{script}` failed ({}): {}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs a shell command line and returns its output whatever the exit status.
    pub fn sh_output(&self, script: &str, timeout: Duration) -> Result<Output> {
        let mut c = self.cmd("timeout");
        c.args([
            "--kill-after=5",
            &format!("{}", timeout.as_secs().max(1)),
            "sh",
            "-c",
            script,
        ]);
        c.stdin(Stdio::null())
            .output()
            .with_context(|| format!("running `{script}` in {}", self.name))
    }

    /// Starts a Python `script` (a test's own UDP/TCP service) and waits until it prints
    /// `ready`; it is stopped when the returned handle drops.
    pub fn python_service(&self, script: &str, label: &str) -> Result<Daemon> {
        let mut cmd = self.cmd("python3");
        cmd.args(["-u", "-c", script]);
        let mut d = self.spawn(cmd, label)?;
        d.wait_for_output(label, std::time::Duration::from_secs(10), |o| {
            o.contains("ready")
        })?;
        Ok(d)
    }

    /// Starts a long-running program; it is stopped when the returned handle drops.
    pub fn spawn(&self, mut cmd: Command, label: &str) -> Result<Daemon> {
        let log = std::env::temp_dir().join(format!("{}-{}.log", self.name, label));
        let file = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {label} in {}", self.name))?;
        Ok(Daemon {
            child: Some(child),
            label: label.to_string(),
            log,
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside would keep nothing alive (the netns file goes with `del`),
        // but kill them so nothing outlives the test.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.name));
    }
}

/// A background process, stopped (SIGINT, then SIGKILL after 5 s) on drop.
pub struct Daemon {
    child: Option<Child>,
    pub label: String,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `pred(output)` holds, or fails with the output if the process exits or
    /// the time runs out.
    pub fn wait_for_output(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            let out = self.output();
            if pred(&out) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("{} exited ({status}) before {what}:\n{out}", self.label);
            }
            if start.elapsed() > timeout {
                bail!("{}: no {what} after {timeout:?}:\n{out}", self.label);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end by itself; fails on a timeout or a non-zero exit.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let child = self.child.as_mut().context("not running")?;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                if !status.success() {
                    bail!("{} exited ({status}):\n{}", self.label, self.output());
                }
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} still runs after {timeout:?}:\n{}",
                    self.label,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGINT, then waits; returns the exit status (SIGKILL after 5 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Small real programs the lab runs (Python ships on every machine of ours).
pub mod programs {
    /// UDP echo server on 0.0.0.0:7777: prints each datagram's source, answers in upper case.
    pub const UDP_ECHO_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7777))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print("from %s:%d %r" % (peer[0], peer[1], data), flush=True)
    s.sendto(data.upper(), peer)
"#;

    /// An IPv6 UDP client bound to `[src]:sport` sending `msg` to `[dst]:7777` (three
    /// tries, 2 s each), printing the reply and where it came from, or `timeout`.
    pub fn udp_client(src: &str, sport: u16, dst: &str, msg: &str) -> String {
        format!(
            r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("{src}", {sport}))
s.settimeout(2)
for attempt in range(3):
    s.sendto(b"{msg}", ("{dst}", 7777))
    try:
        data, peer = s.recvfrom(2048)
        print("reply %r from [%s]:%d" % (data, peer[0], peer[1]))
        break
    except socket.timeout:
        print("timeout")
"#
        )
    }

    /// One datagram from an IPv6 host to `[dst]:7777`, one chance (no retry): prints the
    /// reply or `timeout`. A lost first packet (a neighbour not yet resolved) cannot hide
    /// behind a retry.
    pub fn one_datagram(dst: &str, msg: &str) -> String {
        format!(
            r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"{msg}", ("{dst}", 7777))
try:
    data, peer = s.recvfrom(2048)
    print("reply %r" % data)
except socket.timeout:
    print("timeout")
"#
        )
    }
}

/// Starts nginx in `ns`, serving `root` on `listen` (e.g. "192.0.2.2:80"), with every
/// path it writes under `dir`. Stopped with the returned daemon.
pub fn start_nginx(
    ns: &Netns,
    dir: &std::path::Path,
    root: &std::path::Path,
    listen: &str,
) -> Result<Daemon> {
    let conf = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 2048; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{ listen {listen}; root {}; }}\n}}\n",
            root.display()
        ),
    )?;
    let mut cmd = ns.cmd("nginx");
    cmd.arg("-c").arg(&conf).arg("-p").arg(dir);
    let mut daemon = ns.spawn(cmd, "nginx")?;
    // Up when it answers.
    let start = Instant::now();
    loop {
        let out = ns.sh_output(
            &format!("curl -s -o /dev/null -w '%{{http_code}}' http://{listen}/"),
            Duration::from_secs(5),
        )?;
        if String::from_utf8_lossy(&out.stdout).trim() != "000" {
            return Ok(daemon);
        }
        if start.elapsed() > Duration::from_secs(10) {
            daemon.stop();
            bail!("nginx did not come up on {listen}:\n{}", daemon.output());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Addresses of the reference deployment (documentation prefixes only).
pub mod addr {
    pub const CLIENT6: &str = "2001:db8:6::2";
    pub const GW6: &str = "2001:db8:6::1";
    pub const GW4: &str = "192.0.2.1";
    pub const SERVER4: &str = "192.0.2.2";
    /// server4 under the local-use prefix 64:ff9b:1::/48 (RFC 8215; RFC 6052 §2.2 puts
    /// 192.0.2.2 in bytes 6-7 and 9-10 around the u-octet). The lab tests use this prefix.
    pub const SERVER4_IN_POOL6: &str = "64:ff9b:1:c000:2:200::";
    /// The pool4 address the lab gateway translates to.
    pub const POOL4: &str = "203.0.113.1";
}

/// The hook a lab's gateway runs the data plane on, and what the lab does to the end
/// hosts for it. Every lab test runs once per variant (see [`lab_test!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `--hook tc`; every veth keeps the kernel's default offloads (TX checksum offload,
    /// TSO, GRO as the kernel sets them): what containers and VMs send.
    Tc,
    /// `--hook xdp`, TX checksum offload off on every veth: XDP sees the partial checksums
    /// local sockets leave for an offload and cannot complete them, so this is a named
    /// variant, not the default deployment.
    XdpTxOff,
}

impl Hook {
    pub const ALL: [Hook; 2] = [Hook::Tc, Hook::XdpTxOff];

    /// The value of nat64-ctl's `--hook`.
    pub fn flag(self) -> &'static str {
        match self {
            Hook::Tc => "tc",
            Hook::XdpTxOff => "xdp",
        }
    }

    /// What nat64-ctl's log calls the interface's link ("replaced the program on eth6's
    /// XDP link").
    pub fn link(self) -> &'static str {
        match self {
            Hook::Tc => "TC link (tcx)",
            Hook::XdpTxOff => "XDP link",
        }
    }
}

/// Defines a lab test once per [`Hook`]: `lab_test!(name, |hook| { ... })` makes the tests
/// `name::tc` and `name::xdp_tx_off`, each of which can run alone
/// (`cargo test --test lab_x name::tc`). The body builds its lab with `hook`.
#[macro_export]
macro_rules! lab_test {
    ($name:ident, |$hook:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($hook: $crate::Hook) $body

            #[test]
            fn tc() {
                body($crate::Hook::Tc)
            }

            #[test]
            fn xdp_tx_off() {
                body($crate::Hook::XdpTxOff)
            }
        }
    };
}

/// The reference deployment: IPv6-only `client6` ─ `gateway` ─ IPv4-only `server4`.
///
/// client6 `eth0` 2001:db8:6::2/64, default route via the gateway (so any pool6 works);
/// gateway `eth6` 2001:db8:6::1/64 and `eth4` 192.0.2.1/24, forwarding on;
/// server4 `eth0` 192.0.2.2/24, default route via the gateway.
/// Field order is drop order: the gateway daemon stops before the namespaces go.
pub struct Lab {
    pub gateway_daemon: Option<Daemon>,
    pub client6: Netns,
    pub gateway: Netns,
    pub server4: Netns,
    /// bpffs instance name of this lab's gateway.
    pub instance: String,
    /// The hook `start_gateway` attaches with (and what the veths' offloads are).
    pub hook: Hook,
}

impl Lab {
    /// The reference lab for XDP with TX checksum offload off ([`Hook::XdpTxOff`]), as the
    /// demo and the benchmarks use it.
    pub fn reference() -> Result<Lab> {
        Lab::reference_on(Hook::XdpTxOff)
    }

    /// The reference lab for `hook`.
    pub fn reference_on(hook: Hook) -> Result<Lab> {
        sweep_stale_namespaces();
        let id = format!(
            "{}x{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let ns = |role: &str| Netns::create(format!("{NETNS_PREFIX}{id}-{role}"));
        let client6 = ns("c6")?;
        let gateway = ns("gw")?;
        let server4 = ns("s4")?;
        veth(&client6, "eth0", &gateway, "eth6", hook)?;
        veth(&server4, "eth0", &gateway, "eth4", hook)?;

        // Links go up before their addresses are added: a nodad address added to a down
        // link sometimes never joined its solicited-node group, so the gateway's neighbour
        // solicitations for client6 went unanswered and IPv4-initiated flows (whose first
        // packet makes the gateway resolve client6) failed about one run in five.
        client6.sh(&format!(
            "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0 && \
             ip link set eth0 up && ip -6 addr add {}/64 dev eth0 nodad && \
             ip -6 route add default via {} dev eth0",
            addr::CLIENT6,
            addr::GW6
        ))?;
        gateway.sh(&format!(
            "sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 net.ipv6.conf.all.accept_dad=0 && \
             ip link set eth6 up && ip link set eth4 up && \
             ip -6 addr add {}/64 dev eth6 nodad && ip addr add {}/24 dev eth4",
            addr::GW6,
            addr::GW4
        ))?;
        server4.sh(&format!(
            "ip addr add {}/24 dev eth0 && ip link set eth0 up && ip route add default via {}",
            addr::SERVER4,
            addr::GW4
        ))?;
        // XDP_REDIRECT into a veth is delivered only when the peer runs XDP or has GRO on;
        // GRO counts only when enabled after the link is up. TC redirects skbs, which a
        // veth delivers whatever its GRO: the end hosts keep their defaults.
        if hook == Hook::XdpTxOff {
            for (ns, dev) in [(&client6, "eth0"), (&server4, "eth0")] {
                ns.sh(&format!("ethtool -K {dev} gro on >/dev/null"))?;
            }
        }
        let instance = format!("lab-{id}");
        Ok(Lab {
            gateway_daemon: None,
            client6,
            gateway,
            server4,
            instance,
            hook,
        })
    }

    /// Starts `nat64-ctl attach eth6 eth4 <extra>` in the gateway and waits until it runs.
    /// The usual start of a lab test: None (the test returns) when the lab cannot run here
    /// (see `lab_available`), else the reference lab with the gateway attached for the
    /// local-use prefix 64:ff9b:1::/48 and pool4 `POOL4`, plus `extra`.
    pub fn with_gateway(test: &str, hook: Hook, extra: &[&str]) -> Option<Lab> {
        if !lab_available(test) {
            return None;
        }
        let mut lab = Lab::reference_on(hook).expect("lab");
        let mut args = vec!["--pool6", "64:ff9b:1::/48", "--pool4", addr::POOL4];
        args.extend_from_slice(extra);
        lab.start_gateway(&args).expect("gateway");
        Some(lab)
    }

    /// Starts `nat64-ctl attach eth6 eth4 --hook <the lab's hook> <extra>` (unless `extra`
    /// has a `--hook` of its own).
    pub fn start_gateway(&mut self, extra: &[&str]) -> Result<()> {
        let mut cmd = self.gateway.cmd_net_only(nat64_ctl_bin());
        cmd.args(["attach", "eth6", "eth4", "--instance", &self.instance]);
        if !extra.contains(&"--hook") {
            cmd.args(["--hook", self.hook.flag()]);
        }
        cmd.args(extra);
        cmd.env(
            "RUST_LOG",
            std::env::var("NAT64_TEST_LOG").unwrap_or_else(|_| "info".into()),
        );
        let mut d = self.gateway.spawn(cmd, "nat64-ctl")?;
        d.wait_for_output("the gateway to run", Duration::from_secs(20), |o| {
            o.contains("running;")
        })?;
        self.gateway_daemon = Some(d);
        Ok(())
    }

    /// Runs `nat64-ctl <args>` against this lab's gateway instance.
    pub fn ctl(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = self.gateway.cmd_net_only(nat64_ctl_bin());
        cmd.args(args).args(["--instance", &self.instance]);
        cmd.stdin(Stdio::null())
            .output()
            .context("running nat64-ctl")
    }

    /// `nat64-ctl stats display --json --all` as a map.
    pub fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let out = self.ctl(&["stats", "display", "--json", "--all"])?;
        if !out.status.success() {
            bail!(
                "stats display failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        match serde_json::from_slice(&out.stdout)? {
            serde_json::Value::Object(m) => Ok(m),
            other => bail!("stats display printed {other}"),
        }
    }

    /// The TCP sessions `session display --json` shows, without their clocks (which
    /// move between two reads of the same session).
    pub fn tcp_sessions(&self) -> Vec<serde_json::Value> {
        let out = self
            .ctl(&["session", "display", "--proto", "tcp", "--json"])
            .expect("running session display");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter()
            .map(|mut s| {
                let o = s.as_object_mut().unwrap();
                o.remove("idle_s");
                o.remove("expires_in_s");
                s
            })
            .collect()
    }

    /// Runs `f` on a thread inside the gateway's network namespace (setns moves only the
    /// calling thread, which ends with `f`).
    pub fn in_gateway_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = format!("/run/netns/{}", self.gateway.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&ns).unwrap_or_else(|e| panic!("{ns}: {e}"));
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("the thread in the gateway's namespace")
    }

    /// Names of the programs the kernel runs at TC ingress (tcx) of the gateway's `iface`.
    pub fn tcx_programs(&self, iface: &str) -> Vec<String> {
        let iface = iface.to_string();
        self.in_gateway_ns(move || {
            let (_, progs) = aya::programs::SchedClassifier::query_tcx(
                &iface,
                aya::programs::TcAttachType::Ingress,
            )
            .unwrap_or_else(|e| panic!("query_tcx {iface}: {e}"));
            progs
                .iter()
                .map(|p| p.name_as_str().unwrap_or("").to_string())
                .collect()
        })
    }

    /// The IDs of the programs on `iface`'s tcx ingress hook, as the kernel reports them.
    pub fn tcx_program_ids(&self, iface: &str) -> Vec<u32> {
        let ns = format!("/run/netns/{}", self.gateway.name);
        let iface = iface.to_string();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap_or_else(|e| panic!("{ns}: {e}"));
            // setns moves only this thread, which ends here.
            let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            let (_, progs) = aya::programs::SchedClassifier::query_tcx(
                &iface,
                aya::programs::TcAttachType::Ingress,
            )
            .unwrap_or_else(|e| panic!("query_tcx {iface}: {e}"));
            progs.iter().map(|p| p.id()).collect()
        })
        .join()
        .expect("the tcx query thread")
    }

    /// The pin of the gateway's link on `iface` for the lab's hook.
    pub fn link_pin(&self, iface: &str) -> PathBuf {
        let dir = nat64_ctl::bpffs::instance_dir(&self.instance);
        match self.hook {
            Hook::Tc => nat64_ctl::instance::tc_link_pin(&dir, iface),
            Hook::XdpTxOff => nat64_ctl::instance::link_pin(&dir, iface),
        }
    }

    /// What the kernel says of the link pinned for `iface`: its type and the name of the
    /// program on it; None when nothing is pinned there.
    pub fn pinned_link(&self, iface: &str) -> Option<(aya::programs::links::LinkType, String)> {
        let pin = self.link_pin(iface);
        if !pin.exists() {
            return None;
        }
        let link = aya::programs::links::PinnedLink::from_pin(&pin)
            .unwrap_or_else(|e| panic!("opening {}: {e}", pin.display()));
        let info = aya::programs::links::FdLink::from(link)
            .info()
            .unwrap_or_else(|e| panic!("link info of {}: {e}", pin.display()));
        let prog = aya::programs::loaded_programs()
            .filter_map(|p| p.ok())
            .find(|p| p.id() == info.program_id())
            .and_then(|p| p.name_as_str().map(String::from))
            .unwrap_or_default();
        Some((info.link_type().expect("a known link type"), prog))
    }

    pub fn counter(&self, name: &str) -> Result<u64> {
        self.stats()?
            .get(name)
            .and_then(|v| v.as_u64())
            .with_context(|| format!("no counter {name}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut d) = self.gateway_daemon.take() {
            d.stop();
        }
        // The data plane outlives nat64-ctl (pinned links and maps): take it down too.
        let _ = self.ctl(&["detach"]);
    }
}

/// A veth pair with one end in each namespace. Under [`Hook::XdpTxOff`] TX checksum
/// offload is off on both ends (XDP would rewrite the partial checksums local sockets
/// leave as if they were complete); under [`Hook::Tc`] ethtool is not touched.
fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str, hook: Hook) -> Result<()> {
    run_ok(Command::new("ip").args([
        "link", "add", a_dev, "netns", &a.name, "type", "veth", "peer", "name", b_dev, "netns",
        &b.name,
    ]))?;
    if hook == Hook::XdpTxOff {
        a.sh(&format!("ethtool -K {a_dev} tx off >/dev/null"))?;
        b.sh(&format!("ethtool -K {b_dev} tx off >/dev/null"))?;
    }
    Ok(())
}

/// Starts unbound in `ns` in the foreground with `server:` settings `server` (indented
/// lines) and any further clauses `extra`, every file under `dir`; returns once a query for
/// `probe` (a name it must answer) gets an answer from `listen`.
pub fn start_unbound(
    ns: &Netns,
    dir: &Path,
    listen: &str,
    server: &str,
    extra: &str,
    probe: &str,
) -> Result<Daemon> {
    std::fs::create_dir_all(dir)?;
    let conf = dir.join("unbound.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: {listen}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
             directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  \
             verbosity: 1\n  num-threads: 1\n  so-reuseport: no\n{server}\n\
             remote-control:\n  control-enable: no\n{extra}\n"
        ),
    )?;
    let mut cmd = ns.cmd("unbound");
    cmd.arg("-d").arg("-c").arg(&conf);
    let mut daemon = ns.spawn(cmd, "unbound")?;
    let start = Instant::now();
    loop {
        let out = ns.sh_output(
            &format!("dig +short +time=1 +tries=1 @{listen} {probe}"),
            Duration::from_secs(5),
        )?;
        if out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return Ok(daemon);
        }
        if start.elapsed() > Duration::from_secs(15) {
            daemon.stop();
            bail!(
                "unbound did not answer {probe} on {listen}:\n{}",
                daemon.output()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A directory of web content served by nginx on server4 (`192.0.2.2:80`): `index.html`
/// and `big.bin`, random bytes whose sha256 is kept. nginx stops and the directory goes
/// on drop.
pub struct Served {
    pub dir: PathBuf,
    pub sha256: String,
    _nginx: Daemon,
}

impl Served {
    pub fn start(lab: &Lab, index: &str, big_mib: u32) -> Result<Served> {
        let dir = std::env::temp_dir().join(format!("{}-www", lab.server4.name));
        let www = dir.join("www");
        std::fs::create_dir_all(&www)?;
        std::fs::write(www.join("index.html"), index)?;
        lab.server4.sh(&format!(
            "head -c {big_mib}M /dev/urandom > {}/big.bin",
            www.display()
        ))?;
        let sum = lab
            .server4
            .sh(&format!("sha256sum {}/big.bin", www.display()))?;
        let sha256 = sum.split_whitespace().next().unwrap_or("").to_string();
        let nginx = start_nginx(&lab.server4, &dir, &www, &format!("{}:80", addr::SERVER4))?;
        Ok(Served {
            dir,
            sha256,
            _nginx: nginx,
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The reference deployment's DNS: on server4 an IPv4-only DNS server authoritative for
/// `test.` (`ipv4only.test` A 192.0.2.2); on the gateway a DNS64 resolver (unbound,
/// `dns64-prefix: 64:ff9b::/96`) forwarding `test.` to it; client6 resolving through the
/// gateway. Files go under `dir`; both servers stop when the returned daemons drop.
pub fn start_reference_dns(lab: &Lab, dir: &Path) -> Result<(Daemon, Daemon)> {
    let auth = start_unbound(
        &lab.server4,
        &dir.join("auth"),
        addr::SERVER4,
        "  do-ip6: no\n  access-control: 0.0.0.0/0 allow\n  module-config: \"iterator\"\n  \
         local-zone: \"test.\" static\n  \
         local-data: \"test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 300\"\n  \
         local-data: \"ipv4only.test. 300 IN A 192.0.2.2\"",
        "",
        "ipv4only.test",
    )?;
    let dns64 = start_unbound(
        &lab.gateway,
        &dir.join("dns64"),
        addr::GW6,
        "  access-control: ::/0 allow\n  module-config: \"dns64 iterator\"\n  \
         dns64-prefix: 64:ff9b::/96\n  local-zone: \"test.\" nodefault\n  \
         domain-insecure: \"test.\"",
        &format!(
            "forward-zone:\n  name: \"test.\"\n  forward-addr: {}",
            addr::SERVER4
        ),
        "ipv4only.test",
    )?;
    lab.client6.set_resolver(addr::GW6)?;
    Ok((auth, dns64))
}
