//! The official S3 encryption clients ("peers") that s3ec is checked against.
//!
//! `cargo xtask peers list | install [PEER] | generate --peer P [--out DIR]`.
//! Each peer has a harness under `xtask/peers/<peer>/` with one command line
//! (`xtask/peers/README.md`): `put|get|reencrypt --endpoint URL --bucket B --key K
//! --keyring aes:FILE|rsa:PRIV[:PUB]|kms:KEYID --format v1|v2|v3 --storage metadata|instruction
//! [--context k=v]... [--matdesc k=v]... --in FILE --out FILE [--range bytes=a-b] [--legacy]`,
//! and `batch` (one such command per stdin line, arguments TAB-separated). Each command prints
//! one JSON line, `{"ok":true,...}` or `{"ok":false,"error":...}`.
//! Peers are installed from their registries into the tools folder (`$S3EC_TOOLS`, default
//! `/var/tmp/s3ec-tools`); a peer that cannot be installed is an error with the exact message.

mod cases;
#[path = "../peers/command_line.rs"]
mod command_line;
mod generate;
mod http;
mod kms_recorder;
mod lab;
mod test_server;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub use generate::generate;
pub use http::Moto;
pub use kms_recorder::KmsRecorder;
pub use lab::{plaintext, Lab};

/// What a peer can write (reading is attempted for everything in the live matrix).
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Formats it writes: "v1" (a V1 client), "v2", "v3".
    pub formats: &'static [&'static str],
    /// Keyrings it writes with, per format: "aes", "rsa", "kms".
    pub keyrings: &'static [&'static str],
    /// Whether it writes instruction files.
    pub instruction_put: bool,
    /// Part size for multipart upload, if supported.
    pub multipart: Option<u64>,
    /// Whether it serves ranged gets.
    pub ranged_get: bool,
    /// Whether it re-encrypts instruction files.
    pub reencrypt: bool,
}

/// One official client.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Name on the command line and folder under `xtask/peers/`.
    pub name: &'static str,
    /// Folder of its vectors under `testdata/vectors/`.
    pub producer_dir: &'static str,
    /// `producer` of its manifest.
    pub producer: &'static str,
    /// What it writes.
    pub caps: Caps,
}

/// Every peer, in the order the matrix prints them.
pub const PEERS: &[Peer] = &[
    Peer {
        name: "s3ec",
        producer_dir: "s3ec-0.1.0",
        producer: "s3ec 0.1.0",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["aes", "rsa", "kms"],
            instruction_put: true,
            multipart: Some(5 * 1024 * 1024),
            ranged_get: true,
            reencrypt: true,
        },
    },
    // s3ec again, behind its test server: every command crosses AWS's test-server protocol over HTTP.
    Peer {
        name: "s3ec-ts",
        producer_dir: "s3ec-test-server-0.1.0",
        producer: "s3ec-test-server 0.1.0",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["aes", "rsa", "kms"],
            instruction_put: true,
            multipart: None,
            ranged_get: true,
            reencrypt: true,
        },
    },
    // s3ec once more, through the object_store adapter (`EncryptedStore<AmazonS3>`, crates/s3ec-object-store):
    // the participant binary `s3ec-peer object-store`. A few configurations (AES and KMS), so the matrix grows
    // by little; its keyrings are s3ec's, already written with every kind above.
    Peer {
        name: "s3ec-os",
        producer_dir: "s3ec-object-store-0.1.0",
        producer: "s3ec-object-store 0.1.0",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["aes", "kms"],
            instruction_put: true,
            multipart: Some(5 * 1024 * 1024),
            ranged_get: true,
            reencrypt: false,
        },
    },
    Peer {
        name: "java-v4",
        producer_dir: "java-s3ec-4.0.1",
        producer: "amazon-s3-encryption-client-java 4.0.1",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["aes", "rsa", "kms"],
            instruction_put: true,
            multipart: Some(5 * 1024 * 1024),
            ranged_get: true,
            reencrypt: true,
        },
    },
    Peer {
        name: "go-v4",
        producer_dir: "go-s3ec-4.0.0",
        producer: "amazon-s3-encryption-client-go v4.0.0",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["kms"],
            instruction_put: false,
            multipart: None,
            ranged_get: false,
            reencrypt: false,
        },
    },
    Peer {
        name: "python-v4",
        producer_dir: "python-s3ec-4.0.0",
        producer: "amazon-s3-encryption-client-python 4.0.0",
        caps: Caps {
            formats: &["v2", "v3"],
            keyrings: &["kms"],
            instruction_put: false,
            multipart: Some(5 * 1024 * 1024),
            ranged_get: false,
            reencrypt: false,
        },
    },
    Peer {
        name: "ruby",
        producer_dir: "ruby-aws-sdk-s3-1.117.2",
        producer: "ruby-aws-sdk-s3-1.117.2",
        caps: Caps {
            formats: &["v1", "v2"],
            keyrings: &["aes", "rsa", "kms"],
            instruction_put: true,
            multipart: None,
            ranged_get: false,
            reencrypt: false,
        },
    },
    Peer {
        name: "go-v1",
        producer_dir: "go-aws-sdk-go-1.44.133",
        producer: "go-aws-sdk-go-1.44.133",
        caps: Caps {
            formats: &["v1", "v2"],
            keyrings: &["kms"],
            instruction_put: true,
            multipart: None,
            ranged_get: false,
            reencrypt: false,
        },
    },
];

