//! Structural checks of a parsed TOML document against the scenario's JSON Schema.
//!
//! serde stops at the first unknown key or wrong type. Walking the document against the schema
//! that schemars generates from the same types finds all of them at once, with the span of each
//! key, and keeps the schema the single source of truth for what a file may contain.

use serde_json::{Map, Value as Json};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, KeyPath};

/// Walks `doc` against `schema` and returns every structural error.
pub(crate) fn check_document(doc: &Spanned<DeTable<'_>>, schema: &Json) -> Vec<Diagnostic> {
    let mut checker = Checker { root: schema, out: Vec::new() };
    checker.check_table(doc.get_ref(), doc.span(), schema, &KeyPath::root());
    checker.out
}

struct Checker<'s> {
    root: &'s Json,
    out: Vec<Diagnostic>,
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn json_type_matches(ty: &str, v: &DeValue<'_>) -> bool {
    match ty {
        "string" => matches!(v, DeValue::String(_)),
        "integer" => matches!(v, DeValue::Integer(_)),
        "number" => matches!(v, DeValue::Integer(_) | DeValue::Float(_)),
        "boolean" => matches!(v, DeValue::Boolean(_)),
        "array" => matches!(v, DeValue::Array(_)),
        "object" => matches!(v, DeValue::Table(_)),
        _ => false,
    }
}

fn describe_type(ty: &str) -> &str {
    match ty {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "array" => "an array",
        "object" => "a table",
        other => other,
    }
}

/// The accepted spelling nearest to `given`, when it is close enough to be a typo.
pub(crate) fn nearest<'a>(given: &str, accepted: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    accepted
        .into_iter()
        .map(|a| (strsim::jaro_winkler(given, a), a))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a)
}

fn quote_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

