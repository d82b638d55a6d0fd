//! Settings declared once for both the command line and the config file: each field's
//! clap attributes give its flag and help, its serde attributes its TOML key, and its
//! validation runs on the one struct whichever way it was given. Errors name the setting
//! as the user wrote it ([`Source`]).
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use nat64_common::timeouts::{self, Timeouts};
use serde::{de::Error as _, Deserialize, Deserializer};

use crate::{
    config::{self, Settings},
    hook::Hook,
    loader::{AttachMode, BpfLogLevel},
    pool4::{self, Pool4Group, Pool4Slots},
};

/// The clap group of the settings that say what to translate and how: a config file says
/// them all, so `--config` conflicts with the group (each setting's own attribute puts it
/// there, or their struct's, TIMEOUTS; `every_attach_setting_is_classified` keeps new ones
/// from slipping by).
pub const TRANSLATION: &str = "translation";
/// The group clap makes of `TimeoutOptions` (named after the struct): translation
/// settings too, kept in their own group because other commands flatten them alone.
pub const TIMEOUTS: &str = "TimeoutOptions";

/// Where a setting came from: errors name it as the user wrote it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--udp-timeout 60`
    CommandLine,
    /// `[timeouts]` `udp = 60`
    File,
}

/// Session lifetimes, in seconds (RFC 6146 defaults when not given).
#[derive(clap::Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOptions {
    /// UDP session lifetime (default 300, RFC minimum 120).
    #[arg(long, value_name = "SECS")]
    #[serde(rename = "udp")]
    pub udp_timeout: Option<u32>,
    /// TCP established session lifetime (default and RFC minimum 7440).
    #[arg(long, value_name = "SECS")]
    #[serde(rename = "tcp-est")]
    pub tcp_est_timeout: Option<u32>,
    /// TCP transitory (opening, closing, reset) session lifetime (default and minimum 240).
    #[arg(long, value_name = "SECS")]
    #[serde(rename = "tcp-trans")]
    pub tcp_trans_timeout: Option<u32>,
    /// ICMP query session lifetime (default and minimum 60).
    #[arg(long, value_name = "SECS")]
    #[serde(rename = "icmp")]
    pub icmp_timeout: Option<u32>,
    /// Accept lifetimes below the RFC minimums (tests, or operators who know why).
    #[arg(long)]
    #[serde(default, rename = "allow-nonstandard")]
    pub allow_nonstandard_timeouts: bool,
}

impl TimeoutOptions {
    /// No lifetime given (`allow_nonstandard_timeouts` alone changes nothing).
    pub fn is_empty(&self) -> bool {
        self.udp_timeout.is_none()
            && self.tcp_est_timeout.is_none()
            && self.tcp_trans_timeout.is_none()
            && self.icmp_timeout.is_none()
    }

    /// `base` with the given values replaced, validated; an error names the flag or the
    /// key (`--udp-timeout 60: …`, `timeouts.udp = 60: …`).
    pub fn apply(&self, base: Timeouts, source: Source) -> Result<Timeouts> {
        let t = Timeouts {
            udp_s: self.udp_timeout.unwrap_or(base.udp_s),
            tcp_est_s: self.tcp_est_timeout.unwrap_or(base.tcp_est_s),
            tcp_trans_s: self.tcp_trans_timeout.unwrap_or(base.tcp_trans_s),
            icmp_s: self.icmp_timeout.unwrap_or(base.icmp_s),
        };
        timeouts::validate(&t, self.allow_nonstandard_timeouts).map_err(|e| {
            let value = match e.field {
                "udp" => t.udp_s,
                "tcp_est" => t.tcp_est_s,
                "tcp_trans" => t.tcp_trans_s,
                _ => t.icmp_s,
            };
            // nat64-common names each lifetime by its Timeouts field without `_s`: the
            // flag is `--<field>-timeout`, the key `timeouts.<field>`.
            let field = e.field.replace('_', "-");
            match source {
                Source::CommandLine => anyhow!("--{field}-timeout {value}: {}", e.reason),
                Source::File => anyhow!(
                    "timeouts.{field} = {value}: {}",
                    e.reason.replace(
                        "--allow-nonstandard-timeouts",
                        "timeouts.allow-nonstandard = true"
                    )
                ),
            }
        })?;
        Ok(t)
    }
}

