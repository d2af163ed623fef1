//! What travels is byte for byte what prost writes for the same books: the
//! server's borrowed encoder changes the cost, never the wire, so grpcurl,
//! grpcio or any other client sees prost's messages.

use bookstream::{RecommendationRequest, catalog, codec::BookBytesCodec};
use prost::Message;
use tonic::codegen::http::uri::PathAndQuery;

use crate::support::{TestServer, TestStore, collect, spawn_server};

/// Every message of a `Recommend` stream, as raw bytes.
async fn raw_messages(server: &TestServer, request: RecommendationRequest) -> Vec<bytes::Bytes> {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let path = PathAndQuery::from_static(bookstream::pb::names::RECOMMEND_PATH);
    let stream = grpc
        .server_streaming(tonic::Request::new(request), path, BookBytesCodec)
        .await
        .unwrap()
        .into_inner();
    collect(stream).await
}

async fn assert_prosts_bytes(server: &TestServer) {
    let request = RecommendationRequest {
        user_id: 2,
        max_results: 2_000,
        start_at: 500,
        ..Default::default()
    };
    let messages = raw_messages(server, request).await;
    assert_eq!(messages.len(), 1_500);
    for (message, book) in messages.iter().zip(catalog::books(2, 500..2_000)) {
        assert_eq!(message[..], book.encode_to_vec()[..], "book {}", book.id);
    }
}

#[tokio::test]
async fn generated_books_go_out_as_prosts_bytes() {
    assert_prosts_bytes(&spawn_server().await).await;
}

#[tokio::test]
async fn store_books_go_out_as_prosts_bytes() {
    let store = TestStore::sqlite("2", 2_000).await;
    assert_prosts_bytes(&store.serve().await).await;
}
