//! `cargo xtask demo`: builds the reference lab, attaches the gateway, drives real
//! traffic through it and shows what the gateway saw. Cleans up on exit, even on error.
use anyhow::{Context, Result};
use nat64_tests::{addr, lab_available, Lab};

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
    lab.start_gateway(&[])?;
    show(
        "gateway interfaces",
        &lab.gateway.sh(
            "ip -br addr show eth6; ip -br addr show eth4; ip link show eth6 | grep -o 'xdp.*'",
        )?,
    );

    let ping6 = lab
        .client6
        .sh(&format!("ping -6 -c 5 -i 0.2 {}", addr::GW6))?;
    show(&format!("client6: ping -6 {}", addr::GW6), &ping6);
    let ping4 = lab
        .server4
        .sh(&format!("ping -4 -c 5 -i 0.2 {}", addr::GW4))?;
    show(&format!("server4: ping -4 {}", addr::GW4), &ping4);

    let out = lab.ctl(&["stats", "display", "--explain"])?;
    show(
        "nat64-ctl stats display --explain",
        &String::from_utf8_lossy(&out.stdout),
    );
    let daemon = lab.gateway_daemon.as_mut().context("gateway")?;
    daemon.stop();
    show("nat64-ctl log", &daemon.output());
    println!("\nLab torn down.");
    Ok(())
}
