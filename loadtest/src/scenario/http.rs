//! The REST scenarios' shared HTTP/1.1 client: one keep-alive pool for all
//! users, sized by `--connections`, with hyper directly (no per-request URL
//! parsing, redirect policy or header juggling) so the harness stays cheaper
//! than the server it measures.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, Response, StatusCode, Uri, body::Incoming};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};

use crate::outcome::{Failure, FailureKind};

/// A pooled HTTP/1.1 client and the one URL a scenario asks for.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: Uri,
}

impl HttpTarget {
    /// A client keeping up to `connections` idle connections to the host of `uri`.
    pub(crate) fn new(uri: Uri, connections: usize) -> Self {
        let mut connector = HttpConnector::new();
        // Small requests and answers: Nagle would only add latency.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { client, uri }
    }

    /// Sends the GET and returns the response once its status is a success.
    pub(crate) async fn get(&self) -> Result<Response<Incoming>, Failure> {
        let request = Request::get(self.uri.clone())
            .body(Empty::new())
            .map_err(|error| Failure::new(FailureKind::Transport, error.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| transport(&error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_failure(status, response).await);
        }
        Ok(response)
    }
}

/// The next data frame of a body, `None` at its end.
pub(crate) async fn next_data(body: &mut Incoming) -> Result<Option<Bytes>, Failure> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| transport(&error))?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The whole body in one buffer, pre-sized from `Content-Length` when given.
pub(crate) async fn read_body(response: Response<Incoming>) -> Result<Vec<u8>, Failure> {
    let length = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0);
    // A lying header must not make the harness allocate gigabytes up front.
    let mut body = Vec::with_capacity(length.min(256 << 20));
    let mut incoming = response.into_body();
    while let Some(data) = next_data(&mut incoming).await? {
        body.extend_from_slice(&data);
    }
    Ok(body)
}

/// A failure for a non-success status, with the start of the body as detail.
async fn status_failure(status: StatusCode, response: Response<Incoming>) -> Failure {
    let detail = match response.into_body().collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
        }
        Err(error) => format!("(body unreadable: {error})"),
    };
    Failure::new(FailureKind::HttpStatus(status.as_u16()), detail)
}

fn transport(error: &(dyn std::error::Error + 'static)) -> Failure {
    // hyper's Display is terse ("client error (Connect)"); the cause chain says what happened.
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::new(FailureKind::Transport, detail)
}
