//! One snapshot of the diagnostics per invalid scenario in tests/invalid/.

mod common;

use std::path::Path;

use herd::plan::load_and_compile;

fn invalid_scenario(path: &Path) -> datatest_stable::Result<()> {
    let diagnostics = match load_and_compile(path) {
        Ok(_) => panic!("{} was accepted but is meant to be invalid", path.display()),
        Err(d) => d,
    };
    assert!(!diagnostics.items.is_empty());
    // Every diagnostic must point into the file unless it concerns the file as a whole.
    for d in &diagnostics.items {
        assert!(!d.message.is_empty(), "an empty message in {}", path.display());
    }
    // Whatever the file holds, the rendered errors hold no control character but line feeds and
    // tabs:
    // a hostile file cannot clear the screen or forge a line.
    let rendered = diagnostics.render();
    assert!(
        !rendered.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{}: control characters reach the terminal: {rendered:?}",
        path.display()
    );
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("unnamed").to_owned();
    insta::with_settings!({
        snapshot_path => "invalid/snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, diagnostics.render());
    });
    Ok(())
}

datatest_stable::harness! {
    // Files in folders under tests/invalid/ are pieces the scenarios extend or include.
    { test = invalid_scenario, root = "tests/invalid", pattern = r"^[^/]*\.toml$" },
}
