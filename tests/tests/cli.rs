//! nat64-ctl's command line: bad input gets one clear error line and a non-zero exit.
use std::process::Command;

use nat64_tests::{lab_available, nat64_ctl_bin};

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
