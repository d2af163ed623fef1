use bookstream::{catalog, pb::recommendations_client::RecommendationsClient};
use tonic::Code;

use crate::support::{collect, config, request, spawn_server, spawn_server_with};

#[tokio::test]
async fn recommend_streams_one_message_per_catalog_book_in_order() {
    let server = spawn_server().await;
    let stream = server.stream(request(7, 2_500)).await;
    let received = collect(stream).await;
    assert_eq!(received, catalog::books(7, 0..2_500).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_stream_larger_than_any_message_limit_arrives_whole() {
    // 200,000 books are about 20 MB: five times tonic's default 4 MiB message limit.
    let server = spawn_server().await;
    let mut stream = server.stream(request(1, 200_000)).await;
    let mut count = 0u64;
    while let Some(book) = stream.message().await.unwrap() {
        assert_eq!(book.id, count);
        count += 1;
    }
    assert_eq!(count, 200_000);
}

#[tokio::test]
async fn zero_books_is_an_invalid_argument() {
    let server = spawn_server().await;
    let mut grpc = server.grpc().await;
    let status = grpc.recommend(request(1, 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("at least 1"),
        "{}",
        status.message()
    );
    let status = grpc.recommend_batch(request(1, 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_count_above_the_cap_is_an_invalid_argument_that_names_the_cap() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_results: 500,
        ..config()
    })
    .await;
    let mut grpc = server.grpc().await;
    for status in [
        grpc.recommend(request(1, 501)).await.unwrap_err(),
        grpc.recommend_batch(request(1, 501)).await.unwrap_err(),
        grpc.recommend(request(1, u64::MAX)).await.unwrap_err(),
        grpc.recommend_batch(request(1, u64::MAX))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("limit of 500"),
            "{}",
            status.message()
        );
    }
    assert!(grpc.recommend(request(1, 500)).await.is_ok());
}

#[tokio::test]
async fn a_unary_answer_over_the_message_limit_is_resource_exhausted_and_points_to_the_stream() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_message_bytes: 64 * 1024,
        ..config()
    })
    .await;
    let status = server
        .grpc()
        .await
        .recommend_batch(request(1, 10_000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("Recommend RPC"),
        "{}",
        status.message()
    );
    // The same request streams fine.
    let mut stream = server.stream(request(1, 10_000)).await;
    let mut count = 0;
    while stream.message().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 10_000);
}

