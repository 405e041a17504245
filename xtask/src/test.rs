//! `cargo xtask test`: the whole test suite, as CI runs it.
//!
//! Installs moto and Garage when missing, starts them, runs [`steps`] in order with the
//! `S3EC_TEST_*` variables set, stops the servers (also on failure and on Ctrl-C),
//! prints a summary and fails if any step failed. Every step runs even when an
//! earlier one failed, so one run reports everything.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::proc::{self, Group};
use crate::root::workspace_root;
use crate::servers::{self, Servers};

/// One command of the suite.
struct Step {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Tee stdout and add up cargo's `test result:` lines.
    count_tests: bool,
    /// A reason the step fails without running (something it needs is missing).
    missing: Option<String>,
    /// What must be ready before it starts.
    needs: Needs,
}

/// What a step needs ready before it starts. The steps that need nothing run while the tools install.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    /// Nothing but the toolchain (fmt, clippy).
    Nothing,
    /// moto and Garage running.
    Servers,
    /// The servers, and the tools installed beside the first steps (peers, cargo-deny, nightly and cargo-fuzz).
    ServersAndTools,
}

impl Step {
    fn cargo(name: &'static str, args: &[&str]) -> Step {
        Step {
            name,
            program: PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            count_tests: false,
            missing: None,
            needs: Needs::Servers,
        }
    }

    fn counting(mut self) -> Step {
        self.count_tests = true;
        self
    }

    fn needing(mut self, needs: Needs) -> Step {
        self.needs = needs;
        self
    }

