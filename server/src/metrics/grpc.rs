//! Metering every RPC the gRPC listener serves, as a tower layer: counted
//! when it starts, and again when its response body ends, with the status
//! code from its trailers (or `Canceled` when the caller left first).

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bookstream::pb::names;
use http_body::{Body, Frame, SizeHint};
use tonic::codegen::http;

use super::{GrpcMethod, GrpcOutcome, Metrics, ServerMetrics};

/// The streaming RPC: each of its messages is a book, counted when its stream ends.
pub const RECOMMEND: GrpcMethod = rpc(names::SERVICE, names::RECOMMEND, "server_stream");

/// The RPCs this server answers, and their kind. Anything else is counted as
/// `unknown`, so that arbitrary paths cannot grow the label sets.
const METHODS: [GrpcMethod; 6] = [
    RECOMMEND,
    rpc(names::SERVICE, names::RECOMMEND_BATCH, "unary"),
    rpc(names::SERVICE, names::APPEND, "bidi_stream"),
    rpc("grpc.health.v1.Health", "Check", "unary"),
    rpc("grpc.health.v1.Health", "Watch", "server_stream"),
    rpc(
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        "bidi_stream",
    ),
];

const UNKNOWN: GrpcMethod = rpc("unknown", "unknown", "unary");

const fn rpc(
    grpc_service: &'static str,
    grpc_method: &'static str,
    grpc_type: &'static str,
) -> GrpcMethod {
    GrpcMethod {
        grpc_type,
        grpc_service,
        grpc_method,
    }
}

/// The labels of the RPC at `path` (`/package.Service/Method`).
fn method_of(path: &str) -> GrpcMethod {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    METHODS
        .into_iter()
        .find(|known| known.grpc_service == service && known.grpc_method == method)
        .unwrap_or(UNKNOWN)
}

/// A gRPC status code's name, as the conventional metrics spell it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

fn code_in(headers: &http::HeaderMap) -> Option<&'static str> {
    let status = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(code_name(tonic::Code::from_i32(status)))
}

/// The layer: wraps the gRPC listener's service. Without metrics it passes
/// every call through untouched.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    metrics: Metrics,
}

impl GrpcMetricsLayer {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>>
    for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Body,
{
    type Response = http::Response<MeteredBody<ResponseBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let call = self.metrics.clone().map(|metrics| {
            let method = method_of(request.uri().path());
            metrics.grpc_started.get_or_create(&method).inc();
            Call {
                metrics,
                method,
                started: Instant::now(),
                code: None,
            }
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let call = call.map(|mut call| {
                // A trailers-only answer (an error before any message) carries its status here.
                call.code = code_in(response.headers());
                call
            });
            Ok(response.map(|inner| MeteredBody { inner, call }))
        })
    }
}

/// One RPC being answered.
#[derive(Debug)]
struct Call {
    metrics: Arc<ServerMetrics>,
    method: GrpcMethod,
    started: Instant,
    code: Option<&'static str>,
}

impl Call {
    fn finish(self, code: &'static str) {
        let GrpcMethod {
            grpc_type,
            grpc_service,
            grpc_method,
        } = self.method;
        self.metrics
            .grpc_handling_seconds
            .get_or_create(&self.method)
            .observe(self.started.elapsed().as_secs_f64());
        if grpc_type == "unary" && code == "OK" {
            self.metrics.grpc_msg_sent.get_or_create(&self.method).inc();
        }
        self.metrics
            .grpc_handled
            .get_or_create(&GrpcOutcome {
                grpc_type,
                grpc_service,
                grpc_method,
                grpc_code: code,
            })
            .inc();
    }
}

/// A response body that reports its RPC once it ends, or once it is dropped
/// unfinished (the caller went away).
#[derive(Debug)]
pub struct MeteredBody<B> {
    inner: B,
    call: Option<Call>,
}

impl<B: Body + Unpin> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(code_in)
                    && let Some(call) = self.call.take()
                {
                    call.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = self.call.take() {
                    call.finish("Unknown");
                }
            }
            Poll::Ready(None) => {
                if let Some(call) = self.call.take() {
                    let code = call.code.unwrap_or("OK");
                    call.finish(code);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            // A trailers-only answer is never polled (its body is empty and
            // says so): its status came with the headers. Anything else
            // dropped before its end lost its caller.
            let code = call.code.unwrap_or("Canceled");
            call.finish(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_get_their_labels_and_anything_else_is_unknown() {
        let recommend = method_of(names::RECOMMEND_PATH);
        assert_eq!(recommend.grpc_type, "server_stream");
        assert_eq!(recommend.grpc_service, names::SERVICE);
        assert_eq!(recommend.grpc_method, "Recommend");
        assert_eq!(method_of("/grpc.health.v1.Health/Check").grpc_type, "unary");
        for path in ["/x.Y/Z", "/", "", "/recommendations.Recommendations/Nope"] {
            assert_eq!(method_of(path).grpc_method, "unknown", "{path}");
        }
    }

    #[test]
    fn codes_are_spelled_as_the_conventional_dashboards_expect() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(
            code_name(tonic::Code::ResourceExhausted),
            "ResourceExhausted"
        );
    }
}
