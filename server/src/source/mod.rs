//! Where books come from: the generated catalog or a store, behind the one
//! abstraction the gRPC and REST edges call. Sources know nothing of HTTP/2
//! or status codes; they answer with [`SourceError`], which each edge
//! translates once.

mod error;
mod layout;
pub mod load;
pub mod postgres;
pub mod select;
pub mod spec;
pub mod sqlite;
pub mod stream;

use std::sync::Arc;

use bookstream::book::BookPage;
use futures::future::BoxFuture;
use prometheus_client::metrics::histogram::Histogram;

pub use error::{SourceError, StoreFailure};
pub use select::{Bounds, End, Selection, Start};
pub use spec::CatalogSpec;
pub use stream::{BookStream, FollowMetrics};

use postgres::PostgresStore;
use sqlite::SqliteStore;
use stream::{PageReader, PagedBooks};

use crate::{answer_log::AnswerLog, follow::Wakeups};

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

    /// The ranks the list of `user_id` keeps; `None`: the user has no list.
    fn bounds(&self, user_id: u64) -> BoxFuture<'_, Result<Option<Bounds>, SourceError>>;

    /// The rank of the first book of `user_id` appended at or after
    /// `time_ms` (ms since the Unix epoch); `None`: none was.
    fn rank_at_time(
        &self,
        user_id: u64,
        time_ms: u64,
    ) -> BoxFuture<'_, Result<Option<u64>, SourceError>>;

    /// Whether the store can serve books now.
    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>>;

    /// A reader for one stream's pages.
    fn reader(&self) -> Arc<dyn PageReader>;
}

impl Store for SqliteStore {
    fn name(&self) -> &str {
        SqliteStore::name(self)
    }

    fn bounds(&self, user_id: u64) -> BoxFuture<'_, Result<Option<Bounds>, SourceError>> {
        Box::pin(SqliteStore::bounds(self, user_id))
    }

    fn rank_at_time(
        &self,
        user_id: u64,
        time_ms: u64,
    ) -> BoxFuture<'_, Result<Option<u64>, SourceError>> {
        Box::pin(SqliteStore::rank_at_time(self, user_id, time_ms))
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

    fn bounds(&self, user_id: u64) -> BoxFuture<'_, Result<Option<Bounds>, SourceError>> {
        Box::pin(PostgresStore::bounds(self, user_id))
    }

    fn rank_at_time(
        &self,
        user_id: u64,
        time_ms: u64,
    ) -> BoxFuture<'_, Result<Option<u64>, SourceError>> {
        Box::pin(PostgresStore::rank_at_time(self, user_id, time_ms))
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
    /// The wake-ups followers wait on.
    wakeups: Wakeups,
    follow_metrics: Option<FollowMetrics>,
}

/// The books a request gets: what is announced before the first, and the stream.
pub struct Books {
    pub announced: Announced,
    pub stream: BookStream,
}

/// What an answer says before its first book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// How many books will come.
    Count(u64),
    /// A follow, which cannot know how many will come: the rank it starts
    /// at, so that a caller who started from the latest book or a time can
    /// resume from the very same place.
    Follow { start: u64 },
}

impl Announced {
    /// The count a one-shot answer announces. One-shot answers never follow
    /// (`Limits::select` refuses them), so they always have one.
    pub fn count(self) -> u64 {
        match self {
            Announced::Count(count) => count,
            Announced::Follow { .. } => 0,
        }
    }
}

impl Books {
    /// The same books, with the count in `log`'s span now and the answer
    /// logged once the stream is dropped.
    pub fn logged(self, log: AnswerLog) -> Self {
        if let Announced::Count(count) = self.announced {
            log.span().record("count", count);
        }
        Self {
            announced: self.announced,
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
        wakeups: Wakeups,
        follow_metrics: Option<FollowMetrics>,
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
            wakeups,
            follow_metrics,
        })
    }

    /// The generated catalog: nothing to open, nothing to check.
    pub fn generated() -> Self {
        Self {
            store: None,
            page_size: 1,
            read_seconds: None,
            wakeups: Wakeups::default(),
            follow_metrics: None,
        }
    }

    /// The wake-ups this catalog's followers wait on.
    pub fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    /// The store behind the catalog; `None` for the generated one.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store.as_ref()
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

    /// The books `selection` asks for. Without follow, the count says how
    /// many will come (fewer than asked when the list is shorter); a follow
    /// sends the books that exist, then each one appended, and has no count.
    pub async fn books(&self, selection: &Selection) -> Result<Books, SourceError> {
        let user_id = selection.user_id;
        let Some(store) = &self.store else {
            return generated_books(selection);
        };
        // Subscribed before the length is read: no commit after it is missed.
        let subscription = selection.follow.then(|| self.wakeups.subscribe(user_id));
        let bounds = match store.bounds(user_id).await? {
            Some(bounds) => bounds,
            // A follow may come before the list's first book.
            None if selection.follow => Bounds::default(),
            None => {
                return Err(SourceError::UnknownUser {
                    user_id,
                    store: self.name().to_owned(),
                });
            }
        };
        let start = match selection.start {
            Start::Rank(rank) => {
                bounds.check_kept(user_id, rank)?;
                if selection.follow && rank > bounds.length {
                    return Err(SourceError::PastEnd {
                        user_id,
                        rank,
                        length: bounds.length,
                    });
                }
                rank
            }
            Start::Earliest => bounds.earliest,
            Start::Latest => bounds.length,
            Start::Time { ms } => store
                .rank_at_time(user_id, ms)
                .await?
                .map_or(bounds.length, |rank| {
                    rank.clamp(bounds.earliest, bounds.length)
                }),
        };
        let end = selection.end_after(start);
        let reader = store.reader();
        match subscription {
            Some(subscription) => {
                let books = PagedBooks::new(
                    reader,
                    user_id,
                    start..end,
                    self.page_size,
                    self.read_seconds.clone(),
                )
                .follow(bounds.length, subscription, self.follow_metrics.clone());
                Ok(Books {
                    announced: Announced::Follow { start },
                    stream: BookStream::paged(books),
                })
            }
            None => {
                let end = end.min(bounds.length);
                let start = start.min(end);
                Ok(Books {
                    announced: Announced::Count(end - start),
                    stream: BookStream::paged(PagedBooks::start(
                        reader,
                        user_id,
                        start..end,
                        self.page_size,
                        self.read_seconds.clone(),
                    )),
                })
            }
        }
    }

    /// Whether the catalog can serve books now.
    pub async fn check(&self) -> Result<(), SourceError> {
        match &self.store {
            None => Ok(()),
            Some(store) => store.check().await,
        }
    }
}

/// The generated lists: every rank exists and none is ever appended, so a
/// follow ends where its books end.
fn generated_books(selection: &Selection) -> Result<Books, SourceError> {
    let start = match selection.start {
        Start::Rank(rank) => rank,
        Start::Earliest => 0,
        Start::Latest => {
            return Err(SourceError::NeverGrows {
                what: "there is no latest book to start after",
            });
        }
        Start::Time { .. } => {
            return Err(SourceError::NeverGrows {
                what: "no book was appended at any time",
            });
        }
    };
    if selection.end == End::Open {
        return Err(SourceError::NeverGrows {
            what: "a follow of one needs max_results",
        });
    }
    let end = selection.end_after(start).max(start);
    Ok(Books {
        announced: Announced::Count(end - start),
        stream: BookStream::generated(selection.user_id, start..end),
    })
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.name())
    }
}
