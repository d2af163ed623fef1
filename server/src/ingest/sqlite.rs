//! SQLite takes appends through one writer: a thread of its own with the one
//! read-write connection, fed batches over a channel. The file is in WAL
//! mode, so the server's readers go on reading while it commits, each at the
//! list length it started with.

use std::path::Path;

use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::append::{Ack, AppendError, Batch, Origin, StoreWriter, WriterError};
use crate::follow::retention::{self, Cut};
use crate::source::{StoreFailure, load::sqlite::migrations, sqlite::describe, stored};

/// Batches waiting for the writer; a producer past it waits its turn.
const QUEUE: usize = 64;
/// How long the writer waits for another process (`server load`) to commit.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The writer thread's work: batches, and retention's two steps.
enum Job {
    Append(Batch, oneshot::Sender<Result<Ack, AppendError>>),
    Trim(Cut, oneshot::Sender<Result<u64, AppendError>>),
    Remove(u64, oneshot::Sender<Result<u64, AppendError>>),
}

pub(super) struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
    name: String,
}

impl SqliteWriter {
    /// Creates the file if need be, migrates it and switches it to WAL, then
    /// starts the writer thread.
    pub(super) fn open(path: &Path) -> Result<Self, WriterError> {
        let name = format!("sqlite:{}", path.display());
        let fail = |error: rusqlite::Error| WriterError {
            store: name.clone(),
            cause: StoreFailure::new(describe(&error), error),
        };
        let mut connection = Connection::open(path).map_err(fail)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        // WAL: readers never wait for the writer. FULL: an acknowledged batch
        // survives a power cut, not just a crash.
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(fail)?;
        migrations::migrations::runner()
            .run(&mut connection)
            .map_err(|error| WriterError {
                store: name.clone(),
                cause: StoreFailure::from_error(error),
            })?;
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let store = name.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                let sql = |error| refusal(&store, Refused::Sql(error));
                // A caller that left takes no answer; the work is committed anyway.
                while let Some(job) = queue.blocking_recv() {
                    match job {
                        Job::Append(batch, answer) => {
                            let result = commit(&mut connection, &batch)
                                .map_err(|refused| refusal(&store, refused));
                            let _ = answer.send(result);
                        }
                        Job::Trim(cut, answer) => {
                            let _ = answer
                                .send(retention::sqlite::trim(&mut connection, cut).map_err(sql));
                        }
                        Job::Remove(limit, answer) => {
                            let _ = answer.send(
                                retention::sqlite::remove(&mut connection, limit).map_err(sql),
                            );
                        }
                    }
                }
            })
            .map_err(|error| WriterError {
                store: name.clone(),
                cause: StoreFailure::during("starting the writer thread", error),
            })?;
        Ok(Self { jobs, name })
    }
}

impl SqliteWriter {
    /// Hands `job` to the writer thread and waits for its answer.
    async fn run<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, AppendError>>) -> Job,
    ) -> Result<T, AppendError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || AppendError::Unavailable {
            store: self.name.clone(),
            cause: StoreFailure::from_error(WriterStopped),
        };
        self.jobs.send(job(answer)).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl StoreWriter for SqliteWriter {
    fn append(&self, batch: Batch) -> BoxFuture<'_, Result<Ack, AppendError>> {
        Box::pin(self.run(|answer| Job::Append(batch, answer)))
    }

    fn trim(&self, cut: Cut) -> BoxFuture<'_, Result<u64, AppendError>> {
        Box::pin(self.run(move |answer| Job::Trim(cut, answer)))
    }

    fn remove_trimmed(&self, limit: u64) -> BoxFuture<'_, Result<u64, AppendError>> {
        Box::pin(self.run(move |answer| Job::Remove(limit, answer)))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the writer thread stopped")]
struct WriterStopped;

