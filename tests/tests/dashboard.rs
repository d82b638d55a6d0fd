//! contrib/grafana/nat64.json queries only what the exporter serves: every metric name in
//! its PromQL, every label it matches or groups by, and every label value it matches
//! exactly, is checked against an exposition rendered by the exporter's own code
//! (`nat64_ctl::metrics::render`) with every counter set, so the two cannot drift apart.
use std::collections::{BTreeMap, BTreeSet};

use nat64_common::{maps::Pool4Slot, Counter};
use nat64_ctl::{census::Census, metrics, pool4::Pool4Slots};
use nat64_tests::workspace_root;

/// Labels Prometheus itself attaches to every scraped series (target labels): the
/// dashboard may use them though no exporter serves them.
const SCRAPE_LABELS: [&str; 2] = ["instance", "job"];

/// PromQL words followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// PromQL words that are never metric names: aggregations (which may put their grouping
/// clause before the parenthesis) and binary or modifier keywords.
const KEYWORDS: [&str; 17] = [
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
];

/// Metric name → label name → the values the exposition has for it.
type Families = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Every family and label the exporter serves, from one rendering with every counter,
/// a census and a pool4 slot (the per-address families only appear with one).
fn exporter_families() -> Families {
    let counters: Vec<(Counter, u64)> = Counter::ALL.iter().map(|&c| (c, 1)).collect();
    let mut census = Census::default();
    census.pool4_used.insert(([203, 0, 113, 1], 0), 1);
    let mut slots = Pool4Slots::default();
    for list in slots.0.iter_mut() {
        list.push(Pool4Slot {
            addr4: [203, 0, 113, 1],
            port_lo: 61001,
            port_hi: 65535,
        });
    }
    let text = metrics::render(
        &counters,
        &census,
        std::time::Duration::from_millis(1),
        &slots,
    )
    .unwrap();
    let mut families = Families::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.rsplit_once(' ').expect("a sample line").0;
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let family = families.entry(name.to_string()).or_default();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("label=value");
            family
                .entry(k.to_string())
                .or_default()
                .insert(v.trim_matches('"').to_string());
        }
    }
    families
}

/// What one PromQL expression refers to.
#[derive(Debug, Default, PartialEq)]
struct Refs {
    metrics: BTreeSet<String>,
    /// (metric, label, operator, value) of each matcher in a selector's braces.
    matchers: Vec<(String, String, String, String)>,
    /// Labels named in by (...) / without (...) / on (...) and the like.
    grouping: BTreeSet<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// A scanner for the PromQL subset dashboards use: functions and aggregations (a word
/// followed by `(`), grouping clauses, selectors `name{label op "value", ...}`, ranges
/// `[...]`, numbers and operators. A word that is none of these is a metric name.
fn scan(expr: &str) -> Refs {
    let chars: Vec<char> = expr.chars().collect();
    let mut refs = Refs::default();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let word = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let w = word(&mut i);
            skip_ws(&mut i);
            let next = chars.get(i).copied();
            if GROUPING.contains(&w.as_str()) {
                assert_eq!(next, Some('('), "{expr}: {w} without a label list");
                i += 1;
                loop {
                    skip_ws(&mut i);
                    match chars.get(i) {
                        Some(')') => break,
                        Some(',') => i += 1,
                        Some(&c) if is_ident_start(c) => {
                            refs.grouping.insert(word(&mut i));
                        }
                        other => panic!("{expr}: unexpected {other:?} in {w} (...)"),
                    }
                }
                i += 1;
            } else if next == Some('(') || KEYWORDS.contains(&w.as_str()) {
                // A function, an aggregation or a keyword: what follows is scanned as it
                // comes.
            } else {
                refs.metrics.insert(w.clone());
                if next == Some('{') {
                    i += 1;
                    loop {
                        skip_ws(&mut i);
                        match chars.get(i) {
                            Some('}') => break,
                            Some(',') => i += 1,
                            Some(&c) if is_ident_start(c) => {
                                let label = word(&mut i);
                                skip_ws(&mut i);
                                let op: String = chars[i..]
                                    .iter()
                                    .take_while(|c| matches!(c, '=' | '!' | '~'))
                                    .collect();
                                i += op.len();
                                skip_ws(&mut i);
                                assert_eq!(chars.get(i), Some(&'"'), "{expr}: {label}{op}");
                                i += 1;
                                let start = i;
                                while chars[i] != '"' {
                                    i += 1;
                                }
                                let value: String = chars[start..i].iter().collect();
                                i += 1;
                                refs.matchers.push((w.clone(), label, op, value));
                            }
                            other => panic!("{expr}: unexpected {other:?} in {w}{{...}}"),
                        }
                    }
                    i += 1;
                }
            }
        } else {
            i += 1;
        }
    }
    refs
}

