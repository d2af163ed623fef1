//! Follow runs through the trigger: `GET /{n}?follow=true` waits for books
//! not appended yet; `GET /follow` answers at once and its file grows as
//! books are appended, flushed so that a reader of the file sees them; a
//! stopped follow keeps what arrived as a whole, ordered file; a follow
//! survives its server going away with another one up.

use std::{path::Path, time::Duration};

use bookstream::pb::{AppendRequest, NewBook, recommendations_client::RecommendationsClient};
use bookstream_server::ServerConfig;
use reqwest::StatusCode;
use tonic::{Request, metadata::MetadataValue};

use crate::support::{TestServer, TestStore, spawn_client_with};

const WRITE_TOKEN: &str = "follow-writes";
const LOADED: u64 = 10;

async fn writable(store: &TestStore) -> TestServer {
    store
        .serve_with(ServerConfig {
            write_token: Some(WRITE_TOKEN.to_owned()),
            ..bookstream_testkit::server::store_config(store.spec())
        })
        .await
}

/// Appends books `books` of a producer's batch `sequence` to `user_id`'s list.
async fn append(server: &TestServer, sequence: u64, user_id: u64, books: std::ops::Range<u64>) {
    let batch = AppendRequest {
        producer_id: "follow-test".to_owned(),
        sequence,
        user_id,
        books: books
            .map(|n| NewBook {
                title: format!("Appended {n}"),
                author: "Producer".to_owned(),
                isbn13: String::new(),
                year: 2026,
                genre: "Live".to_owned(),
                score: 0.5,
            })
            .collect(),
    };
    let mut request = Request::new(tokio_stream::iter([batch]));
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {WRITE_TOKEN}")).unwrap(),
    );
    let mut acks = RecommendationsClient::new(server.channel().await)
        .append(request)
        .await
        .expect("the append is taken")
        .into_inner();
    let ack = acks.message().await.unwrap().expect("an ack");
    assert_eq!(ack.sequence, sequence);
}

/// The lines of `path` once it holds `lines` whole ones, as `tail -f` would
/// show them: the file grows while the run goes on.
async fn grown_to(path: &Path, lines: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines && text.ends_with('\n') {
            return text.lines().map(str::to_owned).collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never grew to {lines} lines: {text:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn appended_lines(first_rank: u64, books: std::ops::Range<u64>) -> Vec<String> {
    books
        .enumerate()
        .map(|(i, n)| format!("{}, Appended {n}", first_rank + i as u64))
        .collect()
}

#[tokio::test]
async fn a_run_of_n_that_follows_waits_for_books_not_appended_yet() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = writable(&store).await;
    let client = spawn_client_with(&server.url(), |config| config).await;
    let run = client.get_json_in_background(&format!("/{}?user_id=1&follow=true", LOADED + 3));
    server.wait_for_a_stream().await;
    append(&server, 1, 1, 0..3).await;
    let (client, (status, body)) = run.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], LOADED + 3);
    let lines = grown_to(&client.output, (LOADED + 3) as usize).await;
    assert_eq!(lines[LOADED as usize..], appended_lines(LOADED, 0..3));
}

