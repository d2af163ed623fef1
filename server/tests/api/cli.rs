//! The `server` binary as a newcomer meets it: its help, a port that is
//! taken, a database it may not write to.

use std::process::Output;
use std::time::Duration;

use bookstream_testkit::{postgres, process::Launch};

/// Runs the real `server` binary with `args` to its end.
async fn server(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env_remove("BOOKSTREAM_CATALOG")
        .env_remove("BOOKSTREAM_TOKEN")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the server ends by itself")
        .expect("the server binary runs")
}

/// A real `server` process on ports 0 with `envs`, its stderr piped, and
/// the addresses its readiness line names.
pub(crate) async fn serving(
    envs: &[(&str, &str)],
) -> (
    tokio::process::Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    serving_launched(|launch| launch.envs(envs)).await
}

/// [`serving`] with the launch adjusted by `adjust` (flags, limits).
pub(crate) async fn serving_launched(
    adjust: impl FnOnce(Launch) -> Launch,
) -> (
    tokio::process::Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    let launch = Launch::new(env!("CARGO_BIN_EXE_server"))
        .args(["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"])
        .env_remove("BOOKSTREAM_CATALOG")
        .env_remove("BOOKSTREAM_TOKEN")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stderr(std::process::Stdio::piped());
    let (server, line) = adjust(launch).ready(bookstream::ready::SERVER_PREFIX).await;
    let (grpc, rest) = bookstream::ready::parse_line(&line).unwrap();
    (server, grpc, rest)
}

#[tokio::test]
async fn the_help_says_which_routes_answer_without_the_token() {
    let help = server(&["--help"]).await;
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let token = help
        .split("--token <TOKEN>")
        .nth(1)
        .and_then(|rest| rest.split("\n      --").next())
        .expect("--token is in the help");
    let token = token.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        token.contains("`/health` and `/metrics` answer without it"),
        "{token}"
    );
    assert!(!token.contains("every gRPC call and REST route"), "{token}");
}

#[tokio::test]
async fn a_taken_port_is_named_with_the_flag_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (flag, other, role) in [
        ("--grpc-addr", "--rest-addr", "gRPC"),
        ("--rest-addr", "--grpc-addr", "REST"),
    ] {
        let output = server(&[flag, &taken, other, "127.0.0.1:0"]).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(&format!(
                "cannot listen for {role} on {taken} (choose another address with {flag})"
            )),
            "{stderr}"
        );
        // The cause is told once, not once by each layer.
        assert_eq!(
            stderr.matches("in use").count(),
            1,
            "the cause once: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_database_the_role_may_not_create_in_names_the_permission_and_the_fix() {
    let Some(instance) = postgres::shared() else {
        return;
    };
    let database = instance.database().await;
    // As on PostgreSQL 15 and newer by default: a role that may connect but
    // not create in schema public, because it does not own the database.
    let role = format!("{}_loader", database.name);
    database
        .connect()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             GRANT CONNECT ON DATABASE {} TO {role}",
            database.name
        ))
        .await
        .unwrap();
    let url = format!(
        "postgres://{role}@127.0.0.1:{}/{}",
        database.port, database.name
    );
    let output = server(&["load", "--catalog", &url, "--users", "1", "--books", "10"]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("permission denied for schema public"),
        "{stderr}"
    );
    assert!(stderr.contains("SQLSTATE 42501"), "{stderr}");
    assert!(stderr.contains("OWNER"), "the hint names the fix: {stderr}");
    assert!(!stderr.contains("db error"), "{stderr}");
}

#[tokio::test]
async fn tracing_says_where_spans_go_and_warns_when_they_cannot_get_there() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    // Nothing listens there: every export fails.
    let collector = bookstream_testkit::net::vacant_addr().await;
    let endpoint = format!("http://{collector}");
    let (mut server, _, rest) = serving(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // Export each span batch at once rather than every five seconds.
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
        ("RUST_LOG", "info"),
    ])
    .await;
    // A request makes a span to export.
    let answer = reqwest::get(format!(
        "http://{rest}/recommendations?user_id=1&max_results=3"
    ))
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);

    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut told_on = false;
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = log.next_line().await.unwrap() {
            told_on |= line.contains(&format!("spans are exported over OTLP/gRPC to {endpoint}"));
            if line.contains("WARN") && line.contains("exporting spans to") {
                return Some(line);
            }
        }
        None
    })
    .await
    .expect("the failed export is told within a minute")
    .expect("the log goes on until the failure is told");
    assert!(told_on, "the start-up line names the endpoint");
    assert!(seen.contains(&endpoint), "{seen}");
}

#[tokio::test]
async fn a_callers_mistake_is_not_logged_as_an_error() {
    use bookstream::pb::{RecommendationRequest, recommendations_client::RecommendationsClient};
    use tokio::io::AsyncReadExt;

    let (mut server, grpc, rest) = serving(&[("RUST_LOG", "debug")]).await;

    let mut client = RecommendationsClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let refused = client
        .recommend(RecommendationRequest {
            user_id: 1,
            max_results: 0,
            start_at: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let refused = reqwest::get(format!("http://{rest}/recommendations?user_id=x"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    server.kill().await.unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    assert!(log.contains("DEBUG"), "the log was on: {log}");
    assert!(!log.contains("ERROR"), "{log}");
}
