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

    /// The progress text.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let eta = match self.bar.length() {
            Some(len) if self.objects > 0 && len > self.objects => {
                let left = (len - self.objects) as f64 / (self.objects as f64 / secs);
                format!(
                    ", ETA {}",
                    indicatif::HumanDuration(Duration::from_secs_f64(left))
                )
            }
            _ => String::new(),
        };
        format!(
            "{}, {:.0} objects/s, {}/s, {} failed{eta}",
            objects(self.objects),
            self.objects as f64 / secs,
            indicatif::HumanBytes((self.bytes as f64 / secs) as u64),
            self.failed
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
    fn one_object_is_singular() {
        assert_eq!(objects(1), "1 object");
        assert_eq!(objects(0), "0 objects");
        assert_eq!(objects(2), "2 objects");
    }
}
