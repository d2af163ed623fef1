//! The SQLite path of an import: one transaction, prepared statements, fed
//! by the reading thread, so that parsing and inserting overlap.

use std::{collections::HashMap, path::Path};

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Checked, ImportError, List, Mode, Reading};
use crate::source::{
    StoreFailure,
    load::{self, Progress},
    stored,
};

/// Imports the rows `reading` hands over; returns the books and users
/// written, and the reader's checker (for its count of bad rows).
pub(super) fn import(
    path: &Path,
    mode: Mode,
    mut reading: Reading,
    progress: &Progress,
) -> Result<((u64, u64), Checked), ImportError> {
    let store = format!("sqlite:{}", path.display());
    let fail = |error: rusqlite::Error| ImportError::Store {
        store: store.clone(),
        cause: StoreFailure::from_error(error),
    };
    let mut connection = load::sqlite::open(path)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(30))
        .map_err(fail)?;

    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let mut lists: HashMap<u64, List> = HashMap::new();
    let mut books = 0u64;
    progress.phase("loading");
    {
        let mut insert_rank = transaction
            .prepare(load::sqlite::INSERT_ROW_SQL)
            .map_err(fail)?;
        let mut length_of = transaction
            .prepare("SELECT length FROM recommendation_lists WHERE user_id = ?1")
            .map_err(fail)?;
        // A replaced list's books go; its list row is written at the end.
        let mut forget_ranks = transaction
            .prepare("DELETE FROM recommendations WHERE user_id = ?1")
            .map_err(fail)?;
        // A replaced list starts again at rank 0, with no append times.
        let mut forget_list = transaction
            .prepare("DELETE FROM recommendation_lists WHERE user_id = ?1")
            .map_err(fail)?;
        let mut forget_times = transaction
            .prepare("DELETE FROM list_appends WHERE user_id = ?1")
            .map_err(fail)?;
        while let Some(chunk) = reading.chunks.blocking_recv() {
            for row in &chunk {
                let user_id = stored(row.user_id);
                let list = match lists.get_mut(&row.user_id) {
                    Some(list) => list,
                    None => {
                        let next = match mode {
                            Mode::Replace => {
                                forget_ranks.execute(params![user_id]).map_err(fail)?;
                                forget_list.execute(params![user_id]).map_err(fail)?;
                                forget_times.execute(params![user_id]).map_err(fail)?;
                                0
                            }
                            Mode::Append => length_of
                                .query_row(params![user_id], |row| row.get(0))
                                .optional()
                                .map_err(fail)?
                                .unwrap_or(0),
                        };
                        lists.entry(row.user_id).or_insert(List {
                            next,
                            ..List::default()
                        })
                    }
                };
                let rank = row.rank.map_or(list.next, stored);
                let book = &row.book;
                match insert_rank.execute(params![
                    user_id,
                    rank,
                    book.score,
                    book.year,
                    book.title,
                    book.author,
                    book.isbn13,
                    book.genre
                ]) {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(failure, _))
                        if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(ImportError::DuplicateRank {
                            row: row.row,
                            user_id: row.user_id,
                            rank: u64::try_from(rank).unwrap_or(0),
                        });
                    }
                    Err(error) => return Err(fail(error)),
                }
                list.take(rank);
            }
            books += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
    }
    // A bad file or too many bad rows end here, before anything is committed.
    let checked = reading.finish()?;
    progress.phase("committing");
    for (&user_id, list) in &lists {
        if mode == Mode::Replace {
            list.dense(user_id)?;
        }
        transaction
            .execute(
                "INSERT INTO recommendation_lists (user_id, length, loaded_at)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 ON CONFLICT (user_id) DO UPDATE
                 SET length = excluded.length, loaded_at = excluded.loaded_at",
                params![stored(user_id), list.next],
            )
            .map_err(fail)?;
    }
    transaction.commit().map_err(fail)?;
    Ok(((books, lists.len() as u64), checked))
}