#[tokio::test]
async fn a_follow_answers_at_once_grows_its_file_and_keeps_it_whole_when_stopped() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = writable(&store).await;
    let client = spawn_client_with(&server.url(), |config| config).await;
    let (status, body) = client.get_json("/follow?user_id=1&from=latest").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_u64().unwrap();
    let growing = Path::new(body["file"].as_str().unwrap()).to_owned();
    server.wait_for_a_stream().await;
    append(&server, 1, 1, 0..2).await;
    assert_eq!(grown_to(&growing, 2).await, appended_lines(LOADED, 0..2));
    append(&server, 2, 1, 2..5).await;
    assert_eq!(grown_to(&growing, 5).await, appended_lines(LOADED, 0..5));
    // The live page tells the lag from the books' commit to the file.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = client.get_html(&format!("/runs/{run_id}")).await;
        let lag = page
            .split(r#"id="lag">"#)
            .nth(1)
            .and_then(|cell| cell.split('<').next());
        if lag.is_some_and(|cell| cell.ends_with(" ms")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no lag shown: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopped = reqwest::Client::new()
        .post(client.url(&format!("/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), StatusCode::ACCEPTED);
    let page = client.html_once_ended(&format!("/runs/{run_id}")).await;
    assert!(page.contains(r#"data-outcome="stopped""#), "{page}");
    let file = std::fs::read_to_string(&client.output).unwrap();
    assert_eq!(
        file.lines().map(str::to_owned).collect::<Vec<_>>(),
        appended_lines(LOADED, 0..5)
    );
    assert!(!growing.exists(), "the growing file became the output");
    let (_, list) = client.get_html("/runs").await;
    assert!(list.contains(r#"data-outcome="stopped""#), "{list}");
    assert!(list.contains("5 (follow)"), "{list}");
}

#[tokio::test]
async fn a_browser_is_sent_to_the_follows_page_which_shows_no_percentage() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = writable(&store).await;
    let client = spawn_client_with(&server.url(), |config| config).await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(client.url("/follow?user_id=1&from=earliest"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page_path = response.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = client.get_html(&page_path).await;
    assert!(page.contains("Following user 1"), "{page}");
    assert!(page.contains("Since the last book"), "{page}");
    assert!(
        !page.contains("Time left"),
        "a follow has no end to estimate"
    );
}

#[tokio::test]
async fn bad_follow_requests_are_refused_with_the_reason() {
    let store = TestStore::sqlite("1", LOADED).await;
    let server = writable(&store).await;
    let client = spawn_client_with(&server.url(), |config| config).await;
    for (path, words) in [
        ("/follow?from=tomorrow", "from must be"),
        ("/follow?from=time&time=soon", "RFC 3339"),
        ("/follow?from=rank&rank=-1", "rank must be"),
        ("/5?follow=yes", "follow must be true or false"),
    ] {
        let (status, body) = client.get_json(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.to_string().contains(words), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_follow_resumes_on_another_server_when_its_own_goes_away() {
    let store = TestStore::sqlite("1", LOADED).await;
    let mut servers = [writable(&store).await, writable(&store).await];
    let urls = [
        servers[0].url().parse().unwrap(),
        servers[1].url().parse().unwrap(),
    ];
    let client = spawn_client_with(&servers[0].url(), move |config| {
        bookstream_client::ClientConfig {
            server: urls.to_vec(),
            ..config
        }
    })
    .await;
    let (status, body) = client.get_json("/follow?user_id=1&from=rank&rank=0").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let growing = Path::new(body["file"].as_str().unwrap()).to_owned();
    append(&servers[1], 1, 1, 0..3).await;
    grown_to(&growing, (LOADED + 3) as usize).await;
    // The server the follow is on goes away; the other takes the appends.
    let (on, other) = if servers[0].active_streams().await == 1 {
        (0, 1)
    } else {
        (1, 0)
    };
    servers[on].begin_shutdown();
    append(&servers[other], 2, 1, 3..6).await;
    let lines = grown_to(&growing, (LOADED + 6) as usize).await;
    assert_eq!(lines[LOADED as usize..], appended_lines(LOADED, 0..6));
    let ranks: Vec<u64> = lines
        .iter()
        .map(|line| line.split_once(", ").unwrap().0.parse().unwrap())
        .collect();
    assert_eq!(
        ranks,
        (0..LOADED + 6).collect::<Vec<_>>(),
        "nothing lost or doubled"
    );
}

/// A writable server process on `store`: its child, gRPC and REST addresses.
async fn server_process(store: &TestStore) -> (tokio::process::Child, String, String) {
    let catalog = store.spec().reveal();
    let (child, line) = crate::processes::start_server_on(
        &catalog,
        &[
            ("RUST_LOG", "warn"),
            ("BOOKSTREAM_WRITE_TOKEN", WRITE_TOKEN),
        ],
        std::process::Stdio::null(),
    )
    .await;
    let (grpc, rest) = bookstream::ready::parse_line(&line).unwrap();
    (child, format!("http://{grpc}"), format!("http://{rest}"))
}

async fn active_streams(rest: &str) -> u64 {
    let health: serde_json::Value = reqwest::get(format!("{rest}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["active_streams"].as_u64().unwrap()
}

#[tokio::test]
async fn a_follow_whose_server_is_killed_mid_append_holds_exactly_the_appended_books() {
    let store = TestStore::sqlite("1", LOADED).await;
    let mut servers = [server_process(&store).await, server_process(&store).await];
    let urls = [servers[0].1.parse().unwrap(), servers[1].1.parse().unwrap()];
    let client = spawn_client_with(&servers[0].1, move |config| {
        bookstream_client::ClientConfig {
            server: urls.to_vec(),
            ..config
        }
    })
    .await;
    let (status, body) = client.get_json("/follow?user_id=1&from=earliest").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let growing = Path::new(body["file"].as_str().unwrap()).to_owned();
    grown_to(&growing, LOADED as usize).await;
    let on = if active_streams(&servers[0].2).await == 1 {
        0
    } else {
        1
    };
    let other = 1 - on;
    let producer = TestServer::attach(
        servers[other]
            .1
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
        servers[other]
            .2
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
    );
    append(&producer, 1, 1, 0..100).await;
    grown_to(&growing, (LOADED + 100) as usize).await;
    // Killed while books keep coming through the other server.
    servers[on].0.start_kill().unwrap();
    servers[on].0.wait().await.unwrap();
    for sequence in 2..=10 {
        let first = (sequence - 1) * 100;
        append(&producer, sequence, 1, first..first + 100).await;
    }
    let lines = grown_to(&growing, (LOADED + 1_000) as usize).await;
    assert_eq!(lines.len() as u64, LOADED + 1_000, "nothing doubled");
    assert_eq!(lines[LOADED as usize..], appended_lines(LOADED, 0..1_000));
}
