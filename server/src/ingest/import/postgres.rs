//! The PostgreSQL path of an import: the good rows are copied (binary COPY)
//! into a temporary table as they are read, then written into the catalog's
//! tables by SQL in the same transaction, ranks given in file order.

use futures::pin_mut;
use tokio::sync::mpsc;
use tokio_postgres::{
    NoTls,
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};

use super::{Checked, ImportError, Mode};
use crate::{
    ingest::records::{ImportRow, Rows},
    source::{
        StoreFailure,
        load::{Progress, postgres::migrations},
        postgres::{describe, describe_migration},
        spec::PostgresUrl,
        stored,
    },
};

/// Rows handed from the reading thread to the copy at a time.
const CHUNK: usize = 4096;

const STAGE_SQL: &str = "
    CREATE TEMPORARY TABLE import_rows (
        row BIGINT, user_id BIGINT, rank BIGINT, title TEXT, author TEXT,
        isbn13 TEXT, year INTEGER, genre TEXT, score REAL
    ) ON COMMIT DROP";

/// Replaced lists go, with their books.
const FORGET_SQL: &str = "
    CREATE TEMPORARY TABLE import_users ON COMMIT DROP AS SELECT DISTINCT user_id FROM import_rows;
    DELETE FROM books WHERE book_id IN
        (SELECT book_id FROM recommendations WHERE user_id IN (SELECT user_id FROM import_users));
    DELETE FROM recommendations WHERE user_id IN (SELECT user_id FROM import_users);
    DELETE FROM recommendation_lists WHERE user_id IN (SELECT user_id FROM import_users)";

/// Every staged row becomes a book and a rank: its own rank, or the next
/// after the user's current list in file order. Ids follow the highest.
const WRITE_SQL: &str = "
    WITH base AS (SELECT coalesce(max(book_id), 0) AS id FROM books),
    numbered AS (
        SELECT i.*, (SELECT id FROM base) + row_number() OVER (ORDER BY i.row) AS book_id,
               coalesce(i.rank, coalesce(l.length, 0)
                   + row_number() OVER (PARTITION BY i.user_id ORDER BY i.row) - 1) AS final_rank
        FROM import_rows i LEFT JOIN recommendation_lists l ON l.user_id = i.user_id
    ), books_written AS (
        INSERT INTO books (book_id, title, author, isbn13, year, genre)
        SELECT book_id, title, author, isbn13, year, genre FROM numbered
    )
    INSERT INTO recommendations (user_id, rank, book_id, score)
    SELECT user_id, final_rank, book_id, score FROM numbered";

const LISTS_SQL: &str = "
    INSERT INTO recommendation_lists (user_id, length)
    SELECT user_id, max(rank) + 1 FROM recommendations
    WHERE user_id IN (SELECT DISTINCT user_id FROM import_rows) GROUP BY user_id
    ON CONFLICT (user_id) DO UPDATE SET length = excluded.length, loaded_at = now()";

const GAPS_SQL: &str = "
    SELECT user_id, count(*), max(rank) FROM recommendations
    WHERE user_id IN (SELECT DISTINCT user_id FROM import_rows)
    GROUP BY user_id HAVING count(*) <> max(rank) + 1 LIMIT 1";

