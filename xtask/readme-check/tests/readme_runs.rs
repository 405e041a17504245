//! The READMEs' Rust snippets, as a user copies them into a project of their own: this crate's dependencies are
//! the README's `[dependencies]` block (checked by `xtask/tests/docs_stay_true.rs`), its binary holds every
//! snippet (build.rs), and each one runs against the endpoint of `s3ec serve` (KMS at moto) and must print what
//! the README shows.

#[path = "../markdown.rs"]
#[allow(dead_code)]
mod markdown;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use s3ec_cli::demo_server::DemoServer;

const BIN: &str = env!("CARGO_BIN_EXE_s3ec-readme-check");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files the README's prose tells a user to have beside their program.
fn user_files(work: &Path) {
    use s3ec_cli::cli::KeyKind;
    use s3ec_cli::commands::keygen::generate;
    generate(KeyKind::Aes, 256, &work.join("my.key")).unwrap();
    generate(KeyKind::Aes, 256, &work.join("new.key")).unwrap();
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(work.join("big.bin"), big).unwrap();
    std::fs::write(work.join("doc.txt"), "draft 1\n").unwrap();
    std::fs::write(work.join("invoice.pdf"), [7u8; 2048]).unwrap();
}

/// A KMS key under `alias/my-key` at moto, in the region `s3ec serve` tells users to export.
async fn kms_alias(moto: &str) {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "readme",
        ))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let key = kms.create_key().send().await.expect("moto CreateKey");
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    // moto keeps its state across test runs: point the alias at this run's key.
    let _ = kms.delete_alias().alias_name("alias/my-key").send().await;
    kms.create_alias()
        .alias_name("alias/my-key")
        .target_key_id(key_id)
        .send()
        .await
        .expect("moto CreateAlias");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_snippets_run_against_s3ec_serve() {
    let moto = std::env::var("S3EC_TEST_MOTO_ENDPOINT").expect(
        "S3EC_TEST_MOTO_ENDPOINT is not set: run under `cargo xtask test`, or `cargo xtask servers` and export \
         what it prints",
    );
    let snippets = markdown::all_snippets(&root()).unwrap();
    let ids: Vec<&str> = snippets.iter().map(|s| s.id.as_str()).collect();
    assert!(
        ids.iter().filter(|id| id.starts_with("README.md:")).count() >= 3
            && ids
                .iter()
                .any(|id| id.starts_with("crates/s3ec/README.md:")),
        "the READMEs' snippets were not all found: {ids:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let work = dir.path().join("work");
    // The buckets the snippets name, as `s3ec serve --bucket s3ec-demo --bucket my-bucket` makes them.
    for bucket in ["s3ec-demo", "my-bucket"] {
        std::fs::create_dir_all(store.join(bucket)).unwrap();
    }
    std::fs::create_dir_all(&work).unwrap();
    user_files(&work);
    kms_alias(&moto).await;
    let server = DemoServer::start_in(&store).await.unwrap();

    let mut failures = Vec::new();
    for snippet in &snippets {
        // The environment of a shell where the `export` lines of `s3ec serve` were pasted; KMS calls go to moto.
        let mut cmd = Command::new(BIN);
        cmd.arg(&snippet.id)
            .current_dir(&work)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_ENDPOINT_URL", server.endpoint_url())
            .env("AWS_ENDPOINT_URL_KMS", &moto)
            .env("AWS_ACCESS_KEY_ID", server.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", server.secret_access_key())
            .env("AWS_REGION", "us-east-1");
        let out: Output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || stdout != snippet.output {
            failures.push(format!(
                "{} ({}):\n--- expected\n{}--- got\n{}--- stderr\n{}",
                snippet.id,
                out.status,
                snippet.output,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    server.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_snippet_needs_a_main_and_its_output() {
    let ok =
        "```rust,no_run\nfn main() { println!(\"hi\"); }\n```\n\nprints:\n\n```text\nhi\n```\n";
    let got = markdown::snippets("R.md", ok).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id.as_str(), got[0].output.as_str()),
        ("R.md:1", "hi\n")
    );
    let fragment = "```rust\nlet x = 1;\n```\n```text\n1\n```\n";
    assert!(markdown::snippets("R.md", fragment)
        .unwrap_err()
        .contains("fn main"));
    let silent = "```rust\nfn main() {}\n```\n## Next\n```text\n\n```\n";
    assert!(markdown::snippets("R.md", silent)
        .unwrap_err()
        .contains("```text"));
}
