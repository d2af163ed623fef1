//! PostgreSQL's wake-ups: every append's transaction sends a `NOTIFY` on
//! [`CHANNEL`] with the user and the list's new length, delivered when it
//! commits. Each server holds one connection that `LISTEN`s and turns each
//! notification into [`Wakeups::committed`], however many follow. A lost
//! connection is made again; once it listens, the followed lists' lengths
//! are read again, so that nothing committed while it was away is missed.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::Wakeups;
use crate::source::{Store, spec::PostgresUrl};

/// The channel appends notify on. The payload is `USER LENGTH`.
pub const CHANNEL: &str = "bookstream_appends";
/// The name the listening connection carries in `pg_stat_activity`.
const APPLICATION_NAME: &str = "bookstream-follow";
/// The longest wait between two attempts to listen again.
const MOST_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Listens for appends until the task is aborted.
pub fn spawn(url: &PostgresUrl, store: Arc<dyn Store>, wakeups: Wakeups) -> JoinHandle<()> {
    let mut config = url.config().clone();
    config
        .application_name(APPLICATION_NAME)
        .connect_timeout(CONNECT_TIMEOUT);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        // Said once per outage, not at every attempt to listen again.
        let mut said = false;
        loop {
            match listen(&config, &*store, &wakeups, &mut said).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) if !said => {
                    said = true;
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "the connection that hears appends is lost; followers wait until it is back"
                    );
                }
                Err(error) => {
                    tracing::debug!(error = &error as &dyn std::error::Error, "listening again");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MOST_BACKOFF);
        }
    })
}

/// One connection's life: listen, catch up, then hand on notifications
/// until the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    store: &dyn Store,
    wakeups: &Wakeups,
    said: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let heard = wakeups.clone();
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let driver = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message? {
                AsyncMessage::Notification(note) if note.channel() == CHANNEL => {
                    match parse(note.payload()) {
                        Some((user_id, length)) => heard.committed(user_id, length),
                        None => tracing::debug!(payload = note.payload(), "an unreadable NOTIFY"),
                    }
                }
                _ => {}
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if std::mem::take(said) {
        tracing::info!("listening for appends again");
    }
    catch_up(store, wakeups).await;
    let ended = driver.await;
    drop(client);
    match ended {
        Ok(result) => result,
        // The driver only ends by returning.
        Err(_) => Ok(()),
    }
}

/// Reads again the lengths of the lists followed here: what was committed
/// while no notification could arrive.
pub async fn catch_up(store: &dyn Store, wakeups: &Wakeups) {
    for user_id in wakeups.followed() {
        match store.bounds(user_id).await {
            Ok(Some(bounds)) => wakeups.committed(user_id, bounds.length),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(
                    user_id,
                    error = &error as &dyn std::error::Error,
                    "catching up"
                );
            }
        }
    }
}

fn parse(payload: &str) -> Option<(u64, u64)> {
    let (user, length) = payload.split_once(' ')?;
    Some((user.parse().ok()?, length.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_a_user_and_a_length() {
        assert_eq!(parse("7 1200"), Some((7, 1200)));
        assert_eq!(parse("7"), None);
        assert_eq!(parse("-1 3"), None);
    }
}
