use bookstream_client::sink::Format;
use reqwest::StatusCode;

use crate::support::{expected_books, read_back, spawn_client, spawn_server};

#[tokio::test]
async fn triggering_1000_writes_every_book_and_answers_json() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let (status, body) = client.get_json("/1000").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], 1000);
    assert_eq!(body["user_id"], 1);
    assert_eq!(body["format"], "txt");
    assert_eq!(body["file"], client.output.to_str().unwrap());
    assert!(body["elapsed_ms"].as_f64().unwrap() > 0.0, "{body}");
    assert!(body["books_per_sec"].as_f64().unwrap() > 0.0, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(1, 1000, Format::Txt)
    );
    assert_eq!(
        client.files(),
        vec!["books.out"],
        "no temporary or partial file is left"
    );
}

#[tokio::test]
async fn the_user_id_query_selects_whose_books_are_written() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let (status, _) = client.get_json("/40?user_id=42").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(42, 40, Format::Txt)
    );
    assert_ne!(
        expected_books(42, 40, Format::Txt),
        expected_books(1, 40, Format::Txt)
    );
}

#[tokio::test]
async fn a_browser_is_sent_to_the_run_page_which_ends_as_the_summary_with_count_file_and_first_books()
 {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(client.url("/1234"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/runs/1");

    let page = client.html_once_ended("/runs/1").await;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains(r#"data-outcome="complete""#), "{page}");
    assert!(page.contains("1,234 books received"), "{page}");
    assert!(page.contains(client.output.to_str().unwrap()), "{page}");
    assert!(page.contains("books/s"), "{page}");
    let first = bookstream::catalog::book(1, 0);
    assert!(page.contains(&first.author), "{page}");
}

#[tokio::test]
async fn the_landing_page_explains_the_trigger_with_example_links() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let (status, page) = client.get_html("/").await;

    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"href="/1000""#), "{page}");
    assert!(page.contains(&server.url()), "{page}");
    assert!(!client.output.exists(), "the landing page runs nothing");
}

#[tokio::test]
async fn the_favicon_request_is_answered_without_an_error_or_a_run() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let response = reqwest::get(client.url("/favicon.ico")).await.unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!client.output.exists());
}
