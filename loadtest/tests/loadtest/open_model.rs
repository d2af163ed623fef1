//! The open model against the real server: requests go out at the rate asked
//! for, and a rate the users cannot sustain shows up as late and unsent requests.

use crate::support::{opts, run_one, spawn_server};

#[tokio::test]
async fn a_sustainable_rate_is_sent_on_schedule() {
    let server = spawn_server().await;
    let report = run_one(opts(
        &server,
        "grpc-unary",
        &["--rate", "50", "--users", "4"],
    ))
    .await;
    assert_eq!(report.requests_failed, 0, "{report:#?}");
    assert_eq!(report.requests_ok, 50, "{report:#?}");
    assert_eq!(report.not_sent, Some(0), "{report:#?}");
    // A loaded 2-core machine may delay a few sends past the 10 ms tolerance; not most.
    assert!(report.late.unwrap() < 10, "{report:#?}");
}

#[tokio::test]
async fn a_rate_beyond_the_users_shows_as_late_and_unsent_requests() {
    let server = spawn_server().await;
    // One user cannot send 100,000 requests in a second of 1,000-book answers.
    let report = run_one(opts(
        &server,
        "rest",
        &["--rate", "100000", "--users", "1", "--max-results", "1000"],
    ))
    .await;
    assert!(report.requests_ok > 0, "{report:#?}");
    let not_sent = report.not_sent.unwrap();
    assert!(not_sent > 50_000, "{report:#?}");
    assert!(report.late.unwrap() > 0, "{report:#?}");
    // Latency counts from the due time, so the backlog shows in the tail.
    let latency = report.latency_ms.unwrap();
    assert!(latency.max > 100.0, "{latency:?}");
}
