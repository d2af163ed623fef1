//! A server that requires a token: the harness sends `--token`, and without
//! it every request counts as refused, under its status.

use bookstream_loadtest::outcome::FailureKind;

use crate::support::{TestServer, config, opts, run_one, spawn_server_with};

const TOKEN: &str = "correct-horse-battery-staple";

async fn spawn_guarded_server() -> TestServer {
    spawn_server_with(bookstream_server::ServerConfig {
        token: Some(TOKEN.to_owned()),
        ..config()
    })
    .await
}

#[tokio::test]
async fn with_the_token_every_scenario_runs_clean() {
    let server = spawn_guarded_server().await;
    for scenario in ["rest", "grpc-unary", "grpc-stream", "rest-stream"] {
        let report = run_one(opts(&server, scenario, &["--token", TOKEN])).await;
        assert!(report.requests_ok > 0, "{scenario}: {report:#?}");
        assert_eq!(
            report.requests_failed, 0,
            "{scenario}: {:?}",
            report.first_errors
        );
    }
}

#[tokio::test]
async fn without_the_token_requests_count_as_refused() {
    let server = spawn_guarded_server().await;
    for (scenario, kind) in [
        ("rest", FailureKind::HttpStatus(401)),
        (
            "grpc-unary",
            FailureKind::GrpcStatus(tonic::Code::Unauthenticated),
        ),
    ] {
        let report = run_one(opts(&server, scenario, &["--token", "wrong"])).await;
        assert_eq!(report.requests_ok, 0, "{scenario}: {report:#?}");
        assert!(
            report.failures.contains_key(&kind),
            "{scenario}: {:?}",
            report.failures
        );
    }
}
