//! One recommendation server: a lazily connected channel, its health as
//! last checked, and the `Recommend` call with the codec that keeps books as
//! bytes.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use bookstream::{
    RecommendationRequest,
    codec::BookBytesCodec,
    telemetry::{self, MetadataCarrier},
};
use bytes::Bytes;
use tonic::{
    Status, Streaming,
    service::interceptor::InterceptedService,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{UpstreamError, token::BearerToken};

/// The service name the servers report in their gRPC health service.
const HEALTH_SERVICE: &str = "recommendations.Recommendations";

/// A channel that presents the shared token, when there is one, on every call.
type AuthChannel = InterceptedService<Channel, BearerToken>;

/// How channels to servers are made.
#[derive(Debug, Clone)]
pub(super) struct Dialer {
    pub(super) connect_timeout: Duration,
    pub(super) bearer: BearerToken,
    /// The CA (PEM) that signed the servers' certificates, for `https://`.
    pub(super) ca: Option<Vec<u8>>,
}

impl Dialer {
    /// A server at `url`, not yet connected: the first request connects.
    /// Over TLS the certificate is checked for `domain` (a `dns:///` name)
    /// when the URL holds an address rather than that name.
    pub(super) fn dial(
        &self,
        url: &str,
        target: &str,
        domain: Option<&str>,
    ) -> Result<UpstreamServer, UpstreamError> {
        let invalid = |source| UpstreamError::InvalidEndpoint {
            endpoint: url.to_owned(),
            source,
        };
        let mut endpoint = Endpoint::from_shared(url.to_owned()).map_err(invalid)?;
        if url.starts_with("https://") {
            let ca = self.ca.as_deref().ok_or_else(|| UpstreamError::MissingCa {
                endpoint: url.to_owned(),
            })?;
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some(domain) = domain {
                tls = tls.domain_name(domain);
            }
            endpoint = endpoint.tls_config(tls).map_err(invalid)?;
        }
        let channel = endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(UpstreamServer {
            url: url.to_owned(),
            target: target.to_owned(),
            channel: InterceptedService::new(channel.clone(), self.bearer.clone()),
            health: HealthClient::with_interceptor(channel, self.bearer.clone()),
            // Innocent until proven otherwise: the first trigger need not wait for a check.
            healthy: AtomicBool::new(true),
        })
    }
}

/// One server the client may stream from.
#[derive(Debug)]
pub struct UpstreamServer {
    url: String,
    /// The `--server` entry it comes from: itself, or a `dns:///` name.
    target: String,
    /// Recommend streams are opened on it with the codec that keeps books as bytes.
    channel: AuthChannel,
    health: HealthClient<AuthChannel>,
    healthy: AtomicBool,
}

impl UpstreamServer {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records the server's health; says whether it changed.
    pub(super) fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    /// Opens a `Recommend` stream, as the generated client would, but with
    /// a codec that hands each book over as its bytes.
    pub(super) async fn open_recommend(
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

    /// Asks the server's health service, within `timeout`, whether it serves.
    pub(super) async fn check(&self, timeout: Duration) -> bool {
        let request = HealthCheckRequest {
            service: HEALTH_SERVICE.to_owned(),
        };
        let answer = tokio::time::timeout(timeout, self.health.clone().check(request)).await;
        matches!(&answer, Ok(Ok(response)) if response.get_ref().status() == ServingStatus::Serving)
    }
}
