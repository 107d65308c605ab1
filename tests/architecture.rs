//! The floor plan of `src/`, checked: every top-level module stands on a
//! floor, and imports (`crate::x`, `super::x` at the top) only run down,
//! to a lower floor. A module that imports one above it, or one on its own
//! floor, fails here naming the file and the import; so does an import
//! cycle, which needs an arrow that runs up or sideways. The generic queue
//! imports no wing. ARCHITECTURE.md draws the same floors.

use std::collections::BTreeMap;
use std::path::Path;

/// Top to bottom. Modules on one floor do not import each other.
const FLOORS: &[&[&str]] = &[
    &["main"],
    &["startup"],
    &["admin", "runner_cli"],
    &["http"],
    &["config"],
    &["deployments"],
    &["inventory"],
    &["releases"],
    &["stacks"],
    &["environments"],
    &["queue"],
    &["integrations", "mailer", "api_key"],
    &["metrics"],
    &["db"],
    &["domain", "token", "redact", "sealed"],
    &["cause", "ids", "logs"],
];

/// The capability wings: the queue knows none of them.
const WINGS: &[&str] = &[
    "deployments",
    "inventory",
    "releases",
    "environments",
    "stacks",
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

/// The top-level module a file belongs to (`src/http/release.rs` -> http).
fn module_of(file: &Path, src: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// Every `crate::<module>` a file names in code (in `use` lines and paths
/// alike; comments are not imports).
fn imports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_run_down_the_floors_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = BTreeMap::new();
    for file in &all {
        let module = module_of(file, &src);
        if module == "lib" {
            continue;
        }
        let Some(floor) = floor_of(&module) else {
            panic!(
                "{module} (src/{module}) stands on no floor: add it to FLOORS and ARCHITECTURE.md"
            );
        };
        let text = std::fs::read_to_string(file).unwrap();
        for target in imports(&text) {
            if target == module || target == "random_id" {
                continue; // within the module; lib.rs's re-export of ids
            }
            let Some(to) = floor_of(&target) else {
                panic!(
                    "{} imports crate::{target}, which stands on no floor",
                    file.display()
                );
            };
            if to <= floor {
                wrong
                    .entry(file.strip_prefix(&src).unwrap().display().to_string())
                    .or_insert_with(Vec::new)
                    .push(format!("{module} -> {target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run up or sideways: {wrong:#?}"
    );
}

#[test]
fn the_queue_knows_no_wing() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut queue = Vec::new();
    files(&src.join("queue"), &mut queue);
    assert!(!queue.is_empty());
    for file in queue {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in imports(&text) {
            assert!(
                !WINGS.contains(&target.as_str()),
                "{} imports the wing {target}",
                file.display()
            );
        }
    }
}

#[test]
fn the_check_sees_an_import_that_runs_up() {
    // The parser the floors rely on, on a line that would break them.
    assert_eq!(
        imports("use crate::releases::jobs::X;\nlet y = crate::http::problem::f(); // crate::db"),
        ["releases", "http"]
    );
    assert!(floor_of("releases") < floor_of("queue"));
}
