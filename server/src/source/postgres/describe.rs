//! PostgreSQL's failures in the catalog's words.

use tokio_postgres::error::SqlState;

/// Codes that mean the database is going away or not there yet: resume elsewhere or later.
pub(super) fn is_unavailable(code: &SqlState) -> bool {
    let class = code.code().get(..2).unwrap_or_default();
    // 08: connection exceptions; 57: operator intervention (terminated
    // backends, shutdowns, a database starting up); 53: out of resources.
    matches!(class, "08" | "57" | "53")
}

/// The database's message with its SQLSTATE and, where a newcomer's setup
/// is the likely cause, what to do; the driver's own words (a bare "db
/// error" for every answer of the database) are never enough.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        // Not the database's answer: the driver's message, and its cause.
        return match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
    };
    let code = db.code();
    let hint = match code {
        &SqlState::INSUFFICIENT_PRIVILEGE => {
            "; the role needs to own the database (CREATE DATABASE … OWNER role) \
             or to be granted CREATE on schema public"
        }
        &SqlState::INVALID_CATALOG_NAME => {
            "; create it first: CREATE DATABASE name OWNER role (see docs/stores.md)"
        }
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION | &SqlState::INVALID_PASSWORD => {
            "; create the role first, or check the user and password in the URL \
             (CREATE ROLE role LOGIN PASSWORD '…', see docs/stores.md)"
        }
        _ => "",
    };
    format!("{} (SQLSTATE {}){hint}", db.message(), code.code())
}

/// The cause of a failed migration: refinery wraps the driver's error,
/// whose own display is only "db error".
pub(crate) fn describe_migration(error: &refinery::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(driver) = current.downcast_ref::<tokio_postgres::Error>() {
            return describe(driver);
        }
        cause = current.source();
    }
    error.to_string()
}
