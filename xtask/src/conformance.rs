//! The check behind CONFORMANCE.md: a requirement marked done must name the tests that prove
//! it, and every test a row names must exist. Run by `cargo xtask test` before anything is
//! built (a stale reference fails in a second, not after the lab tests), and by this
//! module's own unit test on the real file.
//!
//! A table takes part when its header has a `Status` and a `Proof` column. Status begins
//! with `done`, `partly` or `not`. Every backticked span in Proof is a reference, one of
//!
//! - `path/to/file.rs::name`: the file has a `#[test]` function `name`, declares it with
//!   `lab_test!(name, …)`, or has a row `name` in its fixture table (`fixtures! { … }`,
//!   each row a line `name => …` that the macro makes the tests `name::xdp` and
//!   `name::tc` of).
//!
//! Paths are relative to the workspace root. Plain text beside the references (what a
//! test shows, why a row is only partly done) is free.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The file, at the workspace root.
pub const FILE: &str = "CONFORMANCE.md";

/// What the statement's check found, for the step's message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: usize,
    pub done: usize,
    pub references: usize,
}

/// Checks CONFORMANCE.md under `root`: an error lists every bad row.
pub fn check_file(root: &Path) -> Result<Summary> {
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let (summary, problems) = check(&text, |p| std::fs::read_to_string(root.join(p)).ok());
    if !problems.is_empty() {
        bail!(
            "{FILE}: {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    if summary.done == 0 {
        bail!("{FILE}: no table with Status and Proof columns and a row marked done");
    }
    Ok(summary)
}

/// Checks `markdown`, reading the files its references name through `read` (a path
/// relative to the workspace root → its text, None if there is no such file). Returns
/// what it saw and one message per problem, each naming the line and the reference.
pub fn check(markdown: &str, read: impl Fn(&str) -> Option<String>) -> (Summary, Vec<String>) {
    let mut summary = Summary::default();
    let mut problems = Vec::new();
    // (status column, proof column) of the table the current line belongs to.
    let mut columns: Option<(usize, usize)> = None;
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if !line.starts_with('|') {
            columns = None;
            i += 1;
            continue;
        }
        if columns.is_none() {
            // A table starts: its header, then the |---| separator.
            let header = cells(line);
            let find = |name: &str| header.iter().position(|c| c.eq_ignore_ascii_case(name));
            let is_table = lines.get(i + 1).is_some_and(|l| is_separator(l));
            columns = match (is_table, find("status"), find("proof")) {
                (true, Some(s), Some(p)) => Some((s, p)),
                // Some other table: its rows are not requirements.
                (true, _, _) => Some((usize::MAX, usize::MAX)),
                (false, _, _) => {
                    i += 1;
                    continue;
                }
            };
            i += 2;
            continue;
        }
        let (status_col, proof_col) = columns.unwrap();
        if status_col == usize::MAX {
            i += 1;
            continue;
        }
        let n = i + 1;
        let row = cells(line);
        summary.rows += 1;
        let (Some(status), Some(proof)) = (row.get(status_col), row.get(proof_col)) else {
            problems.push(format!(
                "line {n}: {} cells, the header has Status in column {} and Proof in column {}",
                row.len(),
                status_col + 1,
                proof_col + 1
            ));
            i += 1;
            continue;
        };
        let word = status
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let done = match word.as_str() {
            "done" => true,
            "partly" | "not" => false,
            _ => {
                problems.push(format!(
                    "line {n}: status {status:?} does not begin with done, partly or not"
                ));
                false
            }
        };
        let refs = backticked(proof);
        if done {
            summary.done += 1;
            if refs.is_empty() {
                problems.push(format!(
                    "line {n}: marked done but names no test (a `file.rs::test` reference)"
                ));
            }
        }
        // A reference in a row that is not done must be real too: it says what is proved.
        for r in refs {
            summary.references += 1;
            if let Err(why) = resolve(r, &read) {
                problems.push(format!("line {n}: `{r}`: {why}"));
            }
        }
        i += 1;
    }
    (summary, problems)
}

/// The cells of a table line, trimmed (a cell may not hold a `|`).
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').map(str::trim).collect()
}

fn is_separator(line: &str) -> bool {
    let l = line.trim();
    l.starts_with('|') && l.contains('-') && l.chars().all(|c| "|-: ".contains(c))
}

