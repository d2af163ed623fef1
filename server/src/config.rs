//! The server's command line; every flag also reads an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

/// Bookstream recommendations server: streams books over gRPC and answers the
/// same books in one response over unary gRPC and REST/JSON.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version)]
pub struct ServerConfig {
    /// Address of the gRPC listener (Recommend, RecommendBatch, health, reflection).
    #[arg(long, env = "BOOKSTREAM_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// Address of the REST/JSON listener (/recommendations, /recommendations/stream, /health).
    #[arg(long, env = "BOOKSTREAM_REST_ADDR", default_value = "127.0.0.1:8080")]
    pub rest_addr: SocketAddr,

    /// Most books one request may ask for, streamed or not.
    #[arg(long, env = "BOOKSTREAM_MAX_RESULTS", default_value_t = 10_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_results: u64,

    /// Largest one-shot answer in bytes: the RecommendBatch message and the
    /// /recommendations JSON body. Larger answers are refused with a pointer
    /// to the streaming calls, which have no size limit.
    #[arg(long, env = "BOOKSTREAM_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=(u32::MAX as u64)))]
    pub max_message_bytes: u64,

    /// Most streams (gRPC Recommend and REST NDJSON together) served at
    /// once; more are refused with RESOURCE_EXHAUSTED / HTTP 429 rather than
    /// slowing every caller down.
    #[arg(long, env = "BOOKSTREAM_MAX_STREAMS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_streams: u64,

    /// Most open connections per listener (gRPC and REST each); a connection
    /// past the cap is closed as soon as it is accepted.
    #[arg(long, env = "BOOKSTREAM_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_connections: u64,

    /// On Ctrl-C or SIGTERM the server stops accepting at once; streams in
    /// flight then have this long to finish before they are ended with
    /// UNAVAILABLE ("resume elsewhere"), which clients treat as retryable.
    #[arg(long, env = "BOOKSTREAM_SHUTDOWN_GRACE", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Shared secret: when set, every gRPC call and REST route needs
    /// `authorization: Bearer <token>` and answers UNAUTHENTICATED / 401
    /// without it. Pass it through the environment, not the command line.
    #[arg(long, env = "BOOKSTREAM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM certificate (chain) to serve gRPC over TLS; needs --tls-key.
    #[arg(long, env = "BOOKSTREAM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BOOKSTREAM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerConfig {
    /// The configuration of `server` with no flags: the defaults, on the
    /// default addresses (tests and embedders override what they need).
    pub fn defaults() -> Self {
        Self::parse_from(["server"])
    }

    /// The limits that requests are checked against.
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            max_results: self.max_results,
            max_message_bytes: self.max_message_bytes as usize,
        }
    }
}
