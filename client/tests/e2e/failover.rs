//! Several servers: triggers take them in turn, a stream broken on one
//! resumes on another, and an unhealthy one is skipped.

use std::time::Duration;

use bookstream_client::{ClientConfig, sink::Format};
use bookstream_server::ServerConfig;
use bookstream_testkit::net::vacant_addr;
use reqwest::StatusCode;

use crate::{
    proxy::{AfterCuts, CuttingProxy},
    support::{
        TestClient, expected_books, read_back, spawn_client, spawn_client_with, spawn_server,
        spawn_server_with,
    },
};

async fn spawn_client_for(servers: Vec<String>, retries: u32) -> TestClient {
    let first = servers[0].clone();
    spawn_client_with(&first, move |config| ClientConfig {
        server: servers.iter().map(|url| url.parse().unwrap()).collect(),
        retries,
        ..config
    })
    .await
}

#[tokio::test]
async fn a_stream_broken_on_one_server_resumes_on_another_into_the_same_bytes() {
    let first = spawn_server().await;
    let second = spawn_server().await;
    let reference = spawn_client(&second.url()).await;
    let (status, _) = reference.get_json("/50000?user_id=8").await;
    assert_eq!(status, StatusCode::OK);
    let expected = std::fs::read(&reference.output).unwrap();

    // The first server's connection dies 1 MB into the stream, and the server stays gone.
    let dying = CuttingProxy::start_with(first.grpc_addr, &[1_000_000], AfterCuts::Refuse).await;
    let client = spawn_client_for(vec![dying.url(), second.url()], 3).await;
    let (status, body) = client.get_json("/50000?user_id=8").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["retries"], 1,
        "one resumption, on the other server: {body}"
    );
    assert!(
        std::fs::read(&client.output).unwrap() == expected,
        "the resumed file differs"
    );
}

#[tokio::test]
async fn triggers_take_the_servers_in_turn() {
    let first = spawn_server().await;
    let second = spawn_server().await;
    let to_first = CuttingProxy::start(first.grpc_addr, &[]).await;
    let to_second = CuttingProxy::start(second.grpc_addr, &[]).await;
    let client = spawn_client_for(vec![to_first.url(), to_second.url()], 0).await;

    for _ in 0..4 {
        let (status, body) = client.get_json("/20000").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Each run is about 2 MB on the wire; health checks are a few bytes.
    for proxy in [&to_first, &to_second] {
        let forwarded = proxy.forwarded.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            forwarded > 3_000_000,
            "a server carried only {forwarded} bytes"
        );
    }
}

#[tokio::test]
async fn an_unhealthy_server_is_skipped_by_every_trigger() {
    let live = spawn_server().await;
    let dead = format!("http://{}", vacant_addr().await);
    let client = spawn_client_for(vec![dead.clone(), live.url()], 0).await;

    // Wait for the health checker's verdict, as a load balancer's operator would.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health: serde_json::Value = reqwest::get(client.url("/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["servers"][0]["healthy"] == false && health["servers"][1]["healthy"] == true {
            assert_eq!(health["servers"][0]["url"], dead.as_str());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no health verdict: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Without retries, any trigger sent to the dead server would fail.
    for _ in 0..4 {
        let (status, body) = client.get_json("/100").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["retries"], 0);
    }
}

#[tokio::test]
async fn a_stream_ended_by_a_server_shutdown_resumes_on_another_server() {
    let mut leaving = spawn_server_with(ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        rest_addr: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace: Duration::ZERO,
        ..ServerConfig::defaults()
    })
    .await;
    let staying = spawn_server().await;
    let client = spawn_client_for(vec![leaving.url(), staying.url()], 3).await;

    let run = client.get_json_in_background("/300000?user_id=4");
    leaving.wait_for_a_stream().await;
    leaving.begin_shutdown();
    let (client, (status, body)) = run.await.unwrap();

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retries"], 1, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(4, 300_000, Format::Txt)
    );
}
