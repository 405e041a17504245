//! `cargo xtask vectors check DIR...`: reads cross-SDK ciphertext vectors back through `s3ec::Client` (in-memory
//! S3) on every read path; a fail case must fail with its `expected_failure` class.
//!
//! The checking logic lives in the `s3ec-vectors` crate (`s3ec_vectors::check_dirs`); this task only
//! prints one line per failing run, the runs per read path and the closing `N passed, M failed`.

use anyhow::{bail, Context};

/// Entry point of `cargo xtask vectors ...`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args.split_first() {
        Some((sub, dirs)) if sub == "check" => check(dirs),
        // Writing vectors drives the official clients: that lives with the peer harnesses.
        Some((sub, rest)) if sub == "generate" => crate::peers::generate(rest),
        _ => bail!("usage: cargo xtask vectors check DIR... (folders holding manifest.json, or above them) | vectors generate --peer P [--out DIR]"),
    }
}

fn check(dirs: &[String]) -> anyhow::Result<()> {
    if dirs.is_empty() {
        bail!("vectors check: give at least one folder");
    }
    let report = s3ec_vectors::check_dirs(dirs).context("vectors check")?;
    for failure in report.failures() {
        println!("{failure}");
    }
    println!("{}", report.summary());
    if report.failed() > 0 {
        bail!("{} vector case(s) failed", report.failed());
    }
    Ok(())
}
