//! The query of the two read routes: what to send and where to start.

use bookstream::StartFrom;
use serde::Deserialize;

use super::ApiError;
use crate::pipeline::Ask;

#[derive(Debug, Deserialize)]
pub(super) struct RecommendationQuery {
    /// Absent means user 0, as an unset field does in the gRPC request.
    #[serde(default)]
    pub(super) user_id: u64,
    /// Needed, except by a follow (absent: no limit).
    pub(super) max_results: Option<u64>,
    /// The resume point, as in the gRPC request: the first id to send.
    #[serde(default)]
    pub(super) start_at: u64,
    /// Stay for books appended later (the stream route only).
    #[serde(default)]
    pub(super) follow: bool,
    /// Where to start: `rank` (start_at, the default), `earliest`, `latest` or `time`.
    #[serde(default)]
    from: Seek,
    /// With `from=time`: RFC 3339 (`2026-11-29T07:00:00Z`) or ms since the Unix epoch.
    pub(super) time: Option<String>,
}

/// The REST spelling of `StartFrom`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Seek {
    #[default]
    Rank,
    Earliest,
    Latest,
    Time,
}

impl RecommendationQuery {
    pub(super) fn ask(&self) -> Result<Ask, ApiError> {
        let start_time_ms = match &self.time {
            None => 0,
            Some(time) => bookstream::seek::parse_time_ms(time).ok_or_else(|| {
                ApiError::BadTime(format!(
                    "time {time:?} is neither an RFC 3339 time (2026-11-29T07:00:00Z) nor \
                     milliseconds since the Unix epoch"
                ))
            })?,
        };
        Ok(Ask {
            user_id: self.user_id,
            max_results: self.max_results.unwrap_or(0),
            start_at: self.start_at,
            follow: self.follow,
            start_from: match self.from {
                Seek::Rank => StartFrom::Rank,
                Seek::Earliest => StartFrom::Earliest,
                Seek::Latest => StartFrom::Latest,
                Seek::Time => StartFrom::Time,
            },
            start_time_ms,
        })
    }
}
