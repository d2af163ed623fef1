//! Runs through the trigger from each store: the file is byte for byte the
//! file the generated catalog gives, whether the stream is whole, cut by the
//! network or cut by the database; short lists and unknown users are said
//! so in the answer.

use bookstream_client::sink::Format;
use bookstream_server::source::postgres::APPLICATION_NAME;
use reqwest::StatusCode;

use crate::{
    proxy::CuttingProxy,
    support::{TestStore, generated_file, server_config, spawn_client},
};

const MILLION: u64 = 1_000_000;

async fn a_million_books_for_user_1_equal_the_generated_file(store: TestStore) {
    let server = store.serve_with(server_config()).await;
    let client = spawn_client(&server.url()).await;
    let (status, body) = client.get_json("/1000000?user_id=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], MILLION);
    assert_eq!(body["requested"], MILLION);
    assert!(
        std::fs::read(&client.output).unwrap() == generated_file(1, MILLION, Format::Txt),
        "the file from {} differs from the generated catalog's",
        store.spec()
    );
}

#[tokio::test]
async fn sqlite_a_million_books_through_the_trigger_equal_the_generated_file() {
    a_million_books_for_user_1_equal_the_generated_file(TestStore::sqlite("1", MILLION).await)
        .await;
}

#[tokio::test]
async fn postgres_a_million_books_through_the_trigger_equal_the_generated_file() {
    if let Some(store) = TestStore::postgres("1", MILLION).await {
        a_million_books_for_user_1_equal_the_generated_file(store).await;
    }
}

#[tokio::test]
async fn a_stream_from_a_store_cut_by_the_network_resumes_into_the_same_file() {
    let store = TestStore::sqlite("3", 50_000).await;
    let server = store.serve_with(server_config()).await;
    // 50,000 books are about 5 MB on the wire: both cuts land mid-stream.
    let proxy = CuttingProxy::start(server.grpc_addr, &[300_000, 2_000_000]).await;
    let client = spawn_client(&proxy.url()).await;
    let (status, body) = client.get_json("/50000?user_id=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retries"], 2);
    assert!(std::fs::read(&client.output).unwrap() == generated_file(3, 50_000, Format::Txt));
}

#[tokio::test]
async fn a_database_backend_killed_mid_run_is_resumed_into_the_same_file() {
    const BOOKS: u64 = 300_000;
    let Some(store) = TestStore::postgres("2", BOOKS).await else {
        return;
    };
    let database = store.database().clone();
    let server = store.serve_with(server_config()).await;
    let client = spawn_client(&server.url()).await;
    let run = client.get_json_in_background(&format!("/{BOOKS}?user_id=2"));
    server.wait_for_a_stream().await;

    // The next page read waits behind this lock; then its backend is terminated.
    database
        .lock_table("recommendations")
        .await
        .terminate_waiting(APPLICATION_NAME)
        .await;

    let (client, (status, body)) = run.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["retries"].as_u64().unwrap() >= 1, "{body}");
    assert!(std::fs::read(&client.output).unwrap() == generated_file(2, BOOKS, Format::Txt));
}

#[tokio::test]
async fn a_user_with_fewer_books_than_asked_gets_them_all_and_the_answer_says_so() {
    let store = TestStore::sqlite("5", 700).await;
    let server = store.serve_with(server_config()).await;
    let client = spawn_client(&server.url()).await;

    let (status, body) = client.get_json("/1000?user_id=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requested"], 1000);
    assert_eq!(body["received"], 700);
    assert!(std::fs::read(&client.output).unwrap() == generated_file(5, 700, Format::Txt));

    // The browser's run (run 2) ends on a page that says so too.
    let (status, _) = client.get_html("/1000?user_id=5").await;
    assert_eq!(status, StatusCode::OK);
    let page = client.html_once_ended("/runs/2").await;
    assert!(page.contains("fewer than the 1,000 asked for"), "{page}");
    assert!(client.files() == ["books.out"], "{:?}", client.files());
}

#[tokio::test]
async fn an_unknown_user_is_a_404_that_names_the_user() {
    let store = TestStore::sqlite("5", 10).await;
    let server = store.serve_with(server_config()).await;
    let client = spawn_client(&server.url()).await;
    let (status, body) = client.get_json("/10?user_id=77").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("user 77"),
        "{body}"
    );
    assert!(
        client.files().is_empty(),
        "nothing is written: {:?}",
        client.files()
    );
}
