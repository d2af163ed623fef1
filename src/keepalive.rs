//! HTTP/2 keepalive, the same flags on both sides of a long stream: an idle
//! follow stays open through proxies, and a peer that stopped answering is
//! noticed, so that the stream can be resumed elsewhere.

use std::time::Duration;

/// `--keepalive-interval` and `--keepalive-timeout`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct KeepaliveArgs {
    /// Send an HTTP/2 ping on a connection idle this long (even with no call
    /// in flight), so that an idle follow stays open through proxies.
    #[arg(long, env = "BOOKSTREAM_KEEPALIVE_INTERVAL", default_value = "20s",
          value_parser = humantime::parse_duration)]
    pub keepalive_interval: Duration,

    /// A ping unanswered this long means the peer is gone: its connection is
    /// closed (and a client resumes its runs elsewhere).
    #[arg(long, env = "BOOKSTREAM_KEEPALIVE_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub keepalive_timeout: Duration,
}
