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
        // The REST twin serialises the very same generated types.
        .message_attribute(
            ".recommendations.BookRecommendation",
            "#[derive(serde::Serialize, serde::Deserialize)]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
