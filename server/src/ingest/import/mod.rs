//! `server load --from`: a team's file (CSV, JSON Lines, Parquet) into a
//! store, all or nothing. Rows are checked as they are read; bad ones are
//! reported and, up to `--max-errors`, skipped; past it, or on any failure
//! (a file that cannot be read, the store, a killed process), the
//! transaction is never committed and the store is as it was.

mod postgres;
mod sqlite;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::records::{ColumnMap, Format, ImportRow, Input, ReadError, Rejection, Rows};
use crate::source::{CatalogSpec, StoreFailure, load::Progress};

/// What the users in the file get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Their lists are replaced by the file's books (as `server load` does).
    Replace,
    /// The file's books go after each user's current last rank.
    Append,
}

/// What to import, and how strictly.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub input: Input,
    pub format: Format,
    pub columns: ColumnMap,
    pub mode: Mode,
    /// Bad rows tolerated (skipped and reported); one more and nothing is committed.
    pub max_errors: u64,
    /// Where bad rows are written (CSV: row, column, reason); `None`: stderr only.
    pub rejects: Option<PathBuf>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Books committed.
    pub books: u64,
    /// Users whose lists were written.
    pub users: u64,
    /// Rows skipped as bad (at most `max_errors`).
    pub rejected: u64,
    /// The rejects file, when a row was rejected and one was asked for.
    pub rejects: Option<PathBuf>,
    pub elapsed: Duration,
}

impl ImportReport {
    pub fn books_per_second(&self) -> f64 {
        crate::source::load::per_second(self.books, self.elapsed)
    }
}

/// Why nothing was imported; the store is as it was before.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the generated catalog takes no files: give --catalog sqlite:PATH or postgres://…")]
    Generated,
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "{rejected} rows broke the contract, more than --max-errors {max_errors}: nothing was loaded{}",
        rejects.as_ref().map(|path| format!(" (the bad rows are in {})", path.display())).unwrap_or_default()
    )]
    TooManyErrors {
        rejected: u64,
        max_errors: u64,
        rejects: Option<PathBuf>,
    },
    #[error(
        "row {row}: --append puts each user's books after their last rank, so the file's \
         `rank` column cannot be kept: drop it, or load without --append"
    )]
    RankWithAppend { row: u64 },
    #[error(
        "user {user_id}: the file's ranks are not 0, 1, 2, … without gaps ({books} books, \
         highest rank {highest}): nothing was loaded"
    )]
    Gaps {
        user_id: u64,
        books: u64,
        highest: u64,
    },
    #[error("row {row}: user {user_id} has rank {rank} twice in the file: nothing was loaded")]
    DuplicateRank { row: u64, user_id: u64, rank: u64 },
    #[error("writing the rejects file {path} failed: {source}")]
    Rejects {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("loading {store} failed: {cause}")]
    Store {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    /// Opening or migrating the store, as `server load` does.
    #[error(transparent)]
    Open(#[from] crate::source::load::LoadError),
}

/// The default rejects file of an input: beside it, `NAME.rejects.csv`.
pub fn rejects_beside(input: &Input) -> Option<PathBuf> {
    match input {
        Input::Stdin => None,
        Input::Path(path) => {
            let mut name = path.file_name()?.to_os_string();
            name.push(".rejects.csv");
            Some(path.with_file_name(name))
        }
    }
}

/// Imports `request` into the store named by `spec`; `on_reject` hears
/// every bad row as it is found (the CLI prints it).
pub async fn import(
    spec: &CatalogSpec,
    request: ImportRequest,
    progress: &Progress,
    on_reject: impl FnMut(&Rejection) + Send + 'static,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    if matches!(spec, CatalogSpec::Generated) {
        return Err(ImportError::Generated);
    }
    let rows = super::records::open(&request.input, request.format, &request.columns)?;
    let checked = Checked::new(&request, on_reject)?;
    let reading = Reading::start(rows, checked)?;
    let counts = match spec {
        CatalogSpec::Generated => return Err(ImportError::Generated),
        CatalogSpec::Sqlite(path) => {
            let path = path.clone();
            let bar = progress.clone();
            let mode = request.mode;
            tokio::task::spawn_blocking(move || sqlite::import(&path, mode, reading, &bar))
                .await
                .map_err(|error| ImportError::Store {
                    store: spec.to_string(),
                    cause: StoreFailure::during("the load stopped", error),
                })??
        }
        CatalogSpec::Postgres(url) => {
            postgres::import(url, request.mode, reading, progress).await?
        }
    };
    let ((books, users), checked) = counts;
    progress.finish();
    Ok(ImportReport {
        books,
        users,
        rejected: checked.rejected,
        rejects: checked.rejects_path(),
        elapsed: started.elapsed(),
    })
}

/// The good rows of a file, with the bad ones counted, reported and
/// written to the rejects file; past `max_errors`, the import stops.
pub(crate) struct Checked {
    max_errors: u64,
    rejected: u64,
    mode: Mode,
    rejects: Option<(PathBuf, Option<csv::Writer<std::fs::File>>)>,
    on_reject: Box<dyn FnMut(&Rejection) + Send>,
}

