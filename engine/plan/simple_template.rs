//! Templates that are only text and `{{ a.b.c }}` lookups (each optionally `| tojson`), rendered
//! without the template engine.
//!
//! Nearly every message template is of this kind (`herd message {{ message.seq }}`, a JSON body
//! with `{{ message.id }}` and `{{ message.instruction | tojson }}`). Rendering them through
//! minijinja meant turning each message's context into the engine's values first, copying
//! strings into maps, and then running its interpreter: measured at 20 messages a second that was
//! 8 % of all herd's CPU, and a fifth of it at the send ceiling. Here a template is split once,
//! at compile time, into text and lookups, and a message's text is the pieces joined, with the
//! values read straight from the session and the message.
//!
//! It is exact or it steps aside. Only what is certain to render the same as minijinja is
//! taken: anything else (a block, a comment, whitespace control, a filter other than `tojson`,
//! an index, a literal) makes `parse` return `None`, and a lookup the caller cannot answer with a
//! string or an unsigned integer makes `render` return `None`; the engine then renders the
//! template as before, with its errors (an undefined variable is still refused by name). The
//! tests render every form both ways and compare.

/// A value a lookup answers with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    /// A string, printed as it is (herd's templates are not auto-escaped).
    Str(&'a str),
    /// An unsigned integer, printed in decimal.
    Uint(u64),
}

#[derive(Debug, Clone)]
enum Part {
    Text(Box<str>),
    Lookup { path: Box<[Box<str>]>, json: bool },
}

/// A template of text and lookups, ready to render.
#[derive(Debug, Clone)]
pub(crate) struct SimpleTemplate {
    parts: Box<[Part]>,
    /// The length of the text pieces, to size the output once.
    text_len: usize,
}

/// Whitespace minijinja's lexer skips inside a tag.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// An ASCII identifier, as minijinja reads one (it reads more, but nothing else is taken here).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The words minijinja reads as literals or operators, never as a variable.
fn is_reserved(s: &str) -> bool {
    matches!(
        s,
        "true" | "false" | "none" | "True" | "False" | "None" | "not" | "and" | "or" | "in" | "is" | "if" | "else"
    )
}

/// What is inside one `{{ ... }}`: a dotted path, and whether it ends in `| tojson`.
fn parse_expression(inner: &str) -> Option<(Box<[Box<str>]>, bool)> {
    let (expr, json) = match inner.split_once('|') {
        Some((expr, filter)) => (expr, filter.trim_matches(is_space) == "tojson"),
        None => (inner, false),
    };
    if inner.contains('|') && !json {
        return None;
    }
    let expr = expr.trim_matches(is_space);
    let path: Vec<Box<str>> = expr.split('.').map(Box::from).collect();
    if path.iter().any(|seg| !is_identifier(seg)) || is_reserved(&path[0]) {
        return None;
    }
    Some((path.into_boxed_slice(), json))
}

impl SimpleTemplate {
    /// Splits `source` into text and lookups, or `None` when it holds anything else.
    pub(crate) fn parse(source: &str) -> Option<Self> {
        // minijinja drops one trailing newline (`keep_trailing_newline` is off), then one `\r`.
        let source = source.strip_suffix('\n').unwrap_or(source);
        let source = source.strip_suffix('\r').unwrap_or(source);
        let mut parts = Vec::new();
        let mut text_len = 0;
        let mut rest = source;
        loop {
            let Some(open) = rest.find('{') else {
                if !rest.is_empty() {
                    text_len += rest.len();
                    parts.push(Part::Text(rest.into()));
                }
                break;
            };
            let after = &rest[open + 1..];
            match after.chars().next() {
                Some('{') => {}
                // A block or a comment: the engine's.
                Some('%' | '#') => return None,
                // A lone brace is text.
                _ => {
                    let end = open + 1;
                    text_len += end;
                    parts.push(Part::Text(rest[..end].into()));
                    rest = &rest[end..];
                    continue;
                }
            }
            if open > 0 {
                text_len += open;
                parts.push(Part::Text(rest[..open].into()));
            }
            let inner_start = open + 2;
            let close = rest[inner_start..].find("}}")? + inner_start;
            let inner = &rest[inner_start..close];
            // Whitespace control (`{{-`, `-}}`, `{{+`) and nested braces are the engine's.
            if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) || inner.contains(['{', '}']) {
                return None;
            }
            let (path, json) = parse_expression(inner)?;
            parts.push(Part::Lookup { path, json });
            rest = &rest[close + 2..];
        }
        // Adjacent text pieces (split at a lone brace) are one.
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for part in parts {
            match (merged.last_mut(), part) {
                (Some(Part::Text(prev)), Part::Text(next)) => *prev = format!("{prev}{next}").into(),
                (_, part) => merged.push(part),
            }
        }
        Some(Self { parts: merged.into_boxed_slice(), text_len })
    }

    /// The text, with each lookup answered by `lookup`; `None` when one is not answered (the
    /// engine then renders the template, and says what is wrong if anything is).
    pub(crate) fn render<'a>(&self, lookup: impl Fn(&[Box<str>]) -> Option<Scalar<'a>>) -> Option<String> {
        let mut out = String::with_capacity(self.text_len + 16 * self.parts.len());
        for part in &*self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Lookup { path, json } => match (lookup(path)?, json) {
                    (Scalar::Str(s), false) => out.push_str(s),
                    (Scalar::Str(s), true) => write_json_str(&mut out, s),
                    (Scalar::Uint(n), _) => {
                        use std::fmt::Write as _;
                        let _ = write!(out, "{n}");
                    }
                },
            }
        }
        Some(out)
    }
}

