//! `cargo xtask audit`: cargo-deny's advisory and bans checks over the workspace, as `deny.toml` sets them; a CI
//! step of `cargo xtask test`.
//!
//! Runs twice: with default features (what a user of the crates gets) and with every feature (the opt-in pure-Rust
//! backend included). An advisory on any dependency fails the check unless `deny.toml` ignores it with a reason.
//!
//! cargo-deny is installed into the tools folder (`S3EC_TOOLS`, default `/var/tmp/s3ec-tools`) when missing, built
//! without the fat LTO of its release profile (see [`CHEAP_BUILD`]). The RustSec database is fetched when GitHub
//! answers. Otherwise the snapshot in `../shared/advisory-db` (or `S3EC_ADVISORY_SNAPSHOT`) is used: copied, as a
//! one-commit git repository dated like the snapshot, to where cargo-deny keeps the default database, so that
//! cargo-deny's own staleness check judges its real age.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The folder cargo-deny derives for the default database URL (`https://github.com/RustSec/advisory-db`), under
/// `$CARGO_HOME/advisory-dbs`.
const DEFAULT_DB_DIR: &str = "advisory-db-3157b0e258782691";

/// A file in the copy's `.git` naming the snapshot commit it was made from (so a newer snapshot replaces it, and a
/// real clone, which has no such file, is never touched).
const SNAPSHOT_MARK: &str = "s3ec-snapshot";

/// Profile overrides for installing cargo-deny: its release profile asks for fat LTO and one codegen unit, which
/// on two cores costs several times the compile work for a tool that runs for seconds.
const CHEAP_BUILD: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1"),
];

/// The cargo-deny release installed (the one the snapshot was checked with).
const CARGO_DENY_VERSION: &str = "0.20.2";

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unexpected argument {arg:?}; usage: cargo xtask audit");
    }
    let deny = ensure_cargo_deny()?;
    let root = crate::root::workspace_root();

    let fetched = Command::new(&deny)
        .args(["fetch", "db"])
        .current_dir(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !fetched {
        let snapshot = std::env::var_os("S3EC_ADVISORY_SNAPSHOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.parent().unwrap_or(&root).join("shared/advisory-db"));
        eprintln!(
            "audit: could not fetch the RustSec advisory database; using the snapshot in {}",
            snapshot.display()
        );
        install_snapshot(&snapshot)?;
    }
    // Offline, cargo-deny's `cargo metadata` needs the crates of every target platform at hand (the registry is
    // reachable; GitHub may not be).
    let fetched_crates = Command::new("cargo")
        .arg("fetch")
        .current_dir(&root)
        .status()
        .context("cannot run cargo fetch")?
        .success();
    if !fetched_crates {
        bail!("cargo fetch failed: cargo-deny needs every dependency's sources");
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
            "cargo deny failed with {}: an advisory not ignored (with a reason) in deny.toml, a banned crate, or \
             no usable advisory database (cargo-deny says which above)",
            failed.join(" and ")
        );
    }
    println!("audit: advisories ok, bans ok (default and all features)");
    Ok(())
}

/// What SNAPSHOT.md says about the snapshot: its commit and commit date (`YYYY-MM-DD`).
fn snapshot_facts(snapshot: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(snapshot.join("SNAPSHOT.md"))
        .with_context(|| format!("no SNAPSHOT.md in {}", snapshot.display()))?;
    let commit = text
        .split_whitespace()
        .skip_while(|w| *w != "commit")
        .nth(1)
        .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .context("SNAPSHOT.md names no 40-digit commit")?;
    let date = text
        .lines()
        .find_map(|l| {
            l.trim()
                .trim_start_matches("- ")
                .strip_prefix("commit date:")
        })
        .map(str::trim)
        .filter(|d| d.len() == 10)
        .context("SNAPSHOT.md gives no `commit date: YYYY-MM-DD`")?;
    Ok((commit.to_string(), date.to_string()))
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cargo")
        })
}

/// Makes the snapshot the database cargo-deny opens offline: a git repository with one commit dated like the
/// snapshot. A real clone already there is left alone; an older snapshot copy is replaced.
fn install_snapshot(snapshot: &Path) -> Result<()> {
    let (commit, date) = snapshot_facts(snapshot)?;
    let dest = cargo_home().join("advisory-dbs").join(DEFAULT_DB_DIR);
    let mark = dest.join(".git").join(SNAPSHOT_MARK);
    if dest.join(".git").exists() {
        match std::fs::read_to_string(&mark) {
            Ok(m) if m.trim() == commit => {
                eprintln!("audit: snapshot {commit} ({date}) already in place");
                return Ok(());
            }
            Ok(_) => {
                std::fs::remove_dir_all(&dest)
                    .with_context(|| format!("cannot replace {}", dest.display()))?;
            }
            Err(_) => {
                eprintln!(
                    "audit: keeping the database clone in {} (not a snapshot copy)",
                    dest.display()
                );
                return Ok(());
            }
        }
    } else if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let copied = Command::new("cp")
        .arg("-r")
        .arg(snapshot)
        .arg(&dest)
        .status()
        .context("cannot run cp")?
        .success();
    if !copied {
        bail!("cannot copy {} to {}", snapshot.display(), dest.display());
    }
    let stamp = format!("{date}T00:00:00Z");
    let git = |args: &[&str]| -> Result<()> {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=s3ec xtask",
                "-c",
                "user.email=xtask@s3ec.invalid",
            ])
            .args(args)
            .current_dir(&dest)
            .env("GIT_AUTHOR_DATE", &stamp)
            .env("GIT_COMMITTER_DATE", &stamp)
            .status()
            .context("cannot run git")?
            .success();
        if !ok {
            bail!("git {} failed in {}", args.join(" "), dest.display());
        }
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&[
        "commit",
        "-q",
        "--no-gpg-sign",
        "-m",
        &format!("RustSec advisory-db snapshot of {commit}"),
    ])?;
    std::fs::write(&mark, &commit)?;
    eprintln!(
        "audit: snapshot {commit} of {date} installed as {}",
        dest.display()
    );
    Ok(())
}

/// The tools folder's cargo-deny, installed there first when missing.
pub(crate) fn ensure_cargo_deny() -> Result<PathBuf> {
    let tools = PathBuf::from(
        std::env::var_os("S3EC_TOOLS").unwrap_or_else(|| "/var/tmp/s3ec-tools".into()),
    );
    let bin = tools.join("bin").join("cargo-deny");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!(
        "audit: installing cargo-deny {CARGO_DENY_VERSION} into {}",
        tools.display()
    );
    let ok = Command::new("cargo")
        .args(["install", "cargo-deny", "--locked", "--version"])
        .arg(CARGO_DENY_VERSION)
        .arg("--root")
        .arg(&tools)
        .envs(CHEAP_BUILD)
        .status()
        .context("cannot run cargo install")?
        .success();
    if !ok || !bin.exists() {
        bail!("cargo install cargo-deny failed");
    }
    Ok(bin)
}
