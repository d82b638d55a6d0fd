//! `nat64-ctl attach --config FILE`: every `attach` option as a TOML key, same names
//! without the dashes' leading `--`:
//!
//! ```toml
//! interfaces = ["eth6", "eth4"]
//! instance = "default"
//! hook = "auto"                     # auto | xdp | tc
//! xdp-mode = "auto"                 # auto | driver | generic (with hook = "xdp")
//! bpf-log-level = "warn"
//! max-sessions = 262144
//! max-bindings = 65536
//! metrics-listen = "127.0.0.1:9464" # Prometheus /metrics (default: none)
//! session-log = "/var/log/nat64/sessions.jsonl"   # or "-" for stdout (default: none)
//! pool6 = "64:ff9b::/96"
//! allow-nonglobal-ipv4 = false
//! bib = ["udp 203.0.113.1#5000 2001:db8::5#5000"]
//! address-dependent-filtering = false
//! lowest-ipv6-mtu = 1280             # IPv4 DF=0 packets larger than this become IPv6 fragments
//!
//! [[pool4]]                         # one table per `--pool4` group
//! prefix = "203.0.113.1"            # ADDR or ADDR/LEN
//! ports = "61001-65535"             # default 61001-65535
//! proto = ["tcp", "udp", "icmp"]    # default all three
//!
//! [[pool4]]
//! prefix = "198.51.100.0/30"
//! ports = "1024-65535"
//! proto = ["udp"]
//!
//! [timeouts]                        # seconds
//! udp = 300
//! tcp-est = 7440
//! tcp-trans = 240
//! icmp = 60
//! allow-nonstandard = false
//! ```
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and every
//! error names the file and the key.
// The file's keys are `options::AttachOptions`, the same struct the command line parses.
pub use crate::options::{AttachOptions as ConfigFile, Pool4Table};

#[cfg(test)]
mod tests {
    use super::*;
    use nat64_common::timeouts::Timeouts;

    #[test]
    fn a_full_file() {
        let c = ConfigFile::parse(
            r#"
interfaces = ["eth6", "eth4"]
instance = "edge"
hook = "xdp"
xdp-mode = "generic"
max-sessions = 1048576
pool6 = "64:ff9b:1::/48"
bib = ["udp 203.0.113.1#5000 2001:db8::5#5000"]
address-dependent-filtering = true
[[pool4]]
prefix = "203.0.113.1"
ports = "7000-7999"
[[pool4]]
prefix = "198.51.100.0/30"
proto = ["udp"]
[timeouts]
udp = 30
allow-nonstandard = true
"#,
        )
        .unwrap();
        assert_eq!(c.interfaces, ["eth6", "eth4"]);
        assert_eq!(c.instance.as_deref(), Some("edge"));
        assert_eq!(c.hook, Some(crate::hook::Hook::Xdp));
        assert_eq!((c.max_sessions, c.max_bindings), (Some(1 << 20), None));
        let s = c.settings().unwrap();
        assert_eq!(s.pool4.counts(), [1, 3, 1, 0]);
        assert_eq!(s.pool4.0[0][0].port_lo, 7000);
        assert_eq!(s.pool4.0[1][1].port_lo, 61001);
        assert_eq!(s.static_bib.len(), 1);
        assert!(s.address_dependent_filtering);
        assert_eq!(s.timeouts.udp_s, 30);
        assert_eq!(s.timeouts.tcp_est_s, 7440);
    }

