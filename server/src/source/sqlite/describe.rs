//! SQLite's failures in the catalog's words.

/// Whether `error` says a table or column is missing (`what`: "no such
/// table", "no such column"): a store from before a migration.
pub(super) fn is_missing(error: &rusqlite::Error, what: &str) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(_, Some(message))
        | rusqlite::Error::SqlInputError { msg: message, .. } => message.starts_with(what),
        _ => false,
    }
}

/// SQLite's own words for a failure, without the Rust wrapper's.
pub(crate) fn describe(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(failure, Some(message)) => {
            format!("{message} ({:?})", failure.code)
        }
        rusqlite::Error::SqliteFailure(failure, None) => failure.to_string(),
        other => other.to_string(),
    }
}
