//! The S3 servers the tests run against: moto (S3 + KMS, Secrets Manager) and a single-node Garage, and the AWS
//! Lambda Runtime Interface Emulator that `s3ec-batch`'s tests run the function under.
//!
//! All are installed once into a tools folder outside the clone (`$S3EC_TOOLS`,
//! default `/var/tmp/s3ec-tools`) and reused, started on 127.0.0.1 on free ports,
//! and described to the tests by the `S3EC_TEST_*` variables of [`Servers::env`].
//! A server that cannot be installed or started is an error, never a skip.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::proc::{self, Group};

/// What pip installs for moto.
const MOTO_REQUIREMENT: &str = "moto[server]>=5.1,<6";
/// The Garage release line `cargo install` takes.
const GARAGE_VERSION: &str = "~2.5";
/// The bucket, key name and region the Garage set-up creates.
pub const GARAGE_BUCKET: &str = "s3ec-test";
const GARAGE_KEY_NAME: &str = "s3ec-test";
const GARAGE_REGION: &str = "garage";
/// The Lambda Runtime Interface Emulator: a Go module (no tagged releases; the module proxy serves this
/// pseudo-version), installed with `go install` into the tools folder.
const RIE_MODULE: &str = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie";
const RIE_VERSION: &str = "v0.0.0-20261030222936-bef5c4ba774d";
/// How long a server gets to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The installed server programs.
pub struct Tools {
    moto_server: PathBuf,
    garage: PathBuf,
    rie: PathBuf,
}

/// Where tools are installed: `$S3EC_TOOLS` or `/var/tmp/s3ec-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("S3EC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/s3ec-tools"))
}

/// Installs whatever of moto, Garage and the Lambda emulator is missing from the tools folder.
pub fn ensure_tools() -> Result<Tools> {
    let dir = tools_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Two runs at once would otherwise install into the same folders.
    let lock = File::create(dir.join(".install.lock")).context("cannot create the install lock")?;
    lock.lock().context("cannot take the install lock")?;
    // The emulator's download and Go build wait mostly on the network; it installs beside the others.
    let rie = std::thread::scope(|scope| {
        let rie = scope.spawn(|| ensure_rie(&dir));
        let servers = ensure_moto(&dir).and_then(|moto| Ok((moto, ensure_garage(&dir)?)));
        let rie = rie
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the emulator install thread panicked")));
        servers.map(|s| (s, rie))
    })?;
    let ((moto_server, garage), rie) = rie;
    Ok(Tools {
        moto_server,
        garage,
        rie: rie?,
    })
}

fn ensure_rie(dir: &Path) -> Result<PathBuf> {
    let bin = dir.join("bin");
    let rie = bin.join("aws-lambda-rie");
    if rie.exists() {
        println!("aws-lambda-rie: reusing {}", rie.display());
        return Ok(rie);
    }
    let log_path = dir.join("rie-install.log");
    println!(
        "aws-lambda-rie: go install {RIE_MODULE}@{RIE_VERSION} (log: {})",
        log_path.display()
    );
    let log = File::create(&log_path).context("cannot create the emulator install log")?;
    let go = std::env::var("S3EC_GO").unwrap_or_else(|_| "go".to_string());
    let mut cmd = Command::new(go);
    cmd.arg("install")
        .arg(format!("{RIE_MODULE}@{RIE_VERSION}"))
        .env("GOBIN", &bin)
        .env("GOFLAGS", "-mod=mod")
        .stdout(log.try_clone()?)
        .stderr(log);
    let status = Group::spawn("go install aws-lambda-rie", &mut cmd)?.wait()?;
    if !status.success() || !rie.exists() {
        bail!(
            "go install of the Lambda Runtime Interface Emulator failed ({status}); last lines of {}:\n{}",
            log_path.display(),
            tail(&log_path, 30)
        );
    }
    Ok(rie)
}

fn ensure_moto(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let moto_server = venv.join("bin/moto_server");
    if moto_server.exists() {
        println!("moto: reusing {}", moto_server.display());
        return Ok(moto_server);
    }
    let python = std::env::var("S3EC_PYTHON").unwrap_or_else(|_| "python3".to_string());
    println!("moto: creating {} with {python}", venv.display());
    run_checked(Command::new(&python).arg("-m").arg("venv").arg(&venv))
        .context("cannot create the Python venv for moto")?;
    println!("moto: pip install {MOTO_REQUIREMENT}");
    run_checked(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .arg(MOTO_REQUIREMENT),
    )
    .context("cannot install moto from PyPI")?;
    if !moto_server.exists() {
        bail!(
            "pip installed moto but {} is missing",
            moto_server.display()
        );
    }
    Ok(moto_server)
}

