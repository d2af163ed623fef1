//! SQLite's wake-ups for books appended by another process (another server
//! on the same file, `server load --append`): while anyone follows, the
//! file's `PRAGMA data_version` is read every `--sqlite-poll-interval`; when
//! it moved, the followed lists' lengths are read again. This server's own
//! appends wake followers at once, without waiting for the poll.

use std::{path::PathBuf, time::Duration};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::task::JoinHandle;

use super::Wakeups;

const LENGTH_SQL: &str = "SELECT length FROM recommendation_lists WHERE user_id = ?1";

/// Polls `path` until the task is aborted.
pub fn spawn(path: PathBuf, wakeups: Wakeups, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poller = Poller {
            path,
            connection: None,
            version: None,
        };
        loop {
            tick.tick().await;
            if wakeups.followers() == 0 {
                continue;
            }
            let followed = wakeups.followed();
            let polled = tokio::task::spawn_blocking(move || {
                let lengths = poller.poll(&followed);
                (poller, lengths)
            })
            .await;
            let Ok((returned, lengths)) = polled else {
                return;
            };
            poller = returned;
            match lengths {
                Ok(lengths) => {
                    for (user_id, length) in lengths {
                        wakeups.committed(user_id, length);
                    }
                }
                Err(error) => {
                    tracing::debug!(error = &error as &dyn std::error::Error, "polling the file");
                    poller.connection = None;
                }
            }
        }
    })
}

struct Poller {
    path: PathBuf,
    connection: Option<Connection>,
    version: Option<i64>,
}

impl Poller {
    /// The followed lists' lengths if the file changed since the last poll.
    fn poll(&mut self, followed: &[u64]) -> rusqlite::Result<Vec<(u64, u64)>> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?),
        };
        let version: i64 = connection.query_row("PRAGMA data_version", [], |row| row.get(0))?;
        if self.version == Some(version) {
            return Ok(Vec::new());
        }
        self.version = Some(version);
        let mut statement = connection.prepare_cached(LENGTH_SQL)?;
        let mut lengths = Vec::with_capacity(followed.len());
        for &user_id in followed {
            let Ok(user) = i64::try_from(user_id) else {
                continue;
            };
            let length: Option<i64> = statement
                .query_row(params![user], |row| row.get(0))
                .optional()?;
            if let Some(length) = length {
                lengths.push((user_id, u64::try_from(length).unwrap_or(0)));
            }
        }
        Ok(lengths)
    }
}