    #[test]
    fn icmp_error_keys() {
        let s = ConfigFile::parse(
            r#"
icmp-source6 = "2001:db8:6::1"
icmp-source4 = "192.0.2.1"
pool6791 = "198.51.100.0/28"
icmp-errors-rate = 10
icmp-errors-burst = 2
filtering-icmp = true
"#,
        )
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(s.icmp.source6, Some("2001:db8:6::1".parse().unwrap()));
        assert_eq!(s.icmp.source4, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(s.icmp.pool6791, Some("198.51.100.0/28".parse().unwrap()));
        assert_eq!((s.icmp.rate, s.icmp.burst), (10, 2));
        assert!(s.icmp.filtering_icmp);
        let c = s.gateway_config();
        assert_eq!((c.pool6791, c.pool6791_len), ([198, 51, 100, 0], 28));
        assert_eq!(c.icmp_src4, [192, 0, 2, 1]);
        assert_ne!(c.flags & nat64_common::maps::CONFIG_F_FILTERING_ICMP, 0);
        // Defaults: the pool is the ICMPv4 source alone; Linux's rate and burst.
        let d = ConfigFile::parse(r#"icmp-source4 = "192.0.2.9""#)
            .unwrap()
            .settings()
            .unwrap();
        let c = d.gateway_config();
        assert_eq!((c.pool6791, c.pool6791_len), ([192, 0, 2, 9], 32));
        assert_eq!((c.icmp_rate, c.icmp_burst), (1000, 50));
        assert_eq!(c.flags & nat64_common::maps::CONFIG_F_FILTERING_ICMP, 0);
        let err = |t: &str| {
            ConfigFile::parse(t)
                .unwrap()
                .settings()
                .unwrap_err()
                .to_string()
        };
        for (text, start) in [
            (
                r#"icmp-source6 = "192.0.2.1""#,
                r#"icmp-source6 "192.0.2.1": not an IPv6 address"#,
            ),
            (
                r#"icmp-source6 = "ff02::1""#,
                r#"icmp-source6 "ff02::1": must be a unicast"#,
            ),
            (
                r#"icmp-source4 = "224.0.0.1""#,
                r#"icmp-source4 "224.0.0.1": must be a unicast"#,
            ),
            (
                r#"pool6791 = "198.51.100.1/24""#,
                r#"pool6791 "198.51.100.1/24": host bits set"#,
            ),
            (r#"pool6791 = "x""#, r#"pool6791 "x": not an IPv4"#),
            (
                "icmp-errors-rate = 2000000",
                "icmp-errors-rate 2000000: at most",
            ),
            ("icmp-errors-burst = 0", "icmp-errors-burst 0: between 1"),
        ] {
            let e = err(text);
            assert!(e.starts_with(start), "{text}: {e}");
        }
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        let s = ConfigFile::parse("").unwrap().settings().unwrap();
        assert_eq!(s.timeouts, Timeouts::DEFAULT);
        assert_eq!(s.pool4.counts(), [0; 4]);
        assert!(!s.address_dependent_filtering);
    }

    #[test]
    fn errors_name_the_key() {
        let e = ConfigFile::parse("pool5 = \"x\"").unwrap_err().to_string();
        assert!(e.contains("pool5"), "{e}");
        let e = ConfigFile::parse("[timeouts]\nudpp = 3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("udpp"), "{e}");
        let e = ConfigFile::parse("ports = \"1-9\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ports"), "{e}");
        let e = ConfigFile::parse("[[pool4]]\nports = \"1-9\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefix"), "{e}");
        let pool4_err = |t: &str| {
            ConfigFile::parse(t)
                .unwrap()
                .settings()
                .unwrap_err()
                .to_string()
        };
        let e = pool4_err("[[pool4]]\nprefix = \"203.0.113.1\"\nports = \"9-1\"");
        assert!(e.starts_with("pool4[0]: --ports \"9-1\""), "{e}");
        let e = pool4_err("[[pool4]]\nprefix = \"203.0.113.1\"\nproto = [\"sctp\"]");
        assert!(e.starts_with("pool4[0]: --proto \"sctp\""), "{e}");
        let e = pool4_err(
            "[[pool4]]\nprefix = \"203.0.113.1\"\n[[pool4]]\nprefix = \"203.0.113.1\"\nproto = [\"tcp\"]",
        );
        assert_eq!(
            e,
            "pool4 203.0.113.1: tcp ports 61001-65535 overlap 61001-65535, already in pool4"
        );
        let e = pool4_err("lowest-ipv6-mtu = 1200");
        assert_eq!(
            e,
            "lowest-ipv6-mtu = 1200: must be between 1280 (the IPv6 minimum MTU, RFC 8200 §5) and 65535"
        );
        assert_eq!(
            ConfigFile::parse("lowest-ipv6-mtu = 1400")
                .unwrap()
                .settings()
                .unwrap()
                .lowest_ipv6_mtu,
            1400
        );
        let e = ConfigFile::parse("pool6 = \"nonsense\"")
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pool6: "), "{e}");
        let e = ConfigFile::parse("[timeouts]\ntcp-trans = 10")
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("timeouts.tcp-trans = 10: is below the RFC 6146 minimum of 240 s")
                && e.contains("timeouts.allow-nonstandard = true"),
            "{e}"
        );
        let e = ConfigFile::parse("bib = [\"udp nonsense\"]")
            .unwrap()
            .settings()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bib: "), "{e}");
    }
}
