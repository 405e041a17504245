//! What a run tells people and scripts: one JSON line per object, or a progress line with rates.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::object::ObjectRef;
use crate::runner::{DoneReport, Outcome, Totals};

/// `1 object`, `2 objects`.
pub fn objects(n: u64) -> String {
    plural(n, "object")
}

/// `n` and `word`, with an `s` unless `n` is 1.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The JSON report line of one object: `object`, `result` (`done`, `skipped`, `failed`), then the operation's
/// fields, the skip reason (`reason` code and `detail`) or the error (`error`, `retryable`, `attempts`).
pub fn json_line<D: DoneReport>(obj: &ObjectRef, outcome: &Outcome<D>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("object".into(), json!(obj.url()));
    match outcome {
        Outcome::Done(d) => {
            m.insert("result".into(), json!("done"));
            for (k, v) in d.fields() {
                m.entry(k).or_insert(v);
            }
        }
        Outcome::Skipped { reason, .. } => {
            m.insert("result".into(), json!("skipped"));
            m.insert("skip".into(), json!(reason.code()));
            m.insert("detail".into(), json!(reason.to_string()));
        }
        Outcome::Failed {
            error,
            retryable,
            attempts,
        } => {
            m.insert("result".into(), json!("failed"));
            m.insert("error".into(), json!(error.to_string()));
            m.insert("retryable".into(), json!(retryable));
            m.insert("attempts".into(), json!(attempts));
        }
    }
    Value::Object(m)
}

/// A progress line on a (possibly hidden) bar: objects, objects/s, bytes/s, failures, and the ETA when the
/// number of objects is known (an inventory manifest's row count is not known until it is read, so mostly not).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    objects: u64,
    bytes: u64,
    failed: u64,
    last_draw: Instant,
}

impl Progress {
    /// Draws on `bar` (give [`ProgressBar::hidden`] for none) with `what` (`scanning`, `migrating`) first.
    pub fn new(bar: ProgressBar, what: &str) -> Self {
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let now = Instant::now();
        Self {
            bar,
            started: now,
            objects: 0,
            bytes: 0,
            failed: 0,
            last_draw: now,
        }
    }

    /// Counts one finished object.
    pub fn inc<D: DoneReport>(&mut self, outcome: &Outcome<D>) {
        self.objects += 1;
        match outcome {
            Outcome::Done(d) => self.bytes += d.bytes(),
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => {}
        }
        if self.last_draw.elapsed() >= Duration::from_millis(100) {
            self.last_draw = Instant::now();
            self.bar.set_message(self.line());
        }
    }

    /// Sets the number of objects the run will see (an inventory manifest's rows, once counted): the line then
    /// shows an ETA. Safe from another task: give it a clone of the bar.
    pub fn set_total(bar: &ProgressBar, total: u64) {
        bar.set_length(total);
    }

    /// The progress text.
    pub fn line(&self) -> String {
        progress_line(
            self.objects,
            self.bytes,
            self.failed,
            self.started.elapsed(),
            self.bar.length(),
        )
    }

    /// Prints `line` above the bar.
    pub fn println(&self, line: impl AsRef<str>) {
        self.bar.suspend(|| println!("{}", line.as_ref()));
    }

    /// Prints `line` on stderr above the bar.
    pub fn eprintln(&self, line: impl AsRef<str>) {
        self.bar.suspend(|| eprintln!("{}", line.as_ref()));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The progress text after `objects` finished objects (`bytes` handled, `failed` of them failed) in `elapsed`:
/// objects/s, bytes/s, failures, and an ETA at the rate so far only when `total` is known and not yet reached.
///
/// ```
/// use std::time::Duration;
/// let line = s3ec_bulk::report::progress_line(50, 5 << 20, 1, Duration::from_secs(10), Some(150));
/// assert_eq!(line, "50 objects, 5 objects/s, 512.00 KiB/s, 1 failed, ETA 20 seconds");
/// ```
pub fn progress_line(
    objects_done: u64,
    bytes: u64,
    failed: u64,
    elapsed: Duration,
    total: Option<u64>,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = objects_done as f64 / secs;
    let eta = match total {
        Some(total) if objects_done > 0 && total > objects_done => {
            let left = (total - objects_done) as f64 / rate;
            format!(
                ", ETA {}",
                indicatif::HumanDuration(Duration::from_secs_f64(left))
            )
        }
        _ => String::new(),
    };
    format!(
        "{}, {rate:.0} objects/s, {}/s, {failed} failed{eta}",
        objects(objects_done),
        indicatif::HumanBytes((bytes as f64 / secs) as u64),
    )
}

/// The summary line of a run: `N objects: D done, S skipped, F failed (..s, ../s)`.
pub fn summary(totals: &Totals, done_word: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "{}: {} {done_word}, {} skipped, {} failed in {:.1}s ({:.0} objects/s){}",
        objects(totals.seen),
        totals.done,
        totals.skipped,
        totals.failed,
        secs,
        totals.seen as f64 / secs,
        if totals.stopped {
            "; stopped early (Ctrl-C)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_rates_and_an_eta_only_with_a_known_total() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            progress_line(100, 10 << 20, 0, ten, None),
            "100 objects, 10 objects/s, 1.00 MiB/s, 0 failed"
        );
        assert_eq!(
            progress_line(100, 0, 2, ten, Some(400)),
            "100 objects, 10 objects/s, 0 B/s, 2 failed, ETA 30 seconds"
        );
        // No ETA before the first object (no rate yet) nor once the total is reached or passed (a manifest
        // recounted short).
        assert!(!progress_line(0, 0, 0, ten, Some(400)).contains("ETA"));
        assert!(!progress_line(400, 0, 0, ten, Some(400)).contains("ETA"));
        assert!(!progress_line(401, 0, 0, ten, Some(400)).contains("ETA"));
        assert_eq!(
            progress_line(1, 0, 0, Duration::ZERO, Some(2)),
            "1 object, 1000 objects/s, 0 B/s, 0 failed, ETA 0 seconds"
        );
        assert!(
            progress_line(6, 0, 0, Duration::from_secs(60), Some(3606)).ends_with("ETA 10 hours")
        );
    }

    #[test]
    fn one_object_is_singular() {
        assert_eq!(objects(1), "1 object");
        assert_eq!(objects(0), "0 objects");
        assert_eq!(objects(2), "2 objects");
    }
}
