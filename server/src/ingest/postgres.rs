//! PostgreSQL takes appends through a pool of its own, one transaction per
//! batch. Two locks keep the promises across connections and replicas: the
//! producer's row orders its batches, the user's list row orders its ranks.

use deadpool_postgres::Pool;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;

use super::append::{Ack, AppendError, Batch, Origin, StoreWriter};
use crate::follow::retention::{self, Cut};
use crate::source::{
    StoreFailure,
    load::postgres::migrations,
    postgres::{describe, describe_migration, pool_builder},
    spec::PostgresUrl,
    stored,
};

/// Connections for appends, beside the readers' pool.
const WRITERS: usize = 4;

/// The producer's row, created on its first batch and locked for this one:
/// its batches commit one at a time, in sequence, across connections and replicas.
const LOCK_PRODUCER_SQL: &str = "
    INSERT INTO producers (producer_id, last_sequence) VALUES ($1, 0)
    ON CONFLICT (producer_id) DO UPDATE SET producer_id = excluded.producer_id
    RETURNING last_sequence";
const EARLIER_BATCH_SQL: &str =
    "SELECT user_id, first_rank, books FROM appends WHERE producer_id = $1 AND sequence = $2";
/// The same key again waits for the first request's transaction to end...
const LOCK_KEY_SQL: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
/// ...then finds its answer.
const EARLIER_KEY_SQL: &str =
    "SELECT user_id, first_rank, books FROM idempotency_keys WHERE key = $1";
/// The user's list row, created on its first book and locked: ranks are
/// given in commit order without gaps.
const LOCK_LIST_SQL: &str = "
    INSERT INTO recommendation_lists (user_id, length) VALUES ($1, 0)
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
    RETURNING length";

/// The batch in one statement: the books in their places from rank `$8`
/// on, the list's new length (`$9` more), its commit time and the NOTIFY
/// that wakes followers, and what a resend will be answered with (`$10`,
/// `$11`: the producer and its sequence, or the idempotency key and 0). One
/// statement measured faster than binary COPYs per batch (85,000 against
/// 64,000 books/s in batches of 1,000, when books had a table of their
/// own), which pay more round trips than they save.
macro_rules! write_batch_sql {
    ($remember:literal) => {
        concat!(
            "WITH stamp AS (
                SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
            ), ranks_written AS (
                INSERT INTO recommendations
                    (user_id, rank, score, year, appended_at_ms, title, author, isbn13, genre)
                SELECT $1, $8 + t.n - 1, t.score, t.year, stamp.ms, t.title, t.author, t.isbn13, t.genre
                FROM stamp,
                     unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::real[])
                     WITH ORDINALITY AS t(title, author, isbn13, year, genre, score, n)
            ), list_grown AS (
                UPDATE recommendation_lists SET length = length + $9, loaded_at = now()
                WHERE user_id = $1
            ), time_kept AS (
                -- The NOTIFY is delivered at commit, to every server listening.
                INSERT INTO list_appends (user_id, first_rank, books, committed_at_ms)
                SELECT $1, $8, $9, stamp.ms
                FROM stamp, (SELECT pg_notify('bookstream_appends', $1::text || ' ' || ($8 + $9)::text)) AS notified
            )",
            $remember
        )
    };
}
const WRITE_PRODUCER_BATCH_SQL: &str = write_batch_sql!(
    ", producer_moved AS (
        UPDATE producers SET last_sequence = $11, updated_at = now() WHERE producer_id = $10
    )
    INSERT INTO appends (producer_id, sequence, user_id, first_rank, books)
    VALUES ($10, $11, $1, $8, $9)"
);
const WRITE_KEYED_BATCH_SQL: &str = write_batch_sql!(
    " INSERT INTO idempotency_keys (key, user_id, first_rank, books)
    SELECT $10, $1, $8, $9 WHERE $11::bigint = 0"
);

pub(super) struct PostgresWriter {
    pool: Pool,
    name: String,
    migrated: OnceCell<()>,
}

impl PostgresWriter {
    pub(super) fn new(url: &PostgresUrl) -> Self {
        let pool = pool_builder(url, "bookstream-append", WRITERS)
            .build()
            .expect("a pool with a runtime accepts timeouts");
        Self {
            pool,
            name: url.redacted().to_owned(),
            migrated: OnceCell::new(),
        }
    }

