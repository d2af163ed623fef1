//! Bookstream's recommendations server: the gRPC service (streaming and
//! unary), the REST/JSON twin, health and reflection, on two listeners that
//! share one shutdown.
//!
//! Tests and embedders call [`Server::bind`] with port 0, read the bound
//! addresses, then [`Server::serve`] until their shutdown future completes.

pub mod answer_log;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod follow;
pub mod grpc;
pub mod health;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod one_shot;
pub mod pipeline;
pub mod rest;
mod running;
pub mod shutdown;
pub mod source;
pub mod streams;
pub mod work;

use std::{future::Future, net::SocketAddr, sync::Arc};

use bookstream::listener::{ConnectionLimits, Gate, GuardedListener};
use bookstream::pb::FILE_DESCRIPTOR_SET;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Identity, ServerTlsConfig},
};
use tower_http::trace::TraceLayer;

pub use config::ServerConfig;
use grpc::RecommendationService;
pub use running::RunningServer;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen for {role} on {addr} (choose another address with {flag})")]
    Bind {
        role: &'static str,
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("cannot read the TLS {what} {path}: {source}")]
    TlsFile {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] source::OpenError),
    #[error(transparent)]
    Writer(#[from] ingest::append::WriterError),
    #[error(transparent)]
    Retention(follow::retention::NeedsWrites),
    #[error("building the reflection service failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC listener failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("the REST listener failed: {0}")]
    Rest(#[source] std::io::Error),
}

/// A server whose listeners are bound but not yet serving.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    grpc: TcpListener,
    rest: TcpListener,
    tls: Option<ServerTlsConfig>,
    catalog: source::Catalog,
    appender: ingest::Appender,
    streams: streams::StreamGauge,
    metrics: metrics::Metrics,
}

