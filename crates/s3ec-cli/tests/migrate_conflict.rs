//! `migrate` never overwrites an object that changed after it was scanned: the write is conditional on the
//! ETag the scan saw, and a lost race is exit code 9 with the object left as it was.

mod common;

use common::{ruby_aes_key, Backend};
use s3ec_cli::commands::inspect::inspect;
use s3ec_cli::commands::migrate::Migrator;
use s3ec_cli::error::exit;
use s3ec_cli::setup::Env;

fn stale_etag_is_a_conflict(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = ruby_aes_key(dir.path());
    b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-meta-17", "obj");
    let env = Env::from_sdk(&common::global_options(b, &key), b.sdk_config());
    let migrator = Migrator::new(&env).unwrap();
    let (before, _) = b.get_raw("obj").unwrap();
    let inspection = b
        .block_on(inspect(&env, &b.bucket, &b.key("obj"), None))
        .unwrap();
    // Another writer replaced the object (with another valid object) after the scan read ETag E; the migration
    // still holds E. Servers that honour If-Match on GET (moto) refuse the read, the others (s3s-fs) refuse the
    // conditional PUT: both must end in a conflict.
    let (body, md) = b.get_raw("obj").unwrap();
    b.put_vector("ruby-aws-sdk-s3-1.117.2", "v2-aes-meta-4103", "obj");
    let (newer, _) = b.get_raw("obj").unwrap();
    let err = b
        .block_on(migrator.migrate_object(&env, &inspection, inspection.etag.as_deref().unwrap()))
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
    let (after, _) = b.get_raw("obj").unwrap();
    assert_eq!(after, newer, "the concurrent writer's object is untouched");
    assert_ne!(after, before);
    // With the current ETag the same migration goes through.
    b.put_raw("obj", body, md);
    let fresh = b
        .block_on(inspect(&env, &b.bucket, &b.key("obj"), None))
        .unwrap();
    b.block_on(migrator.migrate_object(&env, &fresh, fresh.etag.as_deref().unwrap()))
        .unwrap();
    let done = b
        .block_on(inspect(&env, &b.bucket, &b.key("obj"), None))
        .unwrap();
    assert_eq!(
        done.envelope().unwrap().version,
        s3ec_format::FormatVersion::V3
    );
}

#[test]
fn moto_stale_etag_is_a_conflict() {
    stale_etag_is_a_conflict(&Backend::moto("conflict"));
}

#[test]
fn garage_stale_etag_is_a_conflict() {
    stale_etag_is_a_conflict(&Backend::garage("conflict"));
}

#[test]
fn local_stale_etag_is_a_conflict() {
    stale_etag_is_a_conflict(&Backend::local("conflict"));
}
