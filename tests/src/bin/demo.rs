//! `cargo xtask demo`: builds the reference lab, attaches the gateway, drives real
//! traffic through it and shows what the gateway saw. Cleans up on exit, even on error.
use anyhow::{Context, Result};
use nat64_tests::{
    addr::{self, POOL4},
    lab_available,
    programs::{udp_client, UDP_ECHO_SERVER},
    start_reference_dns, Lab,
};

/// server4 under the well-known prefix, as DNS64 synthesizes it.
const SERVER4_IN_POOL6: &str = "64:ff9b::c000:202";

fn main() {
    if !lab_available("demo") {
        std::process::exit(1);
    }
    if let Err(e) = run() {
        eprintln!("demo failed: {e:#}");
        std::process::exit(1);
    }
}

fn show(title: &str, text: &str) {
    println!("\n── {title} ──");
    for line in text.lines() {
        println!("   {line}");
    }
}

fn run() -> Result<()> {
    println!(
        "Building the lab: client6 (IPv6-only) ─ gateway (nat64-ctl, XDP) ─ server4 (IPv4-only)"
    );
    let mut lab = Lab::reference()?;
    let bib = format!("udp {POOL4}#6000 {}#5000", addr::CLIENT6);
    // The well-known prefix, as a real deployment would use; the lab's documentation
    // addresses are non-global, hence the explicit override RFC 6052 §3.1 asks for.
    let args = [
        "--pool6",
        "64:ff9b::/96",
        "--allow-nonglobal-ipv4",
        "--pool4",
        POOL4,
        "--bib",
        bib.as_str(),
    ];
    println!(
        "nat64-ctl attach eth6 eth4 {}",
        args.map(|a| if a.contains(' ') {
            format!("{a:?}")
        } else {
            a.to_string()
        })
        .join(" ")
    );
    lab.start_gateway(&args)?;
    show(
        "gateway interfaces",
        &lab.gateway.sh(
            "ip -br addr show eth6; ip -br addr show eth4; ip link show eth6 | grep -o 'xdp.*'",
        )?,
    );

    // DNS: an IPv4-only server authoritative for test. on server4, and a DNS64 resolver
    // (unbound, dns64-prefix 64:ff9b::/96) on the gateway that client6 uses.
    let dir = std::env::temp_dir().join(format!("{}-demo", lab.server4.name));
    let _dns = start_reference_dns(&lab, &dir)?;
    show(
        "client6: dig AAAA ipv4only.test  (A-only name, DNS64 on the gateway)",
        &lab.client6.sh("dig +noall +answer AAAA ipv4only.test")?,
    );

    let ping6 = lab.client6.sh("ping -6 -c 3 -i 0.2 ipv4only.test")?;
    show(
        "client6 (IPv6 only): ping -6 ipv4only.test  (192.0.2.2 through the gateway)",
        &ping6,
    );

    let mut cmd = lab.server4.cmd("python3");
    cmd.args(["-u", "-c", UDP_ECHO_SERVER]);
    let mut server = lab.server4.spawn(cmd, "udp-echo")?;
    server.wait_for_output(
        "the UDP echo server",
        std::time::Duration::from_secs(10),
        |o| o.contains("ready"),
    )?;
    let script = udp_client(
        addr::CLIENT6,
        5000,
        SERVER4_IN_POOL6,
        "hello from an IPv6-only host",
    );
    let reply = lab.client6.sh(&format!("python3 -c '{script}'"))?;
    show(
        &format!(
            "client6 (IPv6 only): UDP [{}]:5000 → [{SERVER4_IN_POOL6}]:7777",
            addr::CLIENT6
        ),
        &reply,
    );
    show("server4 (IPv4 only) saw", &server.output());

    // TCP through a dynamic binding: nginx on the IPv4-only server, curl on the client.
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(
        www.join("index.html"),
        "<h1>Hello from an IPv4-only server, via nat64</h1>\n",
    )?;
    std::fs::create_dir_all(dir.join("nginx"))?;
    let _nginx = nat64_tests::start_nginx(&lab.server4, &dir.join("nginx"), &www, "192.0.2.2:80")?;
    let page = lab
        .client6
        .sh("curl -sS --max-time 10 http://ipv4only.test/")?;
    show("client6: curl http://ipv4only.test/", &page);
    let out = lab.client6.sh_output(
        "curl -4 -sS --max-time 3 http://ipv4only.test/ 2>&1",
        std::time::Duration::from_secs(10),
    )?;
    show(
        "client6: curl -4 http://ipv4only.test/  (no IPv4 here: must fail)",
        &String::from_utf8_lossy(&out.stdout),
    );

    let out = lab.ctl(&["session", "display"])?;
    show(
        "nat64-ctl session display",
        &String::from_utf8_lossy(&out.stdout),
    );
    let out = lab.ctl(&["bib", "display"])?;
    show(
        "nat64-ctl bib display",
        &String::from_utf8_lossy(&out.stdout),
    );

    let out = lab.ctl(&["stats", "display", "--explain"])?;
    show(
        "nat64-ctl stats display --explain",
        &String::from_utf8_lossy(&out.stdout),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = lab.gateway_daemon.as_mut().context("gateway")?;
    daemon.stop();
    show("nat64-ctl log", &daemon.output());
    println!("\nLab torn down.");
    Ok(())
}
