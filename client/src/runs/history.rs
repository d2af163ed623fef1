//! The run history on disk (`--history`): one JSON record per line,
//! appended whole when a run starts and again when it ends, so a crash
//! loses at most the line being written. Loading keeps each run's latest
//! line, skips a torn or unreadable line with a warning, and shows runs that
//! were still running when the client stopped as failed.

use std::{
    borrow::Borrow,
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use super::record::{Outcome, RunRecord};

/// What a run still running at the last stop is told.
pub const CLIENT_STOPPED: &str = "client stopped";

/// Why the history cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the run history {path}: {source}")]
pub struct HistoryError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The history file, open for appending.
#[derive(Debug)]
pub struct History {
    path: PathBuf,
    file: Mutex<Appender>,
}

#[derive(Debug)]
struct Appender {
    file: File,
    /// Lines in the file, to know when it is worth compacting.
    lines: usize,
}

impl History {
    /// Opens (or creates) the history at `path` and returns the newest
    /// `limit` runs in it, oldest first. The file is rewritten with just
    /// those when it held more, or lines that could not be read.
    pub fn open(path: &Path, limit: usize) -> Result<(Self, Vec<RunRecord>), HistoryError> {
        let fail = |source| HistoryError {
            path: path.to_owned(),
            source,
        };
        let mut text = Vec::new();
        match no_follow(OpenOptions::new().read(true)).open(path) {
            Ok(mut file) => {
                io::Read::read_to_end(&mut file, &mut text).map_err(fail)?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(fail(error)),
        }
        let (records, lines, unreadable) = parse(&text, path);
        let kept: Vec<RunRecord> = records.into_values().rev().take(limit).rev().collect();
        if unreadable > 0 || lines > kept.len() {
            rewrite(path, &kept).map_err(fail)?;
        }
        let file = no_follow(OpenOptions::new().create(true).append(true))
            .open(path)
            .map_err(fail)?;
        let history = Self {
            path: path.to_owned(),
            file: Mutex::new(Appender {
                file,
                lines: kept.len(),
            }),
        };
        Ok((history, kept))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line, written whole; says how many lines the file holds.
    pub fn append(&self, record: &RunRecord) -> io::Result<usize> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut appender = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        appender.file.write_all(&line)?;
        appender.lines += 1;
        Ok(appender.lines)
    }

    /// Rewrites the file with just the runs `kept` gives. It is asked while
    /// no line can be appended, so a run recorded meanwhile is either among
    /// them or appended to the new file, never lost with the old one.
    pub fn compact(&self, kept: impl FnOnce() -> Vec<Arc<RunRecord>>) -> io::Result<()> {
        let mut appender = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let records = kept();
        rewrite(&self.path, &records)?;
        appender.file = OpenOptions::new().append(true).open(&self.path)?;
        appender.lines = records.len();
        Ok(())
    }
}

/// The highest run id the history accepts: ids stay exact in the pages'
/// JavaScript (2^53), and the next id can never wrap past `u64::MAX` onto
/// a saved run's.
pub const MAX_RUN_ID: u64 = (1 << 53) - 1;

/// The history is the client's own file: a symlink put in its place (to make
/// the client append to another file) is refused, not followed.
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NOFOLLOW);
    options
}

