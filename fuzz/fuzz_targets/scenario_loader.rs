//! Any bytes given as a scenario file: loading, compiling and rendering the errors must never
//! panic, hang or print a control character, and every error must point inside the file.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let diagnostics = match herd::scenario::load_bytes("fuzz.toml", data) {
        Ok(loaded) => match herd::plan::compile(&loaded) {
            Ok(plan) => {
                // A plan that compiles can be described and serialised.
                let _ = serde_json::to_string(&plan);
                return;
            }
            Err(d) => d,
        },
        Err(d) => d,
    };
    assert!(!diagnostics.items.is_empty(), "a refused file has at least one error");
    for d in &diagnostics.items {
        if let Some(span) = &d.span {
            assert!(span.start <= diagnostics.source.len(), "span {span:?} outside the file");
        }
    }
    let text = diagnostics.render_at_most(Some(50));
    assert!(!text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')), "control characters in {text:?}");
    let _ = diagnostics.to_json();
});
