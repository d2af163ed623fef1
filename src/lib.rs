//! Bookstream's shared core: the recommendations protocol (generated once,
//! here) and the deterministic catalog every other crate draws books from.

pub mod book;
pub mod catalog;
pub mod codec;
pub mod display;
pub mod keepalive;
pub mod listener;
pub mod memory;
pub mod ready;
pub mod seek;
pub mod shutdown;
pub mod telemetry;
pub mod wire;

/// The generated protobuf messages and gRPC stubs of `proto/recommendations.proto`.
pub mod pb {
    #![allow(unreachable_pub, clippy::all)]
    tonic::include_proto!("recommendations");
    // The server stub, generated from the same service with a handle per streamed book (build.rs).
    include!(concat!(
        env!("OUT_DIR"),
        "/recommendations.Recommendations.rs"
    ));

    /// The callers' stub (the client's runs, the load harness): the same
    /// service, each answer handed over as its message's bytes, to be read
    /// in place (`BookBytesCodec`).
    pub mod bytes_client {
        include!(concat!(
            env!("OUT_DIR"),
            "/bytes_client/recommendations.Recommendations.rs"
        ));
    }

    /// The service's name, and each method's name and HTTP/2 path, from the
    /// proto: code that names a method uses these, so a rename fails to compile.
    pub mod names {
        include!(concat!(env!("OUT_DIR"), "/method_names.rs"));
    }

    /// Encoded descriptors of the proto, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/recommendations_descriptor.bin"));
}

pub use pb::{BookRecommendation, BookRecommendations, RecommendationRequest, StartFrom};

/// The response header (gRPC initial metadata on `Recommend` and
/// `RecommendBatch`, an HTTP header on the REST twins) in which a server
/// announces, before the first book, how many books it will send. A user's
/// list may hold fewer books than asked for; callers judge completeness by it.
pub const COUNT_HEADER: &str = "bookstream-count";

/// The response header (gRPC initial metadata, or an HTTP header) by which a
/// server says an answer follows the list as it grows: it announces no
/// count, and ends only when the caller leaves, the asked-for books were
/// sent, or the server shuts down.
pub const FOLLOW_HEADER: &str = "bookstream-follow";

/// With [`FOLLOW_HEADER`]: the rank a follow starts at, resolved by the
/// server (from the latest book, or from a time), so that a caller whose
/// stream breaks before its first book resumes from the very same place.
pub const START_RANK_HEADER: &str = "bookstream-start-rank";
