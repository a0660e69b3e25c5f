//! Reading a scenario file: bytes to text, text to a spanned TOML tree, the tree checked against
//! the schema, and finally deserialised into `ScenarioSpec`.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value as Json;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::compose::{self, Written};
use super::diagnostic::{Diagnostic, FileDiagnostics, KeyPath, PathSeg};
use super::params::{self, Literals, Overrides, ParamOrigins, Params, apply_sets};
use super::schema_check::check_document;
use super::spec::ScenarioSpec;

/// A scenario file that parsed and passed the structural checks.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The file name as the user gave it.
    pub file: String,
    /// The file's text, kept to locate later errors.
    pub source: String,
    /// The deserialised scenario.
    pub spec: ScenarioSpec,
    /// Its parameters after `--set`: `vars.*` and the allowed `env.*`.
    pub params: Params,
    /// Which keys parameters changed, for errors about them.
    pub origins: ParamOrigins,
    /// Which file wrote each key (`extends`, `include`).
    pub written: Written,
    /// Every file the scenario is built from besides itself (`extends`, `include`), as read:
    /// what a distributed run ships to its workers.
    pub sources: Vec<String>,
}

/// Sorts errors as a reader meets them: the scenario's own first, then each other file's, in
/// the order of their place in the file.
pub(crate) fn sort_items(items: &mut [Diagnostic]) {
    items.sort_by(|a, b| {
        let file = |d: &Diagnostic| d.origin.as_ref().map(|o| o.name.clone());
        (file(a), a.span.as_ref().map_or(0, |s| s.start)).cmp(&(file(b), b.span.as_ref().map_or(0, |s| s.start)))
    });
}

impl LoadedScenario {
    /// Builds a `FileDiagnostics` for errors found after loading, locating each by its path.
    pub fn diagnostics(&self, mut items: Vec<Diagnostic>) -> FileDiagnostics {
        for d in &mut items {
            self.origins.annotate(d);
            if d.origin.is_none() {
                d.origin = self.written.file_of(&d.path);
            }
        }
        locate(&self.source, &mut items);
        sort_items(&mut items);
        FileDiagnostics { file: self.file.clone(), source: self.source.clone(), items }
    }
}

/// The scenario schema generated from the spec types, as JSON.
pub fn scenario_schema() -> &'static Json {
    static SCHEMA: OnceLock<Json> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::schema_for!(ScenarioSpec);
        serde_json::to_value(&schema).unwrap_or(Json::Null)
    })
}

/// The schema as published for editors (`herd schema`): [`scenario_schema`], except that every
/// number or boolean key also accepts a string holding a template (`count = "{{ vars.n }}"`),
/// since herd renders such strings, and a variable alone keeps its type, before it checks the
/// file.
pub fn published_schema() -> Json {
    let mut schema = scenario_schema().clone();
    accept_templates(&mut schema);
    schema
}

/// A string that holds a template, as the published schema accepts in place of a number.
const TEMPLATE_PATTERN: &str = r"\{\{.*\}\}";