/// The spans between backticks.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Whether reference `r` names a test or fixture row that exists.
fn resolve(r: &str, read: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
    let Some((path, name)) = r.split_once("::") else {
        return Err("not a reference: expected `path/file.rs::test`".into());
    };
    if !path.ends_with(".rs") || path.starts_with('/') || path.contains("..") {
        return Err(format!(
            "{path:?} is not a .rs file path relative to the workspace root"
        ));
    }
    let Some(src) = read(path) else {
        return Err(format!("no file {path}"));
    };
    if name.starts_with('"') {
        return Err(
            "a fixture row is named by its identifier in the table, `file.rs::row_name`, not by its description".into(),
        );
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{name:?} is not a function name"));
    }
    match test_fn(&src, name) {
        FnFound::Test => Ok(()),
        FnFound::NotATest => Err(format!("{path}: fn {name} is not a #[test]")),
        FnFound::Missing if fixture_row(&src, name) => Ok(()),
        FnFound::Missing => Err(format!("{path} has no fn or fixture row {name}")),
    }
}

/// Whether the fixture table of `src` (the body of its `fixtures! {` invocation, up to the
/// `}` that closes it at the start of a line) has the row `name`: a line `name => …`.
fn fixture_row(src: &str, name: &str) -> bool {
    let Some(at) = src.find("\nfixtures! {") else {
        return false;
    };
    src[at + 1..]
        .lines()
        .skip(1)
        .take_while(|line| *line != "}")
        .any(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(" =>"))
        })
}

#[derive(Debug, PartialEq, Eq)]
enum FnFound {
    Test,
    NotATest,
    Missing,
}

/// Whether `src` has `fn name` and whether the attributes above it include `#[test]`, or
/// declares it with `lab_test!(name, …)`, which makes the test once per hook.
fn test_fn(src: &str, name: &str) -> FnFound {
    if src.match_indices("lab_test!(").any(|(at, m)| {
        src[at + m.len()..]
            .trim_start()
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with(','))
    }) {
        return FnFound::Test;
    }
    let lines: Vec<&str> = src.lines().collect();
    let mut found = FnFound::Missing;
    for (i, line) in lines.iter().enumerate() {
        if !declares_fn(line, name) {
            continue;
        }
        // Attributes and comments sit between #[test] and the fn.
        let is_test = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
            .any(|l| l == "#[test]");
        if is_test {
            return FnFound::Test;
        }
        found = FnFound::NotATest;
    }
    found
}

