//! The scenario tour in README.md must stay a valid scenario.

use herd::plan::compile;
use herd::scenario::load_bytes;

#[test]
fn the_readme_tour_is_a_valid_scenario() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let loaded = load_bytes("README.md", &readme.as_bytes()[start..end]).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = compile(&loaded).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(plan.name, "container-failure");
    assert_eq!(plan.thresholds.len(), 3);
    assert!(plan.thresholds[2].abort_on_fail);
}
