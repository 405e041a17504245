//! Project tasks for s3ec: `cargo xtask help`.
//!
//! A small dispatcher: each task lives in its own module with an entry point
//! `pub fn run(args: &[String]) -> anyhow::Result<()>`.
//!
//! To add a task `foo` (file `xtask/src/foo.rs`):
//! 1. add `mod foo;` below,
//! 2. add `("foo", "one line of help")` to [`COMMANDS`],
//! 3. add the arm `"foo" => foo::run(rest),` in [`dispatch`].
//!
//! `cargo xtask test` looks up [`COMMANDS`] to decide which optional steps to run
//! (for example `vectors check` once the `vectors` task exists).

mod audit;
mod bench_bulk;
mod bench_client;
mod bench_crypto;
mod bench_rekey;
mod bench_transfer;
mod fuzz;
mod interop;
mod mutants;
mod peers;
mod proc;
mod root;
mod servers;
mod test;
mod vectors;

use std::process::ExitCode;

/// Every task this build of xtask knows: name and one line of help.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "vectors",
        "check DIR...: decrypt every cross-SDK vector case with s3ec's own code (no S3)",
    ),
    (
        "test",
        "the whole test suite, with moto and Garage started on 127.0.0.1 (what CI runs)",
    ),
    (
        "servers",
        "start moto and Garage in the foreground and print the S3EC_TEST_* variables to export",
    ),
    (
        "peers",
        "official clients: list | install [PEER] | generate --peer P [--out DIR] (vectors)",
    ),
    (
        "bench",
        "benchmarks: `bench crypto` (s3ec-crypto engines vs one-shot aws-lc-rs GCM), `bench client [pipeline|garage]` [--rounds N], `bench transfer` [--size MIB] (parallel put/get vs aws-sdk-s3 on an S3-shaped link and loopback Garage), `bench object-store` (EncryptedStore<AmazonS3> vs AmazonS3 on Garage), `bench rekey` [--size MIB] (rekey by server-side copy vs download+upload on loopback Garage), `bench bulk` [--objects N] [--concurrency N] (s3ec scan/migrate objects/s and peak RSS on Garage)",
    ),
    (
        "fuzz",
        "[--time SECONDS] [--jobs N] [TARGET...]: run the cargo-fuzz targets (nightly) for a budget each (default 60 s), N at a time",
    ),
    (
        "audit",
        "cargo-deny advisories and bans (deny.toml), default and all features; needs the RustSec database",
    ),
    (
        "mutants",
        "[--jobs N] [--timeout S] [--output DIR] [PACKAGE...]: cargo-mutants over s3ec-format and s3ec-crypto (slow; not in CI)",
    ),
    (
        "interop",
        "live matrix against moto: each peer writes, the others read [--peer P]...",
    ),
];

/// Whether this build of xtask has the task `name`.
pub fn has_command(name: &str) -> bool {
    COMMANDS.iter().any(|(n, _)| *n == name)
}

fn dispatch(command: &str, rest: &[String]) -> anyhow::Result<()> {
    match command {
        "test" => test::run(rest),
        "vectors" => vectors::run(rest),
        "servers" => servers::run(rest),
        "peers" => peers::run(rest),
        "interop" => interop::run(rest),
        "fuzz" => fuzz::run(rest),
        "audit" => audit::run(rest),
        "mutants" => mutants::run(rest),
        "bench" => match rest.split_first() {
            Some((what, more)) if what == "crypto" => bench_crypto::run(more),
            Some((what, more)) if what == "client" => bench_client::run(more),
            Some((what, more)) if what == "transfer" => bench_transfer::run(more),
            Some((what, more)) if what == "rekey" => bench_rekey::run(more),
            Some((what, more)) if what == "bulk" => bench_bulk::run(more),
            Some((what, more)) if what == "link" => bench_transfer::link(more),
            Some((what, more)) if what == "object-store" => bench_object_store(more),
            _ => anyhow::bail!(
                "usage: cargo xtask bench crypto|client|transfer|rekey|bulk|object-store [--rounds N]"
            ),
        },
        other => {
            print_help();
            anyhow::bail!("unknown task `{other}`")
        }
    }
}

fn print_help() {
    println!("usage: cargo xtask <task> [args...]\n\ntasks:");
    for (name, help) in COMMANDS {
        println!("  {name:<16} {help}");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        print_help();
        return ExitCode::FAILURE;
    };
    if matches!(command.as_str(), "help" | "-h" | "--help") {
        print_help();
        return ExitCode::SUCCESS;
    }
    match dispatch(command, rest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {command}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `bench object-store` lives in its own small binary (xtask/bench-object-store), so that its release build is
/// object_store and s3ec-object-store, not everything xtask links.
fn bench_object_store(args: &[String]) -> anyhow::Result<()> {
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "s3ec-bench-object-store",
                "--",
            ])
            .args(args)
            .status()?;
    anyhow::ensure!(status.success(), "bench object-store failed: {status}");
    Ok(())
}