    fn error(&self, error: tokio_postgres::Error) -> AppendError {
        let store = self.name.clone();
        let code = error.as_db_error().map(|db| db.code().clone());
        let cause = StoreFailure::new(describe(&error), error);
        match code {
            Some(SqlState::DISK_FULL) => AppendError::Full { store, cause },
            Some(code) if matches!(code.code().get(..2), Some("08" | "57" | "53" | "40")) => {
                AppendError::Unavailable { store, cause }
            }
            Some(_) => AppendError::Failed { store, cause },
            None => AppendError::Unavailable { store, cause },
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, AppendError> {
        let mut client = self.pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Backend(error) => self.error(error),
            other => AppendError::Unavailable {
                store: self.name.clone(),
                cause: StoreFailure::from_error(other),
            },
        })?;
        // The schema is brought up to date once, at the first append: a
        // server whose database is down at start still starts.
        self.migrated
            .get_or_try_init(|| async {
                migrations::migrations::runner()
                    .run_async(&mut **client)
                    .await
                    .map(|_| ())
                    .map_err(|error| AppendError::Unavailable {
                        store: self.name.clone(),
                        cause: StoreFailure::new(describe_migration(&error), error),
                    })
            })
            .await?;
        Ok(client)
    }

    async fn commit(&self, batch: &Batch) -> Result<Ack, AppendError> {
        let fail = |error| self.error(error);
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(fail)?;
        let user_id = stored(batch.user_id);
        // Prepared once per connection: a batch is three round trips and the commit.
        let prepare = |sql| transaction.prepare_cached(sql);

        let (producer, sequence, earlier) = match &batch.origin {
            Origin::Producer { id, sequence } => {
                let statement = prepare(LOCK_PRODUCER_SQL).await.map_err(fail)?;
                let last: i64 = transaction
                    .query_one(&statement, &[id])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(fail)?;
                let last = u64::try_from(last).unwrap_or(0);
                if *sequence > last + 1 {
                    return Err(AppendError::SequenceGap {
                        producer: id.clone(),
                        expected: last + 1,
                        got: *sequence,
                    });
                }
                let earlier = if *sequence <= last {
                    let statement = prepare(EARLIER_BATCH_SQL).await.map_err(fail)?;
                    transaction
                        .query_opt(&statement, &[id, &stored(*sequence)])
                        .await
                        .map_err(fail)?
                } else {
                    None
                };
                (id.as_str(), stored(*sequence), earlier)
            }
            Origin::Key(key) => {
                let statement = prepare(LOCK_KEY_SQL).await.map_err(fail)?;
                transaction
                    .execute(&statement, &[key])
                    .await
                    .map_err(fail)?;
                let statement = prepare(EARLIER_KEY_SQL).await.map_err(fail)?;
                let earlier = transaction
                    .query_opt(&statement, &[key])
                    .await
                    .map_err(fail)?;
                (key.as_str(), 0, earlier)
            }
        };
        if let Some(row) = earlier {
            let number = |index| -> Result<u64, AppendError> {
                let value: i64 = row.try_get(index).map_err(fail)?;
                Ok(u64::try_from(value).unwrap_or(0))
            };
            return Ok(Ack {
                user_id: number(0)?,
                first_rank: number(1)?,
                books: number(2)?,
                duplicate: true,
            });
        }

        let statement = prepare(LOCK_LIST_SQL).await.map_err(fail)?;
        let length: i64 = transaction
            .query_one(&statement, &[&user_id])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(fail)?;
        let column = |field: fn(&super::records::NewBook) -> &str| -> Vec<&str> {
            batch.books.iter().map(field).collect()
        };
        let years: Vec<i32> = batch
            .books
            .iter()
            .map(|book| i32::try_from(book.year).unwrap_or(i32::MAX))
            .collect();
        let scores: Vec<f32> = batch.books.iter().map(|book| book.score).collect();
        let books = i64::try_from(batch.books.len()).unwrap_or(i64::MAX);
        let write = match batch.origin {
            Origin::Producer { .. } => WRITE_PRODUCER_BATCH_SQL,
            Origin::Key(_) => WRITE_KEYED_BATCH_SQL,
        };
        let statement = prepare(write).await.map_err(fail)?;
        transaction
            .execute(
                &statement,
                &[
                    &user_id,
                    &column(|book| &book.title),
                    &column(|book| &book.author),
                    &column(|book| &book.isbn13),
                    &years,
                    &column(|book| &book.genre),
                    &scores,
                    &length,
                    &books,
                    &producer,
                    &sequence,
                ],
            )
            .await
            .map_err(fail)?;
        transaction.commit().await.map_err(fail)?;
        Ok(Ack {
            user_id: batch.user_id,
            first_rank: u64::try_from(length).unwrap_or(0),
            books: batch.books.len() as u64,
            duplicate: false,
        })
    }
}

impl StoreWriter for PostgresWriter {
    fn append(&self, batch: Batch) -> BoxFuture<'_, Result<Ack, AppendError>> {
        Box::pin(async move { self.commit(&batch).await })
    }

    fn trim(&self, cut: Cut) -> BoxFuture<'_, Result<u64, AppendError>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            retention::postgres::trim(&mut client, cut)
                .await
                .map_err(|error| self.error(error))
        })
    }

    fn remove_trimmed(&self, limit: u64) -> BoxFuture<'_, Result<u64, AppendError>> {
        Box::pin(async move {
            let client = self.client().await?;
            retention::postgres::remove(&**client, limit)
                .await
                .map_err(|error| self.error(error))
        })
    }
}
