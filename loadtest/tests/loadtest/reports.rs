//! The report files of a run: JSON with every figure, CSV, and the SVG chart.

use crate::support::{opts, spawn_server};

#[tokio::test]
async fn a_run_writes_the_json_csv_and_chart_asked_for() {
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let csv = dir.path().join("report.csv");
    let chart = dir.path().join("chart.svg");
    let mut opts = opts(&server, "grpc-stream", &["--run-time", "500ms"]);
    opts.scenarios
        .push(bookstream_loadtest::ScenarioName::RestStream);
    opts.json = Some(json.clone());
    opts.csv = Some(csv.clone());
    opts.chart = Some(chart.clone());

    let report = bookstream_loadtest::run(opts).await.unwrap();

    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["scenarios"][0]["scenario"], "grpc-stream");
    assert_eq!(written["scenarios"][1]["scenario"], "rest-stream");
    assert_eq!(
        written["scenarios"][0]["requests_ok"],
        report.scenarios[0].requests_ok
    );
    assert!(written["scenarios"][1]["first_book_ms"]["p99"].is_number());
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("grpc-stream") && svg.contains("rest-stream"));
    let table = bookstream_loadtest::report::table(&report);
    assert!(
        table.starts_with(' ') && table.contains("grpc-stream"),
        "{table}"
    );
}
