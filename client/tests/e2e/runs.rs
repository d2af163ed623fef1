//! Every run is kept and can be watched, stopped, reviewed and downloaded:
//! `/runs`, `/runs/{id}` (live, then the report), its events, its Stop and
//! its file, and a history that survives the client.

use std::{path::Path, time::Duration};

use bookstream_client::{ClientConfig, sink::Format};
use reqwest::StatusCode;

use crate::support::{
    TestClient, client_config, generated_file, spawn_client, spawn_client_from, spawn_client_with,
    spawn_server,
};

/// A run long enough to act on while it runs.
const LONG: u64 = 3_000_000;

async fn json(client: &TestClient, path: &str) -> serde_json::Value {
    client.get_json(path).await.1
}

/// Polls `/runs/{id}` until it has received some books.
async fn wait_until_running(client: &TestClient, id: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let run = json(client, &format!("/runs/{id}")).await;
        if run["progress"]["received"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never got going: {run}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn json_callers_still_wait_for_the_summary_now_with_the_run_and_its_report() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let (status, body) = client.get_json("/300").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], 300);
    assert_eq!(body["run_id"], 1);
    assert_eq!(body["report"], "/runs/1");

    let runs = json(&client, "/runs").await;
    assert_eq!(runs[0]["id"], 1);
    assert_eq!(runs[0]["outcome"], "complete");
    assert_eq!(runs[0]["received"], 300);
    assert_eq!(runs[0]["requested"], 300);
    assert_eq!(runs[0]["servers"][0], server.url());
    let report = json(&client, "/runs/1").await;
    assert_eq!(report["attempts"][0]["books"], 300);
    assert_eq!(report["attempts"][0]["ended"], "complete");
    assert!(report["first_book_ms"].as_u64().is_some(), "{report}");
}