/// A JSON string literal as minijinja's `tojson` writes one: `"`, `\` and control characters
/// escaped, and `<`, `>`, `&` and `'` too (its output is safe in HTML as well).
fn write_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\x08' => Some("\\b"),
            b'\x0c' => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            b if b < 0x20 || matches!(b, b'<' | b'>' | b'&' | b'\'') => Some(""),
            _ => None,
        };
        let Some(escape) = escape else { continue };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use minijinja::{Environment, UndefinedBehavior, context};

    use super::*;

    /// The engine's rendering of `source` with the context below, as herd configures it.
    fn engine(source: &str) -> Result<String, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_global("vars", context! { a => "global" });
        env.render_str(source, context! {
            message => context! { id => "9f\"<b>&'x\\y\n\t\u{1}\u{7f}é", seq => 7u64, data => context! { col => "v" } },
            session => context! { project => "p-1", index => 3usize },
        })
        .map_err(|e| e.to_string())
    }

    fn lookup(path: &[Box<str>]) -> Option<Scalar<'static>> {
        let path: Vec<&str> = path.iter().map(|s| &**s).collect();
        Some(match path.as_slice() {
            ["message", "id"] => Scalar::Str("9f\"<b>&'x\\y\n\t\u{1}\u{7f}é"),
            ["message", "seq"] => Scalar::Uint(7),
            ["message", "data", "col"] => Scalar::Str("v"),
            ["session", "project"] => Scalar::Str("p-1"),
            ["session", "index"] => Scalar::Uint(3),
            _ => return None,
        })
    }

    /// Every form the fast path takes renders exactly as the engine renders it.
    #[test]
    fn taken_forms_render_as_the_engine_does() {
        let taken = [
            "",
            "plain text",
            "herd message {{ message.seq }}",
            r#"{"commandId": "{{ message.id }}", "instruction": {{ message.id | tojson }}}"#,
            "{{message.id|tojson}}{{   session.project   }}",
            "{{\tmessage.seq\n}}-{{ message.seq | tojson }}",
            "{{ message.data.col }}/{{ session.index }}",
            "a { b } c }} d {",
            "{ {{ message.seq }} }",
            "trailing newline\n",
            "trailing crlf {{ message.seq }}\r\n",
            "two newlines\n\n",
            "é ünïcode {{ session.project }} ✓",
        ];
        for source in taken {
            let simple = SimpleTemplate::parse(source).unwrap_or_else(|| panic!("{source:?} is taken"));
            let fast = simple.render(lookup).unwrap_or_else(|| panic!("{source:?} renders"));
            assert_eq!(Ok(fast), engine(source), "{source:?}");
        }
    }

    /// Forms the engine must render (or refuse) are left to it.
    #[test]
    fn other_forms_are_left_to_the_engine() {
        for source in [
            "{% if true %}x{% endif %}",
            "{# a comment #}",
            "{{- message.seq }}",
            "{{ message.seq -}}",
            "{{+ message.seq }}",
            "{{ message.seq | upper }}",
            "{{ message.seq | tojson(indent=2) }}",
            "{{ message['id'] }}",
            "{{ message.seq + 1 }}",
            "{{ true }}",
            "{{ none }}",
            "{{ 1 }}",
            "{{ message. seq }}",
            "{{ }}",
            "{{ message.seq",
            "{{ {'a': 1} }}",
            "{{ mess-age }}",
            "{{ ünï }}",
        ] {
            assert!(SimpleTemplate::parse(source).is_none(), "{source:?} must be the engine's");
        }
        // Taken, but a lookup the caller does not answer sends it to the engine, which says
        // what is wrong, or knows the answer (a global).
        for source in ["{{ message.nope }}", "{{ vars.a }}", "{{ session.index.x }}"] {
            let simple = SimpleTemplate::parse(source).expect("taken");
            assert!(simple.render(lookup).is_none(), "{source:?}");
        }
        assert!(engine("{{ message.nope }}").is_err());
        assert_eq!(engine("{{ vars.a }}").as_deref(), Ok("global"));
    }
}
