//! Parameters of a scenario: `--set path=value` overrides from the command line, the `[vars]`
//! table, and the environment variables a scenario may read (`env_allow`). They are applied to
//! the spanned TOML tree before anything checks it, so a value that comes from a parameter is
//! checked exactly as if it had been written in the file, and its errors say where it came from.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::OnceLock;

use indexmap::IndexMap;
use regex::Regex;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, KeyPath};

/// What the command line adds to a scenario: `--set path=value` arguments in order (`--vars`
/// files arrive here as one `vars.name=value` each).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `path=value` texts, as given.
    pub sets: Vec<String>,
}

/// Where parameters changed the file: for errors about those keys to say so.
#[derive(Debug, Clone, Default)]
pub struct ParamOrigins {
    /// Keys set by `--set`, with the argument.
    pub set: Vec<(KeyPath, String)>,
    /// Values that used `{{ vars.* }}` or `{{ env.* }}`, with the references.
    pub used: Vec<(KeyPath, String)>,
}

impl ParamOrigins {
    /// Adds to a diagnostic's help where the value it is about came from.
    pub fn annotate(&self, d: &mut Diagnostic) {
        let mut notes = Vec::new();
        for (path, arg) in &self.set {
            if d.path.0.starts_with(&path.0) {
                notes.push(format!("the value comes from `--set {arg}`"));
            }
        }
        for (path, refs) in &self.used {
            if d.path == *path {
                notes.push(format!("the value uses {refs}"));
            }
        }
        if notes.is_empty() {
            return;
        }
        let note = notes.join("; ");
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h} ({note})"),
            None => note,
        });
    }
}

/// `{{ vars.name }}` or `{{ env.NAME }}`, with optional whitespace control.
fn reference() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{-?\s*(vars|env)\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
            .unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable!()))
    })
}

/// A name a variable may have.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies `--set` arguments to the document; errors name the argument.
pub(crate) fn apply_sets<'i>(
    doc: &mut Spanned<DeTable<'i>>,
    sets: &'i [String],
    origins: &mut ParamOrigins,
    errors: &mut Vec<Diagnostic>,
) {
    for arg in sets {
        let Some((path, value)) = arg.split_once('=') else {
            errors.push(
                Diagnostic::at(KeyPath::root(), format!("--set {arg}: expected `path=value`"))
                    .span(0..0)
                    .help("e.g. --set vars.rate=20/s, --set phases.load.duration=10m, --set target.containers.max=20"),
            );
            continue;
        };
        let segments: Vec<&str> = path.trim().split('.').collect();
        if segments.iter().any(|s| s.trim().is_empty()) {
            errors.push(
                Diagnostic::at(KeyPath::root(), format!("--set {arg}: `{path}` has an empty part"))
                    .span(0..0)
                    .help("a path is keys joined by `.`, with phases, sessions and faults chosen by name or index"),
            );
            continue;
        }
        // A value that is valid TOML (20, true, "text", [1, 2]) keeps its type; anything else
        // (20/s, 5m) is a string.
        let value = value.trim();
        let parsed = DeValue::parse(value).ok().map(Spanned::into_inner);
        let value = parsed.unwrap_or(DeValue::String(Cow::Borrowed(value)));
        match set_path(doc, &segments, value) {
            Ok(key_path) => origins.set.push((key_path, arg.clone())),
            Err(e) => errors.push(Diagnostic::at(KeyPath::root(), format!("--set {arg}: {e}")).span(0..0)),
        }
    }
}