impl Checked {
    fn new(
        request: &ImportRequest,
        on_reject: impl FnMut(&Rejection) + Send + 'static,
    ) -> Result<Self, ImportError> {
        if let Some(path) = &request.rejects {
            // A rejects file from an earlier load would be taken for this one's.
            remove_stale(path)?;
        }
        Ok(Self {
            max_errors: request.max_errors,
            rejected: 0,
            mode: request.mode,
            rejects: request.rejects.clone().map(|path| (path, None)),
            on_reject: Box::new(on_reject),
        })
    }

    /// The next good row, or `None` at the end of the file.
    pub(crate) fn next(&mut self, rows: &mut Rows) -> Result<Option<ImportRow>, ImportError> {
        for item in rows.by_ref() {
            match item? {
                Ok(row) => {
                    if self.mode == Mode::Append && row.rank.is_some() {
                        return Err(ImportError::RankWithAppend { row: row.row });
                    }
                    return Ok(Some(row));
                }
                Err(rejection) => self.reject(&rejection)?,
            }
        }
        Ok(None)
    }

    /// Counts and reports a bad row; past `max_errors`, stops the import.
    pub(crate) fn reject(&mut self, rejection: &Rejection) -> Result<(), ImportError> {
        self.rejected += 1;
        (self.on_reject)(rejection);
        if let Some((path, writer)) = &mut self.rejects {
            let fail = |source| ImportError::Rejects {
                path: path.clone(),
                source,
            };
            if writer.is_none() {
                let mut created = csv::Writer::from_path(&*path).map_err(fail)?;
                created
                    .write_record(["row", "column", "reason"])
                    .map_err(fail)?;
                *writer = Some(created);
            }
            if let Some(writer) = writer {
                writer
                    .write_record([
                        rejection.row.to_string().as_str(),
                        rejection.column.unwrap_or(""),
                        rejection.reason.as_str(),
                    ])
                    .map_err(fail)?;
                writer.flush().map_err(|error| fail(error.into()))?;
            }
        }
        if self.rejected > self.max_errors {
            return Err(ImportError::TooManyErrors {
                rejected: self.rejected,
                max_errors: self.max_errors,
                rejects: self.rejects_path(),
            });
        }
        Ok(())
    }

    fn rejects_path(&self) -> Option<PathBuf> {
        match &self.rejects {
            Some((path, Some(_))) => Some(path.clone()),
            _ => None,
        }
    }
}

fn remove_stale(path: &Path) -> Result<(), ImportError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(ImportError::Rejects {
            path: path.to_owned(),
            source: error.into(),
        }),
    }
}

/// One user's list as an import writes it.
#[derive(Debug, Default)]
pub(crate) struct List {
    /// The rank (or offset, past the list's current end) the next book
    /// without a rank of its own takes.
    pub(crate) next: i64,
    pub(crate) books: u64,
    highest: Option<i64>,
}

impl List {
    /// Counts a book placed at `place`.
    pub(crate) fn take(&mut self, place: i64) {
        self.next = self.next.max(place + 1);
        self.books += 1;
        self.highest = self.highest.max(Some(place));
    }

    /// A replaced list's ranks must be 0, 1, 2, … without gaps: as many
    /// books as the highest rank says.
    pub(crate) fn dense(&self, user_id: u64) -> Result<(), ImportError> {
        if u64::try_from(self.next).unwrap_or(0) == self.books {
            return Ok(());
        }
        Err(ImportError::Gaps {
            user_id,
            books: self.books,
            highest: self
                .highest
                .and_then(|rank| u64::try_from(rank).ok())
                .unwrap_or(0),
        })
    }
}

/// Rows handed from the reading thread to the store's writer at a time.
const CHUNK: usize = 4096;
/// Chunks read ahead of the writer: reading (parsing, checking) and writing
/// overlap on two cores, in bounded memory.
const CHUNKS_AHEAD: usize = 4;

/// The good rows of a file, read on a thread of their own, in chunks.
pub(crate) struct Reading {
    pub(crate) chunks: tokio::sync::mpsc::Receiver<Vec<ImportRow>>,
    reader: std::thread::JoinHandle<Result<Checked, ImportError>>,
}

impl Reading {
    pub(crate) fn start(mut rows: Rows, mut checked: Checked) -> Result<Self, ImportError> {
        let (sender, chunks) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let reader = std::thread::Builder::new()
            .name("load-reader".to_owned())
            .spawn(move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                while let Some(row) = checked.next(&mut rows)? {
                    chunk.push(row);
                    if chunk.len() == CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                        if sender.blocking_send(full).is_err() {
                            // The writer stopped listening: it reports why.
                            return Ok(checked);
                        }
                    }
                }
                if !chunk.is_empty() {
                    let _ = sender.blocking_send(chunk);
                }
                Ok(checked)
            })
            .map_err(|error| ImportError::Store {
                store: "the file".to_owned(),
                cause: StoreFailure::during("starting the reader thread", error),
            })?;
        Ok(Self { chunks, reader })
    }

    /// The reader's verdict, once every chunk was taken (or the writer gave up).
    pub(crate) fn finish(self) -> Result<Checked, ImportError> {
        drop(self.chunks);
        self.reader.join().unwrap_or_else(|_| {
            Err(ImportError::Store {
                store: "the file".to_owned(),
                cause: StoreFailure::from_error(ReaderPanicked),
            })
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the reader thread panicked")]
struct ReaderPanicked;