/// The peer named `name`.
pub fn peer(name: &str) -> Result<&'static Peer> {
    PEERS.iter().find(|p| p.name == name).with_context(|| {
        let names: Vec<_> = PEERS.iter().map(|p| p.name).collect();
        format!("unknown peer `{name}` (known: {})", names.join(", "))
    })
}

/// The repository root (parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn tools() -> PathBuf {
    crate::servers::tools_dir()
}

fn harness_dir(peer: &Peer) -> PathBuf {
    repo_root().join("xtask/peers").join(peer.name)
}

/// `cargo xtask peers ...`.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("list") | None => {
            for p in PEERS {
                println!("{:<10} {:<28} {}", p.name, p.producer_dir, p.producer);
            }
            Ok(())
        }
        Some("install") => {
            let chosen: Vec<&Peer> = match args.get(1) {
                Some(n) => vec![peer(n)?],
                None => PEERS.iter().collect(),
            };
            let mut failed = Vec::new();
            for p in chosen {
                match install(p) {
                    Ok(()) => println!("{}: installed", p.name),
                    Err(e) => {
                        println!("{}: NOT installed: {e:#}", p.name);
                        failed.push(p.name);
                    }
                }
            }
            if !failed.is_empty() {
                bail!("peers not installed: {}", failed.join(", "));
            }
            Ok(())
        }
        Some("generate") => generate(&args[1..]),
        Some(other) => bail!("unknown `peers {other}` (list | install [PEER] | generate --peer P)"),
    }
}

