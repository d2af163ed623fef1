//! What one request produced: its measurements, or why it failed. This is the
//! whole vocabulary between the scenarios (which make requests) and the load
//! models and statistics (which only count them).

use std::{fmt, time::Duration};

use serde::Serialize;

/// The measurements of one verified, correct answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measurement {
    /// Books received and checked.
    pub books: u64,
    /// Response payload bytes: the HTTP body, or the encoded protobuf messages
    /// with their 5-byte gRPC prefixes (headers and HTTP/2 framing excluded).
    pub bytes: u64,
    /// For streams: from sending the request to the first complete book.
    pub first_book: Option<Duration>,
    /// For streams: from the first to the last book.
    pub streaming: Option<Duration>,
}

/// How a request failed; reports count failures per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// An HTTP status other than 2xx.
    HttpStatus(u16),
    /// A gRPC status other than OK, sent by the server (or produced by the
    /// client's decoder, e.g. a message over its limit).
    GrpcStatus(tonic::Code),
    /// An answer that arrived but was not the one asked for: wrong count,
    /// ids out of order, a book unlike the catalog's, or undecodable content.
    Mismatch,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection failed: refused, reset, closed mid-answer.
    Transport,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::HttpStatus(code) => write!(f, "http {code}"),
            FailureKind::GrpcStatus(code) => write!(f, "grpc {}", grpc_code_name(*code)),
            FailureKind::Mismatch => f.write_str("mismatch"),
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::Transport => f.write_str("transport"),
        }
    }
}

impl FailureKind {
    /// Orders kinds by protocol and then by code, so reports list them stably.
    fn sort_key(&self) -> (u8, i32) {
        match self {
            FailureKind::HttpStatus(code) => (0, i32::from(*code)),
            FailureKind::GrpcStatus(code) => (1, *code as i32),
            FailureKind::Mismatch => (2, 0),
            FailureKind::Timeout => (3, 0),
            FailureKind::Transport => (4, 0),
        }
    }
}

impl Ord for FailureKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for FailureKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The canonical upper-case names (`NOT_FOUND`), as grpcurl and ghz print them.
fn grpc_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A failed request: its kind, and a human-readable detail for the report's
/// first example of that kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn mismatch(detail: impl Into<String>) -> Self {
        Self::new(FailureKind::Mismatch, detail)
    }
}

/// The result of one request.
pub type Outcome = Result<Measurement, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_read_as_their_protocol_names() {
        assert_eq!(FailureKind::HttpStatus(503).to_string(), "http 503");
        assert_eq!(
            FailureKind::GrpcStatus(tonic::Code::ResourceExhausted).to_string(),
            "grpc RESOURCE_EXHAUSTED"
        );
        assert_eq!(FailureKind::Mismatch.to_string(), "mismatch");
    }
}