impl<'s> Checker<'s> {
    fn resolve(&self, schema: &'s Json) -> &'s Json {
        let mut schema = schema;
        // A schema can be a `$ref` to a definition, possibly wrapped once in `allOf`.
        for _ in 0..8 {
            if let Some(r) = schema.get("$ref").and_then(Json::as_str) {
                let pointer = r.trim_start_matches('#');
                match self.root.pointer(pointer) {
                    Some(target) => schema = target,
                    None => return schema,
                }
            } else {
                return schema;
            }
        }
        schema
    }

    fn check_value(&mut self, value: &Spanned<DeValue<'_>>, schema: &'s Json, path: &KeyPath) {
        let schema = self.resolve(schema);
        let v = value.get_ref();
        if let Some(alts) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Json::as_array) {
            self.check_alternatives(value, schema, alts, path);
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Json::as_array) {
            let accepted: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
            self.check_one_of_strings(value, path, &accepted);
            return;
        }
        if let Some(c) = schema.get("const").and_then(Json::as_str) {
            if v.as_str() != Some(c) {
                self.out.push(
                    Diagnostic::at(path.clone(), format!("`{}` must be \"{c}\"", key_name(path)))
                        .span(value.span())
                        .label("unexpected value"),
                );
            }
            return;
        }
        if let Some(types) = schema_types(schema) {
            // `null` only stands for an omitted optional key; TOML has no null.
            let real: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
            if !real.is_empty() && !real.iter().any(|t| json_type_matches(t, v)) {
                let expected = real.iter().map(|t| describe_type(t)).collect::<Vec<_>>().join(" or ");
                let mut d = Diagnostic::at(
                    path.clone(),
                    format!("`{}` must be {expected}, found {}", key_name(path), type_name(v)),
                )
                .span(value.span())
                .label(format!("expected {expected}"));
                if let Some(desc) = schema.get("description").and_then(Json::as_str) {
                    d = d.help(first_sentence(desc));
                }
                self.out.push(d);
                return;
            }
        }
        // A whole number outside what its key's type holds (`seed = 18446744073709551616`, a
        // `u32` of 2^32) is said in words here, with every other error, instead of failing the
        // whole file later with serde's "expected u64".
        if let DeValue::Integer(i) = v {
            let text = i.to_string();
            let (lo, hi, words) = match schema.get("format").and_then(Json::as_str) {
                Some("uint64") => (0, i128::from(u64::MAX), "0 to 18446744073709551615"),
                Some("uint32") => (0, i128::from(u32::MAX), "0 to 4294967295"),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX), "-9223372036854775808 to 9223372036854775807"),
            };
            if !parse_toml_integer(&text).is_some_and(|n| (lo..=hi).contains(&n)) {
                self.out.push(
                    Diagnostic::at(path.clone(), format!("`{}` = {text} is out of range", key_name(path)))
                        .span(value.span())
                        .label("out of range")
                        .help(format!("accepted: a whole number from {words}")),
                );
                return;
            }
        }
        if let (Some(min), DeValue::Integer(i)) = (schema.get("minimum").and_then(Json::as_f64), v)
            && let Some(n) = i.to_string().replace('_', "").parse::<f64>().ok()
            && n < min
        {
            self.out.push(
                Diagnostic::at(path.clone(), format!("`{}` = {n} is below the minimum {min}", key_name(path)))
                    .span(value.span())
                    .label("too small")
                    .help(format!("accepted: a whole number of at least {min}")),
            );
            return;
        }
        match v {
            DeValue::Table(t) => self.check_table(t, value.span(), schema, path),
            DeValue::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item, item_schema, &path.index(i));
                    }
                }
            }
            _ => {}
        }
    }

    /// Checks a value that must be one of a fixed set of strings.
    fn check_one_of_strings(&mut self, value: &Spanned<DeValue<'_>>, path: &KeyPath, accepted: &[&str]) {
        match value.get_ref() {
            DeValue::String(s) if accepted.contains(&s.as_ref()) => {}
            DeValue::String(s) => self.unknown_value(value, path, s, accepted),
            other => self.out.push(
                Diagnostic::at(
                    path.clone(),
                    format!("`{}` must be a string, found {}", key_name(path), type_name(other)),
                )
                .span(value.span())
                .label("wrong type")
                .help(format!("accepted: {}", quote_list(accepted.iter().copied()))),
            ),
        }
    }

    fn unknown_value(&mut self, value: &Spanned<DeValue<'_>>, path: &KeyPath, given: &str, accepted: &[&str]) {
        let mut help = format!("accepted: {}", quote_list(accepted.iter().copied()));
        if let Some(near) = nearest(given, accepted.iter().copied()) {
            help = format!("did you mean `{near}`? {help}");
        }
        self.out.push(
            Diagnostic::at(path.clone(), format!("unknown value \"{given}\" for `{}`", key_name(path)))
                .span(value.span())
                .label("not an accepted value")
                .help(help),
        );
    }

    /// Alternatives are either tagged variants (tables told apart by a `const` tag property) or
    /// shapes of different types (a string or a table). Unit-variant enums with doc comments are
    /// alternatives of `const` strings.
    fn check_alternatives(&mut self, value: &Spanned<DeValue<'_>>, schema: &'s Json, alts: &'s [Json], path: &KeyPath) {
        let v = value.get_ref();
        let alts: Vec<&'s Json> = alts.iter().map(|a| self.resolve(a)).filter(|a| !is_null_schema(a)).collect();
        // `Option<T>` is `anyOf [T, null]`: only T is left to check against.
        if let [only] = alts.as_slice()
            && tag_property(&[only]).is_none()
        {
            self.check_value(value, only, path);
            return;
        }
        // String constants: an enum whose variants carry descriptions.
        let consts: Vec<&str> = alts.iter().filter_map(|a| a.get("const").and_then(Json::as_str)).collect();
        if !consts.is_empty() && consts.len() == alts.len() {
            self.check_one_of_strings(value, path, &consts);
            return;
        }
        // Tagged variants: find the tag property and pick the variant it names.
        if let (Some(tag), DeValue::Table(table)) = (tag_property(&alts), v) {
            let names: Vec<&str> = alts
                .iter()
                .filter_map(|a| a.pointer(&format!("/properties/{tag}/const")).and_then(Json::as_str))
                .collect();
            let given = table.iter().find(|(k, _)| k.get_ref().as_ref() == tag.as_str());
            match given {
                None => {
                    let mut d = Diagnostic::at(path.clone(), format!("missing key `{tag}` in `{}`", key_name(path)))
                        .span(value.span())
                        .label(format!("this table needs `{tag}`"))
                        .help(format!("accepted values of `{tag}`: {}", quote_list(names.iter().copied())));
                    if path.0.is_empty() {
                        d.span = None;
                    }
                    self.out.push(d);
                }
                Some((_, tag_value)) => {
                    let tag_path = path.key(&tag);
                    match tag_value.get_ref().as_str() {
                        Some(name) => match alts.iter().find(|a| {
                            a.pointer(&format!("/properties/{tag}/const")).and_then(Json::as_str) == Some(name)
                        }) {
                            Some(variant) => self.check_table(table, value.span(), variant, path),
                            None => self.unknown_value(tag_value, &tag_path, name, &names),
                        },
                        None => self.out.push(
                            Diagnostic::at(
                                tag_path.clone(),
                                format!("`{tag}` must be a string, found {}", type_name(tag_value.get_ref())),
                            )
                            .span(tag_value.span())
                            .label("wrong type")
                            .help(format!("accepted: {}", quote_list(names.iter().copied()))),
                        ),
                    }
                }
            }
            return;
        }
        // Shapes of different types: check against the first alternative of the value's type.
        if let Some(alt) =
            alts.iter().find(|a| schema_types(a).is_some_and(|ts| ts.iter().any(|t| json_type_matches(t, v))))
        {
            self.check_value(value, alt, path);
            return;
        }
        let expected: Vec<&str> =
            alts.iter().filter_map(|a| schema_types(a)).flatten().filter(|t| *t != "null").map(describe_type).collect();
        let mut d = Diagnostic::at(
            path.clone(),
            format!("`{}` must be {}, found {}", key_name(path), expected.join(" or "), type_name(v)),
        )
        .span(value.span())
        .label("wrong type");
        if let Some(desc) = schema.get("description").and_then(Json::as_str) {
            d = d.help(first_sentence(desc));
        }
        self.out.push(d);
    }

    fn check_table(&mut self, table: &DeTable<'_>, span: std::ops::Range<usize>, schema: &'s Json, path: &KeyPath) {
        let schema = self.resolve(schema);
        if let Some(alts) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Json::as_array) {
            // The document root or a nested value that is itself a tagged enum.
            let wrapped = Spanned::new(span, DeValue::Table(table.clone()));
            self.check_alternatives(&wrapped, schema, alts, path);
            return;
        }
        let props: Option<&'s Map<String, Json>> = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let key_path = path.key(name);
            if let Some(prop) = props.and_then(|p| p.get(name)) {
                // A tag property is checked where the variant was chosen.
                if prop.get("const").is_some() {
                    continue;
                }
                self.check_value(value, prop, &key_path);
            } else {
                match additional {
                    Some(Json::Bool(false)) => {
                        let accepted: Vec<&str> = props
                            .into_iter()
                            .flatten()
                            .filter(|(_, p)| p.get("const").is_none())
                            .map(|(k, _)| k.as_str())
                            .collect();
                        let mut help = format!("accepted keys here: {}", quote_list(accepted.iter().copied()));
                        if let Some(near) = nearest(name, accepted.iter().copied()) {
                            help = format!("did you mean `{near}`? {help}");
                        }
                        let where_ =
                            if path.0.is_empty() { "at the top level".to_owned() } else { format!("in `{path}`") };
                        self.out.push(
                            Diagnostic::at(key_path, format!("unknown key `{name}` {where_}"))
                                .span(key.span())
                                .label("unknown key")
                                .help(help),
                        );
                    }
                    Some(extra) if extra.is_object() => self.check_value(value, extra, &key_path),
                    _ => {}
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for req in required.iter().filter_map(Json::as_str) {
                if props.and_then(|p| p.get(req)).is_some_and(|p| p.get("const").is_some()) {
                    continue;
                }
                if !table.iter().any(|(k, _)| k.get_ref().as_ref() == req) {
                    let desc = props
                        .and_then(|p| p.get(req))
                        .map(|p| self.resolve(p))
                        .and_then(|p| p.get("description"))
                        .and_then(Json::as_str)
                        .map(first_sentence);
                    let where_ = if path.0.is_empty() { "at the top level".to_owned() } else { format!("in `{path}`") };
                    let mut d = Diagnostic::at(path.key(req), format!("missing required key `{req}` {where_}"))
                        .label(format!("`{req}` is required here"));
                    if !path.0.is_empty() {
                        d = d.span(span.clone());
                    }
                    if let Some(desc) = desc {
                        d = d.help(format!("`{req}`: {desc}"));
                    }
                    self.out.push(d);
                }
            }
        }
    }
}