/// Why a commit did not happen: a batch that skips ahead, or the store.
enum Refused {
    Gap(AppendError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Refused {
    fn from(error: rusqlite::Error) -> Self {
        Refused::Sql(error)
    }
}

/// One batch, one transaction: the books, the list's new length and the
/// producer's sequence commit together or not at all.
fn commit(connection: &mut Connection, batch: &Batch) -> Result<Ack, Refused> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let user_id = stored(batch.user_id);
    let earlier = match &batch.origin {
        Origin::Producer { id, sequence } => {
            let last: i64 = transaction
                .query_row(
                    "SELECT last_sequence FROM producers WHERE producer_id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let last = u64::try_from(last).unwrap_or(0);
            if *sequence > last + 1 {
                return Err(Refused::Gap(AppendError::SequenceGap {
                    producer: id.clone(),
                    expected: last + 1,
                    got: *sequence,
                }));
            }
            (*sequence <= last)
                .then(|| {
                    transaction.query_row(
                        "SELECT user_id, first_rank, books FROM appends
                         WHERE producer_id = ?1 AND sequence = ?2",
                        params![id, stored(*sequence)],
                        ack_of,
                    )
                })
                .transpose()?
        }
        Origin::Key(key) => transaction
            .query_row(
                "SELECT user_id, first_rank, books FROM idempotency_keys WHERE key = ?1",
                params![key],
                ack_of,
            )
            .optional()?,
    };
    if let Some(ack) = earlier {
        return Ok(ack);
    }

    // One commit time for the batch: its books and its row in list_appends.
    let now = now_ms();
    let length: i64 = transaction
        .query_row(
            "SELECT length FROM recommendation_lists WHERE user_id = ?1",
            params![user_id],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    {
        let mut insert_rank = transaction.prepare_cached(
            "INSERT INTO recommendations
                 (user_id, rank, score, year, appended_at_ms, title, author, isbn13, genre)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for (offset, book) in (0i64..).zip(&batch.books) {
            insert_rank.execute(params![
                user_id,
                length + offset,
                book.score,
                book.year,
                now,
                book.title,
                book.author,
                book.isbn13,
                book.genre
            ])?;
        }
    }
    let books = i64::try_from(batch.books.len()).unwrap_or(i64::MAX);
    transaction.execute(
        "INSERT INTO recommendation_lists (user_id, length, loaded_at)
         VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         ON CONFLICT (user_id) DO UPDATE SET length = excluded.length, loaded_at = excluded.loaded_at",
        params![user_id, length + books],
    )?;
    transaction.execute(
        "INSERT INTO list_appends (user_id, first_rank, books, committed_at_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![user_id, length, books, now],
    )?;
    match &batch.origin {
        Origin::Producer { id, sequence } => {
            transaction.execute(
                "INSERT INTO producers (producer_id, last_sequence, updated_at)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 ON CONFLICT (producer_id) DO UPDATE
                 SET last_sequence = excluded.last_sequence, updated_at = excluded.updated_at",
                params![id, stored(*sequence)],
            )?;
            transaction.execute(
                "INSERT INTO appends (producer_id, sequence, user_id, first_rank, books)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, stored(*sequence), user_id, length, books],
            )?;
        }
        Origin::Key(key) => {
            transaction.execute(
                "INSERT INTO idempotency_keys (key, user_id, first_rank, books, committed_at)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                params![key, user_id, length, books],
            )?;
        }
    }
    transaction.commit()?;
    Ok(Ack {
        user_id: batch.user_id,
        first_rank: u64::try_from(length).unwrap_or(0),
        books: batch.books.len() as u64,
        duplicate: false,
    })
}

/// The commit's time for `list_appends`: the writer's clock, in ms since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn ack_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Ack> {
    let number = |index| -> rusqlite::Result<u64> {
        Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
    };
    Ok(Ack {
        user_id: number(0)?,
        first_rank: number(1)?,
        books: number(2)?,
        duplicate: true,
    })
}

/// The writer's refusal in the append's words: a full disk is the store's
/// to fix, a busy file is worth a retry.
fn refusal(store: &str, refused: Refused) -> AppendError {
    let store = store.to_owned();
    let error = match refused {
        Refused::Gap(gap) => return gap,
        Refused::Sql(error) => error,
    };
    let code = match &error {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    let cause = StoreFailure::new(describe(&error), error);
    match code {
        Some(rusqlite::ErrorCode::DiskFull) => AppendError::Full { store, cause },
        Some(
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::SystemIoFailure
            | rusqlite::ErrorCode::CannotOpen,
        ) => AppendError::Unavailable { store, cause },
        _ => AppendError::Failed { store, cause },
    }
}
