//! PostgreSQL takes appends through a pool of its own, one transaction per
//! batch. Two locks keep the promises across connections and replicas: the
//! producer's row orders its batches, the user's list row orders its ranks.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use tokio_postgres::{NoTls, error::SqlState};

use super::append::{Ack, AppendError, Batch, Origin, StoreWriter};
use crate::source::{
    StoreFailure,
    load::postgres::migrations,
    postgres::{describe, describe_migration},
    spec::PostgresUrl,
    stored,
};

/// Connections for appends, beside the readers' pool.
const WRITERS: usize = 4;
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The batch's books and ranks in one statement: ids from the shared
/// sequence, the books, then their places in the list.
const INSERT_SQL: &str = "
    WITH new AS (
        SELECT nextval('book_ids') AS book_id, t.*
        FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::real[])
             WITH ORDINALITY AS t(title, author, isbn13, year, genre, score, n)
    ), books_written AS (
        INSERT INTO books (book_id, title, author, isbn13, year, genre)
        SELECT book_id, title, author, isbn13, year, genre FROM new
    )
    INSERT INTO recommendations (user_id, rank, book_id, score)
    SELECT $1, $8 + n - 1, book_id, score FROM new";

pub(super) struct PostgresWriter {
    pool: Pool,
    name: String,
    migrated: OnceCell<()>,
}

impl PostgresWriter {
    pub(super) fn new(url: &PostgresUrl) -> Self {
        let mut config = url.config().clone();
        config
            .application_name("bookstream-append")
            .connect_timeout(TIMEOUT);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(WRITERS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
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

        let earlier = match &batch.origin {
            Origin::Producer { id, sequence } => {
                transaction
                    .execute(
                        "INSERT INTO producers (producer_id, last_sequence) VALUES ($1, 0)
                         ON CONFLICT DO NOTHING",
                        &[id],
                    )
                    .await
                    .map_err(fail)?;
                let last: i64 = transaction
                    .query_one(
                        "SELECT last_sequence FROM producers WHERE producer_id = $1 FOR UPDATE",
                        &[id],
                    )
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
                if *sequence <= last {
                    transaction
                        .query_opt(
                            "SELECT user_id, first_rank, books FROM appends
                             WHERE producer_id = $1 AND sequence = $2",
                            &[id, &stored(*sequence)],
                        )
                        .await
                        .map_err(fail)?
                } else {
                    None
                }
            }
            Origin::Key(key) => {
                // Two requests with one key: the second waits, then finds the first's answer.
                transaction
                    .execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        &[key],
                    )
                    .await
                    .map_err(fail)?;
                transaction
                    .query_opt(
                        "SELECT user_id, first_rank, books FROM idempotency_keys WHERE key = $1",
                        &[key],
                    )
                    .await
                    .map_err(fail)?
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

        transaction
            .execute(
                "INSERT INTO recommendation_lists (user_id, length) VALUES ($1, 0)
                 ON CONFLICT DO NOTHING",
                &[&user_id],
            )
            .await
            .map_err(fail)?;
        let length: i64 = transaction
            .query_one(
                "SELECT length FROM recommendation_lists WHERE user_id = $1 FOR UPDATE",
                &[&user_id],
            )
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
        transaction
            .execute(
                INSERT_SQL,
                &[
                    &user_id,
                    &column(|book| &book.title),
                    &column(|book| &book.author),
                    &column(|book| &book.isbn13),
                    &years,
                    &column(|book| &book.genre),
                    &scores,
                    &length,
                ],
            )
            .await
            .map_err(fail)?;
        let books = i64::try_from(batch.books.len()).unwrap_or(i64::MAX);
        transaction
            .execute(
                "UPDATE recommendation_lists SET length = length + $2, loaded_at = now()
                 WHERE user_id = $1",
                &[&user_id, &books],
            )
            .await
            .map_err(fail)?;
        match &batch.origin {
            Origin::Producer { id, sequence } => {
                transaction
                    .execute(
                        "UPDATE producers SET last_sequence = $2, updated_at = now()
                         WHERE producer_id = $1",
                        &[id, &stored(*sequence)],
                    )
                    .await
                    .map_err(fail)?;
                transaction
                    .execute(
                        "INSERT INTO appends (producer_id, sequence, user_id, first_rank, books)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[id, &stored(*sequence), &user_id, &length, &books],
                    )
                    .await
                    .map_err(fail)?;
            }
            Origin::Key(key) => {
                transaction
                    .execute(
                        "INSERT INTO idempotency_keys (key, user_id, first_rank, books)
                         VALUES ($1, $2, $3, $4)",
                        &[key, &user_id, &length, &books],
                    )
                    .await
                    .map_err(fail)?;
            }
        }
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
}
