//! The four read scenarios and the two write scenarios (`append.rs`). Each one is a function "make one request, verify it,
//! return its measurements" in its own file; this module only builds the
//! shared clients and dispatches. Scenarios know nothing of load models.

mod append;
mod grpc;
mod grpc_stream;
mod grpc_unary;
mod http;
mod json;
mod proto_scan;
mod rest;
mod rest_stream;

use std::sync::Arc;

use bookstream::RecommendationRequest;
use hyper::Uri;
use tonic::transport::Endpoint;

use crate::{cli::ScenarioName, load::Requester, outcome::Outcome, verify::Expectation};

/// A scenario's settings could not make a client.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("invalid {what} URL {url:?}: {reason}")]
    Url {
        what: &'static str,
        url: String,
        reason: String,
    },
}

/// Where and what to ask, shared by the scenarios of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub grpc_url: String,
    pub rest_url: String,
    pub user_id: u64,
    pub max_results: u64,
    pub connections: usize,
    /// Sent as `authorization: Bearer <token>` on every request.
    pub token: Option<String>,
}

/// A scenario ready to send requests: its clients are built and shared by all users.
#[derive(Debug, Clone)]
pub struct Scenario {
    name: ScenarioName,
    transport: Transport,
    expectation: Arc<Expectation>,
}

#[derive(Debug, Clone)]
enum Transport {
    Http(http::HttpTarget),
    Grpc {
        target: grpc::GrpcTarget,
        request: RecommendationRequest,
    },
    GrpcAppend(Arc<append::GrpcProducers>),
    RestAppend(Arc<append::RestProducer>),
}

impl Scenario {
    /// Builds the scenario's clients. `expectation` is shared because
    /// generating its sample books is the one costly step.
    pub fn new(
        name: ScenarioName,
        settings: &Settings,
        expectation: Arc<Expectation>,
    ) -> Result<Self, ScenarioError> {
        let transport = match name {
            ScenarioName::Rest | ScenarioName::RestStream => {
                let path = match name {
                    ScenarioName::RestStream => "/recommendations/stream",
                    _ => "/recommendations",
                };
                let uri = rest_uri(&settings.rest_url, path, settings)?;
                let target =
                    http::HttpTarget::new(&uri, settings.connections, settings.token.as_deref())
                        .map_err(|reason| ScenarioError::Url {
                            what: "REST",
                            url: settings.rest_url.clone(),
                            reason,
                        })?;
                Transport::Http(target)
            }
            ScenarioName::RestAppend => Transport::RestAppend(Arc::new(append::RestProducer::new(
                &settings.rest_url,
                settings.user_id,
                settings.max_results,
                settings.connections,
                settings.token.as_deref(),
            ))),
            ScenarioName::GrpcAppend => {
                Transport::GrpcAppend(Arc::new(append::GrpcProducers::new(
                    grpc_target(settings)?,
                    settings.user_id,
                    settings.max_results,
                )))
            }
            ScenarioName::GrpcUnary | ScenarioName::GrpcStream => {
                let endpoint =
                    Endpoint::from_shared(settings.grpc_url.clone()).map_err(|error| {
                        ScenarioError::Url {
                            what: "gRPC",
                            url: settings.grpc_url.clone(),
                            reason: error.to_string(),
                        }
                    })?;
                Transport::Grpc {
                    target: grpc::GrpcTarget::new(
                        endpoint,
                        settings.connections,
                        settings.token.as_deref(),
                    )
                    .map_err(|reason| ScenarioError::Url {
                        what: "gRPC",
                        url: settings.grpc_url.clone(),
                        reason,
                    })?,
                    request: RecommendationRequest {
                        user_id: settings.user_id,
                        max_results: settings.max_results,
                        start_at: 0,
                        ..Default::default()
                    },
                }
            }
        };
        Ok(Self {
            name,
            transport,
            expectation,
        })
    }

    pub fn name(&self) -> ScenarioName {
        self.name
    }
}

impl Requester for Scenario {
    async fn request(&self, user: usize) -> Outcome {
        let expectation = &*self.expectation;
        match (&self.transport, self.name) {
            (Transport::Http(target), ScenarioName::RestStream) => {
                rest_stream::request(target, expectation).await
            }
            (Transport::Http(target), _) => rest::request(target, expectation).await,
            (Transport::Grpc { target, request }, ScenarioName::GrpcStream) => {
                grpc_stream::request(target, user, *request, expectation).await
            }
            (Transport::Grpc { target, request }, _) => {
                grpc_unary::request(target, user, *request, expectation).await
            }
            (Transport::GrpcAppend(producers), _) => producers.request(user).await,
            (Transport::RestAppend(producer), _) => producer.request().await,
        }
    }
}

/// The channels of the gRPC scenarios.
fn grpc_target(settings: &Settings) -> Result<grpc::GrpcTarget, ScenarioError> {
    let endpoint =
        Endpoint::from_shared(settings.grpc_url.clone()).map_err(|error| ScenarioError::Url {
            what: "gRPC",
            url: settings.grpc_url.clone(),
            reason: error.to_string(),
        })?;
    grpc::GrpcTarget::new(endpoint, settings.connections, settings.token.as_deref()).map_err(
        |reason| ScenarioError::Url {
            what: "gRPC",
            url: settings.grpc_url.clone(),
            reason,
        },
    )
}

/// `{base}{path}?user_id=..&max_results=..`, parsed once per run rather than per request.
fn rest_uri(base: &str, path: &str, settings: &Settings) -> Result<Uri, ScenarioError> {
    let url = format!(
        "{}{path}?user_id={}&max_results={}",
        base.trim_end_matches('/'),
        settings.user_id,
        settings.max_results
    );
    let uri: Uri =
        url.parse()
            .map_err(|error: hyper::http::uri::InvalidUri| ScenarioError::Url {
                what: "REST",
                url: base.to_owned(),
                reason: error.to_string(),
            })?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(ScenarioError::Url {
            what: "REST",
            url: base.to_owned(),
            reason: "expected http://host:port (TLS is not supported)".to_owned(),
        });
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            grpc_url: "http://127.0.0.1:1".to_owned(),
            rest_url: "http://127.0.0.1:2/".to_owned(),
            user_id: 7,
            max_results: 10,
            connections: 1,
            token: None,
        }
    }

    #[test]
    fn the_rest_url_carries_the_user_and_count() {
        let uri = rest_uri("http://127.0.0.1:2/", "/recommendations", &settings()).unwrap();
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:2/recommendations?user_id=7&max_results=10"
        );
    }

    #[test]
    fn a_rest_url_without_http_is_refused() {
        assert!(rest_uri("127.0.0.1:2", "/recommendations", &settings()).is_err());
        assert!(rest_uri("https://host", "/recommendations", &settings()).is_err());
    }
}
