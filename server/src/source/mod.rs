//! Where books come from: the generated catalog or a store, behind the one
//! abstraction the gRPC and REST edges call. Sources know nothing of HTTP/2
//! or status codes; they answer with [`SourceError`], which each edge
//! translates once.

mod error;
pub mod load;
pub mod postgres;
pub mod spec;
pub mod sqlite;
pub mod stream;

use std::ops::Range;

use bookstream::book::BookPage;
use prometheus_client::metrics::histogram::Histogram;

pub use error::{SourceError, StoreFailure};
pub use spec::CatalogSpec;
pub use stream::BookStream;

use postgres::PostgresStore;
use sqlite::SqliteStore;
use stream::PagedBooks;

use crate::answer_log::AnswerLog;

/// Whether a store holds any list at all: one that holds none has nothing to serve.
const ANY_LIST_SQL: &str = "SELECT EXISTS (SELECT 1 FROM recommendation_lists WHERE length > 0)";

/// A typical book is about 80 bytes of text.
const TYPICAL_TEXT_BYTES: usize = 96;

/// An empty page with room for `limit` typical books, so reading one never regrows it.
fn page_for(limit: i64) -> BookPage {
    let capacity = usize::try_from(limit).unwrap_or(0);
    BookPage::with_capacity(capacity, capacity * TYPICAL_TEXT_BYTES)
}

/// Users, ranks and lengths are signed 64-bit in both stores; [`load::UserRange`]
/// keeps loaded users in range, and no list is longer than `i64::MAX`.
pub(crate) fn stored(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// How the server reads a store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Rows per database read.
    pub page_size: u64,
    /// Most connections to a PostgreSQL store.
    pub pool_size: u32,
    /// Most streams at once: the SQLite pool is sized to read for all of them.
    pub max_streams: u32,
}

/// The catalog a server streams from; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Store,
    page_size: u64,
    /// Times every page read from a store, when metrics are on.
    read_seconds: Option<Histogram>,
}

#[derive(Clone)]
enum Store {
    Generated,
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// The books a request gets: how many, announced before the first, and the stream.
pub struct Books {
    pub count: u64,
    pub stream: BookStream,
}

impl Books {
    /// The same books, with the count in `log`'s span now and the answer
    /// logged once the stream is dropped.
    pub fn logged(self, log: AnswerLog) -> Self {
        log.span().record("count", self.count);
        Self {
            count: self.count,
            stream: self.stream.logged(log),
        }
    }
}

/// A `--catalog` that cannot be used at all: the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] sqlite::OpenError),
}

impl Catalog {
    /// Opens the catalog named by `spec`. A wrong SQLite file fails here; an
    /// unreachable PostgreSQL does not (the server starts, not serving, and
    /// serves once the database is back).
    pub fn open(
        spec: &CatalogSpec,
        options: StoreOptions,
        read_seconds: Option<Histogram>,
    ) -> Result<Self, OpenError> {
        let store = match spec {
            CatalogSpec::Generated => Store::Generated,
            CatalogSpec::Sqlite(path) => {
                Store::Sqlite(SqliteStore::open(path, options.max_streams)?)
            }
            CatalogSpec::Postgres(url) => {
                Store::Postgres(PostgresStore::connect(url, options.pool_size as usize))
            }
        };
        Ok(Self {
            store,
            page_size: options.page_size,
            read_seconds,
        })
    }

    /// The generated catalog: nothing to open, nothing to check.
    pub fn generated() -> Self {
        Self {
            store: Store::Generated,
            page_size: 1,
            read_seconds: None,
        }
    }

    /// Whether books are generated rather than read from a store.
    pub fn is_generated(&self) -> bool {
        matches!(self.store, Store::Generated)
    }

    /// The catalog's password-free name.
    pub fn name(&self) -> &str {
        match &self.store {
            Store::Generated => "generated",
            Store::Sqlite(store) => store.name(),
            Store::Postgres(store) => store.name(),
        }
    }

    /// The books of `user_id` with ranks in `ranks`, or fewer when the
    /// user's list is shorter: the count says how many will come.
    pub async fn books(&self, user_id: u64, ranks: Range<u64>) -> Result<Books, SourceError> {
        let (reader, length) = match &self.store {
            Store::Generated => {
                return Ok(Books {
                    count: ranks.end - ranks.start,
                    stream: BookStream::generated(user_id, ranks),
                });
            }
            Store::Sqlite(store) => (store.reader(), store.list_length(user_id).await?),
            Store::Postgres(store) => (store.reader(), store.list_length(user_id).await?),
        };
        if length == 0 {
            return Err(SourceError::UnknownUser {
                user_id,
                store: self.name().to_owned(),
            });
        }
        let end = ranks.end.min(length);
        let start = ranks.start.min(end);
        Ok(Books {
            count: end - start,
            stream: BookStream::paged(PagedBooks::start(
                reader,
                user_id,
                start..end,
                self.page_size,
                self.read_seconds.clone(),
            )),
        })
    }

    /// Whether the catalog can serve books now.
    pub async fn check(&self) -> Result<(), SourceError> {
        match &self.store {
            Store::Generated => Ok(()),
            Store::Sqlite(store) => store.check().await,
            Store::Postgres(store) => store.check().await,
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.name())
    }
}