/// Every `attach` setting, for the command line and the config file alike: the clap
/// attributes give the flag and its help, the serde ones the TOML key (the flag without
/// `--`; `[[pool4]]` tables and `[timeouts]` where the file has structure the flags lack).
/// Settings only the command line has (`--config`, `--fresh`, `--pool4`'s positional
/// groups) are `serde(skip)`: a file naming them is refused as an unknown key.
#[derive(clap::Args, Debug, Deserialize)]
#[command(group(clap::ArgGroup::new(TRANSLATION).multiple(true)))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AttachOptions {
    /// Interfaces to attach to (both the IPv6 and the IPv4 side).
    #[arg(required_unless_present = "config")]
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Kernel hook on each interface: XDP, TC ingress, or auto: XDP in driver mode on
    /// hardware NICs whose driver has native XDP, TC on veth and other virtual devices
    /// [default: auto].
    #[arg(long, value_enum)]
    #[serde(default, deserialize_with = "de_hook")]
    pub hook: Option<Hook>,
    /// XDP attach mode, for --hook xdp [default: auto].
    #[arg(long, value_enum)]
    #[serde(default, deserialize_with = "de_xdp_mode")]
    pub xdp_mode: Option<AttachMode>,
    /// Name of this gateway instance (pins live in /sys/fs/bpf/nat64/<instance>/)
    /// [default: default].
    #[arg(long)]
    pub instance: Option<String>,
    /// Level of the log lines the XDP program itself emits [default: warn].
    #[arg(long, value_enum)]
    #[serde(default, deserialize_with = "de_bpf_log_level")]
    pub bpf_log_level: Option<BpfLogLevel>,
    /// Log every session and binding created or deleted, one JSON line each, to FILE
    /// (appended) or `-` (standard output).
    #[arg(long, value_name = "FILE|-")]
    pub session_log: Option<String>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(default, deserialize_with = "de_metrics_listen")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Remove the instance's earlier state first (pinned maps and links), instead of
    /// taking it over: every binding and session is lost.
    #[arg(long)]
    #[serde(skip)]
    pub fresh: bool,
    /// Size of the session table: the most flows at once [default: 262144].
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<u32>,
    /// Size of the binding table: the most IPv6 transport addresses with a pool4 one
    /// at once [default: 65536].
    #[arg(long, value_name = "N")]
    pub max_bindings: Option<u32>,
    /// Read every setting from a TOML file (keys named like the options; see README).
    /// Interfaces, --instance, --hook, --xdp-mode, --bpf-log-level, --session-log,
    /// --metrics-listen and the table sizes given on the command line win over the file;
    /// the translation options cannot be mixed with it.
    #[arg(long, value_name = "FILE", conflicts_with_all = [TRANSLATION, TIMEOUTS])]
    #[serde(skip)]
    pub config: Option<std::path::PathBuf>,
    // What to translate and how.
    /// RFC 6052 prefix that IPv4 addresses are embedded in (/32, /40, /48, /56, /64 or /96).
    #[arg(long, default_value = config::DEFAULT_POOL6, group = TRANSLATION)]
    #[serde(default = "default_pool6")]
    pub pool6: String,
    /// Translate non-global IPv4 addresses (RFC 1918, documentation ranges, ...) under the
    /// well-known prefix 64:ff9b::/96, which RFC 6052 §3.1 forbids.
    #[arg(long, group = TRANSLATION)]
    #[serde(default)]
    pub allow_nonglobal_ipv4: bool,
    /// IPv4 address, or ADDR/LEN block, owned by the gateway for translated flows
    /// (repeatable). `--ports` and `--proto` after it apply to it alone.
    #[arg(long = "pool4", group = TRANSLATION)]
    #[serde(skip)]
    pub pool4: Vec<String>,
    /// Port range (and ICMP identifier range) dynamic bindings take from the --pool4
    /// before it [default: 61001-65535].
    #[arg(long, value_name = "FIRST-LAST", group = TRANSLATION)]
    #[serde(skip)]
    pub ports: Vec<String>,
    /// Protocols the --pool4 before it serves, e.g. tcp,udp [default: tcp,udp,icmp].
    #[arg(long, value_name = "PROTOS", group = TRANSLATION)]
    #[serde(skip)]
    pub proto: Vec<String>,
    /// Static binding `PROTO IPV4#PORT IPV6#PORT` (repeatable), e.g.
    /// "udp 203.0.113.1#5000 2001:db8::5#5000".
    #[arg(long = "bib", group = TRANSLATION)]
    #[serde(default)]
    pub bib: Vec<String>,
    /// Address-dependent filtering: an IPv4 host may reach a dynamic binding only after
    /// its IPv6 owner has sent to that host (default: endpoint-independent filtering).
    #[arg(long, group = TRANSLATION)]
    #[serde(default)]
    pub address_dependent_filtering: bool,
    /// An IPv4 packet without DF whose translation is larger than this goes out as IPv6
    /// fragments of at most this size (RFC 7915 §4): the smallest MTU of the IPv6 paths.
    #[arg(long, value_name = "BYTES", default_value_t = nat64_common::maps::LOWEST_IPV6_MTU_DEFAULT, group = TRANSLATION)]
    #[serde(default = "default_lowest_ipv6_mtu")]
    pub lowest_ipv6_mtu: u32,
    /// Source of the ICMPv6 errors the gateway sends (Time Exceeded, Packet Too Big,
    /// address unreachable) [default: the first global IPv6 address of the interfaces].
    #[arg(long, value_name = "ADDR", group = TRANSLATION)]
    pub icmp_source6: Option<String>,
    /// Source of the ICMPv4 errors the gateway sends (Time Exceeded, Fragmentation Needed,
    /// administratively prohibited) [default: the interfaces' first IPv4 address outside
    /// private space].
    #[arg(long, value_name = "ADDR", group = TRANSLATION)]
    pub icmp_source4: Option<String>,
    /// RFC 6791 pool: IPv4 sources (ADDR or ADDR/LEN) for translated ICMPv6 errors from
    /// IPv6 routers with no IPv4-embedded address [default: the --icmp-source4 address].
    #[arg(long, value_name = "PREFIX", group = TRANSLATION)]
    pub pool6791: Option<String>,
    /// ICMP errors the gateway may send per second, per CPU (token bucket, RFC 4443 §2.4 f);
    /// 0 sends none [default: 1000].
    #[arg(long, value_name = "N", group = TRANSLATION)]
    pub icmp_errors_rate: Option<u32>,
    /// Token bucket size: errors that may go out at once [default: 50].
    #[arg(long, value_name = "N", group = TRANSLATION)]
    pub icmp_errors_burst: Option<u32>,
    /// Answer IPv4 packets that address-dependent filtering drops with ICMP Destination
    /// Unreachable, administratively prohibited (default: drop silently).
    #[arg(long, group = TRANSLATION)]
    #[serde(default)]
    pub filtering_icmp: bool,
    /// Deterministic port blocks (RFC 7422): every subscriber of --subscribers gets this
    /// many ports (and ICMP identifiers) of pool4 per protocol, computed from its prefix,
    /// and its bindings take ports from that block alone.
    #[arg(long, value_name = "N", group = TRANSLATION)]
    pub port_block_size: Option<u16>,
    /// The IPv6 range whose subscribers get a port block each, numbered in address order
    /// (needs --port-block-size).
    #[arg(long, value_name = "PREFIX", group = TRANSLATION)]
    pub subscribers: Option<String>,
    /// Length of one subscriber's prefix inside --subscribers, e.g. 56 or 64 [default: 64].
    #[arg(long, value_name = "LEN", group = TRANSLATION)]
    pub subscriber_prefix_len: Option<u8>,
    /// How a subscriber gets its port block: `deterministic` (RFC 7422: computed from its
    /// prefix, every subscriber of --subscribers has one) or `dynamic` (a free block on its
    /// first binding, the same block number for every protocol, given back two sweep
    /// passes after its last binding went; --subscribers then defaults to every source)
    /// [default: deterministic].
    #[arg(long, value_name = "HOW", group = TRANSLATION)]
    pub port_block_allocation: Option<crate::blocks::Allocation>,
    /// This gateway's place among --node-count gateways sharing one pool4 (0-based): it
    /// takes the node-index-th of node-count equal runs of the pool4 addresses.
    #[arg(long, value_name = "I", requires = "node_count", group = TRANSLATION)]
    pub node_index: Option<u32>,
    /// How many gateways share the pool4 given (each with its own --node-index).
    #[arg(long, value_name = "N", requires = "node_index", group = TRANSLATION)]
    pub node_count: Option<u32>,
    #[command(flatten)]
    #[serde(default)]
    pub timeouts: TimeoutOptions,
    /// `[[pool4]]`: the file's form of `--pool4 PREFIX [--ports A-B] [--proto P,...]`.
    #[arg(skip)]
    #[serde(default, rename = "pool4")]
    pub pool4_tables: Vec<Pool4Table>,
}

