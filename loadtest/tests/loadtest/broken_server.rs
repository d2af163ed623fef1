//! A server that answers one book short, over all four transports: every
//! answer must be reported as a mismatch, none as a success.

use std::pin::Pin;

use axum::{Router, extract::Query, routing::get};
use bookstream::{
    BookRecommendations, RecommendationRequest,
    book::OutgoingBook,
    catalog,
    pb::recommendations_server::{Recommendations, RecommendationsServer},
};
use bookstream_loadtest::outcome::FailureKind;
use futures::Stream;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::support::{BOOKS, TestServer, opts, run_one};

/// Answers `max_results - 1` books, otherwise exactly as the catalog says.
struct OneShort;

fn short(request: &RecommendationRequest) -> catalog::Books {
    catalog::books(request.user_id, 0..request.max_results.saturating_sub(1))
}

#[tonic::async_trait]
impl Recommendations for OneShort {
    type RecommendStream = Pin<Box<dyn Stream<Item = Result<OutgoingBook, Status>> + Send>>;
    type AppendStream =
        Pin<Box<dyn Stream<Item = Result<bookstream::pb::AppendAck, Status>> + Send>>;

    async fn append(
        &self,
        _: Request<tonic::Streaming<bookstream::pb::AppendRequest>>,
    ) -> Result<Response<Self::AppendStream>, Status> {
        Err(Status::unimplemented("this stand-in server only reads"))
    }

    async fn recommend(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<Self::RecommendStream>, Status> {
        let user_id = request.get_ref().user_id;
        let books = short(request.get_ref()).map(move |book| {
            Ok(OutgoingBook::Catalog {
                user_id,
                id: book.id,
            })
        });
        Ok(Response::new(Box::pin(futures::stream::iter(books))))
    }

    async fn recommend_batch(
        &self,
        request: Request<RecommendationRequest>,
    ) -> Result<Response<BookRecommendations>, Status> {
        let books = short(request.get_ref()).collect();
        Ok(Response::new(BookRecommendations { books }))
    }
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    user_id: u64,
    max_results: u64,
}

impl Params {
    fn request(&self) -> RecommendationRequest {
        RecommendationRequest {
            user_id: self.user_id,
            max_results: self.max_results,
            start_at: 0,
            ..Default::default()
        }
    }
}

fn one_short_rest() -> Router {
    Router::new()
        .route(
            "/recommendations",
            get(|Query(params): Query<Params>| async move {
                let books: Vec<_> = short(&params.request()).collect();
                axum::Json(books)
            }),
        )
        .route(
            "/recommendations/stream",
            get(|Query(params): Query<Params>| async move {
                let mut body = Vec::new();
                for book in short(&params.request()) {
                    serde_json::to_writer(&mut body, &book).unwrap();
                    body.push(b'\n');
                }
                body
            }),
        )
}

async fn spawn_one_short_server() -> TestServer {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (grpc_addr, rest_addr) = (grpc.local_addr().unwrap(), rest.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RecommendationsServer::new(OneShort))
            .serve_with_incoming_shutdown(TcpIncoming::from(grpc), stop.clone().cancelled_owned()),
    );
    let rest_stop = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        axum::serve(rest, one_short_rest())
            .with_graceful_shutdown(rest_stop)
            .await
    });
    TestServer::stand_in(grpc_addr, rest_addr, stop)
}

async fn every_answer_of(scenario: &str) {
    let server = spawn_one_short_server().await;
    let report = run_one(opts(&server, scenario, &[])).await;
    assert_eq!(report.requests_ok, 0, "{report:#?}");
    assert!(report.requests_failed > 0, "{report:#?}");
    assert_eq!(
        report.failures.get(&FailureKind::Mismatch),
        Some(&report.requests_failed),
        "{report:#?}"
    );
    let detail = &report.first_errors[&FailureKind::Mismatch];
    assert!(
        detail.contains(&format!("{} books instead of {BOOKS}", BOOKS - 1)),
        "{detail}"
    );
    assert_eq!(report.requests_per_s, 0.0, "failures are not throughput");
    assert!(report.latency_ms.is_none(), "failures are not timed");
}

#[tokio::test]
async fn a_short_json_array_is_a_mismatch() {
    every_answer_of("rest").await;
}

#[tokio::test]
async fn a_short_unary_answer_is_a_mismatch() {
    every_answer_of("grpc-unary").await;
}

#[tokio::test]
async fn a_short_grpc_stream_is_a_mismatch() {
    every_answer_of("grpc-stream").await;
}

#[tokio::test]
async fn a_short_ndjson_stream_is_a_mismatch() {
    every_answer_of("rest-stream").await;
}
