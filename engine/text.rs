//! User text made safe for a terminal. Scenario files, worker output and summaries can hold
//! control characters (an ESC that clears the screen, a newline that forges a line of output);
//! everything herd prints from them goes through these functions first.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes every control character (newlines and tabs included) as `\u{1b}`, for text that
/// must stay on one line: a value inside an error message, a name.
pub fn printable_line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Escapes every control character except newlines and tabs, for multi-line output that herd
/// built itself around user text (a summary, a plan).
pub fn printable_text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

/// Replaces control characters other than line feeds and tabs with runs of the same byte
/// length (`?`, or a space for a carriage return, which ends every line of a Windows file), so
/// byte offsets into the text (diagnostic spans) stay valid.
pub fn printable_source(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push(' '),
            c if c.is_control() => out.extend(std::iter::repeat_n('?', c.len_utf8())),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && !keep(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert_eq!(printable_line("p\u{1b}[2J\nx\u{0}"), "p\\u{1b}[2J\\u{a}x\\u{0}");
        assert_eq!(printable_text("a\nb\u{1b}\tc\u{9b}"), "a\nb\\u{1b}\tc\\u{9b}");
        assert!(matches!(printable_line("plain – text"), Cow::Borrowed(_)));
    }

    #[test]
    fn source_replacement_keeps_byte_offsets() {
        let s = "a\u{1b}b\u{9b}c\r\nd\te\u{7f}\rx";
        let p = printable_source(s);
        assert_eq!(p.len(), s.len());
        assert_eq!(p, "a?b??c \nd\te? x");
    }
}
