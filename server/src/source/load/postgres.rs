//! The PostgreSQL bulk path: one transaction, `COPY … FROM STDIN (FORMAT binary)`.

use bookstream::catalog;
use futures::pin_mut;
use tokio_postgres::{
    NoTls,
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};

use super::{LoadError, LoadRequest, PROGRESS_BATCH, Progress};
use crate::source::{
    StoreFailure,
    postgres::{describe, describe_migration},
    spec::PostgresUrl,
    stored,
};

pub(crate) mod migrations {
    refinery::embed_migrations!("src/source/migrations/postgres");
}

/// The binary COPY of every bulk load (each row a ranked book, with no
/// append time), and its columns' types.
pub(crate) const COPY_LIST_SQL: &str = "COPY recommendations
    (user_id, rank, score, year, title, author, isbn13, genre) FROM STDIN (FORMAT binary)";
pub(crate) const LIST_COLUMNS: [Type; 8] = [
    Type::INT8,
    Type::INT8,
    Type::FLOAT4,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Taken by every bulk load: readers go on reading the old lists; appends
/// and a second load wait their turn.
pub(crate) const LOCK_SQL: &str =
    "LOCK TABLE recommendations, recommendation_lists IN SHARE ROW EXCLUSIVE MODE";

/// Migrates the database at `url` up to `version` only (see [`super::migrate_to`]).
pub(super) async fn migrate_to(url: &PostgresUrl, version: i32) -> Result<(), LoadError> {
    let (mut client, connection) = open(url).await?;
    let migrated = migrations::migrations::runner()
        .set_target(refinery::Target::Version(version))
        .run_async(&mut client)
        .await
        .map_err(|error| LoadError::Migration {
            store: url.redacted().to_owned(),
            cause: StoreFailure::new(describe_migration(&error), error),
        });
    drop(client);
    let _ = connection.await;
    migrated.map(drop)
}

/// A connection for a bulk load and its driver task.
type Connection = (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
);

/// A connection for a bulk load (`server load`, with or without `--from`),
/// its driver task, and the schema migrated.
pub(crate) async fn connect(url: &PostgresUrl) -> Result<Connection, LoadError> {
    let (mut client, connection) = open(url).await?;
    migrations::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|error| LoadError::Migration {
            store: url.redacted().to_owned(),
            cause: StoreFailure::new(describe_migration(&error), error),
        })?;
    Ok((client, connection))
}

async fn open(url: &PostgresUrl) -> Result<Connection, LoadError> {
    let mut config = url.config().clone();
    config.application_name("bookstream-load");
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|error| LoadError::Postgres {
                store: url.redacted().to_owned(),
                cause: StoreFailure::new(describe(&error), error),
            })?;
    Ok((client, tokio::spawn(connection)))
}

/// Loads `request` into the database at `url`.
pub(super) async fn load(
    url: &PostgresUrl,
    request: LoadRequest,
    progress: &Progress,
) -> Result<(), LoadError> {
    let store = url.redacted().to_owned();
    let fail = |error: tokio_postgres::Error| LoadError::Postgres {
        store: store.clone(),
        cause: StoreFailure::new(describe(&error), error),
    };
    let (mut client, connection) = connect(url).await?;
    let transaction = client.transaction().await.map_err(fail)?;
    transaction.batch_execute(LOCK_SQL).await.map_err(fail)?;
    let (first, last) = (stored(request.users.first), stored(request.users.last));
    let others: i64 = transaction
        .query_one(
            "SELECT count(*) FROM recommendation_lists WHERE user_id NOT BETWEEN $1 AND $2",
            &[&first, &last],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;
    if others == 0 {
        // Every list is replaced: emptying the tables beats deleting row by
        // row, and leaves no dead rows behind. Readers wait for the commit.
        transaction
            .batch_execute("TRUNCATE recommendations, recommendation_lists, list_appends")
            .await
            .map_err(fail)?;
    } else {
        for table in ["recommendations", "recommendation_lists", "list_appends"] {
            transaction
                .execute(
                    &format!("DELETE FROM {table} WHERE user_id BETWEEN $1 AND $2"),
                    &[&first, &last],
                )
                .await
                .map_err(fail)?;
        }
    }
    progress.phase("copying books");
    let sink = transaction.copy_in(COPY_LIST_SQL).await.map_err(fail)?;
    let rows = BinaryCopyInWriter::new(sink, &LIST_COLUMNS);
    pin_mut!(rows);
    for user in request.users.iter() {
        let user_id = stored(user);
        for book in catalog::books(user, 0..request.books) {
            let (rank, year) = (
                stored(book.id),
                i32::try_from(book.year).unwrap_or(i32::MAX),
            );
            let row: [&(dyn ToSql + Sync); 8] = [
                &user_id,
                &rank,
                &book.score,
                &year,
                &book.title,
                &book.author,
                &book.isbn13,
                &book.genre,
            ];
            rows.as_mut().write(&row).await.map_err(fail)?;
            if (book.id + 1) % PROGRESS_BATCH == 0 {
                progress.advance(PROGRESS_BATCH);
            }
        }
        progress.advance(request.books % PROGRESS_BATCH);
    }
    rows.finish().await.map_err(fail)?;

    transaction
        .execute(
            "INSERT INTO recommendation_lists (user_id, length)
             SELECT user_id, $3 FROM generate_series($1::bigint, $2::bigint) AS user_id",
            &[&first, &last, &stored(request.books)],
        )
        .await
        .map_err(fail)?;
    // Fresh statistics: the planner would otherwise plan the next load's
    // deletes, and the streams' page reads, for the tables as they were.
    progress.phase("analysing");
    transaction
        .batch_execute("ANALYZE recommendations, recommendation_lists")
        .await
        .map_err(fail)?;
    progress.phase("committing");
    transaction.commit().await.map_err(fail)?;
    drop(client);
    // The connection task ends once the client is gone; its error, if any, was already seen.
    let _ = connection.await;
    Ok(())
}
