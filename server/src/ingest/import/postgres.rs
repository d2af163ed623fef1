//! The PostgreSQL path of an import: the rows are spilled to a temporary
//! file as the reading thread hands them over, then copied straight into
//! the lists by one binary COPY, like `server load`, in one transaction. A
//! row's rank waits for the users' current lists: a replaced list must be
//! gone before its ranks are written again, an appended one goes on from
//! its length.

use std::{
    collections::HashMap,
    io::{self, BufReader, BufWriter, Read, Seek, Write},
};

use futures::pin_mut;
use tokio_postgres::{binary_copy::BinaryCopyInWriter, types::ToSql};

use super::{Checked, ImportError, List, Mode, Reading};
use crate::{
    ingest::records::NewBook,
    source::{
        StoreFailure,
        load::{self, PROGRESS_BATCH, Progress},
        postgres::describe,
        spec::PostgresUrl,
        stored,
    },
};

/// A row in the spill file starts with its user, rank (or offset), score
/// and year; its title, author, ISBN and genre follow, each after its length.
const FIXED_BYTES: usize = 8 + 8 + 4 + 4;

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
    let spill_failed = |error: io::Error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::during("the spill file", error),
    };
    let (mut client, connection) = load::postgres::connect(url).await?;
    let transaction = client.transaction().await.map_err(fail)?;
    transaction
        .batch_execute(load::postgres::LOCK_SQL)
        .await
        .map_err(fail)?;

    progress.phase("reading");
    let mut spill = BufWriter::new(tempfile::tempfile().map_err(spill_failed)?);
    let mut lists: HashMap<u64, List> = HashMap::new();
    let mut books = 0u64;
    while let Some(chunk) = reading.chunks.recv().await {
        for row in &chunk {
            let list = lists.entry(row.user_id).or_default();
            let place = row.rank.map_or(list.next, stored);
            list.take(place);
            spill_row(&mut spill, stored(row.user_id), place, &row.book).map_err(spill_failed)?;
        }
        books += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    // A bad file or too many bad rows end here, before any list is touched.
    let checked = reading.finish()?;

    let users: Vec<i64> = lists.keys().map(|&user| stored(user)).collect();
    let mut bases: HashMap<i64, i64> = HashMap::new();
    match mode {
        Mode::Replace => {
            for (&user_id, list) in &lists {
                list.dense(user_id)?;
            }
            progress.phase("replacing lists");
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

    progress.phase("copying books");
    progress.restart();
    let sink = transaction
        .copy_in(load::postgres::COPY_LIST_SQL)
        .await
        .map_err(fail)?;
    let rows = BinaryCopyInWriter::new(sink, &load::postgres::LIST_COLUMNS);
    pin_mut!(rows);
    let mut file = spill
        .into_inner()
        .map_err(|error| spill_failed(error.into_error()))?;
    file.rewind().map_err(spill_failed)?;
    let mut spilled = Spilled::new(BufReader::new(file));
    for copied in 1..=books {
        let row = spilled.next().map_err(spill_failed)?;
        let rank = bases.get(&row.user_id).copied().unwrap_or(0) + row.place;
        let values: [&(dyn ToSql + Sync); 8] = [
            &row.user_id,
            &rank,
            &row.score,
            &row.year,
            &row.title,
            &row.author,
            &row.isbn13,
            &row.genre,
        ];
        rows.as_mut().write(&values).await.map_err(fail)?;
        if copied % PROGRESS_BATCH == 0 {
            progress.advance(PROGRESS_BATCH);
        }
    }
    progress.advance(books % PROGRESS_BATCH);
    rows.finish().await.map_err(fail)?;

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
        .batch_execute("ANALYZE recommendations, recommendation_lists")
        .await
        .map_err(fail)?;
    progress.phase("committing");
    transaction.commit().await.map_err(fail)?;
    drop(client);
    let _ = connection.await;
    Ok(((books, lists.len() as u64), checked))
}

/// Writes one row to the spill file, as `Spilled` reads it back.
fn spill_row(spill: &mut impl Write, user_id: i64, place: i64, book: &NewBook) -> io::Result<()> {
    let year = i32::try_from(book.year).unwrap_or(i32::MAX);
    let mut fixed = [0u8; FIXED_BYTES];
    fixed[..8].copy_from_slice(&user_id.to_le_bytes());
    fixed[8..16].copy_from_slice(&place.to_le_bytes());
    fixed[16..20].copy_from_slice(&book.score.to_le_bytes());
    fixed[20..].copy_from_slice(&year.to_le_bytes());
    spill.write_all(&fixed)?;
    for text in [&book.title, &book.author, &book.isbn13, &book.genre] {
        let length = u32::try_from(text.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a field over 4 GiB"))?;
        spill.write_all(&length.to_le_bytes())?;
        spill.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// The spill file read back, one row at a time, into buffers reused from
/// row to row.
struct Spilled<R> {
    file: R,
    texts: [Vec<u8>; 4],
}

/// One spilled row, its text borrowed from the reader's buffers.
struct SpilledRow<'a> {
    user_id: i64,
    place: i64,
    score: f32,
    year: i32,
    title: &'a str,
    author: &'a str,
    isbn13: &'a str,
    genre: &'a str,
}

impl<R: Read> Spilled<R> {
    fn new(file: R) -> Self {
        Self {
            file,
            texts: Default::default(),
        }
    }

    fn next(&mut self) -> io::Result<SpilledRow<'_>> {
        let mut fixed = [0u8; FIXED_BYTES];
        self.file.read_exact(&mut fixed)?;
        for text in &mut self.texts {
            let mut length = [0u8; 4];
            self.file.read_exact(&mut length)?;
            text.resize(u32::from_le_bytes(length) as usize, 0);
            self.file.read_exact(text)?;
        }
        let bytes = |at: usize| -> [u8; 4] { fixed[at..at + 4].try_into().unwrap_or_default() };
        let wide = |at: usize| -> [u8; 8] { fixed[at..at + 8].try_into().unwrap_or_default() };
        let [title, author, isbn13, genre] = &self.texts;
        Ok(SpilledRow {
            user_id: i64::from_le_bytes(wide(0)),
            place: i64::from_le_bytes(wide(8)),
            score: f32::from_le_bytes(bytes(16)),
            year: i32::from_le_bytes(bytes(20)),
            title: utf8(title)?,
            author: utf8(author)?,
            isbn13: utf8(isbn13)?,
            genre: utf8(genre)?,
        })
    }
}

/// Text the import itself spilled: valid UTF-8 unless the file was changed under it.
fn utf8(bytes: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(bytes).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}
