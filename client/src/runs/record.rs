//! What one run was: the row of `/runs`, a line of the history file, and
//! everything its report shows.

use std::time::{Duration, SystemTime};

use bookstream::BookRecommendation;
use serde::{Deserialize, Serialize};

use super::samples::Samples;

/// How a run ended, or that it has not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Running,
    /// Every book the server had for it is in its file.
    Complete,
    /// The stream broke for good: what arrived is in `<file>.partial`.
    Partial,
    /// No stream, or no file.
    Failed,
    /// Stopped by a person: what arrived is in `<file>.partial`.
    Cancelled,
    /// A follow stopped by a person: what arrived is in its file, whole and in order.
    Stopped,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Complete => "complete",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Stopped => "stopped",
        }
    }

    pub fn is_finished(self) -> bool {
        self != Outcome::Running
    }
}

/// One attempt of a run, as the run told it.
pub use crate::run::AttemptRecord;

/// The settings a run ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub format: String,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub idle_timeout_ms: u64,
    /// The `--server` entries.
    pub servers: String,
}

/// A run, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub user_id: u64,
    pub requested: u64,
    pub received: u64,
    pub outcome: Outcome,
    pub elapsed_ms: u64,
    pub books_per_sec: f64,
    pub retries: u32,
    /// Each attempt's server, in order.
    pub servers: Vec<String>,
    /// The output file: complete runs' books are in it, partial and
    /// cancelled runs' in `<file>.partial`.
    pub file: String,
    /// Why it did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the trigger to the first book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_book_ms: Option<u64>,
    #[serde(default)]
    pub attempts: Vec<AttemptRecord>,
    pub settings: RunSettings,
    /// Books per sample interval, for the throughput chart.
    #[serde(default)]
    pub samples: Samples,
    /// The first books, as the result page shows them.
    #[serde(default)]
    pub preview: Vec<BookRecommendation>,
    /// A follow: where it started (`latest`, `earliest`, `rank`, `time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    /// The size of the file when it was written, to tell whether it is still this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    /// Which file it was (device, inode, modification time): a file of the
    /// same size put in its place is not this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_written: Option<super::written::Written>,
}

impl RunRecord {
    /// The fields of `/runs` (the report's extra detail left out).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "started_at": self.started_at,
            "user_id": self.user_id,
            "requested": self.requested,
            "received": self.received,
            "outcome": self.outcome,
            "elapsed_ms": self.elapsed_ms,
            "books_per_sec": self.books_per_sec,
            "retries": self.retries,
            "servers": self.servers,
            "file": self.file,
        })
    }

    /// The report's URL.
    pub fn report_url(&self) -> String {
        format!("/runs/{}", self.id)
    }
}

/// `time` as RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Milliseconds, for the record.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl RunRecord {
    /// A finished run of 10 books, for tests.
    #[cfg(test)]
    pub(crate) fn example(id: u64, outcome: Outcome) -> RunRecord {
        RunRecord {
            id,
            started_at: "2026-11-22T12:00:00.000Z".to_owned(),
            user_id: 1,
            requested: 10,
            received: 10,
            outcome,
            elapsed_ms: 5,
            books_per_sec: 2000.0,
            retries: 0,
            servers: vec!["http://127.0.0.1:50051".to_owned()],
            file: "books.txt".to_owned(),
            error: None,
            follow: None,
            first_book_ms: Some(1),
            attempts: vec![],
            settings: RunSettings {
                format: "txt".to_owned(),
                retries: 3,
                retry_backoff_ms: 200,
                idle_timeout_ms: 30_000,
                servers: "http://127.0.0.1:50051".to_owned(),
            },
            samples: Default::default(),
            preview: vec![],
            file_bytes: Some(100),
            file_written: None,
        }
    }
}