    fn with_env(mut self, key: &str, value: &str) -> Step {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn display(&self) -> String {
        let env: String = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let program = self
            .program
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{env}{program} {}", self.args.join(" "))
    }
}

/// The suite, in order. Add a step here; optional ones depend on what exists.
fn steps(root: &Path) -> Vec<Step> {
    let mut steps = vec![
        Step::cargo("fmt", &["fmt", "--all", "--", "--check"]).needing(Needs::Nothing),
        Step::cargo(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
        .needing(Needs::Nothing),
        Step::cargo("test", &["test", "--workspace", "--no-fail-fast"]).counting(),
    ];
    if crate_has_feature(root, "crates/s3ec-crypto", "rustcrypto") {
        steps.push(
            Step::cargo(
                "test rustcrypto",
                &[
                    "test",
                    "--no-fail-fast",
                    "-p",
                    "s3ec-crypto",
                    "--no-default-features",
                    "--features",
                    "rustcrypto",
                ],
            )
            .counting(),
        );
    }
    steps.push(
        Step::cargo("doc", &["doc", "--workspace", "--no-deps"])
            .with_env("RUSTDOCFLAGS", "-Dwarnings"),
    );
    steps.push(audit_step());
    if crate::has_command("vectors") {
        steps.push(vectors_step(root));
    }
    if crate::has_command("interop") {
        steps.push(interop_step());
    }
    if crate::has_command("fuzz") {
        steps.push(fuzz_step());
    }
    steps
}

/// `cargo xtask audit`: RustSec advisories (the network copy, else the shared snapshot) and banned crates. An
/// advisory on a dependency fails CI unless `deny.toml` ignores it with a reason.
fn audit_step() -> Step {
    Step {
        name: "audit",
        program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask")),
        args: vec!["audit".into()],
        env: Vec::new(),
        count_tests: false,
        missing: None,
        needs: Needs::ServersAndTools,
    }
}

/// `cargo xtask fuzz --time 60 --jobs 2`: every fuzz target for a one-minute smoke run, two at a time. A crash
/// fails the step; a missing nightly toolchain or cargo-fuzz is installed by the fuzz command, never skipped.
fn fuzz_step() -> Step {
    Step {
        name: "fuzz",
        program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask")),
        args: ["fuzz", "--time", "60", "--jobs", "2"]
            .map(String::from)
            .to_vec(),
        env: Vec::new(),
        count_tests: false,
        missing: None,
        needs: Needs::ServersAndTools,
    }
}

/// `cargo xtask interop`: the live matrix over every peer. A peer that cannot be installed fails its cells and
/// the command exits non-zero, so this step fails rather than skipping it.
fn interop_step() -> Step {
    Step {
        name: "interop",
        program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask")),
        args: vec!["interop".into()],
        env: Vec::new(),
        count_tests: false,
        missing: None,
        needs: Needs::ServersAndTools,
    }
}

/// `cargo xtask vectors check` over every producer folder of `../shared/vectors` and
/// `testdata/vectors`.
fn vectors_step(root: &Path) -> Step {
    let shared = root.parent().unwrap_or(root).join("shared/vectors");
    let mut step = Step {
        name: "vectors",
        program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("xtask")),
        args: vec!["vectors".into(), "check".into()],
        env: Vec::new(),
        count_tests: false,
        missing: None,
        needs: Needs::Servers,
    };
    let mut missing = Vec::new();
    for dir in [shared, root.join("testdata/vectors")] {
        match subdirs(&dir) {
            Ok(dirs) if !dirs.is_empty() => step.args.extend(dirs),
            Ok(_) => missing.push(format!("{} holds no vector folder", dir.display())),
            Err(e) => missing.push(format!("cannot list {}: {e}", dir.display())),
        }
    }
    if !missing.is_empty() {
        step.missing = Some(missing.join("; "));
    }
    step
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            dirs.push(format!("{}/", path.display()));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Whether `crate_dir/Cargo.toml` declares `feature` in its `[features]` table.
fn crate_has_feature(root: &Path, crate_dir: &str, feature: &str) -> bool {
    let Ok(manifest) = std::fs::read_to_string(root.join(crate_dir).join("Cargo.toml")) else {
        return false;
    };
    let mut in_features = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features {
            if let Some((name, _)) = line.split_once('=') {
                if name.trim() == feature {
                    return true;
                }
            }
        }
    }
    false
}

enum Outcome {
    Passed,
    Failed(String),
    NotRun(String),
}

struct Report {
    name: String,
    outcome: Outcome,
    took: Duration,
}

/// Totals of cargo's `test result:` lines.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    /// Adds `test result: ok. 3 passed; 0 failed; 1 ignored; ...`.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn run_step(
    root: &Path,
    step: &Step,
    servers_env: &[(String, String)],
    counts: &mut Counts,
) -> Outcome {
    if let Some(why) = &step.missing {
        return Outcome::Failed(why.clone());
    }
    let mut cmd = Command::new(&step.program);
    cmd.args(&step.args)
        .current_dir(root)
        .envs(servers_env.iter().map(|(k, v)| (k, v)))
        .envs(step.env.iter().map(|(k, v)| (k, v)));
    if step.count_tests {
        cmd.stdout(Stdio::piped());
    }
    let mut group = match Group::spawn(step.name, &mut cmd) {
        Ok(g) => g,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    if let Some(stdout) = group.child_mut().stdout.take() {
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            counts.add_line(&line);
            let _ = writeln!(out, "{line}");
        }
    }
    match group.wait() {
        Ok(status) if status.success() => Outcome::Passed,
        Ok(status) => Outcome::Failed(status.to_string()),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn banner(text: &str) {
    println!("\n==> {text}");
    let _ = std::io::stdout().flush();
}

/// `cargo xtask test`.
pub fn run(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask test (takes no arguments)");
    }
    proc::install_signal_handler();
    let root = workspace_root();
    let mut reports = Vec::new();
    let mut counts = Counts::default();

    // Installing the tools is mostly waiting: on downloads, and on compile tails that keep one core of two
    // busy. It runs on threads beside the steps that need nothing, so the cores stay in use.
    banner(&format!(
        "tools (moto, Garage; peers, cargo-deny, nightly and cargo-fuzz) in {}, beside the first steps",
        servers::tools_dir().display()
    ));
    let started = Instant::now();
    let server_tools = std::thread::spawn(servers::ensure_tools);
    let other_tools = std::thread::spawn(ensure_other_tools);
    let mut server_tools = Some((server_tools, started));
    let mut other_tools = Some((other_tools, started));

    let mut servers: Option<Servers> = None;
    let mut servers_env: Vec<(String, String)> = Vec::new();
    let steps = steps(&root);
    for (i, step) in steps.iter().enumerate() {
        if step.needs >= Needs::Servers {
            if let Some((handle, started)) = server_tools.take() {
                let tools = join_timed(handle, started);
                let tools = record(&mut reports, "tools", tools.1, tools.0);
                servers = start_servers(&root, tools.as_ref(), &mut reports);
                servers_env = servers
                    .as_ref()
                    .map(|s| s.env().to_vec())
                    .unwrap_or_default();
                for (k, v) in &servers_env {
                    println!("{k}={v}");
                }
            }
        }
        if step.needs >= Needs::ServersAndTools {
            if let Some((handle, started)) = other_tools.take() {
                let (result, took) = join_timed(handle, started);
                record(&mut reports, "tools for audit, interop, fuzz", took, result);
            }
        }
        if proc::interrupted() {
            reports.push(Report {
                name: step.name.into(),
                outcome: Outcome::NotRun("interrupted".into()),
                took: Duration::ZERO,
            });
            continue;
        }
        banner(&format!(
            "[{}/{}] {}: {}",
            i + 1,
            steps.len(),
            step.name,
            step.display()
        ));
        let (outcome, took) = timed(|| run_step(&root, step, &servers_env, &mut counts));
        reports.push(Report {
            name: step.name.into(),
            outcome,
            took,
        });
    }

    // Installs no step waited for still report.
    if let Some((handle, started)) = server_tools.take() {
        let (result, took) = join_timed(handle, started);
        record(&mut reports, "tools", took, result);
    }
    if let Some((handle, started)) = other_tools.take() {
        let (result, took) = join_timed(handle, started);
        record(&mut reports, "tools for audit, interop, fuzz", took, result);
    }

    // A server that died during the run is a failure of its own.
    if let Some(s) = servers.as_mut() {
        if let Err(e) = s.check_alive() {
            if !proc::interrupted() {
                reports.push(Report {
                    name: "servers alive at the end".into(),
                    outcome: Outcome::Failed(format!("{e:#}")),
                    took: Duration::ZERO,
                });
            }
        }
        s.stop();
    }
    drop(servers);

    print_summary(&reports, &counts);
    let failed = reports
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Passed))
        .count();
    if failed > 0 {
        bail!("{failed} of {} steps did not pass", reports.len());
    }
    Ok(())
}