#[test]
fn scanner_finds_metrics_matchers_and_grouping() {
    let r = scan(
        r#"8 * sum by (direction, proto) (rate(nat64_bytes_total{instance=~"$instance", reason="x"}[$__rate_interval])) / on(job) up"#,
    );
    assert_eq!(
        r.metrics,
        BTreeSet::from(["nat64_bytes_total".into(), "up".into()])
    );
    assert_eq!(
        r.grouping,
        BTreeSet::from(["direction".into(), "proto".into(), "job".into()])
    );
    assert_eq!(
        r.matchers,
        [
            (
                "nat64_bytes_total".into(),
                "instance".into(),
                "=~".into(),
                "$instance".into()
            ),
            (
                "nat64_bytes_total".into(),
                "reason".into(),
                "=".into(),
                "x".into()
            ),
        ]
    );
}

/// Every problem with one expression against the families.
fn problems(expr: &str, families: &Families) -> Vec<String> {
    let r = scan(expr);
    let mut out = Vec::new();
    if r.metrics.is_empty() {
        out.push(format!("{expr}: queries no metric"));
    }
    let has_label = |metric: &str, label: &str| {
        SCRAPE_LABELS.contains(&label)
            || families.get(metric).is_some_and(|f| f.contains_key(label))
    };
    for m in &r.metrics {
        if !families.contains_key(m) {
            out.push(format!("{expr}: the exporter serves no {m}"));
        }
    }
    for (m, label, op, value) in &r.matchers {
        if !has_label(m, label) {
            out.push(format!("{expr}: {m} has no label {label}"));
        } else if op == "=" && !SCRAPE_LABELS.contains(&label.as_str()) {
            let values = &families[m][label];
            if !values.contains(value) {
                out.push(format!(
                    "{expr}: {m}{{{label}=\"{value}\"}} never exists (values: {values:?})"
                ));
            }
        }
    }
    for label in &r.grouping {
        if !r.metrics.iter().any(|m| has_label(m, label)) {
            out.push(format!(
                "{expr}: groups by {label}, which none of {:?} has",
                r.metrics
            ));
        }
    }
    out
}

#[test]
fn every_dashboard_query_is_served_by_the_exporter() {
    let path = workspace_root().join("contrib/grafana/nat64.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let families = exporter_families();
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    let mut bad = Vec::new();
    for e in &exprs {
        bad.extend(problems(e, &families));
    }
    // Template variables: label_values(METRIC, LABEL).
    for var in dash["templating"]["list"].as_array().expect("templating") {
        let q = var["query"].as_str().expect("query");
        let args = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("unexpected template query {q}"));
        let (metric, label) = args.split_once(',').expect("METRIC, LABEL");
        let (metric, label) = (metric.trim(), label.trim());
        if !families.contains_key(metric) {
            bad.push(format!("{q}: the exporter serves no {metric}"));
        } else if !SCRAPE_LABELS.contains(&label) && !families[metric].contains_key(label) {
            bad.push(format!("{q}: {metric} has no label {label}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // The dashboard covers what it promises: throughput, drops, occupancy, pool4, expiry.
    let queried: BTreeSet<String> = exprs.iter().flat_map(|e| scan(e).metrics).collect();
    for m in [
        "nat64_packets_total",
        "nat64_bytes_total",
        "nat64_drops_total",
        "nat64_sessions",
        "nat64_bindings",
        "nat64_pool4_ports",
        "nat64_pool4_ports_used",
        "nat64_expiry_pass_seconds",
    ] {
        assert!(queried.contains(m), "the dashboard does not show {m}");
    }
    eprintln!(
        "{} dashboard queries over {} metrics checked against {} exporter families",
        exprs.len(),
        queried.len(),
        families.len()
    );
}

#[test]
fn a_drifted_query_is_caught() {
    let families = exporter_families();
    assert!(problems("rate(nat64_packets_total[5m])", &families).is_empty());
    for (expr, why) in [
        (
            "rate(nat64_packet_total[5m])",
            "serves no nat64_packet_total",
        ),
        (
            r#"nat64_drops_total{cause="x"}"#,
            "nat64_drops_total has no label cause",
        ),
        (
            r#"nat64_drops_total{reason="no_such_reason"}"#,
            "never exists",
        ),
        ("sum by (reason) (nat64_sessions)", "groups by reason"),
    ] {
        let p = problems(expr, &families);
        assert!(p.iter().any(|m| m.contains(why)), "{expr}: {p:?}");
    }
}