fn key_name(path: &KeyPath) -> String {
    match path.last_key() {
        Some(k) if matches!(path.0.last(), Some(super::diagnostic::PathSeg::Index(_))) => format!("{k}[..]"),
        Some(k) => k.to_owned(),
        None => "document".to_owned(),
    }
}

fn schema_types(schema: &Json) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(a) => Some(a.iter().filter_map(Json::as_str).collect()),
        _ => None,
    }
}

fn is_null_schema(schema: &Json) -> bool {
    schema.get("type").and_then(Json::as_str) == Some("null")
}

/// The property that tells tagged variants apart: present with a `const` in every alternative.
fn tag_property(alts: &[&Json]) -> Option<String> {
    let first = alts.first()?.get("properties")?.as_object()?;
    first
        .iter()
        .filter(|(_, p)| p.get("const").is_some())
        .map(|(k, _)| k)
        .find(|k| alts.iter().all(|a| a.pointer(&format!("/properties/{k}/const")).is_some()))
        .cloned()
}

fn first_sentence(text: &str) -> String {
    let text = text.split("\n\n").next().unwrap_or(text).replace('\n', " ");
    // The first ". " that is not part of "e.g. " or "i.e. " ends the sentence.
    let mut from = 0;
    while let Some(i) = text[from..].find(". ").map(|i| i + from) {
        if !text[..i].ends_with("e.g") && !text[..i].ends_with("i.e") {
            return text[..=i].to_owned();
        }
        from = i + 2;
    }
    text
}

/// A TOML integer's value (decimal with a sign, or `0x`, `0o`, `0b`; underscores allowed), if it
/// fits in an i128.
fn parse_toml_integer(text: &str) -> Option<i128> {
    let t = text.replace('_', "");
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let n = if let Some(h) = digits.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if let Some(b) = digits.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    Some(if negative { -n } else { n })
}
