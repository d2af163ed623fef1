//! The HTTP trigger: `GET /{n}` runs one stream-to-file and answers with an
//! HTML page for browsers or JSON for everyone else.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use bookstream::telemetry::{self, HeaderSource};
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::{
    input::{self, InputError},
    metrics::ClientMetrics,
    page,
    run::{self, RunError, RunReport, RunRequest},
    sink::Format,
    upstream::{Upstream, UpstreamError},
};

/// Everything a trigger needs; shared by all requests.
#[derive(Debug)]
pub struct TriggerSettings {
    pub upstream: Upstream,
    pub output: PathBuf,
    pub format: Format,
    pub max_n: u64,
    pub echo: bool,
    pub retry: run::RetryPolicy,
    pub idle_timeout: std::time::Duration,
    /// Most runs at once.
    pub max_runs: usize,
    pub metrics: crate::metrics::Metrics,
}

#[derive(Debug, Clone)]
struct AppState {
    settings: Arc<TriggerSettings>,
    next_run_id: Arc<AtomicU64>,
    /// One permit per run that may go at once; beyond that, 429.
    runs: Arc<Semaphore>,
}

/// The trigger router.
pub fn app(settings: TriggerSettings) -> Router {
    let state = AppState {
        runs: Arc::new(Semaphore::new(settings.max_runs)),
        settings: Arc::new(settings),
        next_run_id: Arc::new(AtomicU64::new(1)),
    };
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/metrics", get(metrics_page))
        // Browsers ask for it on every page; answering keeps it out of the error log.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/{n}", get(trigger))
        .fallback(not_found)
        .with_state(state)
        .layer(TraceLayer::new_for_http())
}

async fn index(State(state): State<AppState>) -> Html<String> {
    let settings = &state.settings;
    Html(
        page::index(page::IndexInfo {
            server: &settings.upstream.endpoints(),
            output: &settings.output,
            format: settings.format.name(),
            max_n: settings.max_n,
        })
        .into_string(),
    )
}

async fn trigger(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let answer = Answer {
        html: wants_html(&headers),
    };
    let request = match parse_request(&state.settings, path, query) {
        Ok(request) => request,
        Err(message) => {
            return answer.failure(StatusCode::BAD_REQUEST, "Bad request", &message, None);
        }
    };

    let Ok(permit) = state.runs.clone().try_acquire_owned() else {
        let message = format!(
            "this client already runs its limit of {} triggers at once (--max-runs); try again shortly",
            state.settings.max_runs
        );
        return answer.failure(StatusCode::TOO_MANY_REQUESTS, "Busy", &message, None);
    };
    let run_id = state.next_run_id.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!(
        "run",
        run_id,
        n = request.count,
        user_id = request.user_id,
        trace_id = tracing::field::Empty
    );
    // A caller's trace (W3C traceparent) continues through the run to the server.
    telemetry::continue_trace(&span, &HeaderSource(&headers));
    telemetry::record_trace_id(&span);
    let upstream = state.settings.upstream.clone();
    let metrics = state.settings.metrics.clone();
    let started = Instant::now();
    // The run is its own task: a caller who closes the tab does not leave a
    // half-written run behind, the file still completes.
    let task = tokio::spawn(
        async move {
            let outcome = run::run(&upstream, &request).await;
            account(&outcome, started.elapsed(), metrics.as_deref());
            drop(permit);
            outcome
        }
        .instrument(span),
    );
    match task.await {
        Ok(Ok(report)) => answer.success(&report),
        Ok(Err(error)) => answer.run_failure(&error),
        Err(join_error) => {
            tracing::error!("run {run_id} panicked: {join_error}");
            answer.failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Run failed",
                "the run failed unexpectedly",
                None,
            )
        }
    }
}

/// Anything else, `/a/b` or `/../../etc/passwd` included: a 404 that points
/// to the trigger, never a file or a run.
async fn not_found(headers: HeaderMap) -> Response {
    Answer {
        html: wants_html(&headers),
    }
    .failure(
        StatusCode::NOT_FOUND,
        "Not found",
        "there is no such page: ask for books with /<n>, like /1000",
        None,
    )
}

/// Every metric, for Prometheus (404 when metrics are off).
async fn metrics_page(State(state): State<AppState>) -> Response {
    match &state.settings.metrics {
        Some(metrics) => (
            [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
            metrics.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The client is up; says which servers it currently takes runs to.
async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "servers": state.settings.upstream.health() }))
}