fn ensure_garage(dir: &Path) -> Result<PathBuf> {
    let garage = dir.join("bin/garage");
    if garage.exists() {
        println!("garage: reusing {}", garage.display());
        return Ok(garage);
    }
    let log_path = dir.join("garage-install.log");
    let build_dir = dir.join("garage-build");
    println!(
        "garage: cargo install garage --locked --version '{GARAGE_VERSION}' (about 8 min on 2 cores; log: {})",
        log_path.display()
    );
    let log = File::create(&log_path).context("cannot create the Garage install log")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "install",
        "garage",
        "--locked",
        "--version",
        GARAGE_VERSION,
        "--root",
    ])
    .arg(dir)
    // A build folder of its own: the project's target folder stays small, and an
    // interrupted install resumes where it stopped.
    .env("CARGO_TARGET_DIR", &build_dir)
    .stdout(log.try_clone()?)
    .stderr(log);
    let status = Group::spawn("cargo install garage", &mut cmd)?.wait()?;
    if !status.success() || !garage.exists() {
        bail!(
            "cargo install garage failed ({status}); last lines of {}:\n{}",
            log_path.display(),
            tail(&log_path, 40)
        );
    }
    let _ = fs::remove_dir_all(&build_dir);
    Ok(garage)
}

/// Runs a short command with inherited output; an error names the command and status.
fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = Group::spawn(&format!("{:?}", cmd.get_program()), cmd)?.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The last `n` lines of a log file.
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `n` distinct free ports on 127.0.0.1 (all held open together, so they differ).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find a free port on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether an HTTP server answers on the port (any status counts).
fn http_answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    s.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// Running moto and Garage; both are stopped when this is dropped.
pub struct Servers {
    moto: Group,
    garage: Group,
    run_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Servers {
    /// Starts moto and a single-node Garage (config `servers/garage.toml` of `root`)
    /// and waits until both serve S3.
    pub fn start(root: &Path, tools: &Tools) -> Result<Servers> {
        let run_dir = std::env::temp_dir().join(format!("s3ec-servers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        let ports = free_ports(3)?;
        let (moto_port, s3_port, rpc_port) = (ports[0], ports[1], ports[2]);

        let mut moto = start_moto(tools, &run_dir, moto_port)?;
        write_garage_config(root, &run_dir, s3_port, rpc_port)?;
        let mut garage = spawn_logged(
            "garage",
            garage_command(tools, &run_dir).arg("server"),
            &run_dir.join("garage.log"),
        )?;
        let key = set_up_garage(tools, &run_dir, &mut garage)
            .and_then(|key| {
                wait_http(&mut garage, s3_port, &run_dir.join("garage.log"))?;
                Ok(key)
            })
            .context("Garage did not start")?;
        // moto was started first and had the whole Garage set-up to get ready.
        wait_http(&mut moto, moto_port, &run_dir.join("moto.log")).context("moto did not start")?;

        let env = vec![
            (
                "S3EC_TEST_MOTO_ENDPOINT",
                format!("http://127.0.0.1:{moto_port}"),
            ),
            (
                "S3EC_TEST_GARAGE_ENDPOINT",
                format!("http://127.0.0.1:{s3_port}"),
            ),
            ("S3EC_TEST_GARAGE_ACCESS_KEY_ID", key.0),
            ("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY", key.1),
            ("S3EC_TEST_GARAGE_REGION", GARAGE_REGION.to_string()),
            ("S3EC_TEST_GARAGE_BUCKET", GARAGE_BUCKET.to_string()),
            ("S3EC_TEST_RIE", tools.rie.display().to_string()),
        ];
        Ok(Servers {
            moto,
            garage,
            run_dir,
            env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        })
    }

    /// The `S3EC_TEST_*` variables that tell the tests where the servers are.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// An error if a server has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (name, group) in [("moto", &mut self.moto), ("garage", &mut self.garage)] {
            if let Some(status) = group.try_exited()? {
                bail!(
                    "{name} exited ({status}); last lines of its log:\n{}",
                    tail(&self.run_dir.join(format!("{name}.log")), 30)
                );
            }
        }
        Ok(())
    }

    /// Stops both servers and removes their data.
    pub fn stop(&mut self) {
        self.moto.stop();
        self.garage.stop();
        let _ = fs::remove_dir_all(&self.run_dir);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_logged(name: &str, cmd: &mut Command, log_path: &Path) -> Result<Group> {
    let log =
        File::create(log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    cmd.stdout(log.try_clone()?).stderr(log);
    Group::spawn(name, cmd)
}

fn start_moto(tools: &Tools, run_dir: &Path, port: u16) -> Result<Group> {
    spawn_logged(
        "moto",
        Command::new(&tools.moto_server).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
        &run_dir.join("moto.log"),
    )
}

/// Fills the placeholders of `servers/garage.toml` and writes the result into `run_dir`.
fn write_garage_config(root: &Path, run_dir: &Path, s3_port: u16, rpc_port: u16) -> Result<()> {
    let template_path = root.join("servers/garage.toml");
    let template = fs::read_to_string(&template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    let meta = run_dir.join("garage-meta");
    let data = run_dir.join("garage-data");
    let config = template
        .replace("{{metadata_dir}}", &meta.display().to_string())
        .replace("{{data_dir}}", &data.display().to_string())
        .replace("{{rpc_port}}", &rpc_port.to_string())
        .replace("{{s3_port}}", &s3_port.to_string())
        .replace("{{rpc_secret}}", &random_hex(32)?)
        .replace("{{region}}", GARAGE_REGION);
    if let Some(at) = config.find("{{") {
        bail!(
            "{} has a placeholder xtask does not fill: {}",
            template_path.display(),
            config[at..].lines().next().unwrap_or_default()
        );
    }
    let path = run_dir.join("garage.toml");
    fs::write(&path, config).with_context(|| format!("cannot write {}", path.display()))
}

/// `garage -c <run_dir>/garage.toml`, deaf to a developer's own `GARAGE_*` settings.
fn garage_command(tools: &Tools, run_dir: &Path) -> Command {
    let mut cmd = Command::new(&tools.garage);
    for var in GARAGE_ENV {
        cmd.env_remove(var);
    }
    cmd.arg("-c").arg(run_dir.join("garage.toml"));
    cmd
}

/// Variables Garage reads that would override the generated config.
const GARAGE_ENV: &[&str] = &[
    "GARAGE_CONFIG_FILE",
    "GARAGE_RPC_HOST",
    "GARAGE_RPC_SECRET",
    "GARAGE_RPC_SECRET_FILE",
    "GARAGE_ADMIN_TOKEN",
    "GARAGE_ADMIN_TOKEN_FILE",
    "GARAGE_METRICS_TOKEN",
    "GARAGE_METRICS_TOKEN_FILE",
    "GARAGE_LOG_TO_SYSLOG",
    "GARAGE_LOG_TO_JOURNALD",
];

/// Runs `garage -c <config> <args>`; the error holds its exact output.
fn garage_cli(tools: &Tools, run_dir: &Path, args: &[&str]) -> Result<String> {
    let out = garage_command(tools, run_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", tools.garage.display()))?;
    if !out.status.success() {
        bail!(
            "`garage {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Retries `f` until it succeeds, the server exits, or the start-up time runs out.
fn retry<T>(server: &mut Group, log: &Path, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let err = match f() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if let Some(status) = server.try_exited()? {
            bail!(
                "the server exited ({status}); last lines of its log:\n{}",
                tail(log, 30)
            );
        }
        if Instant::now() > deadline || proc::interrupted() {
            return Err(err.context(format!(
                "not ready after {READY_TIMEOUT:?}; last lines of {}:\n{}",
                log.display(),
                tail(log, 30)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_http(server: &mut Group, port: u16, log: &Path) -> Result<()> {
    retry(server, log, || {
        if http_answers(port) {
            Ok(())
        } else {
            bail!("no HTTP answer on 127.0.0.1:{port}")
        }
    })
}

/// Lays out the single node and creates the test key and bucket; returns the key.
fn set_up_garage(tools: &Tools, run_dir: &Path, garage: &mut Group) -> Result<(String, String)> {
    let log = run_dir.join("garage.log");
    // The node writes its identity at start-up; then its RPC port must answer.
    let node_id = retry(garage, &log, || {
        let out = garage_cli(tools, run_dir, &["node", "id", "-q"])?;
        let id = out.trim().split('@').next().unwrap_or_default().to_string();
        if id.is_empty() {
            bail!("`garage node id` printed no id");
        }
        Ok(id)
    })?;
    retry(garage, &log, || garage_cli(tools, run_dir, &["status"]))?;
    garage_cli(
        tools,
        run_dir,
        &["layout", "assign", "-z", "dc1", "-c", "1G", &node_id],
    )?;
    garage_cli(tools, run_dir, &["layout", "apply", "--version", "1"])?;
    // Same shapes as the keys Garage generates itself.
    let key_id = format!("GK{}", random_hex(12)?);
    let secret = random_hex(32)?;
    garage_cli(
        tools,
        run_dir,
        &[
            "key",
            "import",
            &key_id,
            &secret,
            "-n",
            GARAGE_KEY_NAME,
            "--yes",
        ],
    )?;
    garage_cli(tools, run_dir, &["bucket", "create", GARAGE_BUCKET])?;
    garage_cli(
        tools,
        run_dir,
        &[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            GARAGE_BUCKET,
            "--key",
            &key_id,
        ],
    )?;
    Ok((key_id, secret))
}

/// `cargo xtask servers [--env-file PATH]`: both servers in the foreground until Ctrl-C.
pub fn run(args: &[String]) -> Result<()> {
    let env_file = match args {
        [] => None,
        [flag, path] if flag == "--env-file" => Some(PathBuf::from(path)),
        _ => bail!("usage: cargo xtask servers [--env-file PATH]"),
    };
    proc::install_signal_handler();
    let root = crate::root::workspace_root();
    let tools = ensure_tools()?;
    let mut servers = Servers::start(&root, &tools)?;
    let exports: String = servers
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect();
    println!("\nmoto and Garage are ready. In another shell:\n\n{exports}");
    if let Some(path) = env_file {
        fs::write(&path, &exports).with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "(also written to {}: `. {}`)",
            path.display(),
            path.display()
        );
    }
    println!("Press Ctrl-C to stop them.");
    while !proc::interrupted() {
        if let Err(e) = servers.check_alive() {
            // The signal handler stops the servers itself; that exit is no error.
            if proc::interrupted() {
                break;
            }
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    servers.stop();
    println!("servers stopped");
    Ok(())
}