impl Server {
    /// Binds both listeners, so that the ports are known (and taken) before serving.
    /// Bad TLS files and an unusable catalog are reported here too, before
    /// anything is served.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServeError> {
        let streams = streams::StreamGauge::new(config.max_streams as usize);
        let wakeups = follow::Wakeups::default();
        let metrics = config.metrics.then(|| {
            Arc::new(metrics::ServerMetrics::new(
                streams.gauge(),
                wakeups.followers_gauge(),
            ))
        });
        let read_seconds = metrics
            .as_ref()
            .map(|metrics| metrics.catalog_read_seconds.clone());
        let follow_metrics = metrics.as_ref().map(|metrics| source::FollowMetrics {
            delivered: metrics.follow_books.clone(),
            lag: metrics.follow_lag_seconds.clone(),
        });
        // The writer first: it creates and migrates an SQLite file before readers open it.
        let appender = match &config.write_token {
            Some(_) => ingest::Appender::open(
                &config.catalog,
                usize::try_from(config.max_append_books).unwrap_or(usize::MAX),
                metrics.clone(),
                wakeups.clone(),
            )?,
            None => ingest::Appender::off(),
        };
        if config.follow.retention.is_on() && !appender.writes() {
            return Err(ServeError::Retention(follow::retention::NeedsWrites));
        }
        let catalog = source::Catalog::open(
            &config.catalog,
            config.store_options(),
            read_seconds,
            wakeups,
            follow_metrics,
        )?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(ServerTlsConfig::new().identity(Identity::from_pem(
                read_tls_file("certificate", cert).await?,
                read_tls_file("key", key).await?,
            ))),
            _ => None,
        };
        let grpc = bind("gRPC", "--grpc-addr", config.grpc_addr).await?;
        let rest = bind("REST", "--rest-addr", config.rest_addr).await?;
        Ok(Self {
            config,
            grpc,
            rest,
            tls,
            catalog,
            appender,
            streams,
            metrics,
        })
    }

    /// Where the gRPC listener is bound (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        local_addr(&self.grpc, self.config.grpc_addr)
    }

    /// Where the REST listener is bound.
    pub fn rest_addr(&self) -> SocketAddr {
        local_addr(&self.rest, self.config.rest_addr)
    }

    /// Serves both listeners until `shutdown` completes, then stops accepting
    /// and lets in-flight requests finish; streams still running after the
    /// shutdown grace are ended with a clear status, and whatever is left a
    /// moment later is dropped.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let limits = self.config.limits();
        let connection_limits = connection_limits(&self.config);
        let streams = self.streams;
        let stop = CancellationToken::new();
        let give_up = CancellationToken::new();
        let wakeups = self.catalog.wakeups().clone();
        tokio::spawn(shutdown::in_stages(
            shutdown,
            self.config.shutdown_grace,
            streams.clone(),
            wakeups.clone(),
            stop.clone(),
            give_up.clone(),
        ));
        let follow = &self.config.follow;
        let expired = self.metrics.as_ref().map(|m| m.books_expired.clone());
        let mut background: Vec<tokio::task::JoinHandle<()>> = follow
            .retention
            .spawn(self.appender.clone(), expired)
            .map_err(ServeError::Retention)?
            .into_iter()
            .collect();
        match (&self.config.catalog, self.catalog.store()) {
            (source::CatalogSpec::Postgres(url), Some(store)) => {
                background.push(follow::postgres::spawn(url, store.clone(), wakeups));
            }
            (source::CatalogSpec::Sqlite(path), Some(_)) => background.push(follow::sqlite::spawn(
                path.clone(),
                wakeups,
                follow.sqlite_poll_interval,
            )),
            _ => {}
        }

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let (catalog_health, monitor) = health::spawn_monitor(
            self.catalog.clone(),
            self.config.catalog_check_interval,
            health_reporter,
        );
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        let token_check = auth::TokenCheck::new(self.config.token.as_deref())
            .with_write_token(self.config.write_token.as_deref());
        let writes = auth::WriteAccess::new(
            self.config.write_token.as_deref(),
            self.config.token.as_deref(),
        );
        // Idle follows stay open through proxies, and a dead caller is noticed.
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(follow.keepalive.keepalive_interval))
            .http2_keepalive_timeout(Some(follow.keepalive.keepalive_timeout));
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        // One pipeline for every transport: the stream and one-shot caps are
        // shared by the gRPC and REST listeners.
        let pipeline = pipeline::Pipeline::new(
            limits,
            streams,
            one_shot::OneShotGate::new(self.config.max_one_shot as usize),
            self.catalog.clone(),
            self.metrics.clone(),
        );
        let recommendations =
            RecommendationService::new(pipeline.clone(), self.appender.clone(), writes.clone())
                .into_server();
        // Probes cannot send a token: health answers without it; every RPC
        // that returns books, and reflection, still require it.
        let grpc = builder
            .layer(metrics::grpc::GrpcMetricsLayer::new(self.metrics.clone()))
            .layer(grpc_trace_layer())
            .add_service(health_service)
            .add_service(InterceptedService::new(reflection, token_check.clone()))
            .add_service(InterceptedService::new(
                recommendations,
                token_check.clone(),
            ))
            .serve_with_incoming_shutdown(
                GuardedListener::new(
                    self.grpc,
                    Gate::new(
                        connection_limits,
                        metrics::closed_counters(&self.metrics, "grpc"),
                    ),
                )
                .into_incoming(),
                stop.clone().cancelled_owned(),
            );
        let rest_metrics = self.metrics.clone();
        let rest_app = rest::app(rest::RestParts {
            pipeline,
            appender: self.appender,
            writes,
            max_append_body_bytes: self.config.max_append_body_bytes(),
            health: catalog_health,
            metrics: self.metrics,
            token: token_check,
        });
        // The REST listener holds to the same limits as the gRPC one.
        let rest_gate = Gate::new(
            connection_limits,
            metrics::closed_counters(&rest_metrics, "rest"),
        );
        let rest = axum::serve(GuardedListener::new(self.rest, rest_gate), rest_app)
            .with_graceful_shutdown(stop.clone().cancelled_owned());

        // Both listeners drain in a shutdown; if either fails, the other is
        // stopped too: half a server is no server.
        let served = async {
            tokio::try_join!(async { grpc.await.map_err(ServeError::from) }, async {
                rest.await.map_err(ServeError::Rest)
            },)
            .map(|_| ())
        };
        let result = tokio::select! {
            result = served => result,
            () = give_up.cancelled() => {
                tracing::warn!("connections still open after the shutdown grace were dropped");
                Ok(())
            }
        };
        stop.cancel();
        monitor.abort();
        for task in background {
            task.abort();
        }
        result
    }
}

/// Descriptors kept for everything but the two listeners' connections:
/// the store's connections, files, the runtime's own.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The connection limits of each of the two listeners, fitted to the descriptor limit.
fn connection_limits(config: &ServerConfig) -> ConnectionLimits {
    ConnectionLimits::fitted(
        config.max_connections,
        config.header_read_timeout,
        2,
        RESERVED_DESCRIPTORS + u64::from(config.pool_size),
    )
}

async fn read_tls_file(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| ServeError::TlsFile {
            what,
            path: path.to_owned(),
            source,
        })
}

async fn bind(
    role: &'static str,
    flag: &'static str,
    addr: SocketAddr,
) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            role,
            addr,
            flag,
            source,
        })
}

fn local_addr(listener: &TcpListener, configured: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(configured)
}

/// The gRPC access log. A caller's mistake (an unknown user, a bad request,
/// a missing token, a caller who left) is an answer, not a failure, and a
/// store that is down is told once by the catalog's health: neither is an
/// ERROR line. The server logs its own faults at ERROR where they happen.
fn grpc_trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::GrpcErrorsAsFailures>,
    tower_http::trace::DefaultMakeSpan,
    tower_http::trace::DefaultOnRequest,
    tower_http::trace::DefaultOnResponse,
    tower_http::trace::DefaultOnBodyChunk,
    tower_http::trace::DefaultOnEos,
    tower_http::trace::DefaultOnFailure,
> {
    use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
    let answers = [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
        GrpcCode::PermissionDenied,
        GrpcCode::DeadlineExceeded,
    ];
    let classifier = answers.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    );
    TraceLayer::new(SharedClassifier::new(classifier))
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN))
}
