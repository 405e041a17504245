//! `s3ec serve`: the demo's endpoint ([`crate::demo_server`]) kept running in the foreground, so programs and
//! the other commands can be developed against it with no AWS account.
//!
//! It prints the endpoint, the credentials it accepts and the lines to paste into a shell, then waits for
//! Ctrl-C (SIGINT) and stops gracefully.

use std::path::{Path, PathBuf};

use crate::cli::ServeArgs;
use crate::demo_server::{DemoServer, DemoServerError};
use crate::error::CliError;

/// Runs the endpoint until Ctrl-C.
pub async fn run(args: &ServeArgs) -> Result<(), CliError> {
    for bucket in &args.buckets {
        check_bucket_name(bucket)?;
    }
    // Held until the end: a temporary folder is deleted when this goes out of scope.
    let temp;
    let (root, kept): (PathBuf, bool) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
            (dir.clone(), true)
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("s3ec-serve-")
                .tempdir()
                .map_err(|e| CliError::io(std::env::temp_dir(), e))?;
            (temp.path().to_path_buf(), false)
        }
    };
    for bucket in &args.buckets {
        // s3s-fs keeps one folder per bucket, so creating the folder creates the bucket.
        let path = root.join(bucket);
        std::fs::create_dir_all(&path).map_err(|e| CliError::io(&path, e))?;
    }
    let server = DemoServer::start_at(&root, args.addr).await?;
    print!("{}", banner(&server, &root, kept, &args.buckets));
    let waited = tokio::signal::ctrl_c().await;
    server.stop().await;
    println!("stopped.");
    waited.map_err(|e| CliError::DemoServer(DemoServerError::Signal(e)))
}

/// What a user needs to talk to the endpoint, as shell lines they can paste.
fn banner(server: &DemoServer, root: &Path, kept: bool, buckets: &[String]) -> String {
    let url = server.endpoint_url();
    let storage = if kept {
        "kept after exit"
    } else {
        "temporary, deleted on exit"
    };
    let mut out = format!(
        "s3ec serve: S3 endpoint {url}\n\
         storage: {} ({storage}; one folder per bucket)\n",
        root.display()
    );
    for b in buckets {
        out.push_str(&format!("bucket: {b}\n"));
    }
    out.push_str(&format!(
        "\nIn another shell (path-style addressing; any region is accepted):\n\
         export AWS_ENDPOINT_URL={url}\n\
         export AWS_ACCESS_KEY_ID={}\n\
         export AWS_SECRET_ACCESS_KEY={}\n\
         export AWS_REGION=us-east-1\n\
         \nthen for example:\n\
         s3ec keygen --out my.key\n\
         s3ec --aes-key my.key put FILE s3://{}/FILE   (or pass --endpoint-url {url})\n\
         \nCtrl-C stops the endpoint.\n",
        server.access_key_id(),
        server.secret_access_key(),
        buckets.first().map(String::as_str).unwrap_or("BUCKET"),
    ));
    out
}

/// S3's bucket naming rules; they also keep the name a single plain folder under the storage root.
fn check_bucket_name(name: &str) -> Result<(), CliError> {
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && chars_ok
        && ends_ok(name.as_bytes().first())
        && ends_ok(name.as_bytes().last())
        && !name.contains("..")
    {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--bucket `{name}` is not a valid bucket name (3-63 of a-z, 0-9, '.', '-'; a letter or digit at each end)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::check_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["s3ec-demo", "abc", "a.b-c", "0bucket9"] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "../etc", "a/b", "Upper", "-ab", "ab-", "a..b", ""] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert!(check_bucket_name(&"a".repeat(64)).is_err());
    }
}