/// Runs a command; an error carries its exact output.
fn checked(what: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let have = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}\\n"])
        .args(packages)
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .all(|l| l.contains("install ok installed"))
        })
        .unwrap_or(false);
    if have {
        return Ok(());
    }
    // A stale package list gives "Unable to locate package"; refresh it once.
    let _ = checked(
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    );
    checked(
        &format!("apt-get install {}", packages.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// Installs `peer` and builds its harness (idempotent; rebuilds only what changed).
pub fn install(peer: &Peer) -> Result<()> {
    let dir = tools().join(format!("peer-{}", peer.name));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let src = harness_dir(peer);
    match peer.name {
        // One cargo invocation for the s3ec binaries (the participants and the CLI, which reads the Parquet case
        // of the interop matrix): they share their dependencies with one feature set, so each costs only its
        // own crate.
        "s3ec" | "s3ec-ts" | "s3ec-os" => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            checked(
                "cargo build -p s3ec-peer -p s3ec-test-server -p s3ec-cli",
                Command::new(cargo)
                    .args(["build", "-q", "-p", "s3ec-peer", "-p", "s3ec-test-server"])
                    .args(["-p", "s3ec-cli"])
                    .current_dir(repo_root()),
            )?;
        }
        "java-v4" => {
            let lib = dir.join("lib");
            if !lib.join(".done").exists() {
                checked(
                    "mvn dependency:copy-dependencies (Maven Central)",
                    Command::new("mvn")
                        .args(["-B", "-q", "-f"])
                        .arg(src.join("pom.xml"))
                        .arg("dependency:copy-dependencies")
                        .arg(format!("-DoutputDirectory={}", lib.display()))
                        .arg("-DincludeScope=runtime"),
                )?;
                fs::write(lib.join(".done"), "")?;
            }
            let main = src.join("src/main/java/s3ecpeer/Main.java");
            if stale(&main, &dir.join("classes/s3ecpeer/Main.class")) {
                checked(
                    "javac Main.java",
                    Command::new("javac")
                        .args(["-nowarn", "-d"])
                        .arg(dir.join("classes"))
                        .arg("-cp")
                        .arg(format!("{}/*", lib.display()))
                        .arg(&main),
                )?;
            }
        }
        "go-v4" => {
            let bin = dir.join("peer");
            if stale(&src.join("main.go"), &bin) {
                checked(
                    "go build (Go module proxy)",
                    Command::new("go")
                        .args(["build", "-mod=mod", "-o"])
                        .arg(&bin)
                        .arg(".")
                        .current_dir(&src)
                        // The checksum database does not list this module (404); the module
                        // itself comes from the proxy, and go.sum pins its hash from then on.
                        .env("GONOSUMDB", "github.com/aws/amazon-s3-encryption-client-go"),
                )?;
            }
        }
        "go-v1" => {
            apt_install(&["golang-github-aws-aws-sdk-go-dev"])?;
            let bin = dir.join("peer");
            if stale(&src.join("main.go"), &bin) {
                // Debian ships the SDK as GOPATH source; build in GOPATH mode, offline.
                checked(
                    "go build (GOPATH mode, Debian golang-github-aws-aws-sdk-go-dev)",
                    Command::new("go")
                        .args(["build", "-o"])
                        .arg(&bin)
                        .arg("main.go")
                        .current_dir(&src)
                        .env("GO111MODULE", "off")
                        .env("GOFLAGS", "")
                        .env(
                            "GOPATH",
                            format!("/usr/share/gocode:{}", dir.join("gopath").display()),
                        ),
                )?;
            }
        }
        "python-v4" => {
            let venv = dir.join("venv");
            if !venv.join(".done").exists() {
                let python = std::env::var("S3EC_PYTHON").unwrap_or_else(|_| "python3".into());
                checked(
                    "python -m venv",
                    Command::new(&python).arg("-m").arg("venv").arg(&venv),
                )?;
                checked(
                    "pip install amazon-s3-encryption-client-python==4.0.0 (PyPI)",
                    Command::new(venv.join("bin/pip")).args([
                        "install",
                        "--disable-pip-version-check",
                        "-q",
                        "amazon-s3-encryption-client-python==4.0.0",
                        "boto3",
                    ]),
                )?;
                fs::write(venv.join(".done"), "")?;
            }
        }
        "ruby" => {
            apt_install(&["ruby", "ruby-aws-sdk-s3", "ruby-aws-sdk-kms"])?;
            checked(
                "ruby -e require aws-sdk-s3",
                Command::new("ruby").args(["-e", "require 'aws-sdk-s3'; require 'aws-sdk-kms'"]),
            )?;
        }
        other => bail!("no install recipe for {other}"),
    }
    Ok(())
}

fn stale(src: &Path, out: &Path) -> bool {
    let m = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (m(src), m(out)) {
        (Some(s), Some(o)) => s > o,
        _ => true,
    }
}

/// Where `cargo build` puts binaries: `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub(crate) fn cargo_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The command that starts `peer`'s harness in batch mode.
fn batch_command(peer: &Peer) -> Command {
    let dir = tools().join(format!("peer-{}", peer.name));
    let src = harness_dir(peer);
    let mut cmd = match peer.name {
        "java-v4" => {
            let mut c = Command::new("java");
            c.arg("-cp").arg(format!(
                "{}:{}/*",
                dir.join("classes").display(),
                dir.join("lib").display()
            ));
            c.arg("s3ecpeer.Main");
            c
        }
        "go-v4" | "go-v1" => Command::new(dir.join("peer")),
        "s3ec" => Command::new(cargo_target_dir().join("debug/s3ec-peer")),
        "s3ec-os" => {
            let mut c = Command::new(cargo_target_dir().join("debug/s3ec-peer"));
            c.arg("object-store");
            c
        }
        "python-v4" => {
            let mut c = Command::new(dir.join("venv/bin/python"));
            c.arg(src.join("peer.py"));
            c
        }
        _ => {
            let mut c = Command::new("ruby");
            c.arg(src.join("peer.rb"));
            c
        }
    };
    cmd.arg("batch");
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", http::REGION)
        .env("AWS_DEFAULT_REGION", http::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// A running participant: a harness in batch mode (one command in, one JSON line out), or s3ec's test server
/// driven over HTTP.
pub struct PeerProcess {
    /// Which peer.
    pub peer: &'static Peer,
    kind: Kind,
}

enum Kind {
    Harness {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: BufReader<ChildStdout>,
    },
    TestServer(test_server::TestServerPeer),
}

impl PeerProcess {
    /// Starts the harness of `peer` (installed beforehand); its stderr goes to `log`.
    pub fn start(peer: &'static Peer, log: &Path) -> Result<PeerProcess> {
        if peer.name == "s3ec-ts" {
            let binary = cargo_target_dir().join("debug/s3ec-test-server");
            return Ok(PeerProcess {
                peer,
                kind: Kind::TestServer(test_server::TestServerPeer::new(binary, log)),
            });
        }
        let log_file =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = batch_command(peer);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the {} harness", peer.name))?;
        let stdin = child.stdin.take().context("no stdin pipe")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        Ok(PeerProcess {
            peer,
            kind: Kind::Harness {
                child,
                stdin: Some(stdin),
                stdout: BufReader::new(stdout),
            },
        })
    }

    /// Runs one command (`put`, `get`, ... and its flags) and returns the parsed result line.
    pub fn call(&mut self, args: &[String]) -> Result<Value> {
        if args.iter().any(|a| a.contains('\t') || a.contains('\n')) {
            bail!("peer arguments may not hold TAB or newline");
        }
        let (stdin, stdout) = match &mut self.kind {
            Kind::TestServer(server) => return Ok(server.call(args)),
            Kind::Harness { stdin, stdout, .. } => (stdin, stdout),
        };
        let stdin = stdin.as_mut().context("harness input closed")?;
        writeln!(stdin, "{}", args.join("\t"))?;
        stdin.flush()?;
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line)? == 0 {
                bail!("{} harness exited (see its log)", self.peer.name);
            }
            let line = line.trim();
            if line.starts_with('{') {
                return serde_json::from_str(line)
                    .with_context(|| format!("{}: bad result line {line:?}", self.peer.name));
            }
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let Kind::Harness { child, stdin, .. } = &mut self.kind else {
            return;
        };
        // End of input ends a harness; kill it (by its own pid) only if it lingers.
        drop(stdin.take());
        for _ in 0..50 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