#[tokio::test]
async fn a_resumed_stream_continues_exactly_where_the_broken_one_stopped() {
    let server = spawn_server().await;
    let mut grpc = server.grpc().await;
    let resume = bookstream::RecommendationRequest {
        start_at: 600,
        ..request(5, 1_000)
    };
    let stream = grpc.recommend(resume).await.unwrap().into_inner();
    let received = collect(stream).await;
    assert_eq!(received, catalog::books(5, 600..1_000).collect::<Vec<_>>());

    let resume = bookstream::RecommendationRequest {
        start_at: 990,
        ..request(5, 1_000)
    };
    let unary = grpc
        .recommend_batch(resume)
        .await
        .unwrap()
        .into_inner()
        .books;
    assert_eq!(unary, catalog::books(5, 990..1_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_resume_point_past_the_end_is_an_invalid_argument() {
    let server = spawn_server().await;
    let past_end = bookstream::RecommendationRequest {
        start_at: 11,
        ..request(1, 10)
    };
    let status = server.refusal(past_end).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("past the end"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_stream_whose_caller_leaves_stops_and_is_no_longer_counted() {
    let server = spawn_server().await;
    let mut stream = server.stream(request(1, 10_000_000)).await;
    for _ in 0..10 {
        stream.message().await.unwrap().unwrap();
    }
    assert_eq!(server.active_streams().await, 1);

    drop(stream);

    server.wait_for_active_streams(0).await;
}

#[tokio::test]
async fn streams_past_the_limit_are_refused_with_resource_exhausted_and_429() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_streams: 2,
        ..config()
    })
    .await;
    let mut grpc = server.grpc().await;
    let first = grpc
        .recommend(request(1, 1_000_000))
        .await
        .unwrap()
        .into_inner();
    let _second = grpc
        .recommend(request(2, 1_000_000))
        .await
        .unwrap()
        .into_inner();

    let status = grpc.recommend(request(3, 10)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("limit of 2 streams"),
        "{}",
        status.message()
    );
    let response = reqwest::get(server.rest_url("/recommendations/stream?max_results=10"))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);

    drop(first);
    server.wait_for_active_streams(1).await;
    assert!(grpc.recommend(request(3, 10)).await.is_ok());
}

#[tokio::test]
async fn a_shutdown_lets_the_grace_pass_then_ends_streams_with_unavailable() {
    let mut server = spawn_server_with(bookstream_server::ServerConfig {
        shutdown_grace: std::time::Duration::ZERO,
        ..config()
    })
    .await;
    let mut stream = server.stream(request(1, 10_000_000)).await;
    stream.message().await.unwrap().unwrap();

    server.begin_shutdown();

    let mut received = 1u64;
    let status = loop {
        match stream.message().await {
            Ok(Some(book)) => {
                assert_eq!(book.id, received);
                received += 1;
            }
            Ok(None) => panic!("the stream ended without a status after {received} books"),
            Err(status) => break status,
        }
    };
    assert!(received < 10_000_000);
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("shutting down"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn the_callers_deadline_holds_for_the_whole_stream() {
    let server = spawn_server().await;
    let mut call = tonic::Request::new(request(1, 10_000_000));
    call.set_timeout(std::time::Duration::from_millis(300));
    let mut stream = server.stream(call).await;

    let mut received = 0u64;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("10,000,000 books cannot arrive within 300 ms here"),
            Err(status) => break status,
        }
    };

    assert!(received > 0 && received < 10_000_000);
    assert_eq!(
        status.code(),
        Code::DeadlineExceeded,
        "{}",
        status.message()
    );
    server.wait_for_active_streams(0).await;
}

/// Sends whatever bytes it is given as the request message.
#[derive(Debug, Clone, Default)]
struct GarbageCodec;

impl tonic::codec::Codec for GarbageCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = GarbageCodec;
    type Decoder = GarbageCodec;

    fn encoder(&mut self) -> Self::Encoder {
        GarbageCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        GarbageCodec
    }
}

impl tonic::codec::Encoder for GarbageCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for GarbageCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, Self::Error> {
        bytes::Buf::advance(src, bytes::Buf::remaining(src));
        Ok(Some(()))
    }
}

#[tokio::test]
async fn a_garbage_request_body_is_refused_with_a_status_and_the_server_carries_on() {
    let server = spawn_server().await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static(bookstream::pb::names::RECOMMEND_PATH);
    // A varint that never ends, then a length far past the end of the message.
    for garbage in [vec![0x08, 0xFF, 0xFF, 0xFF], vec![0x12, 0xFF, 0x01, b'x']] {
        grpc.ready().await.unwrap();
        let result = grpc
            .server_streaming(tonic::Request::new(garbage), path.clone(), GarbageCodec)
            .await;
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{}", status.message());
        assert!(status.message().contains("decode"), "{}", status.message());
    }
    let mut stream = server.stream(request(1, 3)).await;
    assert!(stream.message().await.unwrap().is_some());
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_the_ones_served_go_on() {
    let server = spawn_server_with(bookstream_server::ServerConfig {
        max_connections: 1,
        ..config()
    })
    .await;
    let mut first = server.grpc().await;
    let mut stream = first
        .recommend(request(1, 1_000_000))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();

    let second = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .connect_lazy();
    let status = RecommendationsClient::new(second.clone())
        .recommend(request(2, 10))
        .await
        .unwrap_err();
    // Closed during the HTTP/2 handshake: tonic reports it as either.
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Cancelled),
        "{status:?}"
    );
    assert!(
        stream.message().await.unwrap().is_some(),
        "the served connection goes on"
    );

    drop(stream);
    drop(first);
    // The slot frees once the server sees the first connection close.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let fresh = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc_addr))
            .unwrap()
            .connect_lazy();
        if RecommendationsClient::new(fresh)
            .recommend(request(3, 10))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection slot never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
