//! The test hooks (`testing`: a caller-chosen GCM nonce, legacy wrap writers; `fuzzing`: fuzz-target logic) must
//! not be part of a default build of any published crate.
//!
//! Why a source check and not a probe build: `cargo test --workspace` unifies features across the workspace (a
//! crate's own dev-dependency on itself turns the feature on), so a `compile_fail` doctest or a probe crate in the
//! same build would see the hooks and prove nothing; a separate `cargo check` of a probe costs minutes of CI. The
//! gate is two facts that are visible in the sources, and this test checks both for every published crate:
//! 1. every `pub mod testing` / `pub mod fuzzing` in its `lib.rs` carries `#[cfg(feature = "test-util")]` (alone or
//!    inside `any(test, ...)`), and the crate declares `test-util` outside its `default` features;
//! 2. no published crate turns `test-util` on for another crate through a normal (non-dev) dependency.
//!
//! Crates with `publish = false` (the testkit, the vectors runner, the test server, xtask) are test tools and may
//! use the hooks freely.

use std::fs;
use std::path::{Path, PathBuf};

const FEATURE: &str = "test-util";
const HOOK_MODULES: [&str; 2] = ["testing", "fuzzing"];

fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The `[section]` headers and their lines of a Cargo.toml, in order (enough TOML for this check: the
/// manifests keep one key per line).
fn sections(manifest: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            out.push((line.trim_matches(['[', ']']).to_string(), Vec::new()));
        } else if !line.is_empty() {
            if let Some(last) = out.last_mut() {
                last.1.push(line.to_string());
            }
        }
    }
    out
}

fn is_published(manifest: &str) -> bool {
    !sections(manifest)
        .iter()
        .filter(|(name, _)| name == "package")
        .flat_map(|(_, lines)| lines)
        .any(|l| l.replace(' ', "") == "publish=false")
}

/// Where a published crate's sources expose an ungated hook, or its manifest leaks the feature.
fn violations(crate_dir: &Path) -> Vec<String> {
    let name = crate_dir.file_name().unwrap().to_string_lossy().to_string();
    let manifest = fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let mut found = Vec::new();
    if !is_published(&manifest) {
        return found;
    }
    let sections = sections(&manifest);
    for (section, lines) in &sections {
        let normal_deps = section == "dependencies"
            || (section.starts_with("target.") && section.ends_with(".dependencies"));
        if normal_deps {
            for l in lines
                .iter()
                .filter(|l| l.contains(&format!("\"{FEATURE}\"")))
            {
                found.push(format!("{name}: normal dependency enables {FEATURE}: {l}"));
            }
        }
        if section == "features" {
            for l in lines.iter().filter(|l| l.starts_with("default")) {
                if l.contains(FEATURE) {
                    found.push(format!("{name}: {FEATURE} is a default feature"));
                }
            }
        }
    }
    let declared = sections
        .iter()
        .filter(|(s, _)| s == "features")
        .flat_map(|(_, lines)| lines)
        .any(|l| l.starts_with(&format!("{FEATURE} ")) || l.starts_with(&format!("{FEATURE}=")));

    let lib = crate_dir.join("src/lib.rs");
    let Ok(source) = fs::read_to_string(&lib) else {
        return found;
    };
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(module) = line
            .strip_prefix("pub mod ")
            .map(|m| m.trim_end_matches([';', '{', ' ']))
        else {
            continue;
        };
        if !HOOK_MODULES.contains(&module) {
            continue;
        }
        let attributes = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"));
        let gated = attributes
            .filter(|l| l.starts_with("#[cfg("))
            .any(|l| l.contains(&format!("feature = \"{FEATURE}\"")) && !l.contains("not("));
        if !gated {
            found.push(format!(
                "{name}: `pub mod {module}` in src/lib.rs is not behind #[cfg(feature = \"{FEATURE}\")]"
            ));
        } else if !declared {
            found.push(format!(
                "{name}: gates on {FEATURE} but does not declare it"
            ));
        }
    }
    found
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(workspace_root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn published_crates_gate_their_test_hooks() {
    let dirs = crate_dirs();
    // The check must have something to look at: the four crates that hold hooks today.
    for expected in ["s3ec", "s3ec-crypto", "s3ec-format", "s3ec-testkit"] {
        assert!(
            dirs.iter().any(|d| d.ends_with(expected)),
            "crates/{expected} missing"
        );
    }
    let found: Vec<String> = dirs.iter().flat_map(|d| violations(d)).collect();
    assert!(
        found.is_empty(),
        "ungated test hooks:\n{}",
        found.join("\n")
    );
}

/// The checker itself: an ungated hook, a gate on the wrong feature, a leaking dependency and a default
/// feature are each reported; a gated crate and an unpublished one are not.
#[test]
fn the_checker_flags_each_kind_of_leak() {
    let tmp = std::env::temp_dir().join(format!("s3ec-hooks-{}", std::process::id()));
    let write = |name: &str, manifest: &str, lib: &str| {
        let dir = tmp.join(name);
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        fs::write(dir.join("src/lib.rs"), lib).unwrap();
        dir
    };
    let pkg = "[package]\nname = \"x\"\n\n[features]\ntest-util = []\n";
    let cases = [
        (
            "ungated",
            pkg.to_string(),
            "#[doc(hidden)]\npub mod testing;\n",
            1,
        ),
        (
            "gated",
            pkg.to_string(),
            "#[cfg(any(test, feature = \"test-util\"))]\n#[doc(hidden)]\npub mod fuzzing;\n",
            0,
        ),
        (
            "wrong-feature",
            pkg.to_string(),
            "#[cfg(feature = \"other\")]\npub mod fuzzing;\n",
            1,
        ),
        (
            "undeclared",
            "[package]\nname = \"x\"\n".to_string(),
            "#[cfg(feature = \"test-util\")]\npub mod fuzzing;\n",
            1,
        ),
        (
            "leaky-dep",
            format!(
                "{pkg}\n[dependencies]\ny = {{ path = \"../y\", features = [\"test-util\"] }}\n"
            ),
            "",
            1,
        ),
        (
            "default-on",
            "[package]\nname = \"x\"\n\n[features]\ndefault = [\"test-util\"]\ntest-util = []\n"
                .to_string(),
            "",
            1,
        ),
        (
            "dev-dep-ok",
            format!(
                "{pkg}\n[dev-dependencies]\ny = {{ path = \"../y\", features = [\"test-util\"] }}\n"
            ),
            "",
            0,
        ),
        (
            "unpublished",
            "[package]\nname = \"x\"\npublish = false\n".to_string(),
            "pub mod testing;\n",
            0,
        ),
    ];
    for (name, manifest, lib, want) in cases {
        let dir = write(name, &manifest, lib);
        let got = violations(&dir);
        assert_eq!(got.len(), want, "{name}: {got:?}");
    }
    fs::remove_dir_all(&tmp).unwrap();
}
