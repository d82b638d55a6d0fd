//! `cargo xtask demo`: builds the reference lab, attaches the gateway, drives real
//! traffic through it and shows what the gateway saw. Cleans up on exit, even on error.
use anyhow::{Context, Result};
use nat64_tests::{
    addr::{self, POOL4, SERVER4_IN_POOL6},
    lab_available,
    programs::{udp_client, UDP_ECHO_SERVER},
    Lab,
};

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
    let args = [
        "--pool6",
        "64:ff9b:1::/48",
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

    let ping6 = lab
        .client6
        .sh(&format!("ping -6 -c 3 -i 0.2 {SERVER4_IN_POOL6}"))?;
    show(
        &format!(
            "client6 (IPv6 only): ping -6 {SERVER4_IN_POOL6}  (192.0.2.2 through the gateway)"
        ),
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
    let dir = std::env::temp_dir().join(format!("{}-www", lab.server4.name));
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(
        www.join("index.html"),
        "<h1>Hello from an IPv4-only server, via nat64</h1>\n",
    )?;
    let _nginx = nat64_tests::start_nginx(&lab.server4, &dir, &www, "192.0.2.2:80")?;
    let page = lab.client6.sh(&format!(
        "curl -sS --max-time 10 http://[{SERVER4_IN_POOL6}]/"
    ))?;
    show(
        &format!("client6: curl http://[{SERVER4_IN_POOL6}]/"),
        &page,
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
