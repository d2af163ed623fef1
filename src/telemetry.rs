//! Logs and traces shared by the Bookstream binaries.
//!
//! - Logs go to stderr as text or JSON lines (`--log-format`), filtered by
//!   `RUST_LOG` (default `info`). JSON lines carry the trace id of the run or
//!   stream they belong to.
//! - Spans go to OpenTelemetry. With the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   set they are exported over OTLP/gRPC, named by `OTEL_SERVICE_NAME`;
//!   without it nothing is exported. Traces cross services as W3C trace
//!   context (`traceparent`), in gRPC metadata and HTTP headers.

mod export;

use std::io::IsTerminal;

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, colours on a terminal.
    #[default]
    Text,
    /// For log pipelines: one JSON object per line, with the span's fields
    /// (run id, user, trace id) beside the event's.
    Json,
}

/// The logging flag every Bookstream binary takes.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LogArgs {
    /// Log lines as `text` (for people) or `json` (for log pipelines; each
    /// line carries the trace id). Filter with RUST_LOG (default `info`).
    #[arg(
        long = "log-format",
        env = "BOOKSTREAM_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
}

/// The installed telemetry; flushes spans not yet exported when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("exporting the last spans failed: {error}");
        }
    }
}

/// Installs logging and tracing for the service `default_service` (the
/// service name unless `OTEL_SERVICE_NAME` says otherwise). A second call in
/// one process (tests that start several services) keeps the first.
pub fn init(default_service: &str, format: LogFormat) -> Telemetry {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (provider, export) = tracer_provider(default_service);
    let tracer = provider.tracer("bookstream");
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .is_ok();
    match export {
        Export::Off => {}
        Export::To(endpoint) => {
            tracing::info!(%endpoint, "tracing on: spans are exported over OTLP/gRPC to {endpoint}");
        }
        Export::Failed(error) => tracing::warn!("spans will not be exported: {error}"),
    }
    if installed {
        global::set_tracer_provider(provider.clone());
        Telemetry {
            provider: Some(provider),
        }
    } else {
        Telemetry { provider: None }
    }
}

/// Where spans go, to be told once the log is installed.
enum Export {
    Off,
    To(String),
    Failed(String),
}

/// A provider that exports over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set, and only records (for trace ids in logs and propagation) when not.
fn tracer_provider(default_service: &str) -> (SdkTracerProvider, Export) {
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| default_service.to_owned());
    let builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    let Some(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.is_empty())
    else {
        return (builder.build(), Export::Off);
    };
    // The exporter reads the endpoint (and OTEL_EXPORTER_OTLP_* settings) itself.
    match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => {
            let exporter = export::Warning::new(exporter, endpoint.clone());
            (
                builder.with_batch_exporter(exporter).build(),
                Export::To(endpoint),
            )
        }
        Err(error) => (builder.build(), Export::Failed(error.to_string())),
    }
}

/// The trace id of `span`, as 32 hex digits, once the span has a trace.
pub fn trace_id(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Writes `span`'s trace id into its `trace_id` field (which the span must
/// declare, empty), so that every log line inside it carries the id.
pub fn record_trace_id(span: &Span) {
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// Makes `span` continue the trace of the `traceparent` in `carrier`, if any.
/// Call before the span is first entered.
pub fn continue_trace(span: &Span, carrier: &dyn Extractor) {
    let parent = global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    if parent.span().span_context().is_valid() {
        // Fails only when the span was entered already or is disabled: then it starts a trace of its own.
        let _ = span.set_parent(parent);
    }
}

/// Writes `span`'s trace context into `carrier` as `traceparent`.
pub fn inject_trace(span: &Span, carrier: &mut dyn Injector) {
    let context: Context = span.context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, carrier));
}

/// gRPC metadata as a trace-context carrier.
pub struct MetadataCarrier<'a>(pub &'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Read-only gRPC metadata as a trace-context carrier.
pub struct MetadataSource<'a>(pub &'a tonic::metadata::MetadataMap);

impl Extractor for MetadataSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// HTTP headers as a trace-context carrier.
pub struct HeaderSource<'a>(pub &'a tonic::codegen::http::HeaderMap);

impl Extractor for HeaderSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_crosses_grpc_metadata_unchanged() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = tonic::codegen::http::HeaderMap::new();
        headers.insert("traceparent", traceparent.parse().unwrap());
        let propagator = TraceContextPropagator::new();
        let context = opentelemetry::propagation::TextMapPropagator::extract(
            &propagator,
            &HeaderSource(&headers),
        );
        let mut metadata = tonic::metadata::MetadataMap::new();
        opentelemetry::propagation::TextMapPropagator::inject_context(
            &propagator,
            &context,
            &mut MetadataCarrier(&mut metadata),
        );
        assert_eq!(
            MetadataSource(&metadata).get("traceparent"),
            Some(traceparent)
        );
    }
}
