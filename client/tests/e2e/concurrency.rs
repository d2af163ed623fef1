use bookstream_client::sink::Format;
use reqwest::StatusCode;

use crate::support::{expected_books, read_back, spawn_client, spawn_server};

#[tokio::test]
async fn concurrent_triggers_leave_one_complete_result_never_a_mix() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let runs = [(1u64, 3_000u64), (2, 5_000), (3, 4_000), (4, 2_000)];

    let answers = futures::future::join_all(
        runs.iter()
            .map(|(user_id, count)| client.get_json_owned(format!("/{count}?user_id={user_id}"))),
    )
    .await;

    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let written = read_back(&client.output, Format::Txt);
    let complete_results: Vec<_> = runs
        .iter()
        .map(|(user_id, count)| expected_books(*user_id, *count, Format::Txt))
        .collect();
    assert!(
        complete_results.contains(&written),
        "the file holds {} books that match no single run",
        written.len()
    );
    assert_eq!(
        client.files(),
        vec!["books.out"],
        "no temporary or partial file is left"
    );
}
