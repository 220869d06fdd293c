//! The module graph has no cycles: a component may use what is below it (config, messages,
//! metrics, the shared client), never what uses it. Read from the source: every `crate::x`
//! path in `src/` is an edge from the file's top-level module to `x`. Doc comments and
//! `#[cfg(test)]` modules are left out (a test may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a file under `src/` belongs to (`src/channel/line.rs` → `channel`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments, string literals and test code: a `#[cfg(test)] mod x;` line
/// is skipped, a `#[cfg(test)]` block ends the file's code (test modules sit at the end).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            match lines.next() {
                Some(next)
                    if next.trim_start().starts_with("mod ") && next.trim_end().ends_with(';') =>
                {
                    continue;
                }
                Some(next)
                    if next.trim_start().starts_with("pub mod ")
                        && next.trim_end().ends_with(';') =>
                {
                    continue;
                }
                _ => break,
            }
        }
        if trimmed.starts_with("//") {
            continue;
        }
        // Text in quotes names no module.
        let mut in_string = false;
        for c in line.chars() {
            if c == '"' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Files that hold only tests (`tests.rs`, `testing.rs`): they may reach anywhere.
fn is_test_file(file: &Path) -> bool {
    matches!(
        file.file_stem().and_then(|s| s.to_str()),
        Some("tests" | "testing")
    )
}

/// Edges `module → used module` of the crate.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        if is_test_file(file) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).expect("read"));
        let entry = edges.entry(from.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != from && modules.contains(&name) {
                entry.insert(name);
            }
        }
        // `use crate::{a, b::c}` groups.
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::{") {
            rest = &rest[i + "crate::{".len()..];
            let group = &rest[..rest.find("};").unwrap_or(rest.len())];
            for item in group.split([',', '{', '}']) {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if name != from && modules.contains(name) {
                    entry.insert(name.to_owned());
                }
            }
        }
    }
    edges
}

/// One cycle through `start`, if any (depth-first).
fn cycle_from(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        edges: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(edges, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(edges, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_module_graph_has_no_cycles() {
    let edges = graph();
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(&edges, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle_from(&edges, "a").expect("a cycle"),
        ["a", "b", "c", "a"]
    );
    edges.get_mut("c").unwrap().clear();
    assert!(cycle_from(&edges, "a").is_none());
}
