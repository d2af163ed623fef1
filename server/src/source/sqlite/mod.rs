//! The SQLite store: one file, opened read-only, read on blocking threads so
//! the async workers never wait for the disk.

use std::{path::Path, sync::Arc, time::Duration};

use r2d2::PooledConnection;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

mod describe;
mod page;

pub(crate) use describe::describe;
use describe::is_missing;

use super::{
    ANY_LIST_SQL, SourceError, error::StoreFailure, layout::LayoutMemory, select::Bounds, stored,
    stream::PageReader,
};

/// A list's kept ranks. `first_rank` came with retention (migration V3); a
/// store migrated only by older servers has kept every rank.
const BOUNDS_SQL: &str = "SELECT first_rank, length FROM recommendation_lists WHERE user_id = ?1";
const BOUNDS_BEFORE_V3_SQL: &str = "SELECT 0, length FROM recommendation_lists WHERE user_id = ?1";
/// The first book appended at or after a time (times only grow with rank).
const RANK_AT_TIME_SQL: &str = "
    SELECT first_rank FROM list_appends
    WHERE user_id = ?1 AND committed_at_ms >= ?2
    ORDER BY committed_at_ms, first_rank
    LIMIT 1";

/// How long a reader waits while a loader commits, before it reports the store busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Page cache per reading connection, in KiB.
const READER_CACHE_KIB: u32 = 256;

/// Why the SQLite file cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the SQLite catalog {path}: {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: String,
}

/// A read-only SQLite catalog with a pool of connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: r2d2::Pool<SqliteConnectionManager>,
    name: String,
    layout: LayoutMemory,
}

impl SqliteStore {
    /// Opens `path` read-only, and checks at once that it is an SQLite
    /// database, so a wrong file stops the server at start-up. A pool of up to
    /// `connections` serves the readers (one per stream reading at once).
    pub fn open(path: &Path, connections: u32) -> Result<Self, OpenError> {
        let name = format!("sqlite:{}", path.display());
        let fail = |reason: String| OpenError {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_file() {
            return Err(fail(format!(
                "there is no such file; create it with `server load --catalog {name}`"
            )));
        }
        let probe = open_read_only(path).map_err(|error| fail(describe(&error)))?;
        probe
            .query_row("PRAGMA schema_version", [], |_| Ok(()))
            .map_err(|error| fail(describe(&error)))?;
        drop(probe);

        let manager = SqliteConnectionManager::file(path)
            .with_flags(read_only_flags())
            .with_init(|connection| {
                connection.busy_timeout(BUSY_TIMEOUT)?;
                // A stream reads the file forward and seldom revisits a page:
                // SQLite's default 2 MB cache per connection would only fill up
                // (and grow the server's memory) over a long stream.
                connection.execute_batch(&format!(
                    "PRAGMA query_only = ON; PRAGMA cache_size = -{READER_CACHE_KIB};"
                ))
            });

        let pool = r2d2::Pool::builder()
            .max_size(connections.max(1))
            // Connections open on demand: an idle server holds one.
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build_unchecked(manager);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                name,
                layout: LayoutMemory::default(),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The ranks `user_id`'s list keeps, `None` for a user without a list
    /// (in a store that has lists).
    pub async fn bounds(&self, user_id: u64) -> Result<Option<Bounds>, SourceError> {
        let Ok(user) = i64::try_from(user_id) else {
            // No such user can be stored: a SQLite integer is signed 64-bit.
            return Ok(None);
        };
        let store = self.clone();
        self.blocking(move |connection| {
            let bounds = store.bounds_on(connection, user)?;
            if bounds.is_none() {
                store.check_on(connection)?;
            }
            Ok(bounds)
        })
        .await
    }

    fn bounds_on(&self, connection: &Connection, user: i64) -> Result<Option<Bounds>, SourceError> {
        let read = |sql| {
            connection.prepare_cached(sql).and_then(|mut statement| {
                statement
                    .query_row(params![user], |row| {
                        Ok(Bounds::stored(row.get(0)?, row.get(1)?))
                    })
                    .optional()
            })
        };
        match read(BOUNDS_SQL) {
            Err(error) if is_missing(&error, "no such column") => read(BOUNDS_BEFORE_V3_SQL),
            read => read,
        }
        .map_err(|error| self.error(error))
    }

    /// The rank of the first book of `user_id` appended at or after
    /// `time_ms`, `None` when none was.
    pub async fn rank_at_time(
        &self,
        user_id: u64,
        time_ms: u64,
    ) -> Result<Option<u64>, SourceError> {
        let store = self.clone();
        let (user, time) = (stored(user_id), stored(time_ms));
        self.blocking(move |connection| {
            let rank: Option<i64> =
                match connection
                    .prepare_cached(RANK_AT_TIME_SQL)
                    .and_then(|mut statement| {
                        statement
                            .query_row(params![user, time], |row| row.get(0))
                            .optional()
                    }) {
                    // Before migration V3 no append time was kept.
                    Err(error) if is_missing(&error, "no such table") => None,
                    read => read.map_err(|error| store.error(error))?,
                };
            Ok(rank.map(|rank| u64::try_from(rank).unwrap_or(0)))
        })
        .await
    }

    /// Whether the store can serve: reachable, with a schema and at least one list.
    pub async fn check(&self) -> Result<(), SourceError> {
        let store = self.clone();
        self.blocking(move |connection| store.check_on(connection))
            .await
    }

    fn check_on(&self, connection: &Connection) -> Result<(), SourceError> {
        let any: bool = connection
            .query_row(ANY_LIST_SQL, [], |row| row.get(0))
            .map_err(|error| self.error(error))?;
        if any { Ok(()) } else { Err(self.empty()) }
    }

    /// A keyset page reader for one stream.
    pub fn reader(&self) -> Arc<dyn PageReader> {
        Arc::new(page::StreamReader::new(self.clone()))
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, SourceError> + Send + 'static,
    ) -> Result<T, SourceError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = store.connection()?;
            work(&connection)
        })
        .await
        .map_err(|error| SourceError::Failed {
            store: self.name().to_owned(),
            cause: StoreFailure::during("the reader stopped", error),
        })?
    }

    /// A connection from the pool, waiting a moment for one if all are busy.
    fn connection(&self) -> Result<PooledConnection<SqliteConnectionManager>, SourceError> {
        self.inner
            .pool
            .get()
            .map_err(|error| SourceError::Unavailable {
                store: self.name().to_owned(),
                cause: StoreFailure::during("no connection", error),
            })
    }

    fn unknown_user(&self, user_id: u64) -> SourceError {
        SourceError::UnknownUser {
            user_id,
            store: self.name().to_owned(),
        }
    }

    fn empty(&self) -> SourceError {
        SourceError::Empty {
            store: self.name().to_owned(),
        }
    }

    /// SQLite's error in the catalog's words: a missing table means nothing
    /// was loaded yet; a busy or unreadable file means come back later.
    fn error(&self, error: rusqlite::Error) -> SourceError {
        let store = self.name().to_owned();
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            if message
                .as_deref()
                .is_some_and(|message| message.starts_with("no such table"))
            {
                return SourceError::Empty { store };
            }
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
            ) {
                return SourceError::Unavailable {
                    store,
                    cause: StoreFailure::new(describe(&error), error),
                };
            }
        }
        SourceError::Failed {
            store,
            cause: StoreFailure::new(describe(&error), error),
        }
    }
}

fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, read_only_flags())
}
