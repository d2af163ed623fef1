//! One run is one trace, across both hops: the real binaries export their
//! spans over OTLP/gRPC to a receiver in this test, a caller's `traceparent`
//! on `/{n}` is continued, and the parent links run caller → run → attempt →
//! server stream. The JSON log lines of both carry the trace's id.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};
use tokio::io::AsyncReadExt;
use tonic::transport::server::TcpIncoming;

use crate::processes::{start_client_with, start_with, terminate};

/// The caller's trace: its id and the span the run must hang from.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as received, with the name of the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(
                    |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                        Value::StringValue(name) => Some(name.clone()),
                        _ => None,
                    },
                )
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => Some(text.clone()),
                Value::IntValue(number) => Some(number.to_string()),
                _ => None,
            },
        )
}

#[tokio::test]
async fn one_run_is_one_trace_from_the_caller_through_the_client_into_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = Receiver::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let otel = |service: &'static str| {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_SERVICE_NAME", service.to_owned()),
            // Export within a tenth of a second, not the default five.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
    };
    let server_env = otel("books-server");
    let server_env: Vec<(&str, &str)> = server_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (server, ready) = start_with(
        "server",
        &[
            "--grpc-addr",
            "127.0.0.1:0",
            "--rest-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &server_env,
        Stdio::piped(),
        "bookstream server ready:",
    )
    .await;
    let (grpc_addr, _) = bookstream::ready::parse_line(&ready).unwrap();
    let client_env = otel("books-client");
    let client_env: Vec<(&str, &str)> = client_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = tempfile::tempdir().unwrap();
    let output_file = output.path().join("books.txt");
    let (client, base) = start_client_with(
        &format!("http://{grpc_addr}"),
        &output_file,
        &["--log-format", "json"],
        &client_env,
        Stdio::piped(),
    )
    .await;

    let answer = reqwest::Client::new()
        .get(format!("{base}/1000?user_id=7"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // The spans arrive within a batch delay of the stream's end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = receiver.spans.lock().unwrap().clone();
        let has = |name: &str| spans.iter().any(|received| received.span.name == name);
        if has("run") && has("attempt") && has("Recommend") {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans so far: {:?}",
            spans
                .iter()
                .map(|received| &received.span.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let find = |name: &str| {
        spans
            .iter()
            .find(|received| received.span.name == name)
            .unwrap()
            .clone()
    };
    let (run, attempt, stream) = (find("run"), find("attempt"), find("Recommend"));

    for received in [&run, &attempt, &stream] {
        assert_eq!(
            hex(&received.span.trace_id),
            TRACE_ID,
            "{}",
            received.span.name
        );
    }
    assert_eq!(run.service, "books-client");
    assert_eq!(stream.service, "books-server");
    assert_eq!(hex(&run.span.parent_span_id), CALLER_SPAN);
    assert_eq!(attempt.span.parent_span_id, run.span.span_id);
    assert_eq!(stream.span.parent_span_id, attempt.span.span_id);
    assert_eq!(attribute(&stream.span, "user_id").as_deref(), Some("7"));
    assert_eq!(attribute(&stream.span, "books").as_deref(), Some("1000"));
    assert_eq!(attribute(&attempt.span, "books").as_deref(), Some("1000"));
    assert_eq!(
        attribute(&attempt.span, "ended").as_deref(),
        Some("complete")
    );

    // JSON logs: the run's and the stream's lines carry the trace id.
    terminate_and_read(client, "run ended").await;
    terminate_and_read(server, "books sent").await;
}

/// Stops a process and checks that the JSON log line with `message` carries the trace id.
async fn terminate_and_read(mut child: tokio::process::Child, message: &str) {
    let mut stderr = child.stderr.take().unwrap();
    // Read while it stops: a full stderr pipe would keep it from exiting.
    let logs = tokio::spawn(async move {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).await.unwrap();
        logs
    });
    terminate(child).await;
    let logs = logs.await.unwrap();
    let line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["message"] == message)
        .unwrap_or_else(|| panic!("no JSON line '{message}' in:\n{logs}"));
    assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
}

#[tokio::test]
async fn an_append_joins_the_producers_trace() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = Receiver::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let store = crate::support::TestStore::sqlite("1", 10).await;
    let catalog = store.spec().reveal();
    let (server, ready) = crate::processes::start_server_on(
        &catalog,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "books-server"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("BOOKSTREAM_WRITE_TOKEN", "trace-writes"),
        ],
        Stdio::null(),
    )
    .await;
    let (grpc_addr, _) = bookstream::ready::parse_line(&ready).unwrap();

    let batch = bookstream::pb::AppendRequest {
        producer_id: "traced".to_owned(),
        sequence: 1,
        user_id: 1,
        books: vec![bookstream::pb::NewBook {
            title: "Traced".to_owned(),
            author: "A".to_owned(),
            isbn13: String::new(),
            year: 2000,
            genre: "G".to_owned(),
            score: 0.5,
        }],
    };
    let mut request = tonic::Request::new(tokio_stream::iter([batch]));
    let metadata = request.metadata_mut();
    metadata.insert("authorization", "Bearer trace-writes".parse().unwrap());
    metadata.insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    let mut acks = bookstream::pb::recommendations_client::RecommendationsClient::connect(format!(
        "http://{grpc_addr}"
    ))
    .await
    .unwrap()
    .append(request)
    .await
    .unwrap()
    .into_inner();
    assert_eq!(acks.message().await.unwrap().unwrap().first_rank, 10);
    assert!(acks.message().await.unwrap().is_none());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let append = loop {
        let spans = receiver.spans.lock().unwrap().clone();
        if let Some(append) = spans
            .into_iter()
            .find(|received| received.span.name == "Append")
        {
            break append;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Append span");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hex(&append.span.trace_id), TRACE_ID);
    assert_eq!(hex(&append.span.parent_span_id), CALLER_SPAN);
    assert_eq!(
        attribute(&append.span, "producer_id").as_deref(),
        Some("traced")
    );
    assert_eq!(attribute(&append.span, "books").as_deref(), Some("1"));
    terminate(server).await;
}
