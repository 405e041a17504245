//! `cargo xtask audit`: cargo-deny's advisory and bans checks over the workspace, as `deny.toml` sets them.
//!
//! Runs twice: with default features (what a user of the crates gets) and with every feature (the opt-in pure-Rust
//! backend included). cargo-deny is installed into the tools folder (`S3EC_TOOLS`, default `/var/tmp/s3ec-tools`)
//! when missing. The RustSec database is fetched when GitHub answers; otherwise the check runs offline against
//! cargo-deny's kept copy and fails, saying so, when there is none. It is not a CI step because this workplace's CI
//! reaches only the package registries, never GitHub.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unexpected argument {arg:?}; usage: cargo xtask audit");
    }
    let deny = ensure_cargo_deny()?;
    let root = crate::test::workspace_root();

    let fetched = Command::new(&deny)
        .args(["fetch", "db"])
        .current_dir(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !fetched {
        eprintln!(
            "audit: could not fetch the RustSec advisory database; checking against the local copy"
        );
    }
    let runs: [(&str, &[&str]); 2] = [
        ("default features", &[]),
        ("all features", &["--all-features"]),
    ];
    let mut failed = Vec::new();
    for (what, extra) in runs {
        eprintln!("audit: {what}");
        let ok = Command::new(&deny)
            .arg("--offline")
            .args(extra)
            .args(["check", "advisories", "bans"])
            .current_dir(&root)
            .status()
            .with_context(|| format!("cannot run {}", deny.display()))?
            .success();
        if !ok {
            failed.push(what);
        }
    }
    if !failed.is_empty() {
        bail!(
            "cargo deny failed with {} (with no advisory database at all, cargo-deny says so above)",
            failed.join(" and ")
        );
    }
    println!("audit: advisories ok, bans ok (default and all features)");
    Ok(())
}

/// The tools folder's cargo-deny, installed there first when missing.
fn ensure_cargo_deny() -> Result<PathBuf> {
    let tools = PathBuf::from(
        std::env::var_os("S3EC_TOOLS").unwrap_or_else(|| "/var/tmp/s3ec-tools".into()),
    );
    let bin = tools.join("bin").join("cargo-deny");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("audit: installing cargo-deny into {}", tools.display());
    let ok = Command::new("cargo")
        .args(["install", "cargo-deny", "--locked", "--root"])
        .arg(&tools)
        .status()
        .context("cannot run cargo install")?
        .success();
    if !ok || !bin.exists() {
        bail!("cargo install cargo-deny failed");
    }
    Ok(bin)
}
