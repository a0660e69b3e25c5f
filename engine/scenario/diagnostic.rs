//! Errors found in a scenario file, each with its location, and their rendering.

use std::fmt;
use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{Config, emit_into_string};

use crate::text::{printable_line, printable_source};

/// One step of a path into a scenario document: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A key in a table.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// A path into a scenario document, such as `phases[2].rate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<PathSeg>);

impl KeyPath {
    /// The empty path: the document itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Key(key.to_owned()));
        Self(segs)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Index(index));
        Self(segs)
    }

    /// The last key of the path, which is what an error message names.
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            PathSeg::Key(k) => Some(k.as_str()),
            PathSeg::Index(_) => None,
        })
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A file an error can point into: a file the scenario extends or includes.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Its name as the scenario wrote it, joined to the scenario's folder.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// One error in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, naming the key and the bad value.
    pub message: String,
    /// The key the error is about (`phases[1].rate`).
    pub path: KeyPath,
    /// Byte range in the file; filled in from `path` when the error is collected.
    pub span: Option<Range<usize>>,
    /// Short text under the underlined source.
    pub label: String,
    /// What is accepted, or the nearest valid spelling.
    pub help: Option<String>,
    /// The file the key was written in, when it is not the scenario itself (a file it extends
    /// or includes); `span` is then an offset into that file.
    pub origin: Option<std::sync::Arc<SourceFile>>,
}

impl Diagnostic {
    /// An error about the value at `path`.
    pub fn at(path: KeyPath, message: impl Into<String>) -> Self {
        Self { message: message.into(), path, span: None, label: String::new(), help: None, origin: None }
    }

    /// Sets the short label shown under the source.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the help line that says what is accepted.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the byte range directly (for errors that come with their own location).
    pub fn span(mut self, span: Range<usize>) -> Self {
        self.span = Some(span);
        self
    }
}

/// Every error found in one scenario file, with the file's name and text for rendering.
#[derive(Debug, Clone)]
pub struct FileDiagnostics {
    /// The file name as the user gave it.
    pub file: String,
    /// The file's text (lossy when it was not UTF-8).
    pub source: String,
    /// The errors, in the order they appear in the file.
    pub items: Vec<Diagnostic>,
}

impl FileDiagnostics {
    /// `file:line:col` of a byte offset, 1-based, as editors expect.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.source, offset)
    }

    /// Renders every error as text with the offending source underlined, without colour codes.
    pub fn render(&self) -> String {
        self.render_at_most(None)
    }

    /// Renders at most `limit` errors (all with `None`), then says how many more there are: a
    /// file with thousands of mistakes gives a screenful, not a flood.
    pub fn render_at_most(&self, limit: Option<usize>) -> String {
        // Whatever the file holds, what reaches the terminal holds no control characters: the
        // source keeps its byte offsets, every other text is escaped.
        let main_name = printable_line(&self.file);
        let main_source = printable_source(&self.source);
        let config = Config::default();
        let mut out = String::new();
        let shown = limit.unwrap_or(usize::MAX).min(self.items.len());
        for d in &self.items[..shown] {
            // An error about a key written in another file (extends, include) is shown there.
            let (name, source, raw) = match &d.origin {
                Some(o) => (printable_line(&o.name), printable_source(&o.text), o.text.as_str()),
                None => (main_name.clone(), main_source.clone(), self.source.as_str()),
            };
            let file = SimpleFile::new(name.as_ref(), source.as_ref());
            let location = match &d.span {
                Some(span) => {
                    let (line, col) = line_col(raw, span.start);
                    format!("{name}:{line}:{col}")
                }
                None => name.to_string(),
            };
            let message = printable_line(&d.message);
            let mut cs = CsDiagnostic::error().with_message(format!("{location}: {message}"));
            if let Some(span) = &d.span {
                let span = clamp_span(&source, span.clone());
                cs = cs.with_labels(vec![Label::primary((), span).with_message(printable_line(&d.label))]);
            }
            let mut notes = Vec::new();
            if !d.path.0.is_empty() {
                notes.push(format!("key: {}", printable_line(&d.path.to_string())));
            }
            if let Some(help) = &d.help {
                notes.push(format!("help: {}", printable_line(help)));
            }
            cs = cs.with_notes(notes);
            match emit_into_string(&config, &file, &cs) {
                Ok(text) => out.push_str(&text),
                Err(_) => out.push_str(&format!("error: {location}: {message}\n")),
            }
        }
        let n = self.items.len();
        if shown < n {
            out.push_str(&format!("... and {} more (show them all with --all-errors)\n", n - shown));
        }
        out.push_str(&format!("{main_name}: {n} error{} found; nothing was run\n", if n == 1 { "" } else { "s" }));
        out
    }
}

impl FileDiagnostics {
    /// Every error as JSON, for tools (`herd check --format json`): never capped, positions
    /// 1-based like the text form. JSON escapes control characters by itself.
    pub fn to_json(&self) -> serde_json::Value {
        let errors: Vec<serde_json::Value> = self
            .items
            .iter()
            .map(|d| {
                let source = d.origin.as_ref().map_or(self.source.as_str(), |o| o.text.as_str());
                let (start, end) = match &d.span {
                    Some(span) => (Some(line_col(source, span.start)), Some(line_col(source, span.end))),
                    None => (None, None),
                };
                serde_json::json!({
                    "file": d.origin.as_ref().map_or(self.file.as_str(), |o| o.name.as_str()),
                    "message": d.message,
                    "key": d.path.to_string(),
                    "line": start.map(|p| p.0),
                    "column": start.map(|p| p.1),
                    "end_line": end.map(|p| p.0),
                    "end_column": end.map(|p| p.1),
                    "label": d.label,
                    "help": d.help,
                })
            })
            .collect();
        serde_json::json!({ "file": self.file, "ok": false, "error_count": errors.len(), "errors": errors })
    }
}

impl fmt::Display for FileDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for FileDiagnostics {}

/// `line:col` of a byte offset in `source`, 1-based.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Keeps a span inside the source and on character boundaries so rendering never panics.
fn clamp_span(source: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = floor_char_boundary(source, span.end.min(source.len())).max(start);
    start..end
}
