//! What contrib/ ships, checked with the real tools: systemd's own parser accepts the unit,
//! and the unit's command line with the example config gets through nat64-ctl's whole
//! validation, up to the first thing that depends on the machine (the interfaces).
use std::process::Command;

use nat64_tests::{lab_available, nat64_ctl_bin, workspace_root};

/// Where the .deb installs nat64-ctl.
const UNIT_BINARY: &str = "/usr/sbin/nat64-ctl";

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

/// The package `cargo xtask test` built (`NAT64_DEB`), installed for the test's length:
/// purged again on drop, also when an assertion fails.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "nat64-ctl"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_installs_works_and_purges() {
    let Some(deb) = std::env::var_os("NAT64_DEB") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "NAT64_DEB is unset: `cargo xtask test` builds the package and sets it"
        );
        eprintln!("SKIPPED the_deb_installs_works_and_purges: NAT64_DEB unset (`cargo xtask package` builds it)");
        return;
    };
    if !lab_available("the_deb_installs_works_and_purges") {
        return;
    }
    // Never purge an operator's own installation.
    let before = Command::new("dpkg-query")
        .args(["--showformat=${Status}", "--show", "nat64-ctl"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&before.stdout).ends_with(" installed"),
        "nat64-ctl is already installed on this machine: remove it before running this test"
    );
    let guard = Installed;
    ok(Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));

    // The binary the unit runs, from this build.
    let version = ok(Command::new(UNIT_BINARY).arg("--version"));
    assert!(
        version.starts_with(&format!("nat64-ctl {} (commit ", env!("CARGO_PKG_VERSION")))
            && version.contains(nat64_ctl::EBPF_OBJECT_SHA256),
        "{version}"
    );
    // A man page for the command and for every subcommand, and the completions.
    let files = ok(Command::new("dpkg").args(["-L", "nat64-ctl"]));
    let help = ok(Command::new(UNIT_BINARY).arg("--help"));
    let subcommands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(|w| format!("-{w}"))
        .collect();
    assert!(subcommands.contains(&"-attach".to_string()), "{help}");
    for sub in std::iter::once("").chain(subcommands.iter().map(String::as_str)) {
        let page = format!("/usr/share/man/man8/nat64-ctl{sub}.8.gz");
        assert!(files.lines().any(|l| l == page), "{page} missing:\n{files}");
    }
    for f in [
        "/usr/share/bash-completion/completions/nat64-ctl",
        "/usr/share/zsh/vendor-completions/_nat64-ctl",
        "/usr/share/fish/vendor_completions.d/nat64-ctl.fish",
        "/usr/share/nat64/bird/nat64-gateway.conf",
        "/usr/share/nat64/bird/nat64-bgp-health",
        "/usr/share/nat64/frr/nat64-gateway.conf",
        "/usr/share/nat64/frr/nat64-bgp-health",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} missing:\n{files}");
    }
    let man = ok(Command::new("man")
        .args(["-P", "cat", "8", "nat64-ctl"])
        .env("MANWIDTH", "80"));
    assert!(man.contains("nat64-ctl") && man.contains("attach"), "{man}");

    // The installed unit, as systemd reads it, man page reference included.
    let unit = files
        .lines()
        .find(|l| l.ends_with("/systemd/system/nat64.service"))
        .unwrap_or_else(|| panic!("no nat64.service in\n{files}"))
        .to_string();
    let verify = Command::new("systemd-analyze")
        .args(["verify", &unit])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {unit}: {stderr}"
    );
    // Installing starts nothing: the unit is not enabled.
    let enabled = Command::new("systemctl")
        .args(["is-enabled", "nat64.service"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&enabled.stdout).trim(),
        "disabled",
        "{enabled:?}"
    );

    // The installed config is a conffile and parses with the real parser.
    let conffiles =
        ok(Command::new("dpkg-query").args(["--showformat=${Conffiles}", "--show", "nat64-ctl"]));
    assert!(conffiles.contains("/etc/nat64/nat64.toml"), "{conffiles}");
    let config =
        nat64_ctl::config_file::ConfigFile::read(std::path::Path::new("/etc/nat64/nat64.toml"))
            .unwrap();
    config.settings().unwrap();

    // Purge takes the config with it.
    drop(guard);
    assert!(!std::path::Path::new(UNIT_BINARY).exists());
    assert!(!std::path::Path::new("/etc/nat64/nat64.toml").exists());
}
