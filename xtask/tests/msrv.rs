//! The `rust-version` each published crate declares must hold for the dependencies it is built and tested with
//! (Cargo.lock): at least the highest `rust-version` (or the edition's minimum) in its normal and build dependency
//! tree, on each tier-1 platform a user builds on. `cargo metadata` and one `cargo tree` per crate take a few seconds;
//! building with a second toolchain in CI would cost a full cold build, so the toolchain itself is not installed.
//! Our own code's use of newer std items is caught by clippy's `incompatible_msrv` lint (on by default, reading
//! the same `rust-version`); newer syntax is not checked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

mod common;
use common::cargo;

/// The platforms whose dependency trees count (wasm-only dependencies, for one, do not).
const PLATFORMS: [&str; 3] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
];

type Version = (u64, u64, u64);

fn parse(v: &str) -> Version {
    let mut parts = v
        .split(['.', '+', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// What a package itself needs: its `rust-version`, else what its edition needs.
fn own_requirement(package: &Value) -> Version {
    let edition = match package["edition"].as_str() {
        Some("2024") => (1, 85, 0),
        Some("2021") => (1, 56, 0),
        _ => (0, 0, 0),
    };
    package["rust_version"]
        .as_str()
        .map(parse)
        .unwrap_or_default()
        .max(edition)
}

/// `(name, version)` of every package of the lock file, with what it needs.
fn own_requirements() -> (BTreeMap<(String, String), Version>, Vec<String>) {
    // The packages of the other platforms' trees are not in a fresh machine's cargo cache (a build there
    // fetches only its own platform's), and the `--offline` calls below need their manifests: fetch
    // everything the lock file names first, exactly as locked.
    cargo(&["fetch", "--locked"]);
    let meta: Value =
        serde_json::from_str(&cargo(&["metadata", "--offline", "--format-version", "1"]))
            .expect("cargo metadata JSON");
    let mut table = BTreeMap::new();
    let mut published = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        let version = p["version"].as_str().unwrap().to_string();
        // Workspace crates; `publish = false` is an empty list in cargo metadata.
        if p["source"].is_null() && !p["publish"].as_array().is_some_and(|a| a.is_empty()) {
            published.push(name.clone());
        }
        table.insert((name, version), own_requirement(p));
    }
    (table, published)
}

/// The packages `krate` is built from with its default features, as a dependent gets them: its normal and build
/// dependency tree on [`PLATFORMS`] (cargo metadata's resolve would unify the whole workspace's features).
fn tree(krate: &str) -> BTreeSet<(String, String)> {
    let mut args = vec![
        "tree",
        "--offline",
        "-p",
        krate,
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "-f",
        "{p}",
    ];
    for p in PLATFORMS {
        args.extend(["--target", p]);
    }
    cargo(&args)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// What `krate` declares, and the highest requirement in its tree with the package that sets it.
fn requirement(
    table: &BTreeMap<(String, String), Version>,
    krate: &str,
) -> (Version, Version, String) {
    let mut declared = (0, 0, 0);
    let (mut needed, mut by) = ((0, 0, 0), String::from("nothing"));
    for package in tree(krate) {
        let req = *table
            .get(&package)
            .unwrap_or_else(|| panic!("{package:?} from cargo tree is not in cargo metadata"));
        if package.0 == krate {
            declared = req;
        } else if req > needed {
            needed = req;
            by = format!("{} {}", package.0, package.1);
        }
    }
    (declared, needed, by)
}

#[test]
fn published_crates_declare_the_rust_version_their_dependencies_need() {
    let (table, published) = own_requirements();
    let results: Vec<(String, (Version, Version, String))> = std::thread::scope(|s| {
        let handles: Vec<_> = published
            .iter()
            .map(|name| {
                let table = &table;
                s.spawn(move || (name.clone(), requirement(table, name)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"s3ec") && names.contains(&"s3ec-format"),
        "{names:?}"
    );
    // What the check exists for: s3ec declared 1.85 while its aws-sdk-s3 needs more.
    let (_, (_, s3ec_needs, by)) = results.iter().find(|(n, _)| n == "s3ec").unwrap();
    assert!(*s3ec_needs > (1, 85, 0), "{s3ec_needs:?} from {by}");
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, (declared, needed, _))| declared < needed)
        .map(|(name, (declared, needed, by))| {
            format!("{name} declares rust-version {declared:?} but {by} needs {needed:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn versions_compare_as_numbers() {
    assert_eq!(parse("1.94.1"), (1, 94, 1));
    assert_eq!(parse("1.0.4+wasi-0.2.12"), (1, 0, 4));
    assert!(parse("1.89") < parse("1.94.1"));
    assert!(parse("1.100") > parse("1.94.1"));
}