fn parse_request(
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
    Ok(RunRequest {
        user_id,
        count,
        output: settings.output.clone(),
        format: settings.format,
        echo: settings.echo,
        retry: settings.retry,
        idle_timeout: settings.idle_timeout,
    })
}

/// The end of a run, once: its log line (inside the run's span, which
/// carries run id, user, n and trace id) and its metrics.
fn account(
    outcome: &Result<RunReport, RunError>,
    elapsed: Duration,
    metrics: Option<&ClientMetrics>,
) {
    let elapsed_ms = elapsed.as_millis() as u64;
    let (label, received, retries) = match outcome {
        Ok(report) => {
            tracing::info!(
                outcome = "complete",
                books = report.received,
                requested = report.requested,
                elapsed_ms,
                books_per_sec = report.books_per_second() as u64,
                retries = report.retries,
                file = %report.file.display(),
                "run ended"
            );
            ("complete", report.received, report.retries)
        }
        Err(RunError::Interrupted {
            received, retries, ..
        }) => {
            tracing::warn!(
                outcome = "partial",
                books = received,
                elapsed_ms,
                retries,
                "run ended: {}",
                outcome
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            ("partial", *received, *retries)
        }
        Err(error) => {
            tracing::warn!(
                outcome = "failed",
                books = 0,
                elapsed_ms,
                "run ended: {error}"
            );
            ("failed", 0, 0)
        }
    };
    if let Some(metrics) = metrics {
        metrics.run_ended(label, elapsed, received, retries);
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"))
}

/// Renders answers in the caller's preferred form.
struct Answer {
    html: bool,
}

impl Answer {
    fn success(&self, report: &RunReport) -> Response {
        if self.html {
            return Html(page::report(report).into_string()).into_response();
        }
        Json(json!({
            "requested": report.requested,
            "received": report.received,
            "user_id": report.user_id,
            "file": report.file,
            "format": report.format,
            "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
            "retries": report.retries,
            "books_per_sec": report.books_per_second(),
        }))
        .into_response()
    }

    fn run_failure(&self, error: &RunError) -> Response {
        let message = error.to_string();
        match error {
            RunError::Upstream(upstream) => {
                let (status, title) = match upstream {
                    UpstreamError::Unreachable { .. }
                    | UpstreamError::InvalidEndpoint { .. }
                    | UpstreamError::NoServers { .. }
                    | UpstreamError::NoTargets
                    | UpstreamError::InvalidToken
                    | UpstreamError::MissingCa { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Server unavailable")
                    }
                    UpstreamError::Refused { .. } => (StatusCode::BAD_REQUEST, "Request refused"),
                    UpstreamError::NotFound { .. } => (StatusCode::NOT_FOUND, "No such user"),
                    UpstreamError::NotReady { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Server not ready")
                    }
                    UpstreamError::Failed { .. } => (StatusCode::BAD_GATEWAY, "Server failed"),
                };
                self.failure(status, title, &message, None)
            }
            RunError::Interrupted {
                received,
                retries,
                partial_file,
                ..
            } => self.failure(
                StatusCode::BAD_GATEWAY,
                "Stream interrupted",
                &message,
                Some(Arrived {
                    received: *received,
                    retries: *retries,
                    partial_file: partial_file.as_deref(),
                }),
            ),
            RunError::Sink(_) => self.failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot write the file",
                &message,
                None,
            ),
        }
    }

    fn failure(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
        arrived: Option<Arrived<'_>>,
    ) -> Response {
        if self.html {
            let page = page::failure(
                title,
                message,
                arrived.map(|arrived| arrived.received),
                arrived.and_then(|arrived| arrived.partial_file),
            );
            return (status, Html(page.into_string())).into_response();
        }
        let mut body = json!({ "error": message });
        if let Some(arrived) = arrived {
            body["received"] = json!(arrived.received);
            body["retries"] = json!(arrived.retries);
            body["partial_file"] = json!(arrived.partial_file);
        }
        (status, Json(body)).into_response()
    }
}

/// What a broken run got before it gave up.
#[derive(Debug, Clone, Copy)]
struct Arrived<'a> {
    received: u64,
    retries: u32,
    partial_file: Option<&'a std::path::Path>,
}
