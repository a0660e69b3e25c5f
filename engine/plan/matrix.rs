//! `[matrix]` compiled: the variants of a what-if sweep, each a list of `--set` overrides that
//! the scenario is compiled again with.

use serde::Serialize;

use super::Compiler;
use crate::scenario::{KeyPath, MatrixSpec, VarSpec};

/// The most variants one sweep may have.
pub const MAX_VARIANTS: usize = 1000;

/// One variant of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// Its number, from 1, in sweep order.
    pub index: usize,
    /// Each swept parameter's value in this variant, as text, in parameter order.
    pub values: Vec<(String, String)>,
    /// The overrides that make it, `path=value` as `--set` takes them.
    pub sets: Vec<String>,
}

impl Variant {
    /// `containers.max=2, rate=10/s`: the parameters' last keys and values.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(p, v)| format!("{}={v}", p.rsplit('.').next().unwrap_or(p)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A compiled `[matrix]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixPlan {
    /// The swept parameters, in the order written.
    pub parameters: Vec<String>,
    /// Every variant, in order.
    pub variants: Vec<Variant>,
    /// Variants at once; `None` for the machine's cores.
    pub parallel: Option<usize>,
}

/// A value as text (for labels) and as a TOML literal (for `--set`).
fn value_texts(v: &VarSpec) -> (String, String) {
    match v {
        VarSpec::Bool(b) => (b.to_string(), b.to_string()),
        VarSpec::Integer(i) => (i.to_string(), i.to_string()),
        VarSpec::Float(f) => (f.to_string(), toml::Value::Float(*f).to_string()),
        VarSpec::Text(t) => (t.clone(), toml::Value::String(t.clone()).to_string()),
    }
}

/// A parameter path: keys joined by `.`, none empty, and not the matrix itself.
fn check_path(path: &str) -> Result<(), String> {
    if path.split('.').any(|s| s.trim().is_empty()) {
        return Err(format!(
            "`{path}` is not a parameter path; write keys joined by `.`, e.g. \"target.containers.max\" or \"vars.rate\""
        ));
    }
    if !path.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(format!(
            "`{path}` is not a parameter path; keys, names and indexes are letters, digits, `_` and `-`, joined by `.`"
        ));
    }
    if path == "matrix" || path.starts_with("matrix.") || path == "name" {
        return Err(format!("`{path}` cannot be swept; sweep model, load and `vars` values"));
    }
    Ok(())
}

/// Compiles `[matrix]`, reporting every bad entry at its key.
pub(crate) fn compile_matrix(c: &mut Compiler, spec: &MatrixSpec, path: KeyPath) -> Option<MatrixPlan> {
    let before = c.errors.len();
    let mut parameters: Vec<String> = Vec::new();
    let mut variants: Vec<Vec<(String, (String, String))>> = Vec::new();
    if !spec.values.is_empty() && !spec.combinations.is_empty() {
        c.err(
            path.key("combinations"),
            "give `values` (every combination runs) or `combinations` (these run), not both",
        );
    } else if !spec.combinations.is_empty() {
        for (i, combo) in spec.combinations.iter().enumerate() {
            if combo.is_empty() {
                c.err(
                    path.key("combinations").index(i),
                    "an empty combination; give at least one parameter and its value",
                );
                continue;
            }
            let mut v = Vec::new();
            for (p, value) in combo {
                if let Err(e) = check_path(p) {
                    c.err(path.key("combinations").index(i).key(p), e);
                    continue;
                }
                if !parameters.contains(p) {
                    parameters.push(p.clone());
                }
                v.push((p.clone(), value_texts(value)));
            }
            variants.push(v);
        }
    } else if spec.values.is_empty() {
        c.err(path.key("values"), "the matrix sweeps nothing; give `values` (a list per parameter) or `combinations`");
    } else {
        variants.push(Vec::new());
        for (p, list) in &spec.values {
            if let Err(e) = check_path(p) {
                c.err(path.key("values").key(p), e);
                continue;
            }
            if list.is_empty() {
                c.err(path.key("values").key(p), format!("`{p}` has no values; give at least one"));
                continue;
            }
            parameters.push(p.clone());
            let count = variants.len().saturating_mul(list.len());
            if count > MAX_VARIANTS {
                c.err(
                    path.key("values").key(p),
                    format!("the sweep has {count} variants or more, over the limit of {MAX_VARIANTS}; sweep fewer values or list `combinations`"),
                );
                return None;
            }
            variants = variants
                .into_iter()
                .flat_map(|v| {
                    list.iter().map(move |value| {
                        let mut v = v.clone();
                        v.push((p.clone(), value_texts(value)));
                        v
                    })
                })
                .collect();
        }
    }
    if variants.len() > MAX_VARIANTS {
        c.err(path.key("combinations"), format!("{} combinations, over the limit of {MAX_VARIANTS}", variants.len()));
    }
    let parallel = match spec.parallel {
        None => None,
        Some(n) if (1..=256).contains(&n) => Some(n as usize),
        Some(n) => {
            c.err(path.key("parallel"), format!("parallel is {n}; write how many variants run at once, 1 to 256"));
            None
        }
    };
    if c.errors.len() > before {
        return None;
    }
    let variants = variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| Variant {
            index: i + 1,
            values: v.iter().map(|(p, (text, _))| (p.clone(), text.clone())).collect(),
            sets: v.iter().map(|(p, (_, literal))| format!("{p}={literal}")).collect(),
        })
        .collect();
    Some(MatrixPlan { parameters, variants, parallel })
}
