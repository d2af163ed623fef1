//! A run's record, built in one place: as it starts, as it is now while it
//! runs, and as it ended. Pages, event streams, `/runs` and the history all
//! read these records, so they never disagree.

use std::time::SystemTime;

use super::live::Live;
use super::record::{Outcome, RunRecord, RunSettings, millis, rfc3339};
use super::written;
use crate::run::{FollowFrom, RunError, RunRequest, RunSummary, Shortfall, rate};

/// Run `id` of `request`, just started.
pub(super) fn started(id: u64, request: &RunRequest, settings: RunSettings) -> RunRecord {
    RunRecord {
        id,
        started_at: rfc3339(SystemTime::now()),
        user_id: request.user_id,
        requested: request.count,
        received: 0,
        outcome: Outcome::Running,
        elapsed_ms: 0,
        books_per_sec: 0.0,
        retries: 0,
        servers: Vec::new(),
        // A follow's file grows under its own name until it ends.
        file: match request.follow {
            Some(_) => crate::sink::following_path(&request.output, id),
            None => request.output.clone(),
        }
        .display()
        .to_string(),
        error: None,
        first_book_ms: None,
        attempts: Vec::new(),
        settings,
        samples: Default::default(),
        preview: Vec::new(),
        follow: request.follow.map(|from| {
            match from {
                FollowFrom::Rank => "rank",
                FollowFrom::Earliest => "earliest",
                FollowFrom::Latest => "latest",
                FollowFrom::Time(_) => "time",
            }
            .to_owned()
        }),
        file_bytes: None,
        file_written: None,
    }
}

/// The run that started as `start`, as `live` shows it now.
pub(super) fn now(start: &RunRecord, live: &Live) -> RunRecord {
    let snapshot = live.snapshot();
    let attempts = live.attempts();
    RunRecord {
        received: snapshot.received,
        elapsed_ms: millis(live.elapsed()),
        books_per_sec: snapshot.books_per_sec,
        servers: live.servers(),
        retries: attempts.len().saturating_sub(1) as u32,
        first_book_ms: live.first_book_ms(),
        attempts,
        samples: live.samples(),
        ..start.clone()
    }
}

/// The run that started as `start` and ended as `result`.
pub(super) fn ended(
    start: &RunRecord,
    live: &Live,
    result: &Result<RunSummary, RunError>,
) -> RunRecord {
    let mut record = now(start, live);
    let measured = match result {
        Ok(report) => {
            // The run's own measure, as its JSON answer says it.
            record.elapsed_ms = millis(report.elapsed);
            record.outcome = if report.stopped {
                Outcome::Stopped
            } else {
                Outcome::Complete
            };
            record.received = report.received;
            record.retries = report.retries;
            record.preview = report.preview.clone();
            record.file = report.file.display().to_string();
            (record.file_bytes, record.file_written) = written::identify(&report.file);
            report.elapsed
        }
        Err(error) => {
            record.error = Some(error.to_string());
            let arrived = error.arrived();
            let (received, retries, partial) = arrived.map_or((0, 0, None), |arrived| {
                (arrived.received, arrived.retries, arrived.partial_file)
            });
            let outcome = match error.shortfall() {
                Shortfall::Partial => Outcome::Partial,
                Shortfall::Cancelled => Outcome::Cancelled,
                Shortfall::Failed => Outcome::Failed,
            };
            record.outcome = outcome;
            record.received = received;
            record.retries = record.retries.max(retries);
            (record.file_bytes, record.file_written) =
                partial.map_or((None, None), written::identify);
            live.elapsed()
        }
    };
    record.books_per_sec = rate(record.received, measured);
    record
}
