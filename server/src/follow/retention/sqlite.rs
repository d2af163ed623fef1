//! Retention in an SQLite store, run on its one writer thread.

use rusqlite::{Connection, TransactionBehavior, params};

use super::Cut;

const KEEP_BOOKS_SQL: &str = "
    UPDATE recommendation_lists SET first_rank = length - ?1
    WHERE length - first_rank > ?1";
/// A list with a batch older than the cut keeps from its first younger
/// batch on, or nothing when all are older.
const KEEP_SINCE_SQL: &str = "
    UPDATE recommendation_lists SET first_rank = max(first_rank, coalesce(
        (SELECT min(a.first_rank) FROM list_appends AS a
         WHERE a.user_id = recommendation_lists.user_id AND a.committed_at_ms >= ?1),
        length))
    WHERE EXISTS (SELECT 1 FROM list_appends AS a
                  WHERE a.user_id = recommendation_lists.user_id AND a.committed_at_ms < ?1)";
const FORGET_TIMES_SQL: &str = "
    DELETE FROM list_appends
    WHERE first_rank + books <= (SELECT l.first_rank FROM recommendation_lists AS l
                                 WHERE l.user_id = list_appends.user_id)";
const DOOMED_SQL: &str = "
    SELECT r.user_id, r.rank
    FROM recommendation_lists AS l
    JOIN recommendations AS r ON r.user_id = l.user_id AND r.rank < l.first_rank
    WHERE l.first_rank > 0
    LIMIT ?1";

/// Raises the earliest kept rank of the lists `cut` trims; returns how many.
pub(crate) fn trim(connection: &mut Connection, cut: Cut) -> rusqlite::Result<u64> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut lists = 0;
    if let Some(keep) = cut.keep_books {
        lists += transaction.execute(KEEP_BOOKS_SQL, params![crate::source::stored(keep)])?;
    }
    if let Some(since) = cut.appended_since_ms {
        lists += transaction.execute(KEEP_SINCE_SQL, params![since])?;
    }
    transaction.execute(FORGET_TIMES_SQL, [])?;
    transaction.commit()?;
    Ok(lists as u64)
}

/// Removes up to `limit` books below their list's earliest kept rank; returns how many.
pub(crate) fn remove(connection: &mut Connection, limit: u64) -> rusqlite::Result<u64> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let doomed: Vec<(i64, i64)> = transaction
        .prepare_cached(DOOMED_SQL)?
        .query_map(params![crate::source::stored(limit)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut forget_rank = transaction
            .prepare_cached("DELETE FROM recommendations WHERE user_id = ?1 AND rank = ?2")?;
        for (user_id, rank) in &doomed {
            forget_rank.execute(params![user_id, rank])?;
        }
    }
    transaction.commit()?;
    Ok(doomed.len() as u64)
}
