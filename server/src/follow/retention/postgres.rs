//! Retention in a PostgreSQL store, through the writers' pool. The list
//! rows it updates are the locks appends take: a cut waits for a batch in
//! flight and the batch for the cut, never a reader.

use tokio_postgres::GenericClient;

use super::Cut;

const KEEP_BOOKS_SQL: &str = "
    UPDATE recommendation_lists SET first_rank = length - $1
    WHERE length - first_rank > $1";
/// A list with a batch older than the cut keeps from its first younger
/// batch on, or nothing when all are older.
const KEEP_SINCE_SQL: &str = "
    UPDATE recommendation_lists AS l SET first_rank = greatest(l.first_rank, coalesce(
        (SELECT min(a.first_rank) FROM list_appends AS a
         WHERE a.user_id = l.user_id AND a.committed_at_ms >= $1),
        l.length))
    WHERE EXISTS (SELECT 1 FROM list_appends AS a
                  WHERE a.user_id = l.user_id AND a.committed_at_ms < $1)";
const FORGET_TIMES_SQL: &str = "
    DELETE FROM list_appends AS a USING recommendation_lists AS l
    WHERE l.user_id = a.user_id AND a.first_rank + a.books <= l.first_rank";
/// The DELETE is the statement itself, not a CTE: its row count is what
/// `remove` returns.
const REMOVE_SQL: &str = "
    WITH doomed AS (
        SELECT r.user_id, r.rank
        FROM recommendation_lists AS l
        JOIN recommendations AS r ON r.user_id = l.user_id AND r.rank < l.first_rank
        WHERE l.first_rank > 0
        LIMIT $1
    )
    DELETE FROM recommendations AS r USING doomed AS d
    WHERE r.user_id = d.user_id AND r.rank = d.rank";

/// Raises the earliest kept rank of the lists `cut` trims; returns how many.
pub(crate) async fn trim(
    client: &mut deadpool_postgres::Client,
    cut: Cut,
) -> Result<u64, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    let mut lists = 0;
    if let Some(keep) = cut.keep_books {
        lists += transaction
            .execute(KEEP_BOOKS_SQL, &[&crate::source::stored(keep)])
            .await?;
    }
    if let Some(since) = cut.appended_since_ms {
        lists += transaction.execute(KEEP_SINCE_SQL, &[&since]).await?;
    }
    transaction.execute(FORGET_TIMES_SQL, &[]).await?;
    transaction.commit().await?;
    Ok(lists)
}

/// Removes up to `limit` books below their list's earliest kept rank; returns how many.
pub(crate) async fn remove(
    client: &impl GenericClient,
    limit: u64,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(REMOVE_SQL, &[&crate::source::stored(limit)])
        .await
}