/// Puts `value` at `segments`, creating tables on the way; array elements (phases, sessions,
/// faults) are chosen by their `name` or their index. Returns the key's path.
fn set_path<'i>(doc: &mut Spanned<DeTable<'i>>, segments: &[&str], value: DeValue<'i>) -> Result<KeyPath, String> {
    let span = doc.span();
    let mut table: &mut DeTable<'i> = doc.get_mut();
    let mut path = KeyPath::root();
    let mut i = 0;
    while i + 1 < segments.len() {
        let key = segments[i];
        path = path.key(key);
        if !table.iter().any(|(k, _)| k.get_ref().as_ref() == key) {
            table.insert(
                Spanned::new(span.clone(), Cow::Owned(key.to_owned())),
                Spanned::new(span.clone(), DeValue::Table(DeTable::new())),
            );
        }
        let Some((_, entry)) = table.iter_mut().find(|(k, _)| k.get_ref().as_ref() == key) else {
            return Err(format!("cannot reach `{key}`"));
        };
        match entry.get_mut() {
            DeValue::Table(t) => {
                table = t;
                i += 1;
            }
            DeValue::Array(items) => {
                let which = segments[i + 1];
                let names: Vec<String> =
                    items.iter().enumerate().map(|(n, item)| element_name(key, n, item.get_ref())).collect();
                let index = match which.parse::<usize>() {
                    Ok(n) if n < items.len() => n,
                    _ => names.iter().position(|n| n == which).ok_or_else(|| {
                        format!(
                            "no entry of `{key}` is named \"{which}\"; names: {} (or an index from 0 to {})",
                            names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", "),
                            items.len().saturating_sub(1)
                        )
                    })?,
                };
                path = path.index(index);
                let Some(item) = items.get_mut(index) else { return Err(format!("`{key}` has no entry {index}")) };
                match item.get_mut() {
                    DeValue::Table(t) => table = t,
                    _ => return Err(format!("entry {index} of `{key}` is not a table")),
                }
                i += 2;
                if i >= segments.len() {
                    return Err(format!("say which key of `{key}.{which}` to set"));
                }
            }
            _ => return Err(format!("`{key}` is a value, not a table")),
        }
    }
    let Some(last) = segments.last() else { return Err("an empty path".into()) };
    let at = table.iter().find(|(k, _)| k.get_ref().as_ref() == *last).map_or(span.clone(), |(_, v)| v.span());
    let existing = table.iter_mut().find(|(k, _)| k.get_ref().as_ref() == *last);
    match existing {
        Some((_, v)) => *v = Spanned::new(at, value),
        None => {
            table.insert(Spanned::new(at.clone(), Cow::Owned((*last).to_owned())), Spanned::new(at, value));
        }
    }
    Ok(path.key(last))
}

/// The name `--set` selects an array element by: its `name`, else the default a phase or a
/// session group gets.
fn element_name(array: &str, n: usize, item: &DeValue<'_>) -> String {
    if let DeValue::Table(t) = item
        && let Some((_, v)) = t.iter().find(|(k, _)| k.get_ref().as_ref() == "name")
        && let DeValue::String(s) = v.get_ref()
    {
        return s.to_string();
    }
    match array {
        "phases" => format!("phase-{}", n + 1),
        "sessions" if n == 0 => "sessions".to_owned(),
        "sessions" => format!("sessions-{}", n + 1),
        _ => n.to_string(),
    }
}

/// A variable's value, as TOML wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// true or false.
    Bool(bool),
}

impl VarValue {
    /// The value as text, for use inside a longer string.
    pub fn text(&self) -> String {
        match self {
            VarValue::Text(s) => s.clone(),
            VarValue::Integer(i) => i.to_string(),
            VarValue::Float(f) => f.to_string(),
            VarValue::Bool(b) => b.to_string(),
        }
    }

    /// The value as a TOML literal, for a string that is nothing but the reference.
    fn literal(&self) -> String {
        match self {
            VarValue::Text(s) => toml::Value::String(s.clone()).to_string(),
            other => other.text(),
        }
    }

    /// The value for templates.
    pub fn json(&self) -> serde_json::Value {
        match self {
            VarValue::Text(s) => serde_json::Value::from(s.clone()),
            VarValue::Integer(i) => serde_json::Value::from(*i),
            VarValue::Float(f) => serde_json::Value::from(*f),
            VarValue::Bool(b) => serde_json::Value::from(*b),
        }
    }
}

/// The parameters a file can refer to: its `[vars]` (after `--set`) and the allowed
/// environment variables that are set.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// `vars.*`, in file order.
    pub vars: IndexMap<String, VarValue>,
    /// `env.*`: only the names `env_allow` lists.
    pub env: BTreeMap<String, String>,
}

