//! The PostgreSQL path of an import: the books go in by binary COPY as the
//! reading thread hands them over; their places in the lists are spilled to
//! a temporary file (a few bytes a row) and copied once the users' current
//! lists are known. Two COPYs, like `server load`, in one transaction.

use std::{
    collections::HashMap,
    io::{BufReader, BufWriter, Read, Seek, Write},
};

use futures::pin_mut;
use tokio_postgres::{binary_copy::BinaryCopyInWriter, types::ToSql};

use super::{Checked, ImportError, List, Mode, Reading};
use crate::source::{
    StoreFailure,
    load::{self, Progress},
    postgres::describe,
    spec::PostgresUrl,
    stored,
};

/// One list place in the spill file: user, rank (or offset), book, score.
const PLACE_BYTES: usize = 8 + 8 + 8 + 4;

/// Imports the rows `reading` hands over; returns the books and users
/// written, and the reader's checker.
pub(super) async fn import(
    url: &PostgresUrl,
    mode: Mode,
    mut reading: Reading,
    progress: &Progress,
) -> Result<((u64, u64), Checked), ImportError> {
    let store = url.redacted().to_owned();
    let fail = |error: tokio_postgres::Error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::new(describe(&error), error),
    };
    let spill_failed = |error: std::io::Error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::during("the spill file", error),
    };
    let (mut client, connection) = load::postgres::connect(url).await?;
    let transaction = client.transaction().await.map_err(fail)?;
    transaction
        .batch_execute(load::postgres::LOCK_SQL)
        .await
        .map_err(fail)?;
    let first_book_id: i64 = transaction
        .query_one("SELECT coalesce(max(book_id), 0) + 1 FROM books", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;

    progress.phase("copying books");
    let sink = transaction
        .copy_in(load::postgres::COPY_BOOKS_SQL)
        .await
        .map_err(fail)?;
    let writer = BinaryCopyInWriter::new(sink, &load::postgres::BOOK_COLUMNS);
    pin_mut!(writer);
    let mut spill = BufWriter::new(tempfile::tempfile().map_err(spill_failed)?);
    let mut lists: HashMap<u64, List> = HashMap::new();
    let mut book_id = first_book_id;
    while let Some(chunk) = reading.chunks.recv().await {
        for row in &chunk {
            let book = &row.book;
            let year = i32::try_from(book.year).unwrap_or(i32::MAX);
            let values: [&(dyn ToSql + Sync); 6] = [
                &book_id,
                &book.title,
                &book.author,
                &book.isbn13,
                &year,
                &book.genre,
            ];
            writer.as_mut().write(&values).await.map_err(fail)?;
            let list = lists.entry(row.user_id).or_default();
            let place = row.rank.map_or(list.next, stored);
            list.take(place);
            let mut record = [0u8; PLACE_BYTES];
            record[..8].copy_from_slice(&stored(row.user_id).to_le_bytes());
            record[8..16].copy_from_slice(&place.to_le_bytes());
            record[16..24].copy_from_slice(&book_id.to_le_bytes());
            record[24..].copy_from_slice(&book.score.to_le_bytes());
            spill.write_all(&record).map_err(spill_failed)?;
            book_id += 1;
        }
        progress.advance(chunk.len() as u64);
    }
    // A bad file or too many bad rows end here, before any list is touched.
    let checked = reading.finish()?;
    writer.finish().await.map_err(fail)?;
    let books = u64::try_from(book_id - first_book_id).unwrap_or(0);

    let users: Vec<i64> = lists.keys().map(|&user| stored(user)).collect();
    let mut bases: HashMap<i64, i64> = HashMap::new();
    match mode {
        Mode::Replace => {
            for (&user_id, list) in &lists {
                list.dense(user_id)?;
            }
            progress.phase("replacing lists");
            // The new books are in no list yet: only the old lists' books go.
            transaction
                .execute(
                    "DELETE FROM books WHERE book_id IN
                         (SELECT book_id FROM recommendations WHERE user_id = ANY($1))",
                    &[&users],
                )
                .await
                .map_err(fail)?;
            // A replaced list starts again at rank 0, with no append times.
            for table in ["recommendations", "recommendation_lists", "list_appends"] {
                transaction
                    .execute(
                        &format!("DELETE FROM {table} WHERE user_id = ANY($1)"),
                        &[&users],
                    )
                    .await
                    .map_err(fail)?;
            }
        }
        Mode::Append => {
            for row in transaction
                .query(
                    "SELECT user_id, length FROM recommendation_lists WHERE user_id = ANY($1)",
                    &[&users],
                )
                .await
                .map_err(fail)?
            {
                bases.insert(row.try_get(0).map_err(fail)?, row.try_get(1).map_err(fail)?);
            }
        }
    }

    progress.phase("copying lists");
    let sink = transaction
        .copy_in(load::postgres::COPY_RANKS_SQL)
        .await
        .map_err(fail)?;
    let places = BinaryCopyInWriter::new(sink, &load::postgres::RANK_COLUMNS);
    pin_mut!(places);
    let mut file = spill
        .into_inner()
        .map_err(|error| spill_failed(error.into_error()))?;
    file.rewind().map_err(spill_failed)?;
    let mut spilled = BufReader::new(file);
    let mut record = [0u8; PLACE_BYTES];
    for _ in 0..books {
        spilled.read_exact(&mut record).map_err(spill_failed)?;
        let number =
            |at: usize| i64::from_le_bytes(record[at..at + 8].try_into().unwrap_or_default());
        let user_id = number(0);
        let rank = bases.get(&user_id).copied().unwrap_or(0) + number(8);
        let book_id = number(16);
        let score = f32::from_le_bytes(record[24..].try_into().unwrap_or_default());
        let values: [&(dyn ToSql + Sync); 4] = [&user_id, &rank, &book_id, &score];
        places.as_mut().write(&values).await.map_err(fail)?;
    }
    places.finish().await.map_err(fail)?;

    let lengths: Vec<i64> = lists
        .iter()
        .map(|(&user, list)| bases.get(&stored(user)).copied().unwrap_or(0) + list.next)
        .collect();
    transaction
        .execute(
            "INSERT INTO recommendation_lists (user_id, length)
             SELECT * FROM unnest($1::bigint[], $2::bigint[])
             ON CONFLICT (user_id) DO UPDATE SET length = excluded.length, loaded_at = now()",
            &[&users, &lengths],
        )
        .await
        .map_err(fail)?;
    // Followers on every server read on once this commits.
    transaction
        .execute(
            "SELECT pg_notify($3, u::text || ' ' || l::text) FROM unnest($1::bigint[], $2::bigint[]) AS t(u, l)",
            &[&users, &lengths, &crate::follow::postgres::CHANNEL],
        )
        .await
        .map_err(fail)?;
    progress.phase("analysing");
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
    Ok(((books, lists.len() as u64), checked))
}
