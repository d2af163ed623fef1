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

/// The two binary COPYs of every bulk load, and their columns' types.
pub(crate) const COPY_BOOKS_SQL: &str =
    "COPY books (book_id, title, author, isbn13, year, genre) FROM STDIN (FORMAT binary)";
pub(crate) const BOOK_COLUMNS: [Type; 6] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
];
pub(crate) const COPY_RANKS_SQL: &str =
    "COPY recommendations (user_id, rank, book_id, score) FROM STDIN (FORMAT binary)";
pub(crate) const RANK_COLUMNS: [Type; 4] = [Type::INT8, Type::INT8, Type::INT8, Type::FLOAT4];

/// Taken by every bulk load: readers go on reading the old lists; appends
/// and a second load wait their turn.
pub(crate) const LOCK_SQL: &str =
    "LOCK TABLE books, recommendations, recommendation_lists IN SHARE ROW EXCLUSIVE MODE";

/// A connection for a bulk load (`server load`, with or without `--from`),
/// its driver task, and the schema migrated.
pub(crate) async fn connect(
    url: &PostgresUrl,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ),
    LoadError,
> {
    let store = url.redacted().to_owned();
    let mut config = url.config().clone();
    config.application_name("bookstream-load");
    let (mut client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|error| LoadError::Postgres {
                store: store.clone(),
                cause: StoreFailure::new(describe(&error), error),
            })?;
    let connection = tokio::spawn(connection);
    migrations::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|error| LoadError::Migration {
            store,
            cause: StoreFailure::new(describe_migration(&error), error),
        })?;
    Ok((client, connection))
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
            .batch_execute("TRUNCATE books, recommendations, recommendation_lists, list_appends")
            .await
            .map_err(fail)?;
    } else {
        transaction
            .execute(
                "DELETE FROM books WHERE book_id IN
                     (SELECT book_id FROM recommendations WHERE user_id BETWEEN $1 AND $2)",
                &[&first, &last],
            )
            .await
            .map_err(fail)?;
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
    let first_book_id: i64 = transaction
        .query_one("SELECT coalesce(max(book_id), 0) + 1 FROM books", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;

    progress.phase("copying books");
    let sink = transaction.copy_in(COPY_BOOKS_SQL).await.map_err(fail)?;
    let books = BinaryCopyInWriter::new(sink, &BOOK_COLUMNS);
    pin_mut!(books);
    let mut book_id = first_book_id;
    for user in request.users.iter() {
        for book in catalog::books(user, 0..request.books) {
            let year = i32::try_from(book.year).unwrap_or(i32::MAX);
            let row: [&(dyn ToSql + Sync); 6] = [
                &book_id,
                &book.title,
                &book.author,
                &book.isbn13,
                &year,
                &book.genre,
            ];
            books.as_mut().write(&row).await.map_err(fail)?;
            book_id += 1;
            if (book.id + 1) % PROGRESS_BATCH == 0 {
                progress.advance(PROGRESS_BATCH);
            }
        }
        progress.advance(request.books % PROGRESS_BATCH);
    }
    books.finish().await.map_err(fail)?;

    // The lists need no catalog text: rank, book and score follow from the order.
    progress.phase("copying lists");
    progress.restart();
    let sink = transaction.copy_in(COPY_RANKS_SQL).await.map_err(fail)?;
    let lists = BinaryCopyInWriter::new(sink, &RANK_COLUMNS);
    pin_mut!(lists);
    let mut book_id = first_book_id;
    for user in request.users.iter() {
        let user_id = stored(user);
        for rank in 0..request.books {
            let (stored_rank, score) = (stored(rank), catalog::score(rank));
            let row: [&(dyn ToSql + Sync); 4] = [&user_id, &stored_rank, &book_id, &score];
            lists.as_mut().write(&row).await.map_err(fail)?;
            book_id += 1;
            if (rank + 1) % PROGRESS_BATCH == 0 {
                progress.advance(PROGRESS_BATCH);
            }
        }
        progress.advance(request.books % PROGRESS_BATCH);
    }
    lists.finish().await.map_err(fail)?;

    transaction
        .execute(
            "INSERT INTO recommendation_lists (user_id, length)
             SELECT user_id, $3 FROM generate_series($1::bigint, $2::bigint) AS user_id",
            &[&first, &last, &stored(request.books)],
        )
        .await
        .map_err(fail)?;
    // Appends take ids from this sequence: move it past the ids just written.
    transaction
        .batch_execute(
            "SELECT setval('book_ids', (SELECT coalesce(max(book_id), 0) + 1 FROM books), false)",
        )
        .await
        .map_err(fail)?;
    // Fresh statistics: the planner would otherwise plan the next load's
    // deletes, and the streams' page reads, for the tables as they were.
    progress.phase("analysing");
    transaction
        .batch_execute("ANALYZE books, recommendations, recommendation_lists")
        .await
        .map_err(fail)?;
    progress.phase("committing");
    transaction.commit().await.map_err(fail)?;
    drop(client);
    // The connection task ends once the client is gone; its error, if any, was already seen.
    let _ = connection.await;
    Ok(())
}
