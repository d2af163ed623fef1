//! Whether the server can serve books: its catalog is checked now and then,
//! and the verdict drives the gRPC health service and `/health`, so probes
//! and load balancers stop sending work to a server whose store is down or
//! empty, and send it again as soon as the store is back.

use std::time::Duration;

use tokio::sync::watch;
use tonic_health::server::HealthReporter;

use crate::{grpc::RecommendationService, source::Catalog};

/// The last verdict on the catalog: `None` when it serves, else why not.
#[derive(Debug, Clone)]
pub struct CatalogHealth {
    verdict: watch::Receiver<Option<String>>,
}

impl CatalogHealth {
    /// Why the catalog cannot serve, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.verdict.borrow().clone()
    }

    /// A verdict that never changes, for a catalog that needs no checking.
    pub fn always_serving() -> Self {
        let (_, verdict) = watch::channel(None);
        Self { verdict }
    }
}

/// Not yet checked: a store is not trusted until it answers.
const NOT_YET_CHECKED: &str = "the catalog has not been checked yet";

/// Checks `catalog` every `interval` for as long as the returned task runs,
/// reporting each change to the health service and the log.
pub fn spawn_monitor(
    catalog: Catalog,
    interval: Duration,
    reporter: HealthReporter,
) -> (CatalogHealth, tokio::task::JoinHandle<()>) {
    if catalog.is_generated() {
        let task = tokio::spawn(async move {
            reporter.set_serving::<Served>().await;
        });
        return (CatalogHealth::always_serving(), task);
    }
    let (sender, verdict) = watch::channel(Some(NOT_YET_CHECKED.to_owned()));
    let task = tokio::spawn(async move {
        reporter.set_not_serving::<Served>().await;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let problem = catalog.check().await.err().map(|error| error.to_string());
            if *sender.borrow() == problem {
                continue;
            }
            match &problem {
                None => {
                    tracing::info!(catalog = catalog.name(), "the catalog serves books");
                    reporter.set_serving::<Served>().await;
                }
                Some(problem) => {
                    tracing::warn!(catalog = catalog.name(), "not serving: {problem}");
                    reporter.set_not_serving::<Served>().await;
                }
            }
            sender.send_replace(problem);
        }
    });
    (CatalogHealth { verdict }, task)
}

/// The service whose health is reported.
type Served = bookstream::pb::recommendations_server::RecommendationsServer<RecommendationService>;
