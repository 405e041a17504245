//! Documents that must agree with the code: the crate drawing of docs/ARCHITECTURE.md against `cargo metadata`,
//! and the crates.io metadata of every published crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Tools, not layers: not drawn.
const NOT_DRAWN: [&str; 3] = ["xtask", "s3ec-peer", "s3ec-bench-object-store"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo metadata --no-deps` of the workspace.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Every workspace crate and its normal and build dependencies on other workspace crates.
fn real_graph() -> Graph {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .filter(|n| !NOT_DRAWN.contains(&n.as_str()))
        .collect();
    let mut graph = Graph::new();
    for p in packages {
        let name = p["name"].as_str().unwrap();
        if !names.contains(name) {
            continue;
        }
        let deps = graph.entry(name.to_string()).or_default();
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            if names.contains(dep) && d["kind"].as_str() != Some("dev") {
                deps.insert(dep.to_string());
            }
        }
    }
    graph
}

/// The edges `A --> B` of the ```mermaid block, with node ids replaced by their `id["label"]` labels.
fn drawn_graph(markdown: &str) -> Graph {
    let block = markdown
        .split("```mermaid")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/ARCHITECTURE.md has a ```mermaid block");
    let mut labels = BTreeMap::new();
    let mut edges = Vec::new();
    let mut node = |text: &str| -> String {
        let text = text.trim();
        match text.split_once('[') {
            Some((id, label)) => {
                let label = label.trim_end_matches(']').trim_matches('"');
                labels.insert(id.trim().to_string(), label.to_string());
                id.trim().to_string()
            }
            None => text.to_string(),
        }
    };
    for line in block.lines().map(str::trim) {
        if let Some((from, to)) = line.split_once("-->") {
            edges.push((node(from), node(to)));
        }
    }
    let name = |id: &String| labels.get(id).cloned().unwrap_or_else(|| id.clone());
    let mut graph = Graph::new();
    for (from, to) in &edges {
        graph.entry(name(from)).or_default().insert(name(to));
        graph.entry(name(to)).or_default();
    }
    graph
}

/// Whether `to` can be reached from `from` in one or more steps.
fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let mut stack: Vec<&str> = graph[from].iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if seen.insert(n) {
            stack.extend(graph.get(n).into_iter().flatten().map(String::as_str));
        }
    }
    false
}

/// The edges no longer path makes redundant: what the drawing shows.
fn reduction(graph: &Graph) -> Graph {
    graph
        .iter()
        .map(|(from, deps)| {
            let kept = deps
                .iter()
                .filter(|to| !deps.iter().any(|via| via != *to && reaches(graph, via, to)))
                .cloned()
                .collect();
            (from.clone(), kept)
        })
        .collect()
}

fn edges(graph: &Graph) -> BTreeSet<(String, String)> {
    graph
        .iter()
        .flat_map(|(f, ts)| ts.iter().map(move |t| (f.clone(), t.clone())))
        .collect()
}

#[test]
fn architecture_drawing_matches_cargo_metadata() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let drawn = drawn_graph(&doc);
    let real = reduction(&real_graph());
    let missing: Vec<_> = edges(&real).difference(&edges(&drawn)).cloned().collect();
    let extra: Vec<_> = edges(&drawn).difference(&edges(&real)).cloned().collect();
    let undrawn: Vec<_> = real.keys().filter(|k| !drawn.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && undrawn.is_empty(),
        "docs/ARCHITECTURE.md disagrees with cargo metadata:\n  arrows to add: {missing:?}\n  arrows to \
         remove: {extra:?}\n  crates to draw: {undrawn:?}"
    );
}

#[test]
fn the_check_catches_a_wrong_arrow() {
    // The drawing of issue 18: s3ec drawn above s3ec-kms and s3ec-local, which it does not use.
    let wrong =
        "```mermaid\ngraph TD\n  a[\"s3ec\"] --> b[\"s3ec-kms\"]\n  a --> c[\"s3ec-local\"]\n```";
    let drawn = drawn_graph(wrong);
    assert!(drawn["s3ec"].contains("s3ec-kms"));
    let real = reduction(&real_graph());
    assert!(!real["s3ec"].contains("s3ec-kms") && !real["s3ec"].contains("s3ec-local"));
    // And the reduction drops an arrow a longer path implies (s3ec-materials uses s3ec-format directly too).
    assert!(real_graph()["s3ec-materials"].contains("s3ec-format"));
    assert!(!real["s3ec-materials"].contains("s3ec-format"));
}

/// What crates.io and docs.rs show for a crate: each published crate must set it (`cargo package` only warns).
#[test]
fn published_crates_carry_their_crates_io_metadata() {
    let meta = metadata();
    let mut published = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        // `publish = false` is an empty list in cargo metadata.
        if p["publish"].as_array().is_some_and(|a| a.is_empty()) {
            continue;
        }
        let name = p["name"].as_str().unwrap();
        published.push(name.to_string());
        for field in [
            "description",
            "license",
            "repository",
            "readme",
            "rust_version",
        ] {
            assert!(
                p[field].as_str().is_some_and(|v| !v.is_empty()),
                "{name}: `{field}` missing from Cargo.toml"
            );
        }
        for field in ["keywords", "categories"] {
            let n = p[field].as_array().map_or(0, Vec::len);
            assert!(
                (1..=5).contains(&n),
                "{name}: `{field}` needs 1 to 5 entries, has {n}"
            );
        }
        let readme = Path::new(p["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .join(p["readme"].as_str().unwrap());
        assert!(
            readme.is_file(),
            "{name}: readme {} does not exist",
            readme.display()
        );
    }
    assert_eq!(
        published,
        [
            "s3ec-format",
            "s3ec-crypto",
            "s3ec-materials",
            "s3ec-local",
            "s3ec-kms",
            "s3ec",
            "s3ec-object-store",
            "s3ec-bulk",
            "s3ec-cli"
        ]
    );
}
