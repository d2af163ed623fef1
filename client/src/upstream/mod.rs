//! The network side of a run: the recommendation servers, as a set that
//! changes while the client runs. Plain URLs are in it from the start;
//! every `dns:///NAME:PORT` target contributes one server per address NAME
//! resolves to, re-resolved every `--resolve-interval`: new addresses join,
//! vanished ones leave. Channels connect lazily and reconnect by themselves,
//! so the client can start before the servers and outlive a restart.
//! Triggers take the servers in turn; a server whose stream broke, or whose
//! health check fails, is skipped until its health check passes again.

mod error;
mod server;
mod token;

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bookstream::{COUNT_HEADER, RecommendationRequest, START_RANK_HEADER, StartFrom};
use bytes::Bytes;
use tonic::Streaming;

pub use error::{UpstreamError, is_retryable};
use server::Dialer;
pub use server::UpstreamServer;
use token::BearerToken;

use crate::{
    discovery::{self, Target},
    metrics::Metrics,
    run::FollowFrom,
};

/// How long connecting may take, and how an idle connection is kept alive.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub keepalive: bookstream::keepalive::KeepaliveArgs,
}

/// The recommendation servers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    targets: Vec<Target>,
    dialer: Dialer,
    /// The servers now: a snapshot replaced whole when discovery changes it.
    servers: RwLock<Arc<[Arc<UpstreamServer>]>>,
    next: AtomicUsize,
    health_timeout: Duration,
    metrics: Metrics,
}

/// An opened stream, which server it comes from, and how many books it announced.
pub struct Attempt {
    /// Each book's message, as it arrived: read in place with `BookView::decode`.
    pub stream: Streaming<Bytes>,
    pub server: Arc<UpstreamServer>,
    /// The books this stream will send (the `bookstream-count` header), when
    /// the server said; a user's list may hold fewer books than asked for.
    pub count: Option<u64>,
    /// A follow's first rank (the `bookstream-start-rank` header).
    pub start: Option<u64>,
}

/// What the client knows of one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerHealth {
    pub url: String,
    pub healthy: bool,
    /// The `--server` entry it comes from.
    pub target: String,
}

impl Upstream {
    /// Prepares a channel per URL target without connecting (the first
    /// request connects); `dns:///` targets join at the first [`Self::resolve`].
    /// With a `token`, every call presents it; `https://` servers are
    /// verified against `ca` (PEM), and so are `dns:///` ones when a CA is given.
    pub fn new(
        targets: &[Target],
        timeouts: Timeouts,
        token: Option<&str>,
        ca: Option<&[u8]>,
        metrics: Metrics,
    ) -> Result<Self, UpstreamError> {
        if targets.is_empty() {
            return Err(UpstreamError::NoTargets);
        }
        let connect_timeout = timeouts.connect;
        let dialer = Dialer {
            timeouts,
            bearer: BearerToken::new(token)?,
            ca: ca.map(<[u8]>::to_vec),
        };
        let servers = targets
            .iter()
            .filter_map(|target| match target {
                Target::Url(url) => Some(dialer.dial(url, url, None).map(Arc::new)),
                Target::Dns { .. } => None,
            })
            .collect::<Result<Arc<[_]>, UpstreamError>>()?;
        let upstream = Self {
            inner: Arc::new(Inner {
                targets: targets.to_vec(),
                dialer,
                servers: RwLock::new(Arc::from([])),
                next: AtomicUsize::new(0),
                health_timeout: connect_timeout,
                metrics,
            }),
        };
        upstream.replace(servers);
        Ok(upstream)
    }

    /// The `--server` entries, comma-separated.
    pub fn endpoints(&self) -> String {
        let targets: Vec<String> = self.inner.targets.iter().map(Target::to_string).collect();
        targets.join(", ")
    }

