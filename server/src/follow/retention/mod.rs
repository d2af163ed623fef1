//! Retention: lists keep their last `--retention-books` books and/or the
//! books appended within `--retention-age`; older ones are removed in the
//! background. First the lists' earliest kept rank rises (one short
//! transaction: from then on a reader asking below it is told the earliest
//! rank, never given a gap), then the books below it go in chunks, each its
//! own transaction, so appends wait at most one chunk.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use tokio::task::JoinHandle;

use crate::ingest::Appender;

/// Books removed per transaction.
pub(crate) const CHUNK: u64 = 10_000;

/// How long lists keep their books. Off by default: every book is kept.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Retention {
    /// Keep only the last N books of each list (needs --write-token).
    #[arg(long, env = "BOOKSTREAM_RETENTION_BOOKS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_books: Option<u64>,

    /// Keep only the books appended within this long (`7d`, `12h`; needs
    /// --write-token). Books loaded by `server load` carry no append time: a
    /// list's loaded books go once the first batch appended after them does.
    #[arg(long, env = "BOOKSTREAM_RETENTION_AGE", value_parser = humantime::parse_duration)]
    pub retention_age: Option<Duration>,

    /// How often retention runs.
    #[arg(long, env = "BOOKSTREAM_RETENTION_INTERVAL", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub retention_interval: Duration,
}

/// Where one pass cuts lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Keep this many books per list.
    pub keep_books: Option<u64>,
    /// Keep the books appended at or after this time (ms since the Unix epoch).
    pub appended_since_ms: Option<i64>,
}

/// Why retention cannot run as configured.
#[derive(Debug, thiserror::Error)]
#[error(
    "retention removes books, so it needs the write side: start the server with --write-token \
     (BOOKSTREAM_WRITE_TOKEN) and a store (--catalog sqlite:PATH or postgres://…)"
)]
pub struct NeedsWrites;

impl Retention {
    pub fn is_on(&self) -> bool {
        self.retention_books.is_some() || self.retention_age.is_some()
    }

    /// The cut for a pass at `now`.
    pub fn cut(&self, now: SystemTime) -> Cut {
        let since = self.retention_age.map(|age| {
            let cutoff = now.checked_sub(age).unwrap_or(UNIX_EPOCH);
            cutoff.duration_since(UNIX_EPOCH).map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            })
        });
        Cut {
            keep_books: self.retention_books,
            appended_since_ms: since,
        }
    }

    /// Runs retention every `--retention-interval` through `appender`'s store,
    /// or says why it cannot; `None` when retention is off.
    pub fn spawn(
        self,
        appender: Appender,
        expired: Option<Counter>,
    ) -> Result<Option<JoinHandle<()>>, NeedsWrites> {
        if !self.is_on() {
            return Ok(None);
        }
        if !appender.writes() {
            return Err(NeedsWrites);
        }
        Ok(Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(self.retention_interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match pass(&appender, self.cut(SystemTime::now())).await {
                    Ok((0, _)) => {}
                    Ok((lists, books)) => {
                        tracing::info!(lists, books, "retention removed old books");
                        if let Some(expired) = &expired {
                            expired.inc_by(books);
                        }
                    }
                    Err(error) => tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "retention failed; trying again at the next interval"
                    ),
                }
            }
        })))
    }
}

/// One pass: cut the lists, then remove what fell below their earliest rank.
/// Returns the lists cut and the books removed.
pub async fn pass(
    appender: &Appender,
    cut: Cut,
) -> Result<(u64, u64), crate::ingest::append::AppendError> {
    let lists = appender.trim(cut).await?;
    let mut books = 0;
    loop {
        let removed = appender.remove_trimmed(CHUNK).await?;
        books += removed;
        if removed < CHUNK {
            return Ok((lists, books));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_cuts_at_now_minus_the_age_in_ms() {
        let retention = Retention {
            retention_books: Some(5),
            retention_age: Some(Duration::from_secs(60)),
            retention_interval: Duration::from_secs(1),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            retention.cut(now),
            Cut {
                keep_books: Some(5),
                appended_since_ms: Some(940_000)
            }
        );
    }
}