/// `[[pool4]]`: what `--pool4 PREFIX [--ports A-B] [--proto P,...]` says on the command line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pool4Table {
    pub prefix: String,
    pub ports: Option<String>,
    pub proto: Option<Vec<String>>,
}

fn default_pool6() -> String {
    config::DEFAULT_POOL6.to_string()
}

fn default_lowest_ipv6_mtu() -> u32 {
    nat64_common::maps::LOWEST_IPV6_MTU_DEFAULT
}

/// A clap value enum from its TOML string, refused in the words the flag's own values use
/// (`hook "fast": expected auto, xdp or tc`).
fn value_enum<'de, D: Deserializer<'de>, T: clap::ValueEnum>(
    d: D,
    key: &str,
) -> Result<Option<T>, D::Error> {
    let s = String::deserialize(d)?;
    T::from_str(&s, true).map(Some).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        let list = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        D::Error::custom(format!("{key} {s:?}: expected {list}"))
    })
}

fn de_hook<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hook>, D::Error> {
    value_enum(d, "hook")
}

fn de_xdp_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AttachMode>, D::Error> {
    value_enum(d, "xdp-mode")
}

fn de_bpf_log_level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BpfLogLevel>, D::Error> {
    value_enum(d, "bpf-log-level")
}

fn de_metrics_listen<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map(Some)
        .map_err(|e| D::Error::custom(format!("metrics-listen {s:?}: {e}")))
}