/// Waits for an install thread; its time counts from when it started.
fn join_timed<T>(
    handle: std::thread::JoinHandle<Result<T>>,
    started: Instant,
) -> (Result<T>, Duration) {
    let result = handle
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the install thread panicked")));
    (result, started.elapsed())
}

/// Starts moto and Garage, or reports why not.
fn start_servers(
    root: &Path,
    tools: Option<&servers::Tools>,
    reports: &mut Vec<Report>,
) -> Option<Servers> {
    let Some(tools) = tools else {
        reports.push(Report {
            name: "servers".into(),
            outcome: Outcome::Failed("not started: tools missing".into()),
            took: Duration::ZERO,
        });
        return None;
    };
    banner("servers: moto and Garage on 127.0.0.1");
    let (started, took) = timed(|| Servers::start(root, tools));
    record(reports, "servers", took, started)
}

/// Installs what the audit, interop and fuzz steps need: every official peer (the s3ec participants are built by
/// the interop step, in the workspace's target folder), cargo-deny, and the nightly toolchain with cargo-fuzz.
/// Each is tried even when another failed; the error names every one that failed.
fn ensure_other_tools() -> Result<()> {
    let mut failed = Vec::new();
    for peer in crate::peers::PEERS
        .iter()
        .filter(|p| !p.name.starts_with("s3ec"))
    {
        if let Err(e) = crate::peers::install(peer) {
            failed.push(format!("peer {}: {e:#}", peer.name));
        }
    }
    if let Err(e) = crate::audit::ensure_cargo_deny() {
        failed.push(format!("cargo-deny: {e:#}"));
    }
    if let Err(e) = crate::fuzz::ensure_toolchain() {
        failed.push(format!("nightly and cargo-fuzz: {e:#}"));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{}", failed.join("; "))
    }
}

