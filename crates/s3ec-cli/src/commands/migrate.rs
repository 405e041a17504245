//! `s3ec migrate`: rewrite legacy and V2 objects as V3 (key-committing), one conditional write each; the
//! per-object work is `s3ec_bulk::ops::Migrate`.

use std::time::Instant;

use s3ec::CommitmentPolicy;
use s3ec_bulk::ops::{Migrate, Planned};
use s3ec_bulk::report::{objects, summary};
use s3ec_bulk::runner::Outcome;
use serde_json::json;

pub use s3ec_bulk::ops::Migrated;

use crate::cli::MigrateArgs;
use crate::commands::bulk::{drive, target_name};
use crate::commands::inspect::Inspection;
use crate::error::{bulk_exit_code, bulk_message, exit, CliError};
use crate::setup::{ClientTweak, Env};

/// The two clients of a migration (a lenient reader and a committing writer/verifier), built from the global
/// key options.
pub struct Migrator(s3ec_bulk::ops::Migrator);

impl Migrator {
    /// Builds the clients from the global key options.
    pub fn new(env: &Env) -> Result<Self, CliError> {
        let keyring = env.keyring()?;
        let reader = env.client_with(
            keyring.clone(),
            ClientTweak {
                policy: Some(CommitmentPolicy::RequireEncryptAllowDecrypt),
                legacy: true,
                ..ClientTweak::default()
            },
        )?;
        let writer = env.client_with(
            keyring,
            ClientTweak {
                policy: Some(CommitmentPolicy::RequireEncryptRequireDecrypt),
                ..ClientTweak::default()
            },
        )?;
        Ok(Self(s3ec_bulk::ops::Migrator::new(
            reader,
            writer,
            env.context(),
        )))
    }

    /// Migrates one object if its current ETag is still `expected_etag`.
    pub async fn migrate_object(
        &self,
        _env: &Env,
        inspection: &Inspection,
        expected_etag: &str,
    ) -> Result<Migrated, CliError> {
        Ok(self.0.migrate_object(inspection, expected_etag).await?)
    }

    /// The library's migrator.
    pub fn into_inner(self) -> s3ec_bulk::ops::Migrator {
        self.0
    }
}

/// Runs `migrate`.
pub async fn run(env: &Env, args: &MigrateArgs) -> Result<(), CliError> {
    let target = target_name(args.prefix.as_ref(), &args.bulk);
    let migrator = if args.dry_run {
        None
    } else {
        Some(
            Migrator::new(env)?
                .into_inner()
                .delete_old_versions(args.delete_old_versions),
        )
    };
    let op = Migrate::new(env.s3.clone(), migrator);
    let mut first_code = exit::OK;
    let started = Instant::now();
    let json = env.global.json;
    let totals = drive(
        env,
        args.prefix.as_ref(),
        &args.bulk,
        &op,
        "migrating",
        |p, obj, outcome: &Outcome<Planned>| match outcome {
            Outcome::Done(done) if !json => {
                let verb = if done.migrated.is_some() {
                    "migrated"
                } else {
                    "would migrate"
                };
                let deleted = done
                    .migrated
                    .as_ref()
                    .and_then(|m| m.deleted_version_id.as_deref())
                    .map(|v| format!("; old version {v} deleted"))
                    .unwrap_or_default();
                p.println(format!("{verb} {} ({}){deleted}", obj.url(), done.reason));
            }
            Outcome::Failed { error, .. } => {
                let code = bulk_exit_code(error);
                if first_code == exit::OK {
                    first_code = code;
                }
                let hint = if code == exit::CONFLICT {
                    " (changed since it was read; left as it is — run migrate again)"
                } else {
                    ""
                };
                if !json {
                    p.eprintln(format!(
                        "error: {}: {}{hint}",
                        obj.url(),
                        bulk_message(error)
                    ));
                }
            }
            _ => {}
        },
    )
    .await?;
    let (done, failed) = (totals.done, totals.failed);
    let already = totals.skipped;
    if json {
        println!(
            "{}",
            json!({"summary": true, "prefix": target, "dry_run": args.dry_run, "scanned": totals.seen,
                   "migrated": if args.dry_run { 0 } else { done }, "planned": if args.dry_run { done } else { 0 },
                   "failed": failed, "already_current_or_unencrypted": already, "stopped": totals.stopped})
        );
    } else {
        println!(
            "{} scanned, {done} {}, {failed} failed, {already} left as they were (already V3, not encrypted, or malformed: see `s3ec scan`)",
            objects(totals.seen),
            if args.dry_run { "to migrate" } else { "migrated" },
        );
        eprintln!(
            "{}",
            summary(
                &totals,
                if args.dry_run { "planned" } else { "done" },
                started.elapsed()
            )
        );
    }
    if failed > 0 {
        return Err(CliError::MigrateIncomplete {
            failed: failed as usize,
            total: (done + failed) as usize,
            code: first_code,
        });
    }
    if totals.stopped {
        return Err(CliError::Interrupted);
    }
    Ok(())
}
