//! Stores that are down, empty, lost mid-stream or not stores at all: the
//! server says so clearly, never with SQL error text or a password, and
//! serves again as soon as the store is back.

use std::{process::Stdio, time::Duration};

use bookstream::pb::recommendations_client::RecommendationsClient;
use bookstream_server::{
    Server,
    source::{CatalogSpec, postgres::APPLICATION_NAME},
};
use bookstream_testkit::{net, postgres};
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::{Code, transport::Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::{TestStore, collect, request, spawn_server_with, store_config};

const PASSWORD: &str = "pw-never-shown-4711";

/// Polls `/health` until its error says `needle`.
async fn wait_for_health_problem(
    server: &crate::support::TestServer,
    needle: &str,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.health().await;
        if status == 503
            && body["error"]
                .as_str()
                .is_some_and(|error| error.contains(needle))
        {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/health never said '{needle}': {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_sqlite_file_without_a_catalog_serves_nothing_and_says_to_load_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE unrelated (x);")
        .unwrap();
    let spec: CatalogSpec = format!("sqlite:{}", path.display()).parse().unwrap();
    let server = spawn_server_with(store_config(spec.clone())).await;

    let health = wait_for_health_problem(&server, "has no books").await;
    let hint = format!("run `server load --catalog sqlite:{}`", path.display());
    assert!(
        health["error"].as_str().unwrap().contains(&hint),
        "{health}"
    );
    assert_eq!(server.serving_status().await, ServingStatus::NotServing);

    let status = server.refusal(request(1, 10)).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains(&hint), "{}", status.message());
    assert!(
        !status.message().contains("no such table"),
        "{}",
        status.message()
    );
    let response = reqwest::get(server.rest_url("/recommendations?user_id=1&max_results=10"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);

    // Loaded while the server runs: it serves without a restart.
    let store = TestStore::sqlite_in(dir, path);
    store.load("1", 50).await;
    server.wait_for_serving_status(ServingStatus::Serving).await;
    assert_eq!(collect(server.stream(request(1, 50)).await).await.len(), 50);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_stops_the_server_at_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(
        &not_a_database,
        "these are notes, not a database\n".repeat(100),
    )
    .unwrap();
    let missing = dir.path().join("missing.db");
    for (path, says) in [
        (&not_a_database, "not a database"),
        (&missing, "no such file"),
    ] {
        let spec = format!("sqlite:{}", path.display()).parse().unwrap();
        let error = Server::bind(store_config(spec))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(says), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[tokio::test]
async fn an_unreachable_database_starts_not_serving_and_serves_once_it_is_back() {
    let Some(store) = TestStore::postgres("1", 300).await else {
        return;
    };
    let database = store.database();
    let vacant = net::vacant_addr().await;
    let url = format!(
        "postgres://{}:{PASSWORD}@{vacant}/{}",
        postgres::SUPERUSER,
        database.name
    );
    let server = spawn_server_with(store_config(url.parse().unwrap())).await;
    let redacted = format!(
        "postgres://{}@{vacant}/{}",
        postgres::SUPERUSER,
        database.name
    );

    let health = wait_for_health_problem(&server, "unavailable").await;
    assert!(
        health["error"].as_str().unwrap().contains(&redacted),
        "{health}"
    );
    assert_eq!(health["catalog"], redacted.as_str());
    assert!(!health.to_string().contains(PASSWORD), "{health}");
    assert_eq!(server.serving_status().await, ServingStatus::NotServing);
    let status = server.refusal(request(1, 10)).await;
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains(&redacted), "{}", status.message());
    assert!(!status.message().contains(PASSWORD), "{}", status.message());
    let response =
        reqwest::get(server.rest_url("/recommendations/stream?user_id=1&max_results=10"))
            .await
            .unwrap();
    assert_eq!(response.status(), 503);
    assert!(!response.text().await.unwrap().contains(PASSWORD));

    // The database appears at the address the server was given.
    let real = format!("127.0.0.1:{}", database.port).parse().unwrap();
    let _forwarder = net::Forwarder::start(vacant, real).await;
    server.wait_for_serving_status(ServingStatus::Serving).await;
    assert_eq!(server.health().await.0, 200);
    assert_eq!(
        collect(server.stream(request(1, 300)).await).await.len(),
        300
    );
}

#[tokio::test]
async fn a_database_without_the_schema_says_to_load_it_not_sql() {
    let Some(instance) = postgres::shared() else {
        return;
    };
    let database = instance.database().await;
    let server = spawn_server_with(store_config(database.url().parse().unwrap())).await;
    wait_for_health_problem(&server, "has no books").await;
    let status = server.refusal(request(1, 10)).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    let hint = format!("run `server load --catalog {}`", database.url());
    assert!(status.message().contains(&hint), "{}", status.message());
    assert!(
        !status.message().contains("relation"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_backend_terminated_mid_stream_ends_the_stream_with_unavailable() {
    const BOOKS: u64 = 2_500;
    let Some(store) = TestStore::postgres("1", BOOKS).await else {
        return;
    };
    let database = store.database();
    let server = store.serve().await;
    // A small window makes the server wait for this reader, so the stream
    // is still reading pages when the database is taken away.
    let channel = Endpoint::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .initial_stream_window_size(16 * 1024)
        .connect()
        .await
        .unwrap();
    let mut stream = RecommendationsClient::new(channel)
        .recommend(request(1, BOOKS))
        .await
        .unwrap()
        .into_inner();
    let mut received = 0u64;
    while received < 150 {
        stream.message().await.unwrap().unwrap();
        received += 1;
    }

    // Every later page read waits behind this lock; then its backend is terminated.
    let lock = database.lock_table("recommendations").await;
    let reader = tokio::spawn(async move {
        loop {
            match stream.message().await {
                Ok(Some(_)) => received += 1,
                Ok(None) => return (received, None),
                Err(status) => return (received, Some(status)),
            }
        }
    });
    lock.terminate_waiting(APPLICATION_NAME).await;

    let (received, status) = reader.await.unwrap();
    let status = status.expect("the stream ends with an error, not as if complete");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(received < BOOKS, "{received}");
    // The pool replaces the lost connection: the next stream is whole.
    assert_eq!(
        collect(server.stream(request(1, BOOKS)).await).await.len() as u64,
        BOOKS
    );
}

/// The real binary, logging everything it logs: the password is nowhere.
#[tokio::test]
async fn a_password_in_the_catalog_url_never_shows_in_logs_errors_or_health() {
    let vacant = net::vacant_addr().await;
    let url = format!("postgres://reader:{PASSWORD}@{vacant}/books");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--rest-addr",
            "127.0.0.1:0",
            "--catalog-check-interval",
            "50ms",
        ])
        .env("BOOKSTREAM_CATALOG", &url)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = stdout.next_line().await.unwrap().unwrap();
    let (grpc, rest) = bookstream::ready::parse_line(&ready).unwrap();
    let client = crate::support::TestServer::attach(grpc, rest);
    let health = wait_for_health_problem(&client, "unavailable").await;
    let status = client.refusal(request(1, 10)).await;
    let help = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--help")
        .env("BOOKSTREAM_CATALOG", &url)
        .output()
        .await
        .unwrap();
    server.start_kill().unwrap();
    let output = server.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("reader@"),
        "the store is named in the logs: {logs}"
    );
    for shown in [
        logs.as_ref(),
        &health.to_string(),
        status.message(),
        &String::from_utf8_lossy(&help.stdout),
    ] {
        assert!(!shown.contains(PASSWORD), "the password shows in: {shown}");
    }
}

/// Bad `--catalog` values stop the binary at once, with one line that says why.
#[tokio::test]
async fn a_bad_catalog_stops_the_binary_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a database at all, just text. ".repeat(200)).unwrap();
    let cases = [
        (format!("sqlite:{}", notes.display()), "not a database"),
        (
            format!("mysql://root:{PASSWORD}@db/books"),
            "unknown catalog",
        ),
        (
            format!("postgres://reader:{PASSWORD}@db:notaport/books"),
            "malformed",
        ),
        ("sqlite:".to_owned(), "needs a file path"),
    ];
    for (catalog, says) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--grpc-addr",
                "127.0.0.1:0",
                "--rest-addr",
                "127.0.0.1:0",
                "--catalog",
                &catalog,
            ])
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{catalog}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{catalog}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{catalog}: {stderr}");
        assert!(output.stdout.is_empty(), "{catalog}: no readiness line");
    }
}
