use std::{net::SocketAddr, pin::Pin, sync::mpsc, thread};

use bookstream::{
    BookRecommendations, RecommendationRequest,
    book::OutgoingBook,
    pb::recommendations_server::{Recommendations, RecommendationsServer},
};
use bookstream_client::sink::{Format, partial_path};
use bookstream_testkit::net::vacant_addr;
use futures::{Stream, StreamExt, stream};
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::support::{expected_books, read_back, spawn_client, spawn_client_with, spawn_server_at};

const PREVIOUS_RESULT: &str = "0, a previous complete result\n";

#[tokio::test]
async fn an_unreachable_server_is_a_503_and_the_client_works_once_it_is_back() {
    let addr = vacant_addr().await;
    let client = spawn_client(&format!("http://{addr}")).await;

    let (status, body) = client.get_json("/10").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
    assert!(
        client.files().is_empty(),
        "nothing is written when no stream started"
    );

    let _server = spawn_server_at(addr).await;
    let (status, body) = client.get_json("/10").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(1, 10, Format::Txt)
    );
}

#[tokio::test]
async fn a_stream_that_fails_midway_keeps_what_arrived_as_partial_and_the_old_file_intact() {
    // Every call fails after 700 books; the client resumes three times, then gives up.
    let (addr, _sent, _kill) = spawn_faulty_server(Fault::Fail(700));
    let client = spawn_client(&format!("http://{addr}")).await;
    std::fs::write(&client.output, PREVIOUS_RESULT).unwrap();

    let (status, body) = client.get_json("/5000").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["received"], 2800);
    assert_eq!(body["retries"], 3);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("2800 of 5000") && message.contains("shutting down"),
        "{message}"
    );
    let partial = partial_path(&client.output);
    assert_eq!(body["partial_file"], partial.to_str().unwrap());
    assert_eq!(
        read_back(&partial, Format::Txt),
        expected_books(1, 2800, Format::Txt)
    );
    assert_eq!(
        std::fs::read_to_string(&client.output).unwrap(),
        PREVIOUS_RESULT
    );
    assert_eq!(client.files(), vec!["books.out", "books.out.partial"]);
}

#[tokio::test]
async fn a_server_that_dies_midway_is_a_502_with_a_partial_file_and_the_old_file_intact() {
    // Far more than the client's HTTP/2 receive window: the server can only
    // have handed out all of them once the client has read (and written) most.
    let (addr, sent, kill) = spawn_faulty_server(Fault::Stall(50_000));
    let client = spawn_client(&format!("http://{addr}")).await;
    std::fs::write(&client.output, PREVIOUS_RESULT).unwrap();

    let trigger = client.get_json_in_background("/100000");
    sent.await.expect("the server sends its books");
    kill.send(()).unwrap();
    let (client, (status, body)) = trigger.await.unwrap();

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let received = body["received"].as_u64().unwrap();
    assert!(received > 0 && received <= 50_000, "{body}");
    let partial = partial_path(&client.output);
    assert_eq!(
        read_back(&partial, Format::Txt),
        expected_books(1, received, Format::Txt)
    );
    assert_eq!(
        std::fs::read_to_string(&client.output).unwrap(),
        PREVIOUS_RESULT
    );
}

#[tokio::test]
async fn a_stream_that_ends_early_is_resumed_until_the_result_is_complete() {
    // Each call ends after 300 books as if it were done: 0..300, 300..600,
    // 600..900, then 900..1000 completes the result.
    let (addr, _sent, _kill) = spawn_faulty_server(Fault::EndEarly(300));
    let client = spawn_client(&format!("http://{addr}")).await;

    let (status, body) = client.get_json("/1000").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retries"], 3);
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(1, 1000, Format::Txt)
    );
}

#[tokio::test]
async fn without_retries_an_early_end_does_not_pass_for_a_complete_result() {
    let (addr, _sent, _kill) = spawn_faulty_server(Fault::EndEarly(300));
    let client = spawn_client_with(&format!("http://{addr}"), |config| {
        bookstream_client::ClientConfig {
            retries: 0,
            ..config
        }
    })
    .await;

    let (status, body) = client.get_json("/1000").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["received"], 300);
    assert_eq!(body["retries"], 0);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("ended the stream early"),
        "{body}"
    );
    assert!(!client.output.exists());
}

