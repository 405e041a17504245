//! `s3ec scan`: the migration audit of a prefix.

use std::collections::{BTreeMap, HashSet};

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::json;

use crate::cli::ScanArgs;
use crate::commands::inspect::{inspect, legacy_reason, Inspection, State};
use crate::error::CliError;
use crate::setup::Env;

/// HEAD requests in flight during a scan.
const SCAN_CONCURRENCY: usize = 16;

/// Every key under `prefix` (all pages of ListObjectsV2).
pub async fn list_keys(env: &Env, bucket: &str, prefix: &str) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    let mut pages = env
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CliError::s3("ListObjectsV2", bucket, prefix, e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

/// Inspects every object under `prefix`, in key order, leaving out the instruction files that objects' envelopes
/// were read from.
///
/// Whether an object is an instruction file is decided by content, never by its name or its marker metadata
/// alone (both can be set on any object): it is one when another object's envelope decoded from it. Everything
/// else is listed, including an encrypted object that happens to be called `<other key>.instruction` or to
/// carry the marker, and an instruction file whose object is gone.
pub async fn inspect_prefix(
    env: &Env,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Inspection>, CliError> {
    let keys = list_keys(env, bucket, prefix).await?;
    let bar = env.progress(Some(keys.len() as u64), false, "scanning");
    let mut found: Vec<Inspection> = stream::iter(keys)
        .map(|key| {
            let bar = bar.clone();
            async move {
                let r = inspect(env, bucket, &key, None).await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(SCAN_CONCURRENCY)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    let used: HashSet<String> = found
        .iter()
        .filter_map(|i| match &i.state {
            State::Encrypted {
                instruction_key: Some(k),
                ..
            } => Some(k.clone()),
            _ => None,
        })
        .collect();
    found.retain(|i| !used.contains(&i.key));
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

/// Counts of a scan.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Objects scanned (the instruction files that objects' envelopes came from excluded).
    pub objects: usize,
    /// By format: `V1`, `V2`, `V3`, `unencrypted`, `malformed`.
    pub by_format: BTreeMap<String, usize>,
    /// By content algorithm name.
    pub by_suite: BTreeMap<String, usize>,
    /// By key-wrapping algorithm.
    pub by_wrap: BTreeMap<String, usize>,
    /// Objects `migrate` would rewrite, with the reason.
    pub legacy: Vec<(String, &'static str)>,
}

/// Tallies inspections.
pub fn summarize(found: &[Inspection]) -> Summary {
    let mut s = Summary {
        objects: found.len(),
        ..Summary::default()
    };
    for i in found {
        let format = match &i.state {
            State::Encrypted { envelope, .. } => {
                *s.by_suite
                    .entry(envelope.suite.name().to_string())
                    .or_default() += 1;
                *s.by_wrap
                    .entry(envelope.wrap.as_str().to_string())
                    .or_default() += 1;
                if let Some(reason) = legacy_reason(envelope) {
                    s.legacy.push((i.key.clone(), reason));
                }
                envelope.version.to_string()
            }
            State::Plain => "unencrypted".to_string(),
            State::InstructionFile => "instruction file without its object".to_string(),
            State::Malformed(_) => "malformed".to_string(),
        };
        *s.by_format.entry(format).or_default() += 1;
    }
    s
}

/// Runs `scan`.
pub async fn run(env: &Env, args: &ScanArgs) -> Result<(), CliError> {
    let found = inspect_prefix(env, &args.prefix.bucket, &args.prefix.key).await?;
    let s = summarize(&found);
    if env.global.json {
        let doc = json!({
            "prefix": args.prefix.to_string(),
            "objects": s.objects,
            "by_format": s.by_format,
            "by_content_algorithm": s.by_suite,
            "by_wrap_algorithm": s.by_wrap,
            "legacy": s.legacy.iter().map(|(k, r)| json!({"key": k, "reason": r})).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!("{} objects under {}", s.objects, args.prefix);
        let show = |title: &str, m: &BTreeMap<String, usize>| {
            println!("{title}:");
            for (k, n) in m {
                println!("  {n:>8}  {k}");
            }
        };
        show("by format", &s.by_format);
        show("by content algorithm", &s.by_suite);
        show("by key wrapping", &s.by_wrap);
        if s.legacy.is_empty() {
            println!("no object needs migration");
        } else {
            println!(
                "{} object(s) to migrate (s3ec migrate {}):",
                s.legacy.len(),
                args.prefix
            );
            for (key, reason) in &s.legacy {
                println!("  s3://{}/{key}  ({reason})", args.prefix.bucket);
            }
        }
    }
    if args.fail_on_legacy && !s.legacy.is_empty() {
        return Err(CliError::LegacyFound(s.legacy.len()));
    }
    Ok(())
}
