//! `cargo xtask mutants [--jobs N] [--timeout SECONDS] [--output DIR] [PACKAGE...]`: cargo-mutants
//! over s3ec-format and s3ec-crypto (or the packages named), as `docs/mutants.md` records it.
//!
//! Not a CI step: a full run takes most of an hour on two cores. cargo-mutants is installed into the
//! tools folder (`S3EC_TOOLS`, default `/var/tmp/s3ec-tools`) when missing. Each package gets its own
//! output folder `DIR/<package>/mutants.out` (default `DIR` = `target/mutants`, which git ignores).
//!
//! Fixed choices, each for a reason:
//! - `fuzzing.rs` (the fuzz-target entry points) and the RustCrypto backend (not compiled with the
//!   default `aws-lc` feature, so its mutants could never be caught) are excluded;
//! - mutated trees are copied under `target/mutants/tmp`, beside a link `shared` to the project's
//!   shared vectors, because the vector tests find them at `CARGO_MANIFEST_DIR/../../../shared`;
//! - builds share one target folder (`target/mutants/target`), so only the mutated crate rebuilds;
//! - `PROPTEST_CASES=32` for the property tests that take their case count from the environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const DEFAULT_PACKAGES: [&str; 2] = ["s3ec-format", "s3ec-crypto"];
const EXCLUDED_FILES: [&str; 2] = [
    "**/fuzzing.rs",
    "crates/s3ec-crypto/src/backend/rust_crypto.rs",
];

pub fn run(args: &[String]) -> Result<()> {
    let root = crate::root::workspace_root();
    let mut jobs = "1".to_string();
    let mut timeout = "150".to_string();
    let mut output = root.join("target").join("mutants");
    let mut packages = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--jobs" => jobs = value("--jobs")?,
            "--timeout" => timeout = value("--timeout")?,
            "--output" => output = PathBuf::from(value("--output")?),
            flag if flag.starts_with("--") => bail!(
                "unknown option {flag}; usage: cargo xtask mutants [--jobs N] [--timeout SECONDS] [--output DIR] [PACKAGE...]"
            ),
            package => packages.push(package.to_string()),
        }
    }
    if packages.is_empty() {
        packages = DEFAULT_PACKAGES.iter().map(|p| p.to_string()).collect();
    }

    let tool = ensure_cargo_mutants()?;
    let scratch = output.join("tmp");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    link_shared_vectors(&root, &scratch)?;

    let mut failed = Vec::new();
    for package in &packages {
        let out = output.join(package);
        std::fs::create_dir_all(&out)?;
        eprintln!(
            "mutants: {package} (results in {}/mutants.out)",
            out.display()
        );
        let mut cmd = Command::new(&tool);
        cmd.arg("mutants")
            .args(["--package", package, "--jobs", &jobs, "--timeout", &timeout])
            .args(["--cap-lints", "true", "--gitignore", "true", "--output"])
            .arg(&out);
        for glob in EXCLUDED_FILES {
            cmd.args(["--exclude", glob]);
        }
        let status = cmd
            .current_dir(&root)
            .env("TMPDIR", &scratch)
            .env("CARGO_TARGET_DIR", output.join("target"))
            .env("PROPTEST_CASES", "32")
            .status()
            .with_context(|| format!("cannot run {}", tool.display()))?;
        // cargo-mutants exits 2 when some mutants were missed, 3 on timeouts: results, not errors.
        match status.code() {
            Some(0) => {}
            Some(2 | 3) => failed.push(format!(
                "{package}: see {}/mutants.out/missed.txt",
                out.display()
            )),
            _ => bail!("cargo mutants failed for {package} ({status})"),
        }
    }
    if failed.is_empty() {
        println!("mutants: no surviving mutants in {}", packages.join(", "));
    } else {
        println!(
            "mutants: survivors (compare with the accepted list in docs/mutants.md):\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

/// `scratch/shared` -> the project's `shared` folder (beside the clone), where the copied trees'
/// vector tests look.
fn link_shared_vectors(root: &Path, scratch: &Path) -> Result<()> {
    let link = scratch.join("shared");
    let target = root.join("..").join("shared");
    if link.exists() || !target.exists() {
        return Ok(());
    }
    std::os::unix::fs::symlink(&target, &link)
        .with_context(|| format!("cannot link {} to {}", link.display(), target.display()))
}

/// The tools folder's cargo-mutants, installed there first when missing.
fn ensure_cargo_mutants() -> Result<PathBuf> {
    let tools = PathBuf::from(
        std::env::var_os("S3EC_TOOLS").unwrap_or_else(|| "/var/tmp/s3ec-tools".into()),
    );
    let bin = tools.join("bin").join("cargo-mutants");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("mutants: installing cargo-mutants into {}", tools.display());
    let ok = Command::new("cargo")
        .args(["install", "cargo-mutants", "--locked", "--root"])
        .arg(&tools)
        .status()
        .context("cannot run cargo install")?
        .success();
    if !ok || !bin.exists() {
        bail!("cargo install cargo-mutants failed");
    }
    Ok(bin)
}
