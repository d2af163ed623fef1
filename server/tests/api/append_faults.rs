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

pub(crate) const WRITE_TOKEN: &str = "fault-writes";
pub(crate) const LOADED: u64 = 10;
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
pub(crate) async fn produce(
    addr: watch::Receiver<SocketAddr>,
    batches: u64,
    size: u64,
    acked: watch::Sender<u64>,
) {
    let mut next_unacked = 1;
    // Long enough for a server or a database to come back on a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while next_unacked <= batches {
        let target = *addr.borrow();
        match session(target, next_unacked, batches, size, &acked).await {
            Ok(()) => return,
            Err(reached) => {
                next_unacked = reached;
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the producer never got through"
                );
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

pub(crate) async fn start_server(
    store: &TestStore,
) -> (tokio::process::Child, SocketAddr, SocketAddr) {
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

/// A small tmpfs, unmounted when dropped; `None` where mounting is not allowed.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            assert!(
                !bookstream_testkit::required("TMPFS"),
                "mounting a tmpfs needs root (CAP_SYS_ADMIN)"
            );
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(Self { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_refuses_the_batch_whole_and_reads_go_on() {
    let Some(disk) = SmallDisk::mount(2 << 20) else {
        return;
    };
    let store = TestStore::sqlite_in(
        tempfile::tempdir_in(disk.dir.path()).unwrap(),
        disk.dir.path().join("catalog.db"),
    );
    store.load("1", LOADED).await;
    let server = store
        .serve_with(bookstream_server::ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..crate::support::store_config(store.spec())
        })
        .await;
    let mut client = server.grpc().await;
    let mut appended = 0;
    let mut refused = None;
    for sequence in 1..=200 {
        let mut batch = batch(sequence, 100);
        for book in &mut batch.books {
            book.author = "x".repeat(500);
        }
        let mut call = Request::new(tokio_stream::iter([batch]));
        call.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {WRITE_TOKEN}")).unwrap(),
        );
        let answer = match client.append(call).await {
            Ok(response) => response.into_inner().message().await,
            Err(status) => Err(status),
        };
        match answer {
            Ok(Some(_)) => appended += 100,
            Ok(None) => panic!("no ack and no status"),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("the disk fills up");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("full"), "{}", status.message());
    // Nothing of the refused batch; everything acknowledged before it; reads go on.
    let listed = collect(server.stream(request(1, 1_000_000)).await).await;
    assert_eq!(listed.len() as u64, LOADED + appended);

    let response = reqwest::Client::new()
        .post(server.rest_url("/recommendations?user_id=1"))
        .bearer_auth(WRITE_TOKEN)
        .header("idempotency-key", "after-full")
        .body(
            format!(
                "{{\"title\":\"t\",\"author\":\"{}\",\"year\":2000,\"genre\":\"g\",\"score\":0.5}}\n",
                "x".repeat(500)
            )
            .repeat(100),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 507);
    drop(server);
    drop(store);
}

#[tokio::test]
async fn postgres_restarted_mid_append_loses_and_doubles_nothing() {
    const BATCHES: u64 = 300;
    const SIZE: u64 = 100;
    let Some(instance) = bookstream_testkit::postgres::private() else {
        return;
    };
    let store = TestStore::postgres_in(instance.database().await, "1", LOADED).await;
    let server = store
        .serve_with(bookstream_server::ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..crate::support::store_config(store.spec())
        })
        .await;
    let (_addr, addr_rx) = watch::channel(server.grpc_addr);
    let (acked_tx, mut acked_rx) = watch::channel(0);
    let producer = tokio::spawn(produce(addr_rx, BATCHES, SIZE, acked_tx));
    acked_rx.wait_for(|acked| *acked >= 50).await.unwrap();
    // The instance stops when dropped: it is kept to the end of the test.
    let _instance = tokio::task::spawn_blocking(move || {
        instance.restart();
        instance
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(300), producer)
        .await
        .expect("the producer finishes")
        .unwrap();
    holds_exactly(&server, BATCHES * SIZE).await;
}
