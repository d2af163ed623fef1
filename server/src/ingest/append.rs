//! One batch of books for one user, appended exactly once.

use std::{sync::Arc, time::Instant};

use futures::future::BoxFuture;

use super::records::{Fault, NewBook};
use crate::{
    follow::{Wakeups, retention::Cut},
    metrics::{Metrics, Transport},
    source::{CatalogSpec, StoreFailure},
};

/// Longest producer id, in bytes: it is a key in the store.
pub const MAX_PRODUCER_ID_BYTES: usize = 128;
/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// Who sent a batch, and how a resend is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A gRPC producer's batch number `sequence` (1, 2, 3, … without gaps).
    Producer { id: String, sequence: u64 },
    /// A REST batch under its `Idempotency-Key`.
    Key(String),
}

/// Books for one user, committed together or not at all.
#[derive(Debug, Clone)]
pub struct Batch {
    pub origin: Origin,
    pub user_id: u64,
    pub books: Vec<NewBook>,
}

/// A committed batch: its books hold ranks `first_rank .. first_rank + books`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub user_id: u64,
    pub first_rank: u64,
    pub books: u64,
    /// Committed before: answered again, not written again.
    pub duplicate: bool,
}

/// Why a batch was not committed; nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(
        "the generated catalog is read-only: its lists never grow; serve a store \
         (--catalog sqlite:PATH or postgres://…) to take appends"
    )]
    ReadOnly,
    #[error(
        "producer {producer}: sequence {got} skips ahead; the next sequence expected is {expected}"
    )]
    SequenceGap {
        producer: String,
        expected: u64,
        got: u64,
    },
    #[error("{0}")]
    BadOrigin(String),
    #[error("a batch needs at least one book")]
    NoBooks,
    #[error("a batch holds at most {limit} books (--max-append-books); this one has {books}")]
    TooManyBooks { books: usize, limit: usize },
    #[error("book {index} of the batch: {fault}")]
    Invalid {
        index: usize,
        #[source]
        fault: Fault,
    },
    #[error("user {user_id}: {fault}")]
    BadUser {
        user_id: u64,
        #[source]
        fault: Fault,
    },
    #[error("the store {store} is full; nothing of this batch was written: {cause}")]
    Full {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    #[error("the store {store} cannot take appends now: {cause}")]
    Unavailable {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    #[error("appending to {store} failed: {cause}")]
    Failed {
        store: String,
        #[source]
        cause: StoreFailure,
    },
}

/// Where a store commits batches: one transaction per batch. Retention
/// writes through it too, in transactions of its own.
pub trait StoreWriter: Send + Sync + 'static {
    fn append(&self, batch: Batch) -> BoxFuture<'_, Result<Ack, AppendError>>;

    /// Raises the earliest kept rank of the lists `cut` trims; returns how many.
    fn trim(&self, cut: Cut) -> BoxFuture<'_, Result<u64, AppendError>>;

    /// Removes up to `limit` books below their list's earliest kept rank.
    fn remove_trimmed(&self, limit: u64) -> BoxFuture<'_, Result<u64, AppendError>>;
}

/// The append pipeline every edge calls: checks the batch, commits it
/// through the store's writer, counts it.
#[derive(Clone)]
pub struct Appender {
    writer: Option<Arc<dyn StoreWriter>>,
    max_books: usize,
    metrics: Metrics,
    /// Told of every commit, so this server's followers read on at once.
    wakeups: Wakeups,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("writes", &self.writer.is_some())
            .field("max_books", &self.max_books)
            .finish()
    }
}

/// Why the store's writer could not be set up at start.
#[derive(Debug, thiserror::Error)]
#[error("cannot take appends into {store}: {cause}")]
pub struct WriterError {
    pub store: String,
    #[source]
    pub cause: StoreFailure,
}