impl AttachOptions {
    /// A config file (`attach --config`, `config apply`, SIGHUP); errors name the file and
    /// the key.
    pub fn read(path: &Path) -> Result<AttachOptions> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("config {}: cannot read it", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow!("config {}: {e:#}", path.display()))
    }

    pub fn parse(text: &str) -> Result<AttachOptions> {
        // toml's message names the key and the line.
        toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().trim_end()))
    }

    /// A config file's translation settings, validated; errors name the key.
    pub fn settings(&self) -> Result<Settings> {
        self.settings_from(Source::File, None)
    }

    /// The translation settings, validated; errors name the flag or the key as `source`
    /// has it. `matches` (the attach subcommand's) say where each --pool4/--ports/--proto
    /// stood on the command line; a file has `[[pool4]]` tables instead.
    pub fn settings_from(
        &self,
        source: Source,
        matches: Option<&clap::ArgMatches>,
    ) -> Result<Settings> {
        let pool4 = match source {
            Source::CommandLine => {
                let at = |id: &str, values: &[String]| -> Vec<(usize, String)> {
                    matches
                        .and_then(|m| m.indices_of(id))
                        .map(|ix| ix.zip(values.iter().cloned()).collect())
                        .unwrap_or_default()
                };
                let groups = pool4::groups_from_args(
                    &at("pool4", &self.pool4),
                    &at("ports", &self.ports),
                    &at("proto", &self.proto),
                )?;
                Pool4Slots::from_groups(&groups, "--pool4")?
            }
            Source::File => self.pool4_table_slots()?,
        };
        // The parsers name the flag; in a file the key goes first.
        let key = |k: &str, e: anyhow::Error| match source {
            Source::CommandLine => e,
            Source::File => anyhow!("{k}: {e:#}"),
        };
        let bib_name = match source {
            Source::CommandLine => "--bib",
            Source::File => "bib",
        };
        let (names, node_names) = match source {
            Source::CommandLine => (&crate::blocks::Names::CLI, ("--node-index", "--node-count")),
            Source::File => (&crate::blocks::Names::FILE, ("node-index", "node-count")),
        };
        let pool4 = match (self.node_index, self.node_count) {
            (None, None) => pool4,
            (Some(i), Some(n)) => pool4.node_slice(i, n, node_names)?,
            (Some(i), None) => bail!("{} {i}: needs {}", node_names.0, node_names.1),
            (None, Some(n)) => bail!("{} {n}: needs {}", node_names.1, node_names.0),
        };
        let s = Settings {
            pool6: config::parse_pool6(&self.pool6).map_err(|e| key("pool6", e))?,
            allow_nonglobal: self.allow_nonglobal_ipv4,
            pool4,
            secret: config::random_secret()?,
            static_bib: self
                .bib
                .iter()
                .map(|b| b.parse().map_err(|e| anyhow!("{bib_name}: {e:#}")))
                .collect::<Result<_>>()?,
            timeouts: self.timeouts.apply(Timeouts::DEFAULT, source)?,
            address_dependent_filtering: self.address_dependent_filtering,
            lowest_ipv6_mtu: self.lowest_ipv6_mtu,
            icmp: config::IcmpSettings::from_options(
                config::IcmpOptions {
                    source6: self.icmp_source6.as_deref(),
                    source4: self.icmp_source4.as_deref(),
                    pool6791: self.pool6791.as_deref(),
                    rate: self.icmp_errors_rate,
                    burst: self.icmp_errors_burst,
                    filtering_icmp: self.filtering_icmp,
                },
                match source {
                    Source::CommandLine => "--",
                    Source::File => "",
                },
            )?,
            port_blocks: crate::blocks::PortBlocks::from_options(
                self.port_block_size,
                self.subscribers.as_deref(),
                self.subscriber_prefix_len,
                self.port_block_allocation,
                names,
            )?,
        };
        if let Some(b) = &s.port_blocks {
            b.check(&s.pool4, names)?;
        }
        if source == Source::File {
            config::validate_lowest_ipv6_mtu(s.lowest_ipv6_mtu, "lowest-ipv6-mtu =")?;
        }
        s.validate()?;
        Ok(s)
    }

    fn pool4_table_slots(&self) -> Result<Pool4Slots> {
        let mut groups = Vec::new();
        for (i, t) in self.pool4_tables.iter().enumerate() {
            let field = format!("pool4[{i}]");
            let g = Pool4Group::parse(
                std::slice::from_ref(&t.prefix),
                t.ports.as_deref(),
                t.proto.as_ref().map(|p| p.join(",")).as_deref(),
            )
            .map_err(|e| anyhow!("{field}: {e:#}"))?;
            groups.push(g);
        }
        Pool4Slots::from_groups(&groups, "pool4")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_errors_name_the_flag_or_the_key() {
        let o = TimeoutOptions {
            tcp_trans_timeout: Some(10),
            ..TimeoutOptions::default()
        };
        let cli = format!(
            "{:#}",
            o.apply(Timeouts::DEFAULT, Source::CommandLine).unwrap_err()
        );
        assert!(
            cli.starts_with("--tcp-trans-timeout 10: is below the RFC 6146 minimum of 240 s")
                && cli.contains("--allow-nonstandard-timeouts"),
            "{cli}"
        );
        let file = format!(
            "{:#}",
            o.apply(Timeouts::DEFAULT, Source::File).unwrap_err()
        );
        assert!(
            file.starts_with("timeouts.tcp-trans = 10: is below the RFC 6146 minimum of 240 s")
                && file.contains("timeouts.allow-nonstandard = true")
                && !file.contains("--"),
            "{file}"
        );
        let allowed = TimeoutOptions {
            allow_nonstandard_timeouts: true,
            ..o
        };
        let t = allowed.apply(Timeouts::DEFAULT, Source::File).unwrap();
        assert_eq!((t.tcp_trans_s, t.udp_s), (10, Timeouts::DEFAULT.udp_s));
    }

    #[test]
    fn the_same_struct_reads_flags_and_keys() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            t: TimeoutOptions,
        }
        let cli =
            Cli::try_parse_from(["x", "--udp-timeout", "200", "--allow-nonstandard-timeouts"])
                .unwrap()
                .t;
        let file: TimeoutOptions = toml::from_str("udp = 200\nallow-nonstandard = true").unwrap();
        for o in [cli, file] {
            assert_eq!(o.udp_timeout, Some(200));
            assert!(o.allow_nonstandard_timeouts && o.tcp_est_timeout.is_none());
        }
        let e = toml::from_str::<TimeoutOptions>("udp-timeout = 200").unwrap_err();
        assert!(e.to_string().contains("unknown field `udp-timeout`"), "{e}");
    }

    /// The keys a struct accepts, as serde lists them when refusing an unknown one.
    fn keys_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(table: &str) -> Vec<String> {
        let text = format!("{table}\nnot-a-key-of-any-table = 1\n");
        let e = toml::from_str::<T>(&text).unwrap_err().to_string();
        let list = e
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("no key list in {e}"));
        list.split(", ")
            .map(|k| k.trim().trim_matches('`').to_string())
            .collect()
    }

    #[test]
    fn the_readme_and_the_example_config_cover_every_setting() {
        use clap::Args;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let example = std::fs::read_to_string(root.join("contrib/nat64.toml")).unwrap();
        let attach = AttachOptions::augment_args(clap::Command::new("attach"));
        let flags: Vec<String> = attach
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        assert!(flags.contains(&"--udp-timeout".to_string()), "{flags:?}");
        let mentions = |text: &str, word: &str| {
            text.match_indices(word).any(|(i, _)| {
                !text[i + word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            })
        };
        for flag in &flags {
            assert!(mentions(&readme, flag), "README.md never mentions {flag}");
        }
        // The option table names only real flags.
        let table = readme
            .split("| option | meaning |")
            .nth(1)
            .expect("README.md has the option table")
            .split("\n\n")
            .next()
            .unwrap();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split(" | ").next().unwrap();
            for word in first.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                if word.starts_with("--") {
                    assert!(
                        flags.iter().any(|f| f == word),
                        "README.md's table: {word} is no attach flag"
                    );
                }
            }
        }
        // Every key, set or commented out, in contrib/nat64.toml.
        let key_in_example = |key: &str| {
            example.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} ="))
                    || l.starts_with(&format!("{key} "))
                    || l.starts_with(&format!("[{key}]"))
                    || l.starts_with(&format!("[[{key}]]"))
            })
        };
        let top = keys_of::<AttachOptions>("");
        assert!(
            top.contains(&"timeouts".to_string()) && top.contains(&"pool4".to_string()),
            "{top:?}"
        );
        for (table, keys) in [
            ("", top),
            ("timeouts", keys_of::<TimeoutOptions>("")),
            ("pool4", keys_of::<Pool4Table>("prefix = \"192.0.2.1\"")),
        ] {
            for key in keys {
                assert!(
                    key_in_example(&key),
                    "contrib/nat64.toml lacks {table}{}{key}",
                    if table.is_empty() { "" } else { "." }
                );
            }
        }
    }

    /// The attach command as clap builds it from `AttachOptions`.
    fn attach_command() -> clap::Command {
        use clap::Args;
        AttachOptions::augment_args(clap::Command::new("attach").no_binary_name(true))
    }

    /// Every setting either says what to translate (in the TRANSLATION group, which a
    /// config file replaces whole) or is one the command line may give beside a file;
    /// a new setting must be put in one or the other.
    #[test]
    fn every_attach_setting_is_classified() {
        const BESIDE_A_FILE: &[&str] = &[
            "interfaces",
            "hook",
            "xdp_mode",
            "instance",
            "bpf_log_level",
            "session_log",
            "metrics_listen",
            "fresh",
            "max_sessions",
            "max_bindings",
            "config",
        ];
        let mut cmd = attach_command();
        cmd.build();
        let members = |id: &str| -> Vec<String> {
            cmd.get_groups()
                .find(|g| g.get_id() == id)
                .unwrap_or_else(|| panic!("group {id} exists"))
                .get_args()
                .map(|a| a.to_string())
                .collect()
        };
        let mut group = members(TRANSLATION);
        group.extend(members(TIMEOUTS));
        // clap's own --help is no setting.
        for arg in cmd.get_arguments().filter(|a| a.get_id() != "help") {
            let id = arg.get_id().as_str();
            let in_group = group.iter().any(|g| g == id);
            let beside = BESIDE_A_FILE.contains(&id);
            assert!(
                in_group != beside,
                "--{id}: {} (a setting is in the translation group or may go beside --config, not both, not neither)",
                if in_group { "in both" } else { "in neither" }
            );
        }
        assert!(group.len() >= 19, "{group:?}");
    }

    #[test]
    fn a_translation_setting_beside_config_is_refused_naming_both() {
        for flag in [
            ["--udp-timeout", "60"],
            ["--pool4", "192.0.2.1"],
            ["--pool6", "64:ff9b::/96"],
        ] {
            let err = attach_command()
                .try_get_matches_from(["eth0", "--config", "x.toml", flag[0], flag[1]])
                .expect_err("refused");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{flag:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("--config") && text.contains(flag[0]),
                "{text}"
            );
        }
        // What may go beside a file does.
        attach_command()
            .try_get_matches_from([
                "eth0",
                "--config",
                "x.toml",
                "--hook",
                "tc",
                "--max-sessions",
                "10",
            ])
            .expect("accepted");
    }
}
