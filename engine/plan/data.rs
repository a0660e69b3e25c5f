//! Data files for session groups (`[[sessions]] from = "users.csv"`): one row per session, its
//! columns available to the group's templates as `data.*` (and to message templates as
//! `session.data.*`). CSV with a header row, a JSON array of objects, or JSON lines.

use std::collections::BTreeMap;
use std::path::Path;

/// One row: column name to value, as text.
pub(crate) type Row = BTreeMap<String, String>;

/// The largest data file read.
const MAX_BYTES: u64 = 64 << 20;

/// Reads the rows of `path`; an error names the file and, for a bad row, its line.
pub(crate) fn load_rows(path: &Path, max_rows: usize) -> Result<Vec<Row>, String> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{name} is not a regular file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("{name} is {} bytes, over the 64 MiB a data file may have", meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let rows = match ext.as_str() {
        "csv" => csv_rows(&name, &text)?,
        "json" => json_rows(&name, &text)?,
        "jsonl" | "ndjson" => jsonl_rows(&name, &text)?,
        other => {
            return Err(format!(
                "{name}: unknown data format `.{other}`; accepted: .csv (with a header row), .json (an array of objects), .jsonl (an object a line)"
            ));
        }
    };
    if rows.is_empty() {
        return Err(format!("{name} has no rows, so the group would have no sessions"));
    }
    if rows.len() > max_rows {
        return Err(format!("{name} has {} rows; a group has at most {max_rows} sessions", rows.len()));
    }
    Ok(rows)
}

fn csv_rows(name: &str, text: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{name}:1: the header row cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if let Some(bad) = headers.iter().find(|h| !is_column_name(h)) {
        return Err(format!(
            "{name}:1: column {bad:?} cannot be used in templates; name columns with letters, digits and `_`"
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{name}:{line}: {e}")
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            return Err(format!("{name}:{line}: the row has {} fields and the header {}", record.len(), headers.len()));
        }
        rows.push(headers.iter().cloned().zip(record.iter().map(str::to_owned)).collect());
    }
    Ok(rows)
}

fn json_rows(name: &str, text: &str) -> Result<Vec<Row>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{name}:{}: {e}", e.line()))?;
    let serde_json::Value::Array(items) = value else {
        return Err(format!("{name}: expected an array of objects, one per session"));
    };
    items.iter().enumerate().map(|(i, item)| object_row(&format!("{name}: item {}", i + 1), item)).collect()
}

fn jsonl_rows(name: &str, text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", n + 1);
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{at}: {e}"))?;
        rows.push(object_row(&at, &value)?);
    }
    Ok(rows)
}

/// A JSON object of scalars as a row.
fn object_row(at: &str, value: &serde_json::Value) -> Result<Row, String> {
    let serde_json::Value::Object(map) = value else { return Err(format!("{at}: expected an object")) };
    map.iter()
        .map(|(k, v)| {
            if !is_column_name(k) {
                return Err(format!("{at}: key {k:?} cannot be used in templates; use letters, digits and `_`"));
            }
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => return Err(format!("{at}: `{k}` is not text, a number or a boolean")),
            };
            Ok((k.clone(), text))
        })
        .collect()
}

fn is_column_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn the_three_formats_give_the_same_rows() {
        let expected: Vec<Row> = vec![
            [("user", "ann"), ("team", "7")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            [("user", "bob"), ("team", "8")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        ];
        let (_d, csv) = write("u.csv", "user,team\nann,7\nbob,8\n");
        let (_e, json) = write("u.json", r#"[{"user": "ann", "team": 7}, {"user": "bob", "team": "8"}]"#);
        let (_f, jsonl) = write("u.jsonl", "{\"user\": \"ann\", \"team\": 7}\n\n{\"user\": \"bob\", \"team\": 8}\n");
        for p in [csv, json, jsonl] {
            assert_eq!(load_rows(&p, 10).unwrap(), expected, "{}", p.display());
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        let (_d, p) = write("u.csv", "user,team\nann,7\nbob\n");
        let e = load_rows(&p, 10).unwrap_err();
        assert!(e.ends_with("u.csv:3: the row has 1 fields and the header 2") || e.contains("u.csv:3:"), "{e}");
        let (_e, p) = write("u.jsonl", "{\"user\": \"ann\"}\n[1]\n");
        assert!(load_rows(&p, 10).unwrap_err().contains("u.jsonl:2: expected an object"));
        let (_f, p) = write("u.csv", "user,team\nann,7\nbob,8\n");
        assert!(load_rows(&p, 1).unwrap_err().contains("at most 1 sessions"));
        let (_g, p) = write("u.xml", "<x/>");
        assert!(load_rows(&p, 1).unwrap_err().contains("unknown data format `.xml`"));
    }
}
