//! `--checkpoint FILE`: an append-only journal of finished objects, so a run stopped by a crash, `kill -9` or
//! Ctrl-C resumes without redoing finished objects and without skipping unfinished ones.
//!
//! One JSON line per finished object: `{"key":..,"result":"done"|"skipped","etag":..}`, where `etag` is the
//! object's ETag once the run was done with it (the new object's for a migration). Lines are written only after
//! the object is finished and fsync'd in batches ([`Checkpoint::SYNC_EVERY`] lines, and at the end), so:
//! - an object is skipped on restart only if its line reached the disk, that is only if it was finished;
//! - an object finished but not yet synced when the process died is done again; every operation is idempotent
//!   on a finished object (a migrated object inspects as V3 and is skipped) and writes only on the ETag it read,
//!   so redoing one never writes over a newer write;
//! - an object whose current ETag differs from the journal's (replaced since) is done again: the journal
//!   records what was finished, not a name.
//!
//! A crash can leave a torn last line (no newline): it is dropped on open and the file cut back to the last
//! whole line. A malformed line anywhere else is a [`CheckpointError::Corrupt`] (the file is not ours).
//! Memory: one entry per finished object (key and ETag), the one part of a run that grows with its size.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::object::{bare_etag, ObjectRef};

/// A checkpoint file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read, written or synced.
    #[error("checkpoint {}: {source}", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line before the last is not a journal line.
    #[error("checkpoint {}: line {line} is not a checkpoint record (is this the right file?)", path.display())]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// How an object was finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    /// The operation changed or examined it.
    Done,
    /// The operation had nothing to do (already V3, not encrypted, ...).
    Skipped,
}

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    result: Finished,
    etag: Option<String>,
}

/// An open journal: what earlier runs finished, and the file this run appends to.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    file: File,
    finished: HashMap<String, Option<String>>,
    unsynced: usize,
}

impl Checkpoint {
    /// Lines written between two fsyncs.
    pub const SYNC_EVERY: usize = 64;

    /// Opens (or creates) the journal at `path` and reads what it records.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut finished = HashMap::new();
        let mut good_len = 0u64;
        let mut reader = BufReader::new(&file);
        let mut buf = Vec::new();
        let mut line_no = 0usize;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if buf.last() != Some(&b'\n') {
                // The torn tail of a crash: that object was not recorded, so it is done again.
                break;
            }
            match serde_json::from_slice::<Line>(&buf) {
                Ok(l) => {
                    finished.insert(l.key, l.etag);
                }
                Err(_) => {
                    return Err(CheckpointError::Corrupt {
                        path: path.to_path_buf(),
                        line: line_no,
                    })
                }
            }
            good_len += n as u64;
        }
        drop(reader);
        if file.seek(SeekFrom::End(0)).map_err(io)? != good_len {
            file.set_len(good_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            finished,
            unsynced: 0,
        })
    }

    /// Moves out what earlier runs recorded (this run's records are appended to the file only).
    pub fn take_previous(&mut self) -> Previous {
        Previous(std::mem::take(&mut self.finished))
    }

    /// How many objects the journal records as finished.
    pub fn len(&self) -> usize {
        self.finished.len()
    }

    /// Whether the journal records nothing.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty()
    }

    /// Whether `obj` was finished by an earlier run and has not changed since: its key is recorded, and its
    /// listed ETag (when the source lists one) is the one recorded.
    pub fn is_finished(&self, obj: &ObjectRef) -> bool {
        finished_in(&self.finished, obj)
    }

    /// Records `key` as finished with `etag`; synced to disk every [`Self::SYNC_EVERY`] records.
    pub fn record(
        &mut self,
        key: &str,
        result: Finished,
        etag: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let line = Line {
            key: key.to_string(),
            result,
            etag: etag.map(|e| bare_etag(e).to_string()),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| CheckpointError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        // One write per line: an append of a whole line, so only a crash inside it can tear it.
        self.file
            .write_all(&bytes)
            .map_err(|source| CheckpointError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.finished.insert(line.key, line.etag);
        self.unsynced += 1;
        if self.unsynced >= Self::SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces what was recorded to disk.
    pub fn sync(&mut self) -> Result<(), CheckpointError> {
        self.unsynced = 0;
        self.file.sync_data().map_err(|source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// The objects earlier runs finished (see [`Checkpoint::is_finished`]).
#[derive(Debug, Default)]
pub struct Previous(HashMap<String, Option<String>>);

impl Previous {
    /// As [`Checkpoint::is_finished`].
    pub fn is_finished(&self, obj: &ObjectRef) -> bool {
        finished_in(&self.0, obj)
    }
}

fn finished_in(map: &HashMap<String, Option<String>>, obj: &ObjectRef) -> bool {
    match (map.get(&obj.key), &obj.etag) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(recorded), Some(listed)) => {
            recorded.as_deref().map(bare_etag) == Some(bare_etag(listed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, etag: Option<&str>) -> ObjectRef {
        ObjectRef {
            etag: etag.map(str::to_string),
            ..ObjectRef::new("b", key)
        }
    }

    #[test]
    fn records_survive_a_reopen_and_a_changed_etag_is_redone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let mut cp = Checkpoint::open(&path).unwrap();
        cp.record("a", Finished::Done, Some("\"e1\"")).unwrap();
        cp.record("line\nbreak", Finished::Skipped, None).unwrap();
        cp.sync().unwrap();
        drop(cp);
        let cp = Checkpoint::open(&path).unwrap();
        assert_eq!(cp.len(), 2);
        assert!(cp.is_finished(&obj("a", Some("e1"))));
        assert!(cp.is_finished(&obj("a", Some("\"e1\""))));
        assert!(cp.is_finished(&obj("a", None)));
        assert!(!cp.is_finished(&obj("a", Some("e2"))), "replaced since");
        assert!(cp.is_finished(&obj("line\nbreak", None)));
        assert!(!cp.is_finished(&obj("b", None)));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let whole = "{\"key\":\"a\",\"result\":\"done\",\"etag\":\"e\"}\n";
        std::fs::write(&path, format!("{whole}{{\"key\":\"b\",\"resu")).unwrap();
        let mut cp = Checkpoint::open(&path).unwrap();
        assert_eq!(cp.len(), 1);
        assert!(!cp.is_finished(&obj("b", None)), "b was never finished");
        cp.record("c", Finished::Done, None).unwrap();
        cp.sync().unwrap();
        drop(cp);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let cp = Checkpoint::open(&path).unwrap();
        assert!(cp.is_finished(&obj("a", None)) && cp.is_finished(&obj("c", None)));
    }

    #[test]
    fn a_bad_line_in_the_middle_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        std::fs::write(
            &path,
            "not json\n{\"key\":\"a\",\"result\":\"done\",\"etag\":null}\n",
        )
        .unwrap();
        let err = Checkpoint::open(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Corrupt { line: 1, .. }),
            "{err}"
        );
    }
}
