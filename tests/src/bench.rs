//! `cargo xtask bench`'s pure parts: the report model (written as `bench/results.json`),
//! the statistics, `BENCHMARKS.md` rendering and the PNG charts. The measurements
//! themselves are in `src/bin/bench.rs`.
//!
//! Every section compares subjects measured in the same run; one of them is the section's
//! baseline, and each other subject's figure is also given as a ratio to it (this machine
//! is shared and noisy: absolute figures drift between runs, ratios much less).
use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Median of `xs` (mean of the middle two for an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// `value / baseline`, when both exist and the baseline is not zero.
pub fn ratio(value: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (value, baseline) {
        (Some(v), Some(b)) if b != 0.0 && v.is_finite() && b.is_finite() => Some(v / b),
        _ => None,
    }
}

/// Whether a bigger figure is better (rates) or worse (costs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// One measured line of a section: a figure per subject (absent where not measured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    pub values: BTreeMap<String, f64>,
}

impl Row {
    pub fn new(label: impl Into<String>) -> Row {
        Row {
            label: label.into(),
            values: BTreeMap::new(),
        }
    }

    pub fn with(mut self, subject: &str, value: Option<f64>) -> Row {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.values.insert(subject.to_string(), v);
        }
        self
    }

    pub fn get(&self, subject: &str) -> Option<f64> {
        self.values.get(subject).copied()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Short identifier, also the chart's file name (`bench/<id>.png`).
    pub id: String,
    pub title: String,
    /// What was measured and how (Markdown).
    pub method: String,
    pub unit: String,
    pub better: Better,
    /// Subjects in display order.
    pub subjects: Vec<String>,
    /// The subject the others are divided by; `None` when the rows have no common one.
    pub baseline: Option<String>,
    /// The subjects that are this project (e.g. nat64 on each hook): their ratios are the
    /// headlines, each in the summary and in the "behind" list.
    pub ours: Vec<String>,
    pub rows: Vec<Row>,
    /// Observations (Markdown), e.g. where and why nat64 is behind.
    pub notes: Vec<String>,
    /// Whether a chart was written for this section.
    pub chart: bool,
    /// The headline subject cannot but be behind this baseline (e.g. a floor that does
    /// less work): the notes explain the gap, no per-row "behind" list.
    #[serde(default)]
    pub inherent_gap: bool,
}

impl Section {
    /// Each headline subject's ratio to the baseline in each row: (row, subject, ratio).
    pub fn ratios(&self) -> Vec<(String, String, Option<f64>)> {
        let Some(base) = &self.baseline else {
            return Vec::new();
        };
        self.rows
            .iter()
            .flat_map(|r| {
                self.ours
                    .iter()
                    .map(|o| (r.label.clone(), o.clone(), ratio(r.get(o), r.get(base))))
            })
            .collect()
    }

    /// Whether `subject`'s figure in `row` is measurably behind the baseline's (by more
    /// than 5 %). A cost where the baseline's is zero (no retransmits at all) is behind
    /// whenever the subject's is not. Never behind without a baseline or figures.
    pub fn row_behind(&self, row: &Row, subject: &str) -> bool {
        let Some(base) = &self.baseline else {
            return false;
        };
        let (Some(v), Some(b)) = (row.get(subject), row.get(base)) else {
            return false;
        };
        match (self.better, ratio(Some(v), Some(b))) {
            (Better::Higher, Some(q)) => q < 0.95,
            (Better::Lower, Some(q)) => q > 1.05,
            (Better::Lower, None) => v > 0.0,
            (Better::Higher, None) => false,
        }
    }

    /// Whether `subject` is behind the baseline in any row (see [`Section::row_behind`]).
    pub fn is_behind(&self, subject: &str) -> bool {
        self.rows.iter().any(|r| self.row_behind(r, subject))
    }

