//! `s3ec scan`: the migration audit of a prefix or an inventory manifest.

use std::collections::BTreeMap;
use std::time::Instant;

use s3ec_bulk::ops::{Scan, Scanned};
use s3ec_bulk::report::{objects, summary};
use s3ec_bulk::runner::Outcome;
use serde_json::json;

use crate::cli::ScanArgs;
use crate::commands::bulk::{drive, target_name};
use crate::commands::inspect::{legacy_reason, Inspection, State};
use crate::error::{bulk_exit_code, bulk_message, CliError};
use crate::setup::Env;

/// Counts of a scan (memory: one entry per distinct format or algorithm, not per object).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Objects scanned (the instruction files that objects' envelopes came from excluded).
    pub objects: u64,
    /// By format: `V1`, `V2`, `V3`, `unencrypted`, `malformed`.
    pub by_format: BTreeMap<String, u64>,
    /// By content algorithm name.
    pub by_suite: BTreeMap<String, u64>,
    /// By key-wrapping algorithm.
    pub by_wrap: BTreeMap<String, u64>,
    /// Objects `migrate` would rewrite.
    pub legacy: u64,
}

impl Summary {
    /// Counts one inspection; returns why it needs migrating, if it does.
    pub fn add(&mut self, i: &Inspection) -> Option<&'static str> {
        self.objects += 1;
        let mut reason = None;
        let format = match &i.state {
            State::Encrypted { envelope, .. } => {
                *self
                    .by_suite
                    .entry(envelope.suite.name().to_string())
                    .or_default() += 1;
                *self
                    .by_wrap
                    .entry(envelope.wrap.as_str().to_string())
                    .or_default() += 1;
                reason = legacy_reason(envelope);
                envelope.version.to_string()
            }
            State::Plain => "unencrypted".to_string(),
            State::InstructionFile => "instruction file without its object".to_string(),
            State::Malformed(_) => "malformed".to_string(),
        };
        *self.by_format.entry(format).or_default() += 1;
        if reason.is_some() {
            self.legacy += 1;
        }
        reason
    }
}

/// Runs `scan`: objects stream through the inspection; legacy ones are printed as they are found, the counts
/// at the end. With `--json`, one line per object (`migration_needed` names legacy ones), then a summary line.
pub async fn run(env: &Env, args: &ScanArgs) -> Result<(), CliError> {
    let target = target_name(args.prefix.as_ref(), &args.bulk);
    let op = Scan::new(env.s3.clone());
    let mut s = Summary::default();
    let mut first_code = None;
    let started = Instant::now();
    let totals = drive(
        env,
        args.prefix.as_ref(),
        &args.bulk,
        &op,
        "scanning",
        |p, obj, outcome: &Outcome<Scanned>| match outcome {
            Outcome::Done(Scanned(i)) => {
                if let Some(reason) = s.add(i) {
                    if !env.global.json {
                        p.println(format!("legacy: {}  ({reason})", obj.url()));
                    }
                }
            }
            Outcome::Failed { error, .. } => {
                first_code.get_or_insert(bulk_exit_code(error));
                if !env.global.json {
                    p.eprintln(format!("error: {}: {}", obj.url(), bulk_message(error)));
                }
            }
            Outcome::Skipped { .. } => {}
        },
    )
    .await?;
    if env.global.json {
        println!(
            "{}",
            json!({
                "summary": true,
                "prefix": target,
                "objects": s.objects,
                "by_format": s.by_format,
                "by_content_algorithm": s.by_suite,
                "by_wrap_algorithm": s.by_wrap,
                "legacy": s.legacy,
                "failed": totals.failed,
                "stopped": totals.stopped,
            })
        );
    } else {
        println!("{} under {target}", objects(s.objects));
        let show = |title: &str, m: &BTreeMap<String, u64>| {
            println!("{title}:");
            for (k, n) in m {
                println!("  {n:>8}  {k}");
            }
        };
        show("by format", &s.by_format);
        show("by content algorithm", &s.by_suite);
        show("by key wrapping", &s.by_wrap);
        if s.legacy == 0 {
            println!("no object needs migration");
        } else {
            println!(
                "{} to migrate (listed above; s3ec migrate {target})",
                objects(s.legacy)
            );
        }
        eprintln!("{}", summary(&totals, "scanned", started.elapsed()));
    }
    if let Some(code) = first_code {
        return Err(CliError::Incomplete {
            verb: "scanned",
            failed: totals.failed,
            total: totals.seen,
            code,
        });
    }
    if args.fail_on_legacy && s.legacy > 0 {
        return Err(CliError::LegacyFound(s.legacy as usize));
    }
    Ok(())
}
