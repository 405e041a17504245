//! The `s3ec` command: encrypt, decrypt, inspect, audit, re-key and migrate S3 objects written by any Amazon S3
//! Encryption Client, and `s3ec demo`, a tour against an S3 endpoint inside the process.
//!
//! ```text
//! s3ec demo                                   # no AWS account needed
//! s3ec serve --dir ./s3                       # a local S3 endpoint to develop against
//! s3ec keygen --kind aes --out my.key
//! s3ec --aes-key my.key put report.pdf s3://bucket/report.pdf
//! s3ec --aes-key my.key get s3://bucket/report.pdf report.pdf
//! s3ec inspect s3://bucket/report.pdf          # no key needed
//! s3ec scan s3://bucket/archive/               # counts by format; lists legacy objects
//! s3ec --kms-key-id alias/k migrate s3://bucket/archive/ --dry-run
//! ```
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure (local I/O, an unexpected S3 answer, a failed read-back check) |
//! | 2 | usage: bad arguments or options |
//! | 3 | key material missing, unreadable, or of the wrong kind |
//! | 4 | decryption refused: wrong key, wrong `--context`, tampered object (no output is left) |
//! | 5 | refused by `--commitment-policy` or a legacy gate (see `--legacy`) |
//! | 6 | no such bucket or object |
//! | 7 | not an encrypted object, or malformed encryption metadata |
//! | 8 | endpoint unreachable, timed out, or credentials refused |
//! | 9 | a conditional write lost to a concurrent writer (`migrate`); that object was left as it was |
//! | 10 | `scan --fail-on-legacy` found legacy objects |
//!
//! The same table is printed by `s3ec --help`; the constants are in [`error::exit`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod demo_server;
pub mod error;
pub mod s3url;
pub mod setup;

use cli::{Cli, Command};
use error::CliError;
use setup::Env;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match &cli.command {
        // These three need no AWS configuration.
        Command::Keygen(args) => commands::keygen::run(args, g.json),
        Command::Demo(args) => commands::demo::run(g, args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        command => {
            let env = Env::load(g).await;
            env.require_region()?;
            match command {
                Command::Put(args) => commands::transfer::run_put(&env, args).await,
                Command::Get(args) => commands::transfer::run_get(&env, args).await,
                Command::Inspect(args) => commands::inspect::run(&env, args).await,
                Command::Scan(args) => commands::scan::run(&env, args).await,
                Command::Rekey(args) => commands::rekey::run(&env, args).await,
                Command::Migrate(args) => commands::migrate::run(&env, args).await,
                Command::Keygen(_) | Command::Demo(_) | Command::Serve(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}
