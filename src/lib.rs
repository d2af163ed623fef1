//! Bookstream's shared core: the recommendations protocol (generated once,
//! here) and the deterministic catalog every other crate draws books from.

pub mod catalog;
pub mod codec;
pub mod display;
pub mod memory;
pub mod shutdown;
pub mod telemetry;

/// The generated protobuf messages and gRPC stubs of `proto/recommendations.proto`.
pub mod pb {
    #![allow(unreachable_pub, clippy::all)]
    tonic::include_proto!("recommendations");

    /// Encoded descriptors of the proto, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/recommendations_descriptor.bin"));
}

pub use pb::{BookRecommendation, BookRecommendations, RecommendationRequest};
