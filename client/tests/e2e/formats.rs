use bookstream_client::sink::Format;
use reqwest::StatusCode;

use crate::support::{expected_books, read_back, spawn_client_with, spawn_server};

async fn round_trip(format: Format) {
    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| bookstream_client::ClientConfig {
        format,
        ..config
    })
    .await;

    let (status, body) = client.get_json("/1000?user_id=9").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["format"], format.name());
    assert_eq!(
        read_back(&client.output, format),
        expected_books(9, 1000, format)
    );
}

#[tokio::test]
async fn a_txt_file_reads_back_as_the_catalog_ids_and_titles() {
    round_trip(Format::Txt).await;
}

#[tokio::test]
async fn a_csv_file_reads_back_as_the_catalog_books() {
    round_trip(Format::Csv).await;
}

#[tokio::test]
async fn a_jsonl_file_reads_back_as_the_catalog_books() {
    round_trip(Format::Jsonl).await;
}
