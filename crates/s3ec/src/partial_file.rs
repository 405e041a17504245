//! A temporary file beside a destination path, renamed into place durably once its contents are verified
//! (`GetObject::send_to_path`), and removed without a trace otherwise.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A temporary file beside a destination path (mode 0600 on Unix), renamed over it by [`PartialFile::persist`].
/// Dropped without that (an error, a dropped future), it is truncated, then removed: nothing appears at the
/// destination and no plaintext stays on disk under a name.
pub(crate) struct PartialFile {
    temp: Option<tempfile::NamedTempFile>,
    target: PathBuf,
    dir: PathBuf,
}

impl PartialFile {
    /// Creates the temporary file in the destination's folder.
    pub(crate) fn create(target: &Path) -> std::io::Result<Self> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".s3ec-partial")
            .tempfile_in(&dir)?;
        Ok(Self {
            temp: Some(temp),
            target: target.to_path_buf(),
            dir,
        })
    }

    /// A handle for positional writes from other threads.
    pub(crate) fn shared(&self) -> std::io::Result<Arc<File>> {
        self.file().try_clone().map(Arc::new)
    }

    /// The open file.
    pub(crate) fn file(&self) -> &File {
        self.temp
            .as_ref()
            .expect("present until persisted")
            .as_file()
    }

    /// Makes the file appear at the destination, durably: see [`PartialFile::persist_with`].
    pub(crate) fn persist(self) -> std::io::Result<()> {
        self.persist_with(&mut Disk)
    }

    /// Flushes the file to the disk, renames it over the destination, then flushes the folder: a crash at any
    /// point leaves either no file at the destination (the old one, if any) or the whole file, never a name
    /// whose data did not reach the disk. A failure before the rename removes the file as a drop does; one
    /// after it (the folder's flush) leaves the complete, verified file in place and is returned, except on
    /// file systems that cannot flush a folder.
    fn persist_with(mut self, fs: &mut impl Publish) -> std::io::Result<()> {
        fs.sync_file(self.file())?;
        let temp = self.temp.take().expect("present until persisted");
        if let Err(e) = fs.rename(temp, &self.target) {
            self.temp = Some(e.file);
            return Err(e.error);
        }
        match fs.sync_dir(&self.dir) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                ) =>
            {
                Ok(())
            }
            r => r,
        }
    }
}

/// The file-system steps of [`PartialFile::persist_with`], apart so that a test can see their order.
trait Publish {
    /// Flushes a file's data and length.
    fn sync_file(&mut self, file: &File) -> std::io::Result<()>;
    /// Renames a temporary file over `target`.
    fn rename(
        &mut self,
        temp: tempfile::NamedTempFile,
        target: &Path,
    ) -> Result<(), tempfile::PersistError>;
    /// Flushes a folder's entries (a no-op where folders cannot be opened as files).
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()>;
}

/// The real steps.
struct Disk;

impl Publish for Disk {
    fn sync_file(&mut self, file: &File) -> std::io::Result<()> {
        file.sync_all()
    }

    fn rename(
        &mut self,
        temp: tempfile::NamedTempFile,
        target: &Path,
    ) -> Result<(), tempfile::PersistError> {
        temp.persist(target).map(drop)
    }

    #[cfg(unix)]
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&mut self, _dir: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // Truncation frees the plaintext's blocks at once; dropping `temp` removes the name.
            let _ = temp.as_file().set_len(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the steps of a persist while doing them, optionally failing one.
    struct Recorder {
        steps: Vec<String>,
        fail: Option<&'static str>,
        fail_kind: std::io::ErrorKind,
    }

    impl Recorder {
        fn new(fail: Option<&'static str>, fail_kind: std::io::ErrorKind) -> Self {
            Self {
                steps: Vec::new(),
                fail,
                fail_kind,
            }
        }

        fn step(&mut self, name: &'static str, what: String) -> std::io::Result<()> {
            self.steps.push(what);
            if self.fail == Some(name) {
                return Err(self.fail_kind.into());
            }
            Ok(())
        }
    }

    impl Publish for Recorder {
        fn sync_file(&mut self, file: &File) -> std::io::Result<()> {
            let len = file.metadata()?.len();
            self.step("sync_file", format!("sync_file {len}"))?;
            Disk.sync_file(file)
        }

        fn rename(
            &mut self,
            temp: tempfile::NamedTempFile,
            target: &Path,
        ) -> Result<(), tempfile::PersistError> {
            let what = format!(
                "rename to {}",
                target.file_name().unwrap().to_string_lossy()
            );
            if let Err(error) = self.step("rename", what) {
                return Err(tempfile::PersistError { error, file: temp });
            }
            Disk.rename(temp, target)
        }

        fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
            self.step("sync_dir", format!("sync_dir {}", dir.display()))?;
            Disk.sync_dir(dir)
        }
    }

    fn written(target: &Path) -> PartialFile {
        let f = PartialFile::create(target).unwrap();
        std::io::Write::write_all(&mut f.file(), b"verified plaintext").unwrap();
        f
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn persist_flushes_the_file_then_renames_then_flushes_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let mut rec = Recorder::new(None, std::io::ErrorKind::Other);
        written(&target).persist_with(&mut rec).unwrap();
        assert_eq!(
            rec.steps,
            [
                "sync_file 18".to_string(),
                "rename to out".to_string(),
                format!("sync_dir {}", dir.path().display()),
            ]
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"verified plaintext");
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn a_failed_flush_before_the_rename_leaves_nothing() {
        for step in ["sync_file", "rename"] {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("out");
            let mut rec = Recorder::new(Some(step), std::io::ErrorKind::Other);
            assert!(written(&target).persist_with(&mut rec).is_err(), "{step}");
            assert!(
                names(dir.path()).is_empty(),
                "{step}: {:?}",
                names(dir.path())
            );
            if step == "sync_file" {
                assert_eq!(rec.steps.len(), 1, "no rename after a failed flush");
            }
        }
    }

    #[test]
    fn a_folder_that_cannot_be_flushed_is_not_an_error_but_a_failed_flush_is() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let mut rec = Recorder::new(Some("sync_dir"), std::io::ErrorKind::InvalidInput);
        written(&target).persist_with(&mut rec).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"verified plaintext");
        let target = dir.path().join("out2");
        let mut rec = Recorder::new(Some("sync_dir"), std::io::ErrorKind::Other);
        assert!(written(&target).persist_with(&mut rec).is_err());
        // Renamed already: the complete file stays.
        assert_eq!(std::fs::read(&target).unwrap(), b"verified plaintext");
    }
}