    /// One sentence per row and headline subject that is behind the baseline (see
    /// [`Section::row_behind`]), naming the figures; none when the gap is inherent.
    pub fn behind(&self) -> Vec<String> {
        let Some(base) = self.baseline.as_ref().filter(|_| !self.inherent_gap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &self.rows {
            for o in &self.ours {
                if !self.row_behind(r, o) {
                    continue;
                }
                let (v, b) = (r.get(o), r.get(base));
                let q = ratio(v, b).map_or("—".into(), |q| format!("×{}", ratio_str(q)));
                out.push(format!(
                    "{}: {o} is behind {base} ({} vs {} {}, {q})",
                    r.label,
                    num(v.unwrap_or(f64::NAN)),
                    num(b.unwrap_or(f64::NAN)),
                    self.unit,
                ));
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub kernel: String,
    pub cpu: String,
    pub cpus: u32,
    pub memory_gib: f64,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// UTC, RFC 3339.
    pub date: String,
    pub quick: bool,
    pub machine: Machine,
    /// Wall time of the whole run.
    pub seconds: f64,
    pub sections: Vec<Section>,
    /// Parts that could not run, and why.
    pub skipped: Vec<String>,
}

/// A figure with 3 significant digits, no exponent.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn ratio_str(q: f64) -> String {
    if q >= 10.0 {
        format!("{q:.1}")
    } else {
        format!("{q:.2}")
    }
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serializes")
    }

    /// `BENCHMARKS.md`; `chart_dir` is where the charts are, relative to the file.
    pub fn markdown(&self, chart_dir: &str) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "# Benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `cargo xtask bench{}` on {} ({:.0} min run). Every figure is in \
             `bench/results.json`; re-run the command to reproduce them.\n",
            if self.quick { " --quick" } else { "" },
            self.date,
            self.seconds / 60.0
        );
        let _ = writeln!(
            s,
            "**Machine:** Linux {}, {} × {}, {:.0} GiB RAM. {}\n",
            m.kernel, m.cpus, m.cpu, m.memory_gib, m.note
        );
        let _ = writeln!(
            s,
            "Each table gives the figure of every subject, the baseline measured in the same run \
             and the ratio to it (×1 = as good as the baseline; for costs lower is better, for \
             rates higher is better). Absolute numbers drift on this machine from run to run; \
             the ratios are the result.\n"
        );
        let _ = writeln!(s, "## Summary\n");
        let _ = writeln!(s, "| measurement | subject | figure | baseline | ratio |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
        for sec in &self.sections {
            let Some(base) = &sec.baseline else { continue };
            for r in &sec.rows {
                for o in &sec.ours {
                    let (Some(v), Some(b)) = (r.get(o), r.get(base)) else {
                        continue;
                    };
                    let _ = writeln!(
                        s,
                        "| {} — {} | {o} | {} {} | {} {} ({}) | {} |",
                        sec.title,
                        r.label,
                        num(v),
                        sec.unit,
                        num(b),
                        sec.unit,
                        base,
                        ratio(Some(v), Some(b))
                            .map_or("—".into(), |q| format!("×{}", ratio_str(q)))
                    );
                }
            }
        }
        s.push('\n');
        for sec in &self.sections {
            let _ = writeln!(s, "## {}\n", sec.title);
            let _ = writeln!(s, "{}\n", sec.method.trim());
            if sec.chart {
                let dir = if chart_dir.is_empty() { "." } else { chart_dir };
                let _ = writeln!(s, "![{}]({}/{}.png)\n", sec.title, dir, sec.id);
            }
            let better = match sec.better {
                Better::Higher => "higher is better",
                Better::Lower => "lower is better",
            };
            let _ = write!(s, "| {} ({better}) |", sec.unit);
            for subj in &sec.subjects {
                let _ = write!(s, " {subj} |");
                if sec.baseline.as_ref().is_some_and(|b| b != subj) {
                    let _ = write!(s, " ratio |");
                }
            }
            s.push('\n');
            let cols = 1
                + sec.subjects.len()
                + if sec.baseline.is_some() {
                    sec.subjects.len() - 1
                } else {
                    0
                };
            let _ = writeln!(s, "|{}", " --- |".repeat(cols));
            for r in &sec.rows {
                let _ = write!(s, "| {} |", r.label);
                let base = sec.baseline.as_ref().and_then(|b| r.get(b));
                for subj in &sec.subjects {
                    let v = r.get(subj);
                    let _ = write!(s, " {} |", v.map_or("—".into(), num));
                    if sec.baseline.as_ref().is_some_and(|b| b != subj) {
                        let _ = write!(
                            s,
                            " {} |",
                            ratio(v, base).map_or("—".into(), |q| format!("×{}", ratio_str(q)))
                        );
                    }
                }
                s.push('\n');
            }
            s.push('\n');
            let behind = sec.behind();
            if !behind.is_empty() {
                let _ = writeln!(
                    s,
                    "**Where {} is behind {}:**\n",
                    sec.ours.join(" / "),
                    sec.baseline.as_deref().unwrap_or("")
                );
                for b in behind {
                    let _ = writeln!(s, "- {b}");
                }
                s.push('\n');
            }
            for n in &sec.notes {
                let _ = writeln!(s, "- {n}");
            }
            if !sec.notes.is_empty() {
                s.push('\n');
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "## Not measured in this run\n");
            for k in &self.skipped {
                let _ = writeln!(s, "- {k}");
            }
            s.push('\n');
        }
        s
    }
}

/// The TTF the charts' text uses (Debian's fonts-dejavu-core, installed by the bootstrap).
pub const CHART_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Colours of the subjects every chart has, the same in every chart: nat64 on each hook,
/// the kernel, TAYGA.
fn colour(subject: &str, i: usize) -> (u8, u8, u8) {
    match subject {
        s if s.starts_with("nat64 (TC)") => (0xff, 0x7f, 0x0e),
        s if s.starts_with("nat64") => (0x1f, 0x77, 0xb4),
        "kernel IPv6 forwarding" => (0x7f, 0x7f, 0x7f),
        "TAYGA" => (0xd6, 0x27, 0x28),
        _ => OTHERS[i % OTHERS.len()],
    }
}

/// Colours of the other subjects (floors, generators, sweeps…), by position.
const OTHERS: [(u8, u8, u8); 4] = [
    (0x2c, 0xa0, 0x2c),
    (0x94, 0x67, 0xbd),
    (0x8c, 0x56, 0x4b),
    (0x17, 0xbe, 0xcf),
];

/// Registers [`CHART_FONT`] with plotters (once per process).
pub fn register_chart_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let bytes = std::fs::read(CHART_FONT).map_err(|e| format!("{CHART_FONT}: {e}"))?;
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .map_err(|_| format!("{CHART_FONT}: not a font plotters can read"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// A grouped bar chart of a section: one group per row, one bar per subject, the figure
/// above each bar (and the ratio to the baseline under it where there is one).
pub fn chart(sec: &Section, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    register_chart_font()?;
    let groups = sec.rows.len().max(1);
    let per = sec.subjects.len().max(1);
    let width = (140 + groups * (per * 70 + 40)).clamp(640, 1600) as u32;
    let root = BitMapBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = sec
        .rows
        .iter()
        .flat_map(|r| r.values.values().copied())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let better = match sec.better {
        Better::Higher => "higher is better",
        Better::Lower => "lower is better",
    };
    let mut ctx = ChartBuilder::on(&root)
        .caption(format!("{} ({better})", sec.title), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        // Headroom above the tallest bar for its label and the legend's rows.
        .build_cartesian_2d(
            0f64..groups as f64,
            0f64..max * (1.18 + 0.08 * sec.subjects.len() as f64),
        )?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(sec.unit.as_str())
        .label_style(("sans-serif", 14))
        .draw()?;
    let slot = 0.8 / per as f64;
    for (g, row) in sec.rows.iter().enumerate() {
        let base = sec.baseline.as_ref().and_then(|b| row.get(b));
        for (i, subj) in sec.subjects.iter().enumerate() {
            let Some(v) = row.get(subj) else { continue };
            let (r, gr, b) = colour(subj, i);
            let color = RGBColor(r, gr, b);
            let x0 = g as f64 + 0.1 + i as f64 * slot;
            let x1 = x0 + slot * 0.9;
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, v)],
                color.filled(),
            )))?;
            let mut text = num(v);
            if let Some(q) = ratio(Some(v), base).filter(|_| sec.baseline.as_ref() != Some(subj)) {
                text = format!("{text} ×{}", ratio_str(q));
            }
            ctx.draw_series(std::iter::once(Text::new(
                text,
                (x0, v + max * 0.02),
                ("sans-serif", 12).into_font(),
            )))?;
        }
        ctx.draw_series(std::iter::once(Text::new(
            row.label.clone(),
            (g as f64 + 0.1, -max * 0.06),
            ("sans-serif", 14).into_font(),
        )))?;
    }
    // Legend.
    for (i, subj) in sec.subjects.iter().enumerate() {
        let (r, g, b) = colour(subj, i);
        let y = 40 + i as i32 * 20;
        let x = width as i32 - 260;
        root.draw(&Rectangle::new(
            [(x, y), (x + 14, y + 14)],
            RGBColor(r, g, b).filled(),
        ))?;
        root.draw(&Text::new(
            subj.clone(),
            (x + 20, y),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> Section {
        Section {
            id: "per_packet".into(),
            title: "Per-packet cost".into(),
            method: "BPF_PROG_TEST_RUN".into(),
            unit: "ns/packet".into(),
            better: Better::Lower,
            subjects: vec!["nat64".into(), "floor".into()],
            baseline: Some("floor".into()),
            ours: vec!["nat64".into()],
            rows: vec![
                Row::new("UDP 6→4")
                    .with("nat64", Some(60.0))
                    .with("floor", Some(20.0)),
                Row::new("miss")
                    .with("nat64", Some(20.5))
                    .with("floor", Some(20.0)),
                Row::new("only nat64")
                    .with("nat64", Some(1.0))
                    .with("floor", None),
            ],
            notes: vec!["a note".into()],
            chart: true,
            inherent_gap: false,
        }
    }

    fn report() -> Report {
        Report {
            date: "2026-11-23T10:00:00Z".into(),
            quick: true,
            machine: Machine {
                kernel: "6.18".into(),
                cpu: "Some CPU".into(),
                cpus: 2,
                memory_gib: 23.0,
                note: "shared".into(),
            },
            seconds: 120.0,
            sections: vec![section()],
            skipped: vec!["TAYGA: not installed".into()],
        }
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0), "NaN is ignored");
    }

    #[test]
    fn ratios_need_both_figures_and_a_nonzero_baseline() {
        assert_eq!(ratio(Some(6.0), Some(2.0)), Some(3.0));
        assert_eq!(ratio(Some(6.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        let n = || "nat64".to_string();
        assert_eq!(
            section().ratios(),
            vec![
                ("UDP 6→4".to_string(), n(), Some(3.0)),
                ("miss".to_string(), n(), Some(1.025)),
                ("only nat64".to_string(), n(), None)
            ]
        );
    }

    #[test]
    fn behind_names_rows_past_five_percent_in_the_right_direction() {
        let mut sec = section();
        assert_eq!(
            sec.behind(),
            vec!["UDP 6→4: nat64 is behind floor (60.0 vs 20.0 ns/packet, ×3.00)".to_string()]
        );
        // For a rate, the same figures put nat64 ahead.
        sec.better = Better::Higher;
        assert!(sec.behind().is_empty());
        // Against a floor, being behind is the point; the notes say by how much and why.
        sec.better = Better::Lower;
        sec.inherent_gap = true;
        assert!(sec.behind().is_empty());
    }

    /// Two headline subjects (nat64 on each hook) against kernel forwarding, with a cost
    /// whose baseline is zero: each subject is judged on its own, and any cost above a zero
    /// baseline is behind.
    fn two_hooks() -> Section {
        Section {
            id: "tcp_retransmits".into(),
            title: "TCP retransmits".into(),
            method: "iperf3".into(),
            unit: "retransmits".into(),
            better: Better::Lower,
            subjects: vec!["nat64 (XDP)".into(), "nat64 (TC)".into(), "kernel".into()],
            baseline: Some("kernel".into()),
            ours: vec!["nat64 (XDP)".into(), "nat64 (TC)".into()],
            rows: vec![
                Row::new("1 stream")
                    .with("nat64 (XDP)", Some(25000.0))
                    .with("nat64 (TC)", Some(0.0))
                    .with("kernel", Some(0.0)),
                Row::new("4 streams")
                    .with("nat64 (XDP)", Some(30.0))
                    .with("nat64 (TC)", Some(10.0))
                    .with("kernel", Some(20.0)),
            ],
            notes: vec![],
            chart: false,
            inherent_gap: false,
        }
    }

    #[test]
    fn every_headline_subject_is_judged_and_a_zero_baseline_cost_is_behind_when_exceeded() {
        let sec = two_hooks();
        assert!(sec.is_behind("nat64 (XDP)"));
        assert!(
            !sec.is_behind("nat64 (TC)"),
            "0 vs 0 and 10 vs 20 are not behind"
        );
        assert_eq!(
            sec.behind(),
            vec![
                "1 stream: nat64 (XDP) is behind kernel (25000 vs 0 retransmits, —)".to_string(),
                "4 streams: nat64 (XDP) is behind kernel (30.0 vs 20.0 retransmits, ×1.50)"
                    .to_string(),
            ]
        );
        let mut r = report();
        r.sections = vec![sec];
        let md = r.markdown("bench");
        assert!(
            md.contains("| TCP retransmits — 4 streams | nat64 (TC) | 10.0 retransmits | 20.0 retransmits (kernel) | ×0.50 |"),
            "{md}"
        );
        assert!(
            md.contains("| TCP retransmits — 1 stream | nat64 (XDP) | 25000 retransmits | 0 retransmits (kernel) | — |"),
            "{md}"
        );
        assert!(md.contains("| retransmits (lower is better) | nat64 (XDP) | ratio | nat64 (TC) | ratio | kernel |"), "{md}");
        assert!(md.contains("| 1 stream | 25000 | — | 0 | — | 0 |"), "{md}");
        assert!(
            md.contains("**Where nat64 (XDP) / nat64 (TC) is behind kernel:**"),
            "{md}"
        );
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(f64::NAN), "—");
    }

    #[test]
    fn markdown_has_machine_summary_table_ratios_and_skips() {
        let md = report().markdown("bench");
        assert!(md.contains("**Machine:** Linux 6.18, 2 × Some CPU, 23 GiB RAM. shared"));
        assert!(md.contains("2026-11-23T10:00:00Z"));
        assert!(md.contains("`cargo xtask bench --quick`"));
        assert!(
            md.contains(
                "| Per-packet cost — UDP 6→4 | nat64 | 60.0 ns/packet | 20.0 ns/packet (floor) | ×3.00 |"
            ),
            "{md}"
        );
        assert!(md.contains("| ns/packet (lower is better) | nat64 | ratio | floor |"));
        assert!(md.contains("| --- | --- | --- | --- |"));
        assert!(md.contains("| UDP 6→4 | 60.0 | ×3.00 | 20.0 |"), "{md}");
        assert!(md.contains("| only nat64 | 1.00 | — | — |"), "{md}");
        assert!(md.contains("![Per-packet cost](bench/per_packet.png)"));
        assert!(md.contains("**Where nat64 is behind floor:**"));
        assert!(md.contains("- a note"));
        assert!(md.contains("## Not measured in this run\n\n- TAYGA: not installed"));
    }

    #[test]
    fn json_round_trips() {
        let r = report();
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["sections"][0]["rows"][0]["values"]["nat64"], 60.0);
        assert_eq!(v["sections"][0]["better"], "lower");
    }

    #[test]
    fn chart_is_a_png() {
        if !Path::new(CHART_FONT).exists() {
            eprintln!(
                "SKIPPED chart_is_a_png: {CHART_FONT} missing (cargo xtask bench installs it)"
            );
            return;
        }
        let path = std::env::temp_dir().join(format!("nat64-chart-{}.png", std::process::id()));
        chart(&section(), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 1000);
    }
}