fn accept_templates(node: &mut Json) {
    match node {
        Json::Object(map) => {
            let scalar = |t: &Json| matches!(t.as_str(), Some("integer" | "number" | "boolean"));
            let wrap = match map.get("type") {
                Some(Json::String(_)) => map.get("type").is_some_and(scalar),
                Some(Json::Array(types)) => types.iter().any(scalar),
                _ => false,
            };
            if wrap {
                // The typed form moves into `anyOf`, beside the template form; the words that
                // describe the key stay at the top, where editors show them.
                let mut typed = serde_json::Map::new();
                for key in ["type", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
                    if let Some(v) = map.remove(key) {
                        typed.insert(key.to_owned(), v);
                    }
                }
                let template = serde_json::json!({ "type": "string", "pattern": TEMPLATE_PATTERN });
                map.insert("anyOf".to_owned(), Json::Array(vec![Json::Object(typed), template]));
            } else {
                for v in map.values_mut() {
                    accept_templates(v);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(accept_templates),
        _ => {}
    }
}

/// A file that failed to load, with what could still be recovered from it.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// The errors found so far.
    pub diagnostics: FileDiagnostics,
    /// The scenario with the offending keys left out, when the rest still deserialises; the
    /// compile step runs on it so that its errors are reported in the same pass.
    pub recovered: Option<Box<LoadedScenario>>,
}

impl From<FileDiagnostics> for LoadFailure {
    fn from(diagnostics: FileDiagnostics) -> Self {
        Self { diagnostics, recovered: None }
    }
}

/// Reads and loads a scenario file from disk.
pub fn load_file(path: &Path) -> Result<LoadedScenario, FileDiagnostics> {
    load_file_recovering(path).map_err(|f| f.diagnostics)
}

/// Reads and loads a scenario file, keeping what can be recovered when it has errors.
pub fn load_file_recovering(path: &Path) -> Result<LoadedScenario, LoadFailure> {
    load_file_with(path, &Overrides::default())
}

/// [`load_file_recovering`] with `--set` overrides from the command line.
pub fn load_file_with(path: &Path, overrides: &Overrides) -> Result<LoadedScenario, LoadFailure> {
    let file = path.display().to_string();
    let failed = |message: String| -> LoadFailure {
        FileDiagnostics {
            file: file.clone(),
            source: String::new(),
            items: vec![Diagnostic::at(KeyPath::root(), message)],
        }
        .into()
    };
    // Only a regular file: opening a named pipe or a device would block for ever or read
    // without end.
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(failed(format!(
                "{file} is not a regular file (a folder, a pipe or a device); give a scenario file"
            )));
        }
        Err(e) => return Err(failed(format!("cannot read {file}: {e}"))),
    }
    match std::fs::read(path) {
        Ok(bytes) => load_bytes_with(&file, &bytes, overrides),
        Err(e) => Err(failed(format!("cannot read {file}: {e}"))),
    }
}

/// Loads a scenario from bytes; `file` is the name used in messages.
pub fn load_bytes(file: &str, bytes: &[u8]) -> Result<LoadedScenario, FileDiagnostics> {
    load_bytes_recovering(file, bytes).map_err(|f| f.diagnostics)
}

/// Loads a scenario from bytes, keeping what can be recovered when it has errors.
pub fn load_bytes_recovering(file: &str, bytes: &[u8]) -> Result<LoadedScenario, LoadFailure> {
    load_bytes_with(file, bytes, &Overrides::default())
}

