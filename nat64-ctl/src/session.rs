//! The session table of a running gateway, as an operator reads it
//! (`nat64-ctl session display`).
use std::{
    collections::HashMap,
    net::{Ipv4Addr, Ipv6Addr},
};

use anyhow::Result;
use nat64_common::{
    maps::{Bib4Key, SESSION_F_FROM_V4, SESSION_KIND_FLOW},
    tcp, timeouts,
};

use crate::{
    tables::Tables,
    wire::{proto_name, PROTO_ICMP, PROTO_TCP},
};

/// One session: the IPv6 view (host and the destination under pool6) and the IPv4 view
/// (pool4 transport address and the peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub proto: u8,
    pub addr6: Ipv6Addr,
    pub port6: u16,
    pub remote6: Ipv6Addr,
    pub addr4: Ipv4Addr,
    pub port4: u16,
    pub remote4: Ipv4Addr,
    pub remote_port: u16,
    /// TCP only.
    pub tcp_state: Option<&'static str>,
    /// The `TCP_*` code behind `tcp_state` (`--numeric`).
    pub tcp_state_code: u8,
    pub opened_by_ipv4: bool,
    /// Seconds since the last packet that refreshed it (to within a second).
    pub idle_s: u64,
    /// Seconds until the sweeper deletes it if nothing arrives.
    pub expires_in_s: u64,
}

/// The sessions of the instance, sorted by protocol and pool4 transport address. Sessions
/// whose binding vanished between the two reads are skipped.
pub fn read(tables: &Tables, proto: Option<u8>, now_ns: u64) -> Result<Vec<Session>> {
    let cfg = tables.gateway_config()?;
    let bib: HashMap<Bib4Key, _> = tables.read_bib4()?.into_iter().collect();
    let mut out = Vec::new();
    for (k, e) in tables.read_sessions()? {
        if k.kind != SESSION_KIND_FLOW || proto.is_some_and(|p| p != k.proto) {
            continue;
        }
        let Some(b) = bib.get(&Bib4Key {
            addr4: k.addr4,
            port4: k.port4,
            proto: k.proto,
            _pad: 0,
        }) else {
            continue;
        };
        let idle = now_ns.saturating_sub(e.last_seen_ns);
        let life = timeouts::lifetime_ns(&cfg.timeouts, k.proto, e.tcp_state)
            + timeouts::REFRESH_GRANULARITY_NS;
        out.push(Session {
            proto: k.proto,
            addr6: Ipv6Addr::from(b.addr6),
            port6: b.port6,
            // A remote the data plane translated is always embeddable; the flag that allowed
            // non-global addresses may have changed since, hence embed without the check.
            remote6: Ipv6Addr::from(cfg.pool6.embed(k.remote4)),
            addr4: Ipv4Addr::from(k.addr4),
            port4: k.port4,
            remote4: Ipv4Addr::from(k.remote4),
            remote_port: k.remote_port,
            tcp_state: (k.proto == PROTO_TCP).then(|| tcp::state_name(e.tcp_state)),
            tcp_state_code: e.tcp_state,
            opened_by_ipv4: e.flags & SESSION_F_FROM_V4 != 0,
            idle_s: idle / timeouts::NS_PER_S,
            expires_in_s: life.saturating_sub(idle) / timeouts::NS_PER_S,
        });
    }
    out.sort_by_key(|s| (s.proto, s.addr4, s.port4, s.remote4, s.remote_port));
    Ok(out)
}

impl Session {
    /// The destination port the IPv6 host uses: for ICMP echo its own identifier (the
    /// IPv4 side's identifier is the pool4 one).
    pub fn remote_port6(&self) -> u16 {
        if self.proto == PROTO_ICMP {
            self.port6
        } else {
            self.remote_port
        }
    }
}

fn endpoint6(a: Ipv6Addr, port: u16, proto: u8) -> String {
    if proto == PROTO_ICMP {
        format!("{a}#id{port}")
    } else {
        format!("[{a}]:{port}")
    }
}

fn endpoint4(a: Ipv4Addr, port: u16, proto: u8) -> String {
    if proto == PROTO_ICMP {
        format!("{a}#id{port}")
    } else {
        format!("{a}:{port}")
    }
}

/// The table; `numeric` shows protocol numbers and TCP state codes instead of names
/// (for scripts that match on them).
pub fn render_text(sessions: &[Session], numeric: bool) -> String {
    let mut s = format!(
        "{:<5} {:<46} {:<46} {:<22} {:<22} {:<19} {:>7} {:>8}\n",
        "proto",
        "ipv6 source",
        "ipv6 destination",
        "pool4",
        "ipv4 peer",
        "state",
        "idle",
        "expires"
    );
    for x in sessions {
        s.push_str(&format!(
            "{:<5} {:<46} {:<46} {:<22} {:<22} {:<19} {:>6}s {:>7}s\n",
            proto_label(x.proto, numeric),
            endpoint6(x.addr6, x.port6, x.proto),
            endpoint6(x.remote6, x.remote_port6(), x.proto),
            endpoint4(x.addr4, x.port4, x.proto),
            endpoint4(x.remote4, x.remote_port, x.proto),
            match (x.tcp_state, numeric) {
                (None, _) => "-".to_string(),
                (Some(_), true) => x.tcp_state_code.to_string(),
                (Some(name), false) => name.to_string(),
            },
            x.idle_s,
            x.expires_in_s,
        ));
    }
    s.push_str(&format!("{} sessions\n", sessions.len()));
    s
}

