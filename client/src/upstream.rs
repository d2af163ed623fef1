//! The network side of a run: one lazily connected gRPC channel to the
//! recommendations server. The channel reconnects by itself, so the client
//! can start before the server and keeps working after the server restarts.

use std::time::Duration;

use bookstream::{
    BookRecommendation, RecommendationRequest, pb::recommendations_client::RecommendationsClient,
};
use tonic::{
    Code, Status, Streaming,
    transport::{Channel, Endpoint},
};

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
    #[error("the recommendation server refused the request: {}", .status.message())]
    Refused { status: Status },
    #[error("the recommendation server failed: {} ({:?})", .status.message(), .status.code())]
    Failed { status: Status },
}

impl UpstreamError {
    /// Whether asking again may succeed: the server was unreachable or failed
    /// in passing, as opposed to refusing the request or being misconfigured.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } => true,
            UpstreamError::Failed { status } => is_retryable(status),
            UpstreamError::Refused { .. } | UpstreamError::InvalidEndpoint { .. } => false,
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

/// A handle on the recommendation server; cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    endpoint: String,
    client: RecommendationsClient<Channel>,
}

impl Upstream {
    /// Prepares the channel without connecting: the first request connects.
    pub fn new(endpoint: &str, connect_timeout: Duration) -> Result<Self, UpstreamError> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|source| UpstreamError::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
                source,
            })?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            endpoint: endpoint.to_owned(),
            client: RecommendationsClient::new(channel),
        })
    }

    /// The server address, as configured.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Opens a `Recommend` stream of the `count`-book result for `user_id`,
    /// starting at book `start_at` (0 for all of it, `k` to resume after `k` books).
    pub async fn recommend(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
    ) -> Result<Streaming<BookRecommendation>, UpstreamError> {
        let request = RecommendationRequest {
            user_id,
            max_results: count,
            start_at,
        };
        match self.client.clone().recommend(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.classify(status)),
        }
    }

    fn classify(&self, status: Status) -> UpstreamError {
        match status.code() {
            Code::Unavailable => UpstreamError::Unreachable {
                endpoint: self.endpoint.clone(),
                status,
            },
            Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange => {
                UpstreamError::Refused { status }
            }
            _ => UpstreamError::Failed { status },
        }
    }
}
