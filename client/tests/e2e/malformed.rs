//! A server that sends bytes which are not a book: the client reads books
//! in place from the raw messages, so a malformed one must end the run with
//! a clear error and the books before it kept as `.partial`, never a panic.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bookstream::{RecommendationRequest, catalog};
use bookstream_client::sink::{Format, partial_path};
use bytes::{Buf, BufMut, Bytes};
use futures::{Stream, stream};
use prost::Message;
use reqwest::StatusCode;
use tonic::{
    Status,
    body::Body,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http,
    server::{NamedService, ServerStreamingService},
    transport::server::TcpIncoming,
};

use crate::support::{expected_books, read_back, spawn_client};

/// Books sent before the malformed message.
const GOOD: u64 = 1_500;

type Messages = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// `Recommend`, answered with `GOOD` catalog books and then `garbage`.
#[derive(Clone)]
struct GarbledRecommendations {
    garbage: Bytes,
}

impl NamedService for GarbledRecommendations {
    const NAME: &'static str = bookstream::pb::names::SERVICE;
}

impl tower::Service<http::Request<Body>> for GarbledRecommendations {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let handler = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.server_streaming(handler, request).await)
        })
    }
}

impl ServerStreamingService<RecommendationRequest> for GarbledRecommendations {
    type Response = Bytes;
    type ResponseStream = Messages;
    type Future = std::future::Ready<Result<tonic::Response<Messages>, Status>>;

    fn call(&mut self, request: tonic::Request<RecommendationRequest>) -> Self::Future {
        let user_id = request.get_ref().user_id;
        let books =
            catalog::books(user_id, 0..GOOD).map(|book| Ok(Bytes::from(book.encode_to_vec())));
        let messages = stream::iter(books.chain(std::iter::once(Ok(self.garbage.clone()))));
        std::future::ready(Ok(tonic::Response::new(Box::pin(messages) as Messages)))
    }
}

/// Requests decode with prost; each answer is sent as the bytes it is.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = RecommendationRequest;
    type Encoder = RawEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder
    }
}

#[derive(Debug, Clone, Copy)]
struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[derive(Debug, Clone, Copy)]
struct RequestDecoder;

impl Decoder for RequestDecoder {
    type Item = RecommendationRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<RecommendationRequest>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        RecommendationRequest::decode(bytes)
            .map(Some)
            .map_err(|error| Status::invalid_argument(error.to_string()))
    }
}

async fn serve_garbage(garbage: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = GarbledRecommendations {
        garbage: Bytes::from_static(garbage),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("http://{addr}")
}

#[tokio::test]
async fn a_malformed_book_ends_the_run_with_its_reason_and_keeps_the_books_before_it() {
    let cases: [(&'static [u8], &str); 3] = [
        // Field 2 (title) holding bytes that are not UTF-8.
        (&[0x08, 0xDC, 0x0B, 0x12, 0x02, 0xFF, 0xFE], "not UTF-8"),
        // A title that claims 100 bytes where 3 follow.
        (&[0x12, 0x64, b'a', b'b', b'c'], "past its end"),
        // Field 0, which no message has.
        (&[0x00, 0x01], "malformed"),
    ];
    for (garbage, reason) in cases {
        let server = serve_garbage(garbage).await;
        let client = spawn_client(&server).await;
        let (status, body) = client.get_json(&format!("/{}", GOOD + 100)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["received"], GOOD, "{body}");
        assert_eq!(
            body["retries"], 0,
            "a server sending garbage is not asked again: {body}"
        );
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(reason), "{message}");
        assert!(message.contains(&format!("book {GOOD}")), "{message}");
        assert_eq!(
            read_back(&partial_path(&client.output), Format::Txt),
            expected_books(1, GOOD, Format::Txt)
        );
        assert!(!client.output.exists());
    }
}