#[tokio::test]
async fn a_stalled_stream_times_out_instead_of_hanging_the_trigger() {
    let (addr, _sent, _kill) = spawn_faulty_server(Fault::Stall(500));
    let client = spawn_client_with(&format!("http://{addr}"), |config| {
        bookstream_client::ClientConfig {
            retries: 1,
            idle_timeout: std::time::Duration::from_millis(300),
            ..config
        }
    })
    .await;

    let (status, body) = client.get_json("/5000").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // The resumed stream stalls as well, after its own 500 books.
    assert_eq!(body["received"], 1000);
    assert_eq!(body["retries"], 1);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no book arrived for 300ms"),
        "{body}"
    );
}

#[tokio::test]
async fn triggers_past_max_runs_are_answered_429_at_once() {
    let (addr, sent, kill) = spawn_faulty_server(Fault::Stall(10));
    let client = std::sync::Arc::new(
        spawn_client_with(&format!("http://{addr}"), |config| {
            bookstream_client::ClientConfig {
                max_runs: 1,
                retries: 0,
                ..config
            }
        })
        .await,
    );
    let busy = client.clone();
    let first = tokio::spawn(async move { busy.get_json("/1000").await });
    sent.await.expect("the first run is streaming");

    let (status, body) = client.get_json("/5").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--max-runs"),
        "{body}"
    );

    kill.send(()).unwrap();
    let (status, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Sends this many books per call (from the resume point on), then fails
    /// the stream as a server shutting down would.
    Fail(u64),
    /// Sends this many books per call, then ends the stream as if it were complete.
    EndEarly(u64),
    /// Sends this many books per call, then stalls until its process is killed.
    Stall(u64),
}

struct FaultyService {
    fault: Fault,
    sent: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

type BookStream = Pin<Box<dyn Stream<Item = Result<OutgoingBook, Status>> + Send>>;

#[tonic::async_trait]
impl Recommendations for FaultyService {
    type RecommendStream = BookStream;
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
    ) -> Result<Response<BookStream>, Status> {
        let RecommendationRequest {
            user_id,
            max_results,
            start_at,
            ..
        } = request.into_inner();
        let sent = self.sent.lock().unwrap().take();
        let (count, tail): (u64, BookStream) = match self.fault {
            Fault::Fail(count) => (
                count,
                stream::once(async { Err(Status::unavailable("the server is shutting down")) })
                    .boxed(),
            ),
            Fault::EndEarly(count) => (count, stream::empty().boxed()),
            Fault::Stall(count) => (
                count,
                stream::once(async move {
                    if let Some(sent) = sent {
                        let _ = sent.send(());
                    }
                    std::future::pending::<Result<OutgoingBook, Status>>().await
                })
                .boxed(),
            ),
        };
        let end = start_at.saturating_add(count).min(max_results);
        let books =
            stream::iter((start_at..end).map(move |id| Ok(OutgoingBook::Catalog { user_id, id })));
        Ok(Response::new(books.chain(tail).boxed()))
    }

    async fn recommend_batch(
        &self,
        _request: Request<RecommendationRequest>,
    ) -> Result<Response<BookRecommendations>, Status> {
        Err(Status::unimplemented("not part of these tests"))
    }
}

/// A faulty server on its own runtime and thread, so that killing it closes
/// every socket at once, as the death of a server process does.
fn spawn_faulty_server(fault: Fault) -> (SocketAddr, oneshot::Receiver<()>, mpsc::Sender<()>) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (kill_tx, kill_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = oneshot::channel();
    thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let service = FaultyService {
            fault,
            sent: std::sync::Mutex::new(Some(sent_tx)),
        };
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(RecommendationsServer::new(service))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        // Blocks until killed or until the test is over and drops the sender.
        let _ = kill_rx.recv();
        drop(runtime);
    });
    (addr_rx.recv().unwrap(), sent_rx, kill_tx)
}