/// [`load_bytes_recovering`] with `--set` overrides from the command line.
pub fn load_bytes_with(file: &str, bytes: &[u8], overrides: &Overrides) -> Result<LoadedScenario, LoadFailure> {
    let fail = |source: String, items: Vec<Diagnostic>| FileDiagnostics { file: file.to_owned(), source, items };
    let source = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            let at = e.valid_up_to();
            let kind = if bytes.contains(&0) { "a binary file" } else { "not UTF-8 text" };
            return Err(fail(
                lossy.clone(),
                vec![
                    Diagnostic::at(KeyPath::root(), format!("this is {kind}: invalid UTF-8 at byte {at}"))
                        .span(lossy_offset(bytes, at)..lossy_offset(bytes, at) + 1)
                        .label("invalid byte")
                        .help("a scenario is a UTF-8 TOML text file"),
                ],
            )
            .into());
        }
    };
    if source.contains('\0') {
        let at = source.find('\0').unwrap_or(0);
        return Err(fail(
            source,
            vec![
                Diagnostic::at(KeyPath::root(), "this is a binary file: it contains a NUL byte")
                    .span(at..at + 1)
                    .label("NUL byte")
                    .help("a scenario is a UTF-8 TOML text file"),
            ],
        )
        .into());
    }
    let meaningful = source.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if !meaningful {
        return Err(fail(
            source,
            vec![
                Diagnostic::at(KeyPath::root(), "the scenario is empty")
                    .span(0..0)
                    .label("nothing here")
                    .help("a scenario needs at least `name`, one `[[sessions]]` group and one `[[phases]]` entry; see `herd schema`"),
            ],
        )
        .into());
    }
    let (doc, syntax_errors) = DeTable::parse_recoverable(&source);
    if !syntax_errors.is_empty() {
        let items = syntax_errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Diagnostic::at(KeyPath::root(), format!("TOML syntax error: {}", e.message().trim()))
                    .span(span)
                    .label("here")
                    .help("see https://toml.io for the syntax")
            })
            .collect();
        return Err(fail(source, items).into());
    }
    // The files it extends and includes come first: found and read, then merged under it.
    let sources = match compose::discover(file, &doc) {
        Ok(s) => s,
        Err(mut items) => {
            locate(&source, &mut items);
            sort_items(&mut items);
            return Err(fail(source, items).into());
        }
    };
    let doc: Spanned<DeTable<'_>> = doc;
    let (doc, written) = compose::merge(doc, &sources);
    let source_files: Vec<String> = sources.files.iter().map(|f| f.name.clone()).collect();
    let attribute = |items: &mut [Diagnostic]| {
        for d in items.iter_mut().filter(|d| d.origin.is_none()) {
            d.origin = written.file_of(&d.path);
        }
    };
    // Parameters next: `--set`, then `[vars]` and `env.*` in every string, so what the checks
    // see is what will run. Each step rebinds the document, which borrows what it was given.
    let mut origins = ParamOrigins::default();
    let mut param_errors = Vec::new();
    let mut doc: Spanned<DeTable<'_>> = doc;
    apply_sets(&mut doc, &overrides.sets, &mut origins, &mut param_errors);
    let params = params::collect(&doc, &mut param_errors);
    let literals = Literals::of(&params);
    let mut doc: Spanned<DeTable<'_>> = doc;
    params::substitute(&mut doc, &params, &literals, &mut origins, &mut param_errors);
    if !param_errors.is_empty() {
        for d in &mut param_errors {
            origins.annotate(d);
        }
        attribute(&mut param_errors);
        sort_items(&mut param_errors);
        return Err(fail(source, param_errors).into());
    }
    let mut structural = check_document(&doc, scenario_schema());
    if !structural.is_empty() {
        for d in structural.iter_mut().filter(|d| d.span.is_none() && d.path.0.len() <= 1) {
            d.span = Some(0..0);
        }
        attribute(&mut structural);
        locate(&source, &mut structural);
        sort_items(&mut structural);
        // Leave the offending keys out and try again, so the compile step can still report the
        // errors in the rest of the file.
        let mut pruned = doc.clone();
        let paths: Vec<&[PathSeg]> = structural.iter().map(|d| d.path.0.as_slice()).collect();
        prune(pruned.get_mut(), &paths);
        let recovered = ScenarioSpec::deserialize(toml::de::Deserializer::from(pruned)).ok().map(|spec| {
            Box::new(LoadedScenario {
                file: file.to_owned(),
                source: source.clone(),
                spec,
                params: params.clone(),
                origins: origins.clone(),
                written: written.clone(),
                sources: source_files.clone(),
            })
        });
        for d in &mut structural {
            origins.annotate(d);
        }
        return Err(LoadFailure { diagnostics: fail(source, structural), recovered });
    }
    // The schema walk and serde agree by construction; serde still has the last word so that a
    // gap in the walk can never let a malformed file through.
    let deserializer = toml::de::Deserializer::from(doc);
    match ScenarioSpec::deserialize(deserializer) {
        Ok(spec) => {
            Ok(LoadedScenario { file: file.to_owned(), source, spec, params, origins, written, sources: source_files })
        }
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let items = vec![Diagnostic::at(KeyPath::root(), e.message().trim().to_owned()).span(span).label("here")];
            Err(fail(source, items).into())
        }
    }
}

/// Removes the values at `paths` from a table in one pass over each table, so that thousands of
/// bad keys cost linear time, not one rebuild of the table each.
fn prune<'i>(table: &mut DeTable<'i>, paths: &[&[PathSeg]]) {
    use std::collections::{HashMap, HashSet};
    let mut remove: HashSet<&str> = HashSet::new();
    let mut deeper: HashMap<&str, Vec<&[PathSeg]>> = HashMap::new();
    for path in paths {
        match path {
            [PathSeg::Key(k)] => {
                remove.insert(k.as_str());
            }
            [PathSeg::Key(k), rest @ ..] => deeper.entry(k.as_str()).or_default().push(rest),
            _ => {}
        }
    }
    if !remove.is_empty() {
        let all = std::mem::take(table);
        *table = all.into_iter().filter(|(key, _)| !remove.contains(key.get_ref().as_ref())).collect();
    }
    for (key, value) in table.iter_mut() {
        if let Some(rest) = deeper.get(key.get_ref().as_ref()) {
            prune_value(value.get_mut(), rest);
        }
    }
}

