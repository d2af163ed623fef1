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

pub use error::SourceError;
pub use spec::CatalogSpec;
pub use stream::BookStream;

use postgres::PostgresStore;
use sqlite::SqliteStore;
use stream::PagedBooks;

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
pub enum Catalog {
    Generated,
    Sqlite {
        store: SqliteStore,
        page_size: u64,
    },
    Postgres {
        store: PostgresStore,
        page_size: u64,
    },
}

/// The books a request gets: how many, announced before the first, and the stream.
pub struct Books {
    pub count: u64,
    pub stream: BookStream,
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
    pub fn open(spec: &CatalogSpec, options: StoreOptions) -> Result<Self, OpenError> {
        Ok(match spec {
            CatalogSpec::Generated => Catalog::Generated,
            CatalogSpec::Sqlite(path) => Catalog::Sqlite {
                store: SqliteStore::open(path, options.max_streams)?,
                page_size: options.page_size,
            },
            CatalogSpec::Postgres(url) => Catalog::Postgres {
                store: PostgresStore::connect(url, options.pool_size as usize),
                page_size: options.page_size,
            },
        })
    }

    /// The catalog's password-free name.
    pub fn name(&self) -> &str {
        match self {
            Catalog::Generated => "generated",
            Catalog::Sqlite { store, .. } => store.name(),
            Catalog::Postgres { store, .. } => store.name(),
        }
    }

    /// The books of `user_id` with ranks in `ranks`, or fewer when the
    /// user's list is shorter: the count says how many will come.
    pub async fn books(&self, user_id: u64, ranks: Range<u64>) -> Result<Books, SourceError> {
        let (reader, length, page_size) = match self {
            Catalog::Generated => {
                return Ok(Books {
                    count: ranks.end - ranks.start,
                    stream: BookStream::generated(user_id, ranks),
                });
            }
            Catalog::Sqlite { store, page_size } => (
                store.reader(),
                store.list_length(user_id).await?,
                *page_size,
            ),
            Catalog::Postgres { store, page_size } => (
                store.reader(),
                store.list_length(user_id).await?,
                *page_size,
            ),
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
            stream: BookStream::Paged(PagedBooks::start(reader, user_id, start..end, page_size)),
        })
    }

    /// Whether the catalog can serve books now.
    pub async fn check(&self) -> Result<(), SourceError> {
        match self {
            Catalog::Generated => Ok(()),
            Catalog::Sqlite { store, .. } => store.check().await,
            Catalog::Postgres { store, .. } => store.check().await,
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.name())
    }
}
