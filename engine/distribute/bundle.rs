//! The files a distributed run ships to its workers: the scenario and every file it was read
//! from (what it extends and includes, its data files), under their nearest common folder so
//! that the relative names the scenario uses still find them.

use std::path::{Path, PathBuf};

use super::error::DistributeError;
use crate::plan::Plan;

/// The files of one scenario, ready to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The scenario's name relative to the common folder (`/` between folders).
    pub scenario: String,
    /// Each file: where it is here, and its name relative to the common folder.
    pub files: Vec<(PathBuf, String)>,
}

/// Collects `plan`'s files. A file that cannot be found (it moved since the compile) is
/// refused, naming it.
pub fn bundle(plan: &Plan) -> Result<Bundle, DistributeError> {
    let mut absolute = Vec::new();
    for p in &plan.inputs {
        let abs = std::fs::canonicalize(p)
            .map_err(|e| DistributeError::File { path: p.display().to_string(), message: e.to_string() })?;
        if !absolute.contains(&abs) {
            absolute.push(abs);
        }
    }
    let Some(first) = absolute.first() else {
        return Err(DistributeError::File { path: plan.file.clone(), message: "the plan names no file".into() });
    };
    let mut root = first.parent().map(Path::to_path_buf).unwrap_or_default();
    for f in &absolute[1..] {
        while !f.starts_with(&root) {
            if !root.pop() {
                break;
            }
        }
    }
    let rel = |p: &Path| -> String {
        p.strip_prefix(&root).unwrap_or(p).iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/")
    };
    Ok(Bundle { scenario: rel(first), files: absolute.iter().map(|p| (p.clone(), rel(p))).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_keep_their_places_under_the_common_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("scenarios/load")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/users.csv"), "name\na\nb\n").unwrap();
        std::fs::write(root.join("scenarios/base.toml"), "seed = 7\n").unwrap();
        let main = root.join("scenarios/load/s.toml");
        std::fs::write(
            &main,
            "name = \"s\"\nextends = \"../base.toml\"\n[[sessions]]\nfrom = \"../../data/users.csv\"\n[[phases]]\nexecutor = \"burst\"\ncount = 1\n",
        )
        .unwrap();
        let plan = crate::plan::load_and_compile(&main).unwrap();
        let b = bundle(&plan).unwrap();
        assert_eq!(b.scenario, "scenarios/load/s.toml");
        let names: Vec<&str> = b.files.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["scenarios/load/s.toml", "scenarios/base.toml", "data/users.csv"]);
    }
}
