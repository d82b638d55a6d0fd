//! Settings declared once for both the command line and the config file: each field's
//! clap attributes give its flag and help, its serde attributes its TOML key, and its
//! validation runs on the one struct whichever way it was given. Errors name the setting
//! as the user wrote it ([`Source`]).
use anyhow::{anyhow, Result};
use nat64_common::timeouts::{self, Timeouts};
use serde::Deserialize;

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
}
