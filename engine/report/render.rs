//! Rendering reports: minijinja templates (built in, overridable from a folder) for HTML and
//! Markdown, quick-junit for JUnit XML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::compare::Comparison;
use super::model::ReportData;
use super::summary::RunSummary;

/// The built-in templates, by name. A folder given with `--templates` may replace any of them.
const BUILT_IN: [(&str, &str); 7] = [
    ("report.html", include_str!("../../reports/report.html")),
    ("report.md", include_str!("../../reports/report.md")),
    ("index.html", include_str!("../../reports/index.html")),
    ("index.md", include_str!("../../reports/index.md")),
    ("compare.md", include_str!("../../reports/compare.md")),
    ("matrix.html", include_str!("../../reports/matrix.html")),
    ("matrix.md", include_str!("../../reports/matrix.md")),
];

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A self-contained HTML page.
    Html,
    /// GitHub-flavoured Markdown.
    Md,
    /// JUnit XML.
    Junit,
}

/// A report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template has an error (syntax, or a name it uses that the model does not have).
    #[error("template {name}: {message}")]
    Template {
        /// The template's name or path.
        name: String,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// A template override folder could not be read.
    #[error("cannot read template {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// JUnit serialisation failed.
    #[error("cannot write JUnit XML: {0}")]
    Junit(String),
}

/// The template set used for rendering.
pub struct Renderer {
    env: Environment<'static>,
    origin: Vec<(String, String)>,
}

fn template_error(origin: &[(String, String)], name: &str, e: &minijinja::Error) -> RenderError {
    let path = origin.iter().find(|(n, _)| n == name).map_or(name.to_owned(), |(_, p)| p.clone());
    let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
    RenderError::Template { name: path, message: format!("{}{line}", crate::plan::explain_template_error(e)) }
}

impl Renderer {
    /// The built-in templates, each replaced by `<dir>/<name>` when such a file exists.
    pub fn new(overrides: Option<&Path>) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        // A template that names something the model does not have is a bug in the template:
        // say so instead of printing an empty cell.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Files end with a newline, as text files should.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).build() {
            env.set_syntax(syntax);
        }
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        // Markdown is not auto-escaped: `md` makes user text (descriptions, names) inert in
        // Markdown renderers that allow HTML and keeps it from breaking table cells.
        // Markdown, not HTML: a backslash before each character Markdown would read as syntax
        // (CommonMark lets any ASCII punctuation be escaped so), so the text reads the same on
        // GitHub, in a terminal and in any other Markdown renderer.
        env.add_filter("md", |v: String| {
            let mut out = String::with_capacity(v.len() + 8);
            for c in v.chars() {
                match c {
                    '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\n' | '\r' => out.push(' '),
                    c => out.push(c),
                }
            }
            out
        });
        // Inside a code span HTML is already inert; only the cell separator needs escaping.
        env.add_filter("cell", |v: String| v.replace('|', "\\|"));
        let mut origin = Vec::new();
        for (name, builtin) in BUILT_IN {
            let (source, from) = match overrides.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(path) => (
                    std::fs::read_to_string(&path).map_err(|source| RenderError::Io { path: path.clone(), source })?,
                    path.display().to_string(),
                ),
                None => (builtin.to_owned(), format!("reports/{name} (built in)")),
            };
            origin.push((name.to_owned(), from));
            env.add_template_owned(name.to_owned(), source).map_err(|e| template_error(&origin, name, &e))?;
        }
        Ok(Self { env, origin })
    }

    fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String, RenderError> {
        let tmpl = self.env.get_template(name).map_err(|e| template_error(&self.origin, name, &e))?;
        tmpl.render(Value::from(minijinja::value::Serde(ctx))).map_err(|e| template_error(&self.origin, name, &e))
    }

    /// The HTML report of one run.
    pub fn html(&self, data: &ReportData) -> Result<String, RenderError> {
        self.render("report.html", &serde_json::json!({ "r": data }))
    }

    /// The Markdown report of one run.
    pub fn markdown(&self, data: &ReportData) -> Result<String, RenderError> {
        self.render("report.md", &serde_json::json!({ "r": data }))
    }

    /// The index of a folder run, in HTML or Markdown.
    pub fn index(
        &self,
        entries: &[IndexEntry],
        skipped: &[SkippedScenario],
        html: bool,
    ) -> Result<String, RenderError> {
        let failed = entries.iter().filter(|e| e.verdict != "passed").count();
        let ctx =
            serde_json::json!({ "entries": entries, "failed": failed, "total": entries.len(), "skipped": skipped });
        self.render(if html { "index.html" } else { "index.md" }, &ctx)
    }

    /// A what-if sweep's comparison, in HTML or Markdown.
    pub fn sweep(&self, sweep: &super::sweep::Sweep, html: bool) -> Result<String, RenderError> {
        self.render(if html { "matrix.html" } else { "matrix.md" }, &serde_json::json!({ "m": sweep }))
    }

    /// A comparison as Markdown.
    pub fn comparison(&self, c: &Comparison) -> Result<String, RenderError> {
        self.render("compare.md", &serde_json::json!({ "c": c }))
    }
}