/// Imports the good rows of `rows`; returns the books and users written,
/// and the checker (for its count of bad rows).
pub(super) async fn import(
    url: &PostgresUrl,
    mode: Mode,
    rows: Rows,
    checked: Checked,
    progress: &Progress,
) -> Result<((u64, u64), Checked), ImportError> {
    let store = url.redacted().to_owned();
    let fail = |error: tokio_postgres::Error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::new(describe(&error), error),
    };
    let mut config = url.config().clone();
    config.application_name("bookstream-load");
    let (mut client, connection) = config.connect(NoTls).await.map_err(fail)?;
    let connection = tokio::spawn(connection);
    migrations::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|error| ImportError::Migration {
            store: store.clone(),
            cause: StoreFailure::new(describe_migration(&error), error),
        })?;

    let transaction = client.transaction().await.map_err(fail)?;
    // Appends and other loads wait for this one; readers go on reading.
    transaction
        .batch_execute(
            "LOCK TABLE books, recommendations, recommendation_lists IN SHARE ROW EXCLUSIVE MODE",
        )
        .await
        .map_err(fail)?;
    transaction.batch_execute(STAGE_SQL).await.map_err(fail)?;

    // The file is read on a blocking thread; its good rows come over in chunks.
    let (chunks, mut arriving) = mpsc::channel::<Vec<ImportRow>>(4);
    let reader = tokio::task::spawn_blocking(move || read(rows, checked, &chunks));

    progress.phase("loading");
    let sink = transaction
        .copy_in(
            "COPY import_rows (row, user_id, rank, title, author, isbn13, year, genre, score)
             FROM STDIN (FORMAT binary)",
        )
        .await
        .map_err(fail)?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::TEXT,
            Type::FLOAT4,
        ],
    );
    pin_mut!(writer);
    let mut staged = 0u64;
    while let Some(chunk) = arriving.recv().await {
        for row in &chunk {
            let number = stored(row.row);
            let user_id = stored(row.user_id);
            let rank = row.rank.map(stored);
            let year = i32::try_from(row.book.year).unwrap_or(i32::MAX);
            let values: [&(dyn ToSql + Sync); 9] = [
                &number,
                &user_id,
                &rank,
                &row.book.title,
                &row.book.author,
                &row.book.isbn13,
                &year,
                &row.book.genre,
                &row.book.score,
            ];
            writer.as_mut().write(&values).await.map_err(fail)?;
        }
        staged += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    // The reader's verdict first: a bad file or too many bad rows end here,
    // before anything is written into the catalog.
    let checked = reader.await.map_err(|error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::during("the reader stopped", error),
    })??;
    writer.finish().await.map_err(fail)?;

    progress.phase("writing");
    if mode == Mode::Replace {
        transaction.batch_execute(FORGET_SQL).await.map_err(fail)?;
    }
    transaction.execute(WRITE_SQL, &[]).await.map_err(fail)?;
    if let Some(gap) = transaction.query_opt(GAPS_SQL, &[]).await.map_err(fail)? {
        let number = |index| -> Result<u64, ImportError> {
            let value: i64 = gap.try_get(index).map_err(fail)?;
            Ok(u64::try_from(value).unwrap_or(0))
        };
        return Err(ImportError::Gaps {
            user_id: number(0)?,
            books: number(1)?,
            highest: number(2)?,
        });
    }
    transaction.execute(LISTS_SQL, &[]).await.map_err(fail)?;
    let users: i64 = transaction
        .query_one("SELECT count(DISTINCT user_id) FROM import_rows", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;
    transaction
        .batch_execute(
            "SELECT setval('book_ids', (SELECT coalesce(max(book_id), 0) + 1 FROM books), false);
             ANALYZE books, recommendations, recommendation_lists",
        )
        .await
        .map_err(fail)?;
    progress.phase("committing");
    transaction.commit().await.map_err(fail)?;
    drop(client);
    let _ = connection.await;
    Ok(((staged, u64::try_from(users).unwrap_or(0)), checked))
}

/// Reads the good rows into chunks for the copy; stops at the first fatal error.
fn read(
    mut rows: Rows,
    mut checked: Checked,
    chunks: &mpsc::Sender<Vec<ImportRow>>,
) -> Result<Checked, ImportError> {
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(row) = checked.next(&mut rows)? {
        chunk.push(row);
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if chunks.blocking_send(full).is_err() {
                // The copy failed and stopped listening: it reports why.
                return Ok(checked);
            }
        }
    }
    if !chunk.is_empty() {
        let _ = chunks.blocking_send(chunk);
    }
    Ok(checked)
}
