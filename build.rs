//! Generates the protobuf and gRPC code with a pure-Rust proto compiler, so a
//! machine with only cargo can build Bookstream (no system `protoc`).

use std::{env, path::PathBuf};

const PROTO: &str = "proto/recommendations.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");

    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // gRPC reflection serves this set so tools like grpcurl can discover the API.
    std::fs::write(
        out_dir.join("recommendations_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    tonic_prost_build::configure()
        // Stubs use buffers sized for long streams of small messages (src/codec.rs).
        .codec_path("crate::codec::StreamingProstCodec")
        // The server stub is generated below, from the same service definition.
        .build_server(false)
        // The REST twin serialises the very same generated types.
        .message_attribute(
            ".recommendations.BookRecommendation",
            "#[derive(serde::Serialize, serde::Deserialize)]",
        )
        .compile_fds(descriptors)?;

    // The server's Recommend stream yields small handles (src/book.rs) that its
    // codec writes as BookRecommendation messages, so no owned message is built
    // per book. The wire is the proto's: same service, methods and messages.
    let server = tonic_build::manual::Service::builder()
        .name("Recommendations")
        .package("recommendations")
        .method(
            tonic_build::manual::Method::builder()
                .name("recommend")
                .route_name("Recommend")
                .input_type("crate::pb::RecommendationRequest")
                .output_type("crate::book::OutgoingBook")
                .codec_path("crate::codec::OutgoingBookCodec")
                .server_streaming()
                .build(),
        )
        .method(
            tonic_build::manual::Method::builder()
                .name("recommend_batch")
                .route_name("RecommendBatch")
                .input_type("crate::pb::RecommendationRequest")
                .output_type("crate::pb::BookRecommendations")
                .codec_path("crate::codec::StreamingProstCodec")
                .build(),
        )
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .compile(&[server]);
    Ok(())
}
