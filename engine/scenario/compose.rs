//! Scenarios built from several files: `extends = "base.toml"` (the base's keys are defaults,
//! this file's win) and `include = ["fragments/thresholds.toml"]` (fragments merged in order,
//! before this file's own keys). Tables merge key by key, arrays are replaced whole, and a file
//! that comes back round to itself is refused. Every value remembers the file it was written in,
//! so an error about it points into that file.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, KeyPath, SourceFile};

/// The most files one scenario may be built from.
const MAX_FILES: usize = 32;

/// The files a scenario is built from, found before any is merged (so their texts outlive the
/// merged document, which borrows them).
#[derive(Debug, Default)]
pub(crate) struct Sources {
    /// Every file but the scenario itself, in the order they were found.
    pub files: Vec<Arc<SourceFile>>,
    /// Per file (by index into `files`, `None` for the scenario itself): what it extends and
    /// includes, as indices into `files`.
    links: Vec<(Option<usize>, Option<usize>, Vec<usize>)>,
}

/// A file name as written, with the key that names it.
type Reference = (String, KeyPath);

/// `extends` and `include` of a parsed file, with where they were written.
fn references(doc: &Spanned<DeTable<'_>>) -> (Option<Reference>, Vec<Reference>) {
    let root = doc.get_ref();
    let get = |key: &str| root.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v);
    let extends =
        get("extends").and_then(|v| v.get_ref().as_str().map(|s| (s.to_owned(), KeyPath::root().key("extends"))));
    let include = match get("include").map(|v| v.get_ref()) {
        Some(DeValue::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.get_ref().as_str().map(|s| (s.to_owned(), KeyPath::root().key("include").index(i))))
            .collect(),
        _ => Vec::new(),
    };
    (extends, include)
}

/// Finds, reads and checks the syntax of every file `main` extends or includes, directly or
/// not; errors point at the key that names the file.
pub(crate) fn discover(main_file: &str, main_doc: &Spanned<DeTable<'_>>) -> Result<Sources, Vec<Diagnostic>> {
    let mut sources = Sources::default();
    let mut errors = Vec::new();
    let main_dir = Path::new(main_file).parent().map(Path::to_path_buf).unwrap_or_default();
    let canonical_main = std::fs::canonicalize(main_file).ok();
    let mut stack: Vec<PathBuf> = canonical_main.into_iter().collect();
    let (extends, include) = references(main_doc);
    let links = walk(&mut sources, &mut errors, &mut stack, &main_dir, None, extends, include);
    sources.links.insert(0, (None, links.0, links.1));
    if errors.is_empty() { Ok(sources) } else { Err(errors) }
}

