//! `attach --metrics-listen ADDR:PORT`: Prometheus text exposition at `/metrics`.
//!
//! Counters come from the kernel's per-CPU counters at scrape time; table sizes from the
//! sweeper's last pass ([`Census`]), so a scrape never walks a big table itself. The text
//! is produced by the `prometheus` crate's encoder; the HTTP side is the few lines a
//! GET needs.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use nat64_common::{maps::POOL4_PROTOS, Counter};
use prometheus::{Encoder, Gauge, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::{
    census::{Census, SharedCensus},
    manage,
    pool4::Pool4Slots,
    stats, tables,
    wire::proto_name,
};

/// Where a kernel counter goes: packets and bytes received and translated per direction
/// and protocol, drops per reason, everything else under its own name.
enum Family {
    /// `received`: rx_<dir>_<proto>, else xlat_<dir>_<proto>; `bytes`: the `_bytes` twin.
    Traffic {
        received: bool,
        bytes: bool,
        dir: &'static str,
        proto: &'static str,
    },
    Drop(&'static str),
    Other(&'static str),
}

fn family(c: Counter) -> Family {
    let name = c.name();
    let (base, bytes) = match name.strip_suffix("_bytes") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let traffic = |received, dir, proto| Family::Traffic {
        received,
        bytes,
        dir,
        proto,
    };
    if base == "xlat_hairpin" {
        return traffic(false, "hairpin", "tcp_udp");
    }
    if let Some((dir, proto)) = base.strip_prefix("xlat_").and_then(|r| r.split_once('_')) {
        return traffic(false, dir, proto);
    }
    // rx_ipv6, rx_ipv4 and rx_other are per family, not per direction: under their names.
    if let Some((dir @ ("6to4" | "4to6"), proto)) =
        base.strip_prefix("rx_").and_then(|r| r.split_once('_'))
    {
        return traffic(true, dir, proto);
    }
    match name.strip_prefix("drop_") {
        Some(reason) => Family::Drop(reason),
        None => Family::Other(name),
    }
}

/// The exposition for one scrape.
pub fn render(
    counters: &[(Counter, u64)],
    census: &Census,
    last_pass: Duration,
    slots: &Pool4Slots,
) -> Result<String> {
    let r = Registry::new();
    let traffic = |name: &str, help: &str| -> Result<IntCounterVec> {
        let v = IntCounterVec::new(Opts::new(name, help), &["direction", "proto"])?;
        r.register(Box::new(v.clone()))?;
        Ok(v)
    };
    let packets = traffic(
        "nat64_packets_total",
        "Packets translated, per direction (6to4, 4to6, hairpin) and protocol",
    )?;
    let bytes = traffic(
        "nat64_bytes_total",
        "Bytes (IP header and payload) of the packets translated, as sent",
    )?;
    let rx_packets = traffic(
        "nat64_received_packets_total",
        "Packets to pool6 (6to4) or a pool4 address (4to6), per protocol, before any check",
    )?;
    let rx_bytes = traffic(
        "nat64_received_bytes_total",
        "Bytes (IP header and payload) of the packets received for translation",
    )?;
    let drops = IntCounterVec::new(
        Opts::new(
            "nat64_drops_total",
            "Packets dropped, per reason (see `nat64-ctl stats display --explain`)",
        ),
        &["reason"],
    )?;
    r.register(Box::new(drops.clone()))?;
    for &(c, v) in counters {
        match family(c) {
            Family::Traffic {
                received,
                bytes: b,
                dir,
                proto,
            } => {
                let family = match (received, b) {
                    (false, false) => &packets,
                    (false, true) => &bytes,
                    (true, false) => &rx_packets,
                    (true, true) => &rx_bytes,
                };
                family.with_label_values(&[dir, proto]).inc_by(v)
            }
            Family::Drop(reason) => drops.with_label_values(&[reason]).inc_by(v),
            Family::Other(name) => {
                let m = prometheus::IntCounter::new(format!("nat64_{name}_total"), c.explain())?;
                m.inc_by(v);
                r.register(Box::new(m))?;
            }
        }
    }

    let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec> {
        let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
        r.register(Box::new(g.clone()))?;
        Ok(g)
    };
    let sessions = gauge(
        "nat64_sessions",
        "Live sessions per protocol at the last expiry pass",
        &["proto"],
    )?;
    let bindings = gauge(
        "nat64_bindings",
        "Bindings (BIB entries) per protocol and kind at the last expiry pass",
        &["proto", "kind"],
    )?;
    for (i, &p) in POOL4_PROTOS.iter().enumerate() {
        let proto = proto_name(p);
        sessions
            .with_label_values(&[proto])
            .set(census.sessions[i] as i64);
        bindings
            .with_label_values(&[proto, "dynamic"])
            .set(census.dynamic_bindings[i] as i64);
        bindings
            .with_label_values(&[proto, "static"])
            .set(census.static_bindings[i] as i64);
    }
    let used = gauge(
        "nat64_pool4_ports_used",
        "Ports (ICMP: identifiers) of a pool4 address bound, per protocol",
        &["address", "proto"],
    )?;
    let total = gauge(
        "nat64_pool4_ports",
        "Ports (ICMP: identifiers) a pool4 address lends to dynamic bindings, per protocol",
        &["address", "proto"],
    )?;
    for (i, list) in slots.0.iter().enumerate() {
        let proto = proto_name(POOL4_PROTOS[i]);
        for s in list {
            let addr = std::net::Ipv4Addr::from(s.addr4).to_string();
            total
                .with_label_values(&[&addr, proto])
                .add(i64::from(s.port_hi - s.port_lo) + 1);
            let n = census.pool4_used.get(&(s.addr4, i)).copied().unwrap_or(0);
            used.with_label_values(&[&addr, proto]).set(n as i64);
        }
    }
    let pass = Gauge::new(
        "nat64_expiry_pass_seconds",
        "How long the last expiry pass over the session table took",
    )?;
    pass.set(last_pass.as_secs_f64());
    r.register(Box::new(pass))?;

    let mut out = Vec::new();
    TextEncoder::new().encode(&r.gather(), &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// Binds the listener (errors name the option), before the gateway is attached.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))
}

/// Serves `/metrics` until the task is dropped.
pub async fn serve(listener: TcpListener, dir: PathBuf, census: SharedCensus) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let dir = dir.clone();
        let census = census.clone();
        tokio::spawn(async move {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            // The request head; a scraper sends nothing after it.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => req.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let line = String::from_utf8_lossy(&req);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, ctype, body) = if !line.starts_with("GET ") {
                (
                    "405 Method Not Allowed",
                    "text/plain",
                    "GET only\n".to_string(),
                )
            } else if path != "/metrics" {
                ("404 Not Found", "text/plain", "see /metrics\n".to_string())
            } else {
                match scrape(&dir, &census) {
                    Ok(text) => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text),
                    Err(e) => (
                        "500 Internal Server Error",
                        "text/plain",
                        format!("{e:#}\n"),
                    ),
                }
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}

fn scrape(dir: &std::path::Path, census: &SharedCensus) -> Result<String> {
    let pin = crate::bpffs::pin_path(dir, stats::STATS_MAP);
    let counters = stats::read(&stats::open_pinned(&pin)?)?;
    let slots = manage::pool4_slots(&tables::Tables::open(dir)?)?;
    let (census, pass) = census.lock().map(|g| g.clone()).unwrap_or_default();
    render(&counters, &census, pass, &slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::maps::Pool4Slot;

    #[test]
    fn counters_and_tables_as_metric_families() {
        let counters = [
            (Counter::Xlat6to4Tcp, 7),
            (Counter::Xlat4to6IcmpError, 2),
            (Counter::XlatHairpin, 1),
            (Counter::XlatHairpinBytes, 60),
            (Counter::Xlat6to4TcpBytes, 700),
            (Counter::Rx4to6Udp, 4),
            (Counter::Rx4to6UdpBytes, 400),
            (Counter::RxIpv6, 9),
            (Counter::DropNoBib4, 3),
            (Counter::SessionCreated, 5),
        ];
        let mut census = Census {
            sessions: [4, 1, 0],
            dynamic_bindings: [2, 1, 0],
            static_bindings: [0, 1, 0],
            ..Census::default()
        };
        census.pool4_used.insert(([203, 0, 113, 1], 1), 2);
        let mut slots = Pool4Slots::default();
        slots.0[1].push(Pool4Slot {
            addr4: [203, 0, 113, 1],
            port_lo: 1000,
            port_hi: 1999,
        });
        let text = render(&counters, &census, Duration::from_millis(250), &slots).unwrap();
        for line in [
            "nat64_packets_total{direction=\"6to4\",proto=\"tcp\"} 7",
            "nat64_packets_total{direction=\"4to6\",proto=\"icmp_error\"} 2",
            "nat64_packets_total{direction=\"hairpin\",proto=\"tcp_udp\"} 1",
            "nat64_bytes_total{direction=\"hairpin\",proto=\"tcp_udp\"} 60",
            "nat64_bytes_total{direction=\"6to4\",proto=\"tcp\"} 700",
            "nat64_received_packets_total{direction=\"4to6\",proto=\"udp\"} 4",
            "nat64_received_bytes_total{direction=\"4to6\",proto=\"udp\"} 400",
            "nat64_rx_ipv6_total 9",
            "nat64_drops_total{reason=\"no_bib4\"} 3",
            "nat64_session_created_total 5",
            "# TYPE nat64_session_created_total counter",
            "nat64_sessions{proto=\"tcp\"} 4",
            "nat64_bindings{kind=\"static\",proto=\"udp\"} 1",
            "nat64_pool4_ports{address=\"203.0.113.1\",proto=\"udp\"} 1000",
            "nat64_pool4_ports_used{address=\"203.0.113.1\",proto=\"udp\"} 2",
            "nat64_expiry_pass_seconds 0.25",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        // Every counter lands somewhere, and no byte count poses as a protocol.
        let all: Vec<(Counter, u64)> = Counter::ALL.iter().map(|&c| (c, 1)).collect();
        let text = render(&all, &census, Duration::ZERO, &slots).unwrap();
        assert!(!text.contains("_bytes\""), "{text}");
        assert!(text.contains("nat64_received_packets_total{direction=\"6to4\",proto=\"icmp\"} 1"));
    }
}
