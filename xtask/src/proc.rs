//! Child processes, each in a process group of its own, that never outlive xtask.
//!
//! Every child is started as the leader of a new process group so that stopping it
//! also stops whatever it spawned. The groups are recorded in a global list; a
//! handler for SIGINT, SIGTERM and SIGHUP terminates all of them and marks the run
//! as interrupted, and [`Group`]'s `Drop` stops its group on every other exit path.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// How long a group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Installs the signal handler (once per process).
pub fn install_signal_handler() {
    HANDLER.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("\nxtask: interrupted, stopping child processes");
            for pgid in groups_snapshot() {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
            }
        });
        if let Err(e) = installed {
            // Not fatal: Drop still stops the groups on every ordinary exit.
            eprintln!("xtask: warning: cannot install the signal handler: {e}");
        }
    });
}

/// Whether a signal asked xtask to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn groups_snapshot() -> Vec<i32> {
    GROUPS.lock().map(|g| g.clone()).unwrap_or_default()
}

fn register(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.push(pgid);
    }
}

fn unregister(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.retain(|p| *p != pgid);
    }
}

/// A child process leading its own process group.
pub struct Group {
    name: String,
    child: Child,
    pgid: i32,
    stopped: bool,
}

impl Group {
    /// Starts `cmd` (stdin closed) as the leader of a new process group.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Group> {
        install_signal_handler();
        cmd.process_group(0).stdin(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        let pgid = i32::try_from(child.id()).context("pid out of range")?;
        register(pgid);
        Ok(Group {
            name: name.to_string(),
            child,
            pgid,
            stopped: false,
        })
    }

    /// The child, to take its piped stdout or stderr.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the leader has exited.
    pub fn try_exited(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("cannot poll {}", self.name))
    }

    /// Waits for the leader to exit, then kills what it left behind in its group.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let status = self
            .child
            .wait()
            .with_context(|| format!("cannot wait for {}", self.name))?;
        self.stop();
        Ok(status)
    }

    /// SIGTERM to the group, SIGKILL after a grace period; idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pgid = Pid::from_raw(self.pgid);
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = killpg(pgid, Signal::SIGTERM);
            let deadline = Instant::now() + GRACE;
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever is left of the group (the leader after the grace period, or
        // processes the leader spawned and did not reap) is killed outright.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
        unregister(self.pgid);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}
