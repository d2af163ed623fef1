//! The SQLite bulk path: one transaction, prepared statements, rows in key order.

use std::path::Path;

use bookstream::catalog;
use rusqlite::{Connection, TransactionBehavior, params};

use super::{LoadError, LoadRequest, PROGRESS_BATCH, Progress};
use crate::source::{StoreFailure, stored};

pub(crate) mod migrations {
    refinery::embed_migrations!("src/source/migrations/sqlite");
}

/// One ranked book of a bulk load (`server load`, with or without `--from`),
/// with no append time.
pub(crate) const INSERT_ROW_SQL: &str = "INSERT INTO recommendations
    (user_id, rank, score, year, title, author, isbn13, genre)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The file at `path` for a bulk load (`server load`, with or without
/// `--from`): created if missing, migrated, with a large cache.
pub(crate) fn open(path: &Path) -> Result<Connection, LoadError> {
    let store = format!("sqlite:{}", path.display());
    let fail = |error: rusqlite::Error| LoadError::Sqlite {
        store: store.clone(),
        cause: StoreFailure::from_error(error),
    };
    let mut connection = Connection::open(path).map_err(fail)?;
    // A large cache keeps the B-trees being appended to in memory for the
    // whole load; the file is made durable once, at commit.
    connection
        .execute_batch("PRAGMA cache_size = -65536; PRAGMA synchronous = NORMAL;")
        .map_err(fail)?;
    migrations::migrations::runner()
        .run(&mut connection)
        .map_err(|error| LoadError::Migration {
            store,
            cause: StoreFailure::from_error(error),
        })?;
    Ok(connection)
}

/// Migrates the file at `path` up to `version` only (see [`super::migrate_to`]).
pub(super) fn migrate_to(path: &Path, version: i32) -> Result<(), LoadError> {
    let store = format!("sqlite:{}", path.display());
    let mut connection = Connection::open(path).map_err(|error| LoadError::Sqlite {
        store: store.clone(),
        cause: StoreFailure::from_error(error),
    })?;
    migrations::migrations::runner()
        .set_target(refinery::Target::Version(version))
        .run(&mut connection)
        .map_err(|error| LoadError::Migration {
            store,
            cause: StoreFailure::from_error(error),
        })?;
    Ok(())
}

/// Loads `request` into the SQLite file at `path`, creating it if need be.
pub(super) fn load(
    path: &Path,
    request: LoadRequest,
    progress: &Progress,
) -> Result<(), LoadError> {
    let store = format!("sqlite:{}", path.display());
    let fail = |error: rusqlite::Error| LoadError::Sqlite {
        store: store.clone(),
        cause: StoreFailure::from_error(error),
    };
    let mut connection = open(path)?;
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let (first, last) = (stored(request.users.first), stored(request.users.last));
    let others: i64 = transaction
        .query_row(
            "SELECT count(*) FROM recommendation_lists WHERE user_id NOT BETWEEN ?1 AND ?2",
            params![first, last],
            |row| row.get(0),
        )
        .map_err(fail)?;
    let deletes: &[&str] = if others == 0 {
        // Every list is replaced: SQLite empties a table without a WHERE at once.
        &[
            "DELETE FROM recommendations",
            "DELETE FROM recommendation_lists",
            "DELETE FROM list_appends",
        ]
    } else {
        &[
            "DELETE FROM recommendations WHERE user_id BETWEEN ?1 AND ?2",
            "DELETE FROM recommendation_lists WHERE user_id BETWEEN ?1 AND ?2",
            "DELETE FROM list_appends WHERE user_id BETWEEN ?1 AND ?2",
        ]
    };
    for delete in deletes {
        let mut statement = transaction.prepare(delete).map_err(fail)?;
        let bound = statement.parameter_count();
        let values = [first, last];
        statement
            .execute(rusqlite::params_from_iter(&values[..bound]))
            .map_err(fail)?;
    }
    progress.phase("loading");
    {
        let mut insert_book = transaction.prepare(INSERT_ROW_SQL).map_err(fail)?;
        let mut insert_list = transaction
            .prepare(
                "INSERT INTO recommendation_lists (user_id, length, loaded_at)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            )
            .map_err(fail)?;
        for user in request.users.iter() {
            let user_id = stored(user);
            for book in catalog::books(user, 0..request.books) {
                insert_book
                    .execute(params![
                        user_id,
                        stored(book.id),
                        book.score,
                        book.year,
                        book.title,
                        book.author,
                        book.isbn13,
                        book.genre
                    ])
                    .map_err(fail)?;
                if (book.id + 1) % PROGRESS_BATCH == 0 {
                    progress.advance(PROGRESS_BATCH);
                }
            }
            progress.advance(request.books % PROGRESS_BATCH);
            insert_list
                .execute(params![user_id, stored(request.books)])
                .map_err(fail)?;
        }
    }
    progress.phase("committing");
    transaction.commit().map_err(fail)
}
