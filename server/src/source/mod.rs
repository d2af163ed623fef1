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

use std::{ops::Range, sync::Arc};

use bookstream::book::BookPage;
use futures::future::BoxFuture;
use prometheus_client::metrics::histogram::Histogram;

pub use error::{SourceError, StoreFailure};
pub use spec::CatalogSpec;
pub use stream::BookStream;

use postgres::PostgresStore;
use sqlite::SqliteStore;
use stream::{PageReader, PagedBooks};

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

/// A store of users' lists (SQLite, PostgreSQL): the one abstraction the
/// catalog reads through. The generated catalog needs none.
pub trait Store: Send + Sync + 'static {
    /// The store's password-free name.
    fn name(&self) -> &str;

    /// How many books the list of `user_id` holds (0: no list).
    fn list_length(&self, user_id: u64) -> BoxFuture<'_, Result<u64, SourceError>>;

    /// Whether the store can serve books now.
    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>>;

    /// A reader for one stream's pages.
    fn reader(&self) -> Arc<dyn PageReader>;
}

impl Store for SqliteStore {
    fn name(&self) -> &str {
        SqliteStore::name(self)
    }

    fn list_length(&self, user_id: u64) -> BoxFuture<'_, Result<u64, SourceError>> {
        Box::pin(SqliteStore::list_length(self, user_id))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(SqliteStore::check(self))
    }

    fn reader(&self) -> Arc<dyn PageReader> {
        SqliteStore::reader(self)
    }
}

impl Store for PostgresStore {
    fn name(&self) -> &str {
        PostgresStore::name(self)
    }

    fn list_length(&self, user_id: u64) -> BoxFuture<'_, Result<u64, SourceError>> {
        Box::pin(PostgresStore::list_length(self, user_id))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(PostgresStore::check(self))
    }

    fn reader(&self) -> Arc<dyn PageReader> {
        PostgresStore::reader(self)
    }
}

/// The catalog a server streams from; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    /// `None`: the generated catalog.
    store: Option<Arc<dyn Store>>,
    page_size: u64,
    /// Times every page read from a store, when metrics are on.
    read_seconds: Option<Histogram>,
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
        let store: Option<Arc<dyn Store>> = match spec {
            CatalogSpec::Generated => None,
            CatalogSpec::Sqlite(path) => {
                Some(Arc::new(SqliteStore::open(path, options.max_streams)?))
            }
            CatalogSpec::Postgres(url) => Some(Arc::new(PostgresStore::connect(
                url,
                options.pool_size as usize,
            ))),
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
            store: None,
            page_size: 1,
            read_seconds: None,
        }
    }

    /// Whether books are generated rather than read from a store.
    pub fn is_generated(&self) -> bool {
        self.store.is_none()
    }

    /// The catalog's password-free name.
    pub fn name(&self) -> &str {
        match &self.store {
            None => "generated",
            Some(store) => store.name(),
        }
    }

    /// The books of `user_id` with ranks in `ranks`, or fewer when the
    /// user's list is shorter: the count says how many will come.
    pub async fn books(&self, user_id: u64, ranks: Range<u64>) -> Result<Books, SourceError> {
        let Some(store) = &self.store else {
            return Ok(Books {
                count: ranks.end - ranks.start,
                stream: BookStream::generated(user_id, ranks),
            });
        };
        let length = store.list_length(user_id).await?;
        let reader = store.reader();
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
            None => Ok(()),
            Some(store) => store.check().await,
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.name())
    }
}