/// Whether `line` declares `fn name` (not `fn name_longer`).
fn declares_fn(line: &str, name: &str) -> bool {
    let decl = format!("fn {name}");
    line.match_indices(&decl).any(|(at, _)| {
        let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = line[at + decl.len()..].chars().next();
        before_ok && matches!(after, Some('(') | Some('<'))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_lab_test_macro_declares_its_test() {
        let src = "nat64_tests::lab_test!(curl_works, |hook| {\n});\nfn helper() {}\n\
                   lab_test!(\n    long_name,\n    |hook| {});\n";
        assert_eq!(test_fn(src, "long_name"), FnFound::Test);
        assert_eq!(test_fn(src, "curl_works"), FnFound::Test);
        assert_eq!(test_fn(src, "curl"), FnFound::Missing);
        assert_eq!(test_fn(src, "helper"), FnFound::NotATest);
    }

    const FIXTURES: &str = r#"
#[test]
fn real_test() {}

/// A helper, not a test.
fn helper() {}

#[test]
#[ignore = "needs root"]
fn attributed_test() {}

fn rows(hook: Hook) -> Fixture {
    match hook {
        udp_6to4_outside => Fixture { what: "udp 6to4 outside", ..ROW },
    }
}

fixtures! { hook;
udp_6to4_redirect => redirected(
    "udp 6to4 redirect",
    udp_from_client(5000, 53, P),
);
// A comment between rows.
icmpv6_error_port_unreachable_1_4_to_3_3 => Fixture {
    after: &["udp_6to4_redirect"],
    ..error_64("icmpv6 error port unreachable 1/4 → 3/3", (1, 4, [0; 4]), (3, 3, [0; 4]))
};
}

macro_rules! after_the_table {
udp_6to4_after => 1;
}
"#;

    fn files() -> HashMap<&'static str, String> {
        HashMap::from([("tests/tests/t.rs", FIXTURES.to_string())])
    }

    fn run(table: &str) -> (Summary, Vec<String>) {
        let files = files();
        check(table, |p| files.get(p).cloned())
    }

    const HEADER: &str =
        "| RFC § | Level | Requirement | Status | Proof |\n| --- | --- | --- | --- | --- |\n";

    #[test]
    fn good_references_resolve() {
        let table = format!(
            "{HEADER}\
             | 1 | MUST | a | done | `tests/tests/t.rs::real_test` |\n\
             | 2 | MUST | b | done: both ways | `tests/tests/t.rs::attributed_test`, `tests/tests/t.rs::udp_6to4_redirect` |\n\
             | 3 | SHOULD | c | done | `tests/tests/t.rs::icmpv6_error_port_unreachable_1_4_to_3_3` |\n\
             | 4 | MAY | d | not: no option | none |\n\
             | 5 | MUST | e | partly (IPv4 only) | `tests/tests/t.rs::real_test` |\n"
        );
        let (summary, problems) = run(&table);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            summary,
            Summary {
                rows: 5,
                done: 3,
                references: 5
            }
        );
    }

    #[test]
    fn every_bogus_reference_is_reported_with_its_line() {
        let table = format!(
            "intro\n\n{HEADER}\
             | 1 | MUST | no such test | done | `tests/tests/t.rs::no_such_test` |\n\
             | 2 | MUST | a helper | done | `tests/tests/t.rs::helper` |\n\
             | 3 | MUST | no such row | done | `tests/tests/t.rs::udp_6to4_redirected` |\n\
             | 4 | MUST | no such file | done | `tests/tests/gone.rs::real_test` |\n\
             | 5 | MUST | nothing named | done | the lab shows it |\n\
             | 6 | MUST | a prefix of a name | done | `tests/tests/t.rs::real` |\n\
             | 7 | MUST | partly, but a bad reference | partly | `tests/tests/t.rs::gone` |\n\
             | 8 | MUST | bad status | maybe | `tests/tests/t.rs::real_test` |\n\
             | 9 | MUST | not a reference | done | `real_test` |\n\
             | 10 | MUST | a row by its description | done | `tests/tests/t.rs::\"udp 6to4 redirect\"` |\n\
             | 11 | MUST | a prefix of a row | done | `tests/tests/t.rs::udp_6to4` |\n\
             | 12 | MUST | a row outside the table | done | `tests/tests/t.rs::udp_6to4_outside` |\n\
             | 13 | MUST | a row-like line after the table | done | `tests/tests/t.rs::udp_6to4_after` |\n"
        );
        let (summary, problems) = run(&table);
        let lines: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "line 11", "line 12",
                "line 13", "line 14", "line 15", "line 16", "line 17"
            ],
            "{problems:#?}"
        );
        assert!(
            problems[0].contains("has no fn or fixture row no_such_test"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("fn helper is not a #[test]"),
            "{}",
            problems[1]
        );
        assert!(problems[2].contains("has no fn or fixture row udp_6to4_redirected"));
        assert!(problems[3].contains("no file tests/tests/gone.rs"));
        assert!(problems[4].contains("names no test"));
        assert!(problems[5].contains("has no fn or fixture row real"));
        assert!(problems[6].contains("has no fn or fixture row gone"));
        assert!(problems[7].contains("does not begin with done, partly or not"));
        assert!(problems[8].contains("not a reference"));
        assert!(problems[9].contains("named by its identifier"));
        for p in &problems[10..] {
            assert!(p.contains("has no fn or fixture row"), "{p}");
        }
        assert_eq!(summary.rows, 13);
    }

    #[test]
    fn tables_without_status_and_proof_are_not_requirements() {
        let table = "| Check | 6→4 | 4→6 |\n| --- | --- | --- |\n| IHL | - | `nowhere.rs::x` |\n";
        let (summary, problems) = run(table);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(summary.rows, 0);
    }

    #[test]
    fn fn_declarations_match_whole_names() {
        assert!(declares_fn("fn udp_6to4() {", "udp_6to4"));
        assert!(declares_fn("    pub fn f<T>(x: T) {}", "f"));
        assert!(!declares_fn("fn udp_6to4_zero() {", "udp_6to4"));
        assert!(!declares_fn("fn xudp() {", "udp"));
    }

    /// The real statement: every test it names exists.
    #[test]
    fn the_conformance_statement_names_only_real_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let summary = check_file(root).unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("{FILE}: {summary:?}");
        assert!(summary.done > 0 && summary.references >= summary.done);
    }
}
