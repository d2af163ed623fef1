//! The network side of a run: lazily connected gRPC channels to one or more
//! recommendation servers. Channels reconnect by themselves, so the client
//! can start before the servers and keeps working after one restarts.
//! Triggers take the servers in turn; a server whose stream broke, or whose
//! health check fails, is skipped until its health check passes again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bookstream::{
    RecommendationRequest,
    codec::BookBytesCodec,
    telemetry::{self, MetadataCarrier},
};
use bytes::Bytes;
use tonic::{
    Code, Status, Streaming,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The service name the servers report in their gRPC health service.
const HEALTH_SERVICE: &str = "recommendations.Recommendations";

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
    NoServers,
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
            UpstreamError::Refused { .. }
            | UpstreamError::NotFound { .. }
            | UpstreamError::NotReady { .. }
            | UpstreamError::InvalidEndpoint { .. }
            | UpstreamError::NoServers
            | UpstreamError::InvalidToken
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

/// The recommendation servers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    servers: Arc<[UpstreamServer]>,
    next: Arc<AtomicUsize>,
    health_timeout: Duration,
    metrics: crate::metrics::Metrics,
}

/// A channel that presents the shared token, when there is one, on every call.
type AuthChannel = InterceptedService<Channel, BearerToken>;

#[derive(Debug)]
struct UpstreamServer {
    url: String,
    /// Recommend streams are opened on it with the codec that keeps books as bytes.
    channel: AuthChannel,
    health: HealthClient<AuthChannel>,
    healthy: AtomicBool,
}

impl UpstreamServer {
    /// Opens a `Recommend` stream, as the generated client would, but with
    /// a codec that hands each book over as its bytes.
    async fn open_recommend(
        &self,
        request: RecommendationRequest,
    ) -> Result<tonic::Response<Streaming<Bytes>>, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|error| Status::unknown(format!("the channel is not ready: {error}")))?;
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/recommendations.Recommendations/Recommend",
        );
        let mut request = tonic::Request::new(request);
        // The server's stream span joins this attempt's trace.
        telemetry::inject_trace(
            &tracing::Span::current(),
            &mut MetadataCarrier(request.metadata_mut()),
        );
        grpc.server_streaming(request, path, BookBytesCodec).await
    }
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of every log line.
        f.debug_struct("BearerToken")
            .field("set", &self.header.is_some())
            .finish()
    }
}

impl BearerToken {
    fn new(token: Option<&str>) -> Result<Self, UpstreamError> {
        let header = token
            .map(|token| {
                MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| UpstreamError::InvalidToken)
            })
            .transpose()?;
        Ok(Self { header })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// An opened stream, which server it comes from, and how many books it announced.
pub struct Attempt {
    /// Each book's message, as it arrived: read in place with `BookView::decode`.
    pub stream: Streaming<Bytes>,
    pub server: ServerId,
    /// The books this stream will send (the `bookstream-count` header), when
    /// the server said; a user's list may hold fewer books than asked for.
    pub count: Option<u64>,
}

/// One of the configured servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerId(usize);

/// What the client knows of one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerHealth {
    pub url: String,
    pub healthy: bool,
}

