//! Why no stream came from the servers, and whether asking again may help.

use tonic::{Code, Status};

/// Why the server did not start a stream for us.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("'{endpoint}' is not a usable server address: {source}")]
    InvalidEndpoint {
        endpoint: String,
        source: tonic::transport::Error,
    },
    #[error("the recommendation server at {endpoint} is unreachable: {}", .status.message())]
    Unreachable { endpoint: String, status: Status },
    #[error("no recommendation server is configured")]
    NoTargets,
    #[error("no recommendation server is known right now: {targets} resolved to no address")]
    NoServers { targets: String },
    #[error("the token is not usable in a header (printable ASCII only)")]
    InvalidToken,
    #[error("{endpoint} is https: give the CA that signed its certificate with --ca")]
    MissingCa { endpoint: String },
    #[error("the recommendation server refused the request: {}", .status.message())]
    Refused { status: Status },
    #[error("{}", .status.message())]
    NotFound { status: Status },
    #[error("the recommendation server cannot serve books yet: {}", .status.message())]
    NotReady { status: Status },
    #[error(
        "the recommendation server at {endpoint} refused this client's token ({}): \
         give the client the server's --token (BOOKSTREAM_TOKEN)",
        .status.message()
    )]
    Unauthenticated { endpoint: String, status: Status },
    #[error("the recommendation server failed: {} ({:?})", .status.message(), .status.code())]
    Failed { status: Status },
}

impl UpstreamError {
    /// Whether asking again may succeed: the server was unreachable or failed
    /// in passing, or no replica was resolved yet, as opposed to refusing
    /// the request or being misconfigured.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::NoServers { .. } => true,
            UpstreamError::Failed { status } => is_retryable(status),
            UpstreamError::Refused { .. }
            | UpstreamError::NotFound { .. }
            | UpstreamError::NotReady { .. }
            | UpstreamError::InvalidEndpoint { .. }
            | UpstreamError::NoTargets
            | UpstreamError::InvalidToken
            | UpstreamError::Unauthenticated { .. }
            | UpstreamError::MissingCa { .. } => false,
        }
    }
}

/// Whether a stream that broke with `status` is worth resuming: transport
/// failures and a server shutting down are; a refusal is not.
pub fn is_retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::Aborted
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
    )
}

/// `status`, from the server at `url`, as the error a run acts on.
pub(super) fn classify(url: &str, status: Status) -> UpstreamError {
    match status.code() {
        Code::Unavailable => UpstreamError::Unreachable {
            endpoint: url.to_owned(),
            status,
        },
        Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange => {
            UpstreamError::Refused { status }
        }
        Code::NotFound => UpstreamError::NotFound { status },
        Code::FailedPrecondition => UpstreamError::NotReady { status },
        Code::Unauthenticated | Code::PermissionDenied => UpstreamError::Unauthenticated {
            endpoint: url.to_owned(),
            status,
        },
        _ => UpstreamError::Failed { status },
    }
}
