//! The HTTP trigger: `GET /{n}` runs one stream-to-file and answers with an
//! HTML page for browsers or JSON for everyone else.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{FromRef, Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use bookstream::telemetry::{self, HeaderSource};
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

mod request;

use request::{parse_follow, parse_request};

use crate::{
    answer::Answer,
    metrics::ClientMetrics,
    run::{self, RunError, RunRequest, RunSummary, Shortfall},
    runs::{
        self, Runs,
        record::{RunSettings, millis},
        routes,
    },
    sink::Format,
    upstream::Upstream,
    webpage,
};

/// Everything a trigger needs; shared by all requests.
#[derive(Debug)]
pub struct TriggerSettings {
    /// Who may use the listener: its host names and token.
    pub access: crate::access::Access,
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
    /// One permit per run that may go at once; beyond that, 429.
    slots: Arc<Semaphore>,
    runs: Runs,
}

impl FromRef<AppState> for crate::access::Access {
    fn from_ref(state: &AppState) -> Self {
        state.settings.access.clone()
    }
}

impl FromRef<AppState> for Runs {
    fn from_ref(state: &AppState) -> Runs {
        state.runs.clone()
    }
}

/// The trigger router: `/{n}`, and every run's pages under `/runs`.
pub fn app(settings: TriggerSettings, runs: Runs) -> Router {
    let access = settings.access.clone();
    let state = AppState {
        slots: Arc::new(Semaphore::new(settings.max_runs)),
        settings: Arc::new(settings),
        runs,
    };
    Router::new()
        .merge(routes::routes())
        .route("/", get(index))
        .route("/health", get(health))
        .route("/metrics", get(metrics_page))
        // Browsers ask for it on every page; answering keeps it out of the error log.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/follow", get(follow))
        .route("/{n}", get(trigger))
        .route(
            "/login",
            get(crate::access::login_page).post(crate::access::login),
        )
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            access,
            crate::access::check,
        ))
        // A 502 or 503 tells the caller about the servers, and the run's own
        // line says why at WARN: not an ERROR of this client's.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
}

async fn index(State(state): State<AppState>) -> Html<String> {
    let settings = &state.settings;
    Html(
        webpage::index(webpage::IndexInfo {
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
    let request = parse_request(&state.settings, path, query);
    start_run(state, headers, request).await
}

/// `GET /follow?user_id=U[&from=latest|earliest|rank|time]`: a run that
/// follows the list until stopped. A browser is sent to its page; anyone
/// else is told at once where it is, where its file grows and how to stop it.
async fn follow(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let request = parse_follow(&state.settings, query);
    start_run(state, headers, request).await
}

async fn start_run(
    state: AppState,
    headers: HeaderMap,
    request: Result<RunRequest, String>,
) -> Response {
    let mut answer = Answer {
        html: webpage::wants_html(&headers),
        run_id: None,
        requested: None,
    };
    let mut request = match request {
        Ok(request) => request,
        Err(message) => {
            return answer.failure(StatusCode::BAD_REQUEST, "Bad request", &message, None);
        }
    };

    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        let message = format!(
            "this client already runs its limit of {} triggers at once (--max-runs); try again shortly",
            state.settings.max_runs
        );
        return answer.failure(StatusCode::TOO_MANY_REQUESTS, "Busy", &message, None);
    };
    let run_id = state.runs.next_id();
    answer.run_id = Some(run_id);
    answer.requested = Some(request.count);
    request.run_id = run_id;
    request.output = runs::output_path(&request.output, run_id, request.user_id, request.count);
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
    let open_follow = (request.follow.is_some() && request.count == 0)
        .then(|| (request.output.clone(), request.format));
    let metrics = state.settings.metrics.clone();
    let started = Instant::now();
    // The run is its own task: a caller who closes the tab does not stop it,
    // the file still completes; only a Stop does.
    let task = state.runs.start(
        run_id,
        request,
        run_settings(&state.settings),
        state.settings.upstream.clone(),
        span,
        move |outcome| {
            account(outcome, started.elapsed(), metrics.as_deref());
            drop(slot);
        },
    );
    if answer.html {
        // A browser watches the run live, at once, whatever n is.
        return Redirect::to(&format!("/runs/{run_id}")).into_response();
    }
    if let Some((output, format)) = open_follow {
        // A follow has no end to wait for.
        return (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/runs/{run_id}"))],
            Json(json!({
                "run_id": run_id,
                "status": format!("/runs/{run_id}"),
                "events": format!("/runs/{run_id}/events"),
                "stop": format!("POST /runs/{run_id}/cancel"),
                "file": crate::sink::following_path(&output, run_id),
                "output": output,
                "format": format.name(),
            })),
        )
            .into_response();
    }
    match task.await {
        Ok(Ok(report)) => answer.success(run_id, &report),
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

/// What a run's report says it ran with.
fn run_settings(settings: &TriggerSettings) -> RunSettings {
    RunSettings {
        format: settings.format.name().to_owned(),
        retries: settings.retry.retries,
        retry_backoff_ms: millis(settings.retry.first_backoff),
        idle_timeout_ms: millis(settings.idle_timeout),
        servers: settings.upstream.endpoints(),
    }
}

/// Anything else, `/a/b` or `/../../etc/passwd` included: a 404 that points
/// to the trigger, never a file or a run.
async fn not_found(headers: HeaderMap) -> Response {
    Answer {
        html: webpage::wants_html(&headers),
        run_id: None,
        requested: None,
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

/// The end of a run, once: its log line (inside the run's span, which
/// carries run id, user, n and trace id) and its metrics.
fn account(
    outcome: &Result<RunSummary, RunError>,
    elapsed: Duration,
    metrics: Option<&ClientMetrics>,
) {
    let elapsed_ms = elapsed.as_millis() as u64;
    let (label, received, retries) = match outcome {
        Ok(report) => {
            tracing::info!(
                outcome = if report.stopped { "stopped" } else { "complete" },
                books = report.received,
                requested = report.requested,
                elapsed_ms,
                books_per_sec = report.books_per_second() as u64,
                retries = report.retries,
                file = %report.file.display(),
                "run ended"
            );
            let label = if report.stopped {
                "stopped"
            } else {
                "complete"
            };
            (label, report.received, report.retries)
        }
        Err(error) => {
            let label = error.shortfall().as_str();
            let (received, retries) = error
                .arrived()
                .map_or((0, 0), |arrived| (arrived.received, arrived.retries));
            // A person stopping a run is no warning; a run that fell short is.
            if error.shortfall() == Shortfall::Cancelled {
                tracing::info!(
                    outcome = label,
                    books = received,
                    elapsed_ms,
                    retries,
                    "run ended: stopped by request"
                );
            } else {
                tracing::warn!(
                    outcome = label,
                    books = received,
                    elapsed_ms,
                    retries,
                    "run ended: {error}"
                );
            }
            (label, received, retries)
        }
    };
    if let Some(metrics) = metrics {
        metrics.run_ended(label, elapsed, received, retries);
    }
}
