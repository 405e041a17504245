//! `cargo xtask fuzz [--time SECONDS] [--jobs N] [TARGET...]`: build the cargo-fuzz targets in `fuzz/`, seed
//! their corpora, run each for a time budget (N at a time) and summarise executions, coverage and crashes.
//!
//! The targets build with the nightly toolchain (`rustup run nightly cargo fuzz`, the same as
//! `cargo +nightly fuzz` but immune to the stable toolchain that `cargo xtask` put first on `PATH`).
//! Corpora go to the git-ignored `fuzz/corpus/<target>`, libFuzzer logs to
//! `fuzz/target/xtask-logs/<target>.log` and crash inputs to `fuzz/artifacts/<target>/`.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::proc::Group;

/// Budget per target when `--time` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// What one target's run produced.
struct Outcome {
    name: String,
    passed: bool,
    execs: Option<u64>,
    cov: Option<u64>,
    crashes: usize,
    note: String,
}

/// Parsed command line.
#[derive(Debug, PartialEq)]
struct Args {
    seconds: u64,
    jobs: usize,
    targets: Vec<String>,
}

pub fn run(args: &[String]) -> Result<()> {
    let Args {
        seconds,
        jobs,
        mut targets,
    } = parse_args(args)?;
    let fuzz_dir = crate::root::workspace_root().join("fuzz");
    ensure_toolchain()?;
    let all = list_targets(&fuzz_dir)?;
    if targets.is_empty() {
        targets = all.clone();
    }
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        bail!("unknown fuzz target `{unknown}`; known: {}", all.join(", "));
    }
    seed_corpora(&fuzz_dir)?;
    let logs = fuzz_dir.join("target").join("xtask-logs");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;

    // Builds go one at a time (they share fuzz/target and its lock); runs go `jobs` at a time.
    let mut built = Vec::new();
    for target in &targets {
        built.push(build_one(&fuzz_dir, target)?);
        if crate::proc::interrupted() {
            bail!("interrupted");
        }
    }
    let outcomes = run_parallel(jobs, &targets, |i, target| match &built[i] {
        Some(failed) => Ok(failed_build(target, failed)),
        None => fuzz_one(&fuzz_dir, &logs, target, seconds),
    })?;
    if crate::proc::interrupted() {
        bail!("interrupted");
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if failed > 0 {
        bail!("{failed} fuzz target(s) failed");
    }
    Ok(())
}

/// Runs `work` over `targets`, `jobs` at a time, and prints each outcome as soon as every earlier target's
/// outcome is printed, so the lines stay in target order.
fn run_parallel(
    jobs: usize,
    targets: &[String],
    work: impl Fn(usize, &str) -> Result<Outcome> + Sync,
) -> Result<Vec<Outcome>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome>>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    let printed = Mutex::new(0usize);
    let flush = || {
        let mut printed = printed.lock().unwrap_or_else(|p| p.into_inner());
        let results = results.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(Some(Ok(outcome))) = results.get(*printed) {
            print_line(outcome);
            *printed += 1;
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, targets.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= targets.len() || crate::proc::interrupted() {
                    return;
                }
                let outcome = work(i, &targets[i]);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                flush();
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut outcomes = Vec::new();
    for r in results {
        match r {
            Some(r) => outcomes.push(r?),
            None => bail!("interrupted"),
        }
    }
    Ok(outcomes)
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut seconds = DEFAULT_SECONDS;
    let mut jobs = 1;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                let value = it.next().context("--time needs a number of seconds")?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .with_context(|| format!("--time {value:?} is not a positive integer"))?;
            }
            "--jobs" | "-j" => {
                let value = it.next().context("--jobs needs a number of targets")?;
                jobs = value
                    .parse()
                    .ok()
                    .filter(|j| *j > 0)
                    .with_context(|| format!("--jobs {value:?} is not a positive integer"))?;
            }
            "-h" | "--help" => {
                bail!("usage: cargo xtask fuzz [--time SECONDS] [--jobs N] [TARGET...]")
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag}"),
            name => targets.push(name.to_string()),
        }
    }
    Ok(Args {
        seconds,
        jobs,
        targets,
    })
}

