//! A run's file is served only if it is still the file that run wrote: its
//! identity (device, inode, size, modification time) is recorded when the
//! run ends, and the file is opened without following a symlink and checked
//! against it, under the output's directory. A file swapped for a symlink,
//! edited in place to the same size, or a history line naming a file
//! elsewhere (`/proc/self/environ`) is not served.

use std::fs::{File, Metadata, OpenOptions};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What identifies the file a run wrote, beside its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub dev: u64,
    pub ino: u64,
    /// Modification time, in nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Written {
    fn of(meta: &Metadata) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(Self {
                dev: meta.dev(),
                ino: meta.ino(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }
}

/// The size and identity of the regular file at `path`, as the run left it.
pub fn identify(path: &Path) -> (Option<u64>, Option<Written>) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => (Some(meta.len()), Written::of(&meta)),
        _ => (None, None),
    }
}

/// Why a run's file cannot be downloaded (409 while it runs, 404 for no run, 410 Gone with this reason otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FileGone {
    #[error("there is no such run")]
    Unknown,
    #[error("the run is still running: its file is not written yet")]
    Running,
    #[error("the run ended {0} and left no file")]
    NoFile(&'static str),
    #[error(
        "a later run (run {0}) wrote the same file: give --output a {{run}} placeholder to keep every run's file"
    )]
    Replaced(u64),
    #[error("the file was changed since the run wrote it")]
    Changed,
    #[error("the file was deleted, or is no longer a plain file")]
    Deleted,
    #[error("the file is not under the output's directory")]
    Outside,
}

/// Why a recorded file is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Not under the output's directory.
    Outside,
    /// No longer there, or not a regular file (a symlink, say).
    Missing,
    /// Another file now, or this one changed.
    Changed,
}

/// The directory every run's file lies under: `--output`'s directory, up to
/// its first component with a placeholder.
pub fn base_dir(output: &Path) -> PathBuf {
    let parent = output.parent().unwrap_or(Path::new(""));
    let mut base = PathBuf::new();
    for component in parent.components() {
        if component.as_os_str().to_string_lossy().contains('{') {
            break;
        }
        base.push(component);
    }
    if base.as_os_str().is_empty() {
        base.push(".");
    }
    base
}

/// Whether `path` lies under `base`, both as the file system resolves them
/// (a `..` or a symlinked directory cannot lead out).
pub fn is_under(path: &Path, base: &Path) -> bool {
    if path.components().any(|part| part == Component::ParentDir) {
        return false;
    }
    let (Some(parent), Ok(base)) = (path.parent(), base.canonicalize()) else {
        return false;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    parent
        .canonicalize()
        .is_ok_and(|parent| parent.starts_with(base))
}

/// Opens `path` if it is the file recorded as `bytes` and `written`, under `base`.
pub fn open(
    path: &Path,
    bytes: Option<u64>,
    written: Option<Written>,
    base: &Path,
) -> Result<File, Mismatch> {
    if !is_under(path, base) {
        return Err(Mismatch::Outside);
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(path).map_err(|_| Mismatch::Missing)?;
    // The opened file itself is checked: a swap after the check cannot be served.
    let meta = file.metadata().map_err(|_| Mismatch::Missing)?;
    if !meta.is_file() {
        return Err(Mismatch::Missing);
    }
    if Some(meta.len()) != bytes {
        return Err(Mismatch::Changed);
    }
    if let Some(written) = written
        && Written::of(&meta) != Some(written)
    {
        return Err(Mismatch::Changed);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_a_run_wrote_is_served_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let path = base.join("books.txt");
        std::fs::write(&path, "0, a\n").unwrap();
        let (bytes, written) = identify(&path);
        assert!(open(&path, bytes, written, base).is_ok());

        // Edited in place, same size.
        let other = base.join("other.txt");
        std::fs::write(&other, "0, b\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(
            open(&path, bytes, written, base).unwrap_err(),
            Mismatch::Changed
        );

        // Swapped for a symlink to a file of the same size.
        let (bytes, written) = identify(&path);
        let target = base.join("secret");
        std::fs::write(&target, "0, c\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert_eq!(
            open(&path, bytes, written, base).unwrap_err(),
            Mismatch::Missing
        );

        // Outside the output's directory, however it is named.
        let environ = Path::new("/proc/self/environ");
        assert_eq!(
            open(environ, Some(0), None, base).unwrap_err(),
            Mismatch::Outside
        );
        let escape = base.join("..").join("x.txt");
        assert_eq!(
            open(&escape, Some(0), None, base).unwrap_err(),
            Mismatch::Outside
        );
    }

    #[test]
    fn the_base_stops_at_the_first_placeholder() {
        assert_eq!(base_dir(Path::new("books.txt")), Path::new("."));
        assert_eq!(
            base_dir(Path::new("/data/books-{run}.txt")),
            Path::new("/data")
        );
        assert_eq!(
            base_dir(Path::new("/data/{user}/b.txt")),
            Path::new("/data")
        );
    }
}