/// Pushes the report of a set-up stage and returns its value when it worked.
fn record<T>(
    reports: &mut Vec<Report>,
    name: &str,
    took: Duration,
    result: Result<T>,
) -> Option<T> {
    let (outcome, value) = match result {
        Ok(v) => (Outcome::Passed, Some(v)),
        Err(e) => {
            eprintln!("xtask: {name} failed: {e:#}");
            (Outcome::Failed(format!("{e:#}")), None)
        }
    };
    reports.push(Report {
        name: name.to_string(),
        outcome,
        took,
    });
    value
}

fn print_summary(reports: &[Report], counts: &Counts) {
    println!("\n==> summary");
    for r in reports {
        let secs = r.took.as_secs();
        let (word, detail) = match &r.outcome {
            Outcome::Passed => ("passed", String::new()),
            Outcome::Failed(why) => ("FAILED", first_line(why)),
            Outcome::NotRun(why) => ("NOT RUN", why.clone()),
        };
        println!(
            "  {:<26} {:<8} {:>3}m{:02}s  {}",
            r.name,
            word,
            secs / 60,
            secs % 60,
            detail
        );
    }
    // cargo's ignored tests are reported as skipped: they did not run.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_cargo_result_lines() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        c.add_line(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out",
        );
        c.add_line("running 3 tests");
        c.add_line("test foo ... ok");
        assert_eq!((c.passed, c.failed, c.ignored), (13, 2, 3));
    }

    #[test]
    fn feature_detection_reads_only_the_features_table() {
        let dir = std::env::temp_dir().join(format!("xtask-feature-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("c")).unwrap();
        std::fs::write(
            dir.join("c/Cargo.toml"),
            "[dependencies]\nrustcrypto = \"1\"\n[features]\ndefault = []\nfast = [\"dep:x\"]\n",
        )
        .unwrap();
        assert!(crate_has_feature(&dir, "c", "fast"));
        assert!(!crate_has_feature(&dir, "c", "rustcrypto"));
        assert!(!crate_has_feature(&dir, "missing", "fast"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interop_runs_after_vectors_over_every_peer() {
        let names: Vec<&str> = steps(&workspace_root()).iter().map(|s| s.name).collect();
        let vectors = names.iter().position(|n| *n == "vectors");
        let interop = names.iter().position(|n| *n == "interop");
        assert!(vectors.is_some() && interop > vectors, "{names:?}");
        let step = interop_step();
        assert_eq!(step.args, ["interop"], "no --peer filter: every peer runs");
        assert!(step.missing.is_none());
    }

    #[test]
    fn vectors_step_fails_without_the_shared_folder() {
        let dir = std::env::temp_dir().join(format!("xtask-vectors-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root/testdata/vectors/p1")).unwrap();
        let step = vectors_step(&dir.join("root"));
        let why = step
            .missing
            .expect("a missing ../shared must fail the step");
        assert!(why.contains("shared/vectors"), "{why}");
        std::fs::create_dir_all(dir.join("shared/vectors/p0")).unwrap();
        let step = vectors_step(&dir.join("root"));
        assert!(step.missing.is_none());
        assert_eq!(step.args.len(), 4, "{:?}", step.args);
        assert!(step.args[2].ends_with("shared/vectors/p0/"));
        assert!(step.args[3].ends_with("testdata/vectors/p1/"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
