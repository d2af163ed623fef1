//! Requests no browser would send, written byte for byte on a raw socket:
//! each gets a 4xx, nothing is written, and the client keeps working.

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{TestClient, spawn_client, spawn_server};

/// Sends `request` as is and returns the status code of the answer.
async fn raw_status(client: &TestClient, request: &[u8]) -> u16 {
    let mut socket = TcpStream::connect(client.addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    // The client answers and closes (Connection: close), or resets a request
    // it refuses to read: either way the status line came first.
    let _ = socket.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn hostile_requests_get_a_4xx_write_nothing_and_leave_the_client_working() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;
    let long_digits = format!("/{}", "9".repeat(100_000));
    let long_letters = format!("/{}", "a".repeat(100_000));
    let mut header_flood = b"GET /10 HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
    for index in 0..2_000 {
        header_flood
            .extend_from_slice(format!("X-Flood-{index}: {}\r\n", "x".repeat(50)).as_bytes());
    }
    header_flood.extend_from_slice(b"Connection: close\r\n\r\n");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100 KB of digits", get(&long_digits)),
        ("100 KB of letters", get(&long_letters)),
        (
            "percent-encoded junk",
            get("/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ),
        ("a NUL byte", get("/%00")),
        ("invalid UTF-8", get("/%C3%28")),
        ("a path climbing out", get("/../../etc/passwd")),
        ("two segments", get("/10/20")),
        (
            "POST",
            b"POST /10 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        (
            "PUT",
            b"PUT /10 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        (
            "DELETE",
            b"DELETE /10 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        ("a header flood", header_flood),
    ];
    for (what, request) in cases {
        let status = raw_status(&client, &request).await;
        assert!((400..500).contains(&status), "{what}: answered {status}");
    }
    assert!(
        client.files().is_empty(),
        "hostile requests wrote {:?}",
        client.files()
    );

    let (status, body) = client.get_json("/10").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_that_points_to_the_trigger() {
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let (status, body) = client.get_json("/books/10").await;

    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("/1000"), "{body}");
}

/// Far fewer descriptors than the flood's connections.
const DESCRIPTORS: u64 = 200;

#[tokio::test]
async fn a_flood_of_slow_connections_leaves_the_trigger_answering() {
    use bookstream_testkit::slowloris::{HTTP1_PARTIAL, flood};

    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("books.txt");
    let (_client, base_url) =
        crate::processes::start_client_launched(&server.url(), &output, &[], |launch| {
            launch
                .envs(&[("RUST_LOG", "warn")])
                .descriptors(DESCRIPTORS)
        })
        .await;
    let addr = base_url.trim_start_matches("http://").parse().unwrap();
    let _flood = flood(addr, 300, HTTP1_PARTIAL).await;

    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    for _ in 0..20 {
        let health = fresh().get(format!("{base_url}/health")).send().await;
        assert_eq!(health.expect("health answers").status(), 200);
    }
    let run = fresh().get(format!("{base_url}/1000")).send().await;
    assert_eq!(run.expect("a run is answered").status(), 200);
    assert_eq!(
        std::fs::read_to_string(&output).unwrap().lines().count(),
        1000
    );

    let scrape = bookstream_testkit::metrics::scrape(&format!("{base_url}/metrics")).await;
    let shed = bookstream_testkit::metrics::value(
        &scrape,
        "bookstream_connections_closed_total",
        &[("listener", "trigger"), ("reason", "shed")],
    );
    assert!(shed > 0.0, "slow connections gave way ({shed})");
}

#[tokio::test]
async fn a_connection_that_does_not_finish_its_request_head_is_closed() {
    use bookstream_testkit::slowloris::{HTTP1_PARTIAL, closed_within, flood};

    let server = spawn_server().await;
    let client = crate::support::spawn_client_with(&server.url(), |config| {
        bookstream_client::ClientConfig {
            header_read_timeout: std::time::Duration::from_millis(300),
            ..config
        }
    })
    .await;
    let mut slow = flood(client.addr, 1, HTTP1_PARTIAL).await;
    assert!(closed_within(&mut slow[0], std::time::Duration::from_secs(30)).await);
}
