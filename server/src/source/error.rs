//! What can go wrong between a request and its books. Sources say it in
//! these words; the gRPC and REST edges translate it once, each in its own
//! protocol. `store` is always the password-free name of the catalog.

/// Why a source could not give the books asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The store cannot be reached now, or was lost mid-stream: another
    /// server, or this one a moment later, may do better.
    #[error("the catalog at {store} is unavailable: {cause}")]
    Unavailable {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    /// The store answers but holds no catalog yet.
    #[error("the catalog at {store} has no books: run `server load --catalog {store}`")]
    Empty { store: String },
    /// The user has no list in the store.
    #[error("user {user_id} has no recommendations in the catalog at {store}")]
    UnknownUser { user_id: u64, store: String },
    /// The store's rows break the catalog's rules (ranks must run 0, 1, 2, …).
    #[error("the catalog at {store} is inconsistent: {detail}")]
    Inconsistent { store: String, detail: String },
    /// Retention removed the rank asked for: the earliest kept is named.
    #[error(
        "rank {rank} of user {user_id}'s list is no longer kept (retention); the earliest rank \
         kept is {earliest}: ask from it, or from the earliest (START_FROM_EARLIEST, from=earliest)"
    )]
    Expired {
        user_id: u64,
        rank: u64,
        earliest: u64,
    },
    /// A follow asked to start past the list's end: those ranks do not exist yet.
    #[error(
        "rank {rank} is past the end of user {user_id}'s list ({length} books): follow from at \
         most {length}, or from the latest (START_FROM_LATEST, from=latest)"
    )]
    PastEnd {
        user_id: u64,
        rank: u64,
        length: u64,
    },
    /// What was asked needs a list that grows, and the generated catalog's never do.
    #[error(
        "the generated catalog's lists are not appended to and have no end: {what}; serve a \
         store (--catalog sqlite:PATH or postgres://…) to follow appended books"
    )]
    NeverGrows { what: &'static str },
    /// The server is shutting down: a follow ends, to be resumed elsewhere.
    #[error("the server is shutting down; resume elsewhere")]
    ShuttingDown,
    /// The store failed in a way a retry will not fix.
    #[error("reading the catalog at {store} failed: {cause}")]
    Failed {
        store: String,
        #[source]
        cause: StoreFailure,
    },
}

impl SourceError {
    pub(crate) fn failed(
        store: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SourceError::Failed {
            store: store.to_owned(),
            cause: StoreFailure::from_error(cause),
        }
    }
}

/// A store driver's error: said in the catalog's words (a PostgreSQL error
/// with its SQLSTATE and a hint, say), and kept whole, typed, for code that
/// needs it ([`StoreFailure::driver`]). The description already says what
/// the driver's chain says (without PostgreSQL's bare "db error" levels), so
/// it ends the chain a log prints. Shared, so a `SourceError` can be cloned
/// into every stream that meets it.
#[derive(Debug, Clone)]
pub struct StoreFailure {
    described: String,
    source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
}

impl StoreFailure {
    /// `source`, described as `described`.
    pub fn new(described: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            described,
            source: std::sync::Arc::new(source),
        }
    }

    /// `source`, described by its own message.
    pub fn from_error(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(source.to_string(), source)
    }

    /// `source` with what was being done when it happened.
    pub fn during(doing: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(format!("{doing}: {source}"), source)
    }
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.described)
    }
}

impl std::error::Error for StoreFailure {}

impl StoreFailure {
    /// The driver's own error, as it was raised.
    pub fn driver(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

/// Two failures are the same if they say the same (tests compare errors).
impl PartialEq for StoreFailure {
    fn eq(&self, other: &Self) -> bool {
        self.described == other.described
    }
}

impl Eq for StoreFailure {}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_store_failure_reads_in_the_catalogs_words_and_keeps_the_drivers_error() {
        let driver = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let error = SourceError::Unavailable {
            store: "postgres://db/books".to_owned(),
            cause: StoreFailure::during("no connection", driver),
        };
        assert_eq!(
            error.to_string(),
            "the catalog at postgres://db/books is unavailable: no connection: reset by peer"
        );
        let cause = error
            .source()
            .and_then(|cause| cause.downcast_ref::<StoreFailure>())
            .expect("the store failure is the source");
        let driver = cause
            .driver()
            .downcast_ref::<std::io::Error>()
            .expect("the driver's error, kept as its own type");
        assert_eq!(driver.kind(), std::io::ErrorKind::ConnectionReset);
        // Clones share the cause and compare equal.
        assert_eq!(error.clone(), error);
    }
}
