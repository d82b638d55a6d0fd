//! What contrib/ ships, checked with the real tools: systemd's own parser accepts the unit,
//! and the unit's command line with the example config gets through nat64-ctl's whole
//! validation, up to the first thing that depends on the machine (the interfaces).
use std::process::Command;

use nat64_tests::{lab_available, nat64_ctl_bin, workspace_root};

const UNIT_BINARY: &str = "/usr/local/sbin/nat64-ctl";

fn unit() -> String {
    std::fs::read_to_string(workspace_root().join("contrib/nat64.service")).unwrap()
}

/// The unit's ExecStart arguments, after the binary.
fn exec_start_args() -> Vec<String> {
    let unit = unit();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = line.split_whitespace().map(str::to_string);
    assert_eq!(words.next().as_deref(), Some(UNIT_BINARY), "{line}");
    words.collect()
}

#[test]
fn systemd_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "systemd-analyze is missing (`cargo xtask test` installs it)"
        );
        eprintln!("SKIPPED systemd_accepts_the_unit: no systemd-analyze");
        return;
    }
    // verify also checks that ExecStart's binary exists: point it at the one under test.
    let dir = std::env::temp_dir().join(format!("nat64-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nat64.service");
    let bin = nat64_ctl_bin();
    std::fs::write(&path, unit().replace(UNIT_BINARY, bin.to_str().unwrap())).unwrap();
    // --man=no: the man page is not installed here (Documentation=man:nat64-ctl(8)).
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    // Unknown keys and unparsable values are only warnings to systemd: any line fails.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_units_command_line_with_the_example_config_validates() {
    if !lab_available("the_units_command_line_with_the_example_config_validates") {
        return;
    }
    let mut args = exec_start_args();
    assert_eq!(
        args,
        ["attach", "--config", "/etc/nat64/nat64.toml"],
        "the unit's command line changed: update this test"
    );
    args[2] = workspace_root()
        .join("contrib/nat64.toml")
        .to_string_lossy()
        .into_owned();
    // In a network namespace of its own no interface but lo exists: the run gets through
    // reading and validating the whole file and stops, touching nothing, at the first
    // interface it names.
    let out = Command::new("unshare")
        .arg("--net")
        .arg(nat64_ctl_bin())
        .args(&args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let example =
        nat64_ctl::config_file::ConfigFile::read(&workspace_root().join("contrib/nat64.toml"))
            .unwrap();
    let first = example
        .interfaces
        .first()
        .expect("the example names interfaces");
    assert_eq!(
        stderr.trim(),
        format!("nat64-ctl: error: interface {first:?} does not exist"),
    );
}
