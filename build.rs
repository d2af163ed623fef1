//! Generates the protobuf and gRPC code with a pure-Rust proto compiler, so a
//! machine with only cargo can build Bookstream (no system `protoc`).
//!
//! Every service and method name comes from the proto: the hand-tuned stubs
//! (the server's, and the callers' that take books as bytes) are built from
//! its descriptors, and the service's and each method's name and path are
//! generated constants (`pb::names`), so renaming a method in the proto fails
//! to compile wherever it is used.

use std::{env, fmt::Write as _, path::PathBuf};

use prost_types::{FileDescriptorSet, MethodDescriptorProto};
use tonic_build::manual::{Method, Service};

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
        // Files and JSON answers stay as they were: the append time travels
        // only on the wire (see `BookView::appended_at_ms`).
        .field_attribute(
            ".recommendations.BookRecommendation.appended_at_ms",
            "#[serde(skip)]",
        )
        .compile_fds(descriptors.clone())?;

    // The server's Recommend stream yields small handles (src/book.rs) that its
    // codec writes as BookRecommendation messages, so no owned message is built
    // per book. The wire is the proto's: same service, methods and messages.
    let server = service(
        &descriptors,
        |_| true,
        |method| {
            if method.output_type() == ".recommendations.BookRecommendation" {
                (
                    "crate::book::OutgoingBook".to_owned(),
                    "crate::codec::OutgoingBookCodec",
                )
            } else {
                (
                    message_path(method.output_type()),
                    "crate::codec::StreamingProstCodec",
                )
            }
        },
    );
    tonic_build::manual::Builder::new()
        .build_client(false)
        .out_dir(&out_dir)
        .compile(&[server]);

    // The readers (the client's runs, the load harness) read each answer in
    // place, so their stub hands every message over as its bytes. Producers
    // use the generated prost client.
    let bytes_client = service(
        &descriptors,
        |method| method.input_type() == ".recommendations.RecommendationRequest",
        |_| ("bytes::Bytes".to_owned(), "crate::codec::BookBytesCodec"),
    );
    let bytes_dir = out_dir.join("bytes_client");
    std::fs::create_dir_all(&bytes_dir)?;
    tonic_build::manual::Builder::new()
        .build_server(false)
        .out_dir(&bytes_dir)
        .compile(&[bytes_client]);

    std::fs::write(out_dir.join("method_names.rs"), method_names(&descriptors))?;
    Ok(())
}

/// The proto's one service with the methods `include` keeps, each method's
/// answer type and codec chosen by `answer`; requests are always the proto's
/// own messages.
fn service(
    descriptors: &FileDescriptorSet,
    include: impl Fn(&MethodDescriptorProto) -> bool,
    answer: impl Fn(&MethodDescriptorProto) -> (String, &'static str),
) -> Service {
    let (package, proto) = the_service(descriptors);
    let mut builder = Service::builder().name(proto.name()).package(package);
    for method in proto.method.iter().filter(|method| include(method)) {
        let (output, codec) = answer(method);
        let input = message_path(method.input_type());
        let mut built = Method::builder()
            .name(snake_case(method.name()))
            .route_name(method.name())
            .input_type(input)
            .output_type(output)
            .codec_path(codec);
        if method.client_streaming() {
            built = built.client_streaming();
        }
        if method.server_streaming() {
            built = built.server_streaming();
        }
        builder = builder.method(built.build());
    }
    builder.build()
}

/// The generated Rust type of a proto message (`.recommendations.AppendAck`).
fn message_path(proto_type: &str) -> String {
    format!(
        "crate::pb::{}",
        proto_type.rsplit('.').next().unwrap_or_default()
    )
}

/// The package and the one service of the proto.
fn the_service(descriptors: &FileDescriptorSet) -> (&str, &prost_types::ServiceDescriptorProto) {
    let file = descriptors
        .file
        .iter()
        .find(|file| !file.service.is_empty())
        .expect("the proto defines a service");
    (file.package(), &file.service[0])
}

/// The service's full name, and each method's name and HTTP/2 path:
/// `SERVICE`, `RECOMMEND` (`"Recommend"`), `RECOMMEND_PATH`
/// (`"/recommendations.Recommendations/Recommend"`) and so on.
fn method_names(descriptors: &FileDescriptorSet) -> String {
    let (package, service) = the_service(descriptors);
    let full = format!("{package}.{}", service.name());
    let mut code = format!("/// The service's full name.\npub const SERVICE: &str = \"{full}\";\n");
    for method in &service.method {
        let name = method.name();
        let constant = snake_case(name).to_uppercase();
        let _ = writeln!(
            code,
            "/// The method `{name}`.\npub const {constant}: &str = \"{name}\";\n\
             /// The HTTP/2 path of `{name}`.\npub const {constant}_PATH: &str = \"/{full}/{name}\";"
        );
    }
    code
}

fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for (index, character) in name.chars().enumerate() {
        if character.is_uppercase() && index > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_lowercase());
    }
    snake
}