/// A scenario a folder run left out (`--tag`, `--skip-tag`, `--only`), for the index.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedScenario {
    /// Scenario name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Why it was left out.
    pub reason: String,
}

/// One line of the index of a folder run.
#[derive(Debug, Clone, Serialize)]
pub struct IndexEntry {
    /// Scenario name.
    pub name: String,
    /// Verdict.
    pub verdict: String,
    /// Relative link to its HTML report.
    pub html: String,
    /// Relative link to its Markdown report.
    pub md: String,
    /// Messages sent.
    pub sent: u64,
    /// Messages lost.
    pub lost: u64,
    /// Success rate, formatted.
    pub success: String,
    /// Median latency.
    pub p50: String,
    /// 99th percentile latency.
    pub p99: String,
    /// Failed thresholds out of all.
    pub thresholds: String,
}

impl IndexEntry {
    /// The index line of a summary whose reports live in `<name>/`.
    pub fn new(s: &RunSummary) -> Self {
        let success = s
            .metrics
            .iter()
            .find(|m| m.name == "message_success" && m.tag_key.is_none())
            .and_then(|m| m.rate)
            .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let lat = s.metrics.iter().find(|m| m.name == "message_latency" && m.tag_key.is_none());
        Self {
            name: s.scenario.name.clone(),
            verdict: s.verdict.name().to_owned(),
            html: format!("{}/report.html", s.scenario.name),
            md: format!("{}/report.md", s.scenario.name),
            sent: s.accounting.sent,
            lost: s.accounting.lost,
            success,
            p50: lat.map_or_else(|| "-".into(), |m| m.display.p50.clone()),
            p99: lat.map_or_else(|| "-".into(), |m| m.display.p99.clone()),
            thresholds: format!(
                "{} of {} failed",
                s.thresholds.iter().filter(|t| !t.passed).count(),
                s.thresholds.len()
            ),
        }
    }
}

/// The JUnit XML of one or more runs: a testsuite per scenario, a testcase per threshold rule,
/// and a testcase for the run itself (failed when it was aborted or interrupted).
pub fn junit(reports: &[&ReportData]) -> Result<String, RenderError> {
    let mut report = Report::new("herd");
    let mut total = Duration::ZERO;
    for r in reports {
        let mut suite = TestSuite::new(r.name.clone());
        let took = Duration::from_secs_f64(r.duration_seconds.max(0.0));
        total += took;
        suite.set_time(took);
        suite.add_property(("seed", r.seed.to_string().as_str()));
        suite.add_property(("file", r.file.as_str()));
        suite.add_property(("end_reason", r.end_reason.as_str()));
        let run_status = if r.verdict == "aborted" || r.verdict == "interrupted" {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("the run did not complete: {}", r.end_reason));
            st.set_type(r.verdict.clone());
            st
        } else if !r.failures.is_empty() {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("the run proved nothing: {}", r.failures.join("; ")));
            st.set_type("nothing-proven");
            st
        } else {
            TestCaseStatus::success()
        };
        let mut run = TestCase::new("run completes", run_status);
        run.set_classname(r.name.clone());
        // A run can pass and still not be trusted (the generator fell behind, the clean-up left
        // queues behind): CI shows the test case's output, so the warnings go there.
        if !r.warnings.is_empty() {
            run.set_system_err(r.warnings.iter().map(|w| format!("warning: {w}")).collect::<Vec<_>>().join("\n"));
        }
        run.set_time(took);
        suite.add_test_case(run);
        // Keep the file's order here: CI lists test cases as they come.
        let mut rows: Vec<&super::model::ThresholdRow> = r.thresholds.iter().collect();
        rows.sort_by_key(|t| t.index);
        for t in rows {
            let status = if t.passed {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!("measured {}, required {}", t.measured, t.rule));
                st.set_type("threshold");
                st
            };
            let mut case = TestCase::new(format!("{} {}", t.key, t.rule), status);
            case.set_classname(r.name.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report.to_string().map_err(|e| RenderError::Junit(e.to_string()))
}

/// Writes the reports of one run next to its summary: `report.html`, `report.md`, `junit.xml`.
pub fn write_reports(
    dir: &Path,
    summary: &RunSummary,
    renderer: &Renderer,
    formats: &[Format],
) -> Result<Vec<PathBuf>, RenderError> {
    let data = ReportData::from_summary(summary);
    let mut written = Vec::new();
    for f in formats {
        let (name, text) = match f {
            Format::Html => ("report.html", renderer.html(&data)?),
            Format::Md => ("report.md", renderer.markdown(&data)?),
            Format::Junit => ("junit.xml", junit(&[&data])?),
        };
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| RenderError::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}