impl Params {
    /// Both as one JSON object `{ "vars": {...}, "env": {...} }`, for template globals.
    pub fn globals(&self) -> serde_json::Value {
        let vars: serde_json::Map<String, serde_json::Value> =
            self.vars.iter().map(|(k, v)| (k.clone(), v.json())).collect();
        serde_json::json!({ "vars": vars, "env": self.env })
    }
}

/// Reads `[vars]` and `env_allow` from the document.
pub(crate) fn collect(doc: &Spanned<DeTable<'_>>, errors: &mut Vec<Diagnostic>) -> Params {
    let mut params = Params::default();
    let root = doc.get_ref();
    if let Some((_, vars)) = root.iter().find(|(k, _)| k.get_ref().as_ref() == "vars")
        && let DeValue::Table(t) = vars.get_ref()
    {
        for (k, v) in t {
            let name = k.get_ref().as_ref();
            if !is_identifier(name) {
                errors.push(
                    Diagnostic::at(KeyPath::root().key("vars").key(name), format!("`{name}` cannot name a variable"))
                        .span(k.span())
                        .label("not a name")
                        .help("a variable's name is letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            let value = match v.get_ref() {
                DeValue::String(s) => VarValue::Text(s.to_string()),
                DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => VarValue::Integer(n),
                    Err(_) => continue,
                },
                DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                    Ok(x) => VarValue::Float(x),
                    Err(_) => continue,
                },
                DeValue::Boolean(b) => VarValue::Bool(*b),
                // The schema walk says what a variable may hold.
                _ => continue,
            };
            params.vars.insert(name.to_owned(), value);
        }
    }
    if let Some((_, allow)) = root.iter().find(|(k, _)| k.get_ref().as_ref() == "env_allow")
        && let DeValue::Array(names) = allow.get_ref()
    {
        for name in names.iter() {
            if let DeValue::String(n) = name.get_ref()
                && let Ok(value) = std::env::var(n.as_ref())
            {
                params.env.insert(n.to_string(), value);
            }
        }
    }
    params
}

