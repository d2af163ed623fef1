//! A trigger's request read into a run: `/{n}` (with `follow=true`) and
//! `/follow` with where to start.

use std::collections::HashMap;

use axum::extract::{Path, Query, rejection::PathRejection, rejection::QueryRejection};

use super::TriggerSettings;
use crate::{
    input::{self, InputError},
    run::{FollowFrom, RunRequest},
};

pub(super) fn parse_request(
    settings: &TriggerSettings,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<RunRequest, String> {
    let Path(raw_count) = path.map_err(|_| "the path is not a valid number of books".to_owned())?;
    let Query(params) = query.map_err(|rejection| rejection.body_text())?;
    let count =
        input::parse_count(&raw_count, settings.max_n).map_err(|error| error.to_string())?;
    let user_id = input::parse_user_id(params.get("user_id").map(String::as_str))
        .map_err(|error: InputError| error.to_string())?;
    let follow = match params.get("follow").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => Some(FollowFrom::Rank),
        Some(other) => return Err(format!("follow must be true or false, not {other:?}")),
    };
    Ok(RunRequest {
        follow,
        ..run_request(settings, user_id, count)
    })
}

/// A `/follow` request: the user, and where to start (`from`: `latest` by
/// default, `earliest`, `rank` with `rank=R`, or `time` with `time=` an
/// RFC 3339 time or ms since the Unix epoch).
pub(super) fn parse_follow(
    settings: &TriggerSettings,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<RunRequest, String> {
    let Query(params) = query.map_err(|rejection| rejection.body_text())?;
    let user_id = input::parse_user_id(params.get("user_id").map(String::as_str))
        .map_err(|error: InputError| error.to_string())?;
    let param = |name: &str| params.get(name).map(String::as_str);
    let (from, first_rank) = match param("from").unwrap_or("latest") {
        "latest" => (FollowFrom::Latest, 0),
        "earliest" => (FollowFrom::Earliest, 0),
        "rank" => {
            let rank = param("rank").unwrap_or("0");
            let rank = rank
                .parse()
                .map_err(|_| format!("rank must be a whole number of books, not {rank:?}"))?;
            (FollowFrom::Rank, rank)
        }
        "time" => {
            let time = param("time").ok_or("from=time needs time=, an RFC 3339 time or ms")?;
            (
                FollowFrom::Time(input::parse_time_ms(time).map_err(|e| e.to_string())?),
                0,
            )
        }
        other => {
            return Err(format!(
                "from must be latest, earliest, rank or time, not {other:?}"
            ));
        }
    };
    Ok(RunRequest {
        follow: Some(from),
        first_rank,
        ..run_request(settings, user_id, 0)
    })
}

fn run_request(settings: &TriggerSettings, user_id: u64, count: u64) -> RunRequest {
    RunRequest {
        // Given once the run is admitted.
        run_id: 0,
        user_id,
        count,
        output: settings.output.clone(),
        format: settings.format,
        echo: settings.echo,
        retry: settings.retry,
        idle_timeout: settings.idle_timeout,
        follow: None,
        first_rank: 0,
    }
}