#[tokio::test]
async fn stop_ends_a_run_within_a_second_keeping_its_books_as_partial() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    std::fs::write(&client.output, "0, a previous complete result\n").unwrap();
    let url = client.url(&format!("/{LONG}"));
    let run = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    wait_until_running(&client, 1).await;
    // Listed as running, with the server it streams from.
    let listed = json(&client, "/runs").await;
    assert_eq!(listed[0]["outcome"], "running", "{listed}");
    assert_eq!(listed[0]["servers"][0], server.url(), "{listed}");
    // Its file is not written yet: not gone, ask again later.
    let early = reqwest::get(client.url("/runs/1/file")).await.unwrap();
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert_eq!(early.headers()["retry-after"], "1");
    let early: serde_json::Value = early.json().await.unwrap();
    assert!(
        early["error"].as_str().unwrap().contains("still running"),
        "{early}"
    );
    // A form on another site cannot stop it.
    let forged = reqwest::Client::new()
        .post(client.url("/runs/1/cancel"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(&client, "/runs/1").await["outcome"], "running");

    let stopping = std::time::Instant::now();
    let stop = reqwest::Client::new()
        .post(client.url("/runs/1/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), StatusCode::ACCEPTED);
    let answer = run.await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "stopped after {:?}",
        stopping.elapsed()
    );

    let received = answer["received"].as_u64().unwrap();
    assert!(received > 0 && received < LONG, "{answer}");
    let kept = std::fs::read(bookstream_client::sink::partial_path(&client.output)).unwrap();
    assert!(
        kept == generated_file(1, received, Format::Txt),
        "the partial file holds the books that arrived"
    );
    assert_eq!(
        std::fs::read_to_string(&client.output).unwrap(),
        "0, a previous complete result\n"
    );
    let record = json(&client, "/runs/1").await;
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["received"], received);
    // A run that ended cannot be stopped again.
    let again = reqwest::Client::new()
        .post(client.url("/runs/1/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_live_view_shows_progress_and_a_stop_button_until_the_run_ends() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let url = client.url(&format!("/{LONG}"));
    let run = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    wait_until_running(&client, 1).await;

    let (status, page) = client.get_html("/runs/1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"data-outcome="running""#), "{page}");
    assert!(page.contains(r#"<progress id="progress""#), "{page}");
    assert!(page.contains(&format!(r#"max="{LONG}""#)), "{page}");
    assert!(page.contains(r#"action="/runs/1/cancel""#), "{page}");
    assert!(
        page.contains(r#"<meta http-equiv="refresh" content="1">"#),
        "{page}"
    );

    // The events: progress while it runs, one end, then the stream closes.
    let events = reqwest::get(client.url("/runs/1/events")).await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    reqwest::Client::new()
        .post(client.url("/runs/1/cancel"))
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(10), events.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.contains("event: progress"), "{text}");
    let end = text.split("event: end").nth(1).expect("an end event");
    assert!(end.contains(r#""outcome":"cancelled""#), "{end}");
    assert_eq!(run.await.unwrap(), StatusCode::CONFLICT);

    let page = client.html_once_ended("/runs/1").await;
    assert!(page.contains(r#"data-outcome="cancelled""#), "{page}");
    assert!(
        page.contains("<svg"),
        "the report charts the throughput: {page}"
    );
}

#[tokio::test]
async fn placeholders_give_every_run_its_own_file_and_a_replaced_file_is_gone() {
    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        output: config.output.with_file_name("books-{run}-u{user}-{n}.txt"),
        ..config
    })
    .await;
    assert_eq!(client.get_json("/10?user_id=3").await.0, StatusCode::OK);
    assert_eq!(client.get_json("/20?user_id=4").await.0, StatusCode::OK);
    assert_eq!(client.files(), ["books-1-u3-10.txt", "books-2-u4-20.txt"]);
    let file = reqwest::get(client.url("/runs/2/file")).await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(
        file.headers()["content-disposition"],
        r#"attachment; filename="books-2-u4-20.txt""#
    );
    assert!(file.bytes().await.unwrap() == generated_file(4, 20, Format::Txt));

    // One file for every run: a later run replaces it, and the earlier run's download is gone.
    let shared = spawn_client(&server.url()).await;
    assert_eq!(shared.get_json("/10").await.0, StatusCode::OK);
    assert_eq!(
        reqwest::get(shared.url("/runs/1/file"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(shared.get_json("/15").await.0, StatusCode::OK);
    let gone = reqwest::get(shared.url("/runs/1/file")).await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let reason = gone.json::<serde_json::Value>().await.unwrap();
    assert!(
        reason["error"].as_str().unwrap().contains("run 2"),
        "{reason}"
    );
}

#[tokio::test]
async fn run_ids_that_are_not_numbers_are_400_and_unknown_ones_404() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let http = reqwest::Client::new();
    for path in ["/runs/abc", "/runs/-1", "/runs/1.5/events", "/runs/x/file"] {
        assert_eq!(
            http.get(client.url(path)).send().await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
    assert_eq!(
        http.post(client.url("/runs/abc/cancel"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    for path in ["/runs/7", "/runs/7/events", "/runs/7/file"] {
        assert_eq!(
            http.get(client.url(path)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        http.post(client.url("/runs/7/cancel"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_history_survives_a_restart_and_lists_as_html_json_and_csv() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("runs.jsonl");
    let config = |output: &Path| ClientConfig {
        history: Some(history.clone()),
        ..client_config(&server.url(), output)
    };
    {
        let first = spawn_client_from(config(&dir.path().join("a.txt"))).await;
        assert_eq!(first.get_json("/10").await.0, StatusCode::OK);
        assert_eq!(first.get_json("/5?user_id=2").await.0, StatusCode::OK);
    }
    // A crash mid-write left half a line, and a run that was still running.
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str(
        &text
            .lines()
            .next()
            .unwrap()
            .replace(r#""id":1,"#, r#""id":3,"#),
    );
    text.push('\n');
    text.push_str(r#"{"id":4,"started_at":"2026-11-2"#);
    std::fs::write(&history, text).unwrap();

    let again = spawn_client_from(config(&dir.path().join("b.txt"))).await;
    let runs = json(&again, "/runs").await;
    let listed: Vec<(u64, &str)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            (
                run["id"].as_u64().unwrap(),
                run["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(3, "failed"), (2, "complete"), (1, "complete")]);
    assert_eq!(json(&again, "/runs/3").await["error"], "client stopped");
    // New runs carry on after the last id.
    assert_eq!(again.get_json("/5").await.1["run_id"], 4);

    let (_, page) = again.get_html("/runs").await;
    assert!(
        page.contains(r#"<tr class="run" data-id="4" data-outcome="complete">"#),
        "{page}"
    );
    let csv = reqwest::get(again.url("/runs?format=csv")).await.unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("id,started_at,user_id,requested,received,outcome,elapsed_ms,books_per_sec,retries,servers,file\n"), "{csv}");
    assert_eq!(csv.lines().count(), 5, "{csv}");
}

#[tokio::test]
async fn a_file_is_served_only_while_it_is_the_one_its_run_wrote() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("runs.jsonl");
    let config = ClientConfig {
        history: Some(history.clone()),
        output: dir.path().join("books-{run}.txt"),
        ..client_config(&server.url(), &dir.path().join("unused"))
    };
    let client = spawn_client_from(config.clone()).await;
    assert_eq!(client.get_json("/10").await.0, StatusCode::OK);
    assert_eq!(client.get_json("/10").await.0, StatusCode::OK);
    let file = |id: u64| reqwest::get(client.url(&format!("/runs/{id}/file")));
    assert_eq!(file(1).await.unwrap().status(), StatusCode::OK);

    // Run 1's file swapped for a symlink to a file of the same size.
    let first = dir.path().join("books-1.txt");
    let secret = dir.path().join("secret");
    std::fs::copy(&first, &secret).unwrap();
    std::fs::remove_file(&first).unwrap();
    std::os::unix::fs::symlink(&secret, &first).unwrap();
    let gone = file(1).await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    // Run 2's file replaced by another of the same size.
    let second = dir.path().join("books-2.txt");
    let copy = dir.path().join("copy");
    std::fs::copy(&second, &copy).unwrap();
    std::fs::rename(&copy, &second).unwrap();
    assert_eq!(file(2).await.unwrap().status(), StatusCode::GONE);
    drop(client);

    // A history line that names a file outside the output's directory.
    let mut text = std::fs::read_to_string(&history).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    let forged: serde_json::Value = serde_json::from_str(&last).unwrap();
    let mut forged = forged;
    forged["id"] = 3.into();
    forged["file"] = "/proc/self/environ".into();
    forged["file_bytes"] = 0.into();
    forged.as_object_mut().unwrap().remove("file_written");
    text.push_str(&forged.to_string());
    text.push('\n');
    std::fs::write(&history, text).unwrap();
    let again = spawn_client_from(config).await;
    let refused = reqwest::get(again.url("/runs/3/file")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::GONE);
    let body = refused.text().await.unwrap();
    assert!(body.contains("not under the output's directory"), "{body}");
    assert!(!body.contains("PATH="), "{body}");
}

#[tokio::test]
async fn live_views_past_the_cap_are_refused_and_their_places_come_back() {
    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        max_watchers_per_run: 2,
        ..config
    })
    .await;
    let url = client.url(&format!("/{LONG}"));
    let _run = tokio::spawn(async move { reqwest::get(url).await });
    wait_until_running(&client, 1).await;

    let events = client.url("/runs/1/events");
    let first = reqwest::get(&events).await.unwrap();
    let second = reqwest::get(&events).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = reqwest::get(&events).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["retry-after"], "1");
    let body: serde_json::Value = third.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("live views"),
        "{body}"
    );

    // A watcher leaves: its place is free once the client sees it gone.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let again = reqwest::get(&events).await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reqwest::Client::new()
        .post(client.url("/runs/1/cancel"))
        .send()
        .await
        .unwrap();
}
