//! Metering the REST listener: every answer by route and status, and how
//! long it took to its headers.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use super::{HttpRoute, ServerMetrics};

/// Axum middleware, added with `route_layer` so that the route is the
/// router's pattern (`/recommendations`), never a caller's raw path.
pub async fn track(
    State(metrics): State<Arc<ServerMetrics>>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = route.map_or_else(|| "unmatched".to_owned(), |route| route.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = HttpRoute {
        route,
        status: response.status().as_u16(),
    };
    metrics
        .http_duration_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    metrics.http_requests.get_or_create(&labels).inc();
    response
}
