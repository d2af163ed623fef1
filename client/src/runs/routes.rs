//! `/runs` and each run's report, event stream, stop and file. HTML for
//! browsers, JSON for everyone else (or CSV on request).

use std::convert::Infallible;

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{
        Html, IntoResponse, Redirect, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{Stream, stream};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::io::ReaderStream;

use super::{FileGone, RunView, Runs, StopError, live::Snapshot, pages, record::RunRecord};
use crate::webpage;

/// The routes, on any state the runs can be taken from.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Runs: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/runs", get(list))
        .route("/runs/{id}", get(report))
        .route("/runs/{id}/events", get(events))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/runs/{id}/file", get(file))
}

/// Why a run route did not answer as asked; each one status.
#[derive(Debug, thiserror::Error)]
enum RunsError {
    #[error("'{0}' is not a run id: runs are numbered 1, 2, 3, …")]
    BadId(String),
    #[error("there is no run {0}")]
    Unknown(u64),
    #[error(transparent)]
    Stop(StopError),
    #[error("run {0} is still running: its file is written when it ends, ask again then")]
    NotYet(u64),
    #[error(transparent)]
    Watchers(super::watchers::WatchRefused),
    #[error("{0}")]
    CrossSite(String),
    #[error("run {id}'s file is gone: {reason}")]
    Gone { id: u64, reason: FileGone },
}

/// Errors in the caller's language: a page for browsers, JSON for the rest.
struct Failure {
    error: RunsError,
    html: bool,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match &self.error {
            RunsError::BadId(_) => StatusCode::BAD_REQUEST,
            RunsError::Unknown(_) | RunsError::Stop(StopError::Unknown(_)) => StatusCode::NOT_FOUND,
            RunsError::Stop(StopError::Finished(..)) => StatusCode::CONFLICT,
            RunsError::NotYet(_) => StatusCode::CONFLICT,
            RunsError::Watchers(_) => StatusCode::TOO_MANY_REQUESTS,
            RunsError::CrossSite(_) => StatusCode::FORBIDDEN,
            RunsError::Gone { .. } => StatusCode::GONE,
        };
        let message = self.error.to_string();
        // "Not yet" is not "gone": say when to look again.
        let retry_after = matches!(self.error, RunsError::NotYet(_) | RunsError::Watchers(_))
            .then_some([(header::RETRY_AFTER, "1")]);
        if self.html {
            let title = status.canonical_reason().unwrap_or("Error");
            return (
                status,
                retry_after,
                Html(webpage::failure(title, &message, None, None).into_string()),
            )
                .into_response();
        }
        (
            status,
            retry_after,
            Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    }
}

fn run_id(text: &str, html: bool) -> Result<u64, Failure> {
    text.parse().map_err(|_| Failure {
        error: RunsError::BadId(text.chars().take(40).collect()),
        html,
    })
}

