//! `s3ec serve`: starts on a free port, the printed environment lets `s3ec put` and `s3ec get` reach it, the
//! object lands encrypted in `--dir`, and Ctrl-C (SIGINT) stops it with exit code 0.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_s3ec");

/// Kills the server if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the banner up to its last line and returns its `export NAME=VALUE` lines.
fn read_banner(out: &mut BufReader<ChildStdout>) -> (String, HashMap<String, String>) {
    let mut text = String::new();
    let mut vars = HashMap::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "s3ec serve exited before its banner was complete:\n{text}"
        );
        text.push_str(&line);
        if let Some((k, v)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
        {
            vars.insert(k.to_string(), v.to_string());
        }
        if line.starts_with("Ctrl-C stops the endpoint.") {
            return (text, vars);
        }
    }
}

fn s3ec(vars: &HashMap<String, String>, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .envs(vars)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn serves_put_and_get_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--bucket",
            "dev-bucket",
            "--dir",
        ])
        .arg(&store)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let (banner, vars) = read_banner(&mut out);
    let url = &vars["AWS_ENDPOINT_URL"];
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{banner}"
    );
    assert!(banner.contains("bucket: dev-bucket"), "{banner}");
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        assert!(vars.contains_key(var), "{var} missing from:\n{banner}");
    }

    let key = dir.path().join("my.key");
    let plain = dir.path().join("hello.txt");
    let back = dir.path().join("back.txt");
    std::fs::write(&plain, b"hello through s3ec serve\n").unwrap();
    let key_s = key.to_str().unwrap();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(s3ec(&vars, &["keygen", "--out", key_s]));
    ok(s3ec(
        &vars,
        &[
            "--aes-key",
            key_s,
            "put",
            plain.to_str().unwrap(),
            "s3://dev-bucket/hello.txt",
        ],
    ));
    ok(s3ec(
        &vars,
        &[
            "--aes-key",
            key_s,
            "get",
            "s3://dev-bucket/hello.txt",
            back.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&plain).unwrap()
    );
    // Stored as a file under --dir, and encrypted.
    let stored = std::fs::read(store.join("dev-bucket").join("hello.txt")).unwrap();
    assert!(!stored.windows(5).any(|w| w == b"hello"));

    let status = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "s3ec serve still running 10 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped."), "{rest}");
    // --dir is kept.
    assert!(store.join("dev-bucket").join("hello.txt").exists());
}

#[test]
fn bad_bucket_name_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--bucket", "../up"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid bucket name"));
}

/// The default port is often taken (MinIO listens on 9000 too): the error says how to pick another.
#[test]
fn a_taken_port_names_the_option_that_picks_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["serve", "--addr", &addr])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}"))
            && stderr.contains("--addr 127.0.0.1:0"),
        "{stderr}"
    );
}
