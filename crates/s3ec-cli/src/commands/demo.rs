//! `s3ec demo`: a guided tour that needs no AWS account.
//!
//! Without `--endpoint-url` or `--profile` it starts the in-process endpoint of [`crate::demo_server`] on
//! 127.0.0.1 and talks only to it; with them, the same steps run against that endpoint (the bucket must exist or
//! be creatable).

use std::path::Path;

use aws_config::{BehaviorVersion, Region};
use aws_lc_rs::digest;
use aws_sdk_s3::config::Credentials;

use crate::cli::{DemoArgs, GlobalOpts, KeyKind};
use crate::commands::{inspect, keygen, transfer};
use crate::demo_server::DemoServer;
use crate::error::CliError;
use crate::setup::{ClientTweak, Env};

const MIB: u64 = 1024 * 1024;
const SAMPLE: &[u8] =
    b"Hello from s3ec! This line is encrypted on this machine before it reaches S3.\n";

fn step(title: &str) {
    println!("\n== {title}");
}

fn shell(line: &str) {
    println!("$ {line}");
}

fn check(ok: bool, what: &str) -> Result<(), CliError> {
    if ok {
        println!("   ok: {what}");
        Ok(())
    } else {
        Err(CliError::Verify(what.to_string()))
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::io(path, e))
}

/// Runs the demo.
pub async fn run(global: &GlobalOpts, args: &DemoArgs) -> Result<(), CliError> {
    if args.multipart_mib < 6 {
        return Err(CliError::Usage(
            "--multipart-mib must be at least 6 (two parts of at least 5 MiB)".into(),
        ));
    }
    let real = global.endpoint_url.is_some() || global.profile.is_some();
    let server = if real {
        None
    } else {
        Some(DemoServer::start().await?)
    };
    let result = tour(global, args, server.as_ref()).await;
    if let Some(server) = server {
        server.stop().await;
        println!("\nstopped the in-process endpoint and deleted its storage.");
    }
    result
}

