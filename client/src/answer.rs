//! The trigger's answer about a run, in the caller's form: an HTML page for
//! browsers, JSON for everyone else. The one place a run's end (its report,
//! or its `RunError`) becomes an HTTP status and body.

use axum::{
    Json,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use crate::{
    run::{Arrived, RunError, RunSummary},
    upstream::UpstreamError,
    webpage,
};

/// Renders answers in the caller's preferred form.
pub(crate) struct Answer {
    pub(crate) html: bool,
    /// The run the answer is about, once one was started.
    pub(crate) run_id: Option<u64>,
    /// The books that run asked for.
    pub(crate) requested: Option<u64>,
}

impl Answer {
    /// A run that wrote every book (JSON callers wait for it; browsers watch it live).
    pub(crate) fn success(&self, run_id: u64, report: &RunSummary) -> Response {
        Json(json!({
            "run_id": run_id,
            "report": format!("/runs/{run_id}"),
            "requested": report.requested,
            "received": report.received,
            "user_id": report.user_id,
            "file": report.file,
            "format": report.format,
            "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
            "retries": report.retries,
            "books_per_sec": report.books_per_second(),
            "outcome": if report.stopped { "stopped" } else { "complete" },
        }))
        .into_response()
    }

    pub(crate) fn run_failure(&self, error: &RunError) -> Response {
        let (status, title) = match error {
            RunError::Cancelled { .. } => (StatusCode::CONFLICT, "Run stopped"),
            RunError::Upstream {
                source: upstream, ..
            } => match upstream {
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
                // Not a broken stream: this client is misconfigured, and
                // asking again will not help.
                UpstreamError::Unauthenticated { .. } => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Client not authorized by the server",
                ),
            },
            RunError::Interrupted { .. } => (StatusCode::BAD_GATEWAY, "Stream interrupted"),
            RunError::Sink(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Cannot write the file"),
        };
        self.failure(status, title, &error.to_string(), error.arrived())
    }

    pub(crate) fn failure(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
        arrived: Option<Arrived<'_>>,
    ) -> Response {
        if self.html {
            let page = webpage::failure(
                title,
                message,
                arrived.map(|arrived| arrived.received),
                arrived.and_then(|arrived| arrived.partial_file),
            );
            return (status, Html(page.into_string())).into_response();
        }
        let mut body = json!({ "error": message });
        if let Some(run_id) = self.run_id {
            body["run_id"] = json!(run_id);
            body["report"] = json!(format!("/runs/{run_id}"));
        }
        if let Some(requested) = self.requested {
            body["requested"] = json!(requested);
        }
        if let Some(arrived) = arrived {
            body["received"] = json!(arrived.received);
            body["retries"] = json!(arrived.retries);
            body["partial_file"] = json!(arrived.partial_file);
        }
        (status, Json(body)).into_response()
    }
}