impl Appender {
    /// The writer for `spec` (none for the generated catalog). An SQLite
    /// file is created and migrated here, before readers open it; a
    /// PostgreSQL database is migrated at its first append, so a server
    /// whose database is down still starts.
    pub fn open(
        spec: &CatalogSpec,
        max_books: usize,
        metrics: Metrics,
        wakeups: Wakeups,
    ) -> Result<Self, WriterError> {
        let writer: Option<Arc<dyn StoreWriter>> = match spec {
            CatalogSpec::Generated => None,
            CatalogSpec::Sqlite(path) => Some(Arc::new(super::sqlite::SqliteWriter::open(path)?)),
            CatalogSpec::Postgres(url) => Some(Arc::new(super::postgres::PostgresWriter::new(url))),
        };
        Ok(Self {
            writer,
            max_books,
            metrics,
            wakeups,
        })
    }

    /// No writer: the server takes no appends (no write token).
    pub fn off() -> Self {
        Self {
            writer: None,
            max_books: 0,
            metrics: None,
            wakeups: Wakeups::default(),
        }
    }

    /// Commits `batch`, or says why not; `transport` labels its metrics.
    pub async fn append(&self, transport: &'static str, batch: Batch) -> Result<Ack, AppendError> {
        let started = Instant::now();
        let writer = self.writer.as_ref().ok_or(AppendError::ReadOnly)?;
        self.check(&batch)?;
        let ack = writer.append(batch).await?;
        if !ack.duplicate {
            self.wakeups
                .committed(ack.user_id, ack.first_rank + ack.books);
        }
        if let Some(metrics) = &self.metrics {
            let labels = Transport { transport };
            if ack.duplicate {
                metrics.appends_duplicate.get_or_create(&labels).inc();
            } else {
                metrics
                    .books_appended
                    .get_or_create(&labels)
                    .inc_by(ack.books);
            }
            metrics
                .append_seconds
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(ack)
    }

    /// Whether this server takes writes (a write token and a store).
    pub fn writes(&self) -> bool {
        self.writer.is_some()
    }

    /// Retention's first step (see `follow::retention`).
    pub async fn trim(&self, cut: Cut) -> Result<u64, AppendError> {
        let writer = self.writer.as_ref().ok_or(AppendError::ReadOnly)?;
        writer.trim(cut).await
    }

    /// Retention's second step, `limit` books at a time.
    pub async fn remove_trimmed(&self, limit: u64) -> Result<u64, AppendError> {
        let writer = self.writer.as_ref().ok_or(AppendError::ReadOnly)?;
        writer.remove_trimmed(limit).await
    }

    /// What can be refused before the store is asked.
    fn check(&self, batch: &Batch) -> Result<(), AppendError> {
        match &batch.origin {
            Origin::Producer { id, sequence } => {
                if id.is_empty() || id.len() > MAX_PRODUCER_ID_BYTES || id.contains('\0') {
                    return Err(AppendError::BadOrigin(format!(
                        "producer_id must be 1 to {MAX_PRODUCER_ID_BYTES} bytes without NUL"
                    )));
                }
                if *sequence == 0 {
                    return Err(AppendError::BadOrigin(
                        "sequence starts at 1 for a producer's first batch".to_owned(),
                    ));
                }
            }
            Origin::Key(key) => {
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES || key.contains('\0') {
                    return Err(AppendError::BadOrigin(format!(
                        "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes without NUL"
                    )));
                }
            }
        }
        if batch.user_id > super::records::limits::MAX_ID {
            return Err(AppendError::BadUser {
                user_id: batch.user_id,
                fault: super::records::Fault::new(
                    "user_id",
                    format!("user ids go up to {}", super::records::limits::MAX_ID),
                ),
            });
        }
        if batch.books.is_empty() {
            return Err(AppendError::NoBooks);
        }
        if batch.books.len() > self.max_books {
            return Err(AppendError::TooManyBooks {
                books: batch.books.len(),
                limit: self.max_books,
            });
        }
        Ok(())
    }
}

/// Checks a transport's raw book against the contract; `index` names it in the error.
pub fn checked_book(
    index: usize,
    title: &str,
    author: &str,
    isbn13: &str,
    year: i64,
    genre: &str,
    score: f64,
) -> Result<NewBook, AppendError> {
    super::records::check_book(title, author, isbn13, year, genre, score)
        .map_err(|fault| AppendError::Invalid { index, fault })
}
