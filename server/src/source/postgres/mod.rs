//! The PostgreSQL store, through a pool of `tokio-postgres` connections.
//! The pool connects lazily: a server whose database is down still starts,
//! reports itself not serving, and serves as soon as the database is back.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, PoolBuilder, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{NoTls, error::SqlState};

mod describe;
mod page;

use describe::is_unavailable;
pub(crate) use describe::{describe, describe_migration};

use super::{
    ANY_LIST_SQL, SourceError, error::StoreFailure, layout::LayoutMemory, select::Bounds,
    spec::PostgresUrl, stored, stream::PageReader,
};

/// A list's kept ranks. `first_rank` came with retention (migration V3); a
/// store migrated only by older servers has kept every rank.
const BOUNDS_SQL: &str = "SELECT first_rank, length FROM recommendation_lists WHERE user_id = $1";
const BOUNDS_BEFORE_V3_SQL: &str =
    "SELECT 0::bigint, length FROM recommendation_lists WHERE user_id = $1";
/// The first book appended at or after a time (times only grow with rank).
const RANK_AT_TIME_SQL: &str = "
    SELECT first_rank FROM list_appends
    WHERE user_id = $1 AND committed_at_ms >= $2
    ORDER BY committed_at_ms, first_rank
    LIMIT 1";

/// Session settings for keyset reads of a thousand rows. A page query that
/// PostgreSQL re-plans for every page costs more to plan than to run, and
/// the generic plan it would cache instead starts parallel workers per page;
/// one plain generic plan, made once per connection, is the right plan for
/// every page. Engines without these settings keep their own planners.
const SESSION_SETTINGS: [&str; 3] = [
    "SET plan_cache_mode = force_generic_plan",
    "SET max_parallel_workers_per_gather = 0",
    "SET jit = off",
];

/// The name the server's connections carry in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "bookstream-server";
/// Longest wait for a new connection, or for a free one from the pool.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of up to `size` connections to `url`, named `application` in
/// `pg_stat_activity`. It connects lazily (a server whose database is down
/// still starts) and replaces a connection the database closed on checkout.
pub(crate) fn pool_builder(url: &PostgresUrl, application: &str, size: usize) -> PoolBuilder {
    let mut config = url.config().clone();
    config
        .application_name(application)
        .connect_timeout(CONNECT_TIMEOUT);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
}

/// A PostgreSQL catalog behind a connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    name: String,
    layout: LayoutMemory,
}

impl PostgresStore {
    /// Prepares a pool of up to `pool_size` connections; none is opened yet.
    pub fn connect(url: &PostgresUrl, pool_size: usize) -> Self {
        let pool = pool_builder(url, APPLICATION_NAME, pool_size)
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    for setting in SESSION_SETTINGS {
                        if let Err(error) = client.batch_execute(setting).await {
                            if client.is_closed() {
                                return Err(HookError::Backend(error));
                            }
                            tracing::debug!("the database ignores `{setting}`: {error}");
                        }
                    }
                    Ok(())
                })
            }))
            .build()
            .expect("a pool with a runtime accepts timeouts");
        Self {
            inner: Arc::new(Inner {
                pool,
                name: url.redacted().to_owned(),
                layout: LayoutMemory::default(),
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The ranks `user_id`'s list keeps, `None` for a user without a list
    /// (in a store that has lists).
    pub async fn bounds(&self, user_id: u64) -> Result<Option<Bounds>, SourceError> {
        let Ok(user) = i64::try_from(user_id) else {
            // No such user can be stored: a BIGINT is signed.
            return Ok(None);
        };
        let client = self.client().await?;
        let bounds = match self.bounds_with(&client, user).await {
            Ok(None) => self.check_with(&client).await.map(|()| None),
            other => other,
        };
        self.release(client, &bounds);
        bounds
    }

    async fn bounds_with(
        &self,
        client: &deadpool_postgres::Client,
        user: i64,
    ) -> Result<Option<Bounds>, SourceError> {
        let read = |sql| async move {
            let statement = client.prepare_cached(sql).await?;
            let row = client.query_opt(&statement, &[&user]).await?;
            row.map(|row| {
                Ok::<_, tokio_postgres::Error>(Bounds::stored(row.try_get(0)?, row.try_get(1)?))
            })
            .transpose()
        };
        match read(BOUNDS_SQL).await {
            Err(error) if error.code() == Some(&SqlState::UNDEFINED_COLUMN) => {
                read(BOUNDS_BEFORE_V3_SQL).await
            }
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
        let client = self.client().await?;
        let (user, time) = (stored(user_id), stored(time_ms));
        let read = async {
            let statement = client.prepare_cached(RANK_AT_TIME_SQL).await?;
            let row = client.query_opt(&statement, &[&user, &time]).await?;
            row.map(|row| row.try_get::<_, i64>(0)).transpose()
        };
        let rank = match read.await {
            // Before migration V3 no append time was kept.
            Err(error) if error.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
            read => read.map_err(|error| self.error(error)),
        };
        self.release(client, &rank);
        Ok(rank?.map(|rank| u64::try_from(rank).unwrap_or(0)))
    }

    /// Whether the store can serve: reachable, with a schema and at least one list.
    pub async fn check(&self) -> Result<(), SourceError> {
        let client = self.client().await?;
        let checked = self.check_with(&client).await;
        self.release(client, &checked);
        checked
    }

    /// Returns `client` to the pool, unless its connection broke under the
    /// last query: the pool notices a closed connection only once its task
    /// has seen the socket close, and the next stream must not get it first.
    fn release<T>(&self, client: deadpool_postgres::Client, result: &Result<T, SourceError>) {
        if matches!(result, Err(SourceError::Unavailable { .. })) {
            drop(deadpool_postgres::Object::take(client));
        }
    }

    async fn check_with(&self, client: &deadpool_postgres::Client) -> Result<(), SourceError> {
        let any: bool = client
            .query_one(ANY_LIST_SQL, &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|error| self.error(error))?;
        if any {
            Ok(())
        } else {
            Err(SourceError::Empty {
                store: self.name().to_owned(),
            })
        }
    }

    /// The keyset page reader for streams.
    pub fn reader(&self) -> Arc<dyn PageReader> {
        Arc::new(self.clone())
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, SourceError> {
        self.inner.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => self.error(error),
            other => SourceError::Unavailable {
                store: self.name().to_owned(),
                cause: StoreFailure::from_error(other),
            },
        })
    }

    fn unknown_user(&self, user_id: u64) -> SourceError {
        SourceError::UnknownUser {
            user_id,
            store: self.name().to_owned(),
        }
    }

    /// The driver's error in the catalog's words: a missing table means
    /// nothing was loaded yet; a lost or refused connection, come back later.
    fn error(&self, error: tokio_postgres::Error) -> SourceError {
        let store = self.name().to_owned();
        let code = error.as_db_error().map(|db| db.code().clone());
        let cause = StoreFailure::new(describe(&error), error);
        match code {
            Some(SqlState::UNDEFINED_TABLE) => SourceError::Empty { store },
            Some(code) if is_unavailable(&code) => SourceError::Unavailable { store, cause },
            Some(_) => SourceError::Failed { store, cause },
            // Not the database's answer: the connection itself failed.
            None => SourceError::Unavailable { store, cause },
        }
    }
}
