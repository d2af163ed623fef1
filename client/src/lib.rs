//! Bookstream's trigger client: an HTTP listener where `GET /{n}` streams n
//! recommendations from the server into a file and says what happened.
//!
//! The trigger owns a run, the upstream owns the network, the sink owns the
//! file; none reaches into another's job.

pub mod access;
mod answer;
pub mod config;
pub mod discovery;
pub mod guard;
pub mod input;
pub mod metrics;
pub mod run;
pub mod runs;
pub mod sink;
pub mod tls;
pub mod trigger;
pub mod upstream;
pub mod webpage;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use bookstream::listener::{ConnectionLimits, Gate, GuardedListener};
use tokio::net::TcpListener;

pub use config::ClientConfig;
use trigger::TriggerSettings;
use upstream::{Upstream, UpstreamError};

/// Why the client could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot listen on {addr} (choose another address with --listen)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot read the CA certificate {path}: {source}")]
    Ca {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    History(#[from] runs::history::HistoryError),
    #[error(transparent)]
    Session(#[from] access::SessionError),
    #[error("the trigger listener failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A client whose listener is bound but not yet serving.
#[derive(Debug)]
pub struct Client {
    listener: GuardedListener,
    runs: runs::Runs,
    settings: TriggerSettings,
    health_interval: Duration,
    resolve_interval: Duration,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Client {
    /// Binds the trigger listener and prepares (without connecting) the server channel.
    pub async fn bind(config: ClientConfig) -> Result<Self, ClientError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        let ca = match &config.ca {
            Some(path) => Some(
                tokio::fs::read(path)
                    .await
                    .map_err(|source| ClientError::Ca {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let metrics = config
            .metrics
            .then(|| Arc::new(metrics::ClientMetrics::new()));
        let upstream = Upstream::new(
            &config.server,
            upstream::Timeouts {
                connect: config.connect_timeout,
                keepalive: config.keepalive,
            },
            config.token.as_deref(),
            ca.as_deref(),
            metrics.clone(),
        )?;
        let runs = runs::Runs::open(
            Some(&config.history_path()),
            config.history_limit as usize,
            &runs::written::base_dir(&config.output),
            runs::watchers::WatchLimits {
                total: config.max_watchers as usize,
                per_run: config.max_watchers_per_run as usize,
            },
        )?;
        // The first triggers need servers: `dns:///` names are resolved now.
        upstream.resolve().await;
        let resolve_interval = config.resolve_interval;
        let health_interval = config.health_interval;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ClientError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let gate = Gate::new(
            connection_limits(&config),
            metrics
                .as_ref()
                .map(|metrics| metrics.closed_counters())
                .unwrap_or_default(),
        );
        let access = access::Access::new(
            listener.local_addr().map_err(ClientError::Serve)?,
            &config.allowed_host,
            config.listen_token.as_deref(),
            tls.is_some(),
        )?;
        let listener = GuardedListener::new(listener, gate);
        let settings = TriggerSettings {
            access,
            upstream,
            output: config.output,
            format: config.format,
            max_n: config.max_n,
            echo: config.echo,
            idle_timeout: config.idle_timeout,
            max_runs: config.max_runs as usize,
            metrics,
            retry: run::RetryPolicy {
                retries: config.retries,
                first_backoff: config.retry_backoff,
            },
        };
        Ok(Self {
            listener,
            runs,
            settings,
            health_interval,
            resolve_interval,
            tls,
        })
    }

    /// Where the trigger listener is bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, ClientError> {
        self.listener.local_addr().map_err(ClientError::Serve)
    }

    /// The trigger's base URL, `https://` when it serves TLS.
    pub fn base_url(&self) -> Result<String, ClientError> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}/", self.local_addr()?))
    }

    /// Serves triggers until `shutdown` completes; runs in progress finish first.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ClientError> {
        let health_checks = self
            .settings
            .upstream
            .spawn_health_checks(self.health_interval);
        let discovery = self
            .settings
            .upstream
            .spawn_discovery(self.resolve_interval);
        let app = trigger::app(self.settings, self.runs);
        let served = match self.tls {
            Some(tls) => {
                let listener =
                    tls::TlsListener::new(self.listener, tls).map_err(ClientError::Serve)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
        .map_err(ClientError::Serve);
        health_checks.abort();
        if let Some(discovery) = discovery {
            discovery.abort();
        }
        served
    }
}

/// Descriptors kept for everything but the listener's connections: each
/// run's file and the channels to the servers, the history, the runtime's own.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The trigger listener's connection limits, fitted to the descriptor limit.
fn connection_limits(config: &ClientConfig) -> ConnectionLimits {
    ConnectionLimits::fitted(
        u64::from(config.max_connections),
        config.header_read_timeout,
        1,
        RESERVED_DESCRIPTORS + 2 * u64::from(config.max_runs),
    )
}
