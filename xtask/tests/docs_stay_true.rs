//! Documents that must agree with the code: the crate drawing of docs/ARCHITECTURE.md against `cargo metadata`,
//! and the crates.io metadata of every published crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{cargo, root};

#[path = "../readme-check/markdown.rs"]
#[allow(dead_code)]
mod markdown;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Tools, not layers: not drawn.
const NOT_DRAWN: [&str; 4] = [
    "xtask",
    "s3ec-peer",
    "s3ec-bench-object-store",
    "s3ec-readme-check",
];

/// `cargo metadata --no-deps` of the workspace.
fn metadata() -> Value {
    serde_json::from_str(&cargo(&[
        "metadata",
        "--no-deps",
        "--offline",
        "--format-version",
        "1",
    ]))
    .expect("cargo metadata JSON")
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

/// `cargo package` of every published crate, as a release would run it (without the verifying build, which would
/// cost a cold build of its own): the manifests, readmes and files are accepted, with no warning.
#[test]
fn published_crates_package_without_warnings() {
    let meta = metadata();
    let mut args = vec![
        "package".to_string(),
        "--no-verify".into(),
        "--offline".into(),
        "--allow-dirty".into(),
    ];
    let mut published = 0;
    for p in meta["packages"].as_array().unwrap() {
        if !p["publish"].as_array().is_some_and(|a| a.is_empty()) {
            args.extend(["-p".to_string(), p["name"].as_str().unwrap().to_string()]);
            published += 1;
        }
    }
    // A target folder of its own: the .crate files are not wanted, and the build's folder may be locked.
    let target = std::env::temp_dir().join(format!("s3ec-docs-package-{}", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(&args)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .output()
        .expect("run cargo package");
    let _ = std::fs::remove_dir_all(&target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {args:?}:\n{stderr}");
    assert!(
        !stderr.contains("warning"),
        "cargo package warned:\n{stderr}"
    );
    assert_eq!(stderr.matches("Packaged ").count(), published, "{stderr}");
}

/// One dependency as a manifest states it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Dep {
    name: String,
    req: String,
    default_features: bool,
    features: BTreeSet<String>,
}

/// The README's `[dependencies]` block: `name = "1"` or `name = { version = "1", default-features = false,
/// features = [...] }` lines, `#` comments. Anything else fails, so the check never silently ignores a line.
fn readme_deps(block: &str) -> BTreeSet<Dep> {
    let mut deps = BTreeSet::new();
    for line in block.lines() {
        let line = line.split(" #").next().unwrap().trim();
        if line.is_empty() || line.starts_with('#') || line == "[dependencies]" {
            continue;
        }
        let (name, value) = line.split_once('=').expect("`name = value`");
        let mut dep = Dep {
            name: name.trim().to_string(),
            req: String::new(),
            default_features: true,
            features: BTreeSet::new(),
        };
        let value = value.trim();
        if let Some(table) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            // Split `key = value` pairs at the commas outside the features list.
            let (mut depth, mut start, mut pairs) = (0, 0, Vec::new());
            for (i, c) in table.char_indices() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    ',' if depth == 0 => {
                        pairs.push(&table[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            pairs.push(&table[start..]);
            for pair in pairs.into_iter().filter(|p| !p.trim().is_empty()) {
                let (key, v) = pair
                    .split_once('=')
                    .expect("`key = value` in an inline table");
                let v = v.trim();
                match key.trim() {
                    "version" => dep.req = v.trim_matches('"').to_string(),
                    "default-features" => dep.default_features = v == "true",
                    "features" => {
                        dep.features = v
                            .trim_matches(['[', ']'])
                            .split(',')
                            .map(|f| f.trim().trim_matches('"').to_string())
                            .filter(|f| !f.is_empty())
                            .collect()
                    }
                    other => panic!("README dependency {}: unexpected key `{other}`", dep.name),
                }
            }
        } else {
            dep.req = value.trim_matches('"').to_string();
        }
        // cargo metadata writes a bare `1` as `^1`.
        dep.req = format!("^{}", dep.req);
        deps.insert(dep);
    }
    deps
}

/// The normal dependencies of `xtask/readme-check`, the README's project, from `cargo metadata`.
fn manifest_deps() -> BTreeSet<Dep> {
    let meta = metadata();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "s3ec-readme-check")
        .expect("s3ec-readme-check in cargo metadata");
    package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| Dep {
            name: d["name"].as_str().unwrap().to_string(),
            req: d["req"].as_str().unwrap().to_string(),
            default_features: d["uses_default_features"].as_bool().unwrap(),
            features: d["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect(),
        })
        .collect()
}

#[test]
fn the_readme_project_has_the_readme_dependencies() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = markdown::dependencies_block(&readme)
        .expect("README.md has a ```toml [dependencies] block");
    let readme = readme_deps(&block);
    assert!(readme.iter().any(|d| d.name == "s3ec"), "{readme:?}");
    assert_eq!(
        readme,
        manifest_deps(),
        "the README's [dependencies] and xtask/readme-check/Cargo.toml's differ: the README's project must be \
         what a user copies"
    );
}

/// The README sends tools that only read or audit envelopes to `s3ec-format` alone: its tree holds no AWS SDK
/// crate (and no aws-lc), on every platform.
#[test]
fn s3ec_format_alone_has_no_aws_dependency() {
    let tree = cargo(&[
        "tree",
        "--offline",
        "-p",
        "s3ec-format",
        "-e",
        "normal,build",
        "--target",
        "all",
        "--prefix",
        "none",
        "-f",
        "{p}",
    ]);
    assert!(tree.starts_with("s3ec-format "), "{tree}");
    let aws: Vec<&str> = tree.lines().filter(|l| l.starts_with("aws")).collect();
    assert!(aws.is_empty(), "s3ec-format pulls in {aws:?}");
}