fn view(runs: &Runs, id: u64, html: bool) -> Result<RunView, Failure> {
    runs.get(id).ok_or(Failure {
        error: RunsError::Unknown(id),
        html,
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    format: Option<String>,
}

/// Every run, newest first: a page, JSON, or (`?format=csv`) a CSV download.
async fn list(
    State(runs): State<Runs>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let records = runs.list();
    if query.format.as_deref() == Some("csv") {
        return csv(&records);
    }
    if webpage::wants_html(&headers) {
        return Html(pages::list(&records).into_string()).into_response();
    }
    Json(records.iter().map(RunRecord::summary).collect::<Vec<_>>()).into_response()
}

fn csv(records: &[RunRecord]) -> Response {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "started_at",
        "user_id",
        "requested",
        "received",
        "outcome",
        "elapsed_ms",
        "books_per_sec",
        "retries",
        "servers",
        "file",
    ];
    let mut rows = vec![writer.write_record(header)];
    for run in records {
        rows.push(writer.write_record([
            run.id.to_string(),
            run.started_at.clone(),
            run.user_id.to_string(),
            run.requested.to_string(),
            run.received.to_string(),
            run.outcome.name().to_owned(),
            run.elapsed_ms.to_string(),
            format!("{:.0}", run.books_per_sec),
            run.retries.to_string(),
            run.servers.join(" "),
            run.file.clone(),
        ]));
    }
    let body = match (
        rows.into_iter().collect::<Result<Vec<()>, _>>(),
        writer.into_inner(),
    ) {
        (Ok(_), Ok(body)) => body,
        _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"bookstream-runs.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// One run: live while it runs, its summary and report once it ended.
async fn report(
    State(runs): State<Runs>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let html = webpage::wants_html(&headers);
    let id = run_id(&id, html)?;
    let view = view(&runs, id, html)?;
    if html {
        let page = match &view {
            RunView::Running { record, live } => pages::live(record, &live.snapshot()),
            RunView::Finished(record) => pages::finished(record),
        };
        return Ok(Html(page.into_string()).into_response());
    }
    let mut body = serde_json::to_value(view.record()).unwrap_or_default();
    if let RunView::Running { live, .. } = &view {
        body["progress"] = serde_json::to_value(live.snapshot()).unwrap_or_default();
    }
    Ok(Json(body).into_response())
}

/// The run's progress as Server-Sent Events: `progress` every tick while it
/// runs, then one `end`, then the stream closes.
async fn events(State(runs): State<Runs>, Path(id): Path<String>) -> Result<Response, Failure> {
    let id = run_id(&id, false)?;
    let snapshots = match view(&runs, id, false)? {
        RunView::Running { live, .. } => live.subscribe(),
        // An ended run: the end, at once.
        RunView::Finished(record) => watch::channel(Snapshot::ended(&record)).1,
    };
    let watching = runs.watchers().admit(id).map_err(|refused| Failure {
        error: RunsError::Watchers(refused),
        html: false,
    })?;
    Ok(Sse::new(progress_events(snapshots, watching))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The events of `snapshots`; the stream holds its watcher's place until it
/// ends or its tab closes.
fn progress_events(
    snapshots: watch::Receiver<Snapshot>,
    watching: super::watchers::Watching,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (snapshots, true, false, watching),
        |(mut snapshots, first, done, watching)| async move {
            if done {
                return None;
            }
            // A closed tab drops this stream while it waits here: nothing is left running.
            if !first && snapshots.changed().await.is_err() {
                return None;
            }
            let snapshot = snapshots.borrow_and_update().clone();
            let finished = snapshot.outcome.is_finished();
            let name = if finished { "end" } else { "progress" };
            let event = Event::default()
                .event(name)
                .json_data(&snapshot)
                .unwrap_or_else(|_| Event::default().event(name));
            Some((Ok(event), (snapshots, false, finished, watching)))
        },
    )
}

/// Stops a running run: it ends as `cancelled` within a second and keeps
/// what arrived. Browsers are sent back to the run's page.
async fn cancel(
    State(runs): State<Runs>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let html = webpage::wants_html(&headers) || is_form(&headers);
    if let Some(reason) = crate::guard::cross_site(&headers) {
        return Err(Failure {
            error: RunsError::CrossSite(reason),
            html,
        });
    }
    let id = run_id(&id, html)?;
    runs.stop(id).map_err(|error| Failure {
        error: RunsError::Stop(error),
        html,
    })?;
    if html {
        return Ok(Redirect::to(&format!("/runs/{id}")).into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "stopping": true, "report": format!("/runs/{id}") })),
    )
        .into_response())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// The run's file while it is still the run's, streamed; 410 with the reason otherwise.
async fn file(
    State(runs): State<Runs>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let html = webpage::wants_html(&headers);
    let id = run_id(&id, html)?;
    let fail = |error| Failure { error, html };
    let (path, opened) = runs.file(id).map_err(|reason| match reason {
        FileGone::Unknown => fail(RunsError::Unknown(id)),
        FileGone::Running => fail(RunsError::NotYet(id)),
        reason => fail(RunsError::Gone { id, reason }),
    })?;
    let opened = tokio::fs::File::from_std(opened);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().replace(['"', '\\'], "_"))
        .unwrap_or_else(|| format!("run-{id}"));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(ReaderStream::new(opened)),
    )
        .into_response())
}