async fn tour(
    global: &GlobalOpts,
    args: &DemoArgs,
    server: Option<&DemoServer>,
) -> Result<(), CliError> {
    let work = tempfile::Builder::new()
        .prefix("s3ec-demo-files-")
        .tempdir()
        .map_err(|e| CliError::io(std::env::temp_dir(), e))?;
    let dir = work.path();
    let bucket = &args.bucket;

    let mut global = global.clone();
    global.json = false;
    let env = match server {
        Some(server) => {
            step("An S3-compatible endpoint inside this process (s3s + s3s-fs over a temporary folder)");
            println!(
                "endpoint {} storing objects under {}",
                server.endpoint_url(),
                server.root().display()
            );
            global.endpoint_url = Some(server.endpoint_url());
            let sdk = aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(server.endpoint_url())
                .credentials_provider(Credentials::new(
                    server.access_key_id(),
                    server.secret_access_key(),
                    None,
                    None,
                    "s3ec-demo",
                ))
                .load()
                .await;
            Env::from_sdk(&global, sdk)
        }
        None => {
            step("Using the configured endpoint and credentials");
            Env::load(&global).await
        }
    };
    let exists = env.s3.head_bucket().bucket(bucket).send().await.is_ok();
    if !exists {
        env.s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| CliError::s3("CreateBucket", bucket, "", e))?;
        println!("created bucket {bucket}");
    }

    step("1. Generate a local AES-256 wrapping key");
    let key_file = dir.join("demo.key");
    shell(&format!(
        "s3ec keygen --kind aes --out {}",
        key_file.display()
    ));
    keygen::generate(KeyKind::Aes, 0, &key_file)?;
    println!("   wrote a 32-byte key; it never leaves this machine");
    let mut global = env.global.clone();
    global.aes_key = Some(key_file.clone());
    global.kms_key_id = None;
    global.rsa_key = None;
    let env = Env { global, ..env };
    let client = env.client(ClientTweak::default())?;

    step("2. Encrypt and upload");
    let hello = dir.join("hello.txt");
    std::fs::write(&hello, SAMPLE).map_err(|e| CliError::io(&hello, e))?;
    let key = "demo/hello.txt";
    shell(&format!(
        "s3ec --aes-key {} put hello.txt s3://{bucket}/{key}",
        key_file.display()
    ));
    transfer::put(&env, &client, &hello, bucket, key, false, 8).await?;
    println!("   uploaded {} plaintext bytes", SAMPLE.len());

    step("3. What S3 stores: ciphertext and the envelope in the object metadata");
    let raw = env
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| CliError::s3("GetObject", bucket, key, e))?;
    let mut metadata: Vec<(String, String)> = raw
        .metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    metadata.sort();
    let stored = raw
        .body
        .collect()
        .await
        .map_err(|e| CliError::Usage(format!("reading the stored object failed: {e}")))?
        .into_bytes();
    println!(
        "   stored object: {} bytes (plaintext + 16-byte GCM tag)",
        stored.len()
    );
    let preview: String = stored.iter().take(48).map(|b| format!("{b:02x}")).collect();
    println!("   first bytes:   {preview}…");
    for (k, v) in &metadata {
        println!("   x-amz-meta-{k}: {v}");
    }
    check(
        stored.len() == SAMPLE.len() + 16 && !stored.windows(5).any(|w| w == b"Hello"),
        "the stored bytes are ciphertext, not the plaintext",
    )?;

    step("4. Download and decrypt (authenticated before anything is written)");
    let back = dir.join("hello.out.txt");
    shell(&format!(
        "s3ec --aes-key {} get s3://{bucket}/{key} hello.out.txt",
        key_file.display()
    ));
    transfer::get(&env, &client, bucket, key, &back, None, None).await?;
    let text = read(&back)?;
    print!("   {}", String::from_utf8_lossy(&text));
    check(text == SAMPLE, "the decrypted file equals the original")?;

    step("5. A ranged get: only the bytes asked for are fetched and decrypted (unauthenticated, by nature)");
    let ranged_client = env.client(ClientTweak {
        unauthenticated_ranges: true,
        ..ClientTweak::default()
    })?;
    let part = dir.join("range.txt");
    shell(&format!(
        "s3ec --aes-key {} get --range bytes=6-15 s3://{bucket}/{key} range.txt",
        key_file.display()
    ));
    let r = transfer::get(
        &env,
        &ranged_client,
        bucket,
        key,
        &part,
        Some("bytes=6-15"),
        None,
    )
    .await?;
    let got = read(&part)?;
    println!(
        "   {:?} ({})",
        String::from_utf8_lossy(&got),
        r.content_range.unwrap_or_default()
    );
    check(
        got == SAMPLE[6..16],
        "the range equals bytes 6..=15 of the original",
    )?;

    step("6. The wrong key is refused, and nothing is written");
    let other_key = dir.join("other.key");
    keygen::generate(KeyKind::Aes, 0, &other_key)?;
    let mut wrong_global = env.global.clone();
    wrong_global.aes_key = Some(other_key.clone());
    let wrong_env = Env {
        global: wrong_global,
        ..env.clone()
    };
    let wrong_client = wrong_env.client(ClientTweak::default())?;
    let refused = dir.join("refused.txt");
    shell(&format!(
        "s3ec --aes-key {} get s3://{bucket}/{key} refused.txt",
        other_key.display()
    ));
    match transfer::get(&wrong_env, &wrong_client, bucket, key, &refused, None, None).await {
        Ok(_) => {
            return Err(CliError::Verify(
                "a get with the wrong key succeeded".into(),
            ))
        }
        Err(e) => println!("   error (exit code {}): {e}", e.exit_code()),
    }
    check(!refused.exists(), "no output file was left behind")?;

    step(&format!(
        "7. A multipart upload ({} MiB in 5 MiB parts, one GCM stream across the parts)",
        args.multipart_mib
    ));
    let big = dir.join("big.bin");
    let data = pseudo_random(args.multipart_mib * MIB);
    std::fs::write(&big, &data).map_err(|e| CliError::io(&big, e))?;
    let big_key = "demo/big.bin";
    shell(&format!(
        "s3ec --aes-key {} put --multipart --part-size 5 big.bin s3://{bucket}/{big_key}",
        key_file.display()
    ));
    let put = transfer::put(&env, &client, &big, bucket, big_key, true, 5).await?;
    println!(
        "   uploaded {} bytes, ETag {}",
        put.bytes,
        put.etag.unwrap_or_default()
    );
    let big_back = dir.join("big.out");
    shell(&format!(
        "s3ec --aes-key {} get s3://{bucket}/{big_key} big.out",
        key_file.display()
    ));
    transfer::get(&env, &client, bucket, big_key, &big_back, None, None).await?;
    check(
        sha256(&read(&big_back)?) == sha256(&data),
        "the downloaded file has the same SHA-256",
    )?;

    step("8. Inspect without any key: format, algorithms, storage, sizes");
    shell(&format!("s3ec inspect s3://{bucket}/{big_key}"));
    let i = inspect::inspect(&env, bucket, big_key, None).await?;
    inspect::print_human(&i);
    let doc = inspect::describe(&i);
    check(
        doc["format"] == "V3" && doc["key_commitment"] == true,
        "new objects are V3 with key commitment",
    )?;

    println!("\nDone. Against real S3: s3ec --region REGION --kms-key-id KEY put FILE s3://BUCKET/KEY (see s3ec --help).");
    Ok(())
}

/// Deterministic filler that does not compress (xorshift), so the demo needs no randomness for data.
fn pseudo_random(len: u64) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len as usize);
    out
}