/// Reads the files one file refers to; returns their indices (extends, includes).
fn walk(
    sources: &mut Sources,
    errors: &mut Vec<Diagnostic>,
    stack: &mut Vec<PathBuf>,
    dir: &Path,
    from: Option<&Arc<SourceFile>>,
    extends: Option<Reference>,
    include: Vec<Reference>,
) -> (Option<usize>, Vec<usize>) {
    let mut read_one = |name: String, at: KeyPath, sources: &mut Sources, errors: &mut Vec<Diagnostic>| {
        let mut error = |message: String| {
            let mut d = Diagnostic::at(at.clone(), message).label("this file");
            d.origin = from.cloned();
            errors.push(d);
        };
        if sources.files.len() >= MAX_FILES {
            error(format!("a scenario is built from at most {MAX_FILES} files"));
            return None;
        }
        let path = dir.join(&name);
        let canonical = match std::fs::canonicalize(&path) {
            Ok(c) => c,
            Err(e) => {
                error(format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        if stack.contains(&canonical) {
            error(format!("{} comes back round to a file that is already being read (a cycle)", path.display()));
            return None;
        }
        if !canonical.is_file() {
            error(format!("{} is not a regular file", path.display()));
            return None;
        }
        let text = match std::fs::read_to_string(&canonical) {
            Ok(t) => t,
            Err(e) => {
                error(format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        let file = Arc::new(SourceFile { name: path.display().to_string(), text });
        let (doc, syntax) = DeTable::parse_recoverable(&file.text);
        if !syntax.is_empty() {
            for e in syntax {
                let mut d = Diagnostic::at(KeyPath::root(), format!("TOML syntax error: {}", e.message().trim()))
                    .span(e.span().unwrap_or(0..0))
                    .label("here");
                d.origin = Some(file.clone());
                errors.push(d);
            }
            return None;
        }
        let (ext, inc) = references(&doc);
        drop(doc);
        sources.files.push(file.clone());
        let index = sources.files.len() - 1;
        sources.links.push((Some(index), None, Vec::new()));
        let slot = sources.links.len() - 1;
        stack.push(canonical.clone());
        // Names stay as the scenario wrote them (relative), so errors read as the user wrote.
        let child_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let links = walk(sources, errors, stack, &child_dir, Some(&file), ext, inc);
        stack.pop();
        sources.links[slot] = (Some(index), links.0, links.1);
        Some(index)
    };
    let ext = extends.and_then(|(name, at)| read_one(name, at, sources, errors));
    let inc = include.into_iter().filter_map(|(name, at)| read_one(name, at, sources, errors)).collect();
    (ext, inc)
}

/// Which file wrote each part of the merged document: (path, index into `Sources::files`, or
/// `None` for the scenario itself). The longest matching path decides.
#[derive(Debug, Clone, Default)]
pub struct Written {
    entries: Vec<(KeyPath, Option<Arc<SourceFile>>)>,
}

impl Written {
    /// The file the value at `path` was written in, when it is not the scenario itself.
    pub fn file_of(&self, path: &KeyPath) -> Option<Arc<SourceFile>> {
        self.entries
            .iter()
            .filter(|(p, _)| path.0.starts_with(&p.0))
            .max_by_key(|(p, _)| p.0.len())
            .and_then(|(_, f)| f.clone())
    }

    fn set(&mut self, path: &KeyPath, file: Option<Arc<SourceFile>>) {
        self.entries.retain(|(p, _)| !p.0.starts_with(&path.0));
        self.entries.push((path.clone(), file));
    }
}

/// Merges the files into `main`: for each file, its `extends` first, then its `include`s in
/// order, then its own keys.
pub(crate) fn merge<'i>(main: Spanned<DeTable<'i>>, sources: &'i Sources) -> (Spanned<DeTable<'i>>, Written) {
    let mut written = Written::default();
    let span = main.span();
    let mut out: DeTable<'i> = DeTable::new();
    build(0, sources, &mut out, &mut written, Some(main.into_inner()));
    // The scenario's own keys are recorded last by `build`; nothing else to do.
    (Spanned::new(span, out), written)
}

/// Merges file `link` (its bases, then itself) into `out`. `own` is the already parsed scenario
/// for link 0.
fn build<'i>(
    link: usize,
    sources: &'i Sources,
    out: &mut DeTable<'i>,
    written: &mut Written,
    own: Option<DeTable<'i>>,
) {
    let Some((file, extends, include)) = sources.links.get(link).cloned() else { return };
    let link_of = |f: usize| sources.links.iter().position(|(i, _, _)| *i == Some(f));
    if let Some(b) = extends.and_then(link_of) {
        build(b, sources, out, written, None);
    }
    for inc in include.into_iter().filter_map(link_of) {
        build(inc, sources, out, written, None);
    }
    let (table, origin) = match (own, file) {
        (Some(t), _) => (t, None),
        (None, Some(f)) => {
            let source = &sources.files[f];
            let (doc, _) = DeTable::parse_recoverable(&source.text);
            (doc.into_inner(), Some(source.clone()))
        }
        (None, None) => return,
    };
    merge_table(out, table, &KeyPath::root(), &origin, written);
}

/// Puts `over`'s keys into `into`: tables merge key by key, anything else replaces.
fn merge_table<'i>(
    into: &mut DeTable<'i>,
    over: DeTable<'i>,
    path: &KeyPath,
    origin: &Option<Arc<SourceFile>>,
    written: &mut Written,
) {
    for (k, v) in over {
        let key = k.get_ref().to_string();
        // `extends` and `include` belong to the file that says them, not to what it becomes.
        if path.0.is_empty() && (key == "extends" || key == "include") && origin.is_some() {
            continue;
        }
        let here = path.key(&key);
        let existing = into.iter_mut().find(|(ek, _)| ek.get_ref().as_ref() == key).map(|(_, ev)| ev);
        match (existing, v.get_ref()) {
            (Some(ev), DeValue::Table(_)) if matches!(ev.get_ref(), DeValue::Table(_)) => {
                let DeValue::Table(over_t) = v.into_inner() else { continue };
                if let DeValue::Table(into_t) = ev.get_mut() {
                    merge_table(into_t, over_t, &here, origin, written);
                }
            }
            (Some(ev), _) => {
                *ev = v;
                written.set(&here, origin.clone());
            }
            (None, _) => {
                into.insert(Spanned::new(k.span(), Cow::Owned(key)), v);
                written.set(&here, origin.clone());
            }
        }
    }
}