/// A nightly `cargo` with the stable toolchain's variables cleared, so `rustup run` decides.
fn nightly_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO");
    // The instrumented nightly builds stay apart from the normal ones: under `$CARGO_TARGET_DIR/fuzz` when a fixed
    // target dir is set (so CI on one machine reuses them between clean clones), else in fuzz/target (git-ignored).
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => cmd.env(
            "CARGO_TARGET_DIR",
            std::path::PathBuf::from(dir).join("fuzz"),
        ),
        None => cmd.env_remove("CARGO_TARGET_DIR"),
    };
    cmd
}

/// Runs `cmd` to completion; on failure, the error carries its exact stderr.
fn run_checked(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}

/// Installs the nightly toolchain and cargo-fuzz when they are missing.
pub(crate) fn ensure_toolchain() -> Result<()> {
    let have_nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_nightly {
        eprintln!("fuzz: installing the nightly toolchain");
        run_checked(
            "rustup toolchain install nightly --profile minimal",
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]),
        )?;
    }
    let have_fuzz = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_fuzz {
        eprintln!("fuzz: installing cargo-fuzz");
        run_checked(
            "cargo install cargo-fuzz --locked",
            Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    Ok(())
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`, via `cargo fuzz list`.
fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let out = nightly_cargo()
        .args(["fuzz", "list"])
        .current_dir(fuzz_dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo fuzz list")?;
    if !out.status.success() {
        bail!(
            "cargo fuzz list failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn seed_corpora(fuzz_dir: &Path) -> Result<()> {
    run_checked(
        "python3 fuzz/make_corpus.py",
        Command::new("python3")
            .arg(fuzz_dir.join("make_corpus.py"))
            .current_dir(fuzz_dir),
    )
}

/// Builds one target; `Some(first error line)` when the build failed.
fn build_one(fuzz_dir: &Path, target: &str) -> Result<Option<String>> {
    let build = nightly_cargo()
        .args(["fuzz", "build", target])
        .current_dir(fuzz_dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo fuzz build")?;
    if build.status.success() {
        return Ok(None);
    }
    let stderr = String::from_utf8_lossy(&build.stderr);
    Ok(Some(
        stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("see cargo fuzz build output")
            .to_string(),
    ))
}

fn failed_build(target: &str, first_error: &str) -> Outcome {
    Outcome {
        name: target.to_string(),
        passed: false,
        execs: None,
        cov: None,
        crashes: 0,
        note: format!("build failed: {first_error}"),
    }
}

fn fuzz_one(fuzz_dir: &Path, logs: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let mut outcome = Outcome {
        name: target.to_string(),
        passed: false,
        execs: None,
        cov: None,
        crashes: 0,
        note: String::new(),
    };

    let corpus = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    fs::create_dir_all(&corpus)?;
    fs::create_dir_all(&artifacts)?;
    let before = count_crashes(&artifacts);
    let log_path = logs.join(format!("{target}.log"));
    let log =
        File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut cmd = nightly_cargo();
    cmd.args(["fuzz", "run", target])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .current_dir(fuzz_dir)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    let status = Group::spawn(&format!("fuzz {target}"), &mut cmd)?.wait()?;
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let stats = parse_log(&text);
    outcome.execs = stats.execs;
    outcome.cov = stats.cov;
    outcome.crashes = count_crashes(&artifacts)
        .saturating_sub(before)
        .max(stats.crashes);
    outcome.passed = status.success() && outcome.crashes == 0;
    if !outcome.passed {
        outcome.note = match &stats.artifact {
            Some(a) => format!("crash input {a}; log {}", log_path.display()),
            None => format!("exit {status}; log {}", log_path.display()),
        };
    }
    Ok(outcome)
}

#[derive(Debug, Default, PartialEq)]
struct LogStats {
    execs: Option<u64>,
    cov: Option<u64>,
    crashes: usize,
    artifact: Option<String>,
}

/// Reads libFuzzer's output: `stat::number_of_executed_units`, the last `cov:` figure, and the
/// `Test unit written to` lines of crashes, leaks and timeouts.
fn parse_log(text: &str) -> LogStats {
    let mut stats = LogStats::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            stats.execs = v.trim().parse().ok();
        }
        if let Some(rest) = line.split(" cov: ").nth(1) {
            if let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
                stats.cov = Some(n);
            }
        }
        if let Some(path) = line.split("Test unit written to ").nth(1) {
            stats.crashes += 1;
            stats.artifact = Some(path.trim().to_string());
        }
    }
    stats
}

/// Crash, leak, timeout and OOM inputs libFuzzer left in `dir`.
fn count_crashes(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    ["crash-", "leak-", "timeout-", "oom-"]
                        .iter()
                        .any(|p| name.starts_with(p))
                })
                .count()
        })
        .unwrap_or(0)
}

fn print_line(o: &Outcome) {
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |n| n.to_string());
    println!(
        "{:<18} {:<6} execs={:<10} cov={:<6} crashes={}{}",
        o.name,
        if o.passed { "ok" } else { "FAILED" },
        show(o.execs),
        show(o.cov),
        o.crashes,
        if o.note.is_empty() {
            String::new()
        } else {
            format!("  ({})", o.note)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzer_output() {
        let log = "\
#2\tINITED cov: 12 ft: 13 corp: 1/1b exec/s: 0 rss: 30Mb
#1024\tpulse  cov: 40 ft: 80 corp: 5/20b lim: 4 exec/s: 512 rss: 31Mb
==123== ERROR: libFuzzer: deadly signal
artifact_prefix='a/'; Test unit written to a/crash-abc
stat::number_of_executed_units: 2048
";
        let s = parse_log(log);
        assert_eq!(s.execs, Some(2048));
        assert_eq!(s.cov, Some(40));
        assert_eq!(s.crashes, 1);
        assert_eq!(s.artifact.as_deref(), Some("a/crash-abc"));
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_time_jobs_and_targets() {
        assert_eq!(
            parse_args(&args(&[
                "--time", "5", "rfc2047", "--jobs", "2", "get_path"
            ]))
            .unwrap(),
            Args {
                seconds: 5,
                jobs: 2,
                targets: args(&["rfc2047", "get_path"])
            }
        );
        assert_eq!(
            parse_args(&[]).unwrap(),
            Args {
                seconds: DEFAULT_SECONDS,
                jobs: 1,
                targets: vec![]
            }
        );
        assert!(parse_args(&args(&["--time", "0"])).is_err());
        assert!(parse_args(&args(&["--jobs", "0"])).is_err());
        assert!(parse_args(&args(&["--jobs"])).is_err());
    }

    fn outcome(name: &str) -> Outcome {
        Outcome {
            name: name.to_string(),
            passed: true,
            execs: Some(1),
            cov: Some(1),
            crashes: 0,
            note: String::new(),
        }
    }

    #[test]
    fn parallel_runs_keep_target_order_and_use_every_job() {
        let targets = args(&["a", "b", "c", "d", "e"]);
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let outcomes = run_parallel(2, &targets, |i, t| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Later targets finish first, so order must come from the collector, not from completion.
            std::thread::sleep(std::time::Duration::from_millis(60 - 10 * i as u64));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(outcome(t))
        })
        .unwrap();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "two targets ran at once, never more"
        );
    }

    #[test]
    fn parallel_run_reports_an_error_of_any_target() {
        let targets = args(&["a", "b"]);
        let r = run_parallel(3, &targets, |i, t| {
            if i == 1 {
                bail!("boom")
            }
            Ok(outcome(t))
        });
        assert!(r.is_err());
    }
}