    /// The servers now.
    pub fn servers(&self) -> Arc<[Arc<UpstreamServer>]> {
        self.inner
            .servers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every server with its last known health.
    pub fn health(&self) -> Vec<ServerHealth> {
        self.servers()
            .iter()
            .map(|server| ServerHealth {
                url: server.url().to_owned(),
                healthy: server.is_healthy(),
                target: server.target().to_owned(),
            })
            .collect()
    }

    /// Resolves every `dns:///` target now and updates the set: servers at
    /// new addresses join, servers whose address vanished leave (a stream in
    /// flight on one goes on, or breaks and resumes elsewhere), and the rest
    /// keep their channels and health. A name that fails to resolve keeps
    /// the servers it had: a passing DNS hiccup empties no set.
    pub async fn resolve(&self) {
        let current = self.servers();
        let mut next: Vec<Arc<UpstreamServer>> = Vec::with_capacity(current.len());
        for target in &self.inner.targets {
            let target_name = target.to_string();
            let kept_from = |server: &&Arc<UpstreamServer>| server.target() == target_name;
            match target {
                Target::Url(_) => next.extend(current.iter().filter(kept_from).cloned()),
                Target::Dns { host, port } => match discovery::resolve(host, *port).await {
                    Ok(addresses) => {
                        for address in addresses {
                            let url = discovery::url_of(address, self.inner.dialer.ca.is_some());
                            match current.iter().find(|server| server.url() == url) {
                                Some(server) => next.push(server.clone()),
                                None => {
                                    match self.inner.dialer.dial(&url, &target_name, Some(host)) {
                                        Ok(server) => next.push(Arc::new(server)),
                                        Err(error) => tracing::warn!(%target, "{error}"),
                                    }
                                }
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%target, "resolving failed, keeping the servers it had: {error}");
                        next.extend(current.iter().filter(kept_from).cloned());
                    }
                },
            }
        }
        for joined in next.iter().filter(|server| !contains(&current, server)) {
            tracing::info!(
                server = joined.url(),
                target = joined.target(),
                "server joined"
            );
        }
        for left in current.iter().filter(|server| !contains(&next, server)) {
            tracing::info!(server = left.url(), target = left.target(), "server left");
            if let Some(metrics) = &self.inner.metrics {
                metrics.forget_server(left.url());
            }
        }
        self.replace(next.into());
    }

    /// Re-resolves every `dns:///` target every `interval`, for as long as
    /// the client runs; nothing to do without such targets.
    pub fn spawn_discovery(&self, interval: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let has_names = self
            .inner
            .targets
            .iter()
            .any(|target| matches!(target, Target::Dns { .. }));
        if !has_names {
            return None;
        }
        let upstream = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                upstream.resolve().await;
            }
        }))
    }

    fn replace(&self, servers: Arc<[Arc<UpstreamServer>]>) {
        if let Some(metrics) = &self.inner.metrics {
            for server in servers.iter() {
                metrics.server_health(server.url(), server.is_healthy());
            }
        }
        *self
            .inner
            .servers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = servers;
    }

    /// Opens a `Recommend` stream of the `count`-book result for `user_id`,
    /// starting at book `start_at` (0 for all of it, `k` to resume after `k`
    /// books), on the next healthy server in turn.
    pub async fn recommend(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
        follow: Option<FollowFrom>,
    ) -> Result<Attempt, UpstreamError> {
        let server = self.pick().ok_or_else(|| UpstreamError::NoServers {
            targets: self.endpoints(),
        })?;
        let (start_from, start_time_ms) = match follow {
            None | Some(FollowFrom::Rank) => (StartFrom::Rank, 0),
            Some(FollowFrom::Earliest) => (StartFrom::Earliest, 0),
            Some(FollowFrom::Latest) => (StartFrom::Latest, 0),
            Some(FollowFrom::Time(ms)) => (StartFrom::Time, ms),
        };
        let request = RecommendationRequest {
            user_id,
            max_results: count,
            start_at,
            follow: follow.is_some(),
            start_from: start_from as i32,
            start_time_ms,
        };
        match server.open_recommend(request).await {
            Ok(response) => {
                let number = |header| {
                    response
                        .metadata()
                        .get(header)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse().ok())
                };
                let (count, start) = (number(COUNT_HEADER), number(START_RANK_HEADER));
                Ok(Attempt {
                    stream: response.into_inner(),
                    server,
                    count,
                    start,
                })
            }
            Err(status) => {
                let error = error::classify(server.url(), status);
                if matches!(error, UpstreamError::Unreachable { .. }) {
                    self.mark_broken(&server);
                }
                Err(error)
            }
        }
    }

    /// A stream from `server` broke: skip it until its health check passes
    /// (unless it is the only one: then there is nothing to skip to).
    pub fn mark_broken(&self, server: &UpstreamServer) {
        if self.servers().len() > 1 && server.set_healthy(false) {
            self.record_health(server);
            tracing::warn!(
                server = server.url(),
                "skipping the server until it is healthy"
            );
        }
    }

    /// Asks every server's health service once and records the answers.
    pub async fn check_health(&self) {
        for server in self.servers().iter() {
            let healthy = server.check(self.inner.health_timeout).await;
            let changed = server.set_healthy(healthy);
            self.record_health(server);
            if changed {
                tracing::info!(server = server.url(), healthy, "server health changed");
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

    fn record_health(&self, server: &UpstreamServer) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.server_health(server.url(), server.is_healthy());
        }
    }

    /// The next server in turn that is healthy, or the next in turn when none
    /// is: with every server down, trying one still beats refusing at once.
    fn pick(&self) -> Option<Arc<UpstreamServer>> {
        let servers = self.servers();
        let count = servers.len();
        if count == 0 {
            return None;
        }
        let first = self.inner.next.fetch_add(1, Ordering::Relaxed) % count;
        let healthy = (0..count)
            .map(|offset| (first + offset) % count)
            .find(|&index| servers[index].is_healthy());
        Some(servers[healthy.unwrap_or(first)].clone())
    }
}

fn contains(servers: &[Arc<UpstreamServer>], server: &Arc<UpstreamServer>) -> bool {
    servers.iter().any(|other| Arc::ptr_eq(other, server))
}

/// A run opens its streams from the servers in turn.
impl crate::run::Opener for Upstream {
    type Stream = Streaming<Bytes>;
    type Server = Arc<UpstreamServer>;

    async fn open(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
        follow: Option<FollowFrom>,
    ) -> Result<crate::run::Opened<Self::Stream, Self::Server>, UpstreamError> {
        let attempt = self.recommend(user_id, count, start_at, follow).await?;
        Ok(crate::run::Opened {
            url: attempt.server.url().to_owned(),
            stream: attempt.stream,
            server: attempt.server,
            count: attempt.count,
            start: attempt.start,
        })
    }

    fn mark_broken(&self, server: &Self::Server) {
        Upstream::mark_broken(self, server);
    }
}
