//! How the server stops: in stages, so that streams in flight get a grace
//! to finish and then a clear status, and nobody is waited for forever.

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{follow::Wakeups, streams::StreamGauge};

/// How long ended streams get to say their last word before the server stops waiting.
const LAST_WORD: Duration = Duration::from_secs(1);

/// The shutdown, in stages: stop accepting and end the follows (they would
/// never finish; their callers resume elsewhere); after `grace`, end the
/// streams still running; a moment later, stop waiting for anyone.
pub(crate) async fn in_stages(
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    streams: StreamGauge,
    wakeups: Wakeups,
    stop: CancellationToken,
    give_up: CancellationToken,
) {
    shutdown.await;
    tracing::info!(
        active_streams = streams.active(),
        "shutting down: no new requests; streams in flight have {} to finish",
        humantime::format_duration(grace)
    );
    stop.cancel();
    wakeups.close();
    tokio::time::sleep(grace).await;
    if streams.active() > 0 {
        tracing::warn!(
            active_streams = streams.active(),
            "ending the streams still running"
        );
    }
    streams.end_all();
    tokio::time::sleep(LAST_WORD).await;
    give_up.cancel();
}
