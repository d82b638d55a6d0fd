//! nat64-ctl's command line: bad input gets one clear error line and a non-zero exit.
use std::process::Command;

use nat64_tests::{lab_available, nat64_ctl_bin, workspace_root};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(nat64_ctl_bin())
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_stdout(args: &[&str]) -> (i32, String) {
    let out = Command::new(nat64_ctl_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn attach_to_missing_interface_is_one_clear_error() {
    let (code, stderr) = run(&["attach", "nosuchif"]);
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(
        stderr.contains("nosuchif") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn attach_without_root_is_one_clear_error() {
    if !lab_available("attach_without_root_is_one_clear_error") {
        return;
    }
    // Drop to nobody: the check must come before anything touches the kernel.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(nat64_ctl_bin())
        .args(["attach", "lo"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("must run as root"), "{stderr}");
}

#[test]
fn bad_instance_name_names_the_field() {
    let (code, stderr) = run(&["stats", "display", "--instance", "../etc"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--instance") && stderr.contains("[A-Za-z0-9_-]"),
        "{stderr}"
    );
}

#[test]
fn stats_without_a_gateway_says_so() {
    let (code, stderr) = run(&["stats", "display", "--instance", "nosuchinstance"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("no gateway instance \"nosuchinstance\" is running"),
        "{stderr}"
    );
}

#[test]
fn every_runtime_command_without_a_gateway_says_so() {
    for args in [
        &["session", "display"][..],
        &["bib", "display"],
        &["bib", "add", "udp 203.0.113.1#2000 2001:db8::5#2000"],
        &["bib", "remove", "udp 203.0.113.1#2000 2001:db8::5#2000"],
        &["pool4", "display"],
        &["pool4", "add", "203.0.113.2"],
        &["pool4", "remove", "203.0.113.2"],
        &["timeouts", "display"],
        &["timeouts", "set", "--udp-timeout", "600"],
        &["blocks", "display"],
        &["blocks", "display", "--owner", "203.0.113.1:4000"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--instance", "nosuchinstance"]);
        let (code, stderr) = run(&a);
        assert_ne!(code, 0, "{args:?}");
        assert!(
            stderr.contains("no gateway instance \"nosuchinstance\" is running"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn timeouts_below_the_rfc_minimums_are_refused_by_name() {
    for (flag, value, min) in [
        ("--udp-timeout", "60", "120 s"),
        ("--tcp-est-timeout", "600", "7440 s"),
        ("--tcp-trans-timeout", "30", "240 s"),
        ("--icmp-timeout", "10", "60 s"),
    ] {
        let (code, stderr) = run(&["attach", "lo", flag, value]);
        assert_ne!(code, 0);
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(
            stderr.contains(&format!("{flag} {value}"))
                && stderr.contains(min)
                && stderr.contains("--allow-nonstandard-timeouts"),
            "{stderr}"
        );
    }
    let (code, stderr) = run(&[
        "attach",
        "lo",
        "--udp-timeout",
        "0",
        "--allow-nonstandard-timeouts",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--udp-timeout 0: must be at least 1 s"),
        "{stderr}"
    );
    let (code, stderr) = run(&["attach", "lo", "--udp-timeout", "soon"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--udp-timeout"), "{stderr}");
}

#[test]
fn a_lowest_ipv6_mtu_below_1280_is_refused_by_name() {
    // Refused while the settings are checked, before anything is loaded or attached.
    let (code, stderr) = run(&["attach", "lo", "--lowest-ipv6-mtu", "1000"]);
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim(),
        "nat64-ctl: error: --lowest-ipv6-mtu 1000: must be between 1280 (the IPv6 minimum MTU, RFC 8200 §5) and 65535"
    );
}

#[test]
fn bad_port_block_and_node_options_are_refused_by_name() {
    // Each refused while the settings are checked, before anything is loaded or attached.
    for (args, expected) in [
        (
            &["--pool4", "203.0.113.1", "--port-block-size", "2016"][..],
            "--port-block-size 2016: needs --subscribers PREFIX",
        ),
        (
            &["--pool4", "203.0.113.1", "--port-block-size", "2016", "--subscribers", "2001:db8::/58"],
            "--port-block-size 2016: pool4 has 2 tcp blocks of that size, but --subscribers 2001:db8::/58 with --subscriber-prefix-len 64 has 64 subscribers",
        ),
        (
            &["--port-block-size", "64", "--subscribers", "2001:db8::/60", "--subscriber-prefix-len", "56"],
            "--subscriber-prefix-len 56: must be between the range's /60 and 128",
        ),
        (
            &["--pool4", "203.0.113.0/30", "--node-index", "2", "--node-count", "2"],
            "--node-index 2: must be below --node-count 2 (nodes count from 0)",
        ),
        (
            &["--pool4", "203.0.113.1", "--node-index", "0", "--node-count", "2"],
            "--node-count 2: pool4 has 1 addresses, and each node needs at least one of its own",
        ),
    ] {
        let (code, stderr) = run(&[&["attach", "lo"][..], args].concat());
        assert_ne!(code, 0, "{args:?}");
        assert!(
            stderr.trim().starts_with(&format!("nat64-ctl: error: {expected}")),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn bad_icmp_error_options_are_refused_by_name() {
    // Each refused while the settings are checked, before anything is loaded or attached.
    for (args, expected) in [
        (
            &["--icmp-source6", "192.0.2.1"][..],
            "--icmp-source6 \"192.0.2.1\": not an IPv6 address",
        ),
        (
            &["--icmp-source4", "224.0.0.1"][..],
            "--icmp-source4 \"224.0.0.1\": must be a unicast address of the gateway",
        ),
        (
            &["--pool6791", "192.0.2.1/24"][..],
            "--pool6791 \"192.0.2.1/24\": host bits set (did you mean 192.0.2.0/24?)",
        ),
        (
            &["--icmp-errors-rate", "2000000"][..],
            "--icmp-errors-rate 2000000: at most 1000000 per second (0 sends none)",
        ),
        (
            &["--icmp-errors-burst", "0"][..],
            "--icmp-errors-burst 0: between 1 and 1000000 (use a rate of 0 to send no errors)",
        ),
    ] {
        let (code, stderr) = run(&[&["attach", "lo"][..], args].concat());
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(
            stderr.trim(),
            format!("nat64-ctl: error: {expected}"),
            "{args:?}"
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (code, stderr) = run(&["--log-format", "json", "attach", "nosuchif0"]);
    assert_ne!(code, 0);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let last = lines.last().expect("a log line");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("interface \"nosuchif0\" does not exist"),
        "{last}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let (code, bash) = run_stdout(&["completions", "bash"]);
    assert_eq!(code, 0);
    for sub in ["attach", "detach", "pool4", "session", "config"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let (code, zsh) = run_stdout(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(
        zsh.starts_with("#compdef nat64-ctl"),
        "{}",
        &zsh[..40.min(zsh.len())]
    );
    let (code, man) = run_stdout(&["man"]);
    assert_eq!(code, 0);
    assert!(
        man.contains(".TH nat64-ctl 8") && man.contains("detach"),
        "{man}"
    );
    let (code, attach) = run_stdout(&["man", "attach"]);
    assert_eq!(code, 0);
    assert!(
        attach.contains(".TH nat64-ctl-attach 8")
            && attach.contains("session\\-log")
            && attach.contains("metrics\\-listen"),
        "{attach}"
    );
    let (code, stderr) = run(&["man", "nosuch"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("man \"nosuch\": no such subcommand"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_config_example_is_valid() {
    let example = nat64_tests::workspace_root().join("contrib/nat64.toml");
    let file = nat64_ctl::config_file::ConfigFile::read(&example).unwrap();
    let s = file.settings().unwrap();
    assert!(!s.pool4.addresses().is_empty());
    assert!(!file.interfaces.is_empty());
    let unit = std::fs::read_to_string(nat64_tests::workspace_root().join("contrib/nat64.service"))
        .unwrap();
    assert!(
        unit.contains("ExecStart=/usr/sbin/nat64-ctl attach --config /etc/nat64/nat64.toml"),
        "{unit}"
    );
}

#[test]
fn an_xdp_mode_the_hook_would_not_use_is_refused_by_name() {
    for (args, want) in [
        (
            &["--hook", "tc", "--xdp-mode", "generic"][..],
            "--xdp-mode generic: needs --hook xdp (--hook tc attaches no XDP program)",
        ),
        (
            &["--hook", "tc", "--xdp-mode", "driver"][..],
            "--xdp-mode driver: needs --hook xdp",
        ),
        (
            &["--xdp-mode", "generic"][..],
            "--xdp-mode generic: needs --hook xdp (--hook auto attaches XDP in driver mode only",
        ),
    ] {
        let mut all = vec!["attach", "lo"];
        all.extend_from_slice(args);
        let (code, stderr) = run(&all);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let (code, stderr) = run(&["attach", "lo", "--hook", "sideways"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--hook"), "{stderr}");
}

#[test]
fn empty_tables_are_refused_by_name() {
    for flag in ["--max-sessions", "--max-bindings"] {
        let (code, stderr) = run(&["attach", "lo", flag, "0"]);
        assert_ne!(code, 0);
        assert!(
            stderr.contains(&format!("{flag} 0: a table needs at least one entry")),
            "{stderr}"
        );
    }
    let (code, stderr) = run(&["attach", "lo", "--max-sessions", "many"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--max-sessions"), "{stderr}");
    let (code, stderr) = run(&["attach", "lo", "--metrics-listen", "localhost"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--metrics-listen"), "{stderr}");
}

#[test]
fn pool4_group_options_are_checked_by_position() {
    for (args, want) in [
        (
            &["--ports", "1000-1999", "--pool4", "203.0.113.1"][..],
            "--ports 1000-1999: must follow the --pool4 it applies to",
        ),
        (
            &["--pool4", "203.0.113.1", "--proto", "tcp", "--proto", "udp"][..],
            "--proto udp: --pool4 203.0.113.1 already has a --proto",
        ),
        (
            &["--pool4", "203.0.113.1", "--proto", "tcp,gre"][..],
            "--proto \"tcp,gre\": \"gre\" is not tcp, udp or icmp",
        ),
        (
            // The second group (every protocol) overlaps the first (udp only) on udp.
            &[
                "--pool4",
                "203.0.113.1",
                "--ports",
                "1000-1999",
                "--proto",
                "udp",
                "--pool4",
                "203.0.113.1",
                "--ports",
                "1500-2500",
            ][..],
            "--pool4 203.0.113.1: udp ports 1500-2500 overlap 1000-1999, already in pool4",
        ),
    ] {
        let mut argv = vec!["attach", "lo"];
        argv.extend_from_slice(args);
        let (code, stderr) = run(&argv);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn config_file_errors_name_the_file_and_the_key() {
    let dir = std::env::temp_dir().join(format!("nat64-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, want) in [
        (
            "pool6 = \"64:ff9b::/96\"\npoool4 = [\"203.0.113.1\"]\n",
            "unknown field `poool4`",
        ),
        (
            "[[pool4]]\nprefix = \"203.0.113.300\"\n",
            "pool4[0]: --pool4 \"203.0.113.300\"",
        ),
        (
            "[[pool4]]\nprefix = \"203.0.113.1\"\n[[pool4]]\nprefix = \"203.0.113.2\"\nports = \"9-1\"\n",
            "pool4[1]: --ports \"9-1\"",
        ),
        ("ports = \"1-9\"\n", "unknown field `ports`"),
        (
            "[timeouts]\nudp = 5\n",
            "timeouts.udp = 5: is below the RFC 6146 minimum of 120 s",
        ),
        ("xdp-mode = \"fast\"\n", "xdp-mode \"fast\""),
        ("hook = \"fast\"\n", "hook \"fast\": expected auto, xdp or tc"),
    ] {
        let path = dir.join("nat64.toml");
        std::fs::write(&path, text).unwrap();
        let (code, stderr) = run(&["attach", "lo", "--config", path.to_str().unwrap()]);
        assert_ne!(code, 0, "{text}");
        assert!(
            stderr.contains(&format!("config {}", path.display())),
            "{stderr}"
        );
        assert!(stderr.contains(want), "{text}: {stderr}");
    }
    let (code, stderr) = run(&["attach", "lo", "--config", "/nonexistent.toml"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("config /nonexistent.toml: cannot read it"),
        "{stderr}"
    );
    let (code, stderr) = run(&[
        "attach",
        "lo",
        "--config",
        "x.toml",
        "--pool6",
        "64:ff9b::/96",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_explain_is_refused_with_json_rather_than_ignored() {
    let (code, stderr) = run(&["stats", "display", "--json", "--explain"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--explain") && stderr.contains("--json"),
        "{stderr}"
    );
}

#[test]
fn pins_of_another_layout_are_refused_by_path_and_detach_removes_them() {
    if !lab_available("pins_of_another_layout_are_refused_by_path_and_detach_removes_them") {
        return;
    }
    let instance = format!("clitest{}", std::process::id());
    let root = std::path::Path::new("/sys/fs/bpf/nat64").join(&instance);
    // State an older nat64-ctl left (layout v1). The check comes before anything is loaded
    // or attached, so `lo` is never touched.
    nat64_ctl::bpffs::ensure_mounted().unwrap();
    std::fs::create_dir_all(root.join("v1")).unwrap();
    // ICMP sources and pool4 given: lo has no address to take them from, and those checks
    // come first.
    let (code, stderr) = run(&[
        "attach",
        "lo",
        "--instance",
        &instance,
        "--icmp-source6",
        "2001:db8::1",
        "--icmp-source4",
        "192.0.2.1",
        "--pool4",
        "203.0.113.1",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("incompatible nat64-ctl")
            && stderr.contains(&root.join("v1").display().to_string())
            && stderr.contains("--fresh"),
        "{stderr}"
    );
    let out = Command::new(nat64_ctl_bin())
        .args(["detach", "--instance", &instance])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!root.exists(), "detach leaves {}", root.display());
}

#[test]
fn version_names_the_package_the_commit_and_the_embedded_object() {
    let (code, out) = run_stdout(&["--version"]);
    assert_eq!(code, 0, "{out}");
    // The commit checked out, when built from git (CI builds from a clone).
    let head = Command::new("git")
        .arg("-C")
        .arg(workspace_root())
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    // The object the build embedded, hashed by another implementation.
    let object = workspace_root().join("target/ebpf/bpfel-unknown-none/release/nat64");
    let sum = Command::new("sha256sum").arg(&object).output().unwrap();
    let sha = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(sha.len(), 64, "sha256sum {}: {sum:?}", object.display());
    assert_eq!(
        out.trim(),
        format!(
            "nat64-ctl {} (commit {head}, eBPF object sha256 {sha})",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(nat64_ctl::EBPF_OBJECT_SHA256, sha);
}

#[test]
fn status_of_a_missing_instance_is_one_clear_error() {
    let name = format!("nosuch-{}", std::process::id());
    for args in [
        vec!["status", "--instance", name.as_str()],
        vec!["status", "--json", "--instance", name.as_str()],
    ] {
        let out = Command::new(nat64_ctl_bin())
            .args(&args)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a status");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(
            stderr.contains(&format!("no gateway instance \"{name}\"")),
            "{stderr}"
        );
    }
    let (code, stderr) = run(&["status", "--instance", "../etc"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--instance \"../etc\""), "{stderr}");
}