impl Upstream {
    /// Prepares a channel per server without connecting: the first request
    /// connects. With a `token`, every call presents it.
    /// `https://` servers are verified against `ca` (PEM).
    pub fn new(
        urls: &[String],
        connect_timeout: Duration,
        token: Option<&str>,
        ca: Option<&[u8]>,
    ) -> Result<Self, UpstreamError> {
        let bearer = BearerToken::new(token)?;
        let servers = urls
            .iter()
            .map(|url| {
                let invalid = |source| UpstreamError::InvalidEndpoint {
                    endpoint: url.clone(),
                    source,
                };
                let mut endpoint = Endpoint::from_shared(url.clone()).map_err(invalid)?;
                if url.starts_with("https://") {
                    let ca = ca.ok_or_else(|| UpstreamError::MissingCa {
                        endpoint: url.clone(),
                    })?;
                    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
                    endpoint = endpoint.tls_config(tls).map_err(invalid)?;
                }
                let channel = endpoint
                    .connect_timeout(connect_timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                Ok(UpstreamServer {
                    url: url.clone(),
                    channel: InterceptedService::new(channel.clone(), bearer.clone()),

                    health: HealthClient::with_interceptor(channel, bearer.clone()),
                    // Innocent until proven otherwise: the first trigger need not wait for a check.
                    healthy: AtomicBool::new(true),
                })
            })
            .collect::<Result<Arc<[_]>, UpstreamError>>()?;
        if servers.is_empty() {
            return Err(UpstreamError::NoServers);
        }
        Ok(Self {
            servers,
            next: Arc::new(AtomicUsize::new(0)),
            health_timeout: connect_timeout,
            metrics: None,
        })
    }

    /// Reports every server's health to `metrics` from now on.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        if let Some(metrics) = &metrics {
            for server in self.servers.iter() {
                metrics.server_health(&server.url, server.healthy.load(Ordering::Relaxed));
            }
        }
        self.metrics = metrics;
        self
    }

    fn record_health(&self, server: &UpstreamServer, healthy: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.server_health(&server.url, healthy);
        }
    }

    /// The servers, as configured, comma-separated.
    pub fn endpoints(&self) -> String {
        let urls: Vec<&str> = self
            .servers
            .iter()
            .map(|server| server.url.as_str())
            .collect();
        urls.join(", ")
    }

    /// Every server with its last known health.
    pub fn health(&self) -> Vec<ServerHealth> {
        self.servers
            .iter()
            .map(|server| ServerHealth {
                url: server.url.clone(),
                healthy: server.healthy.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Opens a `Recommend` stream of the `count`-book result for `user_id`,
    /// starting at book `start_at` (0 for all of it, `k` to resume after `k`
    /// books), on the next healthy server in turn.
    pub async fn recommend(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
    ) -> Result<Attempt, UpstreamError> {
        let id = self.pick();
        let server = &self.servers[id.0];
        let request = RecommendationRequest {
            user_id,
            max_results: count,
            start_at,
        };
        match server.open_recommend(request).await {
            Ok(response) => {
                let count = response
                    .metadata()
                    .get(bookstream::COUNT_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok());
                Ok(Attempt {
                    stream: response.into_inner(),
                    server: id,
                    count,
                })
            }
            Err(status) => {
                let error = classify(&server.url, status);
                if matches!(error, UpstreamError::Unreachable { .. }) {
                    self.mark_broken(id);
                }
                Err(error)
            }
        }
    }

    /// The URL of one of the servers.
    pub fn url(&self, server: ServerId) -> &str {
        &self.servers[server.0].url
    }

    /// A stream from `server` broke: skip it until its health check passes.
    pub fn mark_broken(&self, server: ServerId) {
        let broken = &self.servers[server.0];
        if self.servers.len() > 1 && broken.healthy.swap(false, Ordering::Relaxed) {
            self.record_health(broken, false);
            tracing::warn!(server = %broken.url, "skipping the server until it is healthy");
        }
    }

    /// Asks every server's health service once and records the answers.
    pub async fn check_health(&self) {
        for server in self.servers.iter() {
            let request = HealthCheckRequest {
                service: HEALTH_SERVICE.to_owned(),
            };
            let answer =
                tokio::time::timeout(self.health_timeout, server.health.clone().check(request))
                    .await;
            let healthy = matches!(&answer, Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving);
            let was_healthy = server.healthy.swap(healthy, Ordering::Relaxed);
            self.record_health(server, healthy);
            if healthy != was_healthy {
                tracing::info!(server = %server.url, healthy, "server health changed");
            }
        }
    }

    /// Checks every server's health every `interval` for as long as the client runs.
    pub fn spawn_health_checks(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let upstream = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                upstream.check_health().await;
            }
        })
    }

    /// The next server in turn that is healthy, or the next in turn when none is:
    /// with every server down, trying one still beats refusing at once.
    fn pick(&self) -> ServerId {
        let count = self.servers.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let healthy = (0..count)
            .map(|offset| (first + offset) % count)
            .find(|&index| self.servers[index].healthy.load(Ordering::Relaxed));
        ServerId(healthy.unwrap_or(first))
    }
}

fn classify(url: &str, status: Status) -> UpstreamError {
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
        _ => UpstreamError::Failed { status },
    }
}
