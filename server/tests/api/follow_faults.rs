//! Follows survive what streams survive: their server SIGKILLed with a
//! second one up, PostgreSQL restarted, books appended through another
//! server or another process. A follower that resumes from the rank after
//! the last one it received ends with exactly the appended books, in order,
//! none twice.

use std::{net::SocketAddr, time::Duration};

use bookstream::{
    RecommendationRequest, StartFrom, pb::recommendations_client::RecommendationsClient,
};
use tokio::sync::watch;

use crate::{
    append_faults::{LOADED, WRITE_TOKEN, produce, start_server},
    follow::follow,
    support::{TestStore, store_config},
};

/// Follows user 1 on whatever server `addr` names until `total` books came,
/// resuming after any failure from the rank after the last one received, as
/// the client does; the titles, in rank order.
async fn follow_until(addr: watch::Receiver<SocketAddr>, total: u64) -> Vec<String> {
    let mut titles = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while (titles.len() as u64) < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never got everything"
        );
        let target = *addr.borrow();
        let next = titles.len() as u64;
        let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{target}"))
            .unwrap()
            .connect()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let request = RecommendationRequest {
            start_at: next,
            ..follow(1, StartFrom::Rank, total)
        };
        let Ok(response) = RecommendationsClient::new(channel).recommend(request).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut stream = response.into_inner();
        while let Ok(Some(book)) = stream.message().await {
            assert_eq!(
                book.id,
                titles.len() as u64,
                "the next rank, nothing skipped or doubled"
            );
            titles.push(book.title);
        }
    }
    titles
}

/// The titles a follower of user 1 must hold: the loaded ones, then the produced ones.
fn expected(loaded: &[String], produced: u64) -> Vec<String> {
    let mut titles = loaded.to_vec();
    titles.extend((0..produced).map(|n| format!("b{n}")));
    titles
}

async fn loaded_titles(store: &TestStore) -> Vec<String> {
    let server = store.serve().await;
    crate::support::collect(server.stream(crate::support::request(1, LOADED)).await)
        .await
        .into_iter()
        .map(|book| book.title)
        .collect()
}

async fn a_followers_server_killed_mid_append_with_a_second_up(store: TestStore) {
    const BATCHES: u64 = 200;
    const SIZE: u64 = 100;
    let loaded = loaded_titles(&store).await;
    let (mut first, first_grpc, _) = start_server(&store).await;
    let (_second, second_grpc, _) = start_server(&store).await;
    let (follow_tx, follow_rx) = watch::channel(first_grpc);
    let follower = tokio::spawn(follow_until(follow_rx, LOADED + BATCHES * SIZE));
    let (_produce_tx, produce_rx) = watch::channel(second_grpc);
    let (acked_tx, mut acked_rx) = watch::channel(0);
    let producer = tokio::spawn(produce(produce_rx, BATCHES, SIZE, acked_tx));
    acked_rx.wait_for(|acked| *acked >= 50).await.unwrap();
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    follow_tx.send_replace(second_grpc);
    producer.await.unwrap();
    let titles = tokio::time::timeout(Duration::from_secs(300), follower)
        .await
        .expect("the follower catches up")
        .unwrap();
    assert_eq!(titles, expected(&loaded, BATCHES * SIZE));
}

#[tokio::test]
async fn sqlite_a_followers_server_killed_mid_append_with_a_second_up() {
    a_followers_server_killed_mid_append_with_a_second_up(TestStore::sqlite("1", LOADED).await)
        .await;
}

#[tokio::test]
async fn postgres_a_followers_server_killed_mid_append_with_a_second_up() {
    if let Some(store) = TestStore::postgres("1", LOADED).await {
        a_followers_server_killed_mid_append_with_a_second_up(store).await;
    }
}

/// Followers on a server that takes no writes hear of books appended
/// through another: PostgreSQL's NOTIFY, or SQLite's changed file.
async fn appends_through_another_server_wake_this_ones_followers(store: TestStore) {
    const BATCHES: u64 = 20;
    const SIZE: u64 = 50;
    let loaded = loaded_titles(&store).await;
    let writer = store
        .serve_with(bookstream_server::ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..store_config(store.spec())
        })
        .await;
    let reader = store.serve().await;
    let (_reader_addr, reader_rx) = watch::channel(reader.grpc_addr);
    let follower = tokio::spawn(follow_until(reader_rx, LOADED + BATCHES * SIZE));
    let (_writer_addr, writer_rx) = watch::channel(writer.grpc_addr);
    let (acked_tx, _acked) = watch::channel(0);
    produce(writer_rx, BATCHES, SIZE, acked_tx).await;
    let titles = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("the follower hears of the appends")
        .unwrap();
    assert_eq!(titles, expected(&loaded, BATCHES * SIZE));
}

#[tokio::test]
async fn sqlite_appends_through_another_server_wake_this_ones_followers() {
    appends_through_another_server_wake_this_ones_followers(TestStore::sqlite("1", LOADED).await)
        .await;
}

#[tokio::test]
async fn postgres_appends_through_another_server_wake_this_ones_followers() {
    if let Some(store) = TestStore::postgres("1", LOADED).await {
        appends_through_another_server_wake_this_ones_followers(store).await;
    }
}

#[tokio::test]
async fn postgres_restarted_during_a_follow_misses_nothing() {
    const BATCHES: u64 = 300;
    const SIZE: u64 = 100;
    let Some(instance) = bookstream_testkit::postgres::private() else {
        return;
    };
    let store = TestStore::postgres_in(instance.database().await, "1", LOADED).await;
    let loaded = loaded_titles(&store).await;
    let writer = store
        .serve_with(bookstream_server::ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..store_config(store.spec())
        })
        .await;
    let reader = store.serve().await;
    let (_reader_addr, reader_rx) = watch::channel(reader.grpc_addr);
    let follower = tokio::spawn(follow_until(reader_rx, LOADED + BATCHES * SIZE));
    let (_writer_addr, writer_rx) = watch::channel(writer.grpc_addr);
    let (acked_tx, mut acked_rx) = watch::channel(0);
    let producer = tokio::spawn(produce(writer_rx, BATCHES, SIZE, acked_tx));
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
    let titles = tokio::time::timeout(Duration::from_secs(120), follower)
        .await
        .expect("the follower catches up after the database returns")
        .unwrap();
    assert_eq!(titles, expected(&loaded, BATCHES * SIZE));
}