/// Why a history line is skipped.
#[derive(Debug, thiserror::Error)]
enum BadLine {
    #[error("it is not UTF-8: {0}")]
    Utf8(#[from] std::str::Utf8Error),
    #[error("it is not a run record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("its run id {0} is beyond the highest the client gives ({MAX_RUN_ID})")]
    Id(u64),
}

fn parse_line(line: &[u8]) -> Result<RunRecord, BadLine> {
    let record: RunRecord = serde_json::from_str(std::str::from_utf8(line)?)?;
    if record.id == 0 || record.id > MAX_RUN_ID {
        return Err(BadLine::Id(record.id));
    }
    Ok(record)
}

/// Each run's latest record, by id; how many lines there were; how many could
/// not be read. Never fails: a line that cannot be read is skipped with a
/// warning (public for the fuzz target that holds it to that).
pub fn parse(text: &[u8], path: &Path) -> (BTreeMap<u64, RunRecord>, usize, usize) {
    let mut records = BTreeMap::new();
    let mut lines = 0;
    let mut unreadable = 0;
    for (number, line) in text.split(|&byte| byte == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        lines += 1;
        match parse_line(line) {
            Ok(record) => {
                records.insert(record.id, record);
            }
            Err(error) => {
                unreadable += 1;
                tracing::warn!(
                    history = %path.display(),
                    line = number + 1,
                    "skipping a run history line (a crash mid-write, or not the client's): {error}"
                );
            }
        }
    }
    if unreadable > 0 {
        tracing::warn!(
            history = %path.display(),
            skipped = unreadable,
            "skipped {unreadable} run history lines that could not be read"
        );
    }
    for record in records.values_mut() {
        if record.outcome == Outcome::Running {
            record.outcome = Outcome::Failed;
            record.error = Some(CLIENT_STOPPED.to_owned());
        }
    }
    (records, lines, unreadable)
}

/// Replaces the file with `records`, through a temporary file and a rename,
/// so that a crash leaves the old history or the new one.
fn rewrite(path: &Path, records: &[impl Borrow<RunRecord>]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".bookstream-runs.")
        .tempfile_in(dir)?;
    for record in records {
        serde_json::to_writer(&mut temp, record.borrow()).map_err(io::Error::other)?;
        temp.write_all(b"\n")?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn record(id: u64, outcome: Outcome) -> RunRecord {
        RunRecord::example(id, outcome)
    }

    #[test]
    fn runs_survive_a_reopen_and_each_keeps_its_latest_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let (history, loaded) = History::open(&path, 10).unwrap();
        assert!(loaded.is_empty());
        history.append(&record(1, Outcome::Running)).unwrap();
        history.append(&record(1, Outcome::Complete)).unwrap();
        history.append(&record(2, Outcome::Partial)).unwrap();
        drop(history);
        let (_, loaded) = History::open(&path, 10).unwrap();
        let outcomes: Vec<_> = loaded.iter().map(|run| (run.id, run.outcome)).collect();
        assert_eq!(outcomes, [(1, Outcome::Complete), (2, Outcome::Partial)]);
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_run_left_running_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let mut text = serde_json::to_string(&record(1, Outcome::Complete)).unwrap();
        text.push('\n');
        text.push_str(&serde_json::to_string(&record(2, Outcome::Running)).unwrap());
        text.push('\n');
        let torn = serde_json::to_string(&record(3, Outcome::Complete)).unwrap();
        text.push_str(&torn[..torn.len() / 2]);
        fs::write(&path, text).unwrap();

        let (_, loaded) = History::open(&path, 10).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[1].outcome, Outcome::Failed);
        assert_eq!(loaded[1].error.as_deref(), Some(CLIENT_STOPPED));
        // The file was mended: it now reads cleanly.
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn only_the_newest_runs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let (history, _) = History::open(&path, 3).unwrap();
        for id in 1..=5 {
            history.append(&record(id, Outcome::Complete)).unwrap();
        }
        drop(history);
        let (_, loaded) = History::open(&path, 3).unwrap();
        let ids: Vec<_> = loaded.iter().map(|run| run.id).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn invalid_utf8_and_absurd_ids_are_skipped_and_ids_never_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let mut text = Vec::new();
        let line = |record: &RunRecord| serde_json::to_vec(record).unwrap();
        text.extend(line(&record(1, Outcome::Complete)));
        text.extend(b"\n{\"id\": 9, \"title\": \"\xff\xfe\"}\n");
        text.extend(line(&record(u64::MAX, Outcome::Complete)));
        text.push(b'\n');
        text.extend(line(&record(MAX_RUN_ID + 1, Outcome::Complete)));
        text.push(b'\n');
        text.extend(line(&record(2, Outcome::Partial)));
        text.push(b'\n');
        fs::write(&path, text).unwrap();

        let (_, loaded) = History::open(&path, 10).unwrap();
        let ids: Vec<u64> = loaded.iter().map(|run| run.id).collect();
        assert_eq!(ids, [1, 2]);
        // Mended: only what could be read is left, and it reads as text.
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn a_history_that_is_a_symlink_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "not a history\n").unwrap();
        let path = dir.path().join("runs.jsonl");
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();

        let error = History::open(&path, 10).unwrap_err();
        assert_eq!(error.path, path);
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "not a history\n");
    }
}
