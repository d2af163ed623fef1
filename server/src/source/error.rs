//! What can go wrong between a request and its books. Sources say it in
//! these words; the gRPC and REST edges translate it once, each in its own
//! protocol. `store` is always the password-free name of the catalog.

/// Why a source could not give the books asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The store cannot be reached now, or was lost mid-stream: another
    /// server, or this one a moment later, may do better.
    #[error("the catalog at {store} is unavailable: {reason}")]
    Unavailable { store: String, reason: String },
    /// The store answers but holds no catalog yet.
    #[error("the catalog at {store} has no books: run `server load --catalog {store}`")]
    Empty { store: String },
    /// The user has no list in the store.
    #[error("user {user_id} has no recommendations in the catalog at {store}")]
    UnknownUser { user_id: u64, store: String },
    /// The store's rows break the catalog's rules (ranks must run 0, 1, 2, …).
    #[error("the catalog at {store} is inconsistent: {detail}")]
    Inconsistent { store: String, detail: String },
    /// The store failed in a way a retry will not fix.
    #[error("reading the catalog at {store} failed: {reason}")]
    Failed { store: String, reason: String },
}

impl SourceError {
    pub(crate) fn failed(store: &str, reason: impl ToString) -> Self {
        SourceError::Failed {
            store: store.to_owned(),
            reason: reason.to_string(),
        }
    }
}