/// [`proto_label`] for JSON: `"tcp"` or, with `numeric`, `6`.
pub fn proto_json(p: u8, numeric: bool) -> serde_json::Value {
    if numeric {
        p.into()
    } else {
        proto_name(p).into()
    }
}

/// `tcp` or, with `numeric`, `6`.
pub fn proto_label(p: u8, numeric: bool) -> String {
    if numeric {
        p.to_string()
    } else {
        proto_name(p).to_string()
    }
}

/// The sessions as JSON; `numeric` makes `proto` the protocol number and `tcp_state` the
/// state code, as in the text form.
pub fn render_json(sessions: &[Session], numeric: bool) -> String {
    let v: Vec<serde_json::Value> = sessions
        .iter()
        .map(|x| {
            serde_json::json!({
                "proto": proto_json(x.proto, numeric),
                "ipv6": x.addr6.to_string(), "port6": x.port6,
                "ipv6_destination": x.remote6.to_string(), "port6_destination": x.remote_port6(),
                "pool4": x.addr4.to_string(), "port4": x.port4,
                "ipv4_peer": x.remote4.to_string(), "peer_port": x.remote_port,
                "tcp_state": match (x.tcp_state, numeric) {
                    (Some(_), true) => x.tcp_state_code.into(),
                    (state, _) => serde_json::Value::from(state),
                },
                "opened_by": if x.opened_by_ipv4 { "ipv4" } else { "ipv6" },
                "idle_s": x.idle_s,
                "expires_in_s": x.expires_in_s,
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::maps::PROTO_UDP;

    fn sample(proto: u8) -> Session {
        Session {
            proto,
            addr6: "2001:db8:6::2".parse().unwrap(),
            port6: 40000,
            remote6: "64:ff9b::c000:202".parse().unwrap(),
            addr4: "203.0.113.1".parse().unwrap(),
            port4: 61002,
            remote4: "192.0.2.2".parse().unwrap(),
            remote_port: 80,
            tcp_state: (proto == PROTO_TCP).then_some("ESTABLISHED"),
            tcp_state_code: if proto == PROTO_TCP {
                tcp::TCP_ESTABLISHED
            } else {
                0
            },
            opened_by_ipv4: false,
            idle_s: 3,
            expires_in_s: 7438,
        }
    }

    #[test]
    fn text_shows_both_views_and_the_count() {
        let t = render_text(&[sample(PROTO_TCP), sample(PROTO_UDP)], false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "tcp",
                "[2001:db8:6::2]:40000",
                "[64:ff9b::c000:202]:80",
                "203.0.113.1:61002",
                "192.0.2.2:80",
                "ESTABLISHED",
                "3s",
                "7438s"
            ]
        );
        // --numeric: protocol number and state code.
        let t = render_text(&[sample(PROTO_TCP)], true);
        let cols: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            (cols[0], cols[5]),
            ("6", tcp::TCP_ESTABLISHED.to_string().as_str())
        );
        assert!(lines[2].split_whitespace().nth(5) == Some("-"));
        let mut icmp = sample(PROTO_ICMP);
        icmp.port6 = 28394;
        icmp.remote_port = 61530;
        icmp.port4 = 61530;
        let t = render_text(&[icmp], false);
        let cols: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cols[1..5],
            [
                "2001:db8:6::2#id28394",
                "64:ff9b::c000:202#id28394",
                "203.0.113.1#id61530",
                "192.0.2.2#id61530"
            ]
        );
        assert_eq!(lines[3], "2 sessions");
    }

    #[test]
    fn json_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&[sample(PROTO_UDP)], false)).unwrap();
        assert_eq!(v[0]["port4"], 61002);
        assert_eq!(v[0]["ipv4_peer"], "192.0.2.2");
        assert_eq!(v[0]["tcp_state"], serde_json::Value::Null);
        assert_eq!(v[0]["opened_by"], "ipv6");
        // --numeric --json: the same numbers as the text form.
        let tcp = sample(PROTO_TCP);
        let v: serde_json::Value =
            serde_json::from_str(&render_json(std::slice::from_ref(&tcp), true)).unwrap();
        assert_eq!(v[0]["proto"], 6);
        assert_eq!(v[0]["tcp_state"], tcp.tcp_state_code);
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&[sample(PROTO_UDP)], true)).unwrap();
        assert_eq!(
            (&v[0]["proto"], &v[0]["tcp_state"]),
            (&17.into(), &serde_json::Value::Null)
        );
    }
}