/// The names `env_allow` lists, set or not.
fn allowed_env(doc: &Spanned<DeTable<'_>>) -> Vec<String> {
    doc.get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "env_allow")
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::Array(items) => {
                Some(items.iter().filter_map(|i| i.get_ref().as_str().map(str::to_owned)).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// The TOML literal of every parameter, made before the document borrows them.
pub(crate) struct Literals {
    texts: BTreeMap<(bool, String), String>,
}

impl Literals {
    /// Literals of `params`.
    pub(crate) fn of(params: &Params) -> Self {
        let mut texts = BTreeMap::new();
        for (k, v) in &params.vars {
            texts.insert((false, k.clone()), v.literal());
        }
        for (k, v) in &params.env {
            texts.insert((true, k.clone()), toml::Value::String(v.clone()).to_string());
        }
        Self { texts }
    }
}

/// Replaces every `{{ vars.name }}` and `{{ env.NAME }}` in the document's strings (not in
/// `[vars]` itself): a string that is only a reference takes the parameter's own type (so
/// `count = "{{ vars.n }}"` is a number), a reference inside a longer string its text.
pub(crate) fn substitute<'i>(
    doc: &mut Spanned<DeTable<'i>>,
    params: &Params,
    literals: &'i Literals,
    origins: &mut ParamOrigins,
    errors: &mut Vec<Diagnostic>,
) {
    let allowed = allowed_env(doc);
    let mut cx = Subst { params, literals, allowed: &allowed, origins, errors };
    for (k, v) in doc.get_mut().iter_mut() {
        let key = k.get_ref().as_ref();
        if key == "vars" || key == "env_allow" {
            continue;
        }
        cx.value(v, &KeyPath::root().key(key));
    }
}

struct Subst<'a, 'i> {
    params: &'a Params,
    literals: &'i Literals,
    allowed: &'a [String],
    origins: &'a mut ParamOrigins,
    errors: &'a mut Vec<Diagnostic>,
}

impl<'i> Subst<'_, 'i> {
    fn value(&mut self, v: &mut Spanned<DeValue<'i>>, path: &KeyPath) {
        let span = v.span();
        match v.get_mut() {
            DeValue::Table(t) => {
                for (k, item) in t.iter_mut() {
                    let key = k.get_ref().to_string();
                    self.value(item, &path.key(&key));
                }
            }
            DeValue::Array(items) => {
                for (n, item) in items.iter_mut().enumerate() {
                    self.value(item, &path.index(n));
                }
            }
            DeValue::String(s) if s.contains("{{") => {
                if let Some(new) = self.string(s, span.clone(), path) {
                    *v = Spanned::new(span, new);
                }
            }
            _ => {}
        }
    }

    /// The replacement of one string, if it refers to a parameter.
    fn string(&mut self, s: &str, span: Range<usize>, path: &KeyPath) -> Option<DeValue<'i>> {
        let refs: Vec<(bool, String, Range<usize>)> = reference()
            .captures_iter(s)
            .filter_map(|c| {
                let whole = c.get(0)?;
                Some((&c[1] == "env", c[2].to_owned(), whole.range()))
            })
            .collect();
        if refs.is_empty() {
            return None;
        }
        let mut ok = true;
        for (env, name, _) in &refs {
            if let Some(message) = self.missing(*env, name) {
                self.errors.push(
                    Diagnostic::at(path.clone(), message.0)
                        .span(span.clone())
                        .label("unknown parameter")
                        .help(message.1),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let names: Vec<String> =
            refs.iter().map(|(env, n, _)| format!("`{}.{n}`", if *env { "env" } else { "vars" })).collect();
        self.origins.used.push((path.clone(), names.join(", ")));
        // Only a reference: the parameter's own type.
        if let [(env, name, range)] = refs.as_slice()
            && s[..range.start].trim().is_empty()
            && s[range.end..].trim().is_empty()
            && let Some(text) = self.literals.texts.get(&(*env, name.clone()))
            && let Ok(parsed) = DeValue::parse(text)
        {
            return Some(parsed.into_inner());
        }
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for (env, name, range) in &refs {
            out.push_str(&s[last..range.start]);
            let text = if *env {
                self.params.env.get(name).cloned().unwrap_or_default()
            } else {
                self.params.vars.get(name).map(VarValue::text).unwrap_or_default()
            };
            out.push_str(&text);
            last = range.end;
        }
        out.push_str(&s[last..]);
        Some(DeValue::String(Cow::Owned(out)))
    }

    /// Why a reference cannot be resolved, with what is accepted.
    fn missing(&self, env: bool, name: &str) -> Option<(String, String)> {
        if env {
            if !self.allowed.iter().any(|a| a == name) {
                return Some((
                    format!("`env.{name}` is not in `env_allow`"),
                    format!("a scenario reads only the environment variables it lists: env_allow = [\"{name}\"]"),
                ));
            }
            if !self.params.env.contains_key(name) {
                return Some((
                    format!("the environment variable {name} is not set"),
                    format!("set it (export {name}=...) or stop using `env.{name}`"),
                ));
            }
            return None;
        }
        if self.params.vars.contains_key(name) {
            return None;
        }
        let defined: Vec<String> = self.params.vars.keys().map(|k| format!("`{k}`")).collect();
        let near = super::nearest(name, self.params.vars.keys().map(String::as_str))
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        Some((
            format!("`vars.{name}` is not defined"),
            if defined.is_empty() {
                format!("add it: [vars] {name} = ..., or pass --set vars.{name}=...")
            } else {
                format!("{near}defined: {}; or pass --set vars.{name}=...", defined.join(", "))
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_with_whitespace_control() {
        let caps: Vec<String> =
            reference().captures_iter("{{vars.a}} {{- env.B -}} {{ vars.c * 2 }}").map(|c| c[2].to_owned()).collect();
        assert_eq!(caps, ["a", "B"]);
    }

    #[test]
    fn names_are_identifiers() {
        assert!(is_identifier("rate_1") && is_identifier("_x"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
    }
}