fn prune_value<'i>(value: &mut DeValue<'i>, paths: &[&[PathSeg]]) {
    use std::collections::{HashMap, HashSet};
    match value {
        DeValue::Table(t) => prune(t, paths),
        DeValue::Array(items) => {
            let mut remove: HashSet<usize> = HashSet::new();
            let mut deeper: HashMap<usize, Vec<&[PathSeg]>> = HashMap::new();
            for path in paths {
                match path {
                    [PathSeg::Index(i)] => {
                        remove.insert(*i);
                    }
                    [PathSeg::Index(i), rest @ ..] => deeper.entry(*i).or_default().push(rest),
                    _ => {}
                }
            }
            for (i, item) in items.iter_mut().enumerate() {
                if let Some(rest) = deeper.get(&i) {
                    prune_value(item.get_mut(), rest);
                }
            }
            if !remove.is_empty() {
                let all = std::mem::replace(items, toml::de::DeArray::new());
                *items = all.into_iter().enumerate().filter(|(n, _)| !remove.contains(n)).map(|(_, v)| v).collect();
            }
        }
        _ => {}
    }
}

/// The offset in the lossy text that corresponds to byte `at` of the original.
fn lossy_offset(bytes: &[u8], at: usize) -> usize {
    String::from_utf8_lossy(&bytes[..at]).len()
}

/// Fills in the span of every diagnostic that has only a path.
pub(crate) fn locate(source: &str, items: &mut [Diagnostic]) {
    if items.iter().all(|d| d.span.is_some()) {
        return;
    }
    // Errors about keys written in another file are located in that file.
    let others: Vec<std::sync::Arc<super::diagnostic::SourceFile>> = {
        let mut seen: Vec<std::sync::Arc<super::diagnostic::SourceFile>> = Vec::new();
        for o in items.iter().filter(|d| d.span.is_none()).filter_map(|d| d.origin.clone()) {
            if !seen.iter().any(|s| std::sync::Arc::ptr_eq(s, &o)) {
                seen.push(o);
            }
        }
        seen
    };
    for other in others {
        let (doc, _) = DeTable::parse_recoverable(&other.text);
        let mut index = KeyIndex::default();
        for d in items
            .iter_mut()
            .filter(|d| d.span.is_none() && d.origin.as_ref().is_some_and(|o| std::sync::Arc::ptr_eq(o, &other)))
        {
            d.span = Some(span_of(&doc, &d.path, &mut index).unwrap_or(0..0));
        }
    }
    let (doc, _) = DeTable::parse_recoverable(source);
    let mut index = KeyIndex::default();
    for d in items.iter_mut().filter(|d| d.span.is_none()) {
        // A key that is not in the file at all (a missing `[[sessions]]`) is reported at the top
        // of the file, so that every error still has a line and column.
        d.span = Some(span_of(&doc, &d.path, &mut index).unwrap_or(0..0));
    }
}

/// Key lookups by table, built the first time a table is searched, so that locating thousands
/// of errors in one table (a file with 40,000 bad thresholds) costs linear time.
#[derive(Default)]
struct KeyIndex<'d, 'i> {
    tables: std::collections::HashMap<*const DeTable<'i>, std::collections::HashMap<&'d str, &'d Spanned<DeValue<'i>>>>,
}

impl<'d, 'i> KeyIndex<'d, 'i> {
    fn get(&mut self, table: &'d DeTable<'i>, key: &str) -> Option<&'d Spanned<DeValue<'i>>> {
        let keys = self.tables.entry(std::ptr::from_ref(table)).or_insert_with(|| {
            let mut keys = std::collections::HashMap::with_capacity(table.len());
            for (k, v) in table.iter() {
                // The first occurrence wins, as a linear search would find it.
                keys.entry(k.get_ref().as_ref()).or_insert(v);
            }
            keys
        });
        keys.get(key).copied()
    }
}

/// The span of the value at `path`, or of the deepest part of it that exists in the file.
fn span_of<'d, 'i>(
    doc: &'d Spanned<DeTable<'i>>,
    path: &KeyPath,
    index: &mut KeyIndex<'d, 'i>,
) -> Option<Range<usize>> {
    let mut table: Option<&'d DeTable<'i>> = Some(doc.get_ref());
    let mut current: Option<&'d Spanned<DeValue<'i>>> = None;
    let mut best: Option<Range<usize>> = None;
    for seg in &path.0 {
        let next = match seg {
            PathSeg::Key(k) => table.and_then(|t| index.get(t, k)),
            PathSeg::Index(i) => match current.map(Spanned::get_ref) {
                Some(DeValue::Array(items)) => items.get(*i),
                _ => None,
            },
        };
        let Some(value) = next else { break };
        best = Some(value.span());
        current = Some(value);
        table = match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    best
}
