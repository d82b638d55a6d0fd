//! Reading the binding tables of a running gateway (`nat64-ctl bib display`).
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
};

use anyhow::{Context, Result};
use aya::maps::{HashMap, Map, MapData};
use nat64_common::maps::{Bib4Entry, Bib4Key, BIB_F_STATIC, MAP_BIB4};

/// One binding, as an operator reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub proto: u8,
    pub addr4: Ipv4Addr,
    pub port4: u16,
    pub addr6: Ipv6Addr,
    pub port6: u16,
    pub is_static: bool,
}

/// Every binding of the instance whose maps are pinned under `dir`, sorted by protocol
/// and pool4 transport address.
pub fn read_pinned(dir: &Path) -> Result<Vec<Binding>> {
    let path = crate::bpffs::pin_path(dir, MAP_BIB4);
    let data = MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
    let map: HashMap<MapData, Bib4Key, Bib4Entry> = HashMap::try_from(Map::HashMap(data))
        .context("pinned binding table has an unexpected type")?;
    let mut out = Vec::new();
    for item in map.iter() {
        let (k, v) = item.context("reading the binding table")?;
        out.push(Binding {
            proto: k.proto,
            addr4: Ipv4Addr::from(k.addr4),
            port4: k.port4,
            addr6: Ipv6Addr::from(v.addr6),
            port6: v.port6,
            is_static: v.flags & BIB_F_STATIC != 0,
        });
    }
    out.sort_by_key(|b| (b.proto, b.addr4, b.port4));
    Ok(out)
}

/// The table; `numeric` shows protocol numbers instead of names.
pub fn render_text(bindings: &[Binding], numeric: bool) -> String {
    let mut s = format!("{:<5} {:<22} {:<46} {}\n", "proto", "pool4", "ipv6", "kind");
    for b in bindings {
        s.push_str(&format!(
            "{:<5} {:<22} {:<46} {}\n",
            crate::session::proto_label(b.proto, numeric),
            format!("{}#{}", b.addr4, b.port4),
            format!("{}#{}", b.addr6, b.port6),
            if b.is_static { "static" } else { "dynamic" }
        ));
    }
    s
}

/// The bindings as JSON; `numeric` makes `proto` the protocol number.
pub fn render_json(bindings: &[Binding], numeric: bool) -> String {
    let v: Vec<serde_json::Value> = bindings
        .iter()
        .map(|b| {
            serde_json::json!({
                "proto": crate::session::proto_json(b.proto, numeric),
                "ipv4": b.addr4.to_string(), "port4": b.port4,
                "ipv6": b.addr6.to_string(), "port6": b.port6,
                "static": b.is_static,
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_forms() {
        let b = vec![Binding {
            proto: 17,
            addr4: "203.0.113.1".parse().unwrap(),
            port4: 61001,
            addr6: "2001:db8::5".parse().unwrap(),
            port6: 5000,
            is_static: false,
        }];
        let t = render_text(&b, false);
        assert!(t.lines().nth(1).unwrap().split_whitespace().eq([
            "udp",
            "203.0.113.1#61001",
            "2001:db8::5#5000",
            "dynamic"
        ]));
        let t = render_text(&b, true);
        assert_eq!(
            t.lines().nth(1).unwrap().split_whitespace().next(),
            Some("17")
        );
        assert_eq!(
            render_json(&b, false),
            r#"[{"ipv4":"203.0.113.1","ipv6":"2001:db8::5","port4":61001,"port6":5000,"proto":"udp","static":false}]"#
        );
        assert_eq!(
            render_json(&b, true),
            r#"[{"ipv4":"203.0.113.1","ipv6":"2001:db8::5","port4":61001,"port6":5000,"proto":17,"static":false}]"#
        );
    }
}
