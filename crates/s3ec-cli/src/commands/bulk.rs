//! What `scan`, `migrate` and `rekey` share: the object source (prefix or inventory manifest), shard,
//! checkpoint, concurrency, Ctrl-C, and the JSON-or-progress report; the engine is `s3ec_bulk`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use s3ec_bulk::checkpoint::Checkpoint;
use s3ec_bulk::manifest::ManifestLocation;
use s3ec_bulk::report::{json_line, Progress};
use s3ec_bulk::runner::{self, ObjectOp, Outcome, RunOptions, Totals};
use s3ec_bulk::source::{self, ObjectStream};
use s3ec_bulk::ObjectRef;

use crate::cli::BulkArgs;
use crate::error::CliError;
use crate::s3url::S3Url;
use crate::setup::Env;

/// What a run works on, as shown in reports: `s3://bucket/prefix` or the manifest.
pub fn target_name(prefix: Option<&S3Url>, args: &BulkArgs) -> String {
    match (prefix, &args.manifest) {
        (Some(p), _) => p.to_string(),
        (None, Some(m)) => format!("the objects of {m}"),
        (None, None) => String::new(),
    }
}

/// The objects of a run.
async fn objects(
    env: &Env,
    prefix: Option<&S3Url>,
    args: &BulkArgs,
) -> Result<ObjectStream, CliError> {
    match (prefix, &args.manifest) {
        (Some(p), None) => Ok(source::prefix(
            env.s3.clone(),
            p.bucket.clone(),
            p.key.clone(),
        )),
        (None, Some(m)) => {
            Ok(s3ec_bulk::source::manifest(env.s3.clone(), ManifestLocation::parse(m)).await?)
        }
        _ => Err(CliError::Usage(
            "give either s3://BUCKET/PREFIX or --manifest".into(),
        )),
    }
}

/// Runs `op` over the objects `prefix`/`args` name. Each outcome is printed as a JSON line with `--json`;
/// otherwise it is counted on the progress line and given to `each` (which prints what the command prints for
/// it). `each` sees every outcome in both modes (for the command's own tallies).
pub async fn drive<O: ObjectOp>(
    env: &Env,
    prefix: Option<&S3Url>,
    args: &BulkArgs,
    op: &O,
    what: &str,
    mut each: impl FnMut(&Progress, &ObjectRef, &Outcome<O::Done>),
) -> Result<Totals, CliError> {
    let source = objects(env, prefix, args).await?;
    let mut checkpoint = match &args.checkpoint {
        Some(path) => Some(Checkpoint::open(path).map_err(s3ec_bulk::BulkError::from)?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                eprintln!("stopping: finishing the objects in flight (Ctrl-C again to abandon them; a checkpoint redoes them)");
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    };
    let options = RunOptions {
        concurrency: usize::from(args.concurrency),
        shard: args.shard,
        stop,
        ..RunOptions::default()
    };
    let json = env.global.json;
    let bar = env.progress(None, false, what);
    let counting = match &args.manifest {
        // A manifest's rows are counted beside the run (a second read of its files), so the progress line
        // gets an ETA once they are; a listing has no total to count.
        Some(m) if !bar.is_hidden() => Some(tokio::spawn(count_rows(
            env.s3.clone(),
            ManifestLocation::parse(m),
            args.shard,
            bar.clone(),
        ))),
        _ => None,
    };
    let mut progress = Progress::new(bar, what);
    let result = runner::run(source, op, &options, checkpoint.as_mut(), |obj, outcome| {
        if json {
            println!("{}", json_line(obj, outcome));
        }
        progress.inc(outcome);
        each(&progress, obj, outcome);
    })
    .await;
    progress.finish();
    on_signal.abort();
    if let Some(c) = counting {
        c.abort();
    }
    Ok(result?)
}

/// Counts the rows of a manifest in `shard` and sets them as the bar's total; a manifest that cannot be read
/// leaves the total unknown (the run itself reports why).
async fn count_rows(
    s3: s3ec::aws_sdk_s3::Client,
    location: ManifestLocation,
    shard: Option<s3ec_bulk::Shard>,
    bar: indicatif::ProgressBar,
) {
    use futures_util::StreamExt as _;
    let Ok(rows) = s3ec_bulk::source::manifest(s3, location).await else {
        return;
    };
    let mut rows = std::pin::pin!(rows);
    let mut n = 0u64;
    while let Some(row) = rows.next().await {
        match row {
            Ok(obj) if shard.is_none_or(|s| s.takes(&obj.key)) => n += 1,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    Progress::set_total(&bar, n);
}
