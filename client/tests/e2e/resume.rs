//! Broken streams are resumed after the last book written: the file of a
//! run with retries is byte for byte the file of an unbroken run.

use reqwest::StatusCode;

use crate::{
    proxy::CuttingProxy,
    support::{spawn_client, spawn_server},
};

#[tokio::test]
async fn a_stream_cut_three_times_resumes_into_the_same_bytes_as_an_unbroken_run() {
    let server = spawn_server().await;
    let reference = spawn_client(&server.url()).await;
    let (status, _) = reference.get_json("/50000?user_id=3").await;
    assert_eq!(status, StatusCode::OK);
    let expected = std::fs::read(&reference.output).unwrap();

    // 50,000 books are about 5 MB on the wire: the three cuts land mid-stream.
    let proxy = CuttingProxy::start(server.grpc_addr, &[200_000, 1_000_000, 3_000_000]).await;
    let client = spawn_client(&proxy.url()).await;
    let (status, body) = client.get_json("/50000?user_id=3").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], 50_000);
    assert_eq!(body["retries"], 3);
    assert!(
        std::fs::read(&client.output).unwrap() == expected,
        "the resumed file differs"
    );
    assert_eq!(
        client.files(),
        vec!["books.out"],
        "no partial or temporary file is left"
    );
}

#[tokio::test]
async fn when_cuts_outnumber_the_retries_the_books_that_arrived_are_kept_as_partial() {
    let server = spawn_server().await;
    let proxy = CuttingProxy::start(server.grpc_addr, &[100_000; 5]).await;
    let client = spawn_client(&proxy.url()).await;

    let (status, body) = client.get_json("/50000").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["retries"], 3, "{body}");
    let received = body["received"].as_u64().unwrap();
    assert!(received > 0 && received < 50_000, "{body}");
    let partial = bookstream_client::sink::partial_path(&client.output);
    let kept = std::fs::read_to_string(&partial).unwrap();
    assert_eq!(kept.lines().count() as u64, received);
    assert!(!client.output.exists());
}
