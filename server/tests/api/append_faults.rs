//! Appends survive what a producer's log must survive: the server SIGKILLed
//! mid-stream and started again, a database backend terminated. A producer
//! that resends from its first unacknowledged batch ends with exactly its
//! books in the list, in its order, none twice.

use std::{collections::VecDeque, net::SocketAddr, time::Duration};

use bookstream::pb::{AppendRequest, NewBook, recommendations_client::RecommendationsClient};
use tokio::sync::{mpsc, watch};
use tonic::{Request, metadata::MetadataValue};

use crate::{
    cli::serving_launched,
    support::{TestServer, TestStore, collect, request},
};

const WRITE_TOKEN: &str = "fault-writes";
const LOADED: u64 = 10;
/// Batches in flight before the producer waits for an ack.
const WINDOW: usize = 32;

fn book(n: u64) -> NewBook {
    NewBook {
        title: format!("b{n}"),
        author: "Producer".to_owned(),
        isbn13: String::new(),
        year: 2024,
        genre: "Log".to_owned(),
        score: 0.5,
    }
}

fn batch(sequence: u64, size: u64) -> AppendRequest {
    let first = (sequence - 1) * size;
    AppendRequest {
        producer_id: "fault-producer".to_owned(),
        sequence,
        user_id: 1,
        books: (first..first + size).map(book).collect(),
    }
}

/// Appends `batches` batches of `size` books to user 1 through whatever
/// server `addr` names now, resending from the first unacknowledged batch
/// after any failure; `acked` hears the count of acked batches.
async fn produce(
    addr: watch::Receiver<SocketAddr>,
    batches: u64,
    size: u64,
    acked: watch::Sender<u64>,
) {
    let mut next_unacked = 1;
    let mut failures = 0;
    while next_unacked <= batches {
        let target = *addr.borrow();
        match session(target, next_unacked, batches, size, &acked).await {
            Ok(()) => return,
            Err(reached) => {
                next_unacked = reached;
                failures += 1;
                assert!(failures < 200, "the producer never got through");
                // The server is being restarted: try again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One `Append` call from `from`; `Err` carries the first unacknowledged batch.
async fn session(
    target: SocketAddr,
    from: u64,
    batches: u64,
    size: u64,
    acked: &watch::Sender<u64>,
) -> Result<(), u64> {
    let mut next_unacked = from;
    let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{target}"))
        .unwrap()
        .connect()
        .await
    else {
        return Err(next_unacked);
    };
    let (sender, outgoing) = mpsc::channel::<AppendRequest>(WINDOW);
    let mut call = Request::new(tokio_stream::wrappers::ReceiverStream::new(outgoing));
    call.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {WRITE_TOKEN}")).unwrap(),
    );
    let mut next_to_send = from;
    let mut in_flight = VecDeque::new();
    while next_to_send <= batches && in_flight.len() < WINDOW {
        sender
            .send(batch(next_to_send, size))
            .await
            .map_err(|_| next_unacked)?;
        in_flight.push_back(next_to_send);
        next_to_send += 1;
    }
    let mut acks = match RecommendationsClient::new(channel).append(call).await {
        Ok(response) => response.into_inner(),
        Err(_) => return Err(next_unacked),
    };
    while next_unacked <= batches {
        let ack = match acks.message().await {
            Ok(Some(ack)) => ack,
            _ => return Err(next_unacked),
        };
        assert_eq!(ack.sequence, next_unacked, "acks come in order");
        assert_eq!(
            ack.first_rank,
            LOADED + (ack.sequence - 1) * size,
            "ranks in commit order"
        );
        in_flight.pop_front();
        next_unacked += 1;
        acked.send_replace(ack.sequence);
        if next_to_send <= batches {
            if sender.send(batch(next_to_send, size)).await.is_err() {
                return Err(next_unacked);
            }
            next_to_send += 1;
        }
    }
    Ok(())
}

/// The list of user 1 holds the loaded books, then exactly the produced ones.
async fn holds_exactly(server: &TestServer, books: u64) {
    let listed = collect(server.stream(request(1, LOADED + books + 1)).await).await;
    assert_eq!(listed.len() as u64, LOADED + books);
    for (n, listed) in listed[LOADED as usize..].iter().enumerate() {
        assert_eq!(listed.title, format!("b{n}"), "rank {}", listed.id);
    }
}

async fn start_server(store: &TestStore) -> (tokio::process::Child, SocketAddr, SocketAddr) {
    let catalog = store.spec().reveal();
    serving_launched(|launch| {
        launch
            .args(["--catalog", &catalog])
            .envs(&[("BOOKSTREAM_WRITE_TOKEN", WRITE_TOKEN)])
    })
    .await
}

async fn a_server_killed_mid_append_loses_and_doubles_nothing(store: TestStore) {
    const BATCHES: u64 = 1_000;
    const SIZE: u64 = 1_000;
    let (mut server, grpc, _) = start_server(&store).await;
    let (addr_tx, addr_rx) = watch::channel(grpc);
    let (acked_tx, mut acked_rx) = watch::channel(0);
    let producer = tokio::spawn(produce(addr_rx, BATCHES, SIZE, acked_tx));

    // Killed once the producer is well under way, with batches in flight.
    acked_rx.wait_for(|acked| *acked >= 200).await.unwrap();
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let (_server, grpc, rest) = start_server(&store).await;
    addr_tx.send_replace(grpc);

    tokio::time::timeout(Duration::from_secs(600), producer)
        .await
        .expect("the producer finishes")
        .unwrap();
    holds_exactly(&TestServer::attach(grpc, rest), BATCHES * SIZE).await;
}

async fn a_terminated_backend_loses_and_doubles_nothing(store: TestStore) {
    const BATCHES: u64 = 300;
    const SIZE: u64 = 100;
    let (_server, grpc, rest) = start_server(&store).await;
    let (_addr, addr_rx) = watch::channel(grpc);
    let (acked_tx, mut acked_rx) = watch::channel(0);
    let producer = tokio::spawn(produce(addr_rx, BATCHES, SIZE, acked_tx));
    acked_rx.wait_for(|acked| *acked >= 50).await.unwrap();
    let killed: i64 = store
        .database()
        .connect()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'bookstream-append'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed > 0, "the append connections were found");
    tokio::time::timeout(Duration::from_secs(300), producer)
        .await
        .expect("the producer finishes")
        .unwrap();
    holds_exactly(&TestServer::attach(grpc, rest), BATCHES * SIZE).await;
}

#[tokio::test]
async fn sqlite_a_server_killed_mid_append_loses_and_doubles_nothing() {
    a_server_killed_mid_append_loses_and_doubles_nothing(TestStore::sqlite("1", LOADED).await)
        .await;
}

#[tokio::test]
async fn postgres_a_server_killed_mid_append_loses_and_doubles_nothing() {
    if let Some(store) = TestStore::postgres("1", LOADED).await {
        a_server_killed_mid_append_loses_and_doubles_nothing(store).await;
    }
}

#[tokio::test]
async fn postgres_a_terminated_backend_loses_and_doubles_nothing() {
    if let Some(store) = TestStore::postgres("1", LOADED).await {
        a_terminated_backend_loses_and_doubles_nothing(store).await;
    }
}
